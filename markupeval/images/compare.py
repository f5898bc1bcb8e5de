"""Everything the image metrics need from one gold/prediction pair, computed at once, and in bulk.

:func:`compare_images` reproduces im2markup's ``img_edit_distance`` (``evaluate_image.py``) for one
pair: the column edit distance, its reference length, Match and Match (-ws). The rules, as
docs/PROTOCOL.md states them:

- a pixel is ink if its value is at most 128; each column, top to bottom, is a symbol; the shorter
  image is padded with blank pixels at the bottom;
- edit distance = Levenshtein distance over exact columns; ref = the wider image's width;
- Match: identical column sequences match; otherwise columns are clustered greedily (fewer than 5
  differing pixels joins the first earlier representative) and the cluster strings aligned with
  Levenshtein opcodes; a non-``equal`` op spanning 5 or more *gold* columns breaks the match
  (so insertions never do);
- Match (-ws): the same after deleting blank columns from both images, without the identical-
  sequence shortcut; if either side is then empty, it matches only if both are;
- a missing prediction costs the gold width and matches nothing.

:func:`compare_image_pairs` runs many pairs in chunks on an executor (:mod:`markupeval.executor`:
a local process pool or a Dask cluster); streaming scoring submits :class:`PairJob` chunks itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import Levenshtein
import numpy as np

from markupeval.images.columns import (
    INK_THRESHOLD,
    PIXEL_TOLERANCE,
    as_symbols,
    column_alphabet,
    greedy_clusters,
    ink_mask,
    near_sets,
)
from markupeval.images.io import load_grayscale

if TYPE_CHECKING:
    from markupeval.executor import Executor

log = logging.getLogger("markupeval")

#: A non-equal alignment op breaks a match when it spans at least this many gold columns.
COLUMN_TOLERANCE = 5

#: An opcode as python-Levenshtein returns it: (tag, gold_start, gold_end, pred_start, pred_end).
Opcode = tuple[str, int, int, int, int]


@dataclass(frozen=True)
class ImagePairResult:
    """The image metrics of one pair.

    ``gold_rendered=False`` marks a gold image that failed to render: the pair is excluded from
    every image metric (statistics ``(0, 0)``). ``pred_rendered=False`` marks a missing prediction
    (failed render or absent): distance = ref = gold width, no match. ``opcodes`` is the column
    alignment behind Match (with whitespace), kept only on request, for diff pictures and reports.
    """

    edit_distance: int
    ref: int
    match: bool
    match_ws: bool
    gold_rendered: bool = True
    pred_rendered: bool = True
    opcodes: tuple[Opcode, ...] | None = None

    @property
    def counted(self) -> bool:
        """Whether the pair counts in the corpus values (its gold image rendered)."""
        return self.gold_rendered


EXCLUDED = ImagePairResult(edit_distance=0, ref=0, match=False, match_ws=False, gold_rendered=False)


def compare_images(
    gold: np.ndarray | None,
    pred: np.ndarray | None,
    *,
    keep_opcodes: bool = False,
    ink_threshold: int = INK_THRESHOLD,
    pixel_tolerance: int = PIXEL_TOLERANCE,
    column_tolerance: int = COLUMN_TOLERANCE,
) -> ImagePairResult:
    """Image edit distance, ref, Match and Match (-ws) of one pair of 2-D uint8 grayscale images.

    ``gold=None`` is a gold render failure (excluded); ``pred=None`` a missing prediction.
    """
    if gold is None:
        return EXCLUDED
    gold_ink = ink_mask(gold, ink_threshold)
    width = gold_ink.shape[1]
    if pred is None:
        return ImagePairResult(width, width, False, False, pred_rendered=False)
    pred_ink = ink_mask(pred, ink_threshold)
    ref = max(width, pred_ink.shape[1])

    # Most pairs of a good model are pixel-identical renders; settle them before building symbols.
    same = gold_ink.shape == pred_ink.shape and np.array_equal(gold_ink, pred_ink)
    if same:
        edit_distance = 0
    else:
        alphabet = column_alphabet(gold_ink, pred_ink)
        n = alphabet.size
        edit_distance = Levenshtein.distance(as_symbols(alphabet.gold_ids, n), as_symbols(alphabet.pred_ids, n))

    if edit_distance == 0:
        # Identical column sequences: the original's shortcut makes this a match, and with the
        # same columns deleted from both the cluster strings are identical too, so Match (-ws)
        # holds as well (both empty counts as a match). No clustering needed.
        opcodes = [("equal", 0, width, 0, width)] if keep_opcodes else None
        return ImagePairResult(0, int(ref), True, True, opcodes=_freeze(opcodes))

    near = near_sets(alphabet.words, pixel_tolerance)
    blank = alphabet.blank_id

    labels = greedy_clusters(near)
    opcodes = Levenshtein.opcodes(as_symbols(labels[alphabet.gold_ids], n), as_symbols(labels[alphabet.pred_ids], n))
    match = _aligned(opcodes, column_tolerance)

    # Match (-ws): blank columns deleted, and clusters rebuilt without the blank column in the
    # walk (where it was a representative it would otherwise have absorbed faint columns).
    if blank is None:
        gold_ws, pred_ws, labels_ws = alphabet.gold_ids, alphabet.pred_ids, labels
    else:
        gold_ws = alphabet.gold_ids[alphabet.gold_ids != blank]
        pred_ws = alphabet.pred_ids[alphabet.pred_ids != blank]
        labels_ws = None
    if len(gold_ws) == 0 or len(pred_ws) == 0:
        match_ws = len(gold_ws) == len(pred_ws)
    elif np.array_equal(gold_ws, pred_ws):
        match_ws = True  # identical ink columns give identical cluster strings
    else:
        if labels_ws is None:
            labels_ws = greedy_clusters(near, skip=blank)
        gold_t = as_symbols(labels_ws[gold_ws], n)
        pred_t = as_symbols(labels_ws[pred_ws], n)
        # Identical strings align with 'equal' ops only; skip the quadratic alignment for them.
        match_ws = gold_t == pred_t or _aligned(Levenshtein.opcodes(gold_t, pred_t), column_tolerance)

    return ImagePairResult(
        edit_distance=int(edit_distance),
        ref=int(ref),
        match=bool(match),
        match_ws=bool(match_ws),
        opcodes=_freeze(opcodes) if keep_opcodes else None,
    )


def _freeze(opcodes: Sequence[Opcode] | None) -> tuple[Opcode, ...] | None:
    return None if opcodes is None else tuple(tuple(op) for op in opcodes)


def _aligned(opcodes: Sequence[Opcode], column_tolerance: int) -> bool:
    """The original's rule: only a non-equal op covering >= tolerance gold columns breaks a match."""
    return not any(tag != "equal" and i2 - i1 >= column_tolerance for tag, i1, i2, _, _ in opcodes)


