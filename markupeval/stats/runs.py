"""Reading what the leaderboard, ``compare`` and ``report`` need from a run file.

The run file is the JSON ``markupeval score --json`` writes (schema in docs/ARCHITECTURE.md,
"Run file"). Run files travel between people, so they are validated here as untrusted input: every
problem is an :class:`~markupeval.errors.InputError` naming the file and the sample, never a
traceback and never a silently skipped sample.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from markupeval.errors import InputError
from markupeval.metrics.base import Metric
from markupeval.run import RUN_FORMAT

log = logging.getLogger("markupeval")

# The protocol's value of each render field a format-1 signature recorded (RenderSettings' defaults,
# spelled as Renderer.signature spells them), to recompute the mode format 1 got wrong.
_V1_RENDER_PROTOCOL = {
    "rewrites": "im2latex_compatible",
    "rasterizer": "ghostscript",
    "dpi": "200",
    "ink": "any-coverage",
    "tex_errors": "render",
    "timeout": "10s",
}

if TYPE_CHECKING:
    from markupeval.stats.bootstrap import Comparison, Interval


@dataclass
class RunView:
    """The parts of a run file that later commands read (values on the metrics' natural scales)."""

    path: Path
    name: str
    metrics: dict[str, float]
    signature: str
    counts: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    stat_names: dict[str, list[str]] = field(default_factory=dict)
    samples: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    #: What reading changed in an older run file (empty for a current one), for the reader to show.
    upgrade_notes: list[str] = field(default_factory=list)

    def has_samples(self) -> bool:
        return bool(self.samples)


def read_run(path: Path | str) -> RunView:
    """Load and validate a run file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read run file: {exc.strerror or exc}", path) from None
    except UnicodeDecodeError:
        raise InputError("run file is not UTF-8 text", path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON: {exc.msg} (column {exc.colno})", path, exc.lineno) from None
    return run_from_dict(data, path)


def run_from_dict(data: Any, path: Path | str) -> RunView:
    path = Path(path)
    if not isinstance(data, dict):
        raise InputError("a run file is a JSON object (the output of `markupeval score --json`)", path)
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        raise InputError("run file has no 'metrics' object", path)
    clean: dict[str, float] = {}
    for key, value in metrics.items():
        clean[str(key)] = _number(value, path, f"metrics.{key}")
    stat_names = data.get("stat_names") or {}
    if not isinstance(stat_names, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in stat_names.values()
    ):
        raise InputError("'stat_names' must map metric names to lists of column names", path)
    samples = data.get("samples") or []
    if not isinstance(samples, list):
        raise InputError("'samples' must be a list", path)
    for i, sample in enumerate(samples):
        _check_sample(sample, i, stat_names, path)
    name = data.get("name")
    signature = str(data.get("signature") or "")
    counts = data.get("counts") if isinstance(data.get("counts"), dict) else {}
    version = data.get("run_format", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InputError(f"'run_format' must be a positive integer, got {version!r}", path)
    if version > RUN_FORMAT:
        raise InputError(
            f"run file format {version} was written by a newer markupeval "
            f"({data.get('markupeval_version', 'unknown version')}); this one reads formats up to {RUN_FORMAT}: upgrade markupeval",
            path,
        )
    upgrade_notes: list[str] = []
    if version == 1:
        signature, counts, upgrade_notes = _upgrade_v1(signature, dict(counts))
        for note in upgrade_notes:
            log.warning("%s: %s", path, note)
    return RunView(
        path=path,
        name=str(name) if name else path.stem,
        metrics=clean,
        signature=signature,
        counts=counts,
        inputs=data.get("inputs") if isinstance(data.get("inputs"), dict) else {},
        scores=data.get("scores") if isinstance(data.get("scores"), dict) else {},
        stat_names={k: list(v) for k, v in stat_names.items()},
        samples=samples,
        raw=data,
        upgrade_notes=upgrade_notes,
    )


def _upgrade_v1(signature: str, counts: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    """A format-1 signature as format 2 writes it: the count moved to ``counts``, the mode recomputed."""
    notes = [f"run file format 1 (before format {RUN_FORMAT}): re-score it to get a current signature"]
    if not signature:
        return signature, counts, notes
    items = [part.split(":", 1) if ":" in part else [part, ""] for part in signature.split("|")]
    kept = []
    for key, value in items:
        if key == "gold_render_failed":
            counts.setdefault("gold_render_failed", int(value) if value.isdigit() else value)
            notes.append("its signature carried the count gold_render_failed, which is an outcome, "
                         "not a setting: moved to counts")
            continue
        kept.append([key, value])
    fields = dict((k, v) for k, v in kept)
    off = [k for k, v in _V1_RENDER_PROTOCOL.items() if k in fields and fields[k] != v]
    if fields.get("template", "im2markup@").split("@")[0] not in ("im2markup", ""):
        off.insert(0, "template")
    mode = fields.get("mode", "")
    listed = mode.split(":", 1)[1].split("+") if mode.startswith("custom:") else []
    missing = [k for k in off if k not in listed]
    if missing and (mode == "compatible" or mode.startswith("custom:")):
        for pair in kept:
            if pair[0] == "mode":
                pair[1] = "custom:" + "+".join(listed + missing)
        notes.append(f"its signature's mode left out {', '.join(missing)}, which differ from the protocol "
                     "(format 1 ignored render settings): mode recomputed")
    return "|".join(f"{k}:{v}" if v or k else k for k, v in kept), counts, notes


def _number(value: Any, path: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value!r}", path)
    return float(value)


def _check_sample(sample: Any, i: int, stat_names: Mapping[str, list[str]], path: Path) -> None:
    where = f"samples[{i}]"
    if not isinstance(sample, dict):
        raise InputError(f"{where} is not an object", path)
    if not isinstance(sample.get("image"), str):
        raise InputError(f"{where} has no 'image' name", path)
    stats = sample.get("stats", {})
    if not isinstance(stats, dict):
        raise InputError(f"{where} ({sample['image']}): 'stats' must be an object", path)
    for metric, values in stats.items():
        label = f"{where} ({sample['image']}) stats.{metric}"
        if metric not in stat_names:
            raise InputError(f"{label}: metric not listed in 'stat_names'", path)
        if not isinstance(values, list) or len(values) != len(stat_names[metric]):
            raise InputError(f"{label}: expected {len(stat_names[metric])} numbers {stat_names[metric]}", path)
        for value in values:
            _number(value, path, label)


def sample_stats(run: RunView, metrics: Mapping[str, Metric]) -> dict[str, np.ndarray]:
    """Per-sample statistics of each metric as ``(n, k)`` arrays, rows in the run's sample order."""
    if not run.samples:
        raise InputError("run file holds no per-sample statistics ('samples'); re-score it with `markupeval score --json`", run.path)
    out: dict[str, np.ndarray] = {}
    for name, metric in metrics.items():
        expected = list(metric.stat_names)
        stored = run.stat_names.get(name)
        if stored != expected:
            raise InputError(f"stat_names.{name} is {stored}, this version's {name} needs {expected}", run.path)
        rows = []
        for i, sample in enumerate(run.samples):
            values = sample.get("stats", {}).get(name)
            if values is None:
                raise InputError(f"samples[{i}] ({sample['image']}) has no {name} statistics", run.path)
            rows.append(values)
        out[name] = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(expected))
    return out


