"""Token boxes: render formulas with one colour per token and find each colour's extent.

This is CDM's ``latex2bbox_color`` on markupeval's batched, sandboxed, cached renderer: the
coloured formula (:mod:`markupeval.rendering.colour`) is typeset in CDM's template (page size
chosen by token count), rasterised by Ghostscript ``pngalpha`` at 200 dpi as a map of palette
colours (:class:`~markupeval.rendering.rasterize.GhostscriptColourRasterizer`), and each token's
box is the extent of its colour's pixels, widened by 1 px, in the coordinates of CDM's image
(cropped to the ink with an 8 px pad).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np
from scipy import ndimage

from markupeval.metrics.base import Signature
from markupeval.rendering.colour import COLOUR_RULES, ColouredFormula, check_comment_rule, colour_formula
from markupeval.rendering.rasterize import OTHER_INK
from markupeval.rendering.renderer import Renderer

log = logging.getLogger("markupeval")

#: CDM's crop: the ink's bounding box plus this many pixels on each side.
PAD = 8
#: pdflatex's limit in the official code (seconds).
CDM_TIMEOUT = 30.0
#: TeX's input stack for CDM's renders (TeX Live's is 10,000). A coloured ``\renewcommand``
#: redefines ``\mathcolor``'s own continuation, and every later ``\mathcolor`` then recurses
#: without end (3 of the test set's gold formulas: ``\renewcommand{\arraystretch}``). Under TeX
#: Live's stack that runs 30 s into the official timeout (it overflows after 55 s here), so no
#: render either way; at 1,000 levels TeX stops in 0.5 s with "capacity exceeded". The deepest
#: stack of any other render of the test set's gold and both shared models' predictions is 57.
CDM_INPUT_STACK = 1000

#: Statuses of a formula's token boxes.
BOX_STATUSES = ("ok", "no_boxes", "preprocess_failed", "error", "timeout", "too_large")


@dataclass(frozen=True)
class TokenBoxes:
    """The tokens of one formula that got a box, with their boxes, as CDM's matcher sees them.

    ``boxes`` is ``(n, 4)`` int (x_min, y_min, x_max, y_max) in the coordinates of CDM's image of
    size ``size`` = (width, height). ``index`` gives each box's position in ``all_tokens`` (every
    coloured token; tokens hidden by others or drawn nowhere get no box). ``labels`` is the render's
    colour-label map cropped to the ink (for pictures), or None. ``status`` is ``ok`` with at least
    one box, ``no_boxes`` for a render without any, else why there is no render.
    """

    status: str
    tokens: tuple[str, ...] = ()
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int64))
    size: tuple[int, int] = (0, 0)
    index: tuple[int, ...] = ()
    all_tokens: tuple[str, ...] = ()
    message: str = ""
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def boxes_from_labels(labels: np.ndarray, tokens: Sequence[str]) -> tuple[np.ndarray, tuple[int, ...], tuple[int, int]]:
    """Boxes of tokens 0..len(tokens)-1 in a cropped label map: (boxes, token indices, image size)."""
    h, w = labels.shape
    n = len(tokens)
    own = np.where((labels > 0) & (labels <= n) & (labels != OTHER_INK), labels, 0).astype(np.int32)
    slices = ndimage.find_objects(own, max_label=n) if n else []
    rows, index = [], []
    for k, sl in enumerate(slices):
        if sl is None:
            continue
        ys, xs = sl
        # CDM: (min - 1, max + 1) of the colour's pixels, in the image padded by PAD on each side.
        rows.append((xs.start + PAD - 1, ys.start + PAD - 1, xs.stop - 1 + PAD + 1, ys.stop - 1 + PAD + 1))
        index.append(k)
    boxes = np.array(rows, dtype=np.int64).reshape(-1, 4)
    # PIL's crop (x_min - 8, y_min - 8, x_max + 8, y_max + 8) is 2 * PAD - 1 wider than the ink.
    return boxes, tuple(index), (w + 2 * PAD - 1, h + 2 * PAD - 1)


@lru_cache(maxsize=1)
def upgreek_installed() -> bool:
    """Whether TeX finds upgreek.sty (CDM's templates load it; ours only where it exists)."""
    exe = shutil.which("kpsewhich")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "upgreek.sty"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return bool(out.stdout.strip())


class TokenBoxRenderer:
    """Colour, render and box many formulas; settings in the constructor, all in :meth:`signature`.

    ``workers``, ``cache``, ``chunk_size`` and ``progress`` are the :class:`Renderer`'s; they do not
    change any result. ``timeout`` is seconds without progress per formula (CDM kills pdflatex
    after 30 s); ``input_stack`` caps TeX's input stack (:data:`CDM_INPUT_STACK`; None: TeX's own);
    ``comments`` says where a formula's comment starts (:data:`~markupeval.rendering.colour.COMMENT_RULES`).
    """

    def __init__(
        self,
        *,
        timeout: float = CDM_TIMEOUT,
        input_stack: int | None = CDM_INPUT_STACK,
        comments: str = "any-percent",
        workers: int | None = None,
        cache: bool | str = True,
        chunk_size: int = 400,
        progress: bool = False,
    ) -> None:
        check_comment_rule(comments)
        self.timeout = timeout
        self.comments = comments
        self._options = dict(rasterizer="ghostscript-colour", rewrites="minimal", bilevel=False, timeout=timeout,
                             input_stack=input_stack, workers=workers, cache=cache, chunk_size=chunk_size,
                             progress=progress)
        self._renderers: dict[int, Renderer] = {}

    def _renderer(self, paper: int) -> Renderer:
        if paper not in self._renderers:
            self._renderers[paper] = Renderer(f"cdm-a{paper}", **self._options)  # type: ignore[arg-type]
        return self._renderers[paper]

    def signature(self) -> Signature:
        base = self._renderer(5).signature().as_dict()
        return Signature.from_items([
            ("colour_rules", COLOUR_RULES),
            ("comments", self.comments),
            ("template", base["template"].replace("cdm-a5", "cdm-a5/a4/a3")),
            ("upgreek", upgreek_installed()),
            ("tex", base["tex"]),
            ("rasterizer", "ghostscript-pngalpha"),
            ("dpi", base["dpi"]),
            ("crop_pad", PAD),
            ("timeout", base["timeout"]),
            ("input_stack", base.get("input_stack", "tex")),
        ])

    def colour(self, formulas: Sequence[str]) -> list[ColouredFormula]:
        """Coloured formulas (pure string work, ~1 ms each: spread over the workers when many)."""
        workers = self._renderer(5).workers
        if workers == 1 or len(formulas) < 2000:
            return [colour_formula(f, self.comments) for f in formulas]
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(colour_formula, formulas, [self.comments] * len(formulas), chunksize=256))

    def render(self, formulas: Sequence[str], keep_labels: bool = False) -> list[TokenBoxes]:
        """One :class:`TokenBoxes` per formula, in order; identical formulas are rendered once.

        Boxes are taken from each render as it arrives and its label map is dropped, so memory
        holds the renders in flight, not the corpus's (a label map is 2 bytes a pixel: the test
        set's would take gigabytes); ``keep_labels`` keeps them, for pictures of a few samples.
        """
        distinct = list(dict.fromkeys(formulas))
        out = dict.fromkeys(range(len(distinct)))
        for k, boxes in self.render_stream(distinct, keep_labels):
            out[k] = boxes
        at = {f: k for k, f in enumerate(distinct)}
        return [out[at[f]] for f in formulas]  # type: ignore[misc]

    def render_stream(self, formulas: Sequence[str], keep_labels: bool = False) -> Iterator[tuple[int, TokenBoxes]]:
        """``(index, boxes)`` of every formula, each index once, as renders finish (any order)."""
        coloured = self.colour(formulas)
        by_paper: dict[int, list[int]] = {}
        for k, c in enumerate(coloured):
            if not c.ok:
                yield k, TokenBoxes("preprocess_failed", message=c.message)
            else:
                by_paper.setdefault(c.paper, []).append(k)
        for paper, group in sorted(by_paper.items()):
            renderer = self._renderer(paper)
            sources = [coloured[k].typeset for k in group]
            again = []
            for i, r in renderer.render_stream(sources):
                c = coloured[group[i]]
                if sources[i] != c.latex and (r.status == "error" or (r.status == "ok" and r.message)):
                    # TeX met errors, and what it does next depends on the exact tokens: only the
                    # official form's recovery gives the official render.
                    again.append(group[i])
                else:
                    yield group[i], _token_boxes(c, r, keep_labels)
            if again:
                log.debug("cdm: %d formulas with TeX errors typeset again in the official colour form", len(again))
            for j, r in renderer.render_stream([coloured[k].latex for k in again]):
                yield again[j], _token_boxes(coloured[again[j]], r, keep_labels)


def _token_boxes(coloured: ColouredFormula, r, keep_labels: bool) -> TokenBoxes:
    """The boxes of one coloured formula's render."""
    tokens = coloured.tokens
    if r.status != "ok":
        return TokenBoxes(r.status, all_tokens=tokens, message=r.message)
    labels = r.image if r.image is not None and r.image.dtype == np.uint16 else None
    if labels is None:  # a blank page
        return TokenBoxes("no_boxes", all_tokens=tokens, message="blank render")
    boxes, index, size = boxes_from_labels(labels, tokens)
    return TokenBoxes(
        "ok" if index else "no_boxes",
        tokens=tuple(tokens[k] for k in index),
        boxes=boxes,
        size=size,
        index=index,
        all_tokens=tokens,
        message=r.message if index else (r.message or "no token is visible"),
        labels=labels if keep_labels else None,
    )
