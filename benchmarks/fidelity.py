"""Fidelity: how many of the original IM2LATEX-100K images our renders reproduce.

Renders the 1,200 raw formulas of ``../shared/data/im2markup-sample`` (harvardnlp/im2markup
``data/sample``) with the ``dataset`` template (the dataset was rendered without amsmath) and
compares each render with the original full-page image under image Match
(:class:`markupeval.metrics.image_match.ImageMatch`, issue 3's metric). The originals are palette
PNGs whose index 0 is white and every other index black (the any-ink-is-black quirk); they are
cropped as the protocol says. Exact pixel equality is printed beside it, and the misses are
grouped by how the two images' sizes differ.

    nice -n 10 python benchmarks/fidelity.py [--rasterizer ghostscript] [--rewrites dataset_compatible]
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from markupeval.metrics.image_match import ImageMatch
from markupeval.rendering import Renderer
from markupeval.rendering.rasterize import RASTERIZERS, crop_to_ink

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "im2markup-sample"


def load_sample(limit: int | None) -> tuple[list[str], list[str]]:
    """(formulas, image names) of the sample, in formula-index order."""
    formulas = (SAMPLE / "formulas.lst").read_text(encoding="utf-8").split("\n")
    names: dict[int, str] = {}
    for split in ("train", "validate", "test"):
        for line in (SAMPLE / f"{split}.lst").read_text(encoding="utf-8").split("\n"):
            if line.strip():
                idx, name, _ = line.split()
                names[int(idx)] = name
    order = sorted(names)[:limit]
    return [formulas[i] for i in order], [names[i] for i in order]


def original_image(name: str) -> np.ndarray:
    with Image.open(SAMPLE / "images" / f"{name}.png") as im:
        index = np.asarray(im)  # palette indices: 0 is white, every other entry black
    return np.ascontiguousarray(crop_to_ink(np.where(index == 0, 255, 0).astype(np.uint8)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default="dataset")
    parser.add_argument("--rewrites", default=None, help="rewrite preset (default: the template's)")
    parser.add_argument("--rasterizer", default=None, choices=RASTERIZERS)
    parser.add_argument("--limit", type=int, default=None, help="only the first N formulas")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    if not (SAMPLE / "formulas.lst").exists():
        print(f"skipped: {SAMPLE} not found (the project's ../shared data)", file=sys.stderr)
        return 0
    formulas, names = load_sample(args.limit)
    settings: dict = {"cache": False, "workers": args.workers, "rewrites": args.rewrites}
    if args.rasterizer:
        settings["rasterizer"] = args.rasterizer
    renderer = Renderer(args.template, **settings)
    start = time.perf_counter()
    results = renderer.render(formulas)
    seconds = time.perf_counter() - start

    metric = ImageMatch()
    matched = exact = 0
    misses: collections.Counter[str] = collections.Counter()
    for formula, name, result in zip(formulas, names, results):
        original = original_image(name)
        if result.image is None:
            misses[f"no render ({result.status})"] += 1
            continue
        ok = bool(metric.segment_stats(result.image, original)[0])
        matched += ok
        exact += result.image.shape == original.shape and bool((result.image == original).all())
        if not ok:
            dh = result.image.shape[0] - original.shape[0]
            dw = result.image.shape[1] - original.shape[1]
            blank = result.image.shape == (2339, 1654) and bool((result.image == 255).all())
            kind = "ours blank" if blank else ("same size" if dh == dw == 0 else
                                               f"{'+1 px' if max(dh, dw) == 1 and min(dh, dw) >= 0 else 'other size'}")
            misses[kind] += 1
            if args.show_misses:
                print(f"  miss {name}: {result.image.shape} vs {original.shape}  {formula[:70]}")
    n = len(formulas)
    print(f"image Match: {matched}/{n} = {100 * matched / n:.2f} %   exact pixels: {exact}/{n} = {100 * exact / n:.2f} %")
    print(f"misses: {', '.join(f'{k} {v}' for k, v in misses.most_common()) or 'none'}")
    print(f"rendered in {seconds:.1f} s with {args.workers} workers")
    print(f"signature: {renderer.signature()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
