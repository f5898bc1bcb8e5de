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

    metrics = {k: get_metric(k) for k in IMAGE_METRICS}
    options = dict(render_options or {})
    spec = options.pop("executor", None)
    executor = make_executor(spec, options.get("workers"))
    try:
        with Renderer(**options, executor=executor) as renderer:
            stats, outcomes = _stream(renderer, executor, gold, predictions, metrics)
            signature = renderer.signature()
    finally:
        if spec is None or isinstance(spec, str):
            executor.close()
    scores = {k: metrics[k].aggregate(stats[k]) for k in IMAGE_METRICS}
    return ImageScoring(
        stats=stats,
        scores=scores,
        stat_names={k: list(metrics[k].stat_names) for k in IMAGE_METRICS},
        signature=signature.merged(metrics["image_match"].signature()),
        outcomes=outcomes,
    )


def _stream(renderer, executor, gold: Sequence[str], predictions: Sequence[str | None], metrics: dict):
    """Compare each pair as soon as both of its renders exist; drop an image after its last pair.

    Memory is the renders in flight plus the images of the current window of pairs still waiting
    for a partner (in input order a pair's two formulas are neighbours, so few wait), not every
    image of the run: the report reads renders back from the cache. What is kept per pair is
    numeric: its formula indices, its metric statistics (written into preallocated arrays as
    comparisons return) and a reference to a shared outcome pair, so that the memory left when
    the renders are gone grows by tens of bytes a pair, not by Python objects.
    """
    from markupeval.executor import ChunkRunner
    from markupeval.images.compare import EXCLUDED, PairJob, compare_pair_job, pair_chunk_size, split_pair_job

    n = len(gold)
    # Formulas are deduplicated within windows of pairs, not over the whole run: an image is held
    # only until the last pair of its window that needs it, and a formula that comes back later
    # is read from the render cache again (or, without a cache, rendered again).
    window = max(4096, 8 * renderer.chunk_size * executor.parallelism)
    distinct: list[str] = []
    g_of = np.empty(n, np.int64)  # each pair's gold formula
    p_of = np.empty(n, np.int64)  # each pair's prediction formula, -1 when it has none
    for start in range(0, n, window):
        index: dict[str, int] = {}
        for k, (g, p) in enumerate(zip(gold[start : start + window], predictions[start : start + window]), start):
            g_of[k] = index.setdefault(g, len(distinct) + len(index))
            p_of[k] = -1 if p is None else index.setdefault(p, len(distinct) + len(index))
        distinct.extend(index)
    # The pairs of each formula, as one sorted array sliced by formula (a pair whose prediction is
    # its gold string is listed once): pairs_of(f) = by_formula[offsets[f]:offsets[f + 1]].
    second = (p_of >= 0) & (p_of != g_of)
    owners = np.concatenate([g_of, p_of[second]])
    pair_ids = np.concatenate([np.arange(n), np.flatnonzero(second)])
    order = np.argsort(owners, kind="stable")
    by_formula = pair_ids[order]
    uses = np.bincount(owners, minlength=len(distinct)).astype(np.int32)  # pairs still to send, per formula
    offsets = np.concatenate([[0], np.cumsum(uses)])
    del owners, pair_ids, order
    log.info("rendering %d distinct formulas (%d gold items) on %s", len(distinct), n, executor.description)

    # Outcomes are shared objects (one per distinct status and message, one per combination of
    # them), so each pair holds a reference, and each formula an index into them.
    outcome_ids: dict[tuple[str, str], int] = {}
    outcome_list: list[RenderOutcome] = []
    status = np.full(len(distinct), -1, np.int32)
    images: dict[int, np.ndarray | None] = {}
    stats = {k: np.zeros((n, len(m.stat_names))) for k, m in metrics.items()}
    excluded_stats = {k: m.stats_from_results([EXCLUDED])[0] for k, m in metrics.items()}
    size = pair_chunk_size(n, executor.parallelism)
    runner = ChunkRunner(executor, compare_pair_job, split=split_pair_job)
    ready: list[int] = []

    def send(batch: list[int]) -> None:
        job_ids, job_pairs = [], []
        for k in batch:
            gi, pi = int(g_of[k]), int(p_of[k])
            g_image = images[gi]
            if g_image is None:
                for name, row in excluded_stats.items():  # gold failed: nothing to compare
                    stats[name][k] = row
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
            ids = list(job.ids)
            for name, metric in metrics.items():
                stats[name][ids] = metric.stats_from_results(out)

    try:
        for idx, result in renderer.render_stream(distinct):
            status[idx] = outcome_ids.setdefault((result.status, result.message), len(outcome_ids))
            if status[idx] == len(outcome_list):
                outcome_list.append(RenderOutcome(result.status, result.message))
            images[idx] = result.image if result.status == "ok" else None
            for k in by_formula[offsets[idx] : offsets[idx + 1]]:
                gi, pi = g_of[k], p_of[k]
                if status[gi] >= 0 and (pi < 0 or status[pi] >= 0):
                    ready.append(int(k))
            if len(ready) >= size:
                send(ready)
                ready = []
            take(runner.completed(block=False))
        send(ready)
        take(runner.drain())
    except BaseException:
        runner.cancel()
        raise
    assert not images and (status >= 0).all()

    missing = RenderOutcome("missing", "no prediction for this image")
    combined: dict[tuple[int, int], tuple[RenderOutcome, RenderOutcome]] = {}
    outcomes = []
    for gi, pi in zip(status[g_of].tolist(), np.where(p_of < 0, -1, status[p_of]).tolist()):
        pair = combined.get((gi, pi))
        if pair is None:
            pair = combined[(gi, pi)] = (outcome_list[gi], missing if pi < 0 else outcome_list[pi])
        outcomes.append(pair)
    return stats, outcomes
