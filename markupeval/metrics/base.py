"""The metric contract shared by every text and image metric (after sacrebleu's ``Metric``).

A metric turns one (hypothesis, reference) pair into a small vector of *sufficient statistics*;
corpus values come only from summing those vectors and applying the metric's formula once. Storing
the per-sample statistics is therefore enough to re-aggregate any subset, which is what the paired
bootstrap in :mod:`markupeval.stats` does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from markupeval import __version__


@dataclass(frozen=True)
class Signature:
    """Every setting that changes a metric's number, in a fixed order, ending with the version.

    ``str(sig)`` gives the long form (``name:value|...``); :meth:`short` abbreviates keys the way
    sacrebleu does, for narrow tables.
    """

    fields: tuple[tuple[str, str], ...]

    @classmethod
    def from_items(cls, items: Iterable[tuple[str, Any]]) -> "Signature":
        pairs = [(k, _fmt(v)) for k, v in items if k != "version"]
        pairs.append(("version", __version__))
        return cls(tuple(pairs))

    @classmethod
    def parse(cls, text: str) -> "Signature":
        """The signature whose long form is ``text`` (as a run file stores it)."""
        return cls(tuple((k.strip(), v.strip()) for k, _, v in (item.partition(":") for item in text.split("|") if item)))

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)

    def __str__(self) -> str:
        return "|".join(f"{k}:{v}" for k, v in self.fields)

    def short(self) -> str:
        return "|".join(f"{_abbrev(k)}:{v}" for k, v in self.fields)

    def merged(self, other: "Signature") -> "Signature":
        """Union of two signatures (first wins on equal keys); the version stays last."""
        seen = dict(self.fields)
        for k, v in other.fields:
            seen.setdefault(k, v)
        seen.pop("version", None)
        return Signature.from_items(seen.items())


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _abbrev(key: str) -> str:
    parts = key.split("_")
    return "".join(p[0] for p in parts) if len(parts) > 1 else key[:4]


@dataclass
class Score:
    """A corpus value with the parts it was computed from and the signature that produced it.

    ``value`` is on the metric's natural scale: BLEU in 0-100, everything else a fraction 0-1.
    ``parts`` holds the named components (BLEU precisions, BP, lengths; sums and counts).
    """

    name: str
    value: float
    parts: dict[str, Any] = field(default_factory=dict)
    signature: Signature | None = None

    def format(self, width: int = 2) -> str:
        text = f"{self.value:.{width}f}"
        return f"{self.name} = {text}" + (f"  [{self.signature}]" if self.signature else "")


class Metric(ABC):
    """Abstract metric: per-segment statistics in, corpus :class:`Score` out.

    Subclasses set :attr:`name` and :attr:`stat_names` and implement :meth:`segment_stats` and
    :meth:`score_from_stats`. Inputs are strings or arrays, never paths: metrics do no I/O.
    """

    name: str = "metric"
    #: Names of the columns of the statistics vector, in order (stored in run JSON).
    stat_names: tuple[str, ...] = ()

    @abstractmethod
    def segment_stats(self, hypothesis: Any, reference: Any) -> np.ndarray:
        """Sufficient statistics of one pair, a 1-D vector of length ``len(stat_names)``."""

    @abstractmethod
    def score_from_stats(self, totals: np.ndarray) -> Score:
        """Corpus score from the column sums of the statistics (no signature attached)."""

    @abstractmethod
    def signature(self) -> Signature:
        """Every setting of this metric that changes its number."""

    def corpus_stats(self, hypotheses: Sequence[Any], references: Sequence[Any]) -> np.ndarray:
        """Per-segment statistics as an ``(n, len(stat_names))`` array."""
        if len(hypotheses) != len(references):
            raise ValueError(f"{self.name}: {len(hypotheses)} hypotheses but {len(references)} references")
        rows = [self.segment_stats(h, r) for h, r in zip(hypotheses, references)]
        if not rows:
            return np.zeros((0, len(self.stat_names)), dtype=np.float64)
        return np.vstack(rows).astype(np.float64)

    def aggregate(self, stats: np.ndarray) -> Score:
        """Corpus score of a statistics array (any subset or resample of rows)."""
        stats = np.asarray(stats, dtype=np.float64).reshape(-1, len(self.stat_names))
        score = self.score_from_stats(stats.sum(axis=0))
        score.signature = self.signature()
        return score

    def corpus_score(self, hypotheses: Sequence[Any], references: Sequence[Any]) -> Score:
        return self.aggregate(self.corpus_stats(hypotheses, references))

    def sentence_score(self, hypothesis: Any, reference: Any) -> Score:
        return self.aggregate(self.segment_stats(hypothesis, reference)[None, :])
