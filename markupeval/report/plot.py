"""An inline SVG line chart: a per-sample 0/1 outcome (Match, exact match) against formula length.

Hand-written SVG keeps the report free of plotting libraries and network resources.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Sequence

#: Length buckets in gold tokens; the last is open-ended (the training data stops at 150 tokens).
BUCKET_WIDTH = 10
LAST_BUCKET = 150


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    outcomes: Sequence[float | None]  # per sample: 1, 0 or None (not counted)


def bucket_of(length: int) -> int:
    return min(length // BUCKET_WIDTH, LAST_BUCKET // BUCKET_WIDTH)


def bucket_label(bucket: int) -> str:
    lo = bucket * BUCKET_WIDTH
    return f"{lo}+" if lo >= LAST_BUCKET else f"{lo}–{lo + BUCKET_WIDTH - 1}"


def rates(lengths: Sequence[int], outcomes: Sequence[float | None]) -> dict[int, tuple[float, int]]:
    """Per length bucket: mean outcome over the counted samples, and how many were counted."""
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for length, outcome in zip(lengths, outcomes):
        if outcome is None:
            continue
        b = bucket_of(length)
        sums[b] = sums.get(b, 0.0) + outcome
        counts[b] = counts.get(b, 0) + 1
    return {b: (sums[b] / counts[b], counts[b]) for b in sorted(counts)}


def svg_chart(lengths: Sequence[int], series: Sequence[Series], title: str) -> str:
    """Lines of each series' rate per length bucket, with sample counts as grey bars."""
    n_buckets = LAST_BUCKET // BUCKET_WIDTH + 1
    width, height = 900, 340
    left, right, top, bottom = 56, 20, 36, 64
    pw, ph = width - left - right, height - top - bottom
    step = pw / n_buckets

    def x(b: int) -> float:
        return left + step * (b + 0.5)

    def y(rate: float) -> float:
        return top + ph * (1.0 - rate)

    e = html.escape
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="length-plot" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="{e(title)}">',
        f'<text x="{left}" y="20" font-size="15" font-weight="bold">{e(title)}</text>',
    ]
    # Sample counts per bucket (of all samples), scaled to the plot height.
    totals: dict[int, int] = {}
    for length in lengths:
        totals[bucket_of(length)] = totals.get(bucket_of(length), 0) + 1
    most = max(totals.values(), default=1)
    for b, count in totals.items():
        bh = ph * count / most * 0.9
        parts.append(
            f'<rect x="{x(b) - step * 0.4:.1f}" y="{top + ph - bh:.1f}" width="{step * 0.8:.1f}" height="{bh:.1f}" fill="#e4e4e4">'
            f"<title>{bucket_label(b)} tokens: {count} samples</title></rect>"
        )
    for tick in range(0, 101, 20):
        yy = y(tick / 100)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ccc" stroke-width="0.5"/>')
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" font-size="11" text-anchor="end">{tick}%</text>')
    for b in range(n_buckets):
        parts.append(
            f'<text x="{x(b):.1f}" y="{top + ph + 14}" font-size="10" text-anchor="end" '
            f'transform="rotate(-40 {x(b):.1f} {top + ph + 14})">{bucket_label(b)}</text>'
        )
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="12" text-anchor="middle">gold length (tokens); grey bars: samples per bucket</text>')
    for k, s in enumerate(series):
        points = rates(lengths, s.outcomes)
        if not points:
            continue
        path = " ".join(f"{'M' if i == 0 else 'L'}{x(b):.1f},{y(r):.1f}" for i, (b, (r, _)) in enumerate(points.items()))
        parts.append(f'<path d="{path}" fill="none" stroke="{s.colour}" stroke-width="2"/>')
        for b, (r, count) in points.items():
            parts.append(
                f'<circle cx="{x(b):.1f}" cy="{y(r):.1f}" r="3.5" fill="{s.colour}">'
                f"<title>{e(s.label)}, {bucket_label(b)} tokens: {100 * r:.1f}% of {count}</title></circle>"
            )
        lx = left + 10 + 170 * k
        parts.append(f'<rect x="{lx}" y="{top + 4}" width="12" height="4" fill="{s.colour}"/>')
        parts.append(f'<text x="{lx + 16}" y="{top + 10}" font-size="12">{e(s.label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
