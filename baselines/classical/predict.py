"""Predict LaTeX for a directory of formula images with the classical OCR baseline.

Input: formula images as markupeval renders them (200 dpi, bilevel, cropped). Output: the
shared baseline interface, one ``{"image": file name, "prediction": normalized LaTeX}`` JSON
line per image, in file-name order, which ``markupeval score`` reads directly.

Policy for bad images: a file that cannot be decoded as an image gets an empty prediction and a
warning naming it (it stays in the output, so the scorer counts it wrong rather than missing);
so does an image the recogniser fails on (an internal error, named with the file). Both lines
carry an ``"error"`` field, so ``markupeval score`` counts them as ``prediction_failed`` and names
them in the run's notes instead of scoring a silent miss; the counts are also returned in
:class:`PredictSummary`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from markupeval.baselines.classical.glyphs import GlyphSet, load_or_build
from markupeval.baselines.classical.recognize import Classifier, recognise
from markupeval.baselines.classical.structure import layout
from markupeval.errors import InputError
from markupeval.images.io import load_grayscale

log = logging.getLogger("markupeval")

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".pgm"}
CHUNK = 16
# BLAS spins threads for every small matrix product; with one process per core that only
# costs time, so worker processes run single-threaded BLAS.
_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass
class PredictSummary:
    images: int
    unreadable: int
    blank: int
    seconds: float  # wall clock, worker start-up included
    cpu_seconds: float  # CPU time the workers spent predicting (robust to a busy machine)
    failed: int = 0  # images the recogniser raised on (a bug): empty prediction, warned

    @property
    def per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


def predict_image(image: np.ndarray, classifier: Classifier) -> str:
    """Normalized LaTeX (space-separated tokens) for one grayscale formula image."""
    return " ".join(layout(recognise(image, classifier)))


def read_image(path: Path) -> np.ndarray:
    """2-D uint8 grayscale; transparent pixels count as white (renders with an alpha channel)."""
    return load_grayscale(path, transparent="white")


_worker_classifier: Classifier | None = None


def _init_worker(glyph_path: str) -> None:
    global _worker_classifier  # one classifier per worker process, loaded once
    _worker_classifier = Classifier(GlyphSet.load(Path(glyph_path)))


def _predict_paths(paths: list[str]) -> tuple[list[tuple[str, str, str]], float]:
    """(prediction, status, message) per path, status "ok", "blank", "unreadable" or "failed"; CPU seconds."""
    assert _worker_classifier is not None
    cpu = time.process_time()
    out = []
    for p in paths:
        try:
            image = read_image(Path(p))
        except InputError as exc:
            out.append(("", "unreadable", str(exc)))
            continue
        if image.ndim != 2 or image.size == 0 or not (image <= 128).any():
            out.append(("", "blank", ""))
            continue
        try:
            out.append((predict_image(image, _worker_classifier), "ok", ""))
        except Exception as exc:  # noqa: BLE001 -- one image's bug must not lose the others
            # Not silent: the image is named in a warning and counted as failed in the summary.
            out.append(("", "failed", f"{p}: internal error {type(exc).__name__}: {exc}"))
    return out, time.process_time() - cpu


def list_images(images_dir: Path) -> list[Path]:
    if not images_dir.is_dir():
        raise InputError("not a directory of images", images_dir)
    paths = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise InputError(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) found", images_dir)
    return paths


def predict(images_dir: Path, out: Path, checkpoint: Path | None = None, *, cache_dir: Path | None = None,
            workers: int | None = None, limit: int | None = None, progress: bool = False) -> PredictSummary:
    """Write one prediction line per image of ``images_dir`` to ``out`` (JSON lines).

    ``checkpoint``: a glyph set file (``markupeval baseline train classical`` prints its path);
    default: the cached glyph set, built on first use.
    """
    paths = list_images(images_dir)[:limit]
    if checkpoint is not None:
        if not checkpoint.is_file():
            raise InputError("glyph set file not found", checkpoint)
        glyph_path = checkpoint
    else:
        _, glyph_path = load_or_build(cache_dir)
    workers = max(1, workers if workers is not None else len(os.sched_getaffinity(0)))
    chunks = [[str(p) for p in paths[i : i + CHUNK]] for i in range(0, len(paths), CHUNK)]
    start = time.perf_counter()
    saved = {k: os.environ.get(k) for k in _BLAS_THREAD_VARS}
    try:
        for k in _BLAS_THREAD_VARS:
            os.environ.setdefault(k, "1")  # inherited by the spawned workers only
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_init_worker,
                                 initargs=(str(glyph_path),)) as pool:
            results, cpu_seconds = _collect(pool.map(_predict_paths, chunks), len(paths), progress)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    unreadable = [msg for _, status, msg in results if status == "unreadable"]
    failed = [msg for _, status, msg in results if status == "failed"]
    for msg in unreadable + failed:
        log.warning("%s (empty prediction written)", msg)
    write_predictions(out, paths, results)
    blank = sum(status == "blank" for _, status, _ in results)
    return PredictSummary(len(paths), len(unreadable), blank, seconds, cpu_seconds, len(failed))


def write_predictions(out: Path, paths: list[Path], results: list[tuple[str, str, str]]) -> None:
    """One JSON line per image; an unreadable image or a recogniser failure carries ``"error"``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for p, (pred, status, msg) in zip(paths, results):
            record = {"image": p.name, "prediction": pred}
            if status in ("unreadable", "failed"):
                record["error"] = f"{status}: {msg}"
            fh.write(json.dumps(record) + "\n")
    tmp.replace(out)


def _collect(batches, total: int, progress: bool) -> tuple[list[tuple[str, str, str]], float]:
    results: list[tuple[str, str, str]] = []
    cpu = 0.0
    bar = None
    if progress:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("classical OCR", total=total)
    try:
        for batch, seconds in batches:
            results.extend(batch)
            cpu += seconds
            if bar is not None:
                bar.advance(task, len(batch))
    finally:
        if bar is not None:
            bar.stop()
    return results, cpu
