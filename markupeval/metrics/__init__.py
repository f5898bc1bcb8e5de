"""Metric registry: the one place that maps a metric's name to its class.

Run files store per-sample statistics under these names, so :func:`get_metric` can rebuild the
metric that re-aggregates them (bootstrap, subsets, leaderboards).
"""

from __future__ import annotations

from markupeval.metrics.base import Metric, Score, Signature
from markupeval.metrics.bleu import BLEU
from markupeval.metrics.cdm import CDMExpRate, CDMF1
from markupeval.metrics.edit_distance import EditDistance
from markupeval.metrics.exact_match import ExactMatch
from markupeval.metrics.column_edit_distance import ImageEditDistance
from markupeval.metrics.image_match import ImageMatch, ImageMatchNoWhitespace

METRICS: dict[str, type[Metric]] = {
    "bleu": BLEU,
    "edit_distance": EditDistance,
    "exact_match": ExactMatch,
    "image_edit_distance": ImageEditDistance,
    "image_match": ImageMatch,
    "image_match_ws": ImageMatchNoWhitespace,
    "cdm_f1": CDMF1,
    "cdm_exprate": CDMExpRate,
}


def get_metric(name: str) -> Metric:
    """A default-configured instance of the registered metric ``name``."""
    try:
        return METRICS[name]()
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


__all__ = ["METRICS", "Metric", "Score", "Signature", "get_metric"]
