"""Reading predictions and assembling the gold for scoring.

Everything that touches user files for scoring lives here, so metrics stay pure. Every problem is
raised as :class:`~markupeval.errors.InputError` naming the file and the 1-based line. Formula
files, names files and split lists are read by :mod:`markupeval.textfiles`, the reader every
command shares (its docstring states the encoding, line and duplicate policies); predictions
files follow the same encoding and line policy.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from markupeval.errors import InputError
from markupeval.textfiles import image_key, read_formulas, read_lines, read_names, read_split_list

__all__ = [
    "GoldItem", "GoldSet", "Prediction", "PredictionSet", "PREDICTION_FORMATS", "detect_format",
    "gold_from_results", "image_key", "read_gold", "read_lines", "read_predictions",
]

PredictionFormat = Literal["results", "lines", "jsonl", "csv"]
PREDICTION_FORMATS: tuple[str, ...] = ("results", "lines", "jsonl", "csv")
DuplicatePolicy = Literal["error", "first", "last"]

# How many leading lines auto-detection looks at.
_SNIFF_LINES = 200


@dataclass(frozen=True)
class GoldItem:
    """One gold formula: its image name, its text and where it came from."""

    image: str
    formula: str
    line: int  # 1-based line in the formula file


@dataclass
class GoldSet:
    items: list[GoldItem]
    source: str  # description for the signature: "file" or "file+split"


@dataclass(frozen=True)
class Prediction:
    image: str
    text: str
    line: int  # 1-based line in the predictions file
    gold_column: str | None = None  # the results format's own gold (may contain <unk>)
    #: The system's own report that it failed on this image (jsonl/csv ``error`` field): scored
    #: as its (usually empty) prediction, and counted as a failure in the run.
    error: str | None = None


@dataclass
class PredictionSet:
    items: list[Prediction]
    format: str
    path: Path
    duplicates: list[Prediction] = field(default_factory=list)  # dropped under first/last


# --------------------------------------------------------------------------------------- gold


def read_gold(
    gold: Path | str,
    names: Path | str | None = None,
    split: Path | str | None = None,
    errors: Literal["strict", "surrogateescape"] = "strict",
) -> GoldSet:
    """Gold formulas with their image names.

    ``gold`` is a formula-per-line file. Image names come from ``names`` (one per line, same
    order, like ``src-test-old.txt``) or from a ``split`` list that indexes the formula file
    (``image.png formula_idx`` as in ``test_filter.lst``, or ``formula_idx image render_type`` as
    in ``im2latex_test.lst``). With neither, items are named by their 0-based line number.
    """
    gold = Path(gold)
    formulas = read_formulas(gold, keep_bytes=errors == "surrogateescape")
    if not formulas:
        raise InputError("gold file is empty", gold)
    if names is not None and split is not None:
        raise InputError("give --names or --split, not both")
    if split is not None:
        return GoldSet(_gold_from_split(formulas, gold, Path(split)), "split")
    if names is not None:
        names = Path(names)
        image_names = read_names(names)
        if len(image_names) != len(formulas):
            raise InputError(
                f"{len(image_names)} names but {gold} has {len(formulas)} formulas; "
                "the names file must list one image per gold line (or use --split with a split list)",
                names,
            )
        items = [GoldItem(name, formula, i) for i, (name, formula) in enumerate(zip(image_names, formulas), start=1)]
        return GoldSet(items, "names")
    return GoldSet([GoldItem(str(i), f, i + 1) for i, f in enumerate(formulas)], "line-numbers")


def _gold_from_split(formulas: list[str], gold: Path, split: Path) -> list[GoldItem]:
    entries = read_split_list(split, n_formulas=len(formulas), duplicates="error")
    if not entries:
        raise InputError("split list is empty", split)
    return [GoldItem(f"{e.name}.png", formulas[e.formula_idx], e.formula_idx + 1) for e in entries]


def gold_from_results(predictions: PredictionSet) -> GoldSet:
    """The results format's own gold column as the gold set (what the original scripts used)."""
    return GoldSet(
        [GoldItem(p.image, p.gold_column or "", p.line) for p in predictions.items],
        "results-column",
    )


# -------------------------------------------------------------------------------- predictions


