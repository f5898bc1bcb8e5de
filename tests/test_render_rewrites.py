"""The protocol's pre-render rewrites (pure functions, no TeX)."""

from __future__ import annotations

import pytest

from markupeval.rendering.rewrites import (
    dataset_compatible,
    despace_space_arguments,
    get_preset,
    im2latex_compatible,
    replace_matrix_commands,
    strip_percent,
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (r"\pmatrix{a & b}", r"\mypmatrix{a & b}"),
        (r"\matrix{a & b}", r"\mymatrix{a & b}"),
        (r"\begin{pmatrix} a \end{pmatrix}", r"\begin{pmatrix} a \end{pmatrix}"),  # environments untouched
        ("  x^2  ", "x^2"),
        ("", r"\hspace{1cm}"),
        ("%%%", r"\hspace{1cm}"),  # emptiness is decided after stripping %
        ("% a", " a"),  # only whitespace before the % is stripped, as in the original
        (r"a \%", "a \\"),  # the original's strip('%') also strips a trailing %, even escaped
        (r"\hspace {1 . 5 cm} x \vspace {2 pt}", r"\hspace {1.5cm} x \vspace {2pt}"),
        (r"\hspace{1 cm}", r"\hspace{1 cm}"),  # the original's regex needs the tokenizer's space
    ],
)
def test_im2latex_compatible(raw: str, expected: str) -> None:
    assert im2latex_compatible(raw) == expected


def test_steps_are_separate_and_named() -> None:
    assert replace_matrix_commands(r"\pmatrix") == r"\mypmatrix"
    assert strip_percent("%a%") == "a"
    assert despace_space_arguments(r"\hspace {a b} \hspace {c d}") == r"\hspace {ab} \hspace {cd}"
    assert im2latex_compatible.describe().startswith("im2latex_compatible(strip, matrix, percent")
    assert "matrix" not in [s.name for s in dataset_compatible.steps]


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown rewrite preset"):
        get_preset("nope")
