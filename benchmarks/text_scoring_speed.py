"""Text-only scoring of the full IM2LATEX-100K test set: markupeval vs the original pipeline.

The reference is a faithful port of im2markup's ``evaluate_text_edit_distance.py`` (pure-Python
Levenshtein over ``split(' ')`` tokens, as the ``distance`` package computes it) plus, when
``--multi-bleu`` points at Moses' ``multi-bleu.perl``, the Perl BLEU run the original called.
Both run here, on the same files, in the same process run; the figure is the ratio.

    python benchmarks/text_scoring_speed.py [--multi-bleu /path/to/multi-bleu.perl]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from markupeval.scoring import ScoreConfig, score_files

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def levenshtein_py(a: list[str], b: list[str]) -> int:
    """The textbook dynamic programme, as the pure-Python ``distance.levenshtein``."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, y in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y))
        prev = cur
    return prev[-1]


def original_edit_distance(results: Path) -> float:
    total_ref = total_edit = 0
    for line in results.read_text(encoding="utf-8").split("\n"):
        items = line.strip().split("\t")
        if len(items) == 5:
            _, gold, pred, _, _ = items
            tg, tp = gold.strip().split(" "), pred.strip().split(" ")
            total_edit += levenshtein_py(tg, tp)
            total_ref += max(len(tg), len(tp))
    return 1.0 - total_edit / total_ref


def original_bleu(results: Path, script: Path) -> str:
    lines = [ln.split("\t") for ln in results.read_text(encoding="utf-8").split("\n") if ln.count("\t") == 4]
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref"
        ref.write_text("".join(f[1] + "\n" for f in lines), encoding="utf-8")
        hyp = "".join(f[2] + "\n" for f in lines)
        return subprocess.run(["perl", str(script), str(ref)], input=hyp, capture_output=True, text=True).stdout.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=SHARED / "predictions" / "results65_100.txt")
    ap.add_argument("--gold", type=Path, default=SHARED / "im2latex100k" / "tgt-test-old.txt")
    ap.add_argument("--names", type=Path, default=SHARED / "im2latex100k" / "src-test-old.txt")
    ap.add_argument("--multi-bleu", type=Path)
    args = ap.parse_args()

    t0 = time.perf_counter()
    run = score_files(args.results, args.gold, names=args.names, config=ScoreConfig(images=False))
    ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    ref_ed = original_edit_distance(args.results)
    bleu_line = original_bleu(args.results, args.multi_bleu) if args.multi_bleu else None
    reference = time.perf_counter() - t0

    print(f"items: {run.counts['gold']:,} gold, {run.counts['scored']:,} predictions")
    print(f"markupeval (BLEU + edit distance + exact match, files read): {ours:.2f} s")
    what = "edit distance" + (" + multi-bleu.perl" if bleu_line else " only")
    print(f"original pipeline ({what}): {reference:.2f} s")
    print(f"edit distance: ours {run.metrics['edit_distance']:.6f}, original {ref_ed:.6f}")
    if bleu_line:
        print(f"multi-bleu.perl: {bleu_line}")
    print(f"speed-up: {reference / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
