"""Device choice and the per-device settings that go with it (threads, autocast, determinism)."""

from __future__ import annotations

import contextlib
import logging
import random
from typing import Any, Iterator

import numpy as np
import torch

from markupeval.errors import MarkupEvalError

log = logging.getLogger("markupeval")


def select_device(name: str = "auto") -> torch.device:
    """``auto`` takes CUDA when present; asking for ``cuda`` without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MarkupEvalError("--device cuda was asked for but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise MarkupEvalError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device(name)


def seed_everything(seed: int, device: torch.device, threads: int | None = None) -> None:
    """Seed every RNG the baselines use. On CPU this makes runs bit-for-bit repeatable."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if threads:
        torch.set_num_threads(threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        # cuDNN autotuning picks the fastest kernels for each bucket's image size; GPU runs trade
        # bitwise repeatability for speed, which the README says.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def get_rng_state() -> dict[str, Any]:
    """Every RNG state a training step draws from, in a form a ``weights_only`` checkpoint holds.

    Only torch's generators are drawn from inside the loop (hard attention samples its coarse
    cell with ``torch.multinomial``); epoch orders come from their own seeded ``random.Random``.
    """
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def uses_bf16(device: torch.device, precision: str = "auto") -> bool:
    """``auto`` is bf16 on CUDA (no loss scaling needed, unlike fp16) and fp32 on CPU."""
    if precision not in ("auto", "fp32", "bf16"):
        raise MarkupEvalError(f"unknown precision {precision!r}: use auto, fp32 or bf16")
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "auto") -> Iterator[None]:
    """bf16 autocast where :func:`uses_bf16` says so, else plain fp32."""
    if uses_bf16(device, precision):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield
