"""Image fidelity: do our renders of raw dataset formulas reproduce the original dataset images?

The harvardnlp/im2markup sample (``data/sample``: 1,200 raw formulas, split lists and the
original full-page images) is rendered with the ``dataset`` template, and each render is compared
with the original image, cropped the way the evaluation crops it, under image Match and
Match (-ws) (:mod:`markupeval.images.compare`). The original image is the gold side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from markupeval.data.lists import ListEntry, read_formulas, read_split_list
from markupeval.data.preprocess import crop
from markupeval.images.io import load_grayscale


@dataclass
class FidelityReport:
    total: int
    match: int
    match_ws: int
    render_failed: int
    mismatches: list[dict[str, Any]]

    @property
    def match_rate(self) -> float:
        return self.match / self.total if self.total else 0.0

    @property
    def match_ws_rate(self) -> float:
        return self.match_ws / self.total if self.total else 0.0


def load_original(path: Path) -> np.ndarray:
    """An original dataset image as the evaluation reads it: grayscale, cropped to non-white.

    The 1,200 originals are palette images (index 0 white, every other index black) with a
    transparency entry; ``convert("L")`` maps them exactly as the original scripts did.
    """
    return crop(load_grayscale(path), None)[0]


def sample_entries(sample_dir: Path, splits: tuple[str, ...] = ("train", "validate", "test")) -> list[ListEntry]:
    return [e for s in splits for e in read_split_list(Path(sample_dir) / f"{s}.lst")]


def check(sample_dir: Path, renderer: Any, limit: int | None = None, workers: int | None = None) -> FidelityReport:
    """Render the sample's raw formulas and compare each with its original image."""
    from markupeval.images.compare import compare_image_pairs

    sample_dir = Path(sample_dir)
    formulas = read_formulas(sample_dir / "formulas.lst")
    entries = sample_entries(sample_dir)[:limit]
    golds = [load_original(sample_dir / "images" / f"{e.name}.png") for e in entries]
    rendered = renderer.render([formulas[e.formula_idx] for e in entries])
    preds = [r.image if r.status == "ok" else None for r in rendered]
    results = compare_image_pairs(golds, preds, workers=workers)
    mismatches = [
        {"image": e.name, "formula_idx": e.formula_idx, "gold_size": list(g.shape),
         "render_size": None if p is None else list(p.shape), "match_ws": r.match_ws}
        for e, g, p, r in zip(entries, golds, preds, results) if not r.match
    ]
    return FidelityReport(
        total=len(entries),
        match=sum(r.match for r in results),
        match_ws=sum(r.match_ws for r in results),
        render_failed=sum(p is None for p in preds),
        mismatches=mismatches,
    )
