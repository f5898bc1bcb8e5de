"""``markupeval leaderboard``: the paper's published rows and scored runs in one ranked table."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from markupeval.leaderboard import COLUMN_KEYS, DEFAULT_PUBLISHED, FORMATS, build_board, read_published, render, to_rich
from markupeval.stats.runs import read_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="published results and your runs in one table (rich, markdown, latex, csv, html)",
        description=(
            "Put scored runs (`markupeval score --json`) beside the published rows of Deng et al. "
            "(ICML 2017, Tables 2 and 4), ranked, with each run's signature under the table."
        ),
    )
    p.add_argument("runs", nargs="*", metavar="RUN.json", help="run files written by `markupeval score --json`")
    p.add_argument("--format", default="rich", choices=FORMATS, help="output format (default: rich)")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--rank-by", default="image_match", choices=COLUMN_KEYS, help="column to rank by (default: image_match)")
    p.add_argument("--published", metavar="CSV", default=str(DEFAULT_PUBLISHED), help="published rows (default: leaderboard/published.csv)")
    p.add_argument("--no-published", action="store_true", help="measured rows only")
    p.add_argument("--dataset", default="IM2LATEX-100K", help="dataset the runs were scored on (default: IM2LATEX-100K)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    runs = [read_run(path) for path in args.runs]
    published = [] if args.no_published else read_published(args.published)
    board = build_board(runs, published=published, rank_by=args.rank_by, dataset=args.dataset)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(board, args.format), encoding="utf-8")
    elif args.format == "rich":
        Console(width=max(Console().width, 160)).print(to_rich(board))
    else:
        print(render(board, args.format), end="")
    return 0
