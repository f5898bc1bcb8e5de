"""Symbol features: a size-normalised bitmap plus absolute size.

All images are rendered at the protocol's 200 dpi from a 12pt document, so absolute pixel size is
meaningful: it separates display, script and scriptscript sizes and ``o`` from ``O``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

GRID = 16
# Weight of the log2 height/width features against the bitmap's Euclidean distance: script and
# display sizes (a factor 1.5) then differ by about as much as two distinct glyphs do.
SIZE_WEIGHT = 6.0
FEATURE_DIM = GRID * GRID + 2


@lru_cache(maxsize=512)
def _area_matrix(n: int) -> np.ndarray:
    """(GRID, n) matrix averaging n pixels into GRID cells by exact area overlap.

    Unlike nearest-neighbour resampling it leaves no holes when a glyph is smaller than GRID.
    """
    edges = np.arange(n + 1, dtype=np.float64) * GRID / n
    start, end = edges[:-1], edges[1:]
    cells = np.arange(GRID, dtype=np.float64)[:, None]
    overlap = np.clip(np.minimum(end[None, :], cells + 1) - np.maximum(start[None, :], cells), 0, None)
    return overlap.astype(np.float32)


def bitmap_feature(mask: np.ndarray) -> np.ndarray:
    """GRID x GRID ink coverage of the mask stretched to a square (aspect ratio kept separately)."""
    h, w = mask.shape
    return (_area_matrix(h) @ mask.astype(np.float32) @ _area_matrix(w).T).ravel()


def features(masks: list[np.ndarray]) -> np.ndarray:
    """(n, FEATURE_DIM) float32 feature matrix for a list of boolean masks."""
    out = np.empty((len(masks), FEATURE_DIM), dtype=np.float32)
    for i, mask in enumerate(masks):
        h, w = mask.shape
        out[i, :-2] = bitmap_feature(mask)
        out[i, -2] = SIZE_WEIGHT * np.log2(h)
        out[i, -1] = SIZE_WEIGHT * np.log2(w)
    return out
