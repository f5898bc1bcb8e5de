"""IM2TEX (Deng et al., ICML 2017) in PyTorch: ``config`` (no torch), ``model``, ``decode``, ``cli``."""
