"""Content-addressed cache of render results, shared by concurrent processes.

The key hashes everything that decides the pixels: the formula as typeset (after rewrites), the
template's text, the TeX version, the rasteriser, dpi, ink mode and error policy. One small file
per result (``<root>/v1/<key[:2]>/<key>``), written to a temporary name in the same folder and
renamed into place, so a reader sees either nothing or a complete file, and two processes writing
the same key write the same bytes. Every file carries a CRC; a damaged file reads as a miss (and
is overwritten by the next render). Timeouts are never stored: they depend on the machine's load.

Bilevel images are stored bit-packed and zlib-compressed (a typical formula is a few hundred bytes),
so reading ten thousand cached renders is dominated by opening the files (about a second).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np

from markupeval.rendering.result import STATUSES, RenderResult

log = logging.getLogger("markupeval")

FORMAT = b"MEC1"
_HEADER = struct.Struct("<4sBBIIIII")  # magic, status, kind, height, width, msg len, payload len, crc
_KIND_NONE, _KIND_BITS, _KIND_GRAY, _KIND_WHITE, _KIND_LABELS = 0, 1, 2, 3, 4
#: zlib level: 1 is five times faster than 6 on a bit-packed formula and only ~12 % larger; the
#: evaluation process writes thousands of entries while the renderers compete for the same cores.
_LEVEL = 1


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/markupeval`` or ``~/.cache/markupeval``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "markupeval"


def cache_key(formula: str, settings: str) -> str:
    h = hashlib.sha256()
    h.update(settings.encode("utf-8"))
    h.update(b"\0")
    h.update(formula.encode("utf-8", errors="surrogatepass"))
    return h.hexdigest()


class RenderCache:
    """Get and put :class:`RenderResult` objects by key."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root) / "v1"
        self._made: set[Path] = set()  # folders known to exist (one mkdir each, not one per entry)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> RenderResult | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("render cache: cannot read %s (%s); rendering again", path, exc)
            return None
        try:
            return _decode(data)
        except (ValueError, struct.error, zlib.error) as exc:
            log.warning("render cache: damaged entry %s (%s); rendering again", path, exc)
            return None

    def put(self, key: str, result: RenderResult) -> None:
        if result.transient:
            return  # the load of this run may have caused it: the next run tries again
        path = self._path(key)
        data = _encode(result)
        try:
            if path.parent not in self._made:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._made.add(path.parent)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            # A read-only or full cache must not fail the evaluation; the result is still returned.
            log.warning("render cache: cannot write %s (%s)", path, exc)


def _encode(result: RenderResult) -> bytes:
    image = result.image
    if image is None:
        kind, h, w, payload = _KIND_NONE, 0, 0, b""
    elif image.dtype == np.uint16:  # a colour-label map (CDM's per-token colours)
        kind, (h, w) = _KIND_LABELS, image.shape
        payload = zlib.compress(np.ascontiguousarray(image, dtype="<u2").tobytes(), _LEVEL)
    elif (image == 255).all():
        kind, (h, w), payload = _KIND_WHITE, image.shape, b""  # a blank render: the whole page
    elif ((image == 0) | (image == 255)).all():
        kind, (h, w) = _KIND_BITS, image.shape
        payload = zlib.compress(np.packbits(image == 0).tobytes(), _LEVEL)
    else:
        kind, (h, w) = _KIND_GRAY, image.shape
        payload = zlib.compress(np.ascontiguousarray(image, dtype=np.uint8).tobytes(), _LEVEL)
    message = result.message.encode("utf-8", errors="replace")
    crc = zlib.crc32(payload, zlib.crc32(message))
    header = _HEADER.pack(FORMAT, STATUSES.index(result.status), kind, h, w, len(message), len(payload), crc)
    return header + message + payload


def _decode(data: bytes) -> RenderResult:
    magic, status, kind, h, w, mlen, plen, crc = _HEADER.unpack_from(data)
    if magic != FORMAT or status >= len(STATUSES) or len(data) != _HEADER.size + mlen + plen:
        raise ValueError("bad header or length")
    message = data[_HEADER.size : _HEADER.size + mlen]
    payload = data[_HEADER.size + mlen :]
    if zlib.crc32(payload, zlib.crc32(message)) != crc:
        raise ValueError("checksum mismatch")
    image: np.ndarray | None
    if kind == _KIND_NONE:
        image = None
    elif kind == _KIND_BITS:
        pixels = np.unpackbits(np.frombuffer(zlib.decompress(payload), np.uint8), count=h * w)
        # In place, uint8 throughout: ink bit 1 -> 0, blank bit 0 -> 255.
        np.subtract(1, pixels, out=pixels)
        pixels *= 255
        image = pixels.reshape(h, w)
    elif kind == _KIND_WHITE:
        image = np.full((h, w), 255, np.uint8)
    elif kind == _KIND_GRAY:
        image = np.frombuffer(zlib.decompress(payload), np.uint8, count=h * w).reshape(h, w).copy()
    elif kind == _KIND_LABELS:
        image = np.frombuffer(zlib.decompress(payload), "<u2", count=h * w).reshape(h, w).astype(np.uint16)
    else:
        raise ValueError(f"unknown image kind {kind}")
    return RenderResult(STATUSES[status], image, message.decode("utf-8"))
