"""The image half of ``score()``: render gold and predictions, compare each pair, aggregate.

Policies (the original's, stated in docs/PROTOCOL.md):

- a gold formula that fails to render is excluded from every image metric, listed and counted;
- a prediction that is absent or fails to render is a miss: it costs the gold width in the edit
  distance and never matches;
- each distinct formula is rendered once (a correct prediction is the gold string), and renders go
  through the renderer's content-addressed cache, so gold is rendered once across runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from markupeval.images.compare import compare_image_pairs
from markupeval.metrics.base import Score, Signature
from markupeval.run import RenderOutcome

log = logging.getLogger("markupeval")

IMAGE_METRICS = ("image_edit_distance", "image_match", "image_match_ws")


@dataclass
class ImageScoring:
    stats: dict[str, np.ndarray]
    scores: dict[str, Score]
    stat_names: dict[str, list[str]]
    signature: Signature
    outcomes: list[tuple[RenderOutcome, RenderOutcome]]  # (gold, prediction) per gold item


def score_images(
    gold: Sequence[str],
    predictions: Sequence[str | None],
    render_options: dict | None = None,
) -> ImageScoring:
    """Render and compare every (gold, prediction) pair; ``None`` is a missing prediction."""
    from markupeval.metrics import get_metric
    from markupeval.rendering import Renderer

    options = dict(render_options or {})
    workers = options.get("workers")
    renderer = Renderer(**options)

    distinct = list(dict.fromkeys([*gold, *(p for p in predictions if p is not None)]))
    log.info("rendering %d distinct formulas (%d gold items)", len(distinct), len(gold))
    rendered = dict(zip(distinct, renderer.render(distinct)))

    gold_images: list[np.ndarray | None] = []
    pred_images: list[np.ndarray | None] = []
    outcomes: list[tuple[RenderOutcome, RenderOutcome]] = []
    for g, p in zip(gold, predictions):
        gr = rendered[g]
        gold_images.append(gr.image if gr.status == "ok" else None)
        g_out = RenderOutcome(gr.status, gr.message)
        if p is None:
            pred_images.append(None)
            p_out = RenderOutcome("missing", "no prediction for this image")
        else:
            pr = rendered[p]
            pred_images.append(pr.image if pr.status == "ok" else None)
            p_out = RenderOutcome(pr.status, pr.message)
        outcomes.append((g_out, p_out))

    pairs = compare_image_pairs(gold_images, pred_images, workers=workers)
    metrics = {k: get_metric(k) for k in IMAGE_METRICS}
    stats = {k: metrics[k].stats_from_results(pairs) for k in IMAGE_METRICS}
    scores = {k: metrics[k].aggregate(stats[k]) for k in IMAGE_METRICS}
    signature = renderer.signature().merged(metrics["image_match"].signature())
    return ImageScoring(
        stats=stats,
        scores=scores,
        stat_names={k: list(metrics[k].stat_names) for k in IMAGE_METRICS},
        signature=signature,
        outcomes=outcomes,
    )