# ---------------------------------------------------------------------------------------------
# Many pairs, in chunks, on an executor (a local process pool or a cluster).

#: Below this many pairs a pool costs more (start-up, pickling) than it saves.
MIN_PAIRS_FOR_POOL = 64


@dataclass(frozen=True)
class PairJob:
    """A chunk of pairs for a worker: images (or image file paths, read in the worker)."""

    ids: tuple[int, ...]  # the pairs' indices in the caller's sequence
    pairs: tuple[tuple[object, object], ...]
    keep_opcodes: bool = False
    files: bool = False


def compare_pair_job(job: PairJob) -> list[ImagePairResult]:
    """:func:`compare_images` over a chunk (the executor's task)."""
    out = []
    for g, p in job.pairs:
        if job.files:
            g = None if g is None else load_grayscale(g)
            p = None if p is None else load_grayscale(p)
        out.append(compare_images(g, p, keep_opcodes=job.keep_opcodes))
    return out


def split_pair_job(job: PairJob) -> tuple[PairJob, PairJob] | None:
    if len(job.pairs) < 2:
        return None
    half = len(job.pairs) // 2
    return (PairJob(job.ids[:half], job.pairs[:half], job.keep_opcodes, job.files),
            PairJob(job.ids[half:], job.pairs[half:], job.keep_opcodes, job.files))


