"""IM2LATEX-100K data pipeline: official files -> rendered images -> model-ready sets.

* :mod:`markupeval.data.reader` -- the dataset reader every baseline uses (:class:`Im2LatexDataset`).
* :mod:`markupeval.data.preprocess` -- the paper's crop / pad / bucket / downsample on arrays.
* :mod:`markupeval.data.filters` -- train/validation filters and split statistics.
* :mod:`markupeval.data.vocab` -- vocabulary building and the token <-> id mapping.
* :mod:`markupeval.data.build` -- ``markupeval data build``: render, preprocess, filter, write.
* :mod:`markupeval.data.download` -- ``markupeval data download``: the official release.
* :mod:`markupeval.data.synth` -- ``markupeval data synth``: synthetic normalized formulas.
"""

from __future__ import annotations

from markupeval.data.lists import ListEntry, read_formulas, read_split_list
from markupeval.data.preprocess import PAPER_BUCKETS, PreprocessSettings, preprocess
from markupeval.data.reader import Im2LatexDataset, Item
from markupeval.data.vocab import SPECIAL_TOKENS, Vocabulary, build_vocabulary

__all__ = [
    "Im2LatexDataset",
    "Item",
    "ListEntry",
    "PAPER_BUCKETS",
    "PreprocessSettings",
    "SPECIAL_TOKENS",
    "Vocabulary",
    "build_vocabulary",
    "preprocess",
    "read_formulas",
    "read_split_list",
]
