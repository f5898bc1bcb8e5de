"""markupeval: the IM2LATEX-100K evaluation protocol for image-to-markup models, exact and fast."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

# Library code logs through this named logger and never configures handlers itself.
logging.getLogger("markupeval").addHandler(logging.NullHandler())
