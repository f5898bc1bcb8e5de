"""CRNN + CTC baseline (the paper's CTC row): ``config`` (no torch), ``model``, ``decode``, ``cli``."""
