"""The paper's image preprocessing: crop, pad 8 px, group into width x height buckets, downsample x2.

This reproduces harvardnlp/im2markup ``scripts/preprocessing/preprocess_images.py`` with
``scripts/utils/image_utils.py`` exactly, on 2-D ``uint8`` arrays (255 = white):

1. ``crop_image``: convert to grayscale, keep the bounding box of every pixel ``!= 255``. A blank
   page becomes a white image of the "default size" ``[600, 60]`` -- but the original crops the box
   ``(0, 0, 600 + 1, 60 + 1)``, so a blank image is **601 x 61**; we keep that quirk.
2. ``pad_group_image``: the padded size is ``(w + 8 + 8, h + 8 + 8)``; the bucket is the **first**
   bucket in list order with ``padded_w <= bucket_w and padded_h <= bucket_h`` (not the smallest by
   area); the image is pasted at ``(8, 8)`` on a white canvas of the bucket's size. An image that
   fits no bucket keeps its padded size.
3. ``downsample_image``: ``PIL.Image.resize((int(w / 2), int(h / 2)), LANCZOS)`` (the script's
   ``PIL.Image.LANCZOS`` filter, formerly ``ANTIALIAS``), applied to the whole canvas.

Buckets are given at the processed (downsampled) size, as in the paper's footnote 8; the
script's ``--buckets`` option takes them "after padding and before downsampling", i.e. twice
these. :data:`PAPER_BUCKETS` is the paper's list, :data:`IM2MARKUP_DEFAULT_BUCKETS` the script's
default argument (halved), kept for reproducing the script with no options.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
from PIL import Image

#: Width x height groups of the ICML 2017 paper, footnote 8 (processed, i.e. downsampled, sizes).
PAPER_BUCKETS: tuple[tuple[int, int], ...] = (
    (128, 32), (128, 64), (160, 32), (160, 64), (192, 32), (192, 64), (224, 32), (224, 64),
    (256, 32), (256, 64), (320, 32), (320, 64), (384, 32), (384, 64), (384, 96),
    (480, 32), (480, 64), (480, 128), (480, 160),
)  # fmt: skip

#: ``preprocess_images.py``'s default ``--buckets`` (pre-downsampling sizes), halved.
IM2MARKUP_DEFAULT_BUCKETS: tuple[tuple[int, int], ...] = tuple(
    (w // 2, h // 2)
    for w, h in (
        (240, 100), (320, 80), (400, 80), (400, 100), (480, 80), (480, 100), (560, 80), (560, 100),
        (640, 80), (640, 100), (720, 80), (720, 100), (720, 120), (720, 200), (800, 100), (800, 320),
        (1000, 200), (1000, 400), (1200, 200), (1600, 200), (1600, 1600),
    )  # fmt: skip
)

BUCKET_PRESETS: dict[str, tuple[tuple[int, int], ...]] = {
    "paper": PAPER_BUCKETS,
    "im2markup-default": IM2MARKUP_DEFAULT_BUCKETS,
}


@dataclass(frozen=True)
class PreprocessSettings:
    """Every setting of the preprocessing; recorded in the manifest and in the cache key."""

    buckets: tuple[tuple[int, int], ...] = PAPER_BUCKETS
    bucket_preset: str = "paper"
    pad: tuple[int, int, int, int] = (8, 8, 8, 8)  # top, left, bottom, right
    downsample_ratio: float = 2.0
    blank_default_size: tuple[int, int] = (600, 60)
    resample: str = "lanczos"

    def canvas_buckets(self) -> list[tuple[int, int]]:
        """Buckets before downsampling, as the original script's ``--buckets`` takes them."""
        r = self.downsample_ratio
        return [(int(round(w * r)), int(round(h * r))) for w, h in self.buckets]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["buckets"] = [list(b) for b in self.buckets]
        return d


@dataclass(frozen=True)
class Processed:
    """A processed image and what happened to it on the way."""

    image: np.ndarray  # 2-D uint8
    blank: bool  # the input had no ink: replaced by the blank default crop
    bucket: tuple[int, int] | None  # processed-size bucket, None when it fit no bucket
    cropped_size: tuple[int, int] = field(default=(0, 0))  # (width, height) after cropping


def crop(image: np.ndarray, blank_default_size: tuple[int, int] | None = (600, 60)) -> tuple[np.ndarray, bool]:
    """Bounding box of non-white pixels; ``(image, False)`` when blank (see module docstring)."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale array, got shape {image.shape}")
    rows = np.flatnonzero((image != 255).any(axis=1))
    if rows.size == 0:
        if blank_default_size is None:
            return image, False
        w, h = blank_default_size
        # The original crops (0, 0, w + 1, h + 1) of the page: PIL pads outside the page with 0,
        # but a full page is always larger, so the result is white.
        return np.full((h + 1, w + 1), 255, dtype=np.uint8), False
    cols = np.flatnonzero((image != 255).any(axis=0))
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], True


def choose_bucket(
    padded_size: tuple[int, int], canvas_buckets: Sequence[tuple[int, int]]
) -> int | None:
    """Index of the first bucket (in list order) that holds ``padded_size``, else None."""
    w, h = padded_size
    for i, (bw, bh) in enumerate(canvas_buckets):
        if w <= bw and h <= bh:
            return i
    return None


def pad_to_bucket(
    image: np.ndarray, pad: tuple[int, int, int, int], canvas_buckets: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, int | None]:
    top, left, bottom, right = pad
    h, w = image.shape
    padded = (w + left + right, h + top + bottom)
    j = choose_bucket(padded, canvas_buckets)
    cw, ch = canvas_buckets[j] if j is not None else padded
    canvas = np.full((ch, cw), 255, dtype=np.uint8)
    canvas[top : top + h, left : left + w] = image
    return canvas, j


_RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
             "bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}  # fmt: skip


def downsample(image: np.ndarray, ratio: float, resample: str = "lanczos") -> np.ndarray:
    """``int(w / ratio) x int(h / ratio)`` with PIL's filter, as ``downsample_image`` does.

    The original resizes the RGB canvas ``pad_group_image`` made; its three channels are equal,
    and PIL filters each channel alike, so resizing the gray image gives the same pixels.
    """
    if ratio <= 1:
        raise ValueError(f"downsample ratio must be > 1, got {ratio}")
    h, w = image.shape
    size = (int(w / ratio), int(h / ratio))
    return np.asarray(Image.fromarray(image, mode="L").resize(size, _RESAMPLE[resample]), dtype=np.uint8)


def preprocess(image: np.ndarray, settings: PreprocessSettings = PreprocessSettings()) -> Processed:
    """Crop, pad, bucket and downsample one grayscale image (255 = white)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    cropped, inked = crop(image, settings.blank_default_size)
    canvas_buckets = settings.canvas_buckets()
    canvas, j = pad_to_bucket(cropped, settings.pad, canvas_buckets)
    out = downsample(canvas, settings.downsample_ratio, settings.resample)
    bucket = settings.buckets[j] if j is not None else None
    return Processed(out, blank=not inked, bucket=bucket, cropped_size=(cropped.shape[1], cropped.shape[0]))
