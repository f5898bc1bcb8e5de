"""The tokenize mode, the lexer, the pre-processing steps and the `normalize` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from markupeval.cli import main
from markupeval.latex import tokenize
from markupeval.latex.lexer import TEXT, lex, lex_all
from markupeval.latex.preprocess import remove_labels, rm_to_mathrm, strip_comment


@pytest.mark.parametrize(
    "raw, expected",
    [
        (r"x^{10}_a", ["x", "^", "{", "1", "0", "}", "_", "a"]),
        (r"\alpha\,\beta\\", [r"\alpha", r"\,", r"\beta", r"\,"]),  # lone \\ -> \, as the original
        (r"\begin{matrix} a & b \\ c \end{matrix}",
         [r"\begin{matrix}", "a", "&", "b", "\\\\", "c", r"\end{matrix}"]),
        (r"\substack{a\\b}", [r"\substack", "{", "a", "\\\\", "b", "}"]),
        (r"\left( x \right.", [r"\left", "(", "x", r"\right", "."]),
        (r"a\ b", ["a", "\\", "b"]),
        (r"x \label{eq:1} + y", ["x", "+", "y"]),
        (r"$x$ % c", ["x"]),
        (r"a--b---c", ["a", "--", "b", "---", "c"]),
        (r"\operatorname*{lim}", [r"\operatorname*", "{", "l", "i", "m", "}"]),
        ("x\u00b2", ["x"]),
        ("", []),
    ],
)
def test_tokenize(raw: str, expected: list[str]) -> None:
    assert tokenize(raw) == expected


def test_lexer_modes() -> None:
    assert lex_all(r"  \frac12 \, \% ") == [r"\frac", "1", "2", r"\,", r"\%"]
    assert lex(r"\mbox{a  b}", 6, TEXT) == ("a", 7)
    assert lex(r"\mbox{a  b}", 7, TEXT) == (" ", 9)  # a run of spaces is one token


def test_preprocess_steps() -> None:
    assert strip_comment(r"%x^2 % note") == "x^2 "
    assert strip_comment(r"50\% x") == r"50\% x"
    assert strip_comment(r"a \\% b") == "a \\\\"
    assert remove_labels(r"\label{a}x\label{b}") == "x"
    assert rm_to_mathrm(r"{\rm d}x + { \rm e} + \rm{f} + \rmfamily") == r"\mathrm{ d}x + \mathrm{ e} + \mathrm{f} + \rmfamily"


def test_normalize_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text("x^b_a\n{1\\over 2}\nx^\n\nlast\u2028line\n", encoding="utf-8")
    out = tmp_path / "out.txt"
    assert main(["normalize", str(src), str(out)]) == 0
    lines = out.read_text(encoding="utf-8").split("\n")
    assert lines == ["x _ { a } ^ { b }", r"{ \frac { 1 } { 2 } }", "x ^", "", "l a s t l i n e", ""]
    err = capsys.readouterr().err
    assert "1 fell back to tokenization" in err and "fallback lines: 3" in err
    assert "normalizer:im2latex-katex0.6-fixed" in err

    assert main(["normalize", "--mode", "tokenize", str(src), str(out)]) == 0
    assert out.read_text(encoding="utf-8").split("\n")[0] == "x ^ b _ a"


def test_normalize_command_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog) -> None:
    missing = tmp_path / "missing.txt"
    assert main(["normalize", str(missing), str(tmp_path / "o")]) == 2
    assert "missing.txt" in capsys.readouterr().err
    # Not UTF-8: read as Latin-1 like every formula file (markupeval.textfiles), with a warning
    # naming file and line, so `normalize`, `score` and `data build` agree on its text.
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"x^2\n\xff\xfe\n")
    with caplog.at_level("WARNING", logger="markupeval"):
        assert main(["normalize", str(bad), str(tmp_path / "o")]) == 0
    assert "bad.txt:2: not valid UTF-8" in caplog.text
    assert len((tmp_path / "o").read_text(encoding="utf-8").split("\n")) == 3  # two lines, as read
