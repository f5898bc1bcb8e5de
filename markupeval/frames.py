"""pandas views for notebooks: a run's per-sample results and a leaderboard, each one DataFrame.

``markupeval.load_run(path)`` reads a run file (``markupeval score --json``) into one row per gold
item: ``image``, ``gold``, ``prediction`` (``None`` where the model gave none), ``missing``, the
render outcomes when the run rendered, every metric's per-sample statistics as
``<metric>.<stat>`` columns, and per-sample values where a statistic pair has one (``bleu``'s are
corpus-level counts and get none): ``edit_distance`` = 1 - distance / max_len, ``exact_match``,
``image_edit_distance`` = 1 - distance / ref, ``image_match`` and ``image_match_ws`` (1.0, 0.0, or
``NaN`` where the pair is not counted, e.g. a gold that failed to render). The run's corpus
metrics, signature and counts are in ``frame.attrs``. ``markupeval.load_board(runs)`` is the
leaderboard's own DataFrame (:func:`markupeval.leaderboard.board_frame`), published and measured
rows together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from markupeval.stats.runs import read_run

#: metric -> (numerator statistic, denominator statistic, whether the value is 1 - num/den).
_PER_SAMPLE = {
    "edit_distance": ("distance", "max_len", True),
    "image_edit_distance": ("distance", "ref", True),
    "exact_match": ("matched", "counted", False),
    "image_match": ("matched", "counted", False),
    "image_match_ws": ("matched", "counted", False),
}


def run_frame(path: Path | str) -> pd.DataFrame:
    """The per-sample results of one run file as a DataFrame (see the module docstring)."""
    run = read_run(path)
    samples = run.samples
    frame = pd.DataFrame({
        "image": [s["image"] for s in samples],
        "gold": [s.get("gold") for s in samples],
        "prediction": [s.get("prediction") for s in samples],
    })
    frame["missing"] = frame["prediction"].isna()
    for side in ("gold_render", "pred_render"):
        if any(side in s for s in samples):
            frame[side] = [(s.get(side) or {}).get("status") for s in samples]
    for metric, names in run.stat_names.items():
        width = len(names)
        values = np.full((len(samples), width), np.nan)
        for i, s in enumerate(samples):
            stats = s.get("stats", {}).get(metric)
            if stats is not None:
                values[i] = stats
        for j, name in enumerate(names):
            frame[f"{metric}.{name}"] = values[:, j]
        rule = _PER_SAMPLE.get(metric)
        if rule and rule[0] in names and rule[1] in names:
            num, den = values[:, names.index(rule[0])], values[:, names.index(rule[1])]
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
            frame[metric] = 1.0 - ratio if rule[2] else ratio
    frame.attrs.update(name=run.name, metrics=dict(run.metrics), signature=run.signature, counts=dict(run.counts),
                       path=str(run.path))
    return frame


def board(runs: Iterable[Path | str] = (), **kwargs) -> pd.DataFrame:
    """Published rows and the measured ``runs`` as the leaderboard's DataFrame."""
    from markupeval.leaderboard import board_frame, load_board

    return board_frame(load_board(runs, **kwargs))
