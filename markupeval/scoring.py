"""``score()``: align a predictions file with its gold and compute every protocol metric.

Defaults reproduce the original IM2LATEX-100K scripts (see docs/PROTOCOL.md in the shared
docs); each deviation is a named field of :class:`ScoreConfig` and shows in the run signature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from markupeval.errors import InputError
from markupeval.formats import (
    GoldSet,
    PredictionSet,
    gold_from_results,
    image_key,
    read_gold,
    read_predictions,
)
from markupeval.metrics import get_metric
from markupeval.metrics.base import Score, Signature
from markupeval.run import RunResult, SampleResult

log = logging.getLogger("markupeval")

TEXT_METRICS = ("bleu", "edit_distance", "exact_match")


@dataclass(frozen=True)
class ScoreConfig:
    """Every setting that changes a number. Defaults are the original protocol ("compatible")."""

    #: What the gold holds: "norm" (normalized, BLEU (norm)) or "tok" (only tokenized, BLEU (tok)).
    gold_variant: Literal["norm", "tok"] = "norm"
    #: Edit distance over every gold item against the gold file (missing = empty), instead of the
    #: original's "only the predictions present, against the results file's own gold column".
    strict_edit_distance: bool = False
    #: Normalize predictions with markupeval.latex before scoring (raw-LaTeX models).
    normalize_predictions: bool = False
    #: Render gold and predictions and compute the image metrics.
    images: bool = True
    #: Predictions for images that are not in the gold: "error" or "ignore" (dropped, counted).
    extra: Literal["error", "ignore"] = "error"
    #: Renderer settings (markupeval.rendering.Renderer keyword arguments).
    render_options: dict = field(default_factory=dict, compare=False)
    #: Add CDM (cdm_f1, cdm_exprate; markupeval.metrics.cdm) with this variant ("official"/"fixed").
    cdm: bool = False
    cdm_variant: str = "official"

    def deviations(self) -> list[str]:
        """Names of the settings that differ from the original protocol."""
        default = ScoreConfig()
        out = []
        for f in fields(self):
            if f.name in ("gold_variant", "extra", "images", "render_options", "cdm", "cdm_variant"):
                continue  # not deviations from the protocol: they describe the inputs or scope
            if getattr(self, f.name) != getattr(default, f.name):
                out.append(f.name)
        return out


def score_files(
    predictions: Path | str,
    gold: Path | str | None = None,
    *,
    names: Path | str | None = None,
    split: Path | str | None = None,
    fmt: str = "auto",
    duplicates: Literal["error", "first", "last"] = "error",
    config: ScoreConfig = ScoreConfig(),
    name: str | None = None,
) -> RunResult:
    """Read the files and :func:`score` them. Without ``gold``, a results file's own gold column
    (which holds ``<unk>`` for out-of-vocabulary tokens) is the gold."""
    predictions = Path(predictions)
    gold_set = read_gold(gold, names=names, split=split) if gold is not None else None
    if gold is None and (names is not None or split is not None):
        raise InputError("--names/--split need --gold")
    line_names = [g.image for g in gold_set.items] if gold_set is not None else None
    pred_set = read_predictions(predictions, fmt, duplicates=duplicates, line_names=line_names)
    if gold_set is None:
        if pred_set.format != "results":
            raise InputError(
                f"no --gold given and the predictions are in '{pred_set.format}' format, which has "
                "no gold column; pass --gold (with --names or --split)",
                predictions,
            )
        gold_set = gold_from_results(pred_set)
    inputs = {
        "predictions": str(predictions),
        "gold": str(gold) if gold is not None else None,
        "names": str(names) if names is not None else None,
        "split": str(split) if split is not None else None,
        "format": pred_set.format,
    }
    return score(pred_set, gold_set, config, name=name or predictions.stem, inputs=inputs)


def score(
    predictions: PredictionSet,
    gold: GoldSet,
    config: ScoreConfig = ScoreConfig(),
    *,
    name: str = "run",
    inputs: dict | None = None,
) -> RunResult:
    """Score aligned predictions against gold with every metric of the protocol."""
    index = {image_key(g.image): i for i, g in enumerate(gold.items)}
    aligned: list[str | None] = [None] * len(gold.items)
    own_gold: list[str | None] = [None] * len(gold.items)
    extra = []
    for p in predictions.items:
        i = index.get(image_key(p.image))
        if i is None:
            extra.append(p)
            continue
        aligned[i] = p.text
        own_gold[i] = p.gold_column
    if extra and config.extra == "error":
        first = extra[0]
        raise InputError(
            f"{len(extra)} prediction(s) name images that are not in the gold, first {first.image!r}; "
            "check --gold/--names/--split, or pass --extra ignore to drop them",
            predictions.path,
            first.line,
        )

    notes: list[str] = []
    normalizer_sig = "none"
    if config.normalize_predictions:
        aligned, normalizer_sig, fallbacks = _normalize(aligned)
        notes.append(f"predictions normalized with {normalizer_sig}; {fallbacks} could not be parsed and were only tokenized")

    refs = [g.formula for g in gold.items]
    stats: dict[str, np.ndarray] = {}
    metrics = {k: get_metric(k) for k in TEXT_METRICS}
    stats["bleu"] = metrics["bleu"].corpus_stats(aligned, refs)  # missing = empty hypothesis
    stats["exact_match"] = metrics["exact_match"].corpus_stats(aligned, refs)
    stats["edit_distance"] = _edit_distance_stats(metrics["edit_distance"], aligned, own_gold, refs, config)

    scores: dict[str, Score] = {k: metrics[k].aggregate(stats[k]) for k in TEXT_METRICS}
    stat_names = {k: list(metrics[k].stat_names) for k in TEXT_METRICS}
    render_sig: Signature | None = None
    renders = None
    if config.images:
        from markupeval.image_scoring import score_images

        image_part = score_images(refs, aligned, config.render_options)
        stats.update(image_part.stats)
        scores.update(image_part.scores)
        stat_names.update(image_part.stat_names)
        render_sig = image_part.signature
        renders = image_part.outcomes

    cdm_part = None
    if config.cdm:
        cdm_part = _score_cdm(refs, aligned, config)
        stats.update(cdm_part.stats)
        scores.update(cdm_part.scores)
        stat_names.update(cdm_part.stat_names)

    present = sum(a is not None for a in aligned)
    counts = {
        "gold": len(gold.items),
        "predictions": len(predictions.items),
        "scored": present,
        "missing": len(gold.items) - present,
        "duplicates": len(predictions.duplicates),
        "extra": len(extra),
        "empty_gold": sum(1 for r in refs if not r.strip()),
    }
    if renders is not None:
        counts["gold_render_failed"] = sum(1 for g, _ in renders if g.status != "ok")
        counts["pred_render_failed"] = sum(1 for _, p in renders if p.status not in ("ok", "missing"))
    if cdm_part is not None:
        counts["cdm_gold_failed"] = len(cdm_part.gold_failed)
    if predictions.duplicates:
        notes.append(f"{len(predictions.duplicates)} duplicate prediction(s) dropped")
    if extra:
        notes.append(f"{len(extra)} prediction(s) for images not in the gold ignored")

    samples = []
    for i, g in enumerate(gold.items):
        sample = SampleResult(
            image=g.image,
            gold=g.formula,
            prediction=aligned[i],
            stats={k: stats[k][i].tolist() for k in stats},
        )
        if renders is not None:
            sample.gold_render, sample.pred_render = renders[i]
        if cdm_part is not None:
            sample.cdm = _cdm_record(cdm_part, i)
        samples.append(sample)

    signature = _run_signature(gold, predictions, config, normalizer_sig, scores, render_sig, counts)
    if cdm_part is not None:
        signature = Signature.from_items([*signature.fields, *_cdm_signature_items(cdm_part.signature)])
    return RunResult(
        name=name,
        inputs=inputs or {"format": predictions.format},
        scores=scores,
        counts=counts,
        signature=signature,
        samples=samples,
        stat_names=stat_names,
        notes=notes,
    )


def _score_cdm(refs: list[str], aligned: list[str | None], config: ScoreConfig):
    from markupeval.cdm_scoring import score_cdm
    from markupeval.metrics.cdm import CDMConfig

    # Only the settings that do not change CDM's renders pass: CDM has its own template,
    # rasteriser and (official) 30-s limit.
    options = {k: v for k, v in config.render_options.items() if k in ("workers", "cache", "progress")}
    return score_cdm(refs, aligned, CDMConfig(variant=config.cdm_variant), options)


def _cdm_record(part, i: int) -> dict:
    """What the report needs to draw a sample's CDM: status, tokens with boxes, matched flags."""
    r, g, p = part.results[i], part.gold_boxes[i], part.pred_boxes[i]
    return {
        "status": r.status, "f1": r.f1, "recall": r.recall, "precision": r.precision,
        "gold_tokens": list(g.tokens), "gold_index": list(g.index), "gold_matched": list(r.gt_matched),
        "pred_tokens": list(p.tokens) if p is not None else [], "pred_index": list(p.index) if p is not None else [],
        "pred_matched": list(r.pred_matched),
    }


