"""LaTeX tokenizer and normalizer compatible with the IM2LATEX-100K gold, in pure Python.

The gold formulas were produced by im2markup's ``preprocess_formulas.py``, which runs a patched
KaTeX 0.6 under node in two modes:

* ``tokenize``: split into minimal tokens (characters, control words and symbols, ``\\begin{x}``);
* ``normalize``: parse into a tree and write it back in one canonical form
  (``x^b_a`` -> ``x _ { a } ^ { b }``, ``{a \\over b}`` -> ``\\frac { a } { b }`` ...).

:func:`normalize` never returns an empty line for a non-empty formula: when the formula cannot be
parsed it falls back to :func:`tokenize` and says so (``fallback=True``), where the original
printed an empty line. :class:`Normalizer` bundles a mode with its :meth:`~Normalizer.signature`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from markupeval.latex.lexer import lex_all
from markupeval.latex.parser import LatexParseError, parse
from markupeval.latex.preprocess import NORMALIZE_PREPROCESS, TOKENIZE_PREPROCESS
from markupeval.latex.serializer import serialize
from markupeval.metrics.base import Signature

__all__ = ["tokenize", "normalize", "NormalizeResult", "Normalizer", "LatexParseError", "PRESET"]

#: Name of the rules implemented here, recorded in signatures.
PRESET = "im2latex-katex0.6-fixed"
MODES = ("normalize", "tokenize")

# The original rewrote \\ to \, on lines without any alignment; \substack needs its \\ .
_KEEPS_ROW_BREAKS = re.compile(r"matrix|cases|array|begin|substack|shortstack")
_ENV_DELIMITER = frozenset([r"\begin", r"\end"])


@dataclass(frozen=True)
class NormalizeResult:
    """One formula after normalization.

    ``text`` is ``tokens`` joined by single spaces. ``fallback`` is true when the formula could not
    be parsed and ``tokens`` are its tokenization instead; ``message`` says why.
    """

    text: str
    tokens: tuple[str, ...] = field(default=())
    fallback: bool = False
    message: str = ""


def _ascii_only(tokens: Iterable[str]) -> list[str]:
    # preprocess_formulas.py dropped every token that was not pure ASCII.
    # A control space lexes as "\\ "; the original's whitespace split left "\\" of it.
    return [t.strip() for t in tokens if t.isascii() and not t.isspace()]


def _tokens_of(line: str) -> list[str]:
    raw = lex_all(line)
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        tok = raw[i]
        if tok in _ENV_DELIMITER and i + 1 < n and raw[i + 1] == "{":
            j = i + 2
            while j < n and raw[j] != "}":
                j += 1
            if j < n:
                out.append(tok + "{" + "".join(raw[i + 2:j]) + "}")
                i = j + 1
                continue
        out.append(tok)
        i += 1
    return _ascii_only(out)


def tokenize(formula: str) -> list[str]:
    """The original's ``tokenize`` mode: the pre-processing clean-ups, then minimal tokens.

    >>> tokenize(r"x^{10}_a\\label{eq}")
    ['x', '^', '{', '1', '0', '}', '_', 'a']
    """
    line = TOKENIZE_PREPROCESS(formula)
    if not _KEEPS_ROW_BREAKS.search(line):
        line = line.replace("\\\\", r"\,")
    return _tokens_of(line)


def normalize(formula: str) -> NormalizeResult:
    """The original's ``normalize`` mode without its known bugs (see :mod:`markupeval.latex.parser`).

    >>> normalize(r"x^b_a + {1 \\over 2}").text
    'x _ { a } ^ { b } + { \\\\frac { 1 } { 2 } }'
    """
    line = NORMALIZE_PREPROCESS(formula)
    if not line.strip():
        return NormalizeResult("", (), False, "")
    try:
        tokens = _ascii_only(serialize(parse(line)))
    except LatexParseError as exc:
        return _fallback(formula, str(exc))
    except RecursionError:
        return _fallback(formula, "formula nested too deeply to parse")
    return NormalizeResult(" ".join(tokens), tuple(tokens), False, "")


def _fallback(formula: str, message: str) -> NormalizeResult:
    tokens = tokenize(formula)
    return NormalizeResult(" ".join(tokens), tuple(tokens), True, message)


@dataclass(frozen=True)
class Normalizer:
    """A normalization mode with its signature; pure and stateless, safe to share.

    ``Normalizer().normalize(formula)`` returns a :class:`NormalizeResult` in both modes (in
    ``tokenize`` mode ``fallback`` is always false).
    """

    mode: str = "normalize"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown normalizer mode {self.mode!r}; expected one of {MODES}")

    def normalize(self, formula: str) -> NormalizeResult:
        if self.mode == "normalize":
            return normalize(formula)
        tokens = tokenize(formula)
        return NormalizeResult(" ".join(tokens), tuple(tokens), False, "")

    __call__ = normalize

    def many(self, formulas: Sequence[str]) -> list[NormalizeResult]:
        return [self.normalize(f) for f in formulas]

    def signature(self) -> Signature:
        return Signature.from_items([("normalizer", PRESET), ("mode", self.mode)])
