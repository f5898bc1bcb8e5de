"""``markupeval reproduce table2 --budget smoke``: really trains, predicts, renders and scores
every Table 2 row on a small subset, writes the side-by-side board, and a second call reuses it all."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from markupeval.cli import main
from markupeval.reproduce import ROWS, default_holdings, needed_rows, reproduce, rows_for

pytestmark = pytest.mark.skipif(not default_holdings().is_dir(), reason="offline holdings (../shared/data) not found")

TABLE2 = ["INFTY", "CTC", "CAPTION", "IM2TEX-TOK", "IM2TEX", "IM2TEX coarse-only", "IM2TEX hierarchical",
          "IM2TEX-C2F hard", "IM2TEX-C2F sparsemax"]


def test_rows_of_each_table():
    assert [r.label for r in rows_for("table2")] == TABLE2
    t3 = [r.key for r in rows_for("table3")]
    assert t3 == ["ngram", "lstm-lm", "caption", "no-pos-embed", "im2tex"]
    assert [r.key for r in rows_for("table4")] == ["im2tex", "coarse", "hierarchical", "c2f-hard", "c2f-sparsemax"]
    # C2F hard starts from the hierarchical checkpoint, so that row is trained first.
    keys = [r.key for r in needed_rows([r for r in ROWS if r.key == "c2f-hard"])]
    assert keys == ["hierarchical", "c2f-hard"]


def _outputs(out: Path) -> dict[Path, int]:
    files = [p for pat in ("rows/*/train/*.pt", "rows/*/*.jsonl", "rows/*/run.json", "rows/*/images/*.png", "data/**/*.png")
             for p in out.glob(pat)]
    return {p: p.stat().st_mtime_ns for p in files}


@pytest.mark.slow
@pytest.mark.usefixtures("torch_one_thread")
def test_reproduce_table2_smoke_end_to_end_and_reuse(tmp_path):
    out = tmp_path / "repro"
    assert main(["reproduce", "table2", "--budget", "smoke", "--out", str(out)]) == 0
    text = (out / "table2.csv").read_text(encoding="utf-8")
    board = pd.read_csv(io.StringIO(text))
    assert list(board["row"]) == TABLE2
    cols = list(board.columns)
    for metric in ("BLEU (tok)", "BLEU (norm)", "Match", "Match (-ws)"):
        assert cols.index(f"{metric} ours") == cols.index(f"{metric} paper") + 1  # adjacent
    by = board.set_index("row")
    assert by.loc["IM2TEX", "BLEU (norm) paper"] == 87.73 and by.loc["INFTY", "Match paper"] == 15.60
    measured = by.drop(index="IM2TEX-TOK")
    for col in ("BLEU (norm) ours", "Match ours", "Match (-ws) ours", "Image ED ours", "Text ED ours"):
        assert measured[col].notna().all(), col  # every runnable row was really predicted and rendered
    assert by.loc["IM2TEX-TOK", ["BLEU (norm) ours", "Match ours"]].isna().all()  # not run, and said so
    assert (measured["budget"] == "smoke").all() and measured["hardware"].str.len().gt(0).all()
    assert (measured["minutes"] > 0).all() and (measured["data"] == "smoke subset").all()
    assert measured["signature"].str.contains("gold:norm").all()  # each measured row carries its signature
    md = (out / "table2.md").read_text(encoding="utf-8")
    assert "signature [1]: `" in md and "gold:norm" in md and "IM2TEX-TOK: not run" in md
    for ext in ("html", "tex", "txt"):
        shown = (out / f"table2.{ext}").read_text(encoding="utf-8")
        assert "IM2TEX-C2F sparsemax" in shown and "87.73" in shown, ext
    assert (out / "rows" / "c2f-hard" / "train" / "done.json").read_text().count("hierarchical/train/best.pt")

    before = _outputs(out)
    assert len([p for p in before if p.suffix == ".pt"]) >= 2 * 7  # best + last of the 7 neural rows
    rep = reproduce("table2", "smoke", out=out)
    assert rep.trained == [] and not rep.rendered  # nothing trained, nothing scored or rendered again
    assert _outputs(out) == before
    assert pd.read_csv(out / "table2.csv").equals(board)


def test_holdings_split_limits_keep_the_first_entries():
    from markupeval.data.build import inputs_from_holdings

    full = inputs_from_holdings(default_holdings())
    small = inputs_from_holdings(default_holdings(), train_limit=5, validate_limit=3, test_limit=2)
    assert {s: len(e) for s, e in small.splits.items()} == {"train": 5, "validate": 3, "test": 2}
    for split, entries in small.splits.items():
        assert entries == full.splits[split][:len(entries)]
        assert all(small.norm_formulas[e.formula_idx] == full.norm_formulas[e.formula_idx] for e in entries)
