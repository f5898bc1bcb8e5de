"""Where the report's pictures come from, and the pictures it draws itself.

A report shows, per sample, the gold render, the predicted render and a diff picture. Renders come
from an :class:`ImageSource`: the renderer (through its cache, so re-rendering after ``score`` is
cheap) or folders of PNGs someone already rendered (``gold/<image>``, ``pred/<image>``).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from PIL import Image

from markupeval.errors import InputError
from markupeval.images import ImagePairResult, compare_images
from markupeval.images.io import load_grayscale

log = logging.getLogger("markupeval")


@dataclass(frozen=True)
class Picture:
    """One render as the report needs it: the image, or why there is none."""

    status: str  # "ok" | "error" | "timeout" | "too_large" | "missing" | "not_rendered"
    image: np.ndarray | None = None
    message: str = ""


class ImageSource(Protocol):
    description: str

    def pictures(self, gold: Sequence[str], predictions: Sequence[str | None], names: Sequence[str]) -> tuple[list[Picture], list[Picture]]:
        """Gold and predicted pictures for each sample, in order."""


class RendererImages:
    """Renders gold and predictions with :mod:`markupeval.rendering` (its cache makes this cheap)."""

    def __init__(self, **settings) -> None:
        try:
            from markupeval.rendering import Renderer
        except ImportError as exc:  # the renderer is part of this package; its absence is a broken install
            raise InputError(f"the renderer is not available ({exc}); pass --gold-images/--pred-images or --no-images") from None
        self.renderer = Renderer(**settings)
        self.description = f"rendered with markupeval.rendering [{self.renderer.signature()}]"

    def pictures(self, gold, predictions, names):
        present = [i for i, p in enumerate(predictions) if p is not None]
        results = self.renderer.render(list(gold) + [predictions[i] for i in present])
        gold_pics = [Picture(r.status, r.image if r.status == "ok" else None, r.message) for r in results[: len(gold)]]
        pred_pics = [Picture("missing", None, "no prediction for this image")] * len(predictions)
        for i, r in zip(present, results[len(gold) :]):
            pred_pics[i] = Picture(r.status, r.image if r.status == "ok" else None, r.message)
        return gold_pics, pred_pics


class FolderImages:
    """Renders made elsewhere: ``gold_dir/<image>`` and ``pred_dir/<image>`` PNGs (absent = not rendered)."""

    def __init__(self, gold_dir: Path | str, pred_dir: Path | str) -> None:
        self.gold_dir, self.pred_dir = Path(gold_dir), Path(pred_dir)
        for d in (self.gold_dir, self.pred_dir):
            if not d.is_dir():
                raise InputError("image folder not found", d)
        self.description = f"renders read from {self.gold_dir} and {self.pred_dir}"

    def pictures(self, gold, predictions, names):
        gold_pics = [self._load(self.gold_dir / n) for n in names]
        pred_pics = [
            self._load(self.pred_dir / n) if p is not None else Picture("missing", None, "no prediction for this image")
            for n, p in zip(names, predictions)
        ]
        return gold_pics, pred_pics

    @staticmethod
    def _load(path: Path) -> Picture:
        if not path.is_file():
            return Picture("not_rendered", None, f"no render at {path}")
        return Picture("ok", load_grayscale(path))


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of a render (bilevel: stored as 1-bit) or of a diff picture (few colours: a palette PNG).

    No ``optimize``: it tripled the report's time on the full test set for a few percent of size.
    """
    if image.ndim == 2 and np.isin(image, (0, 255)).all():
        pil = Image.fromarray(image).convert("1")
    elif image.ndim == 3:
        # One integer per pixel: a 1-D unique is far cheaper than np.unique(axis=0) over RGB rows.
        packed = (image[..., 0].astype(np.uint32) << 16) | (image[..., 1].astype(np.uint32) << 8) | image[..., 2]
        codes, index = np.unique(packed, return_inverse=True)
        if len(codes) <= 256:
            pil = Image.fromarray(index.reshape(image.shape[:2]).astype(np.uint8), "P")
            rgb = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=1)
            pil.putpalette(rgb.astype(np.uint8).ravel().tolist())
        else:
            pil = Image.fromarray(image, "RGB")
    else:
        pil = Image.fromarray(image)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return buf.getvalue()


def compare_pair(gold: Picture, pred: Picture) -> ImagePairResult | None:
    """The pair's image metrics with its column alignment, when both sides rendered."""
    if gold.image is None:
        return None
    return compare_images(gold.image, pred.image, keep_opcodes=True)
