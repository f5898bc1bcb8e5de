"""``markupeval compare-images``: the image metrics over two folders of renders, paired by file name.

For people who already have renders (e.g. from im2markup's ``render_latex.py``): every gold image
is compared with the prediction of the same name; a gold image without one is a missing prediction
(as in the original ``evaluate_image.py``, which walked the gold folder); predictions without a gold
image are ignored and counted.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from markupeval import __version__
from markupeval.errors import InputError
from markupeval.images import compare_image_files, diff_picture, load_grayscale, save_diff_picture
from markupeval.images.compare import ImagePairResult
from markupeval.metrics import get_metric

IMAGE_METRICS = ("image_match", "image_match_ws", "image_edit_distance")
CSV_COLUMNS = ("image", "edit_distance", "ref", "match", "match_ws", "pred_rendered")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare-images",
        help="image metrics over existing gold/prediction renders, paired by file name",
        description=(
            "Compute image edit distance, Match and Match (-ws) exactly as im2markup's "
            "evaluate_image.py over GOLD_DIR and PRED_DIR. A gold image without a prediction of "
            "the same name is a missing prediction; predictions without gold are ignored (counted)."
        ),
    )
    p.add_argument("gold_dir", metavar="GOLD_DIR", help="folder of gold renders")
    p.add_argument("pred_dir", metavar="PRED_DIR", help="folder of predicted renders (same file names)")
    p.add_argument("--pattern", default="*.png", help="which files of GOLD_DIR are images (default: *.png)")
    p.add_argument("--json", metavar="OUT", help="write metrics, counts and per-pair rows as JSON")
    p.add_argument("--per-sample", metavar="OUT.csv", help="write one CSV row per gold image")
    p.add_argument("--diff-dir", metavar="DIR", help="write a diff picture per pair (<image>.png) into DIR")
    p.add_argument("--diff-mismatches-only", action="store_true",
                   help="with --diff-dir, only pairs that fail Match or Match (-ws)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    gold_dir, pred_dir = Path(args.gold_dir), Path(args.pred_dir)
    for d in (gold_dir, pred_dir):
        if not d.is_dir():
            raise InputError("not a directory", d)
    gold_files = sorted(f for f in gold_dir.glob(args.pattern) if f.is_file())
    if not gold_files:
        raise InputError(f"no gold images matching {args.pattern!r}", gold_dir)
    gold_names = {f.name for f in gold_files}
    pred_files = [pred_dir / f.name if (pred_dir / f.name).is_file() else None for f in gold_files]
    extra = sorted(f.name for f in pred_dir.glob(args.pattern) if f.is_file() and f.name not in gold_names)

    keep_opcodes = bool(args.diff_dir)
    err = Console(stderr=True)
    with Progress(
        TextColumn("comparing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as progress:
        task = progress.add_task("pairs", total=len(gold_files))
        results = compare_image_files(
            gold_files, pred_files, args.workers, keep_opcodes=keep_opcodes,
            progress=lambda n: progress.advance(task, n),
        )

    metrics = {name: get_metric(name) for name in IMAGE_METRICS}
    scores = {name: m.aggregate(m.stats_from_results(results)) for name, m in metrics.items()}
    counts = {
        "gold": len(gold_files),
        "predictions": sum(p is not None for p in pred_files),
        "missing": sum(p is None for p in pred_files),
        "extra_ignored": len(extra),
    }
    _print_summary(scores, counts, Console())

    rows = [_row(f.name, r) for f, r in zip(gold_files, results)]
    if args.json:
        _write_json(Path(args.json), gold_dir, pred_dir, scores, counts, extra, rows)
    if args.per_sample:
        _write_csv(Path(args.per_sample), rows)
    if args.diff_dir:
        _write_diffs(Path(args.diff_dir), gold_files, pred_files, results, args.diff_mismatches_only)
    return 0


def _row(name: str, r: ImagePairResult) -> dict:
    return {
        "image": name,
        "edit_distance": r.edit_distance,
        "ref": r.ref,
        "match": r.match,
        "match_ws": r.match_ws,
        "pred_rendered": r.pred_rendered,
    }


def _print_summary(scores: dict, counts: dict, console: Console) -> None:
    table = Table(title="image metrics", show_edge=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("of", justify="right")
    for name, score in scores.items():
        parts = score.parts
        of = f"{parts['matched']} / {parts['counted']}" if "matched" in parts else f"{parts['distance']} / {parts['ref']}"
        table.add_row(name, f"{score.value:.6f}", of)
    console.print(table)
    console.print(
        f"gold {counts['gold']}, predictions {counts['predictions']}, missing {counts['missing']}, "
        f"predictions without gold (ignored) {counts['extra_ignored']}",
        highlight=False,
    )
    for name, score in scores.items():
        console.print(f"{name}: {score.signature}", highlight=False, markup=False, soft_wrap=True)


def _write_json(path: Path, gold_dir: Path, pred_dir: Path, scores: dict, counts: dict, extra: list, rows: list) -> None:
    doc = {
        "markupeval_version": __version__,
        "inputs": {"gold_dir": str(gold_dir), "pred_dir": str(pred_dir)},
        "metrics": {name: s.value for name, s in scores.items()},
        "scores": {name: {"value": s.value, "parts": s.parts, "signature": str(s.signature)} for name, s in scores.items()},
        "counts": counts,
        "extra_ignored": extra,
        "pairs": rows,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def _write_csv(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _write_diffs(out: Path, gold_files: list, pred_files: list, results: list, mismatches_only: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for g, p, r in zip(gold_files, pred_files, results):
        if mismatches_only and r.match and r.match_ws:
            continue
        gold = load_grayscale(g)
        pred = load_grayscale(p) if p is not None else None
        save_diff_picture(out / (g.stem + ".png"), diff_picture(gold, pred, r.opcodes))
