"""Rasterising PDF pages at the protocol's resolution, on the original's pixel grid.

The original converted each one-page PDF with ImageMagick (Ghostscript ``pngalpha``, 200 dpi, 4-bit
text and graphics anti-aliasing) onto a full A4 canvas. Sub-pixel placement decides 1-pixel
differences, so every rasteriser here keeps Ghostscript's geometry: pixel grid of
``ceil(size * dpi / 72)`` pixels, scale exactly ``dpi / 72``, PDF origin at the *bottom* edge of
the canvas (the canvas' fractional extra row lies at the top). Only the part of the page that holds
ink is rendered, aligned to that full-page grid, so a region render equals the same pixels of a
full-page render.

A rasteriser returns, per page, the grayscale image cropped to the bounding box of non-white
pixels (255 = white), or the whole white page when the page is blank (the original keeps blank
renders uncropped).
"""

from __future__ import annotations

import ctypes
import math
import os
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from markupeval.errors import RenderEnvironmentError

#: Pixel margin added around the ink bounds reported by the PDF's objects before rendering; the
#: rendered region is then checked and grown if ink touches its border.
MARGIN = 3


class PageTooLarge(Exception):
    """The page would rasterise to more pixels than allowed."""


@dataclass(frozen=True)
class PageImage:
    image: np.ndarray | None  # cropped grayscale, or None when the page was too large
    too_large: str = ""  # reason when image is None


def crop_to_ink(gray: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of pixels that are not pure white; a blank image stays whole."""
    rows = np.flatnonzero((gray < 255).any(axis=1))
    if rows.size == 0:
        return gray
    cols = np.flatnonzero((gray[rows[0] : rows[-1] + 1] < 255).any(axis=0))
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def page_pixels(width_pt: float, height_pt: float, dpi: int) -> tuple[int, int]:
    """Canvas size in pixels (width, height) as Ghostscript computes it."""
    s = dpi / 72.0
    # Rounding guard: 595.2760009765625 * 200/72 must not become 1654.0000001 -> 1655.
    return math.ceil(width_pt * s - 1e-6), math.ceil(height_pt * s - 1e-6)


class Rasterizer(ABC):
    """Turns pages of a PDF into cropped grayscale images."""

    name: str = "rasterizer"

    def __init__(self, dpi: int = 200, max_pixels: int = 40_000_000) -> None:
        self.dpi = dpi
        self.max_pixels = max_pixels

    @abstractmethod
    def rasterize(self, pdf: Path, pages: Sequence[int]) -> list[PageImage]:
        """One :class:`PageImage` per requested 0-based page index, in order."""

    def describe(self) -> str:
        return self.name


class PdfiumRasterizer(Rasterizer):
    """In-process rasterising with PDFium (pypdfium2), only the region that holds ink.

    ``supersample = 1`` renders with PDFium's own anti-aliasing (exact area coverage);
    ``supersample = k > 1`` renders without anti-aliasing at k times the resolution and marks a
    pixel as ink when any of its k x k samples is ink, which is what Ghostscript's 4-bit alpha
    (4 x 4 oversampling) followed by "any coverage -> black" does. The result then is bilevel.
    """

    def __init__(self, dpi: int = 200, supersample: int = 1, max_pixels: int = 40_000_000) -> None:
        super().__init__(dpi, max_pixels)
        self.supersample = supersample
        self.name = "pdfium" if supersample == 1 else f"pdfium-ss{supersample}"

    def rasterize(self, pdf: Path, pages: Sequence[int]) -> list[PageImage]:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(pdf))
        try:
            return [self._page(doc[i]) for i in pages]
        finally:
            doc.close()

    def _page(self, page) -> PageImage:
        s = self.dpi / 72.0
        width_pt, height_pt = page.get_size()
        wpx, hpx = page_pixels(width_pt, height_pt, self.dpi)
        if wpx * hpx > self.max_pixels:
            return PageImage(None, f"page of {wpx}x{hpx} px exceeds {self.max_pixels} px")
        blank = PageImage(np.full((hpx, wpx), 255, np.uint8))
        box = _object_bounds(page)
        if box is None:
            return blank
        left, bottom, right, top = box
        # PDF y grows upwards; device rows grow downwards from the canvas top, and the canvas'
        # extra fraction of a row lies at the top (Ghostscript puts the PDF origin at the bottom).
        x0 = max(0, math.floor(left * s) - MARGIN)
        x1 = min(wpx, math.ceil(right * s) + MARGIN)
        y0 = max(0, math.floor(hpx - top * s) - MARGIN)
        y1 = min(hpx, math.ceil(hpx - bottom * s) + MARGIN)
        while True:
            if x1 <= x0 or y1 <= y0:
                return blank
            region = self._render(page, s, height_pt, hpx, x0, y0, x1 - x0, y1 - y0)
            # Grow the region while ink touches a side that is not the canvas edge: the object
            # bounds are a hint, the pixels are the truth.
            grow = False
            if x0 > 0 and (region[:, 0] < 255).any():
                x0, grow = max(0, x0 - 16), True
            if x1 < wpx and (region[:, -1] < 255).any():
                x1, grow = min(wpx, x1 + 16), True
            if y0 > 0 and (region[0] < 255).any():
                y0, grow = max(0, y0 - 16), True
            if y1 < hpx and (region[-1] < 255).any():
                y1, grow = min(hpx, y1 + 16), True
            if not grow:
                break
        cropped = crop_to_ink(region)
        if cropped is region and not (region < 255).any():
            return blank
        return PageImage(np.ascontiguousarray(cropped))

    def _render(self, page, s: float, height_pt: float, hpx: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
        import pypdfium2 as pdfium
        import pypdfium2.raw as raw

        k = self.supersample
        bitmap = pdfium.PdfBitmap.new_native(w * k, h * k, raw.FPDFBitmap_Gray)
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, w * k, h * k)
        # PDFium's matrix maps page space with a top-left origin (y down, in points) to device
        # pixels. Device row = hpx - y_pdf * s = y_top * s + (hpx - height * s), minus the region
        # offset; all in units of the (super-sampled) pixel.
        matrix = raw.FS_MATRIX(s * k, 0, 0, s * k, -x0 * k, (hpx - height_pt * s - y0) * k)
        clip = raw.FS_RECTF(0, 0, w * k, h * k)
        flags = raw.FPDF_GRAYSCALE
        if k > 1:
            flags |= raw.FPDF_RENDER_NO_SMOOTHTEXT | raw.FPDF_RENDER_NO_SMOOTHPATH | raw.FPDF_RENDER_NO_SMOOTHIMAGE
        raw.FPDF_RenderPageBitmapWithMatrix(bitmap, page, ctypes.byref(matrix), ctypes.byref(clip), flags)
        arr = bitmap.to_numpy()
        if arr.ndim == 3:
            arr = arr[..., 0]
        if k == 1:
            return arr.copy()
        ink = (arr < 255).reshape(h, k, w, k).any(axis=(1, 3))
        return np.where(ink, 0, 255).astype(np.uint8)


def _object_bounds(page) -> tuple[float, float, float, float] | None:
    """Union of the page objects' bounds in PDF points (left, bottom, right, top), or None."""
    boxes = [obj.get_bounds() for obj in page.get_objects(max_depth=1)]
    if not boxes:
        return None
    arr = np.asarray(boxes, dtype=np.float64)
    return float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())


