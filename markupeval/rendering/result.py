"""The renderer's per-formula result (the contract in docs/ARCHITECTURE.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Every status a result can have.
STATUSES = ("ok", "error", "timeout", "too_large")


@dataclass(frozen=True)
class RenderResult:
    """One formula's render.

    ``status`` is ``"ok"`` when there is an image; ``"error"`` when pdflatex produced no usable
    page (TeX's message in ``message``); ``"timeout"`` when TeX made no progress for the timeout;
    ``"too_large"`` when the input or its output exceeded a size cap. ``image`` is a 2-D uint8
    grayscale array (255 = white) cropped to the ink, or the whole blank page for a blank render.
    An ``"ok"`` result may carry a message: TeX reported errors but still produced the page, and
    the original pipeline used such pages (``Renderer(strict=True)`` turns them into ``"error"``).
    ``transient`` marks a result this machine's load may have caused (a timeout while pdflatex
    was not computing most of the time): it is not cached, so the next run tries again.
    """

    status: str
    image: np.ndarray | None
    message: str = ""
    transient: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"
