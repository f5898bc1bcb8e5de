"""Image metric speed: markupeval against the original algorithm, on the same pairs, in one run.

The reference is the faithful Python 3 port of im2markup's ``evaluate_image.py`` in
``im2markup_evaluate_image.py`` (same column strings, same per-column clustering loop, its C
Levenshtein calls replaced by python-Levenshtein's, which are C too). Both sides start from the
same decoded images, so the figures measure the metric, not PNG decoding (which is the same PIL
call on both sides; it is timed separately).

Pairs: the real render pairs of ``../shared/golden/image-pairs`` (400 test formulas and a real
model's predictions). Every result of the new code is checked against the port before timing
counts. ``--scale N`` also times N pairs (the 400 repeated) through the process pool, the size of
the full test set being about 10,350.

    nice -n 10 .venv/bin/python benchmarks/image_metrics_speed.py [--limit N] [--scale 10350]
    nice -n 10 .venv/bin/python benchmarks/image_metrics_speed.py --test-set ../shared/data/predictions/results65_100.txt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import im2markup_evaluate_image as original  # noqa: E402

from markupeval.images import compare_image_files, compare_image_pairs, compare_images, load_grayscale  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden" / "image-pairs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=GOLDEN, help="folder with gold/, pred/ and expected.json")
    parser.add_argument("--limit", type=int, default=None, help="only the first N pairs (default: all)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for the pooled runs")
    parser.add_argument("--scale", type=int, default=0, help="also time this many pairs through the pool")
    parser.add_argument("--test-set", metavar="RESULTS", type=Path,
                        help="only time the comparison step on the full test set: gold = tgt-test-old.txt, "
                             "predictions = this results file, renders from the project renderer (cached)")
    args = parser.parse_args()
    if args.test_set:
        return time_test_set(args.test_set, args.workers)

    if not (args.pairs / "expected.json").is_file():
        print(f"no image pairs at {args.pairs}", file=sys.stderr)
        return 2
    rows = json.loads((args.pairs / "expected.json").read_text())[: args.limit]
    gold_paths = [args.pairs / "gold" / r["image"] for r in rows]
    pred_paths = [args.pairs / "pred" / r["image"] if r["pred_rendered"] else None for r in rows]

    t = time.perf_counter()
    golds = [load_grayscale(p) for p in gold_paths]
    preds = [load_grayscale(p) if p is not None else None for p in pred_paths]
    t_load = time.perf_counter() - t

    # The original: one pair after the other, as evaluate_image.py's main loop does.
    t = time.perf_counter()
    reference = [tuple(original.img_edit_distance(g, p)) for g, p in zip(golds, preds)]
    t_original = time.perf_counter() - t

    t = time.perf_counter()
    serial = [compare_images(g, p) for g, p in zip(golds, preds)]
    t_serial = time.perf_counter() - t

    t = time.perf_counter()
    pooled = compare_image_pairs(golds, preds, workers=args.workers)
    t_pooled = time.perf_counter() - t

    t = time.perf_counter()
    from_files = compare_image_files(gold_paths, pred_paths, workers=args.workers)
    t_files = time.perf_counter() - t

    for results in (serial, pooled, from_files):
        got = [(r.edit_distance, r.ref, r.match, r.match_ws) for r in results]
        if got != reference:
            bad = sum(a != b for a, b in zip(got, reference))
            print(f"MISMATCH: {bad} of {len(rows)} pairs differ from the original", file=sys.stderr)
            return 1

    n = len(rows)
    print(f"{n} real pairs ({args.pairs}); results identical to the original on every pair")
    print(f"  PNG decoding (both sides, not in the ratios)      {t_load:8.3f} s")
    print(f"  original, port of evaluate_image.py, 1 process    {t_original:8.3f} s  {1e3 * t_original / n:8.3f} ms/pair")
    print(f"  markupeval compare_images, 1 process              {t_serial:8.3f} s  {1e3 * t_serial / n:8.3f} ms/pair")
    print(f"  markupeval compare_image_pairs, {args.workers} processes     {t_pooled:8.3f} s  {1e3 * t_pooled / n:8.3f} ms/pair")
    print(f"  markupeval compare_image_files (+decoding), {args.workers} pr.  {t_files:8.3f} s")
    print(f"ratio, 1 process vs 1 process: {t_original / t_serial:.1f}x")
    print(f"ratio, original vs markupeval on {args.workers} processes: {t_original / t_pooled:.1f}x")

    if args.scale:
        k = -(-args.scale // n)
        big_g, big_p = (golds * k)[: args.scale], (preds * k)[: args.scale]
        t = time.perf_counter()
        compare_image_pairs(big_g, big_p, workers=args.workers)
        t_big = time.perf_counter() - t
        t = time.perf_counter()
        for g, p in zip(big_g, big_p):
            compare_images(g, p)
        t_big_serial = time.perf_counter() - t
        print(f"{args.scale} pairs (the {n} repeated): {t_big:.2f} s on {args.workers} processes, "
              f"{t_big_serial:.2f} s in 1 process")
    return 0


def time_test_set(results: Path, workers: int) -> int:
    """The comparison step of ``markupeval score`` on the real test set, CPU and wall time."""
    from markupeval.rendering import Renderer

    data = GOLDEN.parents[1] / "data" / "im2latex100k"
    gold = (data / "tgt-test-old.txt").read_text(encoding="utf-8").split("\n")
    names = [n for n in (data / "src-test-old.txt").read_text(encoding="utf-8").split("\n") if n]
    gold = gold[: len(names)]
    by_image = {}
    for line in results.read_text(encoding="utf-8").split("\n"):
        if line:
            fields = line.split("\t")
            by_image[fields[0]] = fields[2]
    preds = [by_image.get(n) for n in names]
    t = time.perf_counter()
    distinct = list(dict.fromkeys([*gold, *(p for p in preds if p is not None)]))
    rendered = dict(zip(distinct, Renderer().render(distinct)))
    print(f"renders of {len(distinct)} distinct formulas obtained in {time.perf_counter() - t:.1f} s (cache)")
    golds = [rendered[g].image if rendered[g].status == "ok" else None for g in gold]
    pred_images = [None if p is None or rendered[p].status != "ok" else rendered[p].image for p in preds]
    for w in (1, workers):
        t, cpu, before = time.perf_counter(), time.process_time(), os.times()
        results_ = compare_image_pairs(golds, pred_images, workers=w)
        after = os.times()
        children = after.children_user - before.children_user + after.children_system - before.children_system
        print(f"{len(golds)} pairs, {w} process(es): wall {time.perf_counter() - t:.2f} s, "
              f"CPU {time.process_time() - cpu + children:.2f} s (load average {os.getloadavg()[0]:.1f})")
    counted = sum(r.counted for r in results_)
    distance, ref = sum(r.edit_distance for r in results_), sum(r.ref for r in results_)
    print(f"image_match {sum(r.match for r in results_) / counted:.6f}  "
          f"image_match_ws {sum(r.match_ws for r in results_) / counted:.6f}  "
          f"image_edit_distance {1 - distance / ref:.6f}  (over {counted} gold renders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