class GhostscriptRasterizer(Rasterizer):
    """The reference: one Ghostscript call for all pages (``pgmraw``, 4-bit text/graphics alpha).

    This is what ImageMagick ran for the original (``pngalpha`` with the same alpha bits), and it
    reproduced ImageMagick's bilevel output exactly (PROTOCOL.md). Full pages, so slower.
    """

    name = "ghostscript"

    def rasterize(self, pdf: Path, pages: Sequence[int]) -> list[PageImage]:
        exe = shutil.which("gs")
        if exe is None:
            raise RenderEnvironmentError("Ghostscript (gs) not found on PATH; run render/setup.sh")
        out: list[PageImage] = []
        with tempfile.TemporaryDirectory(prefix="markupeval-gs-") as tmp:
            page_list = ",".join(str(i + 1) for i in pages)
            cmd = [
                exe, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pgmraw", f"-r{self.dpi}",
                "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4", f"-sPageList={page_list}",
                f"-sOutputFile={tmp}/p%06d.pgm", str(pdf),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + 5 * len(pages))
            if proc.returncode != 0:
                raise RenderEnvironmentError(f"Ghostscript failed on {pdf}: {proc.stderr.strip()[:500]}")
            files = sorted(Path(tmp).glob("p*.pgm"))
            if len(files) != len(pages):
                raise RenderEnvironmentError(f"Ghostscript wrote {len(files)} pages, expected {len(pages)}")
            for f in files:
                out.append(PageImage(np.ascontiguousarray(crop_to_ink(_read_pgm(f)))))
                os.unlink(f)
        return out


def _read_pgm(path: Path) -> np.ndarray:
    data = path.read_bytes()
    # Header: "P5\n<w> <h>\n<maxval>\n" (Ghostscript writes no comments).
    parts = data.split(b"\n", 3)
    if parts[0] != b"P5":
        raise RenderEnvironmentError(f"unexpected PGM header in {path}")
    w, h = map(int, parts[1].split())
    return np.frombuffer(parts[3], dtype=np.uint8, count=w * h).reshape(h, w)


RASTERIZERS = ("pdfium", "pdfium-ss4", "ghostscript")


def make_rasterizer(name: str, dpi: int = 200) -> Rasterizer:
    if name == "pdfium":
        return PdfiumRasterizer(dpi)
    if name.startswith("pdfium-ss"):
        return PdfiumRasterizer(dpi, supersample=int(name.removeprefix("pdfium-ss")))
    if name == "ghostscript":
        return GhostscriptRasterizer(dpi)
    raise ValueError(f"unknown rasterizer {name!r}; known: {', '.join(RASTERIZERS)}")
