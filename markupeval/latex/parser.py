"""A recursive-descent parser after KaTeX 0.6's ``Parser.js`` as patched by im2markup.

It follows the original's grammar decisions where they shape the normalized text (implicit groups
of ``\\bf`` and ``\\displaystyle``, ``\\over`` splitting its whole group, ``^`` at the start of a
group being an ordinary token, primes becoming ``^ { \\prime }``), and differs where the original
failed or produced wrong LaTeX:

* unknown commands are ordinary tokens instead of errors;
* a function used as an argument is accepted whatever its "greediness";
* ``\\sqrt[n]`` keeps its index (the original wrote ``[object Object]``);
* every environment parses (``align``, ``split``, ``subarray`` ...), ``cases`` is not wrapped in a
  second ``\\left\\{``, ``\\color`` is written back, ``\\substack`` keeps its ``\\\\``;
* ``f'^2`` is one superscript, as in TeX.

What TeX itself rejects (unbalanced braces, ``\\left`` without ``\\right``, double superscripts,
a stray ``&``) raises :class:`LatexParseError`; the normalizer then falls back to tokenization.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupeval.latex.lexer import EOF, MATH, TEXT, lex
from markupeval.latex.tree import (
    Accent, Array, Atom, Braced, Color, Command, DelimSize, Frac, Group, Infix, LeftRight, Node, Op,
    Sqrt, SupSub, Switch,
)


class LatexParseError(ValueError):
    """The formula is not well-formed enough to build a tree (TeX would reject it too)."""


@dataclass(frozen=True, slots=True)
class _Func:
    kind: str
    nargs: int = 0
    nopt: int = 0
    text_arg: bool = False


_FUNCS: dict[str, _Func] = {}


def _define(names: str, func: _Func) -> None:
    for name in names.split():
        _FUNCS[name] = func


_define(r"\sqrt", _Func("sqrt", 1, 1))
_define(r"\text \mbox \hbox \vbox", _Func("text", 1, text_arg=True))
_define(r"\color", _Func("color", 2))
_define(r"\overline \underline \phantom \operatorname \operatorname*", _Func("braced", 1))
_define(r"\substack \shortstack", _Func("stack", 1))
_define(r"\frac \dfrac \tfrac \binom \dbinom \tbinom", _Func("genfrac", 2))
_define(r"\llap \rlap", _Func("command", 1))
_define(r"\rule", _Func("rule", 2, 1))
# im2markup's fork treats all of these as one-argument "fonts" and writes them back unchanged.
_define(r"\mathrm \mathit \mathbf \mathop \stackrel \mathbb \mathcal \mathfrak \mathscr \mathsf "
        r"\mathtt \label \comment \hspace \vspace \atop \fbox \tag \makebox \raisebox \framebox "
        r"\circle \line \put \vphantom \textup \noalign \Bbb \bold \frak", _Func("command", 1))
_define(r"\acute \grave \ddot \tilde \bar \breve \check \hat \vec \dot", _Func("accent", 1))
_define(r"\over \choose", _Func("infix"))
_define(r"\bigl \Bigl \biggl \Biggl \bigr \Bigr \biggr \Biggr \bigm \Bigm \biggm \Biggm "
        r"\big \Big \bigg \Bigg", _Func("delim", 1))
_define(r"\left \right", _Func("leftright", 1))
_define(r"\begin \end", _Func("env"))
_define(r"\matrix \pmatrix \cases", _Func("plainenv"))
_define(r"\arcsin \arccos \arctan \arg \cos \cosh \cot \coth \csc \deg \dim \exp \hom \ker \lg "
        r"\ln \log \sec \sin \sinh \tan \tanh", _Func("op_named"))
_define(r"\det \gcd \inf \lim \liminf \limsup \max \min \Pr \sup", _Func("op_named_limits"))
_define(r"\int \iint \iiint \oint", _Func("op_symbol"))
_define(r"\coprod \bigvee \bigwedge \biguplus \bigcap \bigcup \intop \prod \sum \bigotimes "
        r"\bigoplus \bigodot \bigsqcup \smallint", _Func("op_symbol_limits"))

_FONT_ALIASES = {r"\Bbb": r"\mathbb", r"\bold": r"\mathbf", r"\frak": r"\mathfrak"}
_GENFRAC = {r"\frac": r"\frac", r"\dfrac": r"\frac", r"\tfrac": r"\frac",
            r"\binom": r"\binom", r"\dbinom": r"\binom", r"\tbinom": r"\binom"}
_INFIX = {r"\over": r"\frac", r"\choose": r"\binom"}

# Switches that take the rest of the group as their body (the fork's list of "sizing" functions).
_SIZE_FUNCS = frozenset(r"\tiny \scriptsize \footnotesize \small \normalsize \large \Large \LARGE "
                        r"\huge \Huge \textrm \rm \cal \bf \siptstyle \boldmath \it".split())
# Style switches stop before an infix \over, so {\displaystyle a \over b} is \frac{\displaystyle a}{b}.
_STYLE_FUNCS = frozenset(r"\displaystyle \textstyle \scriptstyle \scriptscriptstyle".split())

_DELIMITERS = frozenset([
    "(", ")", "[", r"\lbrack", "]", r"\rbrack", r"\{", r"\lbrace", r"\}", r"\rbrace",
    r"\lfloor", r"\rfloor", r"\lceil", r"\rceil", "<", ">", r"\langle", r"\rangle", r"\lt", r"\gt",
    r"\lvert", r"\rvert", r"\lVert", r"\rVert", r"\lgroup", r"\rgroup", r"\lmoustache",
    r"\rmoustache", "/", r"\backslash", "|", r"\vert", r"\|", r"\Vert", r"\uparrow", r"\Uparrow",
    r"\downarrow", r"\Downarrow", r"\updownarrow", r"\Updownarrow", ".",
])

# Environments whose first argument is a column specification.
_COLSPEC_ENVS = frozenset("array tabular subarray alignat alignat* alignedat darray".split())
# Environments aligning on relations at the start of their even columns (`a &= b`).
_ALIGN_ENVS = frozenset("aligned align align* split alignat alignat* alignedat flalign flalign*".split())
# amsmath's delimited matrices, written as KaTeX does: \left( \begin{matrix} ... \end{matrix} \right)
_MATRIX_DELIMS = {"pmatrix": ("(", ")"), "bmatrix": ("[", "]"), "Bmatrix": (r"\{", r"\}"),
                  "vmatrix": ("|", "|"), "Vmatrix": (r"\Vert", r"\Vert")}

for _name in _SIZE_FUNCS | _STYLE_FUNCS:
    _FUNCS[_name] = _Func("switch")

_END_OF_EXPRESSION = frozenset(["}", r"\end", r"\right", "&", "\\\\", r"\cr", EOF])
_NOT_SYMBOL = frozenset(["{", "}", "&", "\\\\", r"\cr", r"\end", r"\right", EOF])
_ROW_BREAKS = frozenset(["\\\\", r"\cr"])


class _FuncRef:
    """A function name met where a group was expected; its arguments are not parsed yet."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Parser:
    """One-shot parser: ``Parser(source).parse()`` returns the top-level expression."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.mode = MATH
        self.pos = 0          # end of the last consumed token
        self.tok = EOF        # look-ahead token
        self.end = 0          # end of the look-ahead token
        self.env_depth = 0    # inside \begin..\end: \\ separates rows
        self.stack_depth = 0  # inside \substack{..}: \\ is kept as a token
        self._relex()

    # -- token stream -------------------------------------------------------------------------
    def _relex(self) -> None:
        self.tok, self.end = lex(self.src, self.pos, self.mode)

    def consume(self) -> None:
        self.pos = self.end
        self._relex()

    def expect(self, text: str) -> None:
        if self.tok != text:
            got = self.tok or "end of input"
            raise LatexParseError(f"expected '{text}', got '{got}' at character {self.pos}")
        self.consume()

    def _read_raw_braced(self) -> str:
        """The raw text of a ``{...}`` argument without nesting (environment names, colours)."""
        if self.tok != "{":
            raise LatexParseError(f"expected '{{' at character {self.pos}")
        start = self.end
        close = self.src.find("}", start)
        if close < 0:
            raise LatexParseError("unterminated '{'")
        self.pos = close + 1
        self._relex()
        return self.src[start:close]

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> list[Node]:
        body = self.parse_expression(False)
        if self.tok != EOF:
            raise LatexParseError(f"unexpected '{self.tok}' at character {self.pos}")
        return body

    def parse_expression(self, break_on_infix: bool, break_on: str | None = None) -> list[Node]:
        body: list[Node] = []
        while True:
            tok = self.tok
            if tok in _END_OF_EXPRESSION:
                if tok in _ROW_BREAKS and self.stack_depth:
                    self.consume()
                    body.append(Atom("\\\\"))
                    continue
                if tok in _ROW_BREAKS and not self.env_depth:
                    # A line break outside any alignment: the original rewrote it to a thin space.
                    self.consume()
                    self._skip_optional_size()
                    body.append(Atom(r"\,"))
                    continue
                break
            if break_on is not None and tok == break_on:
                break
            saved = (self.pos, self.tok, self.end)
            atom = self.parse_atom()
            if atom is None:
                break
            if break_on_infix and isinstance(atom, Infix):
                self.pos, self.tok, self.end = saved
                break
            body.append(atom)
        return self._handle_infix(body)

    def _handle_infix(self, body: list[Node]) -> list[Node]:
        where = [i for i, node in enumerate(body) if isinstance(node, Infix)]
        if not where:
            return body
        if len(where) > 1:
            raise LatexParseError("more than one \\over or \\choose in one group")
        i = where[0]
        numer, denom = body[:i], body[i + 1:]
        numer_node = numer[0] if len(numer) == 1 and isinstance(numer[0], Group) else Group(numer)
        denom_node = denom[0] if len(denom) == 1 and isinstance(denom[0], Group) else Group(denom)
        return [Frac(_INFIX[body[i].cmd], numer_node, denom_node)]  # type: ignore[union-attr]

    def parse_atom(self) -> Node | None:
        base = self.parse_implicit_group()
        if self.mode == TEXT:
            return base
        sup: Node | None = None
        sub: Node | None = None
        limits: str | None = None
        while True:
            tok = self.tok
            if tok in (r"\limits", r"\nolimits"):
                self.consume()
                limits = tok
            elif tok == "^":
                if sup is not None:
                    raise LatexParseError(f"double superscript at character {self.pos}")
                sup = self._script()
            elif tok == "_":
                if sub is not None:
                    raise LatexParseError(f"double subscript at character {self.pos}")
                sub = self._script()
            elif tok == "'":
                if sup is not None:
                    raise LatexParseError(f"double superscript at character {self.pos}")
                primes: list[Node] = []
                while self.tok == "'":
                    self.consume()
                    primes.append(Atom(r"\prime"))
                if self.tok == "^":
                    # TeX reads f'^2 as f^{\prime 2}; the original called it a double superscript.
                    more = self._script()
                    primes.extend(more.body if isinstance(more, Group) else [more])
                sup = Group(primes)
            else:
                break
        if limits is not None and isinstance(base, Op):
            base.explicit_limits = limits
            if not base.symbol:
                base.limits = limits == r"\limits"
            limits = None
        if sup is None and sub is None and limits is None:
            return base
        return SupSub(base, sub, sup, limits)

    def _script(self) -> Node:
        symbol = self.tok
        self.consume()
        group = self.parse_group()
        if group is None:
            raise LatexParseError(f"expected a group after '{symbol}' at character {self.pos}")
        if isinstance(group, _FuncRef):
            node = self.parse_function(group)
            assert node is not None
            return node
        return group

    def parse_implicit_group(self) -> Node | None:
        start = self.parse_symbol()
        if start is None:
            return self.parse_function(None)
        if not isinstance(start, _FuncRef):
            return start
        name = start.name
        if name == r"\left":
            left = self._delimiter(name)
            body = self.parse_expression(False)
            if self.tok != r"\right":
                raise LatexParseError(f"\\left without \\right (got '{self.tok or 'end of input'}')")
            self.consume()
            right = self._delimiter(r"\right")
            return LeftRight(left, body, right)
        if name == r"\begin":
            return self._environment()
        if name in _SIZE_FUNCS:
            return Switch(name, self.parse_expression(False))
        if name in _STYLE_FUNCS:
            return Switch(name, self.parse_expression(True))
        return self.parse_function(start)

    def parse_symbol(self) -> Node | _FuncRef | None:
        tok = self.tok
        if tok in _NOT_SYMBOL:
            return None
        self.consume()
        if tok in _FUNCS:
            return _FuncRef(tok)
        return Atom(tok)

    def parse_group(self) -> Node | _FuncRef | None:
        if self.tok == "{":
            self.consume()
            body = self.parse_expression(False)
            self.expect("}")
            return Group(body)
        return self.parse_symbol()

    def _text_group(self) -> Node | _FuncRef | None:
        """An argument read in text mode (``\\mbox{a b}`` keeps its space)."""
        outer = self.mode
        # Like KaTeX: skip white space before the argument, then lex it in text mode.
        self.mode = TEXT
        self._relex()
        if self.tok == " ":
            self.consume()
        try:
            return self.parse_group()
        finally:
            self.mode = outer
            self._relex()

    def parse_function(self, ref: _FuncRef | None) -> Node | None:
        if ref is None:
            group = self.parse_group()
            if group is None or not isinstance(group, _FuncRef):
                return group
            ref = group
        name = ref.name
        func = _FUNCS[name]
        kind = func.kind
        if kind == "op_named":
            return Op(name, False, False)
        if kind == "op_named_limits":
            return Op(name, True, False)
        if kind == "op_symbol":
            return Op(name, False, True)
        if kind == "op_symbol_limits":
            return Op(name, True, True)
        if kind == "infix":
            return Infix(name)
        if kind == "switch":
            # A switch used as an argument (x^\\bf) switches nothing but itself.
            return Atom(name)
        if kind == "leftright":
            # \right met outside \left...\right, or \left as an argument.
            raise LatexParseError(f"unbalanced {name}")
        if kind == "env":
            if name == r"\end":
                raise LatexParseError("\\end without \\begin")
            return self._environment()
        if kind == "plainenv":
            return self._plain_environment(name)
        if kind == "color":
            color = self._read_raw_braced().strip()
            body = self._argument(name)
            return Color(color, body.body if isinstance(body, Group) else [body])
        if kind == "delim":
            return DelimSize(name, self._delimiter(name))
        optional: list[Node] = []
        for _ in range(func.nopt):
            if self.tok == "[":
                self.consume()
                body = self.parse_expression(False, "]")
                self.expect("]")
                optional.append(Group(body))
        if kind == "stack":
            self.stack_depth += 1
            try:
                arg = self._argument(name)
            finally:
                self.stack_depth -= 1
            return Braced(name, arg.body if isinstance(arg, Group) else [arg])
        args = [self._argument(name, func.text_arg) for _ in range(func.nargs)]
        if kind == "sqrt":
            return Sqrt(optional[0] if optional else None, args[0])  # type: ignore[arg-type]
        if kind == "text":
            arg = args[0]
            return Braced(r"\mathrm", arg.body if isinstance(arg, Group) else [arg])
        if kind == "braced":
            arg = args[0]
            return Braced(name, arg.body if isinstance(arg, Group) else [arg])
        if kind == "genfrac":
            return Frac(_GENFRAC[name], args[0], args[1])
        if kind == "accent":
            return Accent(name, args[0])
        if kind == "rule":
            args = [_size(arg) for arg in args]
        return Command(_FONT_ALIASES.get(name, name), optional + args)

    def _argument(self, name: str, text: bool = False) -> Node:
        arg = self._text_group() if text else self.parse_group()
        if arg is None:
            got = self.tok or "end of input"
            raise LatexParseError(f"expected an argument for {name}, got '{got}'")
        if isinstance(arg, _FuncRef):
            node = self.parse_function(arg)
            assert node is not None
            return node
        return arg

    def _delimiter(self, name: str) -> str:
        tok = self.tok
        # The original's list, plus any symbol command (\left\Arrowvert); never a letter, which
        # would fuse with \left into one control word.
        if tok not in _DELIMITERS and not (len(tok) > 1 and tok[0] == "\\" and tok[1].isalpha()
                                           and tok not in _FUNCS):
            raise LatexParseError(f"invalid delimiter '{tok or 'end of input'}' after {name}")
        self.consume()
        return tok

    def _skip_optional_size(self) -> str | None:
        """The row gap of ``\\\\[4mm]`` without spaces (``4mm``), or None."""
        if self.tok != "[":
            return None
        close = self.src.find("]", self.pos)
        if close < 0:
            raise LatexParseError("unterminated '[' after \\\\")
        gap = "".join(self.src[self.end:close].split())
        self.pos = close + 1
        self._relex()
        return gap or None

    def _environment(self) -> Node:
        env = self._read_raw_braced().replace(" ", "")
        if not env:
            raise LatexParseError("empty environment name")
        colspec: list[Node] | None = None
        if env in _COLSPEC_ENVS:
            spec = self._argument(r"\begin{" + env + "}")
            colspec = spec.body if isinstance(spec, Group) else [spec]
        rows, gaps = self._rows()
        if self.tok != r"\end":
            raise LatexParseError(f"\\begin{{{env}}} without \\end")
        self.consume()
        end = self._read_raw_braced().replace(" ", "")
        if end != env:
            raise LatexParseError(f"\\begin{{{env}}} ended by \\end{{{end}}}")
        if env in _ALIGN_ENVS:
            # As KaTeX's `aligned`: an empty group keeps `&=` a relation once the cell is braced;
            # not added twice, so normalized text stays fixed.
            for row in rows:
                for i in range(1, len(row), 2):
                    cell = row[i]
                    if cell and not _starts_with_empty_group(cell):
                        cell.insert(0, Group([]))
        return self._wrap_matrix(env, colspec, rows, gaps)

    def _plain_environment(self, name: str) -> Node:
        """Plain TeX ``\\matrix{a & b \\cr c & d}`` (also ``\\pmatrix``, ``\\cases``)."""
        self.expect("{")
        rows, gaps = self._rows()
        self.expect("}")
        env = name[1:]
        return self._wrap_matrix(env, None, rows, gaps)

    @staticmethod
    def _wrap_matrix(env: str, colspec: list[Node] | None, rows: list[list[list[Node]]],
                     gaps: list[str | None]) -> Node:
        if env in _MATRIX_DELIMS:
            left, right = _MATRIX_DELIMS[env]
            return LeftRight(left, [Array("matrix", None, rows, gaps)], right)
        return Array(env, colspec, rows, gaps)

    def _rows(self) -> tuple[list[list[list[Node]]], list[str | None]]:
        env_depth, stack_depth = self.env_depth, self.stack_depth
        self.env_depth, self.stack_depth = env_depth + 1, 0
        try:
            row: list[list[Node]] = []
            rows = [row]
            gaps: list[str | None] = [None]
            while True:
                row.append(self.parse_expression(False))
                tok = self.tok
                if tok == "&":
                    self.consume()
                elif tok in (r"\end", "}"):
                    return rows, gaps
                elif tok in _ROW_BREAKS:
                    self.consume()
                    gaps[-1] = self._skip_optional_size()
                    row = []
                    rows.append(row)
                    gaps.append(None)
                else:
                    raise LatexParseError(f"expected & or \\\\ or \\end, got '{tok or 'end of input'}'")
        finally:
            self.env_depth, self.stack_depth = env_depth, stack_depth


def _starts_with_empty_group(cell: list[Node]) -> bool:
    first = cell[0]
    if isinstance(first, Group) and len(cell) == 1 and first.body:
        first = first.body[0]  # a cell written back already braced: { { } = b }
    return isinstance(first, Group) and not first.body


_SIZE = re.compile(r"(-?(?:\d+\.?\d*|\.\d+))([a-z]{2})")


def _size(arg: Node) -> Node:
    """``\\rule{1cm}`` keeps its size as a number and a unit token, as KaTeX's size arguments do."""
    if isinstance(arg, Group) and all(isinstance(a, Atom) for a in arg.body):
        m = _SIZE.fullmatch("".join(a.text for a in arg.body))  # type: ignore[union-attr]
        if m:
            return Group([Atom(m.group(1)), Atom(m.group(2))])
    return arg


def parse(source: str) -> list[Node]:
    """The tree of one (pre-processed) formula; raises :class:`LatexParseError`."""
    return Parser(source).parse()
