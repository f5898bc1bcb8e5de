"""Batched, sandboxed, cached pdflatex rendering of formulas (see docs/ARCHITECTURE.md).

>>> from markupeval.rendering import render
>>> results = render([r"x^2", r"\frac{a}{b}"], cache=False)
>>> [r.status for r in results]
['ok', 'ok']
"""

from __future__ import annotations

from markupeval.rendering.renderer import DEFAULT_RASTERIZER, Renderer, render
from markupeval.rendering.result import STATUSES, RenderResult

__all__ = ["DEFAULT_RASTERIZER", "STATUSES", "RenderResult", "Renderer", "render"]
