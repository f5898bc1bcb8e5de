"""``markupeval cdm``: CDM on CDM's own input file, a drop-in for its ``evaluation.py``."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from markupeval.cdm_scoring import CDMScoring, score_cdm
from markupeval.errors import InputError
from markupeval.metrics.cdm import VARIANTS, CDMConfig
from markupeval.cli import positive_seconds


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cdm",
        help="CDM (Character Detection Matching) on CDM's input format",
        description=(
            "Score CDM's input file, a JSON list of {\"img_id\", \"gt\", \"pred\"}, as the official "
            "opendatalab/UniMERNet cdm/evaluation.py does (same numbers by default), without Node.js "
            "or ImageMagick. A gold without boxes is excluded, counted and listed."
        ),
    )
    p.add_argument("input", help="JSON list of {\"img_id\", \"gt\", \"pred\"}")
    p.add_argument("--json", metavar="OUT", help="write mean_score, exp_rate and details per img_id (+ signature)")
    p.add_argument("--per-sample", metavar="OUT.csv",
                   help="CSV with img_id, recall, precision, f1, status, n_gt, n_pred")
    p.add_argument("--variant", default="official", choices=VARIANTS,
                   help="official (default: the official numbers, quirks included) or fixed")
    p.add_argument("--workers", type=int, default=None, help="rendering processes (default: all cores)")
    p.add_argument("--timeout", type=positive_seconds, default=30.0,
                   help="seconds a formula may run without progress (the official 30; in the signature)")
    p.add_argument("--cache-dir", help="render cache location (default: ~/.cache/markupeval)")
    p.add_argument("--no-cache", action="store_true", help="render everything afresh, store nothing")
    p.set_defaults(func=run)


def read_cdm_input(path: Path) -> tuple[list[str], list[str], list[str]]:
    """img_ids, gold and predictions of a CDM input file (``sample_<i>`` where img_id is absent)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not a JSON file: {exc}", path, line) from None
    if not isinstance(data, list):
        raise InputError("expected a JSON list of {\"img_id\", \"gt\", \"pred\"}", path)
    ids, gold, preds = [], [], []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise InputError(f"item {i} is not an object", path)
        for key in ("gt", "pred"):
            if not isinstance(item.get(key), str):
                raise InputError(f"item {i}: '{key}' must be a string", path)
        img_id = item.get("img_id", f"sample_{i}")
        if not isinstance(img_id, str) or not img_id:
            raise InputError(f"item {i}: 'img_id' must be a non-empty string", path)
        if img_id in seen:
            raise InputError(f"item {i}: img_id {img_id!r} repeats item {seen[img_id]}", path)
        seen[img_id] = i
        ids.append(img_id)
        gold.append(item["gt"])
        preds.append(item["pred"])
    return ids, gold, preds


def result_json(ids: list[str], scoring: CDMScoring) -> dict[str, Any]:
    """The official metrics_res.json layout (mean_score, exp_rate, details), plus what it lacks."""
    details = {}
    for img_id, r in zip(ids, scoring.results):
        if r.counted:
            details[img_id] = {"recall": r.recall, "precision": r.precision, "F1_score": r.f1}
    return {
        "mean_score": round(scoring.scores["cdm_f1"].value, 3),
        "exp_rate": round(scoring.scores["cdm_exprate"].value, 3),
        "details": details,
        "counts": {"pairs": len(ids), "counted": len(details), "gold_failed": len(scoring.gold_failed)},
        "gold_failed": [{"img_id": ids[i], "status": scoring.gold_boxes[i].status,
                         "message": scoring.gold_boxes[i].message} for i in scoring.gold_failed],
        "status": {img_id: r.status for img_id, r in zip(ids, scoring.results)},
        "signature": str(scoring.signature),
    }


def write_cdm_csv(path: Path, ids: list[str], scoring: CDMScoring) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img_id", "recall", "precision", "f1", "status", "n_gt", "n_pred"])
        for img_id, r in zip(ids, scoring.results):
            w.writerow([img_id, "" if r.recall is None else r.recall, "" if r.precision is None else r.precision,
                        "" if r.f1 is None else r.f1, r.status, r.n_gt, r.n_pred])


def run(args: argparse.Namespace) -> int:
    path = Path(args.input)
    ids, gold, preds = read_cdm_input(path)
    options: dict[str, Any] = {"progress": True, "timeout": args.timeout}
    if args.workers is not None:
        options["workers"] = args.workers
    if args.cache_dir:
        options["cache"] = args.cache_dir
    if args.no_cache:
        options["cache"] = False
    scoring = score_cdm(gold, preds, CDMConfig(variant=args.variant), options)
    console = Console()
    table = Table(title=f"markupeval cdm · {path.name}", title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("detail", style="dim")
    f1, er = scoring.scores["cdm_f1"], scoring.scores["cdm_exprate"]
    table.add_row("CDM (mean F1)", f"{f1.value:.3f}", f"over {f1.parts['counted']:,} of {len(ids):,} pairs")
    table.add_row("ExpRate@CDM", f"{er.value:.3f}", f"{er.parts['hits']:,} pairs with F1 = 1")
    console.print(table)
    if scoring.gold_failed:
        console.print(f"[yellow]gold without boxes (excluded)[/]: {len(scoring.gold_failed)}", highlight=False)
        for i in scoring.gold_failed[:10]:
            b = scoring.gold_boxes[i]
            console.print("   ", escape(f"{ids[i]}  {b.status}  {b.message.splitlines()[0] if b.message else ''}"),
                          highlight=False)
    console.print("[bold]signature[/] ", escape(str(scoring.signature)), highlight=False, soft_wrap=True)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result_json(ids, scoring), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.per_sample:
        write_cdm_csv(Path(args.per_sample), ids, scoring)
    return 0
