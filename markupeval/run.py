"""The result of scoring one predictions file, and its JSON form (the "run file").

A run keeps the per-sample sufficient statistics of every metric, so any later command
(leaderboard, bootstrap comparison, report) can re-aggregate them without the inputs.
The layout is documented in ``docs/ARCHITECTURE.md``; :mod:`markupeval.stats.runs` reads it back,
validating it as untrusted input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from markupeval import __version__
from markupeval.metrics.base import Score, Signature

#: Version of the run file's layout, written as "run_format". 2: the signature holds settings only
#: (format 1 also carried the count ``gold_render_failed``, now only in ``counts``) and its ``mode``
#: accounts for every render setting (format 1 said ``compatible`` for any rasteriser or timeout).
#: Files without the key are format 1; :func:`markupeval.stats.runs.read_run` upgrades them, saying so.
RUN_FORMAT = 2

# Keys of the top-level "metrics" object, in display order.
METRIC_KEYS = ("bleu", "bleu_tok", "edit_distance", "exact_match", "image_edit_distance", "image_match",
               "image_match_ws", "cdm_f1", "cdm_exprate")


@dataclass
class RenderOutcome:
    """How one formula rendered: ``ok``, ``error``, ``timeout``, ``too_large``, ``missing`` (no
    prediction) or ``excluded`` (not rendered: empty gold under ``--empty-gold exclude``)."""

    status: str
    message: str = ""


@dataclass
class SampleResult:
    image: str
    gold: str
    prediction: str | None  # None: no prediction for this gold item
    stats: dict[str, list[float]] = field(default_factory=dict)
    gold_render: RenderOutcome | None = None
    pred_render: RenderOutcome | None = None
    cdm: dict[str, Any] | None = None  # CDM's status, tokens and matched flags (score --cdm)


@dataclass
class RunResult:
    """Everything ``markupeval score`` computed for one predictions file."""

    name: str
    inputs: dict[str, Any]
    scores: dict[str, Score]
    counts: dict[str, int]
    signature: Signature
    samples: list[SampleResult]
    stat_names: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)  # policies applied, for the reader

    @property
    def metrics(self) -> dict[str, float]:
        return {k: self.scores[k].value for k in METRIC_KEYS if k in self.scores}

    def stats(self, metric: str) -> np.ndarray:
        """Per-sample statistics of ``metric`` as an ``(n_samples, n_stats)`` array."""
        width = len(self.stat_names[metric])
        rows = [s.stats.get(metric, [0.0] * width) for s in self.samples]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_format": RUN_FORMAT,
            "markupeval_version": __version__,
            "name": self.name,
            "inputs": self.inputs,
            "metrics": self.metrics,
            "scores": {
                k: {"value": s.value, "parts": _jsonable(s.parts), "signature": str(s.signature or "")}
                for k, s in self.scores.items()
            },
            "counts": self.counts,
            "signature": str(self.signature),
            "notes": self.notes,
            "stat_names": self.stat_names,
            "samples": [_sample_json(s) for s in self.samples],
        }

    def save(self, path: Path | str) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_json(), ensure_ascii=False) + "\n", encoding="utf-8")
        tmp.replace(path)


def _sample_json(s: SampleResult) -> dict[str, Any]:
    out: dict[str, Any] = {"image": s.image, "gold": s.gold, "prediction": s.prediction, "stats": s.stats}
    if s.gold_render is not None:
        out["gold_render"] = {"status": s.gold_render.status, "message": s.gold_render.message}
    if s.pred_render is not None:
        out["pred_render"] = {"status": s.pred_render.status, "message": s.pred_render.message}
    if s.cdm is not None:
        out["cdm"] = s.cdm
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_per_sample_csv(run: RunResult, path: Path | str) -> None:
    """One row per gold item: texts, render outcomes and each metric's per-sample statistics."""
    import csv

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stat_columns = [(m, s) for m, names in run.stat_names.items() for s in names]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        header = ["image", "gold", "prediction", "missing", "gold_render", "pred_render", "render_message"]
        writer.writerow(header + [f"{m}.{s}" for m, s in stat_columns])
        for sample in run.samples:
            gr, pr = sample.gold_render, sample.pred_render
            message = (gr.message if gr and gr.status != "ok" else "") or (pr.message if pr else "")
            row = [
                sample.image,
                sample.gold,
                sample.prediction if sample.prediction is not None else "",
                int(sample.prediction is None),
                gr.status if gr else "",
                pr.status if pr else "",
                message,
            ]
            for m, s in stat_columns:
                values = sample.stats.get(m)
                v = values[run.stat_names[m].index(s)] if values else ""
                row.append(int(v) if isinstance(v, float) and v.is_integer() else v)
            writer.writerow(row)
