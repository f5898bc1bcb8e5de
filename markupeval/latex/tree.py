"""Parse-tree nodes of a formula (the subset of KaTeX 0.6's node types the normalizer writes back).

An *expression* is a ``list`` of nodes; ``Group`` is a braced expression (KaTeX's ``ordgroup``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union


@dataclass(slots=True)
class Atom:
    """A single token: a character, a symbol command (``\\alpha``), an unknown command, a space
    from text mode (``" "``, written ``~``)."""

    text: str


@dataclass(slots=True)
class Group:
    body: list["Node"]


@dataclass(slots=True)
class SupSub:
    base: Optional["Node"]
    sub: Optional["Node"]
    sup: Optional["Node"]
    #: ``\\limits`` / ``\\nolimits`` written after the base, when it must be kept.
    limits: Optional[str] = None


@dataclass(slots=True)
class Frac:
    cmd: str  # \frac or \binom
    numer: "Node"
    denom: "Node"


@dataclass(slots=True)
class Sqrt:
    index: Optional[Group]
    body: "Node"


@dataclass(slots=True)
class LeftRight:
    left: str
    body: list["Node"]
    right: str


@dataclass(slots=True)
class Accent:
    cmd: str
    base: "Node"


@dataclass(slots=True)
class Op:
    """``\\sin`` (written ``\\operatorname { s i n }``) or ``\\sum`` (a symbol operator)."""

    name: str
    limits: bool
    symbol: bool
    explicit_limits: Optional[str] = None


@dataclass(slots=True)
class Command:
    """A command written as-is followed by its arguments, unbraced when a single token
    (fonts, ``\\hspace``, ``\\llap``, ``\\stackrel`` ...)."""

    cmd: str
    args: list["Node"]


@dataclass(slots=True)
class Braced:
    """A command whose one argument is always written braced exactly once
    (``\\overline``, ``\\underline``, ``\\phantom``, ``\\substack``, and ``\\mathrm`` for text)."""

    cmd: str
    body: list["Node"]


@dataclass(slots=True)
class Switch:
    """A font, size or style switch applying to the rest of its group (``\\bf``, ``\\displaystyle``)."""

    cmd: str
    body: list["Node"]


@dataclass(slots=True)
class DelimSize:
    cmd: str
    delim: str


@dataclass(slots=True)
class Color:
    color: str
    body: list["Node"]


@dataclass(slots=True)
class Infix:
    """``\\over`` / ``\\choose`` before the enclosing expression is rewritten into a ``Frac``."""

    cmd: str


@dataclass(slots=True)
class Array:
    env: str
    colspec: Optional[list["Node"]]
    rows: list[list[list["Node"]]]
    #: The row gap written after each row's ``\\\\`` (``4mm`` for ``\\\\[4mm]``), or None.
    gaps: Optional[list[Optional[str]]] = None


Node = Union[Atom, Group, SupSub, Frac, Sqrt, LeftRight, Accent, Op, Command, Braced, Switch,
             DelimSize, Color, Infix, Array]
