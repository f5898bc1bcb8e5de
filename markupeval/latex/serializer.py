"""Writes a parse tree back as normalized tokens, with the conventions of the IM2LATEX-100K gold.

The conventions are those of im2markup's ``preprocess_latex.js`` renderer: scripts are written
subscript first and always braced (``x _ { a } ^ { b }``), ``\\sin`` becomes
``\\operatorname { s i n }`` (``\\operatorname*`` for ``\\lim``-like operators), ``\\mbox{..}``
becomes ``\\mathrm { .. }`` with spaces as ``~``, ``\\left(`` is one token, array cells are braced
and every row ends with ``\\\\``.

Arguments that the original wrote unbraced (``\\frac 1 2``) stay unbraced when they are one token,
and are braced when they are more (the original wrote ``\\sqrt \\mathrm { x }``, which TeX reads
differently). An argument that is already a group is written once, never wrapped again, so
normalizing normalized text changes nothing.
"""

from __future__ import annotations

from markupeval.latex.tree import (
    Accent, Array, Atom, Braced, Color, Command, DelimSize, Frac, Group, Infix, LeftRight, Node, Op,
    Sqrt, SupSub, Switch,
)

# \limits is already the display default of these, so the original's dropping it changed nothing.
_LIMITS_BY_DEFAULT = frozenset(r"\coprod \bigvee \bigwedge \biguplus \bigcap \bigcup \intop \prod "
                               r"\sum \bigotimes \bigoplus \bigodot \bigsqcup \smallint".split())


def serialize(expression: list[Node]) -> list[str]:
    out: list[str] = []
    _expression(expression, out)
    return out


def _expression(expression: list[Node], out: list[str]) -> None:
    for node in expression:
        _node(node, out)


def _braced(node: Node, out: list[str]) -> None:
    """``node`` as a braced argument: a group as it is, anything else wrapped once."""
    if isinstance(node, Group):
        _node(node, out)
    else:
        out.append("{")
        _node(node, out)
        out.append("}")


def _loose(node: Node, out: list[str]) -> None:
    """An argument the original wrote without braces: kept so when it is a single token."""
    if isinstance(node, Group):
        _node(node, out)
        return
    tokens: list[str] = []
    _node(node, tokens)
    if len(tokens) == 1:
        out.extend(tokens)
    else:
        out.append("{")
        out.extend(tokens)
        out.append("}")


def _node(node: Node, out: list[str]) -> None:
    kind = type(node)
    if kind is Atom:
        out.append("~" if node.text == " " else node.text)  # type: ignore[union-attr]
    elif kind is Group:
        out.append("{")
        _expression(node.body, out)  # type: ignore[union-attr]
        out.append("}")
    elif kind is SupSub:
        _supsub(node, out)  # type: ignore[arg-type]
    elif kind is Frac:
        out.append(node.cmd)  # type: ignore[union-attr]
        _loose(node.numer, out)  # type: ignore[union-attr]
        _loose(node.denom, out)  # type: ignore[union-attr]
    elif kind is Op:
        _op(node, out)  # type: ignore[arg-type]
    elif kind is LeftRight:
        out.append(r"\left" + node.left)  # type: ignore[union-attr]
        _expression(node.body, out)  # type: ignore[union-attr]
        out.append(r"\right" + node.right)  # type: ignore[union-attr]
    elif kind is Accent:
        out.append(node.cmd)  # type: ignore[union-attr]
        _braced(node.base, out)  # type: ignore[union-attr]
    elif kind is Command:
        if node.cmd == r"\label" and isinstance(node.args[0], Group):  # type: ignore[union-attr]
            return  # as the original's final /\\label { .*? }/ deletion (an unbraced one survives)
        out.append(node.cmd)  # type: ignore[union-attr]
        for arg in node.args:  # type: ignore[union-attr]
            _loose(arg, out)
    elif kind is Braced:
        out.append(node.cmd)  # type: ignore[union-attr]
        out.append("{")
        _expression(node.body, out)  # type: ignore[union-attr]
        out.append("}")
    elif kind is Switch:
        if node.cmd == r"\rm":  # type: ignore[union-attr]
            out.extend((r"\mathrm", "{"))
            _expression(node.body, out)  # type: ignore[union-attr]
            out.append("}")
        else:
            out.append(node.cmd)  # type: ignore[union-attr]
            _expression(node.body, out)  # type: ignore[union-attr]
    elif kind is Sqrt:
        out.append(r"\sqrt")
        if node.index is not None:  # type: ignore[union-attr]
            out.append("[")
            _expression(node.index.body, out)  # type: ignore[union-attr]
            out.append("]")
        _loose(node.body, out)  # type: ignore[union-attr]
    elif kind is DelimSize:
        out.extend((node.cmd, node.delim))  # type: ignore[union-attr]
    elif kind is Array:
        _array(node, out)  # type: ignore[arg-type]
    elif kind is Color:
        out.extend((r"\color", "{", node.color, "}", "{"))  # type: ignore[union-attr]
        _expression(node.body, out)  # type: ignore[union-attr]
        out.append("}")
    elif kind is Infix:  # only reachable for a tree built by hand
        out.append(node.cmd)  # type: ignore[union-attr]
    else:  # pragma: no cover - every node type is handled above
        raise TypeError(f"unknown node {node!r}")


