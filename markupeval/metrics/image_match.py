"""Image exact match, "Match" and "Match (-ws)", as im2markup's ``evaluate_image.py`` decides them.

Per pair the statistics are ``(matched, counted)``. ``counted`` is 0 for a gold image that failed
to render (such pairs are excluded, as in the original, which only looked at gold images on disk);
a missing prediction is counted and does not match. The decision itself — identical columns, else
greedy column clustering (fewer than 5 differing pixels) and Levenshtein opcodes where a non-equal
op spanning 5 or more gold columns breaks the match — is implemented in
:func:`markupeval.images.compare_images`; see docs/PROTOCOL.md for the rule and its quirks (extra
predicted columns never break a match; a blank gold matches an inked prediction with whitespace).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from markupeval.images.columns import INK_THRESHOLD, PIXEL_TOLERANCE
from markupeval.images.compare import COLUMN_TOLERANCE, ImagePairResult, compare_images
from markupeval.metrics.base import Metric, Score, Signature


class ImageMatch(Metric):
    """Image Match (whitespace kept) or, with ``ignore_whitespace``, Match (-ws). Stats: matched, counted.

    ``segment_stats(hypothesis, reference)`` takes the predicted and the gold image (2-D uint8
    grayscale arrays, 255 = white); ``None`` is a failed render on that side.
    """

    name = "image_match"
    stat_names = ("matched", "counted")

    def __init__(self, ignore_whitespace: bool = False) -> None:
        self.ignore_whitespace = ignore_whitespace
        self.name = "image_match_ws" if ignore_whitespace else "image_match"

    def segment_stats(self, hypothesis: np.ndarray | None, reference: np.ndarray | None) -> np.ndarray:
        return self.stats_from_result(compare_images(reference, hypothesis))

    def stats_from_result(self, result: ImagePairResult) -> np.ndarray:
        matched = result.match_ws if self.ignore_whitespace else result.match
        return np.array([float(matched and result.counted), float(result.counted)])

    def stats_from_results(self, results: Sequence[ImagePairResult]) -> np.ndarray:
        """``(n, 2)`` statistics of many compared pairs, in order."""
        key = "match_ws" if self.ignore_whitespace else "match"
        return np.array(
            [[float(getattr(r, key) and r.counted), float(r.counted)] for r in results], dtype=np.float64
        ).reshape(-1, 2)

    def score_from_stats(self, totals: np.ndarray) -> Score:
        matched, counted = float(totals[0]), float(totals[1])
        return Score(self.name, matched / counted if counted else 0.0, {"matched": int(matched), "counted": int(counted)})

    def signature(self) -> Signature:
        return Signature.from_items(
            [
                ("metric", self.name),
                ("ink", f"<={INK_THRESHOLD}"),
                ("ws", "removed" if self.ignore_whitespace else "kept"),
                ("cluster", f"greedy-lt{PIXEL_TOLERANCE}px"),
                ("tol", f"{COLUMN_TOLERANCE}col-gold"),
                ("missing", "no-match"),
                ("gold_failed", "excluded"),
            ]
        )


class ImageMatchNoWhitespace(ImageMatch):
    """Match (-ws): :class:`ImageMatch` with blank columns removed; its own class so that the
    ``METRICS`` registry can rebuild it without arguments."""

    name = "image_match_ws"

    def __init__(self) -> None:
        super().__init__(ignore_whitespace=True)
