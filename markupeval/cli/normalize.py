"""``markupeval normalize IN OUT``: tokenize or normalize a formula file like the IM2LATEX-100K gold."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console

from markupeval.textfiles import read_formulas
from markupeval.latex import MODES, Normalizer

log = logging.getLogger("markupeval")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "normalize",
        help="tokenize or normalize LaTeX formulas (one per line) like the IM2LATEX-100K gold",
        description=(
            "Write one normalized formula per input line (split on \\n only, so the line count is "
            "kept). Formulas that cannot be parsed are tokenized instead and counted on stderr."
        ),
    )
    p.add_argument("input", type=Path, help="formulas, one per line (UTF-8; see markupeval.textfiles)")
    p.add_argument("output", type=Path, help="where to write the result ('-' for stdout)")
    p.add_argument("--mode", default="normalize", choices=MODES,
                   help="normalize (parse and rewrite, the gold's form) or tokenize (split only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    lines = read_formulas(args.input)
    normalizer = Normalizer(args.mode)
    out: list[str] = []
    fallbacks: list[int] = []
    for number, line in enumerate(lines, 1):
        result = normalizer.normalize(line)
        if result.fallback:
            fallbacks.append(number)
            log.info("%s:%d: not parsed, tokenized instead: %s", args.input, number, result.message)
        out.append(result.text)
    body = "\n".join(out) + ("\n" if out else "")
    if str(args.output) == "-":
        print(body, end="")
    else:
        args.output.write_text(body, encoding="utf-8")
    err = Console(stderr=True)
    err.print(f"{len(out)} formulas, {len(fallbacks)} fell back to tokenization [{normalizer.signature()}]",
              highlight=False, markup=False)
    if fallbacks:
        shown = ", ".join(str(n) for n in fallbacks[:20]) + (" ..." if len(fallbacks) > 20 else "")
        err.print(f"fallback lines: {shown} (-v for the reasons)", highlight=False, markup=False)
    return 0
