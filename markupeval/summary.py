"""Terminal summary of a run: the metrics table, counts and the signature (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from markupeval.metrics.bleu import format_multi_bleu
from markupeval.run import METRIC_KEYS, RunResult

LABELS = {
    "bleu": "BLEU",
    "bleu_tok": "BLEU (tok)",
    "edit_distance": "Edit distance (text)",
    "exact_match": "Exact match (text)",
    "image_edit_distance": "Image edit distance",
    "image_match": "Image Match",
    "image_match_ws": "Image Match (-ws)",
    "cdm_f1": "CDM (mean F1)",
    "cdm_exprate": "ExpRate@CDM",
}


def metric_detail(run: RunResult, key: str) -> str:
    score = run.scores[key]
    p = score.parts
    if key in ("bleu", "bleu_tok"):
        return format_multi_bleu(score).split(", ", 1)[1]
    if "distance" in p:
        return f"distance {p['distance']:,} / {p.get('max_len', p.get('ref', 0)):,}"
    if "matched" in p:
        return f"{p['matched']:,} of {p['counted']:,}"
    if "hits" in p:
        return f"{p['hits']:,} of {p['counted']:,} pairs"
    if "f1_sum" in p:
        return f"over {p['counted']:,} pairs (gold without boxes excluded)"
    return ""


def print_run(run: RunResult, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"markupeval · {run.name}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("detail", style="dim")
    for key in METRIC_KEYS:
        if key not in run.scores:
            continue
        value = run.scores[key].value
        text = f"{value:.2f}" if key in ("bleu", "bleu_tok") else f"{value:.6f}"
        table.add_row(LABELS[key], text, metric_detail(run, key))
    console.print(table)
    counts = " · ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in run.counts.items())
    console.print(f"[bold]counts[/]  {counts}", highlight=False)
    _print_render_failures(run, console)
    for note in run.notes:
        console.print("[yellow]note[/] ", escape(note), highlight=False)
    console.print("[bold]signature[/] ", escape(str(run.signature)), highlight=False, soft_wrap=True)


def _print_render_failures(run: RunResult, console: Console, limit: int = 10) -> None:
    """List failed renders: gold ones are excluded from the image metrics, predicted ones are misses."""
    for side, label in (("gold_render", "gold render failed (excluded)"), ("pred_render", "prediction render failed (miss)")):
        failed = [
            (s.image, getattr(s, side))
            for s in run.samples
            if getattr(s, side) is not None and getattr(s, side).status not in ("ok", "missing", "excluded")
        ]
        if not failed:
            continue
        console.print(f"[yellow]{label}[/]: {len(failed)}", highlight=False)
        for image, outcome in failed[:limit]:
            message = outcome.message.splitlines()[0] if outcome.message else ""
            console.print("   ", escape(f"{image}  {outcome.status}  {message}"), highlight=False)
        if len(failed) > limit:
            console.print(f"    … and {len(failed) - limit} more (see --per-sample / --json)", highlight=False)
