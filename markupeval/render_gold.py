"""``score --render-gold FILE``: the formulas rendered for the gold images, apart from the text gold.

The original ``render_latex.py`` renders the gold images from the label file given as
``--label-path`` (its help: the original, un-preprocessed file), indexed by the evaluated list's
formula indices; the text metrics use the normalized gold. ``FILE`` is read and aligned exactly as
``--gold`` is: line *i* with ``--names`` line *i*, or indexed by ``--split``'s formula indices, so
``--gold formulas.norm.lst --render-gold im2latex_formulas.lst --split test_filter.lst`` is the
original protocol.

Reading follows the original (Python 2 ``open(label_path).readlines()``, then ``formulas[idx]``):

- the file is split on ``"\\n"`` only. ``"\\r"``, form feeds and Unicode line breaks inside a
  formula stay inside it (a trailing ``"\\r"`` goes, as the original's ``strip()`` removed it). A
  formula holding a real ``"\\n"`` would occupy two lines: its index names the first, the rest is a
  line no index names, and every later index is still right only because the list was made from
  the same split -- the release says its formulas were "stripped from \\n", and the indices here
  are line numbers in exactly that sense;
- bytes that are not UTF-8 (the official release has some) reach pdflatex unchanged, as the
  original wrote them (decoded with ``surrogateescape``; the renderer writes them back);
- an index outside the file, or a names file of another length, is an error naming the file;
- an empty line renders as the original rendered it (a blank page, ``\\hspace{1cm}``), or is
  excluded under ``--empty-gold exclude``; either way it is counted (``render_gold_empty``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from markupeval.errors import InputError
from markupeval.formats import GoldSet, image_key, read_gold


@dataclass(frozen=True)
class RenderGold:
    """Formulas to render for the gold images, one per gold item, in the gold's order."""

    formulas: tuple[str, ...]
    source: str  # for the signature: "file@<sha256 prefix of the file>"
    path: Path | None = None

    @property
    def empty(self) -> int:
        return sum(1 for f in self.formulas if not f.strip())


def read_render_gold(
    path: Path | str,
    gold: GoldSet,
    *,
    names: Path | str | None = None,
    split: Path | str | None = None,
) -> RenderGold:
    """Read ``path`` as ``--gold`` is read (same ``names``/``split``) and align it with ``gold``."""
    path = Path(path)
    try:
        rendered = read_gold(path, names=names, split=split, errors="surrogateescape")
    except InputError as exc:
        if split is None or exc.path != Path(split):
            raise
        # The split list is the gold's own and was fine for --gold: say which file it overran.
        raise InputError(f"{exc.detail}: the --render-gold file {path}", exc.path, exc.line) from None
    if len(rendered.items) != len(gold.items):
        raise InputError(
            f"{len(rendered.items)} render-gold formulas for {len(gold.items)} gold items; "
            "--render-gold must be aligned like --gold (same --names or --split)",
            path,
        )
    for r, g in zip(rendered.items, gold.items):
        if image_key(r.image) != image_key(g.image):  # only possible when neither names nor split
            raise InputError(f"render-gold item {r.image!r} does not align with gold item {g.image!r}", path, r.line)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return RenderGold(tuple(r.formula for r in rendered.items), f"file@{digest}", path)
