"""``markupeval report``: one HTML file to see where a run fails."""

from __future__ import annotations

import argparse

from rich.console import Console

from markupeval.errors import InputError
from markupeval.report import FolderImages, RendererImages, build_report
from markupeval.stats.runs import read_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="HTML report of a run: summary, sortable per-sample table with renders and diffs, failures",
        description=(
            "Write a self-contained HTML report of a run file (`markupeval score --json`). Gold and "
            "predictions are re-rendered through the renderer's cache (cheap after scoring), or read "
            "from folders of PNGs with --gold-images/--pred-images."
        ),
    )
    p.add_argument("run", metavar="RUN.json", help="run file written by `markupeval score --json`")
    p.add_argument("--out", required=True, metavar="report.html", help="the HTML file to write")
    p.add_argument("--gold-images", metavar="DIR", help="gold renders as DIR/<image> PNGs (with --pred-images)")
    p.add_argument("--pred-images", metavar="DIR", help="predicted renders as DIR/<image> PNGs (with --gold-images)")
    p.add_argument("--no-images", action="store_true", help="no pictures: text, numbers and plot only")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--embed", dest="embed", action="store_true", default=None,
                       help="embed pictures in the HTML (default up to 1000 samples)")
    where.add_argument("--image-folder", dest="embed", action="store_false",
                       help="write pictures to a sibling folder <report>_files/ (default above 1000 samples)")
    p.add_argument("--workers", type=int, default=None, help="rendering processes (default: the renderer's)")
    p.add_argument("--cache-dir", help="render cache location (default: the renderer's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    run_view = read_run(args.run)
    if bool(args.gold_images) != bool(args.pred_images):
        raise InputError("--gold-images and --pred-images go together")
    if args.no_images:
        images = None
    elif args.gold_images:
        images = FolderImages(args.gold_images, args.pred_images)
    else:
        settings: dict = {"progress": True}
        if args.workers is not None:
            settings["workers"] = args.workers
        if args.cache_dir:
            settings["cache"] = args.cache_dir
        images = RendererImages(**settings)
    info = build_report(run_view, args.out, images=images, embed=args.embed)
    where = f" (pictures in {info.image_dir})" if info.image_dir else ""
    Console(stderr=True).print(
        f"wrote {info.path}{where}: {info.samples} samples, {info.pictures} pictures, "
        f"{info.gold_failures} gold and {info.pred_failures} prediction render failures",
        highlight=False,
    )
    return 0
