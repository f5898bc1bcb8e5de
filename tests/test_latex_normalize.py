"""The LaTeX normalizer: the gold's conventions, the original's bugs fixed, real gold data, renders."""

from __future__ import annotations

from pathlib import Path

import pytest

from markupeval.latex import Normalizer, normalize

from conftest import SHARED, require_shared  # noqa: E402

DATA = SHARED / "data"


def _lines(path: Path) -> list[str]:
    # Formula files are split on "\n" only (other Unicode line breaks occur inside formulas).
    return path.read_text(encoding="utf-8").split("\n")


def _need(path: Path) -> Path:
    require_shared()
    assert path.exists(), f"{path} is missing from the shared data"
    return path


# (raw, normalized) pairs: each row is a convention of the IM2LATEX-100K gold.
CONVENTIONS = [
    (r"x^b_a", r"x _ { a } ^ { b }"),
    (r"x_a^b", r"x _ { a } ^ { b }"),
    (r"e^{-x}x^z", r"e ^ { - x } x ^ { z }"),
    (r"{a \over b}", r"{ \frac { a } { b } }"),
    (r"a \over b", r"\frac { a } { b }"),
    (r"{n \choose k}", r"{ \binom { n } { k } }"),
    (r"\dfrac{a}{b}+\tfrac12", r"\frac { a } { b } + \frac 1 2"),
    (r"\frac 1 2", r"\frac 1 2"),
    (r"{\rm arcsinh}\; \alpha", r"\mathrm { a r c s i n h } \; \alpha"),
    (r"x_{\rm max}", r"x _ { \mathrm { m a x } }"),
    (r"g_{\star \rm RH}", r"g _ { \star \mathrm { R H } }"),
    (r"{\bf C}_i", r"{ \bf C } _ { i }"),
    (r"{\cal L}", r"{ \cal L }"),
    (r"\mbox{for $r>r^{'}$.}", r"\mathrm { f o r ~ r > r ^ { ' } ~ . }"),
    (r"\text{if } x", r"\mathrm { i f ~ } x"),
    (r"\ln x + \cosh y", r"\operatorname { l n } x + \operatorname { c o s h } y"),
    (r"\lim_{x\to 0}", r"\operatorname* { l i m } _ { x \to 0 }"),
    (r"\operatorname{sin} x", r"\operatorname { s i n } x"),
    (r"\operatorname*{arg\,max}", r"\operatorname* { a r g \, m a x }"),
    (r"\left(\frac{a}{b}\right)", r"\left( \frac { a } { b } \right)"),
    (r"\left\{ Q \right.", r"\left\{ Q \right."),
    (r"\bigg|_{s=0}", r"\bigg | _ { s = 0 }"),
    (r"(r=1,...,R)", r"( r = 1 , . . . , R )"),
    (r"f'(x) + g''", r"f ^ { \prime } ( x ) + g ^ { \prime \prime }"),
    (r"\vec\nabla\cdot\hat{x}", r"\vec { \nabla } \cdot \hat { x }"),
    (r"\overline X_i", r"\overline { X } _ { i }"),
    (r"\dot z_1", r"\dot { z } _ { 1 }"),
    (r"\int^\infty_0 dx", r"\int _ { 0 } ^ { \infty } d x"),
    (r"\sum\limits_{i}", r"\sum _ { i }"),
    (r"a\ b", r"a \ b"),
    (r"a~b", r"a ~ b"),
    (r"{}_{2}F_{1}", r"{ } _ { 2 } F _ { 1 }"),
    (r"\epsilon{_1}{^c}", r"\epsilon { _ 1 } { ^ c }"),
    (r"{\displaystyle a \over b}", r"{ \frac { \displaystyle a } { b } }"),
    (r"\alpha_1^r \quad(r=1)\; ,\label{contrainte}", r"\alpha _ { 1 } ^ { r } \quad ( r = 1 ) \; ,"),
    (r"\label {kp1}e^{-K}", r"e ^ { - K }"),
    (r"% x^2", r"x ^ { 2 }"),
    (r"x^2 % a comment", r"x ^ { 2 }"),
    (r"a\>b", r"a b"),
    (r"a \hskip 2mm b", r"a \hspace { 2 m m } b"),
    (r"\pmatrix{a & b \cr c & d}", r"\left( \begin{matrix} { a } & { b } \\ { c } & { d } \\ \end{matrix} \right)"),
    (r"\begin{array}{cc} 0 & -i \\ i & 0 \end{array}",
     r"\begin{array} { c c } { 0 } & { - i } \\ { i } & { 0 } \\ \end{array}"),
    (r"\begin{array}{l} \hline a \\ \end{array}", r"\begin{array} { l } \hline { a } \\ \end{array}"),
    (r"\begin{pmatrix} a \end{pmatrix}", r"\left( \begin{matrix} { a } \\ \end{matrix} \right)"),
    (r"a -- b", r"a -- b"),
    (r"\alpha\beta", r"\alpha \beta"),
    (r"x \in \mathbb{R}", r"x \in \mathbb { R }"),
    (r"\Bbb R", r"\mathbb R"),
    ("x\u00b2 + y", "x + y"),  # non-ASCII tokens are dropped, as preprocess_formulas.py did
]


