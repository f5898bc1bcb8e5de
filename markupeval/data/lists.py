"""Reading and writing the IM2LATEX-100K text files: formula files and split lists.

Two list formats exist (see ``docs/PROTOCOL.md``):

* official split lists ``im2latex_{train,validate,test}.lst``: ``<formula_idx> <image> <render_type>``
  (image name without ``.png``);
* filtered lists ``{train,validate,test}_filter.lst`` of the processed release:
  ``<image>.png <formula_idx>``.

Formula files are split on ``"\\n"`` only: other Unicode line breaks occur inside formulas, and
``str.splitlines()`` would shift every later index.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from markupeval.errors import InputError


@dataclass(frozen=True)
class ListEntry:
    """One line of a split list: an image name (no extension) and its formula's line index."""

    name: str
    formula_idx: int


def read_formulas(path: Path) -> list[str]:
    """Lines of a formula file, split on ``"\\n"`` only; a single trailing newline adds no line.

    The official ``im2latex_formulas.lst`` has no final newline and ``formulas.norm.lst`` files
    written by other tools often do; both give the same list. CRLF line ends lose their ``\\r``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read formula file: {exc.strerror}", path) from None
    # The official release is mostly ASCII with some Latin-1 bytes; decoding must never fail
    # on a model-generated or third-party file, and must keep one byte = one character there.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def write_formulas(path: Path, formulas: Sequence[str]) -> None:
    """Write one formula per line with a final newline; refuse formulas that contain ``\\n``."""
    for i, f in enumerate(formulas):
        if "\n" in f:
            raise ValueError(f"formula {i} contains a newline and would shift every later line")
    Path(path).write_text("".join(f + "\n" for f in formulas), encoding="utf-8")


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text ({exc.reason})", path) from None
    except OSError as exc:
        raise InputError(f"cannot read list file: {exc.strerror}", path) from None
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if line:
            yield lineno, line


def read_split_list(path: Path, n_formulas: int | None = None, allow_duplicates: bool = True) -> list[ListEntry]:
    """Read an official (``idx name type``) or filtered (``name.png idx``) split list.

    The format is recognised per line, so either kind works. Raises :class:`InputError` naming
    the line for malformed lines and an index outside the formula file (when ``n_formulas`` is
    given). An image listed twice is kept twice by default: the official ``im2latex_train.lst``
    lists 14 images twice with two formula indices (``formula2image.py`` named images by a hash of
    the formula, so a formula extracted twice got one image), and ``train_filter.lst`` keeps 13
    of them; ``allow_duplicates=False`` makes it an error.
    """
    path = Path(path)
    entries: list[ListEntry] = []
    seen: dict[str, int] = {}
    for lineno, line in _lines(path):
        parts = line.split()
        if len(parts) == 3 and parts[0].isdigit():
            idx_s, name = parts[0], parts[1]
        elif len(parts) == 2 and parts[1].isdigit():
            name, idx_s = parts
        else:
            raise InputError(
                f"expected '<formula_idx> <image> <type>' or '<image>.png <formula_idx>', got {line[:80]!r}",
                path,
                lineno,
            )
        if name.endswith(".png"):
            name = name[:-4]
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise InputError(f"invalid image name {name!r}", path, lineno)
        idx = int(idx_s)
        if n_formulas is not None and idx >= n_formulas:
            raise InputError(
                f"formula index {idx} is past the end of the formula file ({n_formulas} lines)", path, lineno
            )
        if name in seen and not allow_duplicates:
            raise InputError(f"image {name}.png listed twice (first on line {seen[name]})", path, lineno)
        seen.setdefault(name, lineno)
        entries.append(ListEntry(name, idx))
    return entries


def write_filter_list(path: Path, entries: Sequence[ListEntry]) -> None:
    """Write a processed-release list: ``<name>.png <formula_idx>`` per line."""
    Path(path).write_text("".join(f"{e.name}.png {e.formula_idx}\n" for e in entries), encoding="utf-8")
