"""markupeval: the IM2LATEX-100K evaluation protocol for image-to-markup models, exact and fast."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

# Library code logs through this named logger and never configures handlers itself.
logging.getLogger("markupeval").addHandler(logging.NullHandler())


def load_run(path):  # -> pandas.DataFrame; pandas is imported only when a notebook asks
    """Per-sample results of a run file (``markupeval score --json``) as a pandas DataFrame."""
    from markupeval.frames import run_frame

    return run_frame(path)


def load_board(runs=(), **kwargs):
    """The leaderboard (published rows and the given run files) as one pandas DataFrame."""
    from markupeval.frames import board

    return board(runs, **kwargs)
