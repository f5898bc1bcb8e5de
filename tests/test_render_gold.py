"""``score --render-gold FILE`` (issue 18): gold images rendered from the raw formulas, as the original.

The 100 raw test formulas bundled in ``markupeval/sample/raw.jsonl`` are rendered with real
pdflatex. Predictions equal to the normalized gold match every normalized gold render exactly;
against the raw renders they miss exactly where the raw and the normalized formula render
differently (3 of these 100 here), which the test checks pair by pair against the renders
themselves.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from importlib import resources
from pathlib import Path

import pytest

from markupeval.cli import main
from markupeval.errors import InputError
from markupeval.formats import read_gold
from markupeval.images import compare_images
from markupeval.render_gold import read_render_gold

SAMPLE = Path(str(resources.files("markupeval") / "sample"))
needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")


def _sample_100(tmp_path: Path) -> dict[str, Path]:
    """names, normalized gold, raw formulas and predictions (= normalized gold) of the 100 items."""
    raw = [json.loads(line) for line in (SAMPLE / "raw.jsonl").read_text(encoding="utf-8").splitlines()]
    names = (SAMPLE / "names.txt").read_text(encoding="utf-8").split("\n")[: len(raw)]
    gold = (SAMPLE / "gold.txt").read_text(encoding="utf-8").split("\n")[: len(raw)]
    assert [r["image"] for r in raw] == names and len(raw) == 100
    files = {k: tmp_path / f"{k}.txt" for k in ("names", "gold", "raw")}
    files["names"].write_text("".join(n + "\n" for n in names), encoding="utf-8")
    files["gold"].write_text("".join(g + "\n" for g in gold), encoding="utf-8")
    files["raw"].write_text("".join(r["raw"] + "\n" for r in raw), encoding="utf-8")
    files["preds"] = tmp_path / "preds.jsonl"
    files["preds"].write_text("".join(json.dumps({"image": n, "prediction": g}) + "\n" for n, g in zip(names, gold)),
                              encoding="utf-8")
    return files


def _score(files: dict[str, Path], out: Path, *extra: str) -> dict:
    code = main(["score", str(files["preds"]), "--gold", str(files["gold"]), "--names", str(files["names"]),
                 "--json", str(out), *extra])
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8"))


@needs_tex
def test_render_gold_from_raw_formulas_misses_exactly_where_the_renders_differ(tmp_path: Path) -> None:
    files = _sample_100(tmp_path)
    plain = _score(files, tmp_path / "plain.json")
    raw = _score(files, tmp_path / "raw.json", "--render-gold", str(files["raw"]))

    # Without --render-gold the gold images are the normalized gold: identical strings, Match 1.
    assert plain["metrics"]["image_match"] == 1.0 and plain["metrics"]["image_match_ws"] == 1.0
    assert plain["scores"]["image_match"]["parts"] == {"matched": 100, "counted": 100}
    # The text metrics never see the render file.
    for key in ("bleu", "edit_distance", "exact_match"):
        assert raw["metrics"][key] == plain["metrics"][key]

    # Which raw renders differ from the normalized ones, compared directly on the renders.
    from markupeval.rendering import render

    names = files["names"].read_text(encoding="utf-8").split("\n")[:100]
    gold = files["gold"].read_text(encoding="utf-8").split("\n")[:100]
    raws = files["raw"].read_text(encoding="utf-8").split("\n")[:100]
    renders = render(gold + raws)
    differ = {n for n, g, r in zip(names, renders[:100], renders[100:]) if not compare_images(r.image, g.image).match}
    missed = {s["image"] for s in raw["samples"] if s["stats"]["image_match"] == [0, 1]}
    assert missed == differ
    assert len(missed) == 3  # measured here: 3 of the 100 raw formulas render differently once normalized
    assert raw["scores"]["image_match"]["parts"] == {"matched": 97, "counted": 100}
    assert raw["metrics"]["image_match"] < 1.0

    # The choice is in the signature, the inputs and the counts.
    digest = hashlib.sha256(files["raw"].read_bytes()).hexdigest()[:12]
    sig = dict(item.split(":", 1) for item in raw["signature"].split("|"))
    assert sig["gold_render"] == f"file@{digest}"
    assert sig["mode"] == "compatible"  # rendering the label file given is the original protocol
    assert dict(item.split(":", 1) for item in plain["signature"].split("|"))["gold_render"] == "gold"
    assert raw["inputs"]["render_gold"] == str(files["raw"])
    assert raw["counts"]["render_gold_empty"] == 0 and raw["counts"]["gold_render_failed"] == 0
    assert "render_gold_empty" not in plain["counts"]


@needs_tex
def test_split_indices_align_the_raw_file_like_the_gold(tmp_path: Path, shared_dir: Path) -> None:
    """The original protocol's shape: --gold and --render-gold both indexed by a split list, here the
    im2markup sample's own formulas.lst (1,200 raw lines) and test.lst (indices 1000-1099)."""
    sample = shared_dir / "data" / "im2markup-sample"
    files = _sample_100(tmp_path)
    gold = files["gold"].read_text(encoding="utf-8").split("\n")[:100]
    by_index = [""] * 1200
    by_index[1000:1100] = gold
    files["gold"] = tmp_path / "norm1200.txt"
    files["gold"].write_text("".join(f + "\n" for f in by_index), encoding="utf-8")
    code = main(["score", str(files["preds"]), "--gold", str(files["gold"]), "--split", str(sample / "test.lst"),
                 "--render-gold", str(sample / "formulas.lst"), "--json", str(tmp_path / "split.json")])
    assert code == 0
    split = json.loads((tmp_path / "split.json").read_text(encoding="utf-8"))
    files["gold"] = tmp_path / "gold.txt"
    names = _score(files, tmp_path / "names.json", "--render-gold", str(files["raw"]))
    assert [s["stats"] for s in split["samples"]] == [s["stats"] for s in names["samples"]]
    assert split["scores"]["image_match"]["parts"] == {"matched": 97, "counted": 100}


