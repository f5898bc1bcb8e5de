"""``markupeval compare``: is run B really better than run A? Paired bootstrap over the samples."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from markupeval.stats.bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, Interval, bootstrap_signature
from markupeval.stats.runs import compare_runs, read_run, run_intervals

log = logging.getLogger("markupeval")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="95%% bootstrap intervals of a run, or a paired significance test of two runs",
        description=(
            "Paired bootstrap resampling over the per-sample statistics stored in run files: a 95%% "
            "interval for every metric, and for two runs the difference B - A with its interval and a "
            "p-value (sacrebleu's paired bootstrap test; see markupeval/stats/bootstrap.py)."
        ),
    )
    p.add_argument("run_a", metavar="RUN_A.json", help="baseline run (`markupeval score --json`)")
    p.add_argument("run_b", metavar="RUN_B.json", nargs="?", help="the run compared with the baseline")
    p.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help=f"bootstrap resamples (default {DEFAULT_RESAMPLES})")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--json", metavar="OUT", help="also write every number to OUT as JSON")
    p.set_defaults(func=run)


def _scale(name: str) -> float:
    # BLEU is already 0-100; the fractions are shown as percentages like the paper's tables.
    return 1.0 if name.startswith("bleu") else 100.0


def _ci(name: str, i: Interval) -> str:
    s = _scale(name)
    return f"{i.value * s:.2f} [{i.low * s:.2f}, {i.high * s:.2f}]"


def run(args: argparse.Namespace) -> int:
    if args.resamples < 1:
        from markupeval.errors import InputError

        raise InputError(f"--resamples must be at least 1, got {args.resamples}")
    console = Console()
    run_a = read_run(args.run_a)
    sig = bootstrap_signature(args.resamples, args.seed)
    if args.run_b is None:
        intervals, skipped = run_intervals(run_a, args.resamples, args.seed)
        table = Table(title=f"{escape(run_a.name)}: 95% bootstrap intervals (BLEU 0-100, others in %)")
        table.add_column("metric")
        table.add_column("value [95% CI]", justify="right")
        for name, interval in intervals.items():
            table.add_row(name, _ci(name, interval))
        console.print(table)
        _footer(console, skipped, [], sig, run_a.signature)
        if args.json:
            _write(args.json, {"run": str(run_a.path), "signature": str(sig),
                               "intervals": {k: asdict(v) for k, v in intervals.items()}, "skipped": skipped})
        return 0

    run_b = read_run(args.run_b)
    result = compare_runs(run_a, run_b, args.resamples, args.seed)
    c = result.comparison
    table = Table(title=f"B = {escape(run_b.name)} vs A = {escape(run_a.name)}: paired bootstrap, {c.n_samples} samples "
                        "(BLEU 0-100, others in %)")
    for header in ("metric", "A [95% CI]", "B [95% CI]", "B - A [95% CI]", "p"):
        table.add_column(header, justify="left" if header == "metric" else "right")
    for name, diff in c.differences.items():
        s = _scale(name)
        style = "bold" if diff.p_value < 0.05 else None
        table.add_row(
            name,
            _ci(name, c.intervals_a[name]),
            _ci(name, c.intervals_b[name]),
            f"{diff.delta * s:+.2f} [{diff.low * s:+.2f}, {diff.high * s:+.2f}]",
            f"{diff.p_value:.4f}",
            style=style,
        )
    console.print(table)
    _footer(console, result.skipped, result.warnings, sig, run_a.signature, run_b.signature)
    if args.json:
        _write(args.json, {
            "run_a": str(run_a.path), "run_b": str(run_b.path), "signature": str(sig), "n_samples": c.n_samples,
            "intervals_a": {k: asdict(v) for k, v in c.intervals_a.items()},
            "intervals_b": {k: asdict(v) for k, v in c.intervals_b.items()},
            "differences": {k: asdict(v) for k, v in c.differences.items()},
            "skipped": result.skipped, "warnings": result.warnings,
        })
    return 0


def _footer(console: Console, skipped: dict[str, str], warnings: list[str], sig, *run_sigs: str) -> None:
    for name, why in skipped.items():
        console.print(f"not resampled: {escape(name)} ({escape(why)})", highlight=False)
    for warning in warnings:
        log.warning(warning)
    console.print(f"bootstrap: {escape(str(sig))}", highlight=False)
    for label, text in zip("AB", run_sigs):
        console.print(f"run {label}: {escape(text or 'no signature recorded')}", highlight=False)


def _write(path: str, data: dict) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
