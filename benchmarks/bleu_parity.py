"""Prove that markupeval's BLEU prints exactly what Moses multi-bleu.perl prints.

multi-bleu.perl is not shipped (LGPL, and Perl); point ``--multi-bleu`` at a copy, e.g. from
moses-smt/mosesdecoder ``scripts/generic/multi-bleu.perl``. The script compares the two on random
corpora (short vocabularies give many partial n-gram matches, empty lines, length mismatches) and
on any ``--hyp/--ref`` file pair given, and exits non-zero on the first difference.

    python benchmarks/bleu_parity.py --multi-bleu /path/to/multi-bleu.perl --trials 200
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from markupeval.formats import read_lines
from markupeval.metrics import get_metric
from markupeval.metrics.bleu import format_multi_bleu


def perl_line(script: Path, hyps: list[str], refs: list[str]) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        ref = Path(tmp) / "ref"
        ref.write_text("".join(r + "\n" for r in refs), encoding="utf-8")
        out = subprocess.run(
            ["perl", str(script), str(ref)], input="".join(h + "\n" for h in hyps),
            capture_output=True, text=True, encoding="utf-8", check=False,
        )
    return out.stdout.strip()


def ours(hyps: list[str], refs: list[str]) -> str:
    return format_multi_bleu(get_metric("bleu").corpus_score(hyps, refs))


def random_corpus(rng: random.Random) -> tuple[list[str], list[str]]:
    vocab = [f"t{i}" for i in range(rng.randint(2, 12))] + ["\\frac", "{", "}", "^", "_"]
    n = rng.randint(1, 30)
    refs = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 25))) for _ in range(n)]
    hyps = []
    for r in refs:
        toks = r.split()
        toks = [t if rng.random() < 0.8 else rng.choice(vocab) for t in toks]
        if rng.random() < 0.3:
            toks = toks[: rng.randint(0, len(toks))]
        hyps.append(("  " if rng.random() < 0.1 else "") + " ".join(toks))
    return hyps, refs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--multi-bleu", type=Path, required=True)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--hyp", type=Path)
    ap.add_argument("--ref", type=Path)
    args = ap.parse_args()
    rng = random.Random(0)
    checked = 0
    for _ in range(args.trials):
        hyps, refs = random_corpus(rng)
        if not any(h.split() for h in hyps):
            continue  # multi-bleu.perl divides by zero on an all-empty hypothesis file
        a, b = perl_line(args.multi_bleu, hyps, refs), ours(hyps, refs)
        if a != b:
            print(f"DIFFERENT\n perl: {a}\n ours: {b}\n hyps={hyps}\n refs={refs}")
            return 1
        checked += 1
    if args.hyp and args.ref:
        hyps, refs = read_lines(args.hyp), read_lines(args.ref)
        a, b = perl_line(args.multi_bleu, hyps, refs), ours(hyps, refs)
        print(f"perl: {a}\nours: {b}")
        if a != b:
            return 1
        checked += 1
    print(f"identical output on {checked} corpora")
    return 0


if __name__ == "__main__":
    sys.exit(main())