@pytest.mark.parametrize("raw, expected", CONVENTIONS)
def test_gold_conventions(raw: str, expected: str) -> None:
    result = normalize(raw)
    assert not result.fallback, result.message
    assert result.text == expected
    assert result.tokens == tuple(expected.split())


@pytest.mark.parametrize("raw, expected", CONVENTIONS)
def test_normalized_text_is_a_fixed_point(raw: str, expected: str) -> None:
    assert normalize(expected).text == expected


# The fork's known bugs (and a few more it had), each fixed: (raw, normalized).
FIXED_BUGS = [
    # \sqrt's index was written "[object Object]".
    (r"\sqrt[3]{x}", r"\sqrt [ 3 ] { x }"),
    # cases gained a second \left\{ (KaTeX wraps cases in \left\{ ... \right. for display).
    (r"\begin{cases} a & x>0 \\ b & x<0 \end{cases}",
     r"\begin{cases} { a } & { x > 0 } \\ { b } & { x < 0 } \\ \end{cases}"),
    # \\ was turned into \, on lines without "matrix"/"array"/..., breaking \substack.
    (r"\sum_{\substack{i<j\\k}} x", r"\sum _ { \substack { i < j \\ k } } x"),
    # align, split, subarray and \color gave an empty line.
    (r"\begin{split} a &= b \\ &= c \end{split}",
     r"\begin{split} { a } & { { } = b } \\ { } & { { } = c } \\ \end{split}"),
    (r"\begin{align} a &= b \end{align}", r"\begin{align} { a } & { { } = b } \\ \end{align}"),
    (r"\sum_{\begin{subarray}{l} i \\ j \end{subarray}} x",
     r"\sum _ { \begin{subarray} { l } { i } \\ { j } \\ \end{subarray} } x"),
    (r"\color{red}{x} + y", r"\color { red } { x } + y"),
    # A function as an argument: the original wrote \sqrt \mathrm { x } (TeX reads \sqrt{\mathrm}x).
    (r"\sqrt{\rm x}", r"\sqrt { \mathrm { x } }"),
    (r"\frac{\rm d}{dx}", r"\frac { \mathrm { d } } { d x }"),
    # f'^2 is one superscript in TeX (the original dropped the prime or failed).
    (r"f'^2", r"f ^ { \prime 2 }"),
    # \limits changes where an integral's limits go, so it is kept there.
    (r"\int\limits_0^1 f", r"\int \limits _ { 0 } ^ { 1 } f"),
    # \% is not a comment; "%%x" (a commented-out formula) is not empty.
    (r"50\% + x", r"5 0 \% + x"),
    (r"%%x^2", r"x ^ { 2 }"),
    # Row gaps and empty rows space rows apart; the original dropped them.
    (r"\begin{array}{c}a\\[4mm]b\\ \\ c\end{array}",
     r"\begin{array} { c } { a } \\ [ 4mm ] { b } \\ \\ { c } \\ \end{array}"),
    # Inside a cell's braces \hfill cannot stretch and \vspace is lost: they stay outside.
    (r"\begin{array}{c}a\hfill\\ b,\vspace{3mm}\\ c\end{array}",
     r"\begin{array} { c } { a } \hfill \\ { b , } \vspace { 3 m m } \\ { c } \\ \end{array}"),
]


@pytest.mark.parametrize("raw, expected", FIXED_BUGS)
def test_fork_bugs_fixed(raw: str, expected: str) -> None:
    result = normalize(raw)
    assert not result.fallback, result.message
    assert result.text == expected
    assert normalize(expected).text == expected


