"""Render templates: the LaTeX documents a formula is typeset in, and the batched document.

The templates live in ``render/templates/*.tex``, the single source: ``markupeval/templates`` is a
symlink to it, so wheels ship the files as package data (``templates/*.tex``).
A template is an ordinary LaTeX document whose line ``%<formula>`` marks where the formula goes.
For batching, the document is split into a preamble (up to ``\\begin{document}``) and a body
(between ``\\begin{document}`` and ``\\end{document}``); a batch repeats the body once per formula,
one page each, with ``\\message`` markers around every formula so that TeX's messages can be
attributed to it and its page found in the PDF.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

PLACEHOLDER = "%<formula>"
BEGIN_DOCUMENT = "\\begin{document}\n"
END_DOCUMENT = "\\end{document}"

#: Template names, default first. The ``cdm-a*`` templates are CDM's (one per paper size it picks).
TEMPLATE_NAMES = ("im2markup", "dataset", "cdm-a5", "cdm-a4", "cdm-a3")
DEFAULT_TEMPLATE = "im2markup"


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    preamble: str  # up to and including the \begin{document} line
    body: str  # per-formula material, holding PLACEHOLDER

    @property
    def sha(self) -> str:
        """Short content hash, recorded in signatures and cache keys."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:12]

    def single(self, formula: str) -> str:
        """The plain document for one formula, exactly as the original pipeline wrote it."""
        return self.preamble + self.body.replace(PLACEHOLDER, formula) + END_DOCUMENT + "\n"

    def batch(self, formulas: list[str], nonce: str, preloaded: bool = False) -> str:
        """One document typesetting every formula on its own page, with attribution markers.

        ``preloaded``: the preamble is already in the format the run loads
        (:mod:`markupeval.rendering.preloaded`), so the document starts at ``\\begin{document}``.

        Markers go to the terminal (``\\message``), which TeX flushes as it runs, so a watchdog
        can tell which formula is running. ``MEB`` carries the page counter (pages shipped so far
        + 1), ``MEE`` the group and conditional nesting after the formula: anything but the
        reference levels (``MER``) means the formula leaked state into the ones after it.
        """
        levels = "\\the\\currentgrouplevel:\\the\\currentiflevel"
        start = BEGIN_DOCUMENT if preloaded else self.preamble
        parts = [start, f"\\message{{MER{nonce}:{levels}}}%\n"]
        for i, formula in enumerate(formulas):
            parts.append(f"\\message{{MEB{nonce}:{i}:\\the\\value{{page}}}}%\n")
            parts.append(self.body.replace(PLACEHOLDER, formula))
            # \clearpage is what \end{document} does after the formula in the single document.
            parts.append(f"\\message{{MEE{nonce}:{i}:{levels}}}\\clearpage\n")
        parts.append(f"\\message{{MEZ{nonce}:\\the\\value{{page}}}}%\n")
        parts.append(END_DOCUMENT + "\n")
        return "".join(parts)


def parse_template(name: str, text: str) -> Template:
    """Split a template document; raises ValueError when it lacks the expected structure."""
    start = text.find(BEGIN_DOCUMENT)
    end = text.rfind(END_DOCUMENT)
    if start < 0 or end < start:
        raise ValueError(f"template {name!r} needs a '\\begin{{document}}' line and '\\end{{document}}'")
    start += len(BEGIN_DOCUMENT)
    body = text[start:end]
    if body.count(PLACEHOLDER) != 1:
        raise ValueError(f"template {name!r} needs exactly one line {PLACEHOLDER!r} in its body")
    return Template(name=name, text=text, preamble=text[:start], body=body)


@lru_cache(maxsize=None)
def load_template(name: str) -> Template:
    """A shipped template by name (``im2markup`` or ``dataset``)."""
    if name not in TEMPLATE_NAMES:
        raise ValueError(f"unknown template {name!r}; known: {', '.join(TEMPLATE_NAMES)}")
    text = resources.files("markupeval").joinpath("templates", f"{name}.tex").read_text(encoding="utf-8")
    return parse_template(name, text)