def pair_chunk_size(pairs: int, parallelism: int) -> int:
    """Many small chunks balance the load (pair costs vary with width and with whether the pair
    needs clustering at all); results are tiny, so a chunk's overhead is one message."""
    return max(16, min(256, pairs // (parallelism * 16) or 1))


def compare_image_pairs(
    golds: Sequence[np.ndarray | None],
    preds: Sequence[np.ndarray | None],
    workers: int | None = None,
    *,
    keep_opcodes: bool = False,
    progress: Callable[[int], None] | None = None,
    executor: "Executor | str | None" = None,
) -> list[ImagePairResult]:
    """:func:`compare_images` over aligned sequences, in input order, on an executor.

    ``golds[i] is None``: gold render failed (excluded). ``preds[i] is None``: missing prediction.
    ``workers=None`` uses every CPU this process may use; 1 runs in this process; ``executor``
    (see :func:`markupeval.executor.make_executor`) overrides both. ``progress`` is called with
    the number of pairs finished after each chunk.
    """
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold images but {len(preds)} predictions")
    return _run(list(zip(golds, preds)), False, workers, keep_opcodes, progress, executor)


def compare_image_files(
    golds: Sequence[Path | str | None],
    preds: Sequence[Path | str | None],
    workers: int | None = None,
    *,
    keep_opcodes: bool = False,
    progress: Callable[[int], None] | None = None,
    executor: "Executor | str | None" = None,
) -> list[ImagePairResult]:
    """Like :func:`compare_image_pairs` for image files, read in the workers (PIL ``convert('L')``,
    as the original). ``None`` paths mean a failed gold render / a missing prediction; an
    unreadable file raises :class:`~markupeval.errors.InputError` naming it."""
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold images but {len(preds)} predictions")
    jobs = [(None if g is None else str(g), None if p is None else str(p)) for g, p in zip(golds, preds)]
    return _run(jobs, True, workers, keep_opcodes, progress, executor)


def _run(
    pairs: list,
    files: bool,
    workers: int | None,
    keep_opcodes: bool,
    progress: Callable[[int], None] | None,
    executor: "Executor | str | None",
) -> list[ImagePairResult]:
    from markupeval.executor import ChunkRunner, make_executor

    own = executor is None or isinstance(executor, str)
    if executor is None and (workers == 1 or len(pairs) < MIN_PAIRS_FOR_POOL):
        executor = "local:1"
    ex = make_executor(executor, workers)
    size = pair_chunk_size(len(pairs), ex.parallelism) if ex.parallelism > 1 else 256
    log.debug("comparing %d image pairs on %s, %d per chunk", len(pairs), ex.description, size)
    results: list[ImagePairResult | None] = [None] * len(pairs)
    runner: ChunkRunner[PairJob, list[ImagePairResult]] = ChunkRunner(ex, compare_pair_job, split=split_pair_job)

    def take(job: PairJob, out: list[ImagePairResult]) -> None:
        for i, r in zip(job.ids, out):
            results[i] = r
        if progress:
            progress(len(out))

    try:
        for start in range(0, len(pairs), size):
            while runner.full:
                for done in runner.completed(block=True):
                    take(*done)
            stop = min(start + size, len(pairs))
            runner.submit(PairJob(tuple(range(start, stop)), tuple(pairs[start:stop]), keep_opcodes, files))
        for done in runner.drain():
            take(*done)
    except BaseException:
        runner.cancel()
        raise
    finally:
        if own:
            ex.close()
    return results  # type: ignore[return-value]
