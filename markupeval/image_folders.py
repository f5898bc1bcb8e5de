"""The image metrics over two folders of existing renders, paired by file name, as a run.

For people who already have renders (e.g. from im2markup's ``render_latex.py``): every gold image
is compared with the prediction of the same name; a gold image without one is a missing prediction
(as in the original ``evaluate_image.py``, which walked the gold folder); predictions without a gold
image are ignored and counted. Files are read as the original read them
(:func:`markupeval.images.load_grayscale`). The result is a :class:`~markupeval.run.RunResult`, so
its run file feeds ``leaderboard``, ``compare`` and ``report`` like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from markupeval.errors import InputError
from markupeval.images import compare_image_files, diff_picture, load_grayscale, save_diff_picture
from markupeval.images.compare import ImagePairResult
from markupeval.metrics import get_metric
from markupeval.metrics.base import Signature
from markupeval.run import RenderOutcome, RunResult, SampleResult

IMAGE_METRICS = ("image_edit_distance", "image_match", "image_match_ws")


@dataclass
class FolderComparison:
    """A scored pair of folders: the run, and the files and pair results behind it."""

    run: RunResult
    gold_files: list[Path]
    pred_files: list[Path | None]  # None: no prediction of that name
    pairs: list[ImagePairResult]
    extra: list[str]  # prediction file names without a gold image (ignored)


def compare_image_folders(
    gold_dir: Path | str,
    pred_dir: Path | str,
    *,
    pattern: str = "*.png",
    workers: int | None = None,
    keep_opcodes: bool = False,
    progress: Callable[[int], None] | None = None,
    name: str | None = None,
) -> FolderComparison:
    """Compare every gold image of ``gold_dir`` with the prediction of the same name in ``pred_dir``.

    ``keep_opcodes`` keeps each pair's column alignment (what :func:`write_diff_pictures` draws);
    ``progress`` is called with the number of pairs finished.
    """
    gold_dir, pred_dir = Path(gold_dir), Path(pred_dir)
    for d in (gold_dir, pred_dir):
        if not d.is_dir():
            raise InputError("not a directory", d)
    gold_files = sorted(f for f in gold_dir.glob(pattern) if f.is_file())
    if not gold_files:
        raise InputError(f"no gold images matching {pattern!r}", gold_dir)
    gold_names = {f.name for f in gold_files}
    pred_files = [pred_dir / f.name if (pred_dir / f.name).is_file() else None for f in gold_files]
    extra = sorted(f.name for f in pred_dir.glob(pattern) if f.is_file() and f.name not in gold_names)
    pairs = compare_image_files(gold_files, pred_files, workers, keep_opcodes=keep_opcodes, progress=progress)

    metrics = {k: get_metric(k) for k in IMAGE_METRICS}
    stats = {k: m.stats_from_results(pairs) for k, m in metrics.items()}
    scores = {k: m.aggregate(stats[k]) for k, m in metrics.items()}
    counts = {
        "gold": len(gold_files),
        "predictions": sum(p is not None for p in pred_files),
        "missing": sum(p is None for p in pred_files),
        "extra_ignored": len(extra),
    }
    notes = []
    if extra:
        shown = ", ".join(extra[:20]) + (" ..." if len(extra) > 20 else "")
        notes.append(f"{len(extra)} prediction image(s) without a gold image ignored: {shown}")
    samples = []
    for i, (g, p) in enumerate(zip(gold_files, pred_files)):
        pred_outcome = RenderOutcome("ok") if p is not None else RenderOutcome("missing", "no prediction image of this name")
        samples.append(SampleResult(
            image=g.name, gold="", prediction=p.name if p is not None else None,
            stats={k: stats[k][i].tolist() for k in IMAGE_METRICS},
            gold_render=RenderOutcome("ok"), pred_render=pred_outcome,
        ))
    run = RunResult(
        name=name or pred_dir.name,
        inputs={"gold_dir": str(gold_dir), "pred_dir": str(pred_dir), "pattern": pattern, "format": "image-folders"},
        scores=scores,
        counts=counts,
        signature=folder_signature(),
        samples=samples,
        stat_names={k: list(m.stat_names) for k, m in metrics.items()},
        notes=notes,
    )
    return FolderComparison(run, gold_files, pred_files, pairs, extra)


def folder_signature() -> Signature:
    """Settings of a folder comparison: the images' reading and the image metrics' own settings.
    The renders were made elsewhere, so the signature says so instead of naming a renderer."""
    # As score's run signature, the Match signature stands for the image metrics; each score
    # keeps its own metric's full signature.
    base = Signature.from_items([("mode", "compatible"), ("images", "external-renders"), ("load", "convert-L")])
    return base.merged(get_metric("image_match").signature())


def write_diff_pictures(comparison: FolderComparison, out_dir: Path | str, mismatches_only: bool = False) -> int:
    """One diff picture per pair (``<gold stem>.png``), the columns that break Match marked;
    returns how many were written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for g, p, r in zip(comparison.gold_files, comparison.pred_files, comparison.pairs):
        if mismatches_only and r.match and r.match_ws:
            continue
        gold = load_grayscale(g)
        pred = load_grayscale(p) if p is not None else None
        save_diff_picture(out / (g.stem + ".png"), diff_picture(gold, pred, r.opcodes, mark_breaks=True))
        written += 1
    return written
