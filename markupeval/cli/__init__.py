"""Command-line entry point: ``markupeval <command> ...``.

Each command lives in its own module under :mod:`markupeval.cli` and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the parsed
namespace and returning an exit code. This module only wires them together and maps the library's
typed exceptions to exit codes, so no command ever shows a traceback for a user mistake.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from markupeval import __version__
from markupeval.errors import InputError, MarkupEvalError

# Command modules, in the order `markupeval --help` lists them.
COMMAND_MODULES = (
    "markupeval.cli.score",
    "markupeval.cli.render",
    "markupeval.cli.compare_images",
    "markupeval.cli.cdm",
    "markupeval.cli.leaderboard", "markupeval.cli.compare", "markupeval.cli.report",
    "markupeval.cli.data",
    "markupeval.cli.normalize",
    "markupeval.cli.baseline",
    "markupeval.cli.reproduce",
)

EXIT_OK, EXIT_INPUT, EXIT_ENVIRONMENT = 0, 2, 3


def positive_seconds(text: str) -> float:
    """argparse type: a number of seconds greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text!r}")
    return value


def add_executor_argument(parser: argparse.ArgumentParser) -> None:
    """``--executor``: where render chunks and image comparisons run (markupeval.executor)."""
    parser.add_argument(
        "--executor", default=None, metavar="SPEC",
        help="local (a process pool of --workers, the default), local:N, or dask://HOST:PORT for a "
             "dask.distributed cluster (default: $DASK_SCHEDULER_ADDRESS if set)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="markupeval",
        description="Evaluate image-to-markup (image -> LaTeX) models on the IM2LATEX-100K protocol.",
    )
    parser.add_argument("--version", action="version", version=f"markupeval {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level,
        format="%(message)s",
        handlers=[RichHandler(console=Console(stderr=True), show_path=False, show_time=False)],
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_INPUT
    err = Console(stderr=True)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        err.print("[bold red]error:[/]", escape(str(exc)), highlight=False)
        return EXIT_INPUT
    except MarkupEvalError as exc:
        err.print("[bold red]error:[/]", escape(str(exc)), highlight=False)
        return EXIT_ENVIRONMENT
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
