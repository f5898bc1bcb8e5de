"""Acceptance figures of the LaTeX normalizer (issue 5) on the real IM2LATEX-100K data.

    python benchmarks/normalizer_check.py [--no-render] [--workers N]

1. Fixed point: the 10,284 non-empty test gold lines (tgt-test-old.txt) normalize to themselves.
2. Raw -> gold: the 100 raw formulas of the im2markup sample's test list (formula_idx 1000-1099)
   normalize to the official gold (first 100 lines of tgt-test-old.txt); the others are listed
   with the first differing tokens.
3. Renders preserved: the 1,200 sample formulas rendered raw and normalized; the fraction whose
   renders agree under image Match (when ``markupeval.metrics`` has it) and pixel for pixel.
4. Speed: normalizing the whole 10,355-line test gold in this one process (one core). The
   original (node + im2markup's patched KaTeX) is not available here, so no ratio is printed.

Timings on a shared machine are noisy; run with ``nice`` and repeat.
"""

from __future__ import annotations

import argparse
import difflib
import time
from pathlib import Path

from markupeval.latex import Normalizer, normalize

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").split("\n")  # split on \n only


def first_difference(got: str, want: str, context: int = 3) -> str:
    a, b = want.split(), got.split()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op != "equal":
            lo = max(0, i1 - context)
            return f"gold '{' '.join(a[lo:i2 + 1])}' vs ours '{' '.join(b[max(0, j1 - context):j2 + 1])}'"
    return "identical tokens, different spacing"


def fixed_point(gold: list[str]) -> None:
    nonempty = [g for g in gold if g.strip()]
    changed = [g for g in nonempty if normalize(g).text != g]
    same = len(nonempty) - len(changed)
    print(f"1. fixed point: {same}/{len(nonempty)} = {same / len(nonempty):.2%} of non-empty test gold lines unchanged")
    for g in changed[:5]:
        print(f"   e.g. {first_difference(normalize(g).text, g)}")


def raw_to_gold(gold: list[str], gold_names: list[str]) -> None:
    sample = DATA / "im2markup-sample"
    formulas = lines(sample / "formulas.lst")
    listed = {int(i): n for i, n, _ in (l.split() for l in lines(sample / "test.lst") if l)}
    misaligned = [i for i in range(1000, 1100) if listed.get(i) != gold_names[i - 1000]]
    if misaligned:
        raise SystemExit(f"sample test list and src-test-old.txt disagree at formula_idx {misaligned[:5]}")
    misses = []
    for k, idx in enumerate(range(1000, 1100)):
        result = normalize(formulas[idx])
        if result.text != gold[k]:
            misses.append((idx, result, gold[k]))
    print(f"2. raw -> gold: {100 - len(misses)}/100 sample test formulas normalize to the official gold")
    for idx, result, want in misses:
        why = f"fallback: {result.message}" if result.fallback else first_difference(result.text, want)
        print(f"   formula_idx {idx}: {why}")


def renders(workers: int | None) -> None:
    try:
        from markupeval.rendering import Renderer
    except ImportError as exc:  # the renderer is another module of the project
        print(f"3. renders: skipped, markupeval.rendering unavailable ({exc})")
        return
    match = _image_match()
    formulas = [f for f in lines(DATA / "im2markup-sample" / "formulas.lst")][:1200]
    normalized = [normalize(f).text for f in formulas]
    renderer = Renderer(workers=workers, cache=False, progress=True)
    t0 = time.perf_counter()
    # A page does not depend on its batch (the renderer's contract; one call with both halves
    # gives the same 2,400 images), so the two calls are for readability only.
    raw_r = renderer.render(formulas)
    norm_r = renderer.render(normalized)
    seconds = time.perf_counter() - t0
    both = [(a, b) for a, b in zip(raw_r, norm_r) if a.status == "ok"]
    failed_raw = 1200 - len(both)
    failed_norm = sum(b.status != "ok" for _, b in both)
    identical = sum(b.status == "ok" and a.image.shape == b.image.shape and (a.image == b.image).all()
                    for a, b in both)
    print(f"3. renders ({seconds:.0f} s for 2,400 renders; {renderer.signature()}):")
    print(f"   raw renders that failed (excluded): {failed_raw}; normalized that failed where raw rendered: {failed_norm}")
    print(f"   pixel-identical: {identical}/{len(both)} = {identical / len(both):.2%}")
    if match is None:
        print("   image Match: markupeval.metrics has no image_match metric yet - not measured")
        return
    matched = sum(float(match.segment_stats(b.image if b.status == "ok" else None, a.image)[0]) for a, b in both)
    print(f"   image Match: {matched:.0f}/{len(both)} = {matched / len(both):.2%}  [{match.signature()}]")


def _image_match():
    try:
        from markupeval.metrics import METRICS
    except ImportError:
        return None
    cls = METRICS.get("image_match") if isinstance(METRICS, dict) else None
    return cls() if cls is not None else None


def speed(gold: list[str]) -> None:
    normalizer = Normalizer()
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for g in gold:
            normalizer.normalize(g)
        best = min(best, time.perf_counter() - t0)
    print(f"4. speed: {len(gold)} test gold lines normalized in {best:.2f} s (best of 3, one core, "
          f"{1e3 * best / len(gold):.3f} ms/line); reference (node + patched KaTeX) not available here")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-render", action="store_true", help="skip the 2,400 renders")
    parser.add_argument("--workers", type=int, default=None, help="rendering processes")
    args = parser.parse_args()
    gold = lines(DATA / "im2latex100k" / "tgt-test-old.txt")[:10355]
    gold_names = [n.removesuffix(".png") for n in lines(DATA / "im2latex100k" / "src-test-old.txt")]
    fixed_point(gold)
    raw_to_gold(gold, gold_names)
    if not args.no_render:
        renders(args.workers)
    speed(gold)


if __name__ == "__main__":
    main()
