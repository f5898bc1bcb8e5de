"""The HTML report of one run: summary, per-sample table with renders and diffs, failures, a plot.

:func:`build_report` writes one HTML file with no network resources: styles, script and the
per-sample data are inline; pictures are embedded as data URIs or written to a sibling folder
(``<report>_files/``) when there are many. The per-sample table is drawn by a small inline script
from the embedded data, a page at a time, so a 10,355-sample report stays responsive; it sorts by
any numeric column and filters by outcome, length and text. The view is kept in the URL fragment
(``#sort=len&dir=desc&filter=mismatch``), so a link reproduces it.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

from markupeval import __version__
from markupeval.errors import InputError
from markupeval.images.diff import diff_picture
from markupeval.metrics.base import Signature
from markupeval.report.images import FolderImages, ImageSource, Picture, RendererImages, compare_pair, png_bytes
from markupeval.report.page import render_page
from markupeval.report.plot import Series, svg_chart
from markupeval.stats.runs import RunView, run_intervals

log = logging.getLogger("markupeval")

#: Above this many samples, pictures go to a sibling folder instead of into the HTML.
EMBED_LIMIT = 1000

__all__ = ["FolderImages", "RendererImages", "ReportInfo", "build_report"]


@dataclass(frozen=True)
class ReportInfo:
    path: Path
    image_dir: Path | None
    samples: int
    pictures: int
    gold_failures: int
    pred_failures: int


def _ratio(stats: Any) -> float | None:
    """0/1 outcome of a (hits, counted) statistics pair; None when the sample is not counted."""
    if not isinstance(stats, list) or len(stats) != 2 or not stats[1]:
        return None
    return float(stats[0]) / float(stats[1])


def _status(sample: dict, key: str, picture: Picture | None) -> tuple[str, str]:
    # The scorer's recorded outcome is what the numbers used; the report's own render is the fallback.
    recorded = sample.get(key)
    if isinstance(recorded, dict) and recorded.get("status"):
        return str(recorded["status"]), str(recorded.get("message") or "")
    if picture is not None:
        return picture.status, picture.message
    return "not_rendered", ""


def build_report(
    run: RunView,
    out: Path | str,
    *,
    images: ImageSource | None = None,
    embed: bool | None = None,
    resamples: int = 1000,
) -> ReportInfo:
    """Write the report of ``run`` to ``out``; ``images=None`` makes a report without pictures."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    samples = run.samples
    n = len(samples)
    embed = n <= EMBED_LIMIT if embed is None else embed
    image_dir = None if embed or images is None else out.with_name(out.stem + "_files")
    if image_dir is not None:
        if image_dir.exists():
            shutil.rmtree(image_dir)
        image_dir.mkdir()

    gold_pics: list[Picture | None] = [None] * n
    pred_pics: list[Picture | None] = [None] * n
    if images is not None and n:
        log.info("report: pictures %s", images.description)
        g, p = images.pictures(
            [s.get("gold") or "" for s in samples],
            [s.get("prediction") for s in samples],
            [s["image"] for s in samples],
        )
        gold_pics, pred_pics = list(g), list(p)
    cdm_pics: list[tuple[Any, Any]] = [(None, None)] * n
    if images is not None and any(s.get("cdm") for s in samples):
        from markupeval.report.cdm import cdm_pictures

        variant = Signature.parse(run.signature or "").as_dict().get("cdm_variant", "official")
        cdm_pics = cdm_pictures([s.get("gold") or "" for s in samples], [s.get("prediction") for s in samples],
                                [s.get("cdm") for s in samples], variant=variant)

    rows: list[dict[str, Any]] = []
    written = 0
    # Progress goes to stderr: stdout carries results only.
    with Progress(console=Console(stderr=True), transient=True, disable=not log.isEnabledFor(logging.INFO)) as progress:
        task = progress.add_task("report pictures", total=n)
        for i, sample in enumerate(samples):
            stats = sample.get("stats", {})
            gold_text = sample.get("gold") or ""
            ed = stats.get("edit_distance")
            row: dict[str, Any] = {
                "i": i + 1,
                "image": sample["image"],
                "len": len(gold_text.split()),
                "gold": gold_text,
                "pred": sample.get("prediction"),
                "m": _ratio(stats.get("image_match")),
                "mws": _ratio(stats.get("image_match_ws")),
                "ied": None,
                "ed": (1.0 - ed[0] / ed[1]) if isinstance(ed, list) and len(ed) == 2 and ed[1] else None,
                "ex": _ratio(stats.get("exact_match")),
                "cdm": (sample.get("cdm") or {}).get("f1"),
            }
            if isinstance(stats.get("image_edit_distance"), list) and len(stats["image_edit_distance"]) == 2 and stats["image_edit_distance"][1]:
                d, ref = stats["image_edit_distance"]
                row["ied"] = 1.0 - d / ref
            row["gs"], row["gmsg"] = _status(sample, "gold_render", gold_pics[i])
            row["ps"], row["pmsg"] = _status(sample, "pred_render", pred_pics[i])
            if sample.get("prediction") is None:
                row["ps"], row["pmsg"] = "missing", "no prediction for this image"
            pics: dict[str, str] = {}
            gp, pp = gold_pics[i], pred_pics[i]
            if gp is not None and gp.image is not None:
                pics["g"], pics["gw"] = _picture(gp.image, image_dir, out, i, "g"), gp.image.shape[1]
                written += 1
            if pp is not None and pp.image is not None:
                pics["p"], pics["pw"] = _picture(pp.image, image_dir, out, i, "p"), pp.image.shape[1]
                written += 1
            if gp is not None and pp is not None and gp.image is not None and pp.image is not None:
                pair = compare_pair(gp, pp)
                diff = diff_picture(gp.image, pp.image, pair.opcodes if pair is not None else None, mark_breaks=True)
                pics["d"], pics["dw"] = _picture(diff, image_dir, out, i, "d"), diff.shape[1]
                written += 1
                if row["m"] is None and pair is not None:
                    # The run was scored without images: show the pair's outcome, marked as such.
                    row["m"], row["mws"], row["mc"] = float(pair.match), float(pair.match_ws), 1
            for key, pic in zip(("cg", "cp"), cdm_pics[i]):
                if pic is not None:
                    pics[key], pics[key + "w"] = _picture(pic, image_dir, out, i, key), pic.shape[1]
                    written += 1
            row["img"] = pics
            rows.append(row)
            progress.advance(task)

    summary = _summary(run, resamples)
    has_match = any(r["m"] is not None for r in rows)
    series = []
    if has_match:
        series.append(Series("Match", "#d62728", [r["m"] for r in rows]))
        series.append(Series("Match (-ws)", "#1f77b4", [r["mws"] for r in rows]))
    series.append(Series("Exact match (text)", "#2ca02c", [r["ex"] for r in rows]))
    title = "Match against formula length" if has_match else "Exact match against formula length (no image metrics in this run)"
    plot = svg_chart([r["len"] for r in rows], series, title)
    failures = {
        "gold": [(r["i"], r["image"], r["gs"], r["gmsg"]) for r in rows if r["gs"] not in ("ok", "not_rendered")],
        "pred": [(r["i"], r["image"], r["ps"], r["pmsg"]) for r in rows if r["ps"] not in ("ok", "not_rendered", "missing")],
        "missing": [(r["i"], r["image"]) for r in rows if r["ps"] == "missing"],
    }
    page = render_page(
        title=f"markupeval report: {run.name}",
        summary=summary,
        rows=rows,
        plot_svg=plot,
        failures=failures,
        image_note=images.description if images is not None else "no pictures (report made without rendering)",
        computed_match=any(r.get("mc") for r in rows),
    )
    out.write_text(page, encoding="utf-8")
    return ReportInfo(out, image_dir, n, written, len(failures["gold"]), len(failures["pred"]))


