"""Image edit distance: Levenshtein distance over pixel columns, as im2markup's ``evaluate_image.py``.

Per pair the statistics are ``(distance, ref)``: the Levenshtein distance between the two images'
column sequences (a column is one symbol, equal only if identical after binarising at <= 128 and
bottom-padding to the taller height) and the wider width. A missing prediction costs the gold width
with reference the gold width; a gold image that failed to render is excluded, ``(0, 0)``.
Corpus value: ``1 - sum(distance) / sum(ref)``.

The per-pair work lives in :func:`markupeval.images.compare_images`, which computes this metric and
both Match variants at once; scoring should call :func:`markupeval.images.compare_image_pairs` once
and take each metric's statistics with :meth:`ImageEditDistance.stats_from_results`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from markupeval.images.columns import INK_THRESHOLD
from markupeval.images.compare import ImagePairResult, compare_images
from markupeval.metrics.base import Metric, Score, Signature


class ImageEditDistance(Metric):
    """Image edit distance accuracy. Statistics: distance, ref.

    ``segment_stats(hypothesis, reference)`` takes the predicted and the gold image (2-D uint8
    grayscale arrays, 255 = white); ``None`` is a failed render on that side.
    """

    name = "image_edit_distance"
    stat_names = ("distance", "ref")

    def segment_stats(self, hypothesis: np.ndarray | None, reference: np.ndarray | None) -> np.ndarray:
        return self.stats_from_result(compare_images(reference, hypothesis))

    def stats_from_result(self, result: ImagePairResult) -> np.ndarray:
        return np.array([result.edit_distance, result.ref], dtype=np.float64)

    def stats_from_results(self, results: Sequence[ImagePairResult]) -> np.ndarray:
        """``(n, 2)`` statistics of many compared pairs, in order."""
        return np.array([[r.edit_distance, r.ref] for r in results], dtype=np.float64).reshape(-1, 2)

    def score_from_stats(self, totals: np.ndarray) -> Score:
        distance, ref = float(totals[0]), float(totals[1])
        # No counted pair at all (every gold render failed): report 0 rather than divide by zero.
        value = 1.0 - distance / ref if ref else 0.0
        return Score(self.name, value, {"distance": int(distance), "ref": int(ref)})

    def signature(self) -> Signature:
        return Signature.from_items(
            [
                ("metric", "image_edit_distance"),
                ("ink", f"<={INK_THRESHOLD}"),
                ("unit", "column"),
                ("pad", "bottom"),
                ("missing", "gold-width"),
                ("gold_failed", "excluded"),
            ]
        )
