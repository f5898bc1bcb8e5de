"""The pre-render rewrites of the original ``render_latex.py``, as small named steps.

Each step is a pure ``str -> str`` function with a name; :class:`Compose` chains steps and is
itself named, so the preset used is recorded in the renderer's signature (after jiwer's
``Compose`` and its named presets). The order of :data:`im2latex_compatible` is the original's
order, which matters: the empty-formula placeholder is decided *after* ``%`` stripping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

RewriteFn = Callable[[str], str]


@dataclass(frozen=True)
class Rewrite:
    """One named rewrite step."""

    name: str
    fn: RewriteFn

    def __call__(self, formula: str) -> str:
        return self.fn(formula)


@dataclass(frozen=True)
class Compose:
    """A named, ordered composition of rewrite steps."""

    name: str
    steps: tuple[Rewrite, ...]

    def __call__(self, formula: str) -> str:
        for step in self.steps:
            formula = step(formula)
        return formula

    def describe(self) -> str:
        return f"{self.name}({', '.join(s.name for s in self.steps)})"


def _strip_whitespace(formula: str) -> str:
    # Python's str.strip(), as the original: also strips Unicode line breaks at the ends.
    return formula.strip()


def _replace_matrix_commands(formula: str) -> str:
    # Plain substring replacement, exactly as the original: `\pmatrix{...}` (a plain-TeX macro
    # that amsmath disables) becomes the template's `\mypmatrix`. `\pmatrix` goes first so the
    # result is not rewritten twice.
    return formula.replace(r"\pmatrix", r"\mypmatrix").replace(r"\matrix", r"\mymatrix")


def _strip_percent(formula: str) -> str:
    # The original comments "remove leading comments" but calls str.strip('%'), which strips `%`
    # at *both* ends; we reproduce the call, not the comment (a trailing `\%` loses its `%`).
    return formula.strip("%")


def _empty_placeholder(formula: str) -> str:
    # An empty document would produce no PDF; the original renders a 1 cm space (a blank page).
    return formula if formula else r"\hspace{1cm}"


_SPACE_ARGUMENT = {name: re.compile(name + r" {(.*?)}") for name in ("hspace", "vspace")}


def _despace_space_arguments(formula: str) -> str:
    # The tokenizer wrote `\hspace {1 . 5 cm}`, which LaTeX rejects; the original removed all
    # spaces inside the first braces after `hspace {` / `vspace {` (same regex, same order).
    for pattern in _SPACE_ARGUMENT.values():
        out, last = [], 0
        for m in pattern.finditer(formula):
            out.append(formula[last : m.start(1)])
            out.append(m.group(1).replace(" ", ""))
            last = m.end(1)
        out.append(formula[last:])
        formula = "".join(out)
    return formula


strip_whitespace = Rewrite("strip", _strip_whitespace)
replace_matrix_commands = Rewrite("matrix", _replace_matrix_commands)
strip_percent = Rewrite("percent", _strip_percent)
empty_placeholder = Rewrite("empty", _empty_placeholder)
despace_space_arguments = Rewrite("hvspace", _despace_space_arguments)

#: The original evaluation's rewrites, in its order.
im2latex_compatible = Compose(
    "im2latex_compatible",
    (strip_whitespace, replace_matrix_commands, strip_percent, empty_placeholder, despace_space_arguments),
)

#: The same without the `\matrix` rewrite, for the amsmath-free dataset template, where the
#: plain-TeX `\matrix`/`\pmatrix` macros still exist and `matrix` environments do not.
dataset_compatible = Compose(
    "dataset_compatible",
    (strip_whitespace, strip_percent, empty_placeholder, despace_space_arguments),
)

#: No rewriting except the empty-formula placeholder (an empty document yields no PDF).
minimal = Compose("minimal", (empty_placeholder,))

PRESETS: dict[str, Compose] = {c.name: c for c in (im2latex_compatible, dataset_compatible, minimal)}


def get_preset(name: str) -> Compose:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown rewrite preset {name!r}; known: {', '.join(PRESETS)}") from None