def _supsub(node: SupSub, out: list[str]) -> None:
    if node.base is not None:
        _node(node.base, out)
    if node.limits is not None:
        out.append(node.limits)
    if node.sub is not None:
        out.append("_")
        _braced(node.sub, out)
    if node.sup is not None:
        out.append("^")
        _braced(node.sup, out)


def _op(node: Op, out: list[str]) -> None:
    if node.symbol:
        out.append(node.name)
        explicit = node.explicit_limits
        if explicit is not None and (explicit == r"\limits") != (node.name in _LIMITS_BY_DEFAULT):
            out.append(explicit)
        return
    out.append(r"\operatorname*" if node.limits else r"\operatorname")
    out.append("{")
    out.extend(node.name[1:])
    out.append("}")


def _array(node: Array, out: list[str]) -> None:
    out.append(r"\begin{" + node.env + "}")
    if node.colspec is not None:
        out.append("{")
        _expression(node.colspec, out)
        out.append("}")
    last = len(node.rows) - 1
    for r, row in enumerate(node.rows):
        gap = node.gaps[r] if node.gaps else None
        if len(row) == 1 and not row[0]:
            # The empty row after a final \\ is dropped, as in the original; an empty row inside
            # (a \\\\ pair) is vertical space, which the original dropped too.
            if r < last:
                out.append("\\\\")
                if gap:
                    out.extend(("[", gap, "]"))
            continue
        first = row[0]
        if first and isinstance(first[0], Atom) and first[0].text == r"\hline":
            out.append(r"\hline")
            row = [first[1:]] + row[1:]
        for i, cell in enumerate(row):
            if i:
                out.append("&")
            # Fills and vertical space stay outside the cell's braces: inside a math group
            # \hfill cannot stretch and \vspace is lost (the original put them inside).
            lo, hi = 0, len(cell)
            while lo < hi and _is_fill(cell[lo]):
                lo += 1
            while hi > lo and _is_fill(cell[hi - 1]):
                hi -= 1
            _expression(cell[:lo], out)
            body = cell[lo:hi]
            if len(body) == 1 and isinstance(body[0], Group):
                _node(body[0], out)
            else:
                out.append("{")
                _expression(body, out)
                out.append("}")
            _expression(cell[hi:], out)
        out.append("\\\\")
        if gap:
            # Kept (the original dropped it): \\[4mm] spaces rows apart. One token, so that TeX
            # reads a dimension.
            out.extend(("[", gap, "]"))
    out.append(r"\end{" + node.env + "}")


_FILLS = frozenset(r"\hfill \hfil \hfilll \vfill \vfil".split())
_VSPACES = frozenset(r"\vspace \vskip".split())


def _is_fill(node: Node) -> bool:
    if isinstance(node, Atom):
        return node.text in _FILLS
    return isinstance(node, Command) and node.cmd in _VSPACES
