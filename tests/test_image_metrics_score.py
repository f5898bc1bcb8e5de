"""`markupeval score` with images: real pdflatex renders, through the image metrics, into the run file.

A handful of items cover every policy: a pixel-identical prediction, a different one, a prediction
that fails to render (a miss), an absent prediction (a miss), an empty gold line (a blank page), and
a gold formula that fails to render (excluded, counted). The run file's image statistics must be
exactly what :func:`markupeval.images.compare_images` gives on the same renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from markupeval.cli import main
from markupeval.images import compare_images
from markupeval.rendering import render

GOLD = [
    ("same.png", r"x ^ { 2 } + y", r"x ^ { 2 } + y"),
    ("other.png", r"\frac { a } { b } = c", r"\frac { a } { b }"),
    ("broken_pred.png", r"a + b", r"\frac { a"),
    ("absent_pred.png", r"\alpha \beta", None),
    ("empty_gold.png", "", "x"),
    ("broken_gold.png", r"\frac { x", "a"),
]


def test_score_reports_image_metrics_and_both_kinds_of_render_failure(tmp_path: Path) -> None:
    (tmp_path / "gold.txt").write_text("".join(g + "\n" for _, g, _ in GOLD), encoding="utf-8")
    (tmp_path / "names.txt").write_text("".join(n + "\n" for n, _, _ in GOLD), encoding="utf-8")
    preds = "".join(json.dumps({"image": n, "prediction": p}) + "\n" for n, _, p in GOLD if p is not None)
    (tmp_path / "preds.jsonl").write_text(preds, encoding="utf-8")
    out = tmp_path / "run.json"
    cache = tmp_path / "cache"
    code = main(["score", str(tmp_path / "preds.jsonl"), "--gold", str(tmp_path / "gold.txt"),
                 "--names", str(tmp_path / "names.txt"), "--cache-dir", str(cache), "--json", str(out)])
    assert code == 0
    run = json.loads(out.read_text())

    counts = run["counts"]
    assert (counts["gold_render_failed"], counts["pred_render_failed"], counts["missing"]) == (1, 1, 1)
    samples = {s["image"]: s for s in run["samples"]}
    assert samples["broken_gold.png"]["gold_render"]["status"] != "ok"

    # The same renders, compared directly.
    renders = render([g for _, g, _ in GOLD] + [p for _, _, p in GOLD if p is not None], cache=cache)
    gold_images = dict(zip([n for n, _, _ in GOLD], renders[: len(GOLD)]))
    pred_images = dict(zip([n for n, _, p in GOLD if p is not None], renders[len(GOLD):]))
    for name, _, _ in GOLD:
        g = gold_images[name]
        p = pred_images.get(name)
        expected = compare_images(
            g.image if g.status == "ok" else None,
            p.image if p is not None and p.status == "ok" else None,
        )
        stats = samples[name]["stats"]
        assert stats["image_edit_distance"] == [expected.edit_distance, expected.ref], name
        assert stats["image_match"] == [float(expected.match and expected.counted), float(expected.counted)], name
        assert stats["image_match_ws"] == [float(expected.match_ws and expected.counted), float(expected.counted)], name

    # The policies, stated in numbers.
    same_width = gold_images["same.png"].image.shape[1]
    assert samples["same.png"]["stats"]["image_edit_distance"] == [0, same_width]
    assert samples["same.png"]["stats"]["image_match"] == [1, 1]
    assert samples["other.png"]["stats"]["image_match"] == [0, 1]  # "= c" lost: 5+ gold columns deleted
    for miss in ("broken_pred.png", "absent_pred.png"):
        width = gold_images[miss].image.shape[1]
        assert samples[miss]["stats"]["image_edit_distance"] == [width, width]
        assert samples[miss]["stats"]["image_match_ws"] == [0, 1]
    assert samples["broken_gold.png"]["stats"]["image_match"] == [0, 0]  # excluded
    assert samples["broken_gold.png"]["stats"]["image_edit_distance"] == [0, 0]
    # The empty gold line renders as a blank page, kept uncropped.
    assert gold_images["empty_gold.png"].image.min() == 255
    assert run["scores"]["image_match"]["parts"] == {"matched": 1, "counted": 5}
    assert run["metrics"]["image_match"] == pytest.approx(1 / 5)


def test_no_images_leaves_the_image_metrics_out(tmp_path: Path) -> None:
    (tmp_path / "gold.txt").write_text("a\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text("a.png\n", encoding="utf-8")
    (tmp_path / "p.jsonl").write_text('{"image": "a.png", "prediction": "a"}\n', encoding="utf-8")
    out = tmp_path / "run.json"
    assert main(["score", str(tmp_path / "p.jsonl"), "--gold", str(tmp_path / "gold.txt"),
                 "--names", str(tmp_path / "names.txt"), "--no-images", "--json", str(out)]) == 0
    run = json.loads(out.read_text())
    assert not any(k.startswith("image") for k in run["metrics"])


def test_the_rasteriser_and_timeout_are_chosen_and_recorded(tmp_path: Path) -> None:
    (tmp_path / "gold.txt").write_text("x ^ { 2 }\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text("a.png\n", encoding="utf-8")
    (tmp_path / "p.jsonl").write_text('{"image": "a.png", "prediction": "x ^ { 2 }"}\n', encoding="utf-8")
    for rasterizer, timeout in (("pdfium", "5"), ("ghostscript", "10")):
        out = tmp_path / f"{rasterizer}.json"
        assert main(["score", str(tmp_path / "p.jsonl"), "--gold", str(tmp_path / "gold.txt"),
                     "--names", str(tmp_path / "names.txt"), "--no-cache", "--rasterizer", rasterizer,
                     "--timeout", timeout, "--json", str(out)]) == 0
        run = json.loads(out.read_text())
        assert f"rasterizer:{rasterizer}|" in run["signature"]
        assert f"timeout:{timeout}s|" in run["signature"]
        # PDFium and a shorter limit are not the protocol's: the run must not claim it is.
        expected = "mode:custom:rasterizer+timeout|" if rasterizer == "pdfium" else "mode:compatible|"
        assert run["signature"].startswith(expected)
        assert run["metrics"]["image_match"] == 1.0


@pytest.mark.parametrize("bad", ["0", "-1", "ten"])
def test_a_timeout_that_is_not_positive_seconds_is_refused(bad: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["score", "--timeout", bad])
    assert exc.value.code == 2
    assert "--timeout" in capsys.readouterr().err
    with pytest.raises(ValueError, match="timeout"):
        render(["x"], cache=False, timeout=0)
