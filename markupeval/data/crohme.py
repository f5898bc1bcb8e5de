"""CROHME test sets as gold for ``markupeval score --dataset crohme2013|crohme2014|crohme2016``.

The ground truth is ``name \\t raw LaTeX`` per line (``groundtruth_<year>.tsv``, CRLF line ends;
one 2013 formula holds a tab and is therefore CSV-quoted). The three test files (110 kB) ship with
the package in ``crohme_groundtruth/``; ``directory`` scores against another copy with the same
file names instead (its hash is in the signature either way).

The gold is prepared as the paper's pipeline prepared IM2LATEX-100K:

- **normalized** with :mod:`markupeval.latex` (``normalize`` mode) for BLEU (norm), exact match,
  the text edit distance and the rendered gold;
- **tokenized** (``tokenize`` mode) for BLEU (tok);
- a formula the normalizer cannot parse becomes an **empty** normalized gold line, as the original
  ``preprocess_formulas.py`` wrote it (never our tokenization fallback, which follows other
  conventions): ``--empty-gold`` then decides whether it is rendered as a blank page or excluded.
  These formulas are listed in :attr:`CrohmeGold.failed` and counted.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from markupeval.errors import InputError
from markupeval.formats import GoldItem, GoldSet, image_key

#: ``--dataset`` name -> ground-truth file name.
DATASETS: dict[str, str] = {
    "crohme2013": "groundtruth_2013.tsv",
    "crohme2014": "groundtruth_2014.tsv",
    "crohme2016": "groundtruth_2016.tsv",
}


@dataclass
class CrohmeGold:
    """One CROHME test set, aligned item by item: normalized gold, tokenized gold, raw formulas."""

    dataset: str
    path: Path
    gold: GoldSet  # normalized formulas ("" where normalization failed); source = "crohmeYYYY@hash"
    tokenized: list[str]
    raw: list[str]
    failed: list[tuple[str, str]]  # (image name, why) of the formulas that did not normalize
    bundled: bool


def groundtruth_path(dataset: str, directory: Path | str | None = None) -> tuple[Path, bool]:
    """The ground-truth file of ``dataset`` and whether it is the copy bundled with the package."""
    if dataset not in DATASETS:
        raise InputError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if directory is None:
        return Path(str(resources.files("markupeval.data") / "crohme_groundtruth" / DATASETS[dataset])), True
    directory = Path(directory)
    path = directory / DATASETS[dataset]
    if not path.is_file():
        raise InputError(f"no {DATASETS[dataset]} for --dataset {dataset} in this CROHME directory", directory)
    return path, False


def read_groundtruth(path: Path) -> list[tuple[str, str, int]]:
    """``(name, raw LaTeX, line)`` rows of a ground-truth file; every malformed row is an error."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path, data[: exc.start].count(b"\n") + 1) from None
    rows: list[tuple[str, str, int]] = []
    seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    try:
        for fields in reader:
            line = reader.line_num
            if not fields or fields == [""]:
                continue
            if len(fields) != 2:
                raise InputError(f"expected 'name<TAB>LaTeX', found {len(fields)} field(s)", path, line)
            name, formula = fields[0].strip(), fields[1]
            if not name:
                raise InputError("empty image name", path, line)
            key = image_key(name)
            if key in seen:
                raise InputError(f"image {name!r} listed twice (first on line {seen[key]})", path, line)
            seen[key] = line
            rows.append((name, formula, line))
    except csv.Error as exc:
        raise InputError(f"malformed TSV: {exc}", path, reader.line_num) from None
    if not rows:
        raise InputError("ground-truth file is empty", path)
    return rows


def load_crohme(dataset: str, directory: Path | str | None = None) -> CrohmeGold:
    """Read, normalize and tokenize one CROHME test set."""
    from markupeval.latex import Normalizer

    path, bundled = groundtruth_path(dataset, directory)
    rows = read_groundtruth(path)
    normalizer, tokenizer = Normalizer("normalize"), Normalizer("tokenize")
    items, tokenized, raw, failed = [], [], [], []
    for name, formula, line in rows:
        result = normalizer.normalize(formula)
        if result.fallback:
            failed.append((name, result.message))
        items.append(GoldItem(name, "" if result.fallback else result.text, line))
        tokenized.append(tokenizer.normalize(formula).text)
        raw.append(formula)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return CrohmeGold(dataset, path, GoldSet(items, f"{dataset}@{digest}"), tokenized, raw, failed, bundled)
