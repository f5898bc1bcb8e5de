"""The paper's preprocessing on hand-computed cases: crop, bucket choice, padding, downsampling,
plus the train/validation filters (harvardnlp/im2markup preprocess_images.py, image_utils.py,
preprocess_filter.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from markupeval.data.filters import FilterSettings, filter_reason
from markupeval.data.preprocess import (
    IM2MARKUP_DEFAULT_BUCKETS,
    PAPER_BUCKETS,
    PreprocessSettings,
    choose_bucket,
    crop,
    downsample,
    preprocess,
)


def page(h: int = 300, w: int = 400) -> np.ndarray:
    return np.full((h, w), 255, np.uint8)


def test_crop_is_the_bounding_box_of_non_white_pixels() -> None:
    img = page()
    img[40:61, 100:221] = 0  # 121 x 21 ink box
    img[70, 90] = 254  # a barely grey pixel counts: the original crops at != 255
    out, inked = crop(img)
    assert inked and out.shape == (70 - 40 + 1, 221 - 90)
    assert out[0, 10] == 0 and out[-1, 0] == 254


def test_blank_page_becomes_601_by_61() -> None:
    # crop_image crops (0, 0, 600 + 1, 60 + 1) of a blank page: one pixel more than the default size.
    out, inked = crop(page())
    assert not inked and out.shape == (61, 601) and (out == 255).all()
    p = preprocess(page())
    # padded 617 x 77: too wide for every bucket narrower than 640 and too tall for 640 x 64.
    assert p.blank and p.bucket == (320, 64) and p.image.shape == (64, 320)


@pytest.mark.parametrize(
    "ink_wh, bucket",
    [
        ((240, 48), (128, 32)),  # padded 256 x 64 = the first bucket exactly (canvas 256 x 64)
        ((241, 48), (160, 32)),  # padded 257 x 64: one column too wide for (128, 32) and (128, 64)
        ((240, 49), (128, 64)),  # padded 256 x 65: one row too tall for (128, 32)
        ((10, 10), (128, 32)),  # tiny formula: smallest bucket
        ((700, 40), (384, 32)),  # padded 716 x 56: (320, *) is 640 wide, (384, 32) is 768 x 64
        ((900, 250), (480, 160)),  # padded 916 x 266: only the last bucket (960 x 320)
    ],
)
def test_bucket_choice_paper_buckets(ink_wh: tuple[int, int], bucket: tuple[int, int]) -> None:
    w, h = ink_wh
    img = page(400, 1200)
    img[100 : 100 + h, 50 : 50 + w] = 0
    p = preprocess(img)
    assert p.bucket == bucket
    assert p.image.shape == (bucket[1], bucket[0])


def test_first_bucket_in_list_order_not_smallest() -> None:
    # pad_group_image takes the first bucket that holds the image, whatever comes later.
    assert choose_bucket((100, 40), [(400, 400), (120, 50)]) == 0
    assert choose_bucket((100, 40), [(90, 400), (120, 50)]) == 1
    assert choose_bucket((121, 40), [(120, 50)]) is None
    # Sizes are compared inclusively (<=).
    assert choose_bucket((120, 50), [(120, 50)]) == 0


def test_too_large_keeps_padded_size_then_downsamples() -> None:
    img = page(600, 1400)
    img[10:411, 10:1011] = 0  # 1001 x 401
    p = preprocess(img)
    assert p.bucket is None
    # padded 1017 x 417 -> int(1017 / 2) x int(417 / 2) = 508 x 208
    assert p.image.shape == (208, 508)
    assert filter_reason((508, 208), "x") == "too_large"


def test_padding_places_the_crop_at_8_8_before_downsampling() -> None:
    # Without downsampling effects: a 2 x 2 black block at the crop's origin lands at canvas (8, 8)
    # -> output pixels (4, 4) after halving. Check on the canvas the original would build.
    img = page()
    img[50:52, 60:62] = 0
    settings = PreprocessSettings()
    p = preprocess(img, settings)
    assert p.bucket == (128, 32) and p.image.shape == (32, 128)
    dark = np.argwhere(p.image < 128)
    assert dark.min(axis=0).tolist() == [4, 4] and dark.max(axis=0).tolist() == [4, 4]
    # The rest stays (near) white: Lanczos rings only within its 3-lobe support.
    assert (p.image[:, 10:] == 255).all() and (p.image[10:, :] == 255).all()


def _pil_lanczos_reference(img: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Separable Lanczos-3 as PIL documents it (support scaled by the reduction), in floats."""

    def lanczos(x: float) -> float:
        if x == 0:
            return 1.0
        if -3 < x < 3:
            return (math.sin(math.pi * x) / (math.pi * x)) * (math.sin(math.pi * x / 3) / (math.pi * x / 3))
        return 0.0

    def weights(in_size: int, out_size: int) -> np.ndarray:
        scale = in_size / out_size
        support = 3 * scale
        m = np.zeros((out_size, in_size))
        for xx in range(out_size):
            center = (xx + 0.5) * scale
            lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), in_size)
            ws = np.array([lanczos((x - center + 0.5) / scale) for x in range(lo, hi)])
            m[xx, lo:hi] = ws / ws.sum()
        return m

    # PIL filters horizontally first and stores that pass as 8-bit (rounded, clipped) before the
    # vertical pass; the clipping matters where Lanczos overshoots at black/white edges.
    horizontal = np.clip(np.round(img.astype(float) @ weights(img.shape[1], out_w).T), 0, 255)
    return np.clip(np.round(weights(img.shape[0], out_h) @ horizontal), 0, 255)


