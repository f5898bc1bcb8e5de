"""Token edit distance accuracy as im2markup's ``evaluate_text_edit_distance.py`` computes it.

Per pair: tokens are ``line.strip().split(' ')`` for both sides; statistics are the Levenshtein
distance and ``max(len(gold), len(pred))``. Corpus value: ``1 - sum(distance) / sum(max_len)``.
Which pairs are counted (only the lines present in a results file, or every gold item) is decided
by the caller and recorded in the signature by :mod:`markupeval.scoring`.
"""

from __future__ import annotations

from typing import Sequence

import Levenshtein
import numpy as np

from markupeval.metrics.base import Metric, Score, Signature
from markupeval.metrics.tokens import space_split


def token_levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences, in C.

    python-Levenshtein compares strings, so each distinct token becomes one code point.
    """
    vocab: dict[str, str] = {}
    sa = "".join(vocab.setdefault(t, chr(len(vocab))) for t in a)
    sb = "".join(vocab.setdefault(t, chr(len(vocab))) for t in b)
    return Levenshtein.distance(sa, sb)


def token_opcodes(a: Sequence[str], b: Sequence[str]) -> list[tuple[str, int, int, int, int]]:
    """Levenshtein opcodes between two token sequences (for per-sample reports)."""
    vocab: dict[str, str] = {}
    sa = "".join(vocab.setdefault(t, chr(len(vocab))) for t in a)
    sb = "".join(vocab.setdefault(t, chr(len(vocab))) for t in b)
    return Levenshtein.opcodes(sa, sb)


class EditDistance(Metric):
    """Token edit distance accuracy. Statistics: distance, max_len."""

    name = "edit_distance"
    stat_names = ("distance", "max_len")

    def segment_stats(self, hypothesis: str | None, reference: str) -> np.ndarray:
        gold = space_split(reference)
        pred = space_split(hypothesis or "")
        return np.array([token_levenshtein(gold, pred), max(len(gold), len(pred))], dtype=np.float64)

    def score_from_stats(self, totals: np.ndarray) -> Score:
        distance, max_len = float(totals[0]), float(totals[1])
        value = 1.0 - distance / max_len if max_len else 0.0
        return Score(self.name, value, {"distance": int(distance), "max_len": int(max_len)})

    def signature(self) -> Signature:
        return Signature.from_items([("metric", "edit_distance"), ("tok", "split-space"), ("unit", "token")])
