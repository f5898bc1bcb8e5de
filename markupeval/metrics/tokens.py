"""Whitespace tokenisation exactly as the original scripts split token strings."""

from __future__ import annotations

import re

# Perl's `split` (multi-bleu.perl) splits byte strings on ASCII whitespace only; Python's
# str.split() would also split on U+00A0, U+2028 and friends, which occur in raw LaTeX.
_PERL_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def perl_split(text: str) -> list[str]:
    """Tokens as ``split`` in multi-bleu.perl: runs of ASCII whitespace, no empty tokens."""
    text = text.strip(" \t\n\r\f\v")
    return _PERL_WHITESPACE.split(text) if text else []


def space_split(text: str) -> list[str]:
    """Tokens as the original edit-distance script: ``line.strip().split(' ')``.

    Keeps its quirks on purpose: an empty line is one empty token, and doubled spaces give empty
    tokens, both of which count in the distance and the length.
    """
    return text.strip().split(" ")
