"""``markupeval baseline train classical`` (build the glyph set) and ``... predict classical``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(train: Any, predict: Any) -> None:
    t = train.add_parser(
        "classical", help="build the glyph set of the classical OCR baseline (its only training)",
        description="Render every symbol of the gold vocabulary at display, text, script and "
                    "scriptscript sizes with markupeval's renderer and cache the templates.")
    t.add_argument("--cache", type=str, default=None, metavar="DIR",
                   help="where to keep the glyph set (default: <markupeval cache>/classical)")
    t.add_argument("--rebuild", action="store_true", help="rebuild even if a cached glyph set exists")
    t.set_defaults(func=_train)
    p = predict.add_parser(
        "classical", help="classical OCR (segmentation, nearest-neighbour symbols, layout rules; no neural network)",
        description="Predict normalized LaTeX for formula images rendered at 200 dpi (as markupeval renders them).")
    p.add_argument("images_dir", nargs="?", default=None, metavar="IMAGES_DIR", help="directory of formula images")
    p.add_argument("--images", type=str, default=None, metavar="DIR", help="same as IMAGES_DIR")
    p.add_argument("--out", type=str, required=True, metavar="PREDS.jsonl",
                   help='one {"image": ..., "prediction": ...} line per image')
    p.add_argument("--checkpoint", type=str, default=None, metavar="GLYPHS.npz",
                   help="a glyph set file (default: the cached one, built on first use)")
    p.add_argument("--cache", type=str, default=None, metavar="DIR", help="glyph set cache directory")
    p.add_argument("--workers", type=int, default=None, help="processes (default: the CPUs available)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="predict the first N images only")
    p.set_defaults(func=_predict)


def _train(args: argparse.Namespace) -> int:
    from markupeval.baselines.classical.glyphs import load_or_build

    glyphs, path = load_or_build(Path(args.cache) if args.cache else None, rebuild=args.rebuild)
    print(f"glyph set: {len(glyphs.label)} templates of {len(glyphs.labels)} symbols in {path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from markupeval.baselines.classical.predict import predict
    from markupeval.errors import InputError

    images = args.images or args.images_dir
    if images is None:
        raise InputError("give the image directory (IMAGES_DIR or --images DIR)")
    if args.images and args.images_dir:
        raise InputError("give the image directory once (IMAGES_DIR or --images DIR, not both)")
    summary = predict(Path(images), Path(args.out), Path(args.checkpoint) if args.checkpoint else None,
                      cache_dir=Path(args.cache) if args.cache else None, workers=args.workers,
                      limit=args.limit, progress=True)
    from rich.console import Console

    # Stdout carries results only; the summary goes to stderr.
    Console(stderr=True).print(
        f"classical: {summary.images} images in {summary.seconds:.1f} s ({summary.per_second:.1f}/s), "
        f"{summary.blank} blank, {summary.unreadable} unreadable, {summary.failed} failed -> {args.out}",
        highlight=False)
    return 0
