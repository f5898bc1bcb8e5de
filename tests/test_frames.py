"""Notebook API: a run file as a per-sample DataFrame, the leaderboard as one DataFrame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import markupeval
from markupeval.cli import main
from markupeval.leaderboard import COLUMN_KEYS, build_board, board_frame, read_published, render
from markupeval.stats.runs import read_run

SAMPLE = Path(markupeval.__file__).resolve().parent / "sample"


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run.json"
    assert main(["score", str(SAMPLE / "predictions.txt"), "--gold", str(SAMPLE / "gold.txt"),
                 "--names", str(SAMPLE / "names.txt"), "--no-images", "--json", str(out)]) == 0
    return out


def test_load_run_one_row_per_gold_item_with_stats_and_values(sample_run):
    frame = markupeval.load_run(sample_run)
    run = read_run(sample_run)
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(run.samples)
    assert list(frame.columns[:4]) == ["image", "gold", "prediction", "missing"]
    assert list(frame["image"]) == [s["image"] for s in run.samples]
    for metric, names in run.stat_names.items():
        for name in names:
            assert f"{metric}.{name}" in frame.columns
    # Per-sample statistics re-aggregate to the run's corpus values.
    ed = 1 - frame["edit_distance.distance"].sum() / frame["edit_distance.max_len"].sum()
    assert ed == pytest.approx(run.metrics["edit_distance"])
    assert frame["exact_match"].mean() == pytest.approx(run.metrics["exact_match"])
    assert frame["edit_distance"].between(0, 1).all()
    assert "image_match" not in frame.columns  # scored with --no-images: no image columns
    assert frame.attrs["metrics"] == run.metrics and frame.attrs["signature"] == run.signature
    missing = frame[frame["missing"]]
    assert missing["prediction"].isna().all()


def test_board_is_one_frame_every_format_is_written_from(sample_run):
    board = build_board([read_run(sample_run)])
    frame = board_frame(board)
    assert len(frame) == len(board.rows) == len(read_published()) + 1
    assert frame[list(COLUMN_KEYS)].dtypes.eq(np.float64).all()
    measured = frame[frame["tag"] == "measured"].iloc[0]
    assert measured["edit_distance"] == pytest.approx(100 * read_run(sample_run).metrics["edit_distance"])
    assert pd.isna(measured["image_match"])  # not scored: missing, not 0
    # The CSV format is the frame itself (values rounded as shown).
    csv = pd.read_csv(__import__("io").StringIO(render(board, "csv")))
    assert list(csv["model"]) == list(frame["model"])
    assert np.allclose(csv["bleu_norm"].fillna(-1), frame["bleu_norm"].round(4).fillna(-1))
    notebook = markupeval.load_board([sample_run])
    pd.testing.assert_frame_equal(notebook, frame)
