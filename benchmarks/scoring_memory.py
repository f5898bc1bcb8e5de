"""Peak memory of image scoring against the number of pairs: flat, because scoring streams.

The pairs are real: the 10,355 (gold, prediction) pairs of ``results65_100.txt`` against
``tgt-test-old.txt``, repeated to reach each size (the repetition starts where the test set ends,
so no pair of a window meets its own copy). Scoring deduplicates formulas within windows of pairs
and drops every image after its window's last pair, so a repeat costs cache reads and comparisons,
exactly as new formulas would, but no rendering: the run stays short. The render cache must be
warm for the default settings (one ``markupeval score`` of that file); a cold cache only makes the
first size slower.

For each size a fresh process runs ``image_scoring.score_images`` on the first N pairs and reports
its peak RSS (``ru_maxrss``) and its RSS once the inputs are loaded. The figure is the ratio of
each peak to the smallest size's, measured in the same run; the growth per extra pair is printed
too (inputs and per-pair statistics do grow with N).

    nice -n 10 python benchmarks/scoring_memory.py [--sizes 10000 30000 100000] [--workers 2]
        [--against CHECKOUT]

``--against`` runs every size a second time with another checkout's ``markupeval`` first on the
path (``git worktree add /tmp/before <commit>``), and prints each peak against that one's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
GOLD = SHARED / "data" / "im2latex100k" / "tgt-test-old.txt"
NAMES = SHARED / "data" / "im2latex100k" / "src-test-old.txt"
PREDICTIONS = SHARED / "data" / "predictions" / "results65_100.txt"


def pairs(n: int) -> tuple[list[str], list[str | None]]:
    from markupeval.formats import image_key, read_gold, read_predictions

    gold_set = read_gold(GOLD, names=NAMES)
    preds = read_predictions(PREDICTIONS, "auto", line_names=[g.image for g in gold_set.items])
    by_image = {image_key(p.image): p.text for p in preds.items}
    gold = [g.formula for g in gold_set.items]
    aligned = [by_image.get(image_key(g.image)) for g in gold_set.items]
    reps = -(-n // len(gold))
    return (gold * reps)[:n], (aligned * reps)[:n]


def child(args: argparse.Namespace) -> None:
    import resource

    from markupeval.image_scoring import score_images

    gold, preds = pairs(args.child)
    loaded = _rss_mb()
    t0 = time.perf_counter()
    options: dict = {"workers": args.workers}
    if args.executor:
        options["executor"] = args.executor
    result = score_images(gold, preds, options)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": args.child, "loaded_mb": loaded, "peak_mb": peak, "seconds": seconds,
                      "match": result.scores["image_match"].value}))


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executor", default=None, help="as markupeval score --executor (default: local pool)")
    ap.add_argument("--against", type=Path, default=None, help="another checkout to measure beside this one")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args)
        return

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    def measure(n: int, checkout: Path | None) -> dict:
        cmd = [sys.executable, __file__, "--child", str(n), "--workers", str(args.workers)]
        if args.executor:
            cmd += ["--executor", args.executor]
        env = dict(os.environ)
        if checkout is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(checkout.resolve()), env.get("PYTHONPATH", "")])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
        return json.loads(out.stdout.strip().splitlines()[-1])

    def show(label: str, row: dict) -> None:
        print(f"  {label}{row['n']:>7,} pairs: peak {row['peak_mb']:6.1f} MB (inputs loaded: {row['loaded_mb']:6.1f} MB), "
              f"{row['seconds']:5.1f} s, image Match {row['match']:.6f}, load {os.getloadavg()[0]:.1f}", flush=True)

    rows, before = [], []
    for n in args.sizes:
        rows.append(measure(n, None))
        show("", rows[-1])
        if args.against is not None:
            before.append(measure(n, args.against))
            show(f"{args.against}: ", before[-1])
            print(f"    this checkout / {args.against}: peak RSS {rows[-1]['peak_mb'] / before[-1]['peak_mb']:.2f}x, "
                  f"same image Match: {rows[-1]['match'] == before[-1]['match']}", flush=True)
    for label, series in (("", rows), (f"{args.against}: ", before)):
        if not series:
            continue
        ref = series[0]
        for row in series[1:]:
            print(f"{label}{row['n']:,} vs {ref['n']:,} pairs ({row['n'] / ref['n']:.0f}x): peak RSS ratio "
                  f"{row['peak_mb'] / ref['peak_mb']:.2f}, growth {row['peak_mb'] - ref['peak_mb']:+.1f} MB "
                  f"({1024 * (row['peak_mb'] - ref['peak_mb']) / (row['n'] - ref['n']):.2f} KB per extra pair)")

if __name__ == "__main__":
    main()
