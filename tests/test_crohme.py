"""``score --dataset crohme2013|crohme2014|crohme2016`` (issue 18) against the bundled ground truth.

The ground truth is normalized with markupeval.latex (BLEU (norm), Match) and tokenized (BLEU
(tok)); the 3 CROHME 2014 formulas the normalizer cannot parse are empty gold, listed and counted,
and ``--empty-gold`` decides whether they count. A perfect prediction set scores BLEU 100 and
Match 1 on the formulas that normalize and render, under either policy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from markupeval.cli import main
from markupeval.data.crohme import DATASETS, groundtruth_path, load_crohme, read_groundtruth
from markupeval.errors import InputError
from markupeval.latex import tokenize
from markupeval.leaderboard import build_board
from markupeval.metrics import get_metric
from markupeval.stats.runs import read_run

FAILING_2014 = {"RIT_2014_309", "RIT_2014_216", "RIT_2014_191"}  # unbalanced braces, "ABOVE {\sqrt} BELOW"


def _score(tmp_path: Path, preds: list[dict], *args: str, out: str = "run.json") -> dict:
    path = tmp_path / f"{Path(out).stem}.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in preds), encoding="utf-8")
    assert main(["score", str(path), "--json", str(tmp_path / out), *args]) == 0
    return json.loads((tmp_path / out).read_text(encoding="utf-8"))


def _perfect(gold, *, png_every: int = 2) -> list[dict]:
    """The best a model can write: the normalized gold, or the tokenized formula where the
    normalizer failed; image names with and without ``.png``."""
    out = []
    for i, (item, raw) in enumerate(zip(gold.gold.items, gold.raw)):
        text = item.formula if item.formula else " ".join(tokenize(raw))
        out.append({"image": item.image + (".png" if i % png_every == 0 else ""), "prediction": text})
    return out


def _on_normalized(run: dict, metric: str) -> float:
    """``metric`` over the items whose gold normalized (re-aggregated from per-sample statistics)."""
    rows = np.array([s["stats"][metric] for s in run["samples"] if s["gold"].strip()])
    return get_metric("bleu" if metric.startswith("bleu") else metric).aggregate(rows).value


def test_bundled_ground_truth_reads_normalizes_and_counts_its_failures() -> None:
    sizes = {"crohme2013": 671, "crohme2014": 986, "crohme2016": 1147}
    for dataset, size in sizes.items():
        gold = load_crohme(dataset)
        assert gold.bundled and len(gold.gold.items) == size == len(gold.tokenized) == len(gold.raw)
        assert gold.gold.source.startswith(f"{dataset}@")
    g2014 = load_crohme("crohme2014")
    assert {name for name, _ in g2014.failed} == FAILING_2014
    assert {i.image for i in g2014.gold.items if not i.formula} == FAILING_2014
    assert load_crohme("crohme2013").failed == [] and load_crohme("crohme2016").failed == []
    # The one quoted 2013 formula keeps its tab, and the CRLF line ends are gone.
    rows = {name: formula for name, formula, _ in read_groundtruth(groundtruth_path("crohme2013")[0])}
    assert rows["125_em_424"] == "VA = \t\\sum_{i}VA(F_{i})"
    assert not any("\r" in f for f in rows.values())


def test_malformed_or_missing_ground_truth_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / DATASETS["crohme2014"]
    bad.write_text("a\tx\nb\ty\tz\n", encoding="utf-8")
    with pytest.raises(InputError, match="found 3 field") as err:
        read_groundtruth(bad)
    assert err.value.line == 2
    bad.write_text("a\tx\r\na.png\ty\r\n", encoding="utf-8")
    with pytest.raises(InputError, match="listed twice"):
        read_groundtruth(bad)
    with pytest.raises(InputError, match="groundtruth_2016.tsv"):
        load_crohme("crohme2016", tmp_path)
    assert main(["score", str(bad), "--crohme-dir", str(tmp_path)]) != 0  # --crohme-dir needs --dataset
    assert main(["score", str(bad), "--dataset", "crohme2014", "--gold", str(bad)]) != 0  # gold given twice


def test_text_metrics_of_a_perfect_set_on_crohme2014_under_both_policies(tmp_path: Path) -> None:
    gold = load_crohme("crohme2014")
    preds = _perfect(gold)
    render = _score(tmp_path, preds, "--dataset", "crohme2014", "--no-images", out="render.json")
    exclude = _score(tmp_path, preds, "--dataset", "crohme2014", "--no-images", "--empty-gold", "exclude",
                     out="exclude.json")
    for run in (render, exclude):
        assert run["counts"]["gold"] == 986 and run["counts"]["missing"] == 0  # names with and without .png
        assert run["counts"]["gold_normalize_failed"] == 3 and run["counts"]["empty_gold"] == 3
        assert all(name in " ".join(run["notes"]) for name in FAILING_2014)
        assert _on_normalized(run, "bleu") == pytest.approx(100.0) and _on_normalized(run, "exact_match") == 1.0
        assert run["inputs"]["dataset"] == "crohme2014"
        sig = dict(item.split(":", 1) for item in run["signature"].split("|"))
        assert sig["gold_src"] == gold.gold.source and sig["gold"] == "norm"
        assert "gold:tok" in run["scores"]["bleu_tok"]["signature"]
    assert exclude["metrics"]["bleu"] == pytest.approx(100.0) and exclude["metrics"]["exact_match"] == 1.0
    assert exclude["counts"]["empty_gold_excluded"] == 3
    assert render["metrics"]["bleu"] < 100.0  # three non-empty predictions against empty references

    # BLEU (tok): predictions that are the tokenized ground truth score 100 against it.
    tok = [{"image": i.image, "prediction": t} for i, t in zip(gold.gold.items, gold.tokenized)]
    run = _score(tmp_path, tok, "--dataset", "crohme2014", "--no-images", out="tok.json")
    assert run["metrics"]["bleu_tok"] == pytest.approx(100.0)

    # Raw-LaTeX predictions with --normalize-predictions: normalized like the gold.
    raw = [{"image": i.image, "prediction": r} for i, r in zip(gold.gold.items, gold.raw)]
    run = _score(tmp_path, raw, "--dataset", "crohme2014", "--no-images", "--normalize-predictions",
                 "--empty-gold", "exclude", out="raw.json")
    assert run["metrics"]["bleu"] == pytest.approx(100.0) and run["metrics"]["exact_match"] == 1.0
    assert "pred_norm:im2latex" in run["signature"]


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_image_metrics_of_a_perfect_set_under_both_policies_and_on_the_board(tmp_path: Path) -> None:
    """A 20-formula CROHME 2014 copy in --crohme-dir (the 3 failures and 17 others), rendered."""
    full = read_groundtruth(groundtruth_path("crohme2014")[0])
    chosen = [r for r in full if r[0] in FAILING_2014] + [r for r in full if r[0] not in FAILING_2014][:17]
    small = tmp_path / "crohme"
    small.mkdir()
    (small / DATASETS["crohme2014"]).write_text("".join(f"{n}\t{f}\r\n" for n, f, _ in chosen), encoding="utf-8")
    gold = load_crohme("crohme2014", small)
    assert not gold.bundled and gold.gold.source != load_crohme("crohme2014").gold.source
    preds = _perfect(gold)
    args = ["--dataset", "crohme2014", "--crohme-dir", str(small)]
    render = _score(tmp_path, preds, *args, out="render.json")
    exclude = _score(tmp_path, preds, *args, "--empty-gold", "exclude", out="exclude.json")

    ok = [s for s in render["samples"] if s["gold"].strip()]
    assert len(ok) == 17 and all(s["gold_render"]["status"] == "ok" for s in ok)
    for metric in ("image_match", "image_match_ws", "image_edit_distance"):
        assert _on_normalized(render, metric) == 1.0
        assert exclude["metrics"][metric] == 1.0
    assert _on_normalized(render, "bleu") == pytest.approx(100.0) and exclude["metrics"]["bleu"] == pytest.approx(100.0)
    # Under render the three empty gold lines are blank pages that the tokenized predictions miss.
    failed = [s for s in render["samples"] if not s["gold"].strip()]
    assert [s["stats"]["image_match"] for s in failed] == [[0, 1]] * 3
    assert render["scores"]["image_match"]["parts"] == {"matched": 17, "counted": 20}
    assert exclude["scores"]["image_match"]["parts"] == {"matched": 17, "counted": 17}

    # The board puts the measured run beside the paper's CROHME14 row, whatever --dataset says.
    board = build_board([read_run(tmp_path / "exclude.json")])
    crohme14 = [r for r in board.rows if r.dataset == "CROHME14"]
    assert {r.tag for r in crohme14} == {"published", "measured"}
    measured = next(r for r in crohme14 if r.tag == "measured")
    assert measured.values["image_match"] == 100.0 and measured.values["bleu_norm"] == pytest.approx(100.0)
    assert measured.values["bleu_tok"] == pytest.approx(exclude["metrics"]["bleu_tok"])
    assert not [r for r in board.rows if r.dataset == "IM2LATEX-100K" and r.tag == "measured"]