def _picture(image, image_dir: Path | None, out: Path, i: int, kind: str) -> str:
    data = png_bytes(image)
    if image_dir is None:
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    name = f"{i + 1:05d}-{kind}.png"
    (image_dir / name).write_bytes(data)
    return f"{image_dir.name}/{name}"


def _summary(run: RunView, resamples: int) -> dict[str, Any]:
    intervals: dict[str, Any] = {}
    if run.samples:
        try:
            found, _skipped = run_intervals(run, resamples=resamples)
            intervals = {k: (v.low, v.high) for k, v in found.items()}
        except (InputError, ValueError, KeyError) as exc:  # an interval is an extra: shown as absent, not fatal
            log.warning("report: no bootstrap intervals (%s)", exc)
    metrics = []
    for name, value in run.metrics.items():
        scale = 1.0 if name.startswith("bleu") else 100.0
        ci = intervals.get(name)
        metrics.append(
            {
                "name": name,
                "value": f"{value * scale:.2f}",
                "ci": f"[{ci[0] * scale:.2f}, {ci[1] * scale:.2f}]" if ci and all(map(math.isfinite, ci)) else "–",
            }
        )
    return {
        "name": run.name,
        "path": str(run.path),
        "metrics": metrics,
        "counts": run.counts,
        "signature": run.signature,
        "notes": [str(n) for n in run.raw.get("notes", []) if n],
        "inputs": run.inputs,
        "version": __version__,
    }


def json_for_script(data: Any) -> str:
    """JSON safe inside a <script> element (no '</script>' or '<!--' can end it early)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