def detect_format(path: Path | str) -> PredictionFormat:
    """Guess a predictions file's format from its name and first lines; refuse to guess wildly."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    lines = [ln for ln in read_lines(path)[:_SNIFF_LINES] if ln.strip()]
    if not lines:
        raise InputError("predictions file is empty", path)
    if all(ln.lstrip().startswith("{") for ln in lines):
        return "jsonl"
    tab_counts = {ln.count("\t") for ln in lines}
    if tab_counts == {4}:
        return "results"
    if tab_counts == {0}:
        first = lines[0].strip().lower()
        if "," in first and first.split(",")[-1] == "prediction":
            return "csv"
        return "lines"
    raise InputError(
        "cannot tell the format: some lines have tabs, some do not, or not the results format's "
        f"4 tabs (tab counts seen: {sorted(tab_counts)}); pass --format "
        + "|".join(PREDICTION_FORMATS),
        path,
    )


def read_predictions(
    path: Path | str,
    fmt: str = "auto",
    duplicates: DuplicatePolicy = "error",
    line_names: list[str] | None = None,
) -> PredictionSet:
    """Read a predictions file.

    ``line_names`` names the lines of a ``lines`` file (the gold's image names, in order); the
    file must then have exactly one line per gold item.
    """
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt not in PREDICTION_FORMATS:
        raise InputError(f"unknown format {fmt!r}; use one of auto|" + "|".join(PREDICTION_FORMATS))
    if fmt == "lines":
        items = _read_plain_lines(path, line_names)
    else:
        items = {"results": _read_results, "jsonl": _read_jsonl, "csv": _read_csv}[fmt](path)
    if not items:
        raise InputError("predictions file holds no predictions", path)
    kept, dropped = _resolve_duplicates(items, path, duplicates)
    return PredictionSet(kept, fmt, path, dropped)


def _read_results(path: Path) -> list[Prediction]:
    items = []
    for i, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 5:
            raise InputError(
                f"results format needs 5 tab-separated fields (image, gold, prediction, "
                f"prediction score, gold score), found {len(fields)}",
                path,
                i,
            )
        image = fields[0].strip()
        if not image:
            raise InputError("empty image name", path, i)
        items.append(Prediction(image, fields[2], i, gold_column=fields[1]))
    return items


def _read_plain_lines(path: Path, names: list[str] | None) -> list[Prediction]:
    lines = read_lines(path)
    if names is None:
        return [Prediction(str(i), text, i + 1) for i, text in enumerate(lines)]
    if len(lines) != len(names):
        raise InputError(
            f"{len(lines)} prediction lines but the gold has {len(names)} items; a 'lines' file "
            "needs exactly one line per gold item, in gold order (use jsonl/csv/results to give "
            "image names instead)",
            path,
        )
    return [Prediction(name, text, i) for i, (name, text) in enumerate(zip(names, lines), start=1)]


def _read_jsonl(path: Path) -> list[Prediction]:
    items = []
    for i, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", path, i) from None
        items.append(_record_to_prediction(obj, path, i))
    return items


def _read_csv(path: Path) -> list[Prediction]:
    text = "\n".join(read_lines(path))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is None:
        raise InputError("CSV file is empty", path)
    items = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise InputError("more fields than the header has", path, line)
            items.append(_record_to_prediction(row, path, line))
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", path, reader.line_num) from None
    return items


def _record_to_prediction(obj: object, path: Path, line: int) -> Prediction:
    if not isinstance(obj, dict):
        raise InputError("expected an object with 'image' (or 'id') and 'prediction'", path, line)
    name = obj.get("image", obj.get("id"))
    if name is None or str(name).strip() == "":
        raise InputError("missing 'image' (or 'id') field", path, line)
    if "prediction" not in obj:
        raise InputError("missing 'prediction' field", path, line)
    text = obj["prediction"]
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InputError(f"'prediction' must be a string, got {type(text).__name__}", path, line)
    error = obj.get("error")
    if error is not None and not isinstance(error, str):
        raise InputError(f"'error' must be a string, got {type(error).__name__}", path, line)
    return Prediction(str(name).strip(), text, line, error=error or None)


def _resolve_duplicates(
    items: list[Prediction], path: Path, policy: DuplicatePolicy
) -> tuple[list[Prediction], list[Prediction]]:
    first: dict[str, int] = {}
    kept: list[Prediction] = []
    dropped: list[Prediction] = []
    for item in items:
        key = image_key(item.image)
        if key not in first:
            first[key] = len(kept)
            kept.append(item)
            continue
        earlier = kept[first[key]]
        if policy == "error":
            raise InputError(
                f"prediction for image {item.image!r} given twice (first on line {earlier.line}); "
                "pass --duplicates first|last to choose one",
                path,
                item.line,
            )
        if policy == "first":
            dropped.append(item)
        else:
            dropped.append(earlier)
            kept[first[key]] = item
    return kept, dropped
