"""Device choice and the per-device settings that go with it (threads, autocast, determinism)."""

from __future__ import annotations

import contextlib
import logging
import random
from typing import Iterator

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


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """bf16 autocast on CUDA (no loss scaling needed, unlike fp16); plain fp32 on CPU."""
    if device.type == "cuda" and enabled:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