def test_render_gold_file_is_split_on_newline_only_and_keeps_its_bytes(tmp_path: Path) -> None:
    # "\r" and U+2028 inside a line stay in it; a trailing "\r" goes; a Latin-1 byte survives.
    path = tmp_path / "raw.lst"
    path.write_bytes(b"a\rb\n" + "c\u2028d\n".encode() + b"caf\xe9\r\n" + b"x\n")
    (tmp_path / "gold.txt").write_text("a b\nc d\ncafe\nx\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text("i0\ni1\ni2\ni3\n", encoding="utf-8")
    gold = read_gold(tmp_path / "gold.txt", names=tmp_path / "names.txt")
    rg = read_render_gold(path, gold, names=tmp_path / "names.txt")
    assert rg.formulas[:2] == ("a\rb", "c\u2028d")
    assert rg.formulas[2].encode("utf-8", "surrogateescape") == b"caf\xe9"
    assert rg.source == "file@" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    # Indexed by a split list, as render_latex.py indexes formulas[int(idx)].
    (tmp_path / "split.lst").write_text("i3.png 3\ni0.png 0\n", encoding="utf-8")
    gold = read_gold(tmp_path / "gold.txt", split=tmp_path / "split.lst")
    assert read_render_gold(path, gold, split=tmp_path / "split.lst").formulas == ("x", "a\rb")


def test_render_gold_that_does_not_cover_the_gold_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "gold.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text("i0\ni1\ni2\n", encoding="utf-8")
    (tmp_path / "short.lst").write_text("a\nb\n", encoding="utf-8")
    gold = read_gold(tmp_path / "gold.txt", names=tmp_path / "names.txt")
    with pytest.raises(InputError, match="short.lst"):
        read_render_gold(tmp_path / "short.lst", gold, names=tmp_path / "names.txt")
    (tmp_path / "split.lst").write_text("i0.png 0\ni2.png 2\n", encoding="utf-8")
    gold = read_gold(tmp_path / "gold.txt", split=tmp_path / "split.lst")
    with pytest.raises(InputError, match=r"formula index 2 is past the end .*short.lst") as err:
        read_render_gold(tmp_path / "short.lst", gold, split=tmp_path / "split.lst")
    assert err.value.line == 2


@needs_tex
def test_empty_render_gold_line_is_counted_and_follows_the_empty_gold_policy(tmp_path: Path) -> None:
    (tmp_path / "gold.txt").write_text("x ^ { 2 }\na + b\n", encoding="utf-8")
    (tmp_path / "raw.txt").write_text("x^2\n\n", encoding="utf-8")
    (tmp_path / "names.txt").write_text("one.png\ntwo.png\n", encoding="utf-8")
    (tmp_path / "preds.jsonl").write_text(
        json.dumps({"image": "one.png", "prediction": "x ^ { 2 }"}) + "\n"
        + json.dumps({"image": "two.png", "prediction": "a + b"}) + "\n", encoding="utf-8")
    files = {k: tmp_path / f"{k}.txt" for k in ("gold", "names")} | {"preds": tmp_path / "preds.jsonl"}
    rendered = _score(files, tmp_path / "r.json", "--render-gold", str(tmp_path / "raw.txt"))
    assert rendered["counts"]["render_gold_empty"] == 1
    two = rendered["samples"][1]
    assert two["gold_render"]["status"] == "ok" and two["stats"]["image_match"] == [0, 1]  # blank page vs a + b
    excluded = _score(files, tmp_path / "e.json", "--render-gold", str(tmp_path / "raw.txt"), "--empty-gold", "exclude")
    assert excluded["counts"]["empty_gold_excluded"] == 1
    two = excluded["samples"][1]
    assert two["gold_render"]["status"] == "excluded"
    assert two["stats"]["image_match"] == [0, 0] and two["stats"]["bleu"] == [0] * len(two["stats"]["bleu"])
    assert excluded["scores"]["image_match"]["parts"] == {"matched": 1, "counted": 1}