def test_downsample_is_pil_lanczos_half_size() -> None:
    rng = np.random.default_rng(7)
    img = np.where(rng.random((64, 257)) < 0.2, 0, 255).astype(np.uint8)
    out = downsample(img, 2.0)
    assert out.shape == (32, 128)  # int(257 / 2) = 128
    ref = _pil_lanczos_reference(img, 128, 32)
    assert np.abs(out.astype(int) - ref).max() <= 1  # PIL's fixed-point rounding
    # Not a different filter: bicubic or box averaging differ by far more somewhere.
    box = img.astype(float)[:, :256].reshape(32, 2, 128, 2).mean(axis=(1, 3))
    assert np.abs(out.astype(float) - box).max() > 10


def test_gray_path_equals_the_originals_rgb_canvas_path() -> None:
    # The original pasted the crop on an RGB canvas and resized that; we work in grayscale.
    img = page(200, 500)
    img[60:90, 40:300] = np.random.default_rng(1).integers(0, 256, (30, 260), dtype=np.uint8)
    ours = preprocess(img).image
    cropped, _ = crop(img)
    # 260 x 30 padded to 276 x 46: bucket (160, 32), i.e. a 320 x 64 canvas before downsampling.
    canvas = Image.new("RGB", (320, 64), (255, 255, 255))
    canvas.paste(Image.fromarray(cropped).convert("L"), (8, 8))
    theirs = np.asarray(canvas.resize((160, 32), Image.LANCZOS))[:, :, 0]
    assert ours.shape == theirs.shape and (ours == theirs).all()


def test_bucket_presets() -> None:
    assert PAPER_BUCKETS[0] == (128, 32) and PAPER_BUCKETS[-1] == (480, 160) and len(PAPER_BUCKETS) == 19
    assert IM2MARKUP_DEFAULT_BUCKETS[0] == (120, 50) and IM2MARKUP_DEFAULT_BUCKETS[-1] == (800, 800)
    s = PreprocessSettings(buckets=IM2MARKUP_DEFAULT_BUCKETS, bucket_preset="im2markup-default")
    assert s.canvas_buckets()[0] == (240, 100)


@pytest.mark.parametrize(
    "size, formula, reason",
    [
        (None, "x", "missing_image"),
        ((500, 160), "x", None),  # limits are inclusive
        ((501, 160), "x", "too_large"),
        ((500, 161), "x", "too_large"),
        ((501, 10), "", "too_large"),  # size is checked before parseability, as in the original
        ((128, 32), "   ", "unparseable"),  # empty normalized formula = normalization failed
        ((128, 32), " ".join(["a"] * 150), None),
        ((128, 32), " ".join(["a"] * 151), "too_many_tokens"),
        ((128, 32), "a  b\tc " * 50, None),  # 150 whitespace tokens, however spaced
    ],
)
def test_filters(size, formula, reason) -> None:
    assert filter_reason(size, formula) == reason


def test_filter_settings_are_used() -> None:
    assert filter_reason((200, 50), "a b c", FilterSettings(max_width=100)) == "too_large"
    assert filter_reason((80, 50), "a b c", FilterSettings(max_width=100, max_tokens=2)) == "too_many_tokens"
