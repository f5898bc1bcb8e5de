"""Line clean-ups applied before a formula is lexed, each one small and named.

They reproduce what im2markup's ``preprocess_formulas.py`` (perl + ``\\r`` handling) and the top of
``preprocess_latex.js`` do to the raw line before KaTeX sees it, with two deliberate departures that
are documented on the step concerned: ``\\%`` no longer starts a comment, and ``\\\\`` is never
rewritten textually (the parser decides, so ``\\substack`` keeps its row breaks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

Step = Callable[[str], str]

# The perl one-liner: s|hskip(.*?)(cm|in|pt|mm|em)|hspace{\1\2}|g (non-greedy up to the first unit).
_HSKIP = re.compile(r"hskip(.*?)(cm|in|pt|mm|em)")
# An unescaped % (preceded by an even number of backslashes) starts a TeX comment.
_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*", re.S)
_LABEL = re.compile(r"\\label\{.*?\}")
# `{\rm`, `{ \rm` and `\rm{` become `\mathrm{` (only when `\rm` is not the start of a longer name).
_RM = re.compile(r"\{ ?\\rm(?![a-zA-Z])|\\rm\{")


def hskip_to_hspace(line: str) -> str:
    """``\\hskip 3mm`` -> ``\\hspace{ 3mm}``: KaTeX has no ``\\hskip``."""
    return _HSKIP.sub(r"hspace{\1\2}", line)


def carriage_returns_to_spaces(line: str) -> str:
    return line.replace("\r", " ").strip()


def strip_comment(line: str) -> str:
    """Drop leading ``%`` characters (commented-out formulas in the corpus) and everything after
    an unescaped ``%``. The original dropped only one leading ``%``, so ``%%x`` became empty, and
    cut at *any* ``%``, which turned ``50\\%`` into ``50\\``. (The protocol's renderer strips all
    leading ``%`` too.)"""
    return _COMMENT.sub(r"\1", line.lstrip("%"))


def remove_text_tilde(line: str) -> str:
    """``\\~`` (a text accent, invalid in math mode) becomes a space, as in the original."""
    return line.replace("\\~", " ")


def remove_medium_space(line: str) -> str:
    """``\\>`` becomes a space, as in the original (KaTeX 0.6 did not know it)."""
    return line.replace("\\>", " ")


def remove_dollars(line: str) -> str:
    """Math shifts inside ``\\mbox{... $x$ ...}`` become spaces, as in the original."""
    return line.replace("$", " ")


def remove_labels(line: str) -> str:
    return _LABEL.sub("", line)


def rm_to_mathrm(line: str) -> str:
    """``{\\rm x}`` -> ``\\mathrm{ x}``: the normalize mode's rewrite of the old font switch."""
    return _RM.sub(r"\\mathrm{", line)


@dataclass(frozen=True)
class Compose:
    """A named chain of line steps (after jiwer's ``Compose``)."""

    name: str
    steps: Sequence[Step]

    def __call__(self, line: str) -> str:
        for step in self.steps:
            line = step(line)
        return line


_COMMON: tuple[Step, ...] = (
    hskip_to_hspace,
    carriage_returns_to_spaces,
    strip_comment,
    remove_text_tilde,
    remove_medium_space,
    remove_dollars,
    remove_labels,
)

#: What both modes do to a raw line before lexing.
TOKENIZE_PREPROCESS = Compose("im2latex-tokenize", _COMMON)
#: The normalize mode additionally rewrites ``\\rm``.
NORMALIZE_PREPROCESS = Compose("im2latex-normalize", _COMMON + (rm_to_mathrm,))
