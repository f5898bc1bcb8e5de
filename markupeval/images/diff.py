"""Diff pictures: where the gold and the predicted render agree, and where they do not.

Each picture is an RGB array: white background, ink present in both images black, ink only in the
gold red (the prediction lacks it), ink only in the prediction blue (the prediction adds it). Given
the column alignment behind Match (``ImagePairResult.opcodes``), the prediction's columns are placed
under the gold columns they were aligned with, so a shifted but otherwise equal formula shows
black, and inserted or deleted columns show as solid blue or red bands; without it the two images
are simply overlaid at the top-left corner. With ``mark_breaks``, an orange bar under the picture
marks the columns that break Match (the report and ``compare-images --diff-dir`` draw it).

This is the one diff picture of the project: the report and the CLI call it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from markupeval.images.columns import INK_THRESHOLD, ink_mask
from markupeval.images.compare import COLUMN_TOLERANCE, Opcode

WHITE = (255, 255, 255)
BOTH = (0, 0, 0)
GOLD_ONLY = (214, 39, 40)
PRED_ONLY = (31, 119, 180)
MARK = (255, 150, 0)
MARK_HEIGHT = 4  # rows of the bar, under a 2-row white gap


def diff_picture(
    gold: np.ndarray,
    pred: np.ndarray | None,
    opcodes: Sequence[Opcode] | None = None,
    *,
    ink_threshold: int = INK_THRESHOLD,
    mark_breaks: bool = False,
) -> np.ndarray:
    """``(height, width, 3)`` uint8 picture of the ink in gold only, prediction only and both.

    ``pred=None`` (missing prediction) shows all gold ink as missing. ``opcodes`` are column
    opcodes from gold to prediction, as :func:`~markupeval.images.compare_images` keeps them with
    ``keep_opcodes=True``. ``mark_breaks`` (with ``opcodes``) adds the bar under every op that is
    not ``equal`` and spans 5 or more gold columns: the places that make the pair a mismatch.
    """
    gold_ink = ink_mask(gold, ink_threshold)
    pred_ink = ink_mask(pred, ink_threshold) if pred is not None else np.zeros((1, 0), dtype=bool)
    height = max(gold_ink.shape[0], pred_ink.shape[0])
    # One blank column appended to each image stands in for "no column here" in the alignment.
    g = np.zeros((height, gold_ink.shape[1] + 1), dtype=bool)
    g[: gold_ink.shape[0], : gold_ink.shape[1]] = gold_ink
    p = np.zeros((height, pred_ink.shape[1] + 1), dtype=bool)
    p[: pred_ink.shape[0], : pred_ink.shape[1]] = pred_ink
    if opcodes is None or pred is None:
        width = max(gold_ink.shape[1], pred_ink.shape[1])
        gold_cols = np.arange(width)
        pred_cols = np.arange(width)
        gold_cols[gold_cols >= gold_ink.shape[1]] = gold_ink.shape[1]
        pred_cols[pred_cols >= pred_ink.shape[1]] = pred_ink.shape[1]
    else:
        gold_cols, pred_cols = _aligned_columns(opcodes, gold_ink.shape[1], pred_ink.shape[1])
    a, b = g[:, gold_cols], p[:, pred_cols]
    picture = np.empty(a.shape + (3,), dtype=np.uint8)
    picture[...] = WHITE
    picture[a & b] = BOTH
    picture[a & ~b] = GOLD_ONLY
    picture[~a & b] = PRED_ONLY
    if not mark_breaks:
        return picture
    out = np.full((picture.shape[0] + MARK_HEIGHT + 2, picture.shape[1], 3), 255, np.uint8)
    out[: picture.shape[0]] = picture
    if opcodes and pred is not None:
        # The picture's x axis runs along the alignment: each op takes max(gold, pred) columns.
        x = 0
        for tag, i1, i2, j1, j2 in opcodes:
            n = max(i2 - i1, j2 - j1)
            if tag != "equal" and i2 - i1 >= COLUMN_TOLERANCE:
                out[picture.shape[0] + 2 :, x : x + n] = MARK
            x += n
    return out


def _aligned_columns(opcodes: Sequence[Opcode], gold_width: int, pred_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Column index pairs along the alignment; the width index stands for a missing column."""
    if not opcodes or opcodes[-1][2] != gold_width or opcodes[-1][4] != pred_width:
        raise ValueError(f"opcodes do not span a {gold_width}-column gold and a {pred_width}-column prediction")
    gold_cols: list[int] = []
    pred_cols: list[int] = []
    for tag, i1, i2, j1, j2 in opcodes:
        # equal/replace pair columns one to one; the longer side of a replace, and every delete or
        # insert, face a missing column.
        n = max(i2 - i1, j2 - j1)
        gold_cols.extend(range(i1, i2))
        gold_cols.extend([gold_width] * (n - (i2 - i1)))
        pred_cols.extend(range(j1, j2))
        pred_cols.extend([pred_width] * (n - (j2 - j1)))
    return np.asarray(gold_cols, dtype=np.intp), np.asarray(pred_cols, dtype=np.intp)


def save_diff_picture(path: Path | str, picture: np.ndarray) -> Path:
    """Write a diff picture as PNG; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(picture).save(path)
    return path
