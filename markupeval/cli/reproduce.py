"""``markupeval reproduce table2|table3|table4``: train, predict and score the paper's rows here."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="train, predict and score the paper's Table 2/3/4 rows; board with published and ours side by side",
        description=(
            "Build or reuse the data, train each row's model (or reuse its finished checkpoint), predict the "
            "test set, score every metric and write OUT/tableN.{md,csv,html,tex,txt}: each paper row with "
            "the published numbers and ours in adjacent columns, the signature and each row's provenance. "
            "A second call with the same settings reuses everything. Needs the baselines extra."
        ),
    )
    p.add_argument("table", choices=("table2", "table3", "table4"))
    p.add_argument("--budget", choices=("smoke", "cpu", "gpu"), default="smoke",
                   help="smoke: tiny models on a small subset (minutes); cpu: small models on the reference "
                        "recipe (hours); gpu: the paper's sizes (default: smoke)")
    p.add_argument("--data", metavar="DIR", help="a built dataset to use instead of building one")
    p.add_argument("--holdings", metavar="DIR", help="offline holdings to build from (default: ../shared/data/im2latex100k)")
    p.add_argument("--out", metavar="DIR", help="working and output directory (default: runs/reproduce-BUDGET)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from markupeval.reproduce import reproduce, write_boards

    console = Console(stderr=True)
    rep = reproduce(args.table, args.budget, out=Path(args.out) if args.out else None,
                    data=Path(args.data) if args.data else None,
                    holdings=Path(args.holdings) if args.holdings else None,
                    on_row=lambda msg: console.print(f"[bold]{msg}[/]", highlight=False))
    paths = write_boards(rep)
    print(paths["rich"].read_text(encoding="utf-8"), end="")
    trained = ", ".join(rep.trained) or "none (all reused)"
    console.print(f"trained: {trained}; scored anew: {'yes' if rep.rendered else 'no'}; boards: "
                  + ", ".join(str(p) for p in paths.values()), highlight=False)
    return 0
