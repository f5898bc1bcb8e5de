"""The train/validation filters of harvardnlp/im2markup ``scripts/preprocessing/preprocess_filter.py``.

With ``--filter`` (train and validation) an entry is dropped, checked in this order, when:

1. its processed image does not exist (``not found``; here: the formula did not render);
2. the processed image is wider than ``--max-width 500`` or taller than ``--max-height 160``
   (``w <= max_width and h <= max_height`` keeps it);
3. its normalized formula is empty after ``strip()`` (normalization failed: "cannot be parsed");
4. it has more than ``--max-tokens 150`` whitespace tokens (``len(label.strip().split()) > 150``).

The test list is written with ``--no-filter``: every entry is kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

MISSING_IMAGE = "missing_image"
TOO_LARGE = "too_large"
UNPARSEABLE = "unparseable"
TOO_MANY_TOKENS = "too_many_tokens"
REASONS = (MISSING_IMAGE, TOO_LARGE, UNPARSEABLE, TOO_MANY_TOKENS)


@dataclass(frozen=True)
class FilterSettings:
    max_width: int = 500
    max_height: int = 160
    max_tokens: int = 150

    def as_dict(self) -> dict:
        return asdict(self)


def filter_reason(
    image_size: tuple[int, int] | None, formula: str, settings: FilterSettings = FilterSettings()
) -> str | None:
    """Why an entry is dropped (one of :data:`REASONS`), or None when it is kept.

    ``image_size`` is the processed image's ``(width, height)``, None when there is no image.
    """
    if image_size is None:
        return MISSING_IMAGE
    w, h = image_size
    if not (w <= settings.max_width and h <= settings.max_height):
        return TOO_LARGE
    label = formula.strip()
    if not label:
        return UNPARSEABLE
    if len(label.split()) > settings.max_tokens:
        return TOO_MANY_TOKENS
    return None
