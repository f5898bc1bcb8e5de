"""The one training loop every neural baseline uses (nanoGPT's ``train.py``, as a function).

A model plugs in by implementing ``training_loss(batch) -> LossParts``. The default recipe is the
paper's: SGD with lr 0.1, the rate halved whenever validation perplexity fails to improve on the
previous epoch, 12 epochs, the checkpoint with the best validation perplexity kept.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from markupeval.baselines.common import checkpoint
from markupeval.baselines.common.config import TrainConfig
from markupeval.baselines.common.data import Batch, ImageSet, Vocabulary, bucket_batches
from markupeval.baselines.common.device import autocast, get_rng_state, set_rng_state

log = logging.getLogger("markupeval")


@dataclass
class LossParts:
    """One batch's loss. ``nll`` and ``tokens`` stay tensors on the model's device: reading them
    as Python numbers forces a host sync per step, which stalls a GPU's queue of kernels."""

    loss: torch.Tensor    # scalar to back-propagate
    nll: torch.Tensor     # detached scalar: summed negative log-likelihood of the batch's target tokens
    tokens: torch.Tensor  # scalar: number of target tokens it was summed over (incl. </s> where modelled)


class Trainable(Protocol):
    def training_loss(self, batch: Batch) -> LossParts: ...


@dataclass
class TrainResult:
    best_val_perplexity: float
    epochs_done: int
    steps: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def _ppl(nll: torch.Tensor, tokens: torch.Tensor) -> float:
    return math.exp(min(float(nll) / max(int(tokens), 1), 50.0))


def lr_after_validation(lr: float, val_ppl: float, prev_val_ppl: float | None, decay: float) -> float:
    """The paper's schedule: halve the rate when perplexity did not improve on the last epoch."""
    if prev_val_ppl is not None and val_ppl >= prev_val_ppl:
        return lr * decay
    return lr


#: The cooldown ends at this share of the scheduled rate, not at zero: the last steps still learn.
COOLDOWN_FLOOR = 0.05


def cooldown_factor(seconds: float, max_minutes: float | None, cooldown: float) -> float:
    """The multiplier on the scheduled rate ``seconds`` into a run budgeted ``max_minutes``.

    1 until the last ``cooldown`` share of the budget, then linear down to COOLDOWN_FLOOR at its end
    (the warmup-stable-decay shape of budgeted training). It follows the wall clock because the
    budget does: a run stopped by --max-minutes then always stops at the end of its decay.
    """
    if not max_minutes or cooldown <= 0:
        return 1.0
    budget = max_minutes * 60
    start = budget * (1 - min(cooldown, 1.0))
    if seconds <= start:
        return 1.0
    done = min((seconds - start) / (budget - start), 1.0)
    return 1.0 - (1.0 - COOLDOWN_FLOOR) * done


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}")


@torch.no_grad()
def evaluate_perplexity(model: Trainable, data: ImageSet, batch_size: int, device: torch.device, precision: str) -> float:
    """exp(summed NLL / tokens) over a split, in eval mode."""
    was_training = model.training  # type: ignore[attr-defined]
    model.eval()  # type: ignore[attr-defined]
    nll = torch.zeros((), dtype=torch.float64, device=device)
    tokens = torch.zeros((), dtype=torch.long, device=device)
    data.plan(bucket_batches(data.sizes, batch_size, shuffle=False))
    for batch in data.loader(device):
        with autocast(device, precision):
            parts = model.training_loss(batch.to(device))
        nll += parts.nll
        tokens += parts.tokens
    model.train(was_training)  # type: ignore[attr-defined]
    return math.exp(min(float(nll) / max(int(tokens), 1), 50.0))


