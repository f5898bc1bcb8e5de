"""The KaTeX 0.6 lexer, in its two modes.

Math mode skips white space and returns one token: a control word (``\\alpha``), a control symbol
(``\\,``, ``\\{``, ``\\\\``) or a single character. Text mode (inside ``\\mbox{...}``) does not skip
white space: a run of it is one ``" "`` token, which the serializer writes as ``~``.
The original refused characters outside its tables; here any character is a token (non-ASCII
tokens are dropped from the output later, as ``preprocess_formulas.py`` did).
"""

from __future__ import annotations

import re

MATH, TEXT = "math", "text"
EOF = ""

# KaTeX 0.6 lexes "--" and "---" as one token; \operatorname* is one token of the gold.
_MATH_TOKEN = re.compile(r"\s*(\\operatorname\*|\\[a-zA-Z]+|\\.|---?|\S)", re.S)
_TEXT_SPACE = re.compile(r"\s+")
_TEXT_TOKEN = re.compile(r"\\[a-zA-Z]+|\\.|---?|.", re.S)


def lex(source: str, pos: int, mode: str) -> tuple[str, int]:
    """The token starting at ``pos`` and the position after it; ``("", len)`` at the end."""
    if mode == TEXT:
        m = _TEXT_SPACE.match(source, pos)
        if m:
            return " ", m.end()
        m = _TEXT_TOKEN.match(source, pos)
        return (m.group(), m.end()) if m else (EOF, len(source))
    m = _MATH_TOKEN.match(source, pos)
    if m:
        return m.group(1), m.end()
    return EOF, len(source)


def lex_all(source: str) -> list[str]:
    """Every math-mode token of ``source``, in order."""
    out: list[str] = []
    pos, n = 0, len(source)
    while pos < n:
        m = _MATH_TOKEN.match(source, pos)
        if not m:
            break
        out.append(m.group(1))
        pos = m.end()
    return out
