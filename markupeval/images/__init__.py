"""Image helpers shared by the image metrics and reports: loading, binarisation, column packing,
the per-pair comparison behind the image metrics, and diff pictures."""

from markupeval.images.columns import INK_THRESHOLD, PIXEL_TOLERANCE, ink_mask
from markupeval.images.compare import (
    COLUMN_TOLERANCE,
    ImagePairResult,
    compare_image_files,
    compare_image_pairs,
    compare_images,
)
from markupeval.images.diff import diff_picture, save_diff_picture
from markupeval.images.io import load_grayscale

__all__ = [
    "COLUMN_TOLERANCE",
    "INK_THRESHOLD",
    "PIXEL_TOLERANCE",
    "ImagePairResult",
    "compare_image_files",
    "compare_image_pairs",
    "compare_images",
    "diff_picture",
    "save_diff_picture",
    "ink_mask",
    "load_grayscale",
]
