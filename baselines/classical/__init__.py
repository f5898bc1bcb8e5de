"""INFTY-style classical OCR baseline: segmentation, symbol recognition, structural analysis.

No neural network: connected components of the binarised image are merged into symbols,
recognised by nearest neighbour over glyph templates rendered with markupeval's own renderer,
and arranged into normalized LaTeX by geometric rules (baselines, scripts, fractions, radicals,
big operators, delimiters). See ``baselines/classical/README.md``.
"""
