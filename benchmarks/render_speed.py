"""Rendering speed: markupeval's renderer against the original per-formula pipeline, same run.

The original (harvardnlp/im2markup ``scripts/evaluation/render_latex.py``) starts one pdflatex per
formula, then ``convert -density 200 -quality 100`` (ImageMagick, which runs Ghostscript's
``pngalpha`` device at 200 dpi with 4-bit text/graphics alpha on the full A4 page), then loads the
PNG, crops it and saves it again; a thread pool runs formulas in parallel. ImageMagick is not
installed here, so the reference calls the same Ghostscript device directly (ImageMagick only
adds its own start-up and PNG re-encoding, so the reference is, if anything, faster than the
original). Both sides use the same number of parallel workers.

The new renderer runs without cache (every formula is typeset and rasterised). Usage::

    nice -n 10 python benchmarks/render_speed.py [--n 2000] [--reference-sample 40] [--workers N]

The machine's load average is printed too: on a shared machine both figures drop, the ratio less.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from markupeval.rendering import Renderer
from markupeval.rendering.rewrites import im2latex_compatible
from markupeval.rendering.templates import load_template

SHARED = Path(__file__).resolve().parents[2] / "shared"
GOLD = SHARED / "data" / "im2latex100k" / "tgt-test-old.txt"


def original_one(formula: str, workdir: Path) -> bool:
    """One formula the original way: pdflatex, full-page 200-dpi raster to PNG, load, crop, save."""
    tex = workdir / "f.tex"
    tex.write_text(load_template("im2markup").single(im2latex_compatible(formula)), encoding="utf-8")
    try:
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "f.tex"], cwd=workdir,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    pdf = workdir / "f.pdf"
    if not pdf.exists():
        return False
    subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pngalpha", "-r200",
                    "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4", f"-sOutputFile={workdir / 'f.png'}", str(pdf)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data = np.asarray(Image.open(workdir / "f.png").convert("L"))
    ys, xs = np.nonzero(data != 255)
    if len(ys):
        data = data[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    Image.fromarray(data).save(workdir / "out.png")
    for name in ("f.pdf", "f.png", "f.aux", "f.log"):
        (workdir / name).unlink(missing_ok=True)
    return True


def time_original(formulas: list[str], workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="markupeval-orig-") as tmp:
        dirs = [Path(tmp) / f"w{i}" for i in range(len(formulas))]
        for d in dirs:
            d.mkdir()
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(original_one, formulas, dirs))
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="test formulas for the new renderer")
    parser.add_argument("--reference-sample", type=int, default=40, help="formulas for the original pipeline")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--rasterizer", default=None, help="new renderer's rasteriser (default: its default)")
    args = parser.parse_args()
    if not GOLD.exists():
        print(f"skipped: {GOLD} not found (the project's ../shared data)", file=sys.stderr)
        return 0
    for exe in ("pdflatex", "gs"):
        if shutil.which(exe) is None:
            print(f"skipped: {exe} not installed (run render/setup.sh)", file=sys.stderr)
            return 0
    gold = GOLD.read_text(encoding="utf-8").split("\n")[: args.n]
    step = max(1, len(gold) // args.reference_sample)
    sample = gold[::step][: args.reference_sample]

    settings = {"cache": False, "workers": args.workers}
    if args.rasterizer:
        settings["rasterizer"] = args.rasterizer
    renderer = Renderer(**settings)
    renderer.signature()  # TeX version probe outside the timing
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    results = renderer.render(gold)
    new_seconds = time.perf_counter() - start
    orig_seconds = time_original(sample, args.workers)
    load_after = os.getloadavg()[0]

    new_rate = len(gold) / new_seconds
    orig_rate = len(sample) / orig_seconds
    statuses: dict[str, int] = {}
    for r in results:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    print(f"new renderer : {len(gold)} formulas in {new_seconds:.2f} s = {new_rate:.1f} formulas/s "
          f"({', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))})")
    print(f"original     : {len(sample)} formulas in {orig_seconds:.2f} s = {orig_rate:.2f} formulas/s "
          f"(pdflatex + full-page 200-dpi pngalpha per formula, {args.workers} threads)")
    print(f"ratio        : {new_rate / orig_rate:.1f}x   workers {args.workers}, "
          f"load average {load_before:.1f} -> {load_after:.1f}")
    print(f"signature    : {renderer.signature()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
