"""Baseline image-to-LaTeX systems evaluated with markupeval.

Each baseline is a sub-package ``markupeval.baselines.<name>`` that exposes ``cli.register(train, predict)``
(see ``baselines/README.md``). ``torch`` is imported only inside the sub-packages that need it, so
importing this package, or running ``markupeval`` without the ``baselines`` extra, never needs it.
"""

from __future__ import annotations

#: Baselines the ``markupeval baseline`` command knows, name -> module holding ``register``.
#: Modules are imported only when their command runs.
BASELINES: dict[str, str] = {
    "im2tex": "markupeval.baselines.im2tex.cli",
    "ctc": "markupeval.baselines.ctc.cli",
    "classical": "markupeval.baselines.classical.cli",
}
