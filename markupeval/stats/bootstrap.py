"""Paired bootstrap resampling over per-sample sufficient statistics (after sacrebleu).

Every markupeval metric turns a sample into a small vector of sufficient statistics and computes
its corpus value from the column sums of those vectors (:class:`markupeval.metrics.base.Metric`).
A bootstrap resample is therefore just a multiset of sample indices: the resampled corpus value is
``metric.score_from_stats(counts @ stats)``, where ``counts[i]`` says how often sample ``i`` was
drawn. One matrix product per chunk of resamples replaces re-running any metric.

Definitions (fixed, and recorded in :attr:`Comparison.signature`):

* **Resamples.** ``numpy.random.default_rng(seed).choice(n, size=(B, n), replace=True)``, exactly
  the draw sacrebleu's ``paired_bs`` makes, so with the same seed both tools resample the same
  samples. Seed 12345 (sacrebleu's default), B = 1000.
* **95 % interval.** The percentile interval of the B resampled values, with sacrebleu's order
  statistics: sorted values at index ``B // 40`` and ``B - B // 40 - 1`` (the 26th and 975th of
  1000). sacrebleu reports half that width as "± ci"; we report both ends because metrics near
  100 % have skewed intervals.
* **Paired difference.** Both runs are resampled with the *same* index rows (pairing by sample).
  ``delta = score_b - score_a`` on the full corpus; ``d_j`` the same difference on resample ``j``.
  Its 95 % interval uses the percentile rule above.
* **p-value** (two-sided, null hypothesis "no difference"): sacrebleu's paired bootstrap test
  (Koehn 2004, as in Moses' ``bootstrap-hypothesis-difference-significance.pl``): centre the
  resampled absolute differences, ``s_j = |d_j| - mean(|d|)``, and count how often they reach the
  observed absolute difference, ``p = (1 + #{j : s_j >= |delta|}) / (B + 1)``. We count ties
  (``>=``) where sacrebleu counts only ``>``: with ``>`` a run compared with itself gets the
  "significant" ``p = 1/(B+1)``; with ``>=`` it gets ``p = 1``. Without ties both agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from markupeval.metrics.base import Metric, Signature

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 12345
CONFIDENCE = 0.95

# Resamples per matrix product: bounds memory at _CHUNK x n counts (100 x 10,355 floats = 8 MB).
_CHUNK = 100


@dataclass(frozen=True)
class Interval:
    """A corpus value with its bootstrap 95 % percentile interval (metric's natural scale)."""

    value: float
    low: float
    high: float
    mean: float


@dataclass(frozen=True)
class Difference:
    """``b - a`` for one metric: observed difference, its 95 % interval and the p-value."""

    delta: float
    low: float
    high: float
    p_value: float


@dataclass
class Comparison:
    """Result of a paired bootstrap of two systems over the same samples."""

    n_samples: int
    resamples: int
    seed: int
    intervals_a: dict[str, Interval] = field(default_factory=dict)
    intervals_b: dict[str, Interval] = field(default_factory=dict)
    differences: dict[str, Difference] = field(default_factory=dict)

    @property
    def signature(self) -> Signature:
        return bootstrap_signature(self.resamples, self.seed)


def bootstrap_signature(resamples: int, seed: int) -> Signature:
    return Signature.from_items(
        [
            ("test", "paired-bootstrap"),
            ("resamples", resamples),
            ("seed", seed),
            ("ci", "95%-percentile"),
            ("p", "sacrebleu-bs-ties-counted"),
        ]
    )


def resample_indices(n: int, resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> np.ndarray:
    """``(resamples, n)`` sample indices drawn with replacement (sacrebleu's draw for this seed)."""
    if n <= 0:
        raise ValueError("cannot bootstrap an empty set of samples")
    if resamples <= 0:
        raise ValueError(f"resamples must be positive, got {resamples}")
    rng = np.random.default_rng(seed)
    return rng.choice(n, size=(resamples, n), replace=True)


def resample_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each sample occurs in each resample: ``(rows, n)`` float counts."""
    rows = indices.shape[0]
    # Offset each row's indices into its own block so one bincount counts all rows at once.
    flat = (indices + (np.arange(rows)[:, None] * n)).ravel()
    return np.bincount(flat, minlength=rows * n).reshape(rows, n).astype(np.float64)


def percentile_bounds(values: np.ndarray) -> tuple[float, float]:
    """sacrebleu's 95 % order statistics of bootstrap values: indices B//40 and B-B//40-1."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    lower = len(ordered) // 40
    return float(ordered[lower]), float(ordered[len(ordered) - lower - 1])


def p_value(resampled_differences: np.ndarray, observed: float) -> float:
    """Two-sided paired-bootstrap p-value of an observed difference (see the module docstring)."""
    absolute = np.abs(np.asarray(resampled_differences, dtype=np.float64))
    centred = absolute - absolute.mean()
    # Compare with a tolerance: re-aggregated sums can differ from the direct value in the last bit,
    # and a tie must count as a tie.
    reached = int(np.sum(centred >= abs(observed) - 1e-12))
    return (reached + 1) / (len(absolute) + 1)


def _check_stats(stats: Mapping[str, np.ndarray], metrics: Mapping[str, Metric]) -> tuple[int, dict[str, np.ndarray]]:
    arrays: dict[str, np.ndarray] = {}
    n: int | None = None
    for name, metric in metrics.items():
        if name not in stats:
            raise ValueError(f"no statistics for metric {name!r}")
        width = len(metric.stat_names)
        array = np.asarray(stats[name], dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != width:
            raise ValueError(f"{name}: statistics must be (n, {width}), got {array.shape}")
        if n is None:
            n = array.shape[0]
        elif array.shape[0] != n:
            raise ValueError(f"{name}: {array.shape[0]} samples, other metrics have {n}")
        arrays[name] = array
    if n is None:
        raise ValueError("no metrics to bootstrap")
    return n, arrays


def _resampled_scores(
    systems: list[dict[str, np.ndarray]], metrics: Mapping[str, Metric], indices: np.ndarray
) -> list[dict[str, np.ndarray]]:
    """Corpus value of every metric of every system on every resample (same rows for all)."""
    names = list(metrics)
    n = indices.shape[1]
    # One (n, K) matrix holding every metric's columns for every system: one product per chunk.
    blocks = [system[name] for system in systems for name in names]
    edges = np.cumsum([0] + [b.shape[1] for b in blocks])
    stacked = np.hstack(blocks)
    totals = np.empty((indices.shape[0], stacked.shape[1]), dtype=np.float64)
    for start in range(0, indices.shape[0], _CHUNK):
        chunk = indices[start : start + _CHUNK]
        totals[start : start + len(chunk)] = resample_counts(chunk, n) @ stacked
    out: list[dict[str, np.ndarray]] = []
    block = 0
    for _system in systems:
        scores: dict[str, np.ndarray] = {}
        for name in names:
            part = totals[:, edges[block] : edges[block + 1]]
            metric = metrics[name]
            scores[name] = np.array([metric.score_from_stats(row).value for row in part])
            block += 1
        out.append(scores)
    return out


def _indices(indices: np.ndarray | None, n: int, resamples: int, seed: int) -> np.ndarray:
    if indices is None:
        return resample_indices(n, resamples, seed)
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim != 2 or indices.shape[1] != n or indices.min() < 0 or indices.max() >= n:
        raise ValueError(f"explicit resample indices must be (B, {n}) in 0..{n - 1}")
    return indices


def _interval(metric: Metric, stats: np.ndarray, resampled: np.ndarray) -> Interval:
    low, high = percentile_bounds(resampled)
    value = metric.score_from_stats(stats.sum(axis=0)).value
    return Interval(value=float(value), low=low, high=high, mean=float(resampled.mean()))


def bootstrap_intervals(
    stats: Mapping[str, np.ndarray],
    metrics: Mapping[str, Metric],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    indices: np.ndarray | None = None,
) -> dict[str, Interval]:
    """95 % bootstrap interval of every metric of one system.

    ``stats[name]`` is the ``(n, len(metric.stat_names))`` per-sample statistics of ``metrics[name]``.
    ``indices`` replaces the seeded draw with explicit resample rows (for checks by hand).
    """
    n, arrays = _check_stats(stats, metrics)
    indices = _indices(indices, n, resamples, seed)
    (scores,) = _resampled_scores([arrays], metrics, indices)
    return {name: _interval(metrics[name], arrays[name], scores[name]) for name in metrics}


def compare_stats(
    stats_a: Mapping[str, np.ndarray],
    stats_b: Mapping[str, np.ndarray],
    metrics: Mapping[str, Metric],
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    indices: np.ndarray | None = None,
) -> Comparison:
    """Paired bootstrap of system B against system A; row ``i`` of both must be the same sample."""
    n_a, arrays_a = _check_stats(stats_a, metrics)
    n_b, arrays_b = _check_stats(stats_b, metrics)
    if n_a != n_b:
        raise ValueError(f"paired bootstrap needs the same samples: {n_a} vs {n_b}")
    indices = _indices(indices, n_a, resamples, seed)
    scores_a, scores_b = _resampled_scores([arrays_a, arrays_b], metrics, indices)
    result = Comparison(n_samples=n_a, resamples=len(indices), seed=seed)
    for name, metric in metrics.items():
        ia = _interval(metric, arrays_a[name], scores_a[name])
        ib = _interval(metric, arrays_b[name], scores_b[name])
        deltas = scores_b[name] - scores_a[name]
        low, high = percentile_bounds(deltas)
        observed = ib.value - ia.value
        result.intervals_a[name] = ia
        result.intervals_b[name] = ib
        result.differences[name] = Difference(
            delta=observed, low=low, high=high, p_value=p_value(deltas, observed)
        )
    return result
