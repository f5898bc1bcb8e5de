"""Reading formula images from disk: the one PNG loader every command and baseline uses."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from markupeval.errors import InputError

Transparency = Literal["as-original", "white"]


def load_grayscale(path: Path | str, *, transparent: Transparency = "as-original") -> np.ndarray:
    """An image file (PNG or any format PIL reads) as a 2-D uint8 array, 255 = white.

    ``transparent="as-original"`` (the default) reads exactly as the original ``evaluate_image.py``
    did: PIL ``convert('L')``, which drops an alpha channel without compositing and maps a palette
    image through its palette. Both matter for reproducing its numbers on ImageMagick's renders
    (black ink held in the alpha channel becomes black), and the 1,200 original dataset images
    (palette images with a transparency entry) read as the scripts read them.
    ``transparent="white"`` composites transparent pixels over white first: what a recogniser that
    sees the picture as a person does needs (the classical baseline).
    """
    path = Path(path)
    try:
        with Image.open(path) as image:
            if transparent == "white" and (image.mode in ("RGBA", "LA") or "transparency" in image.info):
                rgba = image.convert("RGBA")
                image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            else:
                image.info.pop("transparency", None)  # only silences PIL's warning: the L values are the same
            array = np.asarray(image.convert("L"), dtype=np.uint8)
    except FileNotFoundError:
        raise InputError("image file not found", path) from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        # Truncated or foreign files are a user's input problem, not a crash.
        raise InputError(f"cannot read image: {exc}", path) from None
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"image has no pixels (shape {array.shape})", path)
    return array