def align(run_a: RunView, run_b: RunView) -> list[int]:
    """Row order of ``run_b``'s samples matching ``run_a``'s, by image name.

    A paired test is meaningful only over the same samples: both runs must hold the same image names.
    """
    index_b: dict[str, int] = {}
    for i, sample in enumerate(run_b.samples):
        if sample["image"] in index_b:
            raise InputError(f"samples[{i}]: image {sample['image']} occurs twice", run_b.path)
        index_b[sample["image"]] = i
    names_a = [s["image"] for s in run_a.samples]
    if len(set(names_a)) != len(names_a):
        seen: set[str] = set()
        for i, name in enumerate(names_a):
            if name in seen:
                raise InputError(f"samples[{i}]: image {name} occurs twice", run_a.path)
            seen.add(name)
    only_a = [n for n in names_a if n not in index_b]
    only_b = set(index_b) - set(names_a)
    if only_a or only_b:
        example = (only_a[:1] or sorted(only_b)[:1])[0]
        raise InputError(
            f"runs cover different samples: {len(only_a)} images only in {run_a.path}, "
            f"{len(only_b)} only in {run_b.path} (e.g. {example}); compare runs scored on the same gold",
            run_b.path,
        )
    return [index_b[n] for n in names_a]


@dataclass
class RunComparison:
    """Paired bootstrap of run B against run A over every metric both runs can re-aggregate."""

    run_a: RunView
    run_b: RunView
    comparison: "Comparison"
    skipped: dict[str, str] = field(default_factory=dict)  # metric -> why it was not resampled
    warnings: list[str] = field(default_factory=list)


