"""Writing the IM2LATEX-100K text files: formula files and split lists.

Reading them is :mod:`markupeval.textfiles`' (re-exported here: one reader, one policy for
encodings and duplicates, shared by every command).

Two list formats exist (see ``docs/PROTOCOL.md``):

* official split lists ``im2latex_{train,validate,test}.lst``: ``<formula_idx> <image> <render_type>``
  (image name without ``.png``);
* filtered lists ``{train,validate,test}_filter.lst`` of the processed release:
  ``<image>.png <formula_idx>``.

Formula files are split on ``"\\n"`` only: other Unicode line breaks occur inside formulas, and
``str.splitlines()`` would shift every later index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from markupeval.textfiles import ListEntry, read_formulas, read_split_list

__all__ = ["ListEntry", "read_formulas", "read_split_list", "write_filter_list", "write_formulas"]


def write_formulas(path: Path, formulas: Sequence[str]) -> None:
    """Write one formula per line with a final newline; refuse formulas that contain ``\\n``."""
    for i, f in enumerate(formulas):
        if "\n" in f:
            raise ValueError(f"formula {i} contains a newline and would shift every later line")
    Path(path).write_text("".join(f + "\n" for f in formulas), encoding="utf-8")


def write_filter_list(path: Path, entries: Sequence[ListEntry]) -> None:
    """Write a processed-release list: ``<name>.png <formula_idx>`` per line."""
    Path(path).write_text("".join(f"{e.name}.png {e.formula_idx}\n" for e in entries), encoding="utf-8")
