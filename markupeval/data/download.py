"""Fetching the IM2LATEX-100K release: resumable HTTP downloads verified by checksums.

Sources:

* the official release, Zenodo record 56198 (``im2latex_formulas.lst``, ``im2latex_{train,validate,
  test}.lst``, ``formula_images.tar.gz``). Zenodo publishes each file's size and MD5 in the
  record's JSON (``/api/records/56198``); :func:`zenodo_files` reads them from there, so the
  checksums come from the release itself and nothing unverified is hard-coded here;
* the harvardnlp processed release at ``http://lstm.seas.harvard.edu/latex/data/``
  (``im2latex_formulas.norm.lst``, ``im2latex_{train,validate,test}_filter.lst``,
  ``formula_images_processed.tar.gz``). That site publishes no checksums: files are verified only
  against checksums the user supplies (``--checksums``), otherwise they are downloaded unverified
  and the run says so.

A download goes to ``NAME.part`` and is resumed with an HTTP ``Range`` request when interrupted
(also across runs); a server that ignores ``Range`` makes it start over. The finished file is
checked (size, then checksum) before it is renamed to ``NAME``; a mismatch deletes the partial
file and raises :class:`ChecksumError`. ``SHA256SUMS`` in the target directory records what was
fetched, so a later run, or another machine, can pin the exact bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import re
import socket
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from markupeval.errors import InputError, MarkupEvalError

log = logging.getLogger("markupeval")

ZENODO_RECORD_API = "https://zenodo.org/api/records/56198"
OFFICIAL_FILES = (
    "im2latex_formulas.lst",
    "im2latex_train.lst",
    "im2latex_validate.lst",
    "im2latex_test.lst",
    "formula_images.tar.gz",
)
PROCESSED_BASE_URL = "http://lstm.seas.harvard.edu/latex/data/"
PROCESSED_FILES = (
    "im2latex_formulas.norm.lst",
    "im2latex_train_filter.lst",
    "im2latex_validate_filter.lst",
    "im2latex_test_filter.lst",
    "formula_images_processed.tar.gz",
)
CHUNK = 1 << 16


class DownloadError(MarkupEvalError):
    """A file could not be fetched (network, HTTP status) after the allowed retries."""


class ChecksumError(MarkupEvalError):
    """A downloaded file's size or checksum differs from the published one."""


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch. ``checksum`` is ``"md5:<hex>"`` or ``"sha256:<hex>"``; None = unverified."""

    name: str
    url: str
    size: int | None = None
    checksum: str | None = None


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    verified: bool  # against a published or user-supplied checksum
    resumed: bool  # bytes from an earlier partial download were kept
    skipped: bool  # the file was already complete and verified


# --------------------------------------------------------------------------------------------
# Where the files are


def _open(url: str, timeout: float, headers: dict[str, str] | None = None):
    req = urllib.request.Request(url, headers={"User-Agent": "markupeval", **(headers or {})})
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - http(s) URLs from our lists


def zenodo_files(record_api: str = ZENODO_RECORD_API, names: Sequence[str] = OFFICIAL_FILES,
                 timeout: float = 60.0) -> list[RemoteFile]:
    """The record's files with the size and checksum Zenodo publishes for each.

    Reads both the current (InvenioRDM) and the legacy record JSON: ``files[*]`` with ``key``,
    ``size``, ``checksum`` (``"md5:..."``) and a download link under ``links``.
    """
    try:
        with _open(record_api, timeout) as resp:
            record = json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"cannot read the release's file list from {record_api}: {exc}") from None
    files = record.get("files")
    if isinstance(files, dict):  # InvenioRDM may nest entries under files.entries
        files = list(files.get("entries", {}).values())
    by_name: dict[str, RemoteFile] = {}
    for f in files or []:
        key = f.get("key") or f.get("filename")
        links = f.get("links", {})
        url = links.get("content") or links.get("download") or links.get("self")
        if not key or not url:
            continue
        checksum = f.get("checksum")
        if checksum and ":" not in checksum:
            checksum = "md5:" + checksum  # the legacy API gave bare MD5s
        by_name[key] = RemoteFile(key, url, f.get("size") or f.get("filesize"), checksum)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise DownloadError(f"{record_api} does not list {', '.join(missing)}")
    return [by_name[n] for n in names]


def processed_files(base_url: str = PROCESSED_BASE_URL, names: Sequence[str] = PROCESSED_FILES) -> list[RemoteFile]:
    """The harvardnlp processed release (no published checksums; see the module docstring)."""
    return [RemoteFile(n, base_url.rstrip("/") + "/" + n) for n in names]


def read_checksums(path: Path) -> dict[str, str]:
    """``sha256sum``/``md5sum`` output (``<hex>  <name>``) or ``<algo>:<hex>  <name>`` lines."""
    out: dict[str, str] = {}
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read checksum file: {exc.strerror}", path) from None
    for lineno, line in enumerate(text.split("\n"), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"(?:(md5|sha256):)?([0-9a-fA-F]+)\s+\*?(\S+)", line)
        if not m:
            raise InputError(f"expected '<hex>  <file name>', got {line[:80]!r}", path, lineno)
        algo, digest, name = m.group(1), m.group(2).lower(), m.group(3)
        algo = algo or {32: "md5", 64: "sha256"}.get(len(digest))
        if algo is None or len(digest) != {"md5": 32, "sha256": 64}[algo]:
            raise InputError(f"checksum of {name} is neither an MD5 nor a SHA-256", path, lineno)
        out[Path(name).name] = f"{algo}:{digest}"
    return out


def with_checksums(files: Iterable[RemoteFile], checksums: dict[str, str]) -> list[RemoteFile]:
    """User-supplied checksums take precedence over published ones."""
    return [RemoteFile(f.name, f.url, f.size, checksums.get(f.name, f.checksum)) for f in files]


# --------------------------------------------------------------------------------------------
# Fetching one file


ProgressHook = Callable[[str, int, int | None], None]  # (name, bytes so far, total or None)


def _hash_file(path: Path, algos: Iterable[str]) -> dict[str, str]:
    hashes = {a: hashlib.new(a) for a in set(algos)}
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            for h in hashes.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashes.items()}


def _verify(rf: RemoteFile, path: Path) -> str:
    """SHA-256 of ``path``; raises :class:`ChecksumError` on a size or checksum mismatch."""
    size = path.stat().st_size
    if rf.size is not None and size != rf.size:
        raise ChecksumError(f"{rf.name}: {size} bytes, the release says {rf.size} ({rf.url})")
    algos = ["sha256"]
    if rf.checksum:
        algos.append(rf.checksum.split(":", 1)[0])
    digests = _hash_file(path, algos)
    if rf.checksum:
        algo, expected = rf.checksum.split(":", 1)
        if digests[algo] != expected.lower():
            raise ChecksumError(
                f"{rf.name}: {algo} {digests[algo]} differs from the expected {expected} ({rf.url})"
            )
    return digests["sha256"]


def fetch(
    rf: RemoteFile,
    dest_dir: Path,
    *,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 1.0,
    progress: ProgressHook | None = None,
) -> Fetched:
    """Download ``rf`` into ``dest_dir`` (resuming ``NAME.part``), verify, rename to ``NAME``."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / rf.name
    part = dest_dir / (rf.name + ".part")
    if final.exists():
        try:
            sha = _verify(rf, final)
        except ChecksumError as exc:
            log.warning("%s; downloading it again", exc)
            final.unlink()
        else:
            return Fetched(final, sha, rf.checksum is not None, resumed=False, skipped=True)

    resumed = False
    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if rf.size is not None and have >= rf.size and have > 0:
            break  # complete from an earlier run; verified below
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            with _open(rf.url, timeout, headers) as resp:
                status = resp.status
                if have and status == 206:
                    m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
                    if not m or int(m.group(1)) != have:
                        raise DownloadError(f"{rf.url}: server resumed at the wrong offset")
                    mode, resumed = "ab", True
                else:
                    if have:
                        log.info("%s: server ignored the range request; starting over", rf.name)
                    mode, have = "wb", 0
                length = resp.headers.get("Content-Length")
                total = rf.size if rf.size is not None else (have + int(length) if length else None)
                with part.open(mode) as out:
                    got = have
                    while chunk := resp.read(CHUNK):
                        out.write(chunk)
                        got += len(chunk)
                        if progress:
                            progress(rf.name, got, total)
                # urllib returns short bodies silently when Content-Length is missing; with it,
                # an early close raises IncompleteRead (handled below).
                if length is not None and got - have != int(length):
                    raise http.client.IncompleteRead(b"", int(length) - (got - have))
            break
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:
                break  # nothing left to send: the partial file is already complete
            if 400 <= exc.code < 500 and exc.code not in (408, 429):
                raise DownloadError(f"{rf.url}: HTTP {exc.code} {exc.reason}") from None
            err: Exception = exc
        except (http.client.IncompleteRead, urllib.error.URLError, ConnectionError, socket.timeout, TimeoutError) as exc:
            err = exc
        attempt += 1
        if attempt > retries:
            raise DownloadError(f"{rf.url}: gave up after {retries} retries ({err}); run again to resume")
        log.warning("%s: %s; resuming (retry %d of %d)", rf.name, err, attempt, retries)
        time.sleep(backoff * attempt)

    try:
        sha = _verify(rf, part)
    except ChecksumError:
        part.unlink()  # a corrupt partial file must not be resumed
        raise
    part.replace(final)
    return Fetched(final, sha, rf.checksum is not None, resumed=resumed, skipped=False)


def record_sha256(dest_dir: Path, fetched: Sequence[Fetched]) -> Path:
    """Merge the fetched files' SHA-256 into ``dest_dir/SHA256SUMS`` (sha256sum format)."""
    path = Path(dest_dir) / "SHA256SUMS"
    known = read_checksums(path) if path.exists() else {}
    for f in fetched:
        known[f.path.name] = "sha256:" + f.sha256
    lines = [f"{v.split(':', 1)[1]}  {k}\n" for k, v in sorted(known.items()) if v.startswith("sha256:")]
    path.write_text("".join(lines), encoding="utf-8")
    return path


def extract(archive: Path, dest_dir: Path) -> int:
    """Extract a ``.tar.gz`` safely (``tarfile`` "data" filter: no absolute paths, links out, devices)."""
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        tar.extractall(dest_dir, members=members, filter="data")
    return len(members)
