"""``markupeval render``: render a formula file to PNG images plus a status table."""

from __future__ import annotations

import argparse
import csv
import logging
import os
from pathlib import Path

from markupeval.errors import InputError
from markupeval.textfiles import image_key, read_formulas, read_names
from markupeval.rendering.rasterize import RASTERIZERS
from markupeval.rendering.renderer import DEFAULT_RASTERIZER, Renderer
from markupeval.rendering.rewrites import PRESETS
from markupeval.rendering.templates import DEFAULT_TEMPLATE, TEMPLATE_NAMES
from markupeval.cli import add_executor_argument, positive_seconds

log = logging.getLogger("markupeval")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render formulas to PNG images (batched, sandboxed, cached pdflatex)",
        description=(
            "Render every line of FORMULAS (split on \\n only) to OUTDIR/<name>.png and write "
            "OUTDIR/status.csv (name, status, message). Names come from --names, one per line, "
            "else the 0-based line number. Formulas that fail to render get no PNG."
        ),
    )
    p.add_argument("formulas", help="formula file, one formula per line")
    p.add_argument("outdir", help="output folder (created if missing)")
    p.add_argument("--names", help="image names, one per formula line ('.png' optional)")
    p.add_argument("--template", default=DEFAULT_TEMPLATE, choices=TEMPLATE_NAMES,
                   help="im2markup: the evaluation template (amsmath); dataset: without amsmath")
    p.add_argument("--rewrites", choices=tuple(PRESETS), default=None,
                   help="pre-render rewrite preset (default: the template's)")
    p.add_argument("--rasterizer", default=DEFAULT_RASTERIZER, choices=RASTERIZERS, help="rasteriser")
    p.add_argument("--gray", action="store_true",
                   help="keep anti-aliased grayscale instead of the original's any-ink-is-black images")
    p.add_argument("--strict", action="store_true",
                   help="a formula with TeX errors fails even when TeX produced a page")
    p.add_argument("--timeout", type=positive_seconds, default=10.0, help="seconds without progress per formula")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    add_executor_argument(p)
    p.add_argument("--cache-dir", help="render cache location (default: $XDG_CACHE_HOME/markupeval)")
    p.add_argument("--no-cache", action="store_true", help="render everything afresh, store nothing")
    p.set_defaults(func=run)


def _names(path: str | None, count: int, formulas_path: str) -> list[str]:
    if path is None:
        return [str(i) for i in range(count)]
    names = [image_key(n) for n in read_names(path)]
    if len(names) != count:
        raise InputError(f"{len(names)} names but {count} formulas in {formulas_path}", path)
    return names


def run(args: argparse.Namespace) -> int:
    formulas = read_formulas(args.formulas)
    names = _names(args.names, len(formulas), args.formulas)
    outdir = Path(args.outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output folder: {exc.strerror}", outdir) from None
    cache: bool | str = False if args.no_cache else (args.cache_dir or True)
    renderer = Renderer(
        args.template, rewrites=args.rewrites, rasterizer=args.rasterizer, bilevel=not args.gray,
        strict=args.strict, timeout=args.timeout, workers=args.workers, cache=cache, progress=True,
        executor=args.executor,
    )
    with renderer:
        results = renderer.render(formulas)

    from PIL import Image

    counts: dict[str, int] = {}
    status_tmp = outdir / "status.csv.tmp"
    with open(status_tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "status", "message"])
        for name, result in zip(names, results):
            counts[result.status] = counts.get(result.status, 0) + 1
            writer.writerow([name, result.status, result.message])
            png = outdir / f"{name}.png"
            if result.image is not None:
                tmp = png.with_name(png.name + ".tmp")
                Image.fromarray(result.image).save(tmp, format="PNG")
                os.replace(tmp, png)  # Ctrl-C never leaves a truncated image
            elif png.exists():
                png.unlink()  # a stale image from an earlier run must not pass for this one
    os.replace(status_tmp, outdir / "status.csv")  # complete or absent
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"rendered {len(formulas)} formulas to {outdir}: {summary}")
    print(f"signature: {renderer.signature()}")
    return 0
