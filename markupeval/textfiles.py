"""The one reader of the text files every command takes: formula files, name lists, split lists.

``score``, ``render``, ``data build``, the dataset reader and the baselines all read these files
through this module, so a file reads the same everywhere. The policy:

* **Encoding**: UTF-8, a leading byte-order mark dropped. A file that is not valid UTF-8 is read
  as Latin-1 (one byte, one character; it never fails), with a warning naming the file and its
  first line that is not UTF-8: the official release is mostly ASCII with some Latin-1 bytes,
  and a third-party formula file must read the same in ``score`` and in ``data build``.
* **Lines**: split on ``"\\n"`` only (IM2LATEX-100K formulas contain ``\\u2028``, ``\\x85`` and
  other characters :meth:`str.splitlines` would wrongly treat as line ends); a trailing ``"\\r"``
  (CRLF files) is removed; a final newline adds no empty line.
* **Split lists**: official ``<formula_idx> <image> <render_type>`` and filtered
  ``<image>.png <formula_idx>`` lines, recognised per line; blank lines carry no entry; the
  ``.png`` is dropped from names; a name with a path separator or a leading dot, a negative index
  or one past the formula file is an error naming the line.
* **Names files** (one image name per line, as ``src-test-old.txt``): names are stripped; an
  empty name, one with a path separator, ``.``/``..`` or a NUL is an error naming the line.
* **Duplicates** (an image listed twice; ``a`` and ``a.png`` are the same image): the caller says which policy it needs. ``"keep"``: both
  entries stay (the official ``im2latex_train.lst`` lists 14 images twice with two formula
  indices, because ``formula2image.py`` named images by a hash of the formula; a dataset build
  renders each image once). ``"error"``: an :class:`InputError` naming both lines (scoring aligns
  predictions with gold by image name, so gold names must be unique). Names files always use
  ``"error"``: a name there is an output file or an alignment key.

Every problem is an :class:`~markupeval.errors.InputError` naming the file and the 1-based line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from markupeval.errors import InputError

log = logging.getLogger("markupeval")

DuplicateEntries = Literal["keep", "error"]


@dataclass(frozen=True)
class ListEntry:
    """One line of a split list: an image name (no extension) and its formula's line index."""

    name: str
    formula_idx: int
    line: int = field(default=0, compare=False)  # 1-based line in the list file (0: not read from one)


def image_key(name: str) -> str:
    """The identity of an image name: split lists omit ``.png``, results files keep it."""
    name = name.strip()
    return name[:-4] if name.lower().endswith(".png") else name


def read_lines(path: Path | str, keep_bytes: bool = False) -> list[str]:
    """A text file's lines under the module's encoding and line policy.

    ``keep_bytes``: bytes that are not UTF-8 are kept as lone surrogates (``surrogateescape``)
    instead of the Latin-1 fallback, so that a raw label file reaches pdflatex byte for byte, as
    the original's Python 2 scripts passed it (``score --render-gold``).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a file", path) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path) from None
    try:
        text = data.decode("utf-8", errors="surrogateescape" if keep_bytes else "strict")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        log.warning("%s:%d: not valid UTF-8 (byte 0x%02x); the file is read as Latin-1", path, line, data[exc.start])
        text = data.decode("latin-1")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln[:-1] if ln.endswith("\r") else ln for ln in lines]


def read_formulas(path: Path | str, keep_bytes: bool = False) -> list[str]:
    """A formula file, one formula per line (``formulas.norm.lst``, ``tgt-test-old.txt``, ...)."""
    return read_lines(path, keep_bytes)


def read_names(path: Path | str) -> list[str]:
    """A names file: one image name per line, as written (``.png`` kept when given)."""
    path = Path(path)
    names = [n.strip() for n in read_lines(path)]
    seen: dict[str, int] = {}
    for line, name in enumerate(names, start=1):
        if not name:
            raise InputError("empty image name", path, line)
        if "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
            raise InputError(f"not a usable image name: {name!r}", path, line)
        key = image_key(name)
        if key in seen:
            raise InputError(f"image {name!r} listed twice (first on line {seen[key]})", path, line)
        seen[key] = line
    return names


def read_split_list(
    path: Path | str, n_formulas: int | None = None, duplicates: DuplicateEntries = "keep"
) -> list[ListEntry]:
    """An official (``idx name type``) or filtered (``name.png idx``) split list, in file order.

    ``n_formulas``: the formula file's length, to refuse an index past its end.
    """
    path = Path(path)
    entries: list[ListEntry] = []
    seen: dict[str, int] = {}
    for lineno, row in enumerate(read_lines(path), start=1):
        parts = row.split()
        if not parts:
            continue
        if len(parts) == 3 and parts[0].isdigit():
            idx_s, name = parts[0], parts[1]
        elif len(parts) == 2 and parts[1].isdigit():
            name, idx_s = parts
        else:
            raise InputError(
                f"expected '<formula_idx> <image> <type>' or '<image>.png <formula_idx>', got {row.strip()[:80]!r}",
                path,
                lineno,
            )
        name = image_key(name)
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise InputError(f"invalid image name {name!r}", path, lineno)
        idx = int(idx_s)
        if n_formulas is not None and idx >= n_formulas:
            raise InputError(
                f"formula index {idx} is past the end of the formula file ({n_formulas} lines, 0..{n_formulas - 1})",
                path,
                lineno,
            )
        if name in seen and duplicates == "error":
            raise InputError(f"image {name}.png listed twice (first on line {seen[name]})", path, lineno)
        seen.setdefault(name, lineno)
        entries.append(ListEntry(name, idx, lineno))
    return entries
