"""The image half of ``score()``: render gold and predictions, compare each pair, aggregate.

Policies (the original's, stated in docs/PROTOCOL.md):

- a gold formula that fails to render is excluded from every image metric, listed and counted;
- a prediction that is absent or fails to render is a miss: it costs the gold width in the edit
  distance and never matches;
- each distinct formula is rendered once (a correct prediction is the gold string), and renders go
  through the renderer's content-addressed cache, so gold is rendered once across runs;
- the scoring streams: a pair is compared as soon as both renders exist and only its statistics
  are kept, so memory does not grow with the number of images.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from markupeval.metrics.base import Score, Signature
from markupeval.run import RenderOutcome

log = logging.getLogger("markupeval")

IMAGE_METRICS = ("image_edit_distance", "image_match", "image_match_ws")

_NONE: tuple = ()  # the pairs of a formula that has arrived


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
    """Render and compare every (gold, prediction) pair; ``None`` is a missing prediction.

    ``render_options`` are :class:`~markupeval.rendering.Renderer` keyword arguments; its
    ``executor`` (see :func:`markupeval.executor.make_executor`) runs both the render chunks and
    the comparisons.
    """
    from markupeval.executor import make_executor
    from markupeval.metrics import get_metric
    from markupeval.rendering import Renderer

    options = dict(render_options or {})
    spec = options.pop("executor", None)
    executor = make_executor(spec, options.get("workers"))
    try:
        with Renderer(**options, executor=executor) as renderer:
            pairs, outcomes = _stream(renderer, executor, gold, predictions)
            signature = renderer.signature()
    finally:
        if spec is None or isinstance(spec, str):
            executor.close()
    metrics = {k: get_metric(k) for k in IMAGE_METRICS}
    stats = {k: metrics[k].stats_from_results(pairs) for k in IMAGE_METRICS}
    scores = {k: metrics[k].aggregate(stats[k]) for k in IMAGE_METRICS}
    return ImageScoring(
        stats=stats,
        scores=scores,
        stat_names={k: list(metrics[k].stat_names) for k in IMAGE_METRICS},
        signature=signature.merged(metrics["image_match"].signature()),
        outcomes=outcomes,
    )


def _stream(renderer, executor, gold: Sequence[str], predictions: Sequence[str | None]):
    """Compare each pair as soon as both of its renders exist; drop an image after its last pair.

    Memory is the renders in flight plus the images of the current window of pairs still waiting
    for a partner (in input order a pair's two formulas are neighbours, so few wait), not every
    image of the run: the report reads renders back from the cache.
    """
    from markupeval.executor import ChunkRunner
    from markupeval.images.compare import EXCLUDED, PairJob, compare_pair_job, pair_chunk_size, split_pair_job

    n = len(gold)
    # Formulas are deduplicated within windows of pairs, not over the whole run: an image is held
    # only until the last pair of its window that needs it, and a formula that comes back later
    # is read from the render cache again (or, without a cache, rendered again).
    window = max(4096, 8 * renderer.chunk_size * executor.parallelism)
    distinct: list[str] = []
    sides: list[tuple[int, int]] = []  # (gold formula, prediction formula or -1) per pair
    for start in range(0, n, window):
        index: dict[str, int] = {}
        for g, p in zip(gold[start : start + window], predictions[start : start + window]):
            gi = index.setdefault(g, len(distinct) + len(index))
            pi = -1 if p is None else index.setdefault(p, len(distinct) + len(index))
            sides.append((gi, pi))
        distinct.extend(index)
    uses = np.zeros(len(distinct), np.int32)  # pairs still to be sent that need each formula
    pairs_of: list[list[int]] = [[] for _ in distinct]
    for k, (gi, pi) in enumerate(sides):
        for side in (gi, pi) if pi >= 0 and pi != gi else (gi,):
            pairs_of[side].append(k)
            uses[side] += 1
    log.info("rendering %d distinct formulas (%d gold items) on %s", len(distinct), n, executor.description)

    # One outcome object per formula, shared by its pairs: per-pair memory is a tuple of two refs.
    status: list[RenderOutcome | None] = [None] * len(distinct)
    images: dict[int, np.ndarray | None] = {}
    results: list = [None] * n
    size = pair_chunk_size(n, executor.parallelism)
    runner = ChunkRunner(executor, compare_pair_job, split=split_pair_job)
    ready: list[int] = []

    def send(batch: list[int]) -> None:
        job_ids, job_pairs = [], []
        for k in batch:
            gi, pi = sides[k]
            g_image = images[gi]
            if g_image is None:
                results[k] = EXCLUDED  # gold failed: nothing to compare
            else:
                job_ids.append(k)
                job_pairs.append((g_image, None if pi < 0 else images[pi]))
            for side in (gi, pi) if pi >= 0 and pi != gi else (gi,):
                uses[side] -= 1
                if uses[side] == 0:
                    del images[side]
        if job_ids:
            while runner.full:
                take(runner.completed(block=True))
            runner.submit(PairJob(tuple(job_ids), tuple(job_pairs)))

    def take(done) -> None:
        for job, out in done:
            for k, r in zip(job.ids, out):
                results[k] = r

    try:
        for idx, result in renderer.render_stream(distinct):
            status[idx] = RenderOutcome(result.status, result.message)
            images[idx] = result.image if result.status == "ok" else None
            for k in pairs_of[idx]:
                gi, pi = sides[k]
                if status[gi] is not None and (pi < 0 or status[pi] is not None):
                    ready.append(k)
            pairs_of[idx] = _NONE
            if len(ready) >= size:
                send(ready)
                ready = []
            take(runner.completed(block=False))
        send(ready)
        take(runner.drain())
    except BaseException:
        runner.cancel()
        raise
    assert not images and all(r is not None for r in results)

    missing = RenderOutcome("missing", "no prediction for this image")
    outcomes = [(status[gi], missing if pi < 0 else status[pi]) for gi, pi in sides]
    return results, outcomes
