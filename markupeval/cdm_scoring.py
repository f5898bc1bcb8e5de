"""CDM over a corpus: colour-render gold and predictions once, match every pair, aggregate.

Policies (stated in :mod:`markupeval.metrics.cdm`): a gold without boxes is excluded from both
means and listed in ``gold_failed``; a prediction without boxes, or a missing one, scores 0. The
numbers do not depend on the number of workers: rendering is per formula, matching is sequential
and seeded per pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from markupeval.metrics.base import Score, Signature
from markupeval.metrics.cdm import CDMConfig, CDMExpRate, CDMF1, CDMResult, score_pair
from markupeval.rendering.boxes import TokenBoxes, TokenBoxRenderer

log = logging.getLogger("markupeval")

CDM_METRICS = ("cdm_f1", "cdm_exprate")


@dataclass
class CDMScoring:
    results: list[CDMResult]
    gold_boxes: list[TokenBoxes]
    pred_boxes: list[TokenBoxes | None]
    stats: dict[str, np.ndarray]
    scores: dict[str, Score]
    stat_names: dict[str, list[str]]
    signature: Signature
    gold_failed: list[int]  # indices of gold items without boxes (excluded, listed)


def score_cdm(
    gold: Sequence[str],
    predictions: Sequence[str | None],
    config: CDMConfig = CDMConfig(),
    render_options: dict | None = None,
) -> CDMScoring:
    """CDM of every (gold, prediction) pair; ``None`` is a missing prediction (scores 0)."""
    if len(gold) != len(predictions):
        raise ValueError(f"cdm: {len(gold)} gold formulas but {len(predictions)} predictions")
    renderer = TokenBoxRenderer(comments=config.comments, **(render_options or {}))
    distinct = list(dict.fromkeys([*gold, *(p for p in predictions if p is not None)]))
    at = {f: k for k, f in enumerate(distinct)}
    log.info("cdm: rendering %d distinct formulas (%d pairs)", len(distinct), len(gold))
    # Each pair is matched as soon as both of its renders are in, so the driver matches while the
    # workers still render instead of after them.
    users: list[list[int]] = [[] for _ in distinct]
    waiting = np.zeros(len(gold), dtype=np.int64)
    for i, (g, p) in enumerate(zip(gold, predictions)):
        for k in {at[g], *(() if p is None else (at[p],))}:
            users[k].append(i)
            waiting[i] += 1
    boxes: list[TokenBoxes | None] = [None] * len(distinct)
    results: list[CDMResult | None] = [None] * len(gold)
    for k, b in renderer.render_stream(distinct):
        boxes[k] = b
        for i in users[k]:
            waiting[i] -= 1
            if waiting[i] == 0:
                results[i] = _score(boxes[at[gold[i]]], None if predictions[i] is None else boxes[at[predictions[i]]],
                                    config)
    gold_boxes = [boxes[at[g]] for g in gold]
    pred_boxes = [None if p is None else boxes[at[p]] for p in predictions]
    metrics = {"cdm_f1": CDMF1(config), "cdm_exprate": CDMExpRate(config)}
    stats = {k: np.array([m.stats_of(r) for r in results], dtype=np.float64).reshape(-1, 2)
             for k, m in metrics.items()}
    scores = {k: metrics[k].aggregate(stats[k]) for k in CDM_METRICS}
    gold_failed = [i for i, r in enumerate(results) if not r.counted]
    if gold_failed:
        log.warning("cdm: %d gold formula(s) without boxes are excluded from CDM", len(gold_failed))
    signature = cdm_signature(config, renderer)
    return CDMScoring(results, gold_boxes, pred_boxes, stats, scores,
                      {k: list(metrics[k].stat_names) for k in CDM_METRICS}, signature, gold_failed)


def _score(gb: TokenBoxes, pb: TokenBoxes | None, config: CDMConfig) -> CDMResult:
    if pb is None or not pb.ok:
        return score_pair(gb.tokens, gb.boxes, gb.size, None, None, None, config)
    return score_pair(gb.tokens, gb.boxes, gb.size, pb.tokens, pb.boxes, pb.size, config)


def cdm_signature(config: CDMConfig = CDMConfig(), renderer: "TokenBoxRenderer | None" = None) -> Signature:
    """CDM's settings (variant, table version, matching parameters) and its renderer's, without
    scoring anything: what ``run_signature`` records for a run with CDM."""
    renderer = renderer or TokenBoxRenderer(cache=False, comments=config.comments)
    return CDMF1(config).signature().merged(renderer.signature())
