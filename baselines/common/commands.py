"""The ``baseline train`` / ``baseline predict`` flows every neural baseline shares.

A baseline describes itself with a :class:`BaselineSpec` (how to build its config and model, how
to decode a batch); these functions do the rest: read data, train with the common loop, load a
checkpoint, predict and write the files ``markupeval score`` reads.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from markupeval.allocator import keep_freed_memory
from markupeval.baselines.common import checkpoint
from markupeval.baselines.common.config import train_config_from_args
from markupeval.baselines.common.data import ImageSet, bucket_batches, training_vocabulary
from markupeval.baselines.common.device import autocast, seed_everything, select_device
from markupeval.baselines.common.train import fit
from markupeval.data import Im2LatexDataset, Vocabulary, read_formulas
from markupeval.data.reader import list_file
from markupeval.errors import InputError

log = logging.getLogger("markupeval")


@dataclass
class DecodeOut:
    ids: list[list[int]]               # per image, without <s>/</s>
    scores: list[float]                # per image, log-probability of the output
    stats: dict[str, float] = field(default_factory=dict)  # summed counters (e.g. attention lookups)


@dataclass
class BaselineSpec:
    kind: str                                                       # "im2tex", "ctc"
    config_cls: type
    model_cls: type
    make_config: Callable[[argparse.Namespace, int], Any]          # (args, vocab size) -> config
    describe: Callable[[Any], str]                                  # config -> "IM2TEX standard (paper)"
    default_batch_size: Callable[[Any], int]
    default_lr: Callable[[Any, argparse.Namespace], float]
    decode: Callable[[torch.nn.Module, torch.Tensor, int, int | None], DecodeOut]  # (model, images, beam, max_len)
    gold_logprob: Callable[[torch.nn.Module, Any], torch.Tensor]   # (model, Batch) -> (B,)
    summarize: Callable[[dict[str, float]], dict[str, float]] = lambda s: {}


def run_train(args: argparse.Namespace, spec: BaselineSpec) -> int:
    console = Console()
    roots = [Path(d) for d in args.data]
    keep_freed_memory()  # tensors of changing shapes were unmapped and faulted in again
    device = select_device(args.device)
    seed_everything(args.seed, device, args.threads)
    # A synthetic set has only a training list: validation reads the directories that have one.
    val_roots = [r for r in roots if list_file(r, "validate").is_file()] or roots
    train_ds, val_ds = Im2LatexDataset(roots, "train"), Im2LatexDataset(val_roots, "validate")
    formulas = read_formulas(Path(args.formulas)) if getattr(args, "formulas", None) else None
    vocab = training_vocabulary(train_ds, formulas)
    train = ImageSet.from_dataset(train_ds, vocab, formulas, args.max_tokens, args.train_limit)
    val = ImageSet.from_dataset(val_ds, vocab, formulas, args.max_tokens, args.val_limit)
    if not train.names or not val.names:
        raise InputError(f"need training and validation samples, got {len(train.names)} and {len(val.names)}",
                         roots[0])
    cfg = spec.make_config(args, len(vocab))
    model = spec.model_cls(cfg)
    if getattr(args, "init_from", None):
        init = checkpoint.load(Path(args.init_from), spec.kind)
        if list(init["vocab"]) != vocab.tokens:
            raise InputError("checkpoint was trained with a different vocabulary", args.init_from)
        try:
            missing, unexpected = model.load_state_dict(init["model"], strict=False)
        except RuntimeError as exc:  # tensor shapes differ: another --size
            raise InputError(f"checkpoint does not fit this model: {exc}", args.init_from) from None
        if unexpected or missing:
            raise InputError(f"checkpoint does not fit this model (missing {missing}, unexpected {unexpected})",
                             args.init_from)
    n_params = sum(p.numel() for p in model.parameters())
    console.print(f"{spec.describe(cfg)}: {n_params:,} parameters; {len(train.names):,} training and "
                  f"{len(val.names):,} validation formulas; vocabulary {len(vocab)}; device {device}")
    tc = train_config_from_args(args, spec.default_batch_size(cfg), spec.default_lr(cfg, args))
    out = Path(args.out)
    result = fit(model, spec.kind, cfg, vocab, train, val, tc, out, device, resume=args.resume)
    table = Table(title=f"{spec.describe(cfg)} training")
    for col in ("epochs", "steps", "minutes", "best val perplexity", "checkpoint"):
        table.add_column(col)
    table.add_row(str(result.epochs_done), str(result.steps), f"{result.seconds / 60:.1f}",
                  f"{result.best_val_perplexity:.4f}", str(out / "best.pt"))
    console.print(table)
    return 0


def load_model(path: Path, spec: BaselineSpec, device: torch.device) -> tuple[torch.nn.Module, Vocabulary, Any]:
    ckpt = checkpoint.load(path, spec.kind)
    try:
        cfg = spec.config_cls(**ckpt["config"])
        model = spec.model_cls(cfg)
        model.load_state_dict(ckpt["model"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise InputError(f"checkpoint does not describe a valid {spec.kind} model: {exc}", path) from exc
    return model.to(device).eval(), Vocabulary(list(ckpt["vocab"])), cfg


def run_predict(args: argparse.Namespace, spec: BaselineSpec) -> int:
    keep_freed_memory()  # half of decoding's CPU time was page faults without it
    device = select_device(args.device)
    seed_everything(0, device, args.threads)
    model, vocab, cfg = load_model(Path(args.checkpoint), spec, device)
    if args.images:
        if args.results:
            raise InputError("--results needs gold formulas: predict a dataset split with --data", args.results)
        data = ImageSet.from_directory(Path(args.images), vocab, args.limit)
    else:
        data = ImageSet.from_dataset(Im2LatexDataset(Path(args.data), args.split), vocab, limit=args.limit)
    preds, stats = predict(model, spec, data, args.beam, args.batch_size, device, args.precision,
                           gold_scores=bool(args.results), max_len=args.max_len)
    write_jsonl(Path(args.out), data.names, preds)
    if args.results:
        write_results(Path(args.results), data, preds)
    console = Console()
    summary = {"images": len(data.names), **spec.summarize(stats)}
    console.print(f"{spec.describe(cfg)}: wrote {args.out} " + json.dumps(summary))
    return 0


@dataclass
class Prediction:
    tokens: list[str]
    score: float
    gold_score: float | None = None


def predict(model: torch.nn.Module, spec: BaselineSpec, data: ImageSet, beam: int, batch_size: int,
            device: torch.device, precision: str = "auto", gold_scores: bool = False,
            max_len: int | None = None) -> tuple[dict[str, Prediction], dict[str, float]]:
    """Decode every image; returns predictions by image name and the summed decoder counters."""
    preds: dict[str, Prediction] = {}
    stats: Counter[str] = Counter()
    batches = bucket_batches(data.sizes, batch_size, shuffle=False)
    with Progress(transient=True) as progress:
        task = progress.add_task("decoding", total=len(data.names))
        data.plan(batches)
        for batch in data.loader(device):
            batch = batch.to(device)
            with torch.no_grad(), autocast(device, precision):
                out = spec.decode(model, batch.images, beam, max_len)
                gold = spec.gold_logprob(model, batch).tolist() if gold_scores else [None] * len(batch.names)
            stats.update(out.stats)
            for name, ids, score, g in zip(batch.names, out.ids, out.scores, gold):
                preds[name] = Prediction(data.vocab.decode(ids), score, g)
            progress.advance(task, len(batch.names))
    return preds, dict(stats)


def write_jsonl(path: Path, names: list[str], preds: dict[str, Prediction]) -> None:
    """The interface every baseline shares: one {"image", "prediction"} line per image, input order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for name in names:
            fh.write(json.dumps({"image": name, "prediction": " ".join(preds[name].tokens)}) + "\n")


def write_results(path: Path, data: ImageSet, preds: dict[str, Prediction]) -> None:
    """im2markup's results.txt: image, gold, prediction, prediction log-prob, gold log-prob (tabs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for name, gold in zip(data.names, data.tokens):
            p = preds[name]
            fh.write(f"{name}\t{' '.join(gold)}\t{' '.join(p.tokens)}\t{p.score:.4f}\t{p.gold_score:.4f}\n")
