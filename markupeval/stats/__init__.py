"""Significance and confidence: the paired bootstrap over per-sample sufficient statistics."""

from markupeval.stats.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Comparison,
    Difference,
    Interval,
    bootstrap_intervals,
    compare_stats,
    p_value,
    percentile_bounds,
    resample_counts,
    resample_indices,
)

__all__ = [
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "Comparison",
    "Difference",
    "Interval",
    "bootstrap_intervals",
    "compare_stats",
    "p_value",
    "percentile_bounds",
    "resample_counts",
    "resample_indices",
]
