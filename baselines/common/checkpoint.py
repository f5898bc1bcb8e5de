"""Checkpoints hold everything needed to rebuild a model and resume its training.

Like nanoGPT's, a checkpoint stores the model's config dataclass as a dict beside the weights, plus
the vocabulary, so prediction needs nothing but the checkpoint file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from markupeval.errors import InputError

FORMAT = 1


def save(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a run killed mid-save keeps its previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format": FORMAT, **payload}, tmp)
    os.replace(tmp, path)


def load(path: Path, kind: str | None = None) -> dict[str, Any]:
    """Load on CPU (callers move the model); ``kind`` checks it is the right baseline's file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("checkpoint not found", path)
    try:
        # weights_only: checkpoints are plain dicts/tensors/lists, so never unpickle code from one.
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise InputError(f"not a readable checkpoint: {exc}", path) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise InputError("not a markupeval baseline checkpoint (missing or unknown format)", path)
    if kind is not None and ckpt.get("kind") != kind:
        raise InputError(f"checkpoint is for baseline {ckpt.get('kind')!r}, not {kind!r}", path)
    return ckpt
