"""Segmentation: connected components of the binarised formula image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage  # its labelling is the fastest available

# The protocol's ink threshold: a pixel is ink when its grey value is <= 128.
INK_THRESHOLD = 128
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass
class Component:
    """One connected blob of ink; ``mask`` is cropped to the bounding box [top, bottom) x [left, right)."""

    top: int
    left: int
    bottom: int
    right: int
    mask: np.ndarray

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


def binarise(image: np.ndarray) -> np.ndarray:
    """Boolean ink mask of a 2-D grayscale image (255 = white)."""
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {image.shape}")
    return image <= INK_THRESHOLD


def connected_components(ink: np.ndarray) -> list[Component]:
    """8-connected components, sorted left to right (then top to bottom)."""
    labels, count = ndimage.label(ink, structure=_EIGHT_CONNECTED)
    comps = []
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        rows, cols = box
        mask = labels[box] == index
        comps.append(Component(rows.start, cols.start, rows.stop, cols.stop, mask))
    comps.sort(key=lambda c: (c.left, c.top))
    return comps


def merge_masks(parts: list[Component]) -> Component:
    """One component covering several parts (a symbol drawn in pieces, such as ``i`` or ``=``)."""
    top = min(p.top for p in parts)
    left = min(p.left for p in parts)
    bottom = max(p.bottom for p in parts)
    right = max(p.right for p in parts)
    mask = np.zeros((bottom - top, right - left), dtype=bool)
    for p in parts:
        mask[p.top - top : p.bottom - top, p.left - left : p.right - left] |= p.mask
    return Component(top, left, bottom, right, mask)
