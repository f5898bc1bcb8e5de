"""Per-token colouring of a formula, as CDM (opendatalab/UniMERNet ``cdm/``) prepares it.

CDM tokenizes a formula with a KaTeX normalizer, applies its own clean-ups (``normalize``), then
wraps every visible token in ``\\mathcolor[RGB]{r,g,b}{...}`` with a colour of its own, so that a
token's box is the extent of its colour's pixels in the render. This module does the string part,
with :mod:`markupeval.latex` as the KaTeX normalizer; :mod:`markupeval.rendering.boxes` renders.

The rules reproduce the official code (``modules/latex_processor.py``, ``tokenize_latex.py``) as
of 2025-09 behaviour for behaviour, including its index arithmetic: where the official code fails
on a formula (an unmatched brace, a command without argument at the end), :func:`colour_formula`
fails on it too (``ColouredFormula.ok`` is false), because the official evaluation then has no
render for it. Tables (``tabular``) take the formula path here; the official code has extra rules
for them that IM2LATEX-100K never needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupeval import latex

#: Version of these rules, recorded in the CDM signature.
COLOUR_RULES = "cdm-2025.09"

#: Where a formula's comment starts, before the KaTeX normalizer sees it. ``any-percent``: the
#: official ``preprocess_formula.js`` (im2markup's line handling) drops one leading ``%`` and ends
#: the line at its first ``%``, ``\%`` included, so ``50 \% of x`` is coloured as ``5 0 \`` in
#: gold and prediction alike and the rest of the formula is never compared. ``unescaped-percent``
#: (CDM's ``fixed`` variant) keeps ``\%`` and what follows it, as :mod:`markupeval.latex` does.
COMMENT_RULES = ("any-percent", "unescaped-percent")


def check_comment_rule(comments: str) -> None:
    if comments not in COMMENT_RULES:
        raise ValueError(f"unknown comment rule {comments!r}; known: {', '.join(COMMENT_RULES)}")

GAP = 15  # colour step per channel
_LEVELS = 255 // GAP + 1  # 18 levels per channel


def palette_colour(k: int) -> tuple[int, int, int]:
    """Colour of token ``k`` (0-based): (0,0,15), (0,0,30), ... in base 18, black skipped."""
    i = k + 1
    return (i // _LEVELS**2 * GAP, i % _LEVELS**2 // _LEVELS * GAP, i % _LEVELS * GAP)


#: Most tokens a formula can colour: CDM's list has 5,800 colours.
MAX_TOKENS = 5800

# Token classes of the official colouring.
_SKIP_PATTERNS = [re.compile(p) for p in (
    r"\{", r"\}", r"[\[\]]", r"\\begin\{.*?\}", r"\\end\{.*?\}", r"\^", r"\_", r"\\.*rule.*", r"\\.*line.*",
    r"\[[\-.0-9]+[epm][xtm]\]",
)]
_SKIP = frozenset([
    "\\", "\\\\", "\\index", "\\a", "&", "$", "\\multirow", "\\def", "\\edef", "\\raggedright", "\\url", "\\cr",
    "\\ensuremath", "\\left", "\\right", "\\mathchoice", "\\scriptstyle", "\\displaystyle", "\\qquad", "\\quad",
    "\\,", "\\!", "~", "\\boldmath", "\\gdef", "\\today", "\\the",
])
_PHANTOM = frozenset(["\\fontfamily", "\\vphantom", "\\phantom", "\\rowcolor", "\\ref", "\\thesubequation",
                      "\\global", "\\theboldgroup"])
_TWO_TAIL = frozenset(["\\frac", "\\binom"])
_AB_TAIL = frozenset(["\\xrightarrow", "\\xleftarrow", "\\sqrt"])
_TWO_TAIL_INVISIBLE = frozenset(["\\overset", "\\underset", "\\stackrel"])
_ONE_TAIL = frozenset([
    "\\widetilde", "\\overline", "\\hat", "\\widehat", "\\tilde", "\\Tilde", "\\dot", "\\bar", "\\vec",
    "\\underline", "\\underbrace", "\\check", "\\breve", "\\Bar", "\\Vec", "\\mathring", "\\ddot", "\\Ddot",
    "\\dddot", "\\ddddot",
])
_ONE_TAIL_INVISIBLE = frozenset([
    "\\boldsymbol", "\\pmb", "\\textbf", "\\mathrm", "\\mathbf", "\\mathbb", "\\mathcal", "\\textmd", "\\texttt",
    "\\textnormal", "\\text", "\\textit", "\\textup", "\\mathop", "\\mathbin", "\\smash", "\\operatorname",
    "\\textrm", "\\mathfrak", "\\emph", "\\textsf", "\\textsc",
])
_ONE_TAIL_ANY = _ONE_TAIL | _ONE_TAIL_INVISIBLE

_DOTS = ("\\ldots", "\\hdots", "\\cdots", "\\dddot", "\\dots", "\\dotsc", "\\dotsi", "\\dotsm", "\\dotso",
         "\\dotsb", "\\mathellipsis")
_SPELLED = {"\\ex": "e x", "\\ln": "l n", "\\lg": "l g", "\\cot": "c o t", "\\mod": "m o d", "\\bmod": "m o d",
            "\\pmod": "m o d", "\\min": "m i n", "\\max": "m a x", "\\ker": "k e r", "\\hom": "h o m",
            "\\sec": "s e c", "\\scs": "s c s", "\\csc": "c s c", "\\deg": "d e g", "\\arg": "a r g",
            "\\log": "l o g", "\\dim": "d i m", "\\exp": "e x p", "\\sin": "s i n", "\\cos": "c o s",
            "\\tan": "t a n", "\\tanh": "t a n h", "\\cosh": "c o s h", "\\sinh": "s i n h", "\\coth": "c o t h",
            "\\arcsin": "a r c s i n", "\\arccos": "a r c c o s", "\\arctan": "a r c t a n"}

_WHOLE_TOKEN_FOR = {"…": ". . .", **{d: ". . ." for d in _DOTS},
                    **{name: "\\mathrm { " + letters + " }" for name, letters in _SPELLED.items()}}
_WHOLE_TOKENS = re.compile(r"(?<=\s)(?:" + "|".join(re.escape(k) for k in _WHOLE_TOKEN_FOR) + r")(?=\s)")

# tokenize_latex: \operatorname{sin} -> \sin for these operators (its regex allows spaces between
# the letters, which is how the normalizer writes them).
_OPERATORS = ("arccos arcsin arctan arg cos cosh cot coth csc deg det dim exp gcd hom inf injlim ker lg lim "
              "liminf limsup ln log max min Pr projlim sec sin sinh sup tan tanh").split()
_OPERATORNAME = re.compile(r"\\operatorname {(%s)}" % r"\s?".join("|".join(_OPERATORS)))


class ColourError(ValueError):
    """The formula cannot be coloured (the official code fails on it the same way)."""


@dataclass(frozen=True)
class ColouredFormula:
    """A formula ready to render: ``latex`` holds one colour per entry of ``tokens``.

    ``ok`` is false when the official preprocessing fails on the formula (``message`` says why);
    ``paper`` is the ISO A size of the page (5, 4 or 3: more tokens get a larger page).
    """

    source: str
    tokens: tuple[str, ...]
    latex: str
    paper: int
    ok: bool = True
    message: str = ""

    @property
    def typeset(self) -> str:
        """``latex`` as markupeval typesets it: each ``\\mathcolor[RGB]{r,g,b}`` of a palette colour
        becomes ``\\mathcolor{cdm<i>}``, a colour the ``cdm-a*`` templates define once.

        Where TeX runs ``\\mathcolor``, the page is the same (the same rgb strings; tests/test_cdm.py
        compares every colour), and half of a coloured token's typesetting time is gone: xcolor's
        RGB conversion and the optional argument's parsing. Where TeX only scans the tokens, the two
        forms can differ: the official ``[RGB]`` brings a ``]`` that ends an enclosing optional
        argument (``\\sqrt [ \\mathcolor[RGB]{..}{[} .. ]``). So a formula with any other bracket
        keeps the official form, and a render in which TeX reports errors (array preambles,
        ``picture`` coordinates) is done again in the official form (``TokenBoxRenderer``).

        A formula that must be typeset alone (:func:`~markupeval.rendering.batch.is_hazardous`:
        definitions, unbalanced braces) keeps the official form too. It pays a pdflatex run of its
        own either way, so the name saves little, and such formulas are where TeX errs: a coloured
        ``\\renewcommand`` recovers for 20 s before the input stack overflows, and typeset twice it
        held one core for 40 s at the end of the test set's render.
        """
        from markupeval.rendering.batch import is_hazardous

        n = self.latex.count("\\mathcolor[RGB]{")
        if self.latex.count("[") != n or self.latex.count("]") != n or is_hazardous(self.latex):
            return self.latex
        return _RGB_COLOUR.sub(_named_colour, self.latex)


_RGB_COLOUR = re.compile(r"\\mathcolor\[RGB\]\{(\d+),(\d+),(\d+)\}")


def _named_colour(m: re.Match) -> str:
    r, g, b = (int(v) for v in m.groups())
    if any(v % GAP or v > 255 for v in (r, g, b)) or r == g == b == 0:
        return m.group(0)  # not a palette colour (a formula may colour its own tokens): as written
    return f"\\mathcolor{{cdm{(r // GAP * _LEVELS + g // GAP) * _LEVELS + b // GAP}}}"


def _matching(seq: list[str], start: int, pair: tuple[str, str] = ("{", "}")) -> int:
    """Index of the bracket closing the one at ``start`` (-1 when there is none at ``start``)."""
    left, right = pair
    depth = 0
    for i in range(start, len(seq)):
        if seq[i] == left:
            depth += 1
        elif seq[i] == right:
            depth -= 1
            if depth == 0:
                return i
    if depth > 0:
        raise ColourError("no matching brace")
    return -1


def katex_tokens(formula: str, comments: str = "any-percent") -> str:
    """The official ``tokenize_latex`` for a formula, with :func:`markupeval.latex.normalize`.

    The official normalizer prints nothing for a formula it cannot parse, and the raw formula is
    used then; :mod:`markupeval.latex` reports that as ``fallback``, and the raw formula is used.
    ``comments`` is one of :data:`COMMENT_RULES`.
    """
    check_comment_rule(comments)
    text = formula.replace("\n", " ")
    if not text:
        return text
    pre = re.sub(r"\\begin{(split|align|alignedat|alignat|eqnarray)\*?}(.+?)\\end{\1\*?}",
                 r"\\begin{aligned}\2\\end{aligned}", text, flags=re.S)
    pre = re.sub(r"\\begin{(smallmatrix)\*?}(.+?)\\end{\1\*?}", r"\\begin{matrix}\2\\end{matrix}", pre, flags=re.S)
    if comments == "any-percent":
        pre = (pre[1:] if pre.startswith("%") else pre).split("%", 1)[0]
    result = latex.normalize(pre)
    if result.fallback or not result.text:
        return text
    post = " ".join(result.text.split())
    names = ["\\" + m.replace(" ", "") for m in _OPERATORNAME.findall(post)]
    post = _OPERATORNAME.sub(lambda _m: names.pop(0), post)
    return post.replace(r"\\ \end{array}", r"\end{array}") or text


def _join_matches(text: str, pattern: str, trailing: str = "") -> str:
    """Remove the spaces inside every match of ``pattern`` (the official code's recurring step)."""
    for found in re.findall(pattern, text, re.DOTALL):
        text = text.replace(found, found.replace(" ", "") + trailing)
    return text


def cdm_normalize(text: str) -> str:
    """The official ``normalize_latex`` (formula path): token clean-ups and missing braces."""
    text = text.strip().replace(r"\pmatrix", r"\mypmatrix").replace(r"\matrix", r"\mymatrix")
    for item in ("\\raggedright", "\\arraybackslash", "\\lowercase", "\\uppercase"):
        text = text.replace(item, "")
    text = _join_matches(text, r"\\[hv]space { [.0-9a-z ]+ }")
    for found in re.findall(r"\\begin{array} { [lrc ]+ }", text, re.DOTALL):
        text = text.replace(found, "\\begin{array} " + found[len("\\begin{array} "):].replace(" ", ""))
    text = " " + text + " "
    text = re.sub(r"(?<=\s)--(?=\s)", "- -", text)
    text = re.sub(r"(?<=\s)---(?=\s)", "- - -", text)
    # One pass for the official's forty whole-token substitutions (none creates another's match).
    text = _WHOLE_TOKENS.sub(lambda m: _WHOLE_TOKEN_FOR[m.group(0)], text)
    text = _join_matches(text, r"\\string [^ ]+ ", " ")
    text = _join_matches(text, r"\\[Bb]ig[g]?[glrm]? [(){}|\[\]] ", " ")
    text = _join_matches(text, r"\\[Bb]ig[g]?[glrm]? \\.*? ", " ")
    for found in re.findall(r"\\operatorname \*", text, re.DOTALL):
        text = text.replace(found, "\\operatorname")
    text = text.replace("\\lefteqn", "")
    text = text.replace("\\footnote ", "^ ")
    text = _join_matches(text, r"\\\' [^{] ", " ")
    text = _join_matches(text, r"\\parbox {[^{]+}")
    for found in re.findall(r"\\raisebox {[^{]+} [\[\]0-9 exptcm]+{", text, re.DOTALL):
        text = text.replace(found, found.replace(" ", "")[:-1] + " {")
    for found in re.findall(r"{ \\char[0-9\' ]+}", text, re.DOTALL):
        text = text.replace(found, "{ " + found.replace(" ", "")[1:-1] + " }")
    text = _join_matches(text, r"\\rule {[ .0-9a-z]+} {[ .0-9a-z]+}")
    text = _join_matches(text, r"\\specialrule {[ .0-9a-z]+} {[ .0-9a-z]+} {[ .0-9a-z]+}")
    colour = (r"\\colorbox[ \[\]RGBrgb]+{ [A-Za-z 0-9,!]+ } |\\color[ \[\]RGBrgb]+{ [A-Za-z 0-9,!]+ } "
              r"|\\textcolor[ \[\]RGBrgb]+{ [A-Za-z 0-9,!]+ } |\\cellcolor[ \[\]RGBrgb]+{ [A-Za-z 0-9,!]+ } ")
    for found in re.findall(colour, text, re.DOTALL):
        text = text.replace(found, "")
    return " ".join(_fill_braces(text.split(" ")))


def _fill_braces(s: list[str]) -> list[str]:
    """Braces around the arguments of accents, fonts, \\sqrt, \\frac ... that were given bare."""
    idx = 0
    while idx < len(s):
        token = s[idx]
        if token in _ONE_TAIL_ANY:
            sub = idx + 1
            while sub < len(s) and s[sub] in _ONE_TAIL_ANY:
                sub += 1
            head = s[:idx]
            for k in range(idx, sub):
                head = head + [s[k], "{"]
            if s[sub] != "{":
                s = head + [s[sub]] + ["}"] * (sub - idx) + s[sub + 1:]
            else:
                end = _matching(s, sub)
                s = head + s[sub + 1:end] + ["}"] * (sub - idx) + s[end + 1:]
        elif token in _AB_TAIL:
            if s[idx + 1] != "[" and s[idx + 1] != "{":
                s = s[:idx + 1] + ["{", s[idx + 1], "}"] + s[idx + 2:]
            else:
                end1 = _matching(s, idx + 1, ("[", "]")) if s[idx + 1] == "[" else idx
                if s[end1 + 1] != "{":
                    s = s[:end1 + 1] + ["{", s[end1 + 1], "}"] + s[end1 + 2:]
        elif token in _TWO_TAIL or token in _TWO_TAIL_INVISIBLE:
            if s[idx + 1] != "{":
                s = s[:idx + 1] + ["{", s[idx + 1], "}"] + s[idx + 2:]
            end1 = _matching(s, idx + 1)
            if s[end1 + 1] != "{":
                s = s[:end1 + 1] + ["{", s[end1 + 1], "}"] + s[end1 + 2:]
        idx += 1
    return s


def _mark(k: int) -> str:
    return f"\\mathcolor[RGB]{{<color_{k}>}}{{"


def _colour_span(s: list[str], start: int, end: int, tokens: list[str], brace: bool = False) -> list[str]:
    """Colour the tokens from ``start`` up to ``end`` (an argument's inside), one after the other."""
    while start < end:
        s, start = _colour_at(s, start, tokens, brace=brace)
    return s


def _colour_at(s: list[str], idx: int, tokens: list[str], brace: bool = False) -> tuple[list[str], int]:
    """Colour the token at ``idx`` (and what it governs); returns the new list and next index."""
    token = s[idx]
    if not token:
        return s, idx + 1
    if token in _PHANTOM:
        end = _matching(s, idx + 1) if s[idx + 1] == "{" else idx + 1
        return s, end + 1
    if token in _TWO_TAIL:
        num_end = _matching(s, idx + 1)
        den_end = _matching(s, num_end + 1)
        s[idx] = _mark(len(tokens)) + token
        s.insert(den_end + 1, "}")
        tokens.append(token)
        return s, idx + 1
    if token in _ONE_TAIL:
        num_end = _matching(s, idx + 1)
        mark = _mark(len(tokens))
        if token != "\\underbrace" and num_end + 1 < len(s) and s[num_end + 1] == "_":
            s[idx] = "{" + mark + token
            s.insert(num_end + 1, "}}")
        else:
            s[idx] = mark + token
            s.insert(num_end + 1, "}")
        tokens.append(token)
        return s, idx + 1
    if token in _ONE_TAIL_INVISIBLE:
        start = idx + 1
        end = _matching(s, start)
        if end - start == 2:
            # A single-token argument: its colour goes inside the font command.
            tokens.append(s[start + 1])
            s[start + 1] = _mark(len(tokens) - 1) + s[start + 1] + "}"
        else:
            s = _colour_span(s, start + 1, end, tokens)
        return s, end + 1
    if token in _AB_TAIL:
        if s[idx + 1] == "{":
            end = _matching(s, idx + 1)
            s[idx] = _mark(len(tokens)) + token
            s.insert(end + 1, "}")
            tokens.append(token)
            s = _colour_span(s, idx + 2, end, tokens)
            return s, end + 1
        if s[idx + 1] == "[":
            opt_end = _matching(s, idx + 1, ("[", "]"))
            den_end = _matching(s, opt_end + 1)
            s[idx] = _mark(len(tokens)) + token
            s.insert(den_end + 1, "}")
            tokens.append(token)
            s = _colour_span(s, idx + 2, opt_end, tokens, brace=True)
            s = _colour_span(s, opt_end + 2, den_end, tokens)
            return s, den_end + 1
        # The official code leaves the next index unset here (\sqrt followed by neither bracket
        # cannot happen after the brace filling); it would fail.
        raise ColourError(f"{token} without argument")
    if token in ("\\multicolumn", "\\multirow"):
        first_end = _matching(s, idx + 1)
        second_end = _matching(s, first_end + 1)
        third_end = _matching(s, second_end + 1)
        s = _colour_span(s, second_end + 2, third_end, tokens)
        return s, third_end + 1
    if token in _SKIP or token in _TWO_TAIL_INVISIBLE or any(p.match(token) for p in _SKIP_PATTERNS):
        # Brackets are visible unless they delimit \sqrt's optional argument (the official test,
        # negative indices included).
        if (token == "[" and s[idx - 1] != "\\sqrt") or (token == "]" and idx >= 3 and s[idx - 3] != "\\sqrt"):
            s[idx] = _mark(len(tokens)) + s[idx] + "}"
            tokens.append(token)
        return s, idx + 1
    # In place: every caller rebinds to the returned list, as the official code does.
    if brace or (idx > 1 and s[idx - 1] == "_"):
        s[idx] = "{" + _mark(len(tokens)) + s[idx] + "}}"
    else:
        s[idx] = _mark(len(tokens)) + s[idx] + "}"
    tokens.append(token)
    return s, idx + 1


_COLOUR_PLACEHOLDER = re.compile(r"<color_(\d+)>")


def colour_formula(formula: str, comments: str = "any-percent") -> ColouredFormula:
    """Tokenize, normalize and colour one formula as CDM does before rendering it
    (``comments``: one of :data:`COMMENT_RULES`)."""
    try:
        text = cdm_normalize(katex_tokens(formula, comments))
        split = text.strip().split(" ")
        tokens: list[str] = []
        idx = 0
        while idx < len(split):
            split, idx = _colour_at(split, idx, tokens)
    except (ColourError, IndexError) as exc:
        return ColouredFormula(formula, (), "", 5, ok=False, message=f"preprocessing failed: {exc}")
    if len(tokens) > MAX_TOKENS:
        return ColouredFormula(formula, (), "", 5, ok=False, message=f"{len(tokens)} tokens, more than {MAX_TOKENS}")

    def rgb(m: re.Match) -> str:
        return ",".join(str(c) for c in palette_colour(int(m.group(1))))

    coloured = _COLOUR_PLACEHOLDER.sub(rgb, " ".join(split))
    paper = 3 if len(tokens) > 1300 else 4 if len(tokens) > 600 else 5
    return ColouredFormula(formula, tuple(tokens), coloured, paper)
