"""CDM pictures for the report: each token of both renders drawn in the colour of its fate.

Matched tokens are green, gold tokens the prediction misses red, predicted tokens that match
nothing in the gold blue, ink that belongs to no token gray. The renders are CDM's own per-token
colour renders (cached by the first run), so the colours sit exactly on each token's pixels.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from markupeval.metrics.cdm import CDMConfig
from markupeval.rendering.boxes import TokenBoxRenderer
from markupeval.rendering.rasterize import OTHER_INK

MATCHED = (0, 150, 0)
MISSED = (215, 25, 28)
EXTRA = (30, 90, 220)
OTHER = (150, 150, 150)


def paint(labels: np.ndarray, index: Sequence[int], matched: Sequence[bool], unmatched: tuple[int, int, int]) -> np.ndarray:
    """RGB picture of a label map: token ``index[k]`` green if ``matched[k]``, else ``unmatched``."""
    lut = np.full((int(OTHER_INK) + 1, 3), OTHER, np.uint8)
    lut[0] = (255, 255, 255)
    for k, flag in zip(index, matched):
        lut[k + 1] = MATCHED if flag else unmatched
    return lut[labels]


def cdm_pictures(
    gold: Sequence[str], predictions: Sequence[str | None], records: Sequence[dict[str, Any] | None],
    render_options: dict | None = None, variant: str = "official",
) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """(gold picture, predicted picture) per sample that has a CDM record; (None, None) otherwise.

    ``variant`` is the CDM variant the records were scored with: its renders are the ones whose
    token indices the records hold."""
    want = [i for i, r in enumerate(records) if r]
    renderer = TokenBoxRenderer(comments=CDMConfig(variant=variant).comments, **(render_options or {}))
    texts = list(dict.fromkeys([gold[i] for i in want] + [predictions[i] for i in want if predictions[i] is not None]))
    boxes = dict(zip(texts, renderer.render(texts, keep_labels=True))) if texts else {}
    out: list[tuple[np.ndarray | None, np.ndarray | None]] = [(None, None)] * len(records)
    for i in want:
        rec = records[i]
        assert rec is not None
        g = boxes.get(gold[i])
        p = boxes.get(predictions[i]) if predictions[i] is not None else None
        gp = paint(g.labels, rec.get("gold_index", []), rec.get("gold_matched", []), MISSED) \
            if g is not None and g.labels is not None else None
        pp = paint(p.labels, rec.get("pred_index", []), rec.get("pred_matched", []), EXTRA) \
            if p is not None and p.labels is not None else None
        out[i] = (gp, pp)
    return out
