"""Text exact match: prediction equals gold after whitespace normalisation (not in the original)."""

from __future__ import annotations

import numpy as np

from markupeval.metrics.base import Metric, Score, Signature
from markupeval.metrics.tokens import perl_split


class ExactMatch(Metric):
    """Share of items whose prediction equals the gold token for token. Stats: matched, counted.

    A missing prediction (``None``) never matches, also against an empty gold line.
    """

    name = "exact_match"
    stat_names = ("matched", "counted")

    def segment_stats(self, hypothesis: str | None, reference: str) -> np.ndarray:
        matched = hypothesis is not None and perl_split(hypothesis) == perl_split(reference)
        return np.array([float(matched), 1.0])

    def score_from_stats(self, totals: np.ndarray) -> Score:
        matched, counted = float(totals[0]), float(totals[1])
        return Score(self.name, matched / counted if counted else 0.0, {"matched": int(matched), "counted": int(counted)})

    def signature(self) -> Signature:
        return Signature.from_items([("metric", "exact_match"), ("ws", "normalized")])
