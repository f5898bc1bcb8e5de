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


#: What a formula may leave behind outside its group, so that the next formula of a run would not
#: render as it does alone: group and conditional nesting and, with a colour package, the depth of
#: pdfTeX's colour stack (``COLOUR_DEPTH`` counts it) and of ``\mathcolor``'s global stack of
#: outer colours. TeX's recovery from an error inside ``\mathcolor`` can skip a pop, and pdfTeX
#: starts every later page in the colour left on top (seen: an array preamble of CDM's colouring
#: after a broken ``picture``).
LEVELS = ("\\the\\currentgrouplevel:\\the\\currentiflevel:\\the\\csname me@colourdepth\\endcsname:"
          "\\ifcsname g__mathcolor_seq\\endcsname"
          "\\csname seq_count:N\\expandafter\\endcsname\\csname g__mathcolor_seq\\endcsname\\else-\\fi")

#: Counts the colour stack's pushes and pops (the driver's ``\set@color`` / ``\reset@color``); it
#: adds nothing to a page.
COLOUR_DEPTH = r"""\makeatletter
\newcount\me@colourdepth
\ifdefined\set@color
  \let\me@setcolor\set@color
  \let\me@resetcolor\reset@color
  \def\set@color{\global\advance\me@colourdepth\@ne\me@setcolor}%
  \def\reset@color{\me@resetcolor\global\advance\me@colourdepth\m@ne}%
\fi
\makeatother
"""

#: Ends a run as soon as a formula has leaked state (its levels differ from the reference): the
#: formulas after it would be typeset in that state only to be thrown away and typeset again in the
#: next run, so a run of a few hundred with a leaking formula every hundred cost twice the work.
#: The pages before were shipped by their ``\clearpage``; TeX's ``\end`` closes the PDF whatever
#: the nesting it is left in (in math mode it refuses, and the run goes on as without it).
STOP_ON_LEAK = r"""\makeatletter
\def\me@stopifleaked{\ifx\me@levels\me@reference\else\expandafter\@@end\fi}%
\makeatother
"""


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
        + 1), ``MEE`` the :data:`LEVELS` after the formula: anything but the reference levels
        (``MER``) means the formula leaked state into the ones after it.
        """
        start = BEGIN_DOCUMENT if preloaded else self.preamble
        parts = [start, COLOUR_DEPTH, STOP_ON_LEAK,
                 f"\\expandafter\\edef\\csname me@reference\\endcsname{{{LEVELS}}}%\n"
                 f"\\message{{MER{nonce}:\\csname me@reference\\endcsname}}%\n"]
        for i, formula in enumerate(formulas):
            parts.append(f"\\message{{MEB{nonce}:{i}:\\the\\value{{page}}}}%\n")
            parts.append(self.body.replace(PLACEHOLDER, formula))
            # \clearpage is what \end{document} does after the formula in the single document.
            parts.append(f"\\expandafter\\edef\\csname me@levels\\endcsname{{{LEVELS}}}%\n"
                         f"\\message{{MEE{nonce}:{i}:\\csname me@levels\\endcsname}}\\clearpage"
                         "\\csname me@stopifleaked\\endcsname\n")
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
