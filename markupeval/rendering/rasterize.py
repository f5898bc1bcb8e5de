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
import re
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from markupeval.errors import RenderEnvironmentError
from markupeval.rendering.sandbox import with_malloc_tunables

#: Pixel margin added around the ink bounds reported by the PDF's objects before rendering; the
#: rendered region is then checked and grown if ink touches its border.
MARGIN = 3


class PageTooLarge(Exception):
    """The page would rasterise to more pixels than allowed."""


@dataclass(frozen=True)
class PageImage:
    image: np.ndarray | None  # cropped grayscale, or None when the page could not be rasterised
    too_large: str = ""  # reason when the page was too large
    error: str = ""  # reason when the rasteriser failed on this page


def ink_mask(image: np.ndarray) -> np.ndarray:
    """Inked pixels: not pure white in a grayscale image, not 0 in a colour-label map (uint16)."""
    return image != 0 if image.dtype == np.uint16 else image < 255


def crop_to_ink(gray: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of pixels that are not pure white; a blank image stays whole."""
    ink = ink_mask(gray)
    rows = np.flatnonzero(ink.any(axis=1))
    if rows.size == 0:
        return gray
    cols = np.flatnonzero(ink[rows[0] : rows[-1] + 1].any(axis=0))
    return gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def page_pixels(width_pt: float, height_pt: float, dpi: int) -> tuple[int, int]:
    """Canvas size in pixels (width, height) as Ghostscript computes it."""
    s = dpi / 72.0
    # Rounding guard: 595.2760009765625 * 200/72 must not become 1654.0000001 -> 1655.
    return math.ceil(width_pt * s - 1e-6), math.ceil(height_pt * s - 1e-6)


def ink_region(bounds: tuple[float, float, float, float], dpi: int, wpx: int, hpx: int) -> tuple[int, int, int, int]:
    """The pixels ``(x0, y0, x1, y1)`` of the full-page grid that hold ink bounds in PDF points
    (left, bottom, right, top), widened by :data:`MARGIN` and clipped to the canvas.

    PDF y grows upwards; device rows grow downwards from the canvas top, and the canvas' extra
    fraction of a row lies at the top (Ghostscript puts the PDF origin at the bottom).
    """
    s = dpi / 72.0
    left, bottom, right, top = bounds
    return (max(0, math.floor(left * s) - MARGIN), max(0, math.floor(hpx - top * s) - MARGIN),
            min(wpx, math.ceil(right * s) + MARGIN), min(hpx, math.ceil(hpx - bottom * s) + MARGIN))


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


@dataclass(frozen=True)
class _Blank:
    """A blank page's image, made only when needed (a whole white A4 page is 3.9 MB)."""

    width: int
    height: int

    def __call__(self) -> PageImage:
        return PageImage(np.full((self.height, self.width), 255, np.uint8))


class PdfiumRasterizer(Rasterizer):
    """In-process rasterising with PDFium (pypdfium2), only the region that holds ink.

    ``supersample = 1`` renders with PDFium's anti-aliasing (exact area coverage) and turns pixels
    with less than ``min_coverage`` (out of 255) of ink white. Ghostscript's 4-bit alpha never paints
    PDFium's faint edge coverage, and "any coverage -> black" would turn it into an extra row or
    column of ink. The threshold 32 (1/8 coverage) was the best of 0-64 on the first 600 sample
    formulas and held on the other 600 (86.6 % / 85.8 % image Match against the original images);
    with the dataset template it reaches 87.6 % on all 1,200, Ghostscript 95.1 %, and
    ``min_coverage = 1`` (every touched pixel, ``pdfium-raw``) 58.1 %.
    ``supersample = k > 1`` instead renders without anti-aliasing at k times the resolution and
    marks a pixel as ink when any of its k x k samples is ink (a literal model of 4 x 4
    oversampling; measured to be further from Ghostscript, because PDFium's monochrome glyphs are
    hinted). The result then is bilevel.
    """

    def __init__(
        self, dpi: int = 200, supersample: int = 1, min_coverage: int = 32, max_pixels: int = 40_000_000
    ) -> None:
        super().__init__(dpi, max_pixels)
        self.supersample = supersample
        self.min_coverage = min_coverage
        if supersample > 1:
            self.name = f"pdfium-ss{supersample}"
        else:
            self.name = "pdfium" if min_coverage == 32 else ("pdfium-raw" if min_coverage <= 1 else f"pdfium-c{min_coverage}")

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
        blank = _Blank(wpx, hpx)
        box = _object_bounds(page)
        if box is None:
            return blank()
        x0, y0, x1, y1 = ink_region(box, self.dpi, wpx, hpx)
        while True:
            if x1 <= x0 or y1 <= y0:
                return blank()
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
            return blank()
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
            out = arr.copy()
            if self.min_coverage > 1:
                out[out > 255 - self.min_coverage] = 255
            return out
        ink = (arr < 255).reshape(h, k, w, k).any(axis=(1, 3))
        return np.where(ink, 0, 255).astype(np.uint8)


def _object_bounds(page) -> tuple[float, float, float, float] | None:
    """Union of the page objects' bounds in PDF points (left, bottom, right, top), or None.

    Raw PDFium calls: the object wrappers cost more than the bounds themselves.
    """
    import pypdfium2.raw as raw

    handle = page.raw
    n = raw.FPDFPage_CountObjects(handle)
    if n <= 0:
        return None
    l, b, r, t = ctypes.c_float(), ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    left = bottom = math.inf
    right = top = -math.inf
    for k in range(n):
        obj = raw.FPDFPage_GetObject(handle, k)
        if not raw.FPDFPageObj_GetBounds(obj, ctypes.byref(l), ctypes.byref(b), ctypes.byref(r), ctypes.byref(t)):
            continue
        left, bottom = min(left, l.value), min(bottom, b.value)
        right, top = max(right, r.value), max(top, t.value)
    if left > right:
        return None
    return left, bottom, right, top


class GhostscriptRasterizer(Rasterizer):
    """The reference: Ghostscript (``pgmraw``, 4-bit text and graphics alpha), one call per PDF.

    This is what ImageMagick ran for the original (``pngalpha`` with the same alpha bits), and it
    reproduced ImageMagick's bilevel output exactly (PROTOCOL.md). To avoid rasterising mostly
    blank A4 pages, each requested page gets a ``/CropBox`` around its ink on whole pixels of the
    full-page grid (bounds from PDFium, plus a margin) and Ghostscript renders with
    ``-dUseCropBox``: its canvas origin stays at the box's bottom-left corner, so the pixels are
    those of the full-page render. A page whose ink touches the box's border is rendered again
    uncropped. ``crop=False`` renders whole pages (the slow, literal reference).
    """

    def __init__(self, dpi: int = 200, crop: bool = True, max_pixels: int = 40_000_000) -> None:
        super().__init__(dpi, max_pixels)
        self.crop = crop
        self.name = "ghostscript" if crop else "ghostscript-fullpage"

    def rasterize(self, pdf: Path, pages: Sequence[int]) -> list[PageImage]:
        import pypdfium2 as pdfium

        s = self.dpi / 72.0
        out: list[PageImage | None] = [None] * len(pages)
        todo: list[tuple[int, int, tuple[int, int, int, int] | None]] = []  # (slot, page, box)
        doc = pdfium.PdfDocument(str(pdf))
        try:
            for slot, index in enumerate(pages):
                page = doc[index]
                width_pt, height_pt = page.get_size()
                wpx, hpx = page_pixels(width_pt, height_pt, self.dpi)
                if wpx * hpx > self.max_pixels:
                    out[slot] = PageImage(None, f"page of {wpx}x{hpx} px exceeds {self.max_pixels} px")
                    continue
                bounds = _object_bounds(page)
                if bounds is None:
                    out[slot] = PageImage(np.full((hpx, wpx), 255, np.uint8))
                    continue
                if not self.crop:
                    todo.append((slot, index, None))
                    continue
                x0, y0, x1, y1 = ink_region(bounds, self.dpi, wpx, hpx)
                if x1 <= x0 or y1 <= y0:
                    out[slot] = PageImage(np.full((hpx, wpx), 255, np.uint8))
                    continue
                page.set_cropbox(x0 / s, (hpx - y1) / s, x1 / s, (hpx - y0) / s)
                todo.append((slot, index, (x0, y0, x1, y1, wpx, hpx)))  # type: ignore[arg-type]
            with tempfile.TemporaryDirectory(prefix="markupeval-gs-") as tmp:
                cropped = Path(tmp) / "cropped.pdf"
                if self.crop and todo:
                    doc.save(str(cropped))
                images = self._gs_pages(cropped if self.crop else pdf, [i for _, i, _ in todo], self.crop)
                again: list[tuple[int, int]] = []
                for (slot, index, box), image in zip(todo, images):
                    if isinstance(image, str):
                        out[slot] = PageImage(None, error=image)
                    elif box is not None and _ink_on_border(image, box):  # type: ignore[arg-type]
                        again.append((slot, index))
                    else:
                        out[slot] = PageImage(crop_to_ink(image).copy())
                if again:
                    full = self._gs_pages(pdf, [i for _, i in again], False)
                    for (slot, _), image in zip(again, full):
                        out[slot] = (PageImage(None, error=image) if isinstance(image, str)
                                     else PageImage(crop_to_ink(image).copy()))
        finally:
            doc.close()
        assert all(p is not None for p in out)
        return out  # type: ignore[return-value]

    def _gs_pages(self, pdf: Path, pages: list[int], use_cropbox: bool) -> list[np.ndarray | str]:
        """Images of the pages; when the batched call fails, page by page, a failed page as its reason."""
        try:
            return list(self._gs(pdf, pages, use_cropbox))
        except _GhostscriptFailed as exc:
            if len(pages) == 1:
                return [str(exc)]
        out: list[np.ndarray | str] = []
        for page in pages:
            try:
                out.extend(self._gs(pdf, [page], use_cropbox))
            except _GhostscriptFailed as exc:
                out.append(str(exc))
        return out

    def _gs(self, pdf: Path, pages: list[int], use_cropbox: bool) -> list[np.ndarray]:
        if not pages:
            return []
        proc = _run_ghostscript(pdf, pages, "pgmraw", self.dpi, use_cropbox)
        try:
            images = _split_pgm_stream(proc.stdout)
        except ValueError as exc:
            raise _GhostscriptFailed(f"Ghostscript wrote unreadable output: {exc}") from None
        if len(images) != len(pages):
            raise _GhostscriptFailed(f"Ghostscript wrote {len(images)} pages, expected {len(pages)}")
        return images


class _GhostscriptFailed(Exception):
    """Ghostscript failed on these pages (the page's fault, not the installation's)."""


def _ink_on_border(image: np.ndarray, box: tuple[int, int, int, int, int, int]) -> bool:
    """Whether ink touches a side of the rendered box that is not the page's edge."""
    x0, y0, x1, y1, wpx, hpx = box
    ink = ink_mask(image)
    # Ghostscript may add one blank row at the top when the box height rounds up; the bottom row
    # and the left column are exact.
    return bool(
        (x0 > 0 and ink[:, 0].any())
        or (x1 < wpx and ink[:, x1 - x0 - 1].any())
        or (y0 > 0 and ink[image.shape[0] - (y1 - y0)].any())
        or (y1 < hpx and ink[-1].any())
    )


_PGM_HEADER = re.compile(rb"P5\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s+(?:#[^\n]*\n\s*)*(\d+)\s")


def _split_pgm_stream(data: bytes) -> list[np.ndarray]:
    """The images of a stream of binary 8-bit PGMs, one after the other."""
    images = []
    pos = 0
    while pos < len(data):
        m = _PGM_HEADER.match(data, pos)
        if m is None:
            raise ValueError(f"no PGM header at byte {pos}")
        width, height, maxval = (int(x) for x in m.groups())
        if maxval != 255:
            raise ValueError(f"PGM with maxval {maxval}")
        start = m.end()
        end = start + width * height
        if end > len(data):
            raise ValueError("truncated PGM")
        images.append(np.frombuffer(data, np.uint8, count=width * height, offset=start).reshape(height, width))
        pos = end
    return images


class GhostscriptColourRasterizer(GhostscriptRasterizer):
    """Ghostscript ``pngalpha`` (what ImageMagick runs for CDM), as a map of palette colours.

    ``pngalpha`` keeps a pixel's exact colour at any coverage (the coverage goes to alpha), which is
    what lets CDM find a token by its colour. A page comes back as a ``uint16`` label map, cropped
    to its ink: 0 where nothing is drawn, ``i`` where the pixel has palette colour ``i`` of
    :func:`markupeval.rendering.colour.palette_colour` (token ``i - 1``), :data:`OTHER_INK` for
    ink of any other colour (black, or where two colours blend). Used for CDM only; not a choice of
    ``score --rasterizer``.
    """

    def __init__(self, dpi: int = 200, max_pixels: int = 40_000_000) -> None:
        super().__init__(dpi, crop=True, max_pixels=max_pixels)
        self.name = "ghostscript-colour"

    def _gs(self, pdf: Path, pages: list[int], use_cropbox: bool) -> list[np.ndarray]:
        if not pages:
            return []
        proc = _run_ghostscript(pdf, pages, "pngalpha", self.dpi, use_cropbox)
        try:
            images = [colour_labels(rgba) for rgba in _split_png_stream(proc.stdout)]
        except ValueError as exc:
            raise _GhostscriptFailed(f"Ghostscript wrote unreadable output: {exc}") from None
        if len(images) != len(pages):
            raise _GhostscriptFailed(f"Ghostscript wrote {len(images)} pages, expected {len(pages)}")
        return images


#: Label of ink whose colour is not in the palette.
OTHER_INK = np.uint16(0xFFFF)


def colour_labels(rgba: np.ndarray) -> np.ndarray:
    """The label map of an RGBA page (see :class:`GhostscriptColourRasterizer`)."""
    from markupeval.rendering.colour import GAP

    # Only inked pixels (a fraction of a formula's crop) are decoded: 3-5x faster than the page.
    alpha = rgba[..., 3].ravel()
    inked = np.flatnonzero(alpha)
    px = rgba.reshape(-1, rgba.shape[-1])[inked]
    r, g, b = (px[:, c].astype(np.int32) for c in range(3))
    on_grid = ((r % GAP) == 0) & ((g % GAP) == 0) & ((b % GAP) == 0)
    levels = 255 // GAP + 1
    index = (r // GAP * levels + g // GAP) * levels + b // GAP
    labels = np.zeros(alpha.shape, np.uint16)
    labels[inked] = np.where(on_grid & (index > 0), index, int(OTHER_INK))
    return labels.reshape(rgba.shape[:2])


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _split_png_stream(data: bytes) -> list[np.ndarray]:
    """The RGBA images of a stream of PNG files, one after the other."""
    import io
    import struct

    from PIL import Image

    images = []
    pos = 0
    while pos < len(data):
        if data[pos : pos + 8] != _PNG_SIGNATURE:
            raise ValueError(f"no PNG signature at byte {pos}")
        end = pos + 8
        while True:
            if end + 8 > len(data):
                raise ValueError("truncated PNG")
            (length,) = struct.unpack(">I", data[end : end + 4])
            kind = data[end + 4 : end + 8]
            end += 12 + length
            if kind == b"IEND":
                break
        with Image.open(io.BytesIO(data[pos:end])) as im:
            images.append(np.asarray(im if im.mode == "RGBA" else im.convert("RGBA")))
        pos = end
    return images


RASTERIZERS = ("ghostscript", "ghostscript-fullpage", "pdfium", "pdfium-raw", "pdfium-ss4")
#: Rasterisers whose pages are colour-label maps (CDM), not grayscale images.
COLOUR_RASTERIZERS = ("ghostscript-colour",)


def make_rasterizer(name: str, dpi: int = 200) -> Rasterizer:
    if name == "pdfium":
        return PdfiumRasterizer(dpi)
    if name.startswith("pdfium-ss"):
        return PdfiumRasterizer(dpi, supersample=int(name.removeprefix("pdfium-ss")))
    if name == "pdfium-raw":
        return PdfiumRasterizer(dpi, min_coverage=1)
    if name.startswith("pdfium-c"):
        return PdfiumRasterizer(dpi, min_coverage=int(name.removeprefix("pdfium-c")))
    if name == "ghostscript":
        return GhostscriptRasterizer(dpi)
    if name == "ghostscript-fullpage":
        return GhostscriptRasterizer(dpi, crop=False)
    if name == "ghostscript-colour":
        return GhostscriptColourRasterizer(dpi)
    raise ValueError(f"unknown rasterizer {name!r}; known: {', '.join(RASTERIZERS)}")


#: Ghostscript refuses an argument longer than this ("Command too long"): a page list of ~700
#: pages written one by one. Ranges keep a batch's list short; a longer one is split.
_MAX_PAGE_LIST = 1000


def page_lists(pages: list[int]) -> list[tuple[str, int]]:
    """``-sPageList`` values (1-based, runs as ``a-b``) covering ``pages`` (0-based) in order,
    each with its number of pages."""
    parts: list[tuple[str, int]] = []
    start = prev = None
    for p in [*pages, None]:
        if start is not None and p is not None and p == prev + 1:
            prev = p
            continue
        if start is not None:
            parts.append((str(start + 1) if start == prev else f"{start + 1}-{prev + 1}", prev - start + 1))
        start = prev = p
    lists: list[tuple[str, int]] = []
    for text, n in parts:
        if lists and len(lists[-1][0]) + 1 + len(text) <= _MAX_PAGE_LIST:
            lists[-1] = (lists[-1][0] + "," + text, lists[-1][1] + n)
        else:
            lists.append((text, n))
    return lists


def _run_ghostscript(pdf: Path, pages: list[int], device: str, dpi: int, use_cropbox: bool) -> subprocess.CompletedProcess:
    """Ghostscript rasterising ``pages`` (0-based, ascending) of ``pdf`` with the protocol's
    anti-aliasing: one call, or one per page list where the list is too long for one argument.
    Pages stream to stdout (one file per page cost ~10 % of Ghostscript's time); its own
    messages go to stderr."""
    procs = [_run_ghostscript_list(pdf, text, n, device, dpi, use_cropbox) for text, n in page_lists(pages)]
    if len(procs) == 1:
        return procs[0]
    return subprocess.CompletedProcess([p.args for p in procs], 0, b"".join(p.stdout for p in procs),
                                       b"".join(p.stderr for p in procs))


def _run_ghostscript_list(pdf: Path, page_list: str, n: int, device: str, dpi: int,
                          use_cropbox: bool) -> subprocess.CompletedProcess:
    exe = shutil.which("gs")
    if exe is None:
        raise RenderEnvironmentError("Ghostscript (gs) not found on PATH; run render/setup.sh")
    cmd = [
        exe, "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sstdout=%stderr", f"-sDEVICE={device}", f"-r{dpi}",
        "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4", f"-sPageList={page_list}",
        "-sOutputFile=-",
    ]
    if use_cropbox:
        cmd.append("-dUseCropBox")
    cmd.append(str(pdf))
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=30 + 2 * n,
                              env=with_malloc_tunables(dict(os.environ)))
    except subprocess.TimeoutExpired:
        raise _GhostscriptFailed(f"Ghostscript timed out on {n} page(s)") from None
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", errors="replace").strip()[:300]
        raise _GhostscriptFailed(f"Ghostscript failed: {message}")
    return proc
