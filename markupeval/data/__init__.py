"""IM2LATEX-100K data pipeline: official files -> rendered images -> model-ready sets.

* :mod:`markupeval.data.reader` -- the dataset reader every baseline uses (:class:`Im2LatexDataset`).
* :mod:`markupeval.data.preprocess` -- the paper's crop / pad / bucket / downsample on arrays.
* :mod:`markupeval.data.filters` -- train/validation filters and split statistics.
* :mod:`markupeval.data.vocab` -- vocabulary building and the token <-> id mapping.
* :mod:`markupeval.data.build` -- ``markupeval data build``: render, preprocess, filter, write.
* :mod:`markupeval.data.download` -- ``markupeval data download``: the official release.
* :mod:`markupeval.data.synth` -- ``markupeval data synth``: synthetic normalized formulas.
* :mod:`markupeval.data.fidelity` -- ``markupeval data fidelity``: our renders of raw formulas
  against the original dataset images (image Match).

Typical use (offline, from the holdings in ``shared/data``)::

    markupeval data build --holdings shared/data/im2latex100k --out data/im2latex-available
    markupeval data synth --train-gold shared/data/im2latex100k/train-first3000.formulas.norm.txt \\
        --reference shared/data/im2latex100k/tgt-val.txt -n 10000 --out data/im2latex-synth
    Im2LatexDataset(["data/im2latex-available", "data/im2latex-synth"], "train")

With internet: ``markupeval data download --out release --extract`` then ``markupeval data build
--formulas release/im2latex_formulas.lst --train release/im2latex_train.lst ...``.
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
