"""``markupeval baseline train NAME ...`` and ``markupeval baseline predict NAME ...``.

Each baseline lives in ``markupeval.baselines.<name>`` and exposes ``cli.register(train, predict)``, which adds
a parser named after the baseline to either sub-command (see ``baselines/README.md``). The
registering modules import no torch. A baseline whose module fails to import (a broken install
or a bug) stays listed, marked broken with the error; running it is an error naming the module
and the cause. Running a neural one without torch says which extra to install instead of
showing an ImportError.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import Any, Callable

from markupeval.errors import MarkupEvalError

log = logging.getLogger("markupeval")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("baseline", help="train baseline models and predict with them",
                                   description="Train and run the baseline systems (IM2TEX, CTC, classical).")
    sub = parser.add_subparsers(dest="baseline_command", metavar="{train,predict}")
    train = sub.add_parser("train", help="train a baseline on a dataset built by `markupeval data build`")
    predict = sub.add_parser("predict", help='write one {"image", "prediction"} JSON line per image')
    train_sub = train.add_subparsers(dest="baseline", metavar="NAME")
    predict_sub = predict.add_subparsers(dest="baseline", metavar="NAME")
    from markupeval.baselines import BASELINES

    broken: dict[str, str] = {}
    for name, module in BASELINES.items():
        try:
            mod = importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 -- any failure, a SyntaxError too, is shown, not hidden
            broken[name] = f"cannot import {module}: {type(exc).__name__}: {exc}"
            log.debug("baseline %s is broken", name, exc_info=True)
            _register_broken(name, broken[name], train_sub, predict_sub)
            continue
        mod.register(train_sub, predict_sub)
    for p in (train, predict):
        p.set_defaults(func=_missing_name(p, broken))
    parser.set_defaults(func=_missing_name(parser, broken))
    # Wrap every command so a missing torch becomes a clear error, not a traceback.
    for action in (train_sub, predict_sub):
        for child in action.choices.values():
            func = child.get_default("func")
            if func is not None:
                child.set_defaults(func=_needs_extra(func))


def _register_broken(name: str, reason: str, *subs: Any) -> None:
    """A sub-command for a baseline that failed to import: listed as broken, an error when run."""
    def run(args: argparse.Namespace) -> int:
        raise MarkupEvalError(f"baseline {name!r} is broken: {reason}")

    for sub in subs:
        # No option prefix: whatever options the caller gives are taken as words, so the run
        # reaches the error below instead of argparse's "unrecognized arguments".
        p = sub.add_parser(name, help=f"BROKEN ({reason})", add_help=False, prefix_chars="\0")
        p.add_argument("rest", nargs="*")
        p.set_defaults(func=run)


def _missing_name(parser: argparse.ArgumentParser, broken: dict[str, str]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        parser.print_help()
        for name, reason in broken.items():
            log.error("baseline %s is broken: %s", name, reason)
        return 2
    return run


def _needs_extra(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.split(".")[0] == "torch":
                raise MarkupEvalError("this baseline needs PyTorch: install the extra with "
                                      "pip install 'markupeval[baselines]'") from exc
            raise
    return run