def _cdm_signature_items(sig: Signature) -> list[tuple[str, str]]:
    # The run signature is flat: CDM's renderer settings get a cdm_ prefix beside the image ones.
    return [(k if k.startswith("cdm_") else f"cdm_{k}", v) for k, v in sig.fields if k not in ("metric", "version")]


def _edit_distance_stats(metric, aligned, own_gold, refs, config: ScoreConfig) -> np.ndarray:
    if config.strict_edit_distance:
        return metric.corpus_stats([a or "" for a in aligned], refs)
    # The original script iterates over the results file's lines only, against their own gold
    # column: absent predictions contribute nothing.
    out = np.zeros((len(refs), len(metric.stat_names)))
    for i, (pred, own, ref) in enumerate(zip(aligned, own_gold, refs)):
        if pred is not None:
            out[i] = metric.segment_stats(pred, own if own is not None else ref)
    return out


def _normalize(aligned: Sequence[str | None]) -> tuple[list[str | None], str, int]:
    from markupeval.latex import Normalizer

    normalizer = Normalizer()
    out: list[str | None] = []
    fallbacks = 0
    for text in aligned:
        if text is None:
            out.append(None)
            continue
        result = normalizer.normalize(text)
        fallbacks += int(result.fallback)
        out.append(result.text)
    # The run signature is flat key:value pairs, so only the normalizer's preset and mode go in.
    fields = normalizer.signature().as_dict()
    return out, f"{fields['normalizer']}/{fields['mode']}", fallbacks


def _run_signature(
    gold: GoldSet,
    predictions: PredictionSet,
    config: ScoreConfig,
    normalizer_sig: str,
    scores: dict[str, Score],
    render_sig: Signature | None,
    counts: dict[str, int],
) -> Signature:
    deviations = config.deviations()
    items: list[tuple[str, object]] = [
        ("mode", "compatible" if not deviations else "custom:" + "+".join(deviations)),
        ("gold", config.gold_variant),
        ("gold_src", gold.source),
        ("text_missing", "empty"),
        ("ed_scope", "all" if config.strict_edit_distance else "predictions"),
        ("ed_ref", "gold" if config.strict_edit_distance or predictions.format != "results" else "results-column"),
        ("pred_norm", normalizer_sig),
        ("bleu", "multi-bleu"),
    ]
    if render_sig is not None:
        items.extend(render_sig.fields)
        items.append(("gold_render_failed", counts.get("gold_render_failed", 0)))
    return Signature.from_items(items)
