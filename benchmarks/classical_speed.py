"""Speed of the classical OCR baseline on real test formulas, as a ratio to the issue's target.

Renders the first N test gold formulas with the evaluation template (im2markup; the render cache
makes reruns cheap), writes them as PNG files with a matching gold/names subset, then times
``markupeval.baselines.classical.predict.predict`` over the directory. There is no open reference system
to time against (INFTY is commercial), so the ratio is against issue 10's requirement of
20 formulas/s on 2 cores. Rendering and the one-off glyph-set build are not timed.

    python benchmarks/classical_speed.py --n 1000 --workers 2 --keep /tmp/classical-test
    markupeval score /tmp/classical-test/preds.jsonl --gold /tmp/classical-test/gold.txt \\
        --names /tmp/classical-test/names.txt

Timings on a shared machine are noisy: the wall-clock rate counts time other processes took;
the CPU-time rate (CPU seconds the workers spent, divided over the workers) is steadier.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from markupeval.baselines.classical.glyphs import load_or_build  # noqa: E402
from markupeval.baselines.classical.predict import predict  # noqa: E402
from markupeval.rendering import Renderer  # noqa: E402

TARGET_PER_SECOND = 20.0


def prepare(n: int, shared: Path, out_dir: Path, offset: int = 0) -> int:
    """Render test formulas [offset, offset+n) into out_dir/images; write gold.txt and names.txt."""
    data = shared / "data" / "im2latex100k"
    gold = (data / "tgt-test-old.txt").read_text(encoding="utf-8").split("\n")[offset : offset + n]
    names = (data / "src-test-old.txt").read_text(encoding="utf-8").split("\n")[offset : offset + n]
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    results = Renderer(template="im2markup", progress=True).render(gold)
    failed = 0
    for name, res in zip(names, results):
        if res.status == "ok" and res.image is not None:
            Image.fromarray(res.image).save(images / name)
        else:
            failed += 1  # no image: the prediction is missing, and scoring counts it so
    (out_dir / "gold.txt").write_text("\n".join(gold) + "\n", encoding="utf-8")
    (out_dir / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="test formulas (from the first)")
    ap.add_argument("--offset", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--keep", type=Path, default=None, help="keep images, gold, names and preds.jsonl here")
    ap.add_argument("--cache", type=Path, default=None, help="glyph set cache directory")
    args = ap.parse_args()
    if not (args.shared / "data" / "im2latex100k" / "tgt-test-old.txt").exists():
        print(f"shared data not found under {args.shared}", file=sys.stderr)
        return 2
    load_or_build(args.cache)  # build outside the timing
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.keep or Path(tmp)
        failed = prepare(args.n, args.shared, out_dir, args.offset)
        summary = predict(out_dir / "images", out_dir / "preds.jsonl", cache_dir=args.cache, workers=args.workers)
    print(f"classical OCR: {summary.images} images ({failed} gold renders failed, {summary.blank} blank, "
          f"{summary.failed} recogniser errors) "
          f"in {summary.seconds:.2f} s with {args.workers} workers = {summary.per_second:.1f} formulas/s")
    cpu_rate = summary.images / (summary.cpu_seconds / args.workers)
    print(f"CPU time in the workers: {summary.cpu_seconds:.2f} s = {cpu_rate:.1f} formulas/s on {args.workers} "
          f"cores if nothing else runs (excludes worker start-up and image reading contention)")
    print(f"ratio to the 20 formulas/s target: {summary.per_second / TARGET_PER_SECOND:.2f}x wall clock, "
          f"{cpu_rate / TARGET_PER_SECOND:.2f}x CPU time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
