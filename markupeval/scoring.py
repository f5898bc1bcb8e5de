"""``score()``: align a predictions file with its gold and compute every protocol metric.

Defaults reproduce the original IM2LATEX-100K scripts (see docs/PROTOCOL.md in the shared
docs); each deviation is a named field of :class:`ScoreConfig` and shows in the run signature.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Sequence

import numpy as np

from markupeval.errors import InputError
from markupeval.formats import (
    GoldSet,
    Prediction,
    PredictionSet,
    gold_from_results,
    image_key,
    read_gold,
    read_predictions,
)
from markupeval.metrics import get_metric
from markupeval.metrics.base import Score, Signature
from markupeval.render_gold import RenderGold, read_render_gold
from markupeval.run import RenderOutcome, RunResult, SampleResult

if TYPE_CHECKING:
    from markupeval.image_scoring import ImageScoring

log = logging.getLogger("markupeval")

TEXT_METRICS = ("bleu", "edit_distance", "exact_match")


@dataclass(frozen=True)
class ScoreConfig:
    """Every setting that changes a number. Defaults are the original protocol ("compatible").

    The run signature's ``mode`` is ``compatible`` only when every field, and every pixel-changing
    render option (:class:`~markupeval.rendering.renderer.RenderSettings`), holds a value of the
    original protocol; otherwise ``custom:`` lists the fields that do not. A new setting is
    declared so (``tests/test_signature_settings.py`` enumerates ``dataclasses.fields(ScoreConfig)``
    and fails for a field that breaks a rule):

    1. a field whose default is the protocol's value, typed ``bool`` or ``Literal[...]`` (the test
       tries every other value), or with ``metadata={"examples": (...)}`` naming values to try;
    2. when the protocol itself allows several values (BLEU (tok) and BLEU (norm) are both the
       paper's), ``metadata={"protocol": (...)}`` lists them; any other value makes ``mode`` custom
       with no further code (:meth:`deviations` reads the fields generically);
    3. its value is recorded in the run signature (an item in ``_run_signature``), so two runs
       that differ only in it never share a signature.

    Options that change how the work is done, never a number (processes, cache, progress), are
    render execution options (``renderer.EXECUTION_OPTIONS``), not fields here.
    """

    #: What the gold holds: "norm" (normalized, BLEU (norm)) or "tok" (only tokenized, BLEU (tok)).
    gold_variant: Literal["norm", "tok"] = field(default="norm", metadata={"protocol": ("norm", "tok")})
    #: Edit distance over every gold item against the gold file (missing = empty), instead of the
    #: original's "only the predictions present, against the results file's own gold column".
    strict_edit_distance: bool = False
    #: Normalize predictions with markupeval.latex before scoring (raw-LaTeX models).
    normalize_predictions: bool = False
    #: Render gold and predictions and compute the image metrics (False: the protocol's text
    #: metrics only, which stay as the original computes them).
    images: bool = field(default=True, metadata={"protocol": (True, False)})
    #: Predictions for images that are not in the gold: "error" or "ignore" (dropped, counted).
    #: Neither changes a metric: ignoring drops what the original never saw.
    extra: Literal["error", "ignore"] = field(default="error", metadata={"protocol": ("error", "ignore")})
    #: Gold items whose gold line (or --render-gold line) is empty: "render" them as the original
    #: renders an empty formula (a blank page; in the text metrics an empty reference), or
    #: "exclude" them from every metric (counted as ``empty_gold_excluded``).
    empty_gold: Literal["render", "exclude"] = "render"
    #: Renderer keyword arguments (markupeval.rendering.Renderer). The pixel-changing ones are
    #: checked against the protocol's RenderSettings; execution options (workers, cache, ...) never
    #: change a number.
    render_options: dict = field(default_factory=dict, compare=False)
    #: Add CDM (cdm_f1, cdm_exprate; markupeval.metrics.cdm) with this variant ("official"/"fixed").
    cdm: bool = field(default=False, metadata={"protocol": (False, True)})  # adds metrics, changes none
    cdm_variant: Literal["official", "fixed"] = "official"

    def deviations(self) -> list[str]:
        """Names of the settings that differ from the original protocol (render settings by their
        RenderSettings field name, only when images are scored)."""
        default = ScoreConfig()
        out = []
        for f in fields(self):
            if f.name == "render_options":
                continue
            allowed = f.metadata.get("protocol", (getattr(default, f.name),))
            if getattr(self, f.name) not in allowed:
                out.append(f.name)
        if self.images:
            from markupeval.rendering.renderer import RenderSettings, render_settings

            chosen, protocol = render_settings(**self.render_options), render_settings()
            out.extend(f.name for f in fields(RenderSettings) if getattr(chosen, f.name) != getattr(protocol, f.name))
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
    render_gold: Path | str | None = None,
    dataset: str | None = None,
    crohme_dir: Path | str | None = None,
) -> RunResult:
    """Read the files and :func:`score` them. Without ``gold``, a results file's own gold column
    (which holds ``<unk>`` for out-of-vocabulary tokens) is the gold.

    ``render_gold``: a formula file read and aligned like ``gold`` whose formulas are rendered for
    the gold images (:mod:`markupeval.render_gold`). ``dataset``: a CROHME test set
    (:mod:`markupeval.data.crohme`) instead of ``gold``."""
    predictions = Path(predictions)
    if dataset is not None:
        if gold is not None or names is not None or split is not None or render_gold is not None:
            raise InputError("--dataset brings its own gold: give no --gold, --names, --split or --render-gold")
        return _score_crohme(predictions, dataset, crohme_dir, fmt, duplicates, config, name)
    gold_set = read_gold(gold, names=names, split=split) if gold is not None else None
    if gold is None and (names is not None or split is not None or render_gold is not None):
        raise InputError("--names/--split/--render-gold need --gold")
    render_set = read_render_gold(render_gold, gold_set, names=names, split=split) if render_gold is not None else None
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
    if render_set is not None:
        inputs["render_gold"] = str(render_gold)
    run = score(pred_set, gold_set, config, name=name or predictions.stem, inputs=inputs, render_gold=render_set)
    if render_set is not None:
        run.notes.append(f"gold images rendered from {render_gold} ({render_set.source}); text metrics against {gold}"
                         + ("" if config.images else "; with --no-images it only decides which lines are empty"))
    return run


def _score_crohme(predictions: Path, dataset: str, crohme_dir: Path | str | None, fmt: str,
                  duplicates: Literal["error", "first", "last"], config: ScoreConfig, name: str | None) -> RunResult:
    from markupeval.data.crohme import load_crohme

    if config.gold_variant != "norm":
        raise InputError("--dataset scores BLEU (norm) as 'bleu' and BLEU (tok) as 'bleu_tok'; leave --gold-variant at norm")
    crohme = load_crohme(dataset, crohme_dir)
    pred_set = read_predictions(predictions, fmt, duplicates=duplicates, line_names=[g.image for g in crohme.gold.items])
    inputs = {"predictions": str(predictions), "dataset": dataset, "gold": str(crohme.path), "format": pred_set.format}
    run = score(pred_set, crohme.gold, config, name=name or predictions.stem, inputs=inputs, tok_gold=crohme.tokenized)
    run.counts["gold_normalize_failed"] = len(crohme.failed)
    if crohme.failed:
        shown = "; ".join(f"{n} ({why})" for n, why in crohme.failed[:5])
        more = f" and {len(crohme.failed) - 5} more" if len(crohme.failed) > 5 else ""
        run.notes.append(
            f"{len(crohme.failed)} of {len(crohme.gold.items)} {dataset} ground-truth formulas could not be "
            f"normalized and are empty gold (--empty-gold {config.empty_gold}): {shown}{more}"
        )
    return run


def score(
    predictions: PredictionSet,
    gold: GoldSet,
    config: ScoreConfig = ScoreConfig(),
    *,
    name: str = "run",
    inputs: dict | None = None,
    render_gold: RenderGold | None = None,
    tok_gold: Sequence[str] | None = None,
) -> RunResult:
    """Score aligned predictions against gold with every metric of the protocol.

    ``render_gold``: formulas rendered for the gold images instead of the gold text (aligned with
    ``gold.items``). ``tok_gold``: tokenized gold, aligned likewise, for an extra ``bleu_tok``."""
    index = {image_key(g.image): i for i, g in enumerate(gold.items)}
    aligned: list[str | None] = [None] * len(gold.items)
    own_gold: list[str | None] = [None] * len(gold.items)
    failed: list[Prediction] = []  # the system reported an error on the image
    extra = []
    for p in predictions.items:
        i = index.get(image_key(p.image))
        if i is None:
            extra.append(p)
            continue
        aligned[i] = p.text
        own_gold[i] = p.gold_column
        if p.error:
            failed.append(p)
    if extra and config.extra == "error":
        first = extra[0]
        raise InputError(
            f"{len(extra)} prediction(s) name images that are not in the gold, first {first.image!r}; "
            "check --gold/--names/--split, or pass --extra ignore to drop them",
            predictions.path,
            first.line,
        )

    notes: list[str] = []
    if config.normalize_predictions:
        aligned, normalizer_sig, fallbacks = _normalize(aligned)
        notes.append(f"predictions normalized with {normalizer_sig}; {fallbacks} could not be parsed and were only tokenized")

    refs = [g.formula for g in gold.items]
    if render_gold is not None and len(render_gold.formulas) != len(refs):
        raise ValueError(f"{len(render_gold.formulas)} render-gold formulas for {len(refs)} gold items")
    render_refs = list(render_gold.formulas) if render_gold is not None else refs
    excluded = _excluded(refs, render_refs, config)
    stats: dict[str, np.ndarray] = {}
    metrics = {k: get_metric(k) for k in TEXT_METRICS}
    stats["bleu"] = metrics["bleu"].corpus_stats(aligned, refs)  # missing = empty hypothesis
    stats["exact_match"] = metrics["exact_match"].corpus_stats(aligned, refs)
    stats["edit_distance"] = _edit_distance_stats(metrics["edit_distance"], aligned, own_gold, refs, config)
    text_keys = list(TEXT_METRICS)
    if tok_gold is not None:
        stats["bleu_tok"] = metrics["bleu"].corpus_stats(aligned, list(tok_gold))
        metrics["bleu_tok"] = metrics["bleu"]
        text_keys.insert(1, "bleu_tok")
    for k in text_keys:
        stats[k][excluded] = 0.0  # zero statistics: the item adds nothing to any sum

    scores: dict[str, Score] = {k: metrics[k].aggregate(stats[k]) for k in text_keys}
    if tok_gold is not None:
        scores["bleu_tok"].name = "bleu_tok"
        scores["bleu_tok"].signature = Signature.from_items([("gold", "tok"), *scores["bleu"].signature.fields])
    stat_names = {k: list(metrics[k].stat_names) for k in text_keys}
    renders = None
    if config.images:
        image_part, renders = _score_images_kept(render_refs, aligned, excluded, config.render_options)
        stats.update(image_part.stats)
        scores.update(image_part.scores)
        stat_names.update(image_part.stat_names)

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
        "prediction_failed": len(failed),
    }
    if render_gold is not None:
        counts["render_gold_empty"] = render_gold.empty
    if config.empty_gold == "exclude":
        counts["empty_gold_excluded"] = int(excluded.sum())
    if renders is not None:
        counts["gold_render_failed"] = sum(1 for g, _ in renders if g.status not in ("ok", "excluded"))
        counts["pred_render_failed"] = sum(1 for _, p in renders if p.status not in ("ok", "missing", "excluded"))
    if cdm_part is not None:
        counts["cdm_gold_failed"] = len(cdm_part.gold_failed)
    if predictions.duplicates:
        notes.append(f"{len(predictions.duplicates)} duplicate prediction(s) dropped")
    if extra:
        notes.append(f"{len(extra)} prediction(s) for images not in the gold ignored")
    if failed:
        shown = "; ".join(f"{p.image}: {p.error}" for p in failed[:5]) + (" ..." if len(failed) > 5 else "")
        notes.append(f"{len(failed)} prediction(s) the system reported as failed (scored as given, usually empty): {shown}")

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

    signature = run_signature(config, gold.source, predictions.format,
                              render_gold.source if render_gold is not None else "gold")
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


def _excluded(refs: Sequence[str], render_refs: Sequence[str], config: ScoreConfig) -> np.ndarray:
    """Which items ``--empty-gold exclude`` takes out: an empty gold or render-gold line."""
    if config.empty_gold == "render":
        return np.zeros(len(refs), dtype=bool)
    return np.array([not r.strip() or not g.strip() for r, g in zip(refs, render_refs)], dtype=bool)


def _score_images_kept(
    render_refs: list[str], aligned: list[str | None], excluded: np.ndarray, render_options: dict
) -> tuple["ImageScoring", list[tuple[RenderOutcome, RenderOutcome]]]:
    """Image metrics over the items not excluded; excluded items get zero statistics and the
    render status ``excluded`` (they are neither rendered nor failures)."""
    from markupeval.image_scoring import score_images

    keep = np.flatnonzero(~excluded)
    if len(keep) == 0:
        raise InputError("--empty-gold exclude leaves no gold item to score: every gold line is empty")
    part = score_images([render_refs[i] for i in keep], [aligned[i] for i in keep], render_options)
    if len(keep) == len(render_refs):
        return part, part.outcomes
    for k, rows in part.stats.items():
        full = np.zeros((len(render_refs), len(part.stat_names[k])))
        full[keep] = rows
        part.stats[k] = full
    skipped = RenderOutcome("excluded", "empty gold (--empty-gold exclude)")
    outcomes: list[tuple[RenderOutcome, RenderOutcome]] = [(skipped, skipped)] * len(render_refs)
    for i, outcome in zip(keep, part.outcomes):
        outcomes[i] = outcome
    return part, outcomes


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


def run_signature(config: ScoreConfig, gold_source: str, prediction_format: str,
                  gold_render: str = "gold") -> Signature:
    """The signature of a run with these settings on inputs of this kind, without scoring it.

    Settings only, never outcomes (counts live in ``RunResult.counts``): two runs with the same
    settings on different files share a signature, as sacrebleu's do. ``gold_source`` is
    :attr:`GoldSet.source`, ``prediction_format`` the predictions file's format, ``gold_render``
    what the gold images were rendered from: ``gold`` (the gold text itself) or ``file@<hash>``
    (``--render-gold``).
    """
    deviations = config.deviations()
    normalizer_sig = "none"
    if config.normalize_predictions:
        from markupeval.latex import Normalizer

        # The run signature is flat key:value pairs, so only the normalizer's preset and mode go in.
        fields = Normalizer().signature().as_dict()
        normalizer_sig = f"{fields['normalizer']}/{fields['mode']}"
    items: list[tuple[str, object]] = [
        ("mode", "compatible" if not deviations else "custom:" + "+".join(deviations)),
        ("gold", config.gold_variant),
        ("gold_src", gold_source),
        ("empty_gold", config.empty_gold),
        ("text_missing", "empty"),
        ("ed_scope", "all" if config.strict_edit_distance else "predictions"),
        ("ed_ref", "gold" if config.strict_edit_distance or prediction_format != "results" else "results-column"),
        ("pred_norm", normalizer_sig),
        ("bleu", "multi-bleu"),
        ("extra", config.extra),
        ("images", "rendered" if config.images else "none"),
    ]
    if config.images:
        from markupeval.metrics import get_metric
        from markupeval.rendering import Renderer

        items.append(("gold_render", gold_render))
        options = {k: v for k, v in config.render_options.items() if k not in ("progress", "cache")}
        render_sig = Renderer(**options, cache=False).signature().merged(get_metric("image_match").signature())
        items.extend(render_sig.fields)
    if config.cdm:
        from markupeval.cdm_scoring import cdm_signature
        from markupeval.metrics.cdm import CDMConfig

        items.extend(_cdm_signature_items(cdm_signature(CDMConfig(variant=config.cdm_variant))))
    return Signature.from_items(items)