def fit(
    model: torch.nn.Module,
    kind: str,
    model_config: Any,
    vocab: Vocabulary,
    train_set: ImageSet,
    val_set: ImageSet,
    cfg: TrainConfig,
    out_dir: Path,
    device: torch.device,
    resume: bool = False,
    extra: Callable[[], dict[str, Any]] | None = None,
) -> TrainResult:
    """Train ``model`` and write ``last.pt`` / ``best.pt`` / ``history.jsonl`` under ``out_dir``.

    With ``resume`` and an existing ``last.pt``, weights, optimiser, learning rate, epoch and
    position inside the epoch are restored; epoch orders depend only on (seed, epoch), so a resumed
    CPU run continues with exactly the batches it would have seen.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.to(device)
    opt = make_optimizer(model, cfg)
    state = {"epoch": 0, "step_in_epoch": 0, "steps": 0, "lr": cfg.lr, "best": math.inf,
             "prev_val": None, "seconds": 0.0}
    history: list[dict[str, Any]] = []
    last = out_dir / "last.pt"
    if resume and last.is_file():
        ckpt = checkpoint.load(last, kind)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state.update(ckpt["train_state"])
        history = list(ckpt.get("history", []))
        if "rng" in ckpt:
            set_rng_state(ckpt["rng"])
        else:
            log.warning("%s holds no RNG state (an older checkpoint): a run that samples (c2f-hard) "
                        "continues with fresh random draws, so it will not equal an uninterrupted run", last)
        log.info("resumed from %s at epoch %d step %d", last, state["epoch"] + 1, state["step_in_epoch"])

    def payload() -> dict[str, Any]:
        return {"kind": kind, "config": dataclasses.asdict(model_config), "vocab": vocab.tokens,
                "model": model.state_dict(), "optimizer": opt.state_dict(), "train_state": dict(state),
                "train_config": dataclasses.asdict(cfg), "history": history, "rng": get_rng_state(),
                **(extra() if extra else {})}

    started = time.monotonic() - state["seconds"]
    out_of_time = False
    model.train()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[info]}"), transient=False) as progress:
        while state["epoch"] < cfg.epochs and not out_of_time:
            epoch = state["epoch"]
            for group in opt.param_groups:
                group["lr"] = state["lr"]
            batches = bucket_batches(train_set.sizes, cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch)
            skip = state["step_in_epoch"]
            task = progress.add_task(f"epoch {epoch + 1}/{cfg.epochs}", total=len(batches), completed=skip, info="")
            # Sums stay on the device; they are read (one host sync) only every `log_every` steps.
            nll_sum = torch.zeros((), dtype=torch.float64, device=device)
            tok_sum = torch.zeros((), dtype=torch.long, device=device)
            img_sum, t0 = 0, time.monotonic()
            train_set.plan(batches[skip:])
            for batch in train_set.loader(device, cfg.workers):
                batch = batch.to(device)
                if cfg.cooldown:
                    factor = cooldown_factor(state["seconds"], cfg.max_minutes, cfg.cooldown)
                    for group in opt.param_groups:
                        group["lr"] = state["lr"] * factor
                with autocast(device, cfg.precision):
                    parts = model.training_loss(batch)
                opt.zero_grad(set_to_none=True)
                parts.loss.backward()
                if cfg.max_grad_norm:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                state["steps"] += 1
                state["step_in_epoch"] += 1
                nll_sum += parts.nll
                tok_sum += parts.tokens
                img_sum += len(batch.names)
                dt = max(time.monotonic() - t0, 1e-9)
                if state["step_in_epoch"] % cfg.log_every == 0:
                    progress.update(task, advance=1, info=f"ppl {_ppl(nll_sum, tok_sum):.3f} "
                                    f"lr {opt.param_groups[0]['lr']:.3g} {img_sum / dt:.1f} img/s")
                else:
                    progress.update(task, advance=1)
                state["seconds"] = time.monotonic() - started
                if cfg.max_minutes is not None and state["seconds"] > cfg.max_minutes * 60:
                    out_of_time = True
                    break
                if cfg.checkpoint_every and state["steps"] % cfg.checkpoint_every == 0:
                    checkpoint.save(last, payload())
                    # A log line too: the progress bar shows nothing when output goes to a file.
                    log.info("step %d (epoch %d): train ppl %.3f, lr %.3g, %.1f img/s", state["steps"], epoch + 1,
                             _ppl(nll_sum, tok_sum), opt.param_groups[0]["lr"], img_sum / dt)
            dt = max(time.monotonic() - t0, 1e-9)
            val_ppl = evaluate_perplexity(model, val_set, cfg.batch_size, device, cfg.precision)
            record = {"epoch": epoch + 1, "steps": state["steps"], "complete": not out_of_time,
                      "train_ppl": _ppl(nll_sum, tok_sum), "val_ppl": val_ppl,
                      "lr": state["lr"], "lr_applied": opt.param_groups[0]["lr"],
                      "images_per_s": img_sum / dt, "tokens_per_s": int(tok_sum) / dt,
                      "seconds": time.monotonic() - started}
            history.append(record)
            log.info("epoch %d: train ppl %.3f, val ppl %.3f, lr %.3g, %.1f img/s", epoch + 1,
                     record["train_ppl"], val_ppl, state["lr"], record["images_per_s"])
            with open(out_dir / "history.jsonl", "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")
            improved = val_ppl < state["best"]
            if improved:
                state["best"] = val_ppl
            if not out_of_time:
                state["lr"] = lr_after_validation(state["lr"], val_ppl, state["prev_val"], cfg.lr_decay)
                state["prev_val"] = val_ppl
                state["epoch"] += 1
                state["step_in_epoch"] = 0
            state["seconds"] = time.monotonic() - started
            if improved:
                checkpoint.save(out_dir / "best.pt", payload())
            checkpoint.save(last, payload())
    return TrainResult(state["best"], state["epoch"], state["steps"], state["seconds"], history)
