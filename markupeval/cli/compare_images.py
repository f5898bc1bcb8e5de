"""``markupeval compare-images``: the image metrics over two folders of renders, paired by file name.

A thin layer over :func:`markupeval.image_folders.compare_image_folders`; ``--json`` writes a run
file, which ``leaderboard``, ``compare`` and ``report`` read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from markupeval.image_folders import compare_image_folders, write_diff_pictures
from markupeval.run import write_per_sample_csv
from markupeval.summary import print_run


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
    p.add_argument("--name", help="run name shown in tables (default: PRED_DIR's name)")
    p.add_argument("--json", metavar="OUT", help="write the run file (metrics, counts, signature, per-pair statistics)")
    p.add_argument("--per-sample", metavar="OUT.csv", help="write one CSV row per gold image")
    p.add_argument("--diff-dir", metavar="DIR", help="write a diff picture per pair (<image>.png) into DIR")
    p.add_argument("--diff-mismatches-only", action="store_true",
                   help="with --diff-dir, only pairs that fail Match or Match (-ws)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    err = Console(stderr=True)
    with Progress(
        TextColumn("comparing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True,
    ) as progress:
        task = progress.add_task("pairs", total=None)
        comparison = compare_image_folders(
            args.gold_dir, args.pred_dir, pattern=args.pattern, workers=args.workers,
            keep_opcodes=bool(args.diff_dir), progress=lambda n: progress.advance(task, n), name=args.name,
        )
    print_run(comparison.run)
    if args.json:
        comparison.run.save(args.json)
    if args.per_sample:
        write_per_sample_csv(comparison.run, args.per_sample)
    if args.diff_dir:
        write_diff_pictures(comparison, Path(args.diff_dir), args.diff_mismatches_only)
    return 0
