"""Reading rendered images from disk into the arrays the image metrics take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from markupeval.errors import InputError


def load_grayscale(path: Path | str) -> np.ndarray:
    """A PNG (or any image PIL reads) as a 2-D uint8 array, 255 = white.

    This is exactly how the original ``evaluate_image.py`` read its files: PIL ``convert('L')``.
    That conversion drops an alpha channel without compositing, and maps a palette image through
    its palette — both matter for reproducing its numbers on ImageMagick's renders.
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise InputError("image file not found", path) from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        # Truncated or foreign files are a user's input problem, not a crash.
        raise InputError(f"cannot read image: {exc}", path) from None
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"image has no pixels (shape {array.shape})", path)
    return array