def resampleable_metrics(runs: list[RunView]) -> tuple[dict[str, Metric], dict[str, str]]:
    """Registered metrics present in every run; the others with the reason they are left out."""
    from markupeval.metrics import METRICS

    names = list(dict.fromkeys(n for run in runs for n in run.stat_names))
    chosen: dict[str, Metric] = {}
    skipped: dict[str, str] = {}
    for name in names:
        if name not in METRICS:
            skipped[name] = "no registered metric of this name to re-aggregate it"
        elif not all(name in run.stat_names for run in runs):
            skipped[name] = "not in every run"
        else:
            chosen[name] = METRICS[name]()
    return chosen, skipped


def _consistency(run: RunView, metrics: Mapping[str, Metric], stats: Mapping[str, np.ndarray]) -> list[str]:
    # A run whose stored corpus values do not follow from its per-sample statistics was edited or
    # written by another version; say so rather than report intervals around a different number.
    out = []
    for name, metric in metrics.items():
        if name in run.metrics:
            value = metric.score_from_stats(stats[name].sum(axis=0)).value
            if not math.isclose(value, run.metrics[name], rel_tol=1e-9, abs_tol=1e-9):
                out.append(f"{run.path}: stored {name} = {run.metrics[name]} but its samples give {value}")
    return out


def compare_runs(
    run_a: RunView, run_b: RunView, resamples: int = 1000, seed: int = 12345
) -> RunComparison:
    from markupeval.stats.bootstrap import compare_stats

    metrics, skipped = resampleable_metrics([run_a, run_b])
    if not metrics:
        raise InputError("no metric of these runs can be resampled (no per-sample statistics of a registered metric)", run_a.path)
    order = align(run_a, run_b)
    stats_a = sample_stats(run_a, metrics)
    stats_b = sample_stats(run_b, metrics)
    warnings = _consistency(run_a, metrics, stats_a) + _consistency(run_b, metrics, stats_b)
    stats_b = {name: array[order] for name, array in stats_b.items()}
    if run_a.signature != run_b.signature:
        warnings.append("the runs were scored with different settings (signatures differ); the difference mixes systems and settings")
    comparison = compare_stats(stats_a, stats_b, metrics, resamples=resamples, seed=seed)
    return RunComparison(run_a, run_b, comparison, skipped, warnings)


def run_intervals(run: RunView, resamples: int = 1000, seed: int = 12345) -> tuple[dict[str, "Interval"], dict[str, str]]:
    """95 % bootstrap intervals of every resampleable metric of one run."""
    from markupeval.stats.bootstrap import bootstrap_intervals

    metrics, skipped = resampleable_metrics([run])
    if not metrics:
        raise InputError("no metric of this run can be resampled", run.path)
    return bootstrap_intervals(sample_stats(run, metrics), metrics, resamples=resamples, seed=seed), skipped