def test_hspace_keeps_its_size() -> None:
    # The gold writes the size split into characters (\hspace { 3 m m }); the protocol's renderer
    # joins them again. The size itself must survive intact.
    tokens = normalize(r"a\hspace{3mm}b\hspace{-.15cm}c").tokens
    first = tokens.index(r"\hspace")
    assert "".join(tokens[first + 2:first + 5]) == "3mm"
    second = tokens.index(r"\hspace", first + 1)
    assert "".join(tokens[second + 2:tokens.index("}", second)]) == "-.15cm"


@pytest.mark.parametrize(
    "raw",
    [r"x^", r"\left( x", r"{a", r"a}", r"a & b", r"x^a^b", r"\begin{matrix} a \end{array}", r"\frac{a}",
     r"{a \over b \over c}", r"\right)"],
)
def test_unparseable_falls_back_to_tokens_never_empty(raw: str) -> None:
    result = normalize(raw)
    assert result.fallback
    assert result.message
    assert result.text and result.text == " ".join(result.tokens)


def test_empty_and_blank_lines_stay_empty_without_fallback() -> None:
    for raw in ("", "   ", r"\label{eq1}", "%"):
        result = normalize(raw)
        assert result.text == "" and not result.fallback


def test_deep_nesting_is_a_fallback_not_a_crash() -> None:
    raw = "{" * 3000 + "x" + "}" * 3000
    result = normalize(raw)
    assert result.fallback and "x" in result.tokens


def test_normalizer_signature_names_preset_and_mode() -> None:
    assert Normalizer().signature().as_dict()["normalizer"] == "im2latex-katex0.6-fixed"
    assert Normalizer("tokenize").signature().as_dict()["mode"] == "tokenize"
    assert Normalizer().normalize(r"x^2").text == "x ^ { 2 }"
    assert Normalizer("tokenize").normalize(r"x^2").text == "x ^ 2"
    with pytest.raises(ValueError):
        Normalizer("canonical")


@pytest.mark.slow
def test_gold_test_set_is_a_fixed_point() -> None:
    gold = [g for g in _lines(_need(DATA / "im2latex100k" / "tgt-test-old.txt"))[:10355] if g.strip()]
    assert len(gold) == 10284
    changed = [g for g in gold if normalize(g).text != g]
    # Known leftovers: lines with the original's "[object Object]", text-mode "^ 2" and "'"
    # (from \mbox{..}) that math mode braces/primes, and "\r" + "ule" from a JS escape slip.
    # Measured: 18 of 10,284; the margin of 2 lines lets a deliberate normalizer change through
    # with a look at this list, and nothing like a regression.
    assert len(changed) <= 18 + 2, changed[:5]


def test_raw_sample_formulas_normalize_to_the_official_gold() -> None:
    sample = DATA / "im2markup-sample"
    formulas = _lines(_need(sample / "formulas.lst"))
    names = {int(idx): name for idx, name, _ in (l.split() for l in _lines(sample / "test.lst") if l)}
    gold_names = [n.removesuffix(".png") for n in _lines(DATA / "im2latex100k" / "src-test-old.txt")]
    gold = _lines(DATA / "im2latex100k" / "tgt-test-old.txt")
    pairs = [(formulas[idx], gold[i]) for i, idx in enumerate(range(1000, 1100))]
    assert [names[idx] for idx in range(1000, 1100)] == gold_names[:100]  # the lists agree
    same = sum(normalize(raw).text == g for raw, g in pairs)
    assert same >= 97 - 1, same  # measured 97 of 100; margin 1


@pytest.mark.slow
def test_normalized_formulas_render_like_the_raw_ones() -> None:
    rendering = pytest.importorskip("markupeval.rendering")
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed")
    # Pixel-identical renders. (\text{if } -> \mathrm { i f ~ } is not: "~" is 3 px wider than a
    # text space at 200 dpi; that is the gold's convention, within image Match's tolerance.)
    raws = [raw for raw, _ in FIXED_BUGS] + [r"\hspace{3mm}x", r"{a \over b}", r"x^b_a", r"\mbox{a}x"]
    normalized = [normalize(raw).text for raw in raws]
    results = rendering.render(raws + normalized, cache=False)
    for raw, norm, a, b in zip(raws, normalized, results[: len(raws)], results[len(raws):]):
        assert a.status == "ok", (raw, a.message)
        assert b.status == "ok", (norm, b.message)
        assert a.image.shape == b.image.shape and (a.image == b.image).all(), (raw, norm)
