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

:func:`compare_image_pairs` runs many pairs over a process pool; it is what scoring calls.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Empty
from typing import Callable, Iterator, Sequence

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
# Many pairs over a process pool.

#: Below this many pairs a pool costs more (start-up, pickling) than it saves.
MIN_PAIRS_FOR_POOL = 64


def compare_image_pairs(
    golds: Sequence[np.ndarray | None],
    preds: Sequence[np.ndarray | None],
    workers: int | None = None,
    *,
    keep_opcodes: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[ImagePairResult]:
    """:func:`compare_images` over aligned sequences, in input order, spread over processes.

    ``golds[i] is None``: gold render failed (excluded). ``preds[i] is None``: missing prediction.
    ``workers=None`` uses every CPU this process may use; 1 runs in this process. ``progress`` is called with the
    number of pairs finished after each chunk.
    """
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold images but {len(preds)} predictions")
    jobs = list(zip(golds, preds))
    return _run(_compare_chunk, jobs, workers, keep_opcodes, progress)


def compare_image_files(
    golds: Sequence[Path | str | None],
    preds: Sequence[Path | str | None],
    workers: int | None = None,
    *,
    keep_opcodes: bool = False,
    progress: Callable[[int], None] | None = None,
) -> list[ImagePairResult]:
    """Like :func:`compare_image_pairs` for image files, read in the workers (PIL ``convert('L')``,
    as the original). ``None`` paths mean a failed gold render / a missing prediction; an
    unreadable file raises :class:`~markupeval.errors.InputError` naming it."""
    if len(golds) != len(preds):
        raise ValueError(f"{len(golds)} gold images but {len(preds)} predictions")
    jobs = [(None if g is None else str(g), None if p is None else str(p)) for g, p in zip(golds, preds)]
    return _run(_compare_file_chunk, jobs, workers, keep_opcodes, progress)


def _compare_chunk(chunk: list, keep_opcodes: bool) -> list[ImagePairResult]:
    return [compare_images(g, p, keep_opcodes=keep_opcodes) for g, p in chunk]


def _compare_file_chunk(chunk: list, keep_opcodes: bool) -> list[ImagePairResult]:
    out = []
    for g, p in chunk:
        gold = None if g is None else load_grayscale(g)
        pred = None if p is None else load_grayscale(p)
        out.append(compare_images(gold, pred, keep_opcodes=keep_opcodes))
    return out


def _chunks(jobs: list, size: int) -> Iterator[list]:
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def _run(
    func: Callable[[list, bool], list[ImagePairResult]],
    jobs: list,
    workers: int | None,
    keep_opcodes: bool,
    progress: Callable[[int], None] | None,
) -> list[ImagePairResult]:
    workers = workers or _usable_cpus()
    if workers <= 1 or len(jobs) < MIN_PAIRS_FOR_POOL:
        # Serial path still reports progress in chunks, so a caller's progress bar moves.
        results: list[ImagePairResult] = []
        for chunk in _chunks(jobs, 256):
            results.extend(func(chunk, keep_opcodes))
            if progress:
                progress(len(chunk))
        return results
    # Many small chunks balance the load (pair costs vary with width and with whether the pair
    # needs clustering at all); results are tiny, so the per-chunk overhead is a queue message.
    size = max(16, min(256, len(jobs) // (workers * 16) or 1))
    chunks = list(_chunks(jobs, size))
    workers = min(workers, len(chunks))
    log.debug("comparing %d image pairs on %d processes, %d per chunk", len(jobs), workers, size)
    if _can_fork():
        return _run_forked(func, chunks, workers, keep_opcodes, progress)
    results = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for chunk_results in pool.map(func, chunks, [keep_opcodes] * len(chunks)):
            results.extend(chunk_results)
            if progress:
                progress(len(chunk_results))
    return results


def _usable_cpus() -> int:
    # The CPUs this process may run on (a container or taskset may allow fewer than cpu_count).
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _can_fork() -> bool:
    # fork is safe enough on Linux for workers that only compute; macOS and Windows spawn.
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def _run_forked(
    func: Callable[[list, bool], list[ImagePairResult]],
    chunks: list[list],
    workers: int,
    keep_opcodes: bool,
    progress: Callable[[int], None] | None,
) -> list[ImagePairResult]:
    """Forked workers that inherit the inputs instead of receiving them pickled.

    The images of a full test set are most of a gigabyte; sending them through a pool's pipes cost
    the parent about a quarter of the whole comparison's CPU time. A forked child already holds
    them (copy-on-write), so only chunk numbers go out and small results come back. Worker ``k``
    takes chunks ``k, k + workers, ...``: interleaving balances the load without a task queue.
    """
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_forked_worker, args=(func, chunks, k, workers, keep_opcodes, queue), daemon=True)
        for k in range(workers)
    ]
    for proc in procs:
        proc.start()
    results: list[list[ImagePairResult] | None] = [None] * len(chunks)
    try:
        for _ in range(len(chunks)):
            index, payload = _next_message(queue, procs)
            if isinstance(payload, BaseException):
                raise payload
            results[index] = payload
            if progress:
                progress(len(payload))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
        queue.close()
    return [r for chunk in results for r in chunk]  # type: ignore[union-attr]


def _next_message(queue, procs: list) -> tuple[int, object]:
    # A worker that dies without a word (killed for memory, say) must not leave us waiting forever.
    while True:
        try:
            return queue.get(timeout=1.0)
        except Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"image comparison worker died (exit code {dead[0].exitcode})") from None
            if all(p.exitcode is not None for p in procs):
                # Exited workers have flushed their messages: a result is missing for good.
                raise RuntimeError("image comparison workers exited without sending every result") from None


def _forked_worker(func, chunks: list[list], k: int, step: int, keep_opcodes: bool, queue) -> None:
    for index in range(k, len(chunks), step):
        try:
            queue.put((index, func(chunks[index], keep_opcodes)))
        except Exception as exc:  # sent to the parent, which re-raises it
            try:
                pickle.dumps(exc)
            except Exception:
                exc = RuntimeError(f"{type(exc).__name__}: {exc}")
            queue.put((index, exc))
            return
