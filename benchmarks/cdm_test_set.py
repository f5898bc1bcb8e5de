"""CDM on the whole test set, cold: issue 16's target, the full test set with ``--cdm`` in ≤ 2 minutes.

Runs ``markupeval score PREDICTIONS --gold tgt-test-old.txt --names src-test-old.txt --no-images
--cdm --workers N`` twice as a subprocess, on one fresh temporary cache: first cold (every
formula is coloured, typeset and rasterised, the template's format dumped), then warm (the same
command, every render read back from the cache), and prints both against the 120-s target, the
cold run against the official code (its measured 0.55 s per pair on 2 cores, times the number
of pairs), and the cold run against the warm one measured in the same run.

CPU is the machine's busy time from ``/proc/stat`` over each run (pdflatex, Ghostscript and every
Python process; markupeval's render workers are not its direct children, so ``getrusage`` would
miss them): run it on an otherwise idle machine. Machines differ a lot (the README's CDM section
has runs from 106 s to 271 s cold for the same command), so it also prints a pure-Python speed
reference (seconds per 10⁷ additions) that earlier measurements quote.

    .venv/bin/python benchmarks/cdm_test_set.py [--workers 2] [--predictions results65_100.txt]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TARGET_SECONDS = 120.0
OFFICIAL_SECONDS_PER_PAIR = 0.55


def busy_seconds() -> float | None:
    """CPU seconds this machine has been busy since boot (all cores), or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def python_speed() -> float:
    """Seconds for 10⁷ additions in a Python loop: a rough, comparable measure of the core."""
    start = time.perf_counter()
    total = 0
    for i in range(10**7):
        total += i
    return time.perf_counter() - start


def timed(cmd: list[str]) -> tuple[float, float | None]:
    """(wall seconds, busy CPU seconds) of one command, which must succeed."""
    busy0, t0 = busy_seconds(), time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, busy1 = time.perf_counter() - t0, busy_seconds()
    if proc.returncode != 0:
        sys.exit(f"cdm_test_set: {' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, (None if busy0 is None or busy1 is None else busy1 - busy0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=Path, default=DATA / "predictions" / "results65_100.txt")
    parser.add_argument("--gold", type=Path, default=DATA / "im2latex100k" / "tgt-test-old.txt")
    parser.add_argument("--names", type=Path, default=DATA / "im2latex100k" / "src-test-old.txt")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    markupeval = Path(sys.executable).with_name("markupeval")
    load = os.getloadavg()[0]
    speed = python_speed()
    with tempfile.TemporaryDirectory(prefix="markupeval-cdm-test-set-") as tmp:
        run_file = Path(tmp) / "run.json"
        cmd = [str(markupeval), "score", str(args.predictions), "--gold", str(args.gold), "--names", str(args.names),
               "--no-images", "--cdm", "--workers", str(args.workers), "--cache-dir", str(Path(tmp) / "cache"),
               "--json", str(run_file)]
        cold = timed(cmd)
        warm = timed(cmd)
        run = json.loads(run_file.read_text(encoding="utf-8"))
    pairs = int(run["counts"]["gold"])
    metrics = run["metrics"]
    official = OFFICIAL_SECONDS_PER_PAIR * pairs

    def cpu(seconds: float | None) -> str:
        return "" if seconds is None else f", {seconds:.0f} CPU-s busy"

    print(f"{pairs:,} pairs of {args.predictions.name}, {args.workers} workers on {os.cpu_count()} cores; "
          f"Python speed {speed:.2f} s per 10^7 additions; load average before: {load:.2f}")
    print(f"  cold: {cold[0]:6.1f} s wall{cpu(cold[1])}  ->  {cold[0] / TARGET_SECONDS:.2f}x the {TARGET_SECONDS:.0f}-s "
          f"target ({'met' if cold[0] <= TARGET_SECONDS else 'NOT met'}); official code ≈ {official:,.0f} s: "
          f"{official / cold[0]:.0f}x faster")
    print(f"  warm: {warm[0]:6.1f} s wall{cpu(warm[1])}  ->  cold is {cold[0] / warm[0]:.1f}x the warm run")
    print(f"  CDM F1 {metrics['cdm_f1']:.6f}, ExpRate@CDM {metrics['cdm_exprate']:.6f}, "
          f"gold without boxes {run['counts'].get('cdm_gold_failed', 0)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
