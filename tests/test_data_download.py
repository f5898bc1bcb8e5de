"""The download code against a real HTTP server on 127.0.0.1 serving a small fixture release.

No mocked HTTP: the server below speaks HTTP/1.1 with byte ranges like Zenodo does, and can be told
to cut a response short, to ignore ranges, or to serve corrupt bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from markupeval.cli import main as cli_main
from markupeval.data import download as dl


def _fixture_release() -> dict[str, bytes]:
    formulas = b"x^{2}\n\\frac{a}{b}\n\\alpha+\\beta"
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w:gz") as tar:
        for name in ("60ee748793.png", "66667cee5b.png"):
            data = bytes(range(256)) * 40
            info = tarfile.TarInfo(f"formula_images/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {
        "im2latex_formulas.lst": formulas,
        "im2latex_train.lst": b"0 60ee748793 basic\n1 66667cee5b basic",
        "im2latex_validate.lst": b"2 1cbb05a562 basic",
        "im2latex_test.lst": b"2 7944775fc9 basic",
        "formula_images.tar.gz": tar_buf.getvalue(),
    }


class _Server:
    """Serves ``files`` under /files/NAME and a Zenodo-style record at /api/records/56198."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)
        self.cut_after: dict[str, list[int]] = {}  # name -> byte counts after which to drop, one per request
        self.corrupt: set[str] = set()
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                owner.requests.append((self.path, self.headers.get("Range")))
                if self.path == "/api/records/56198":
                    body = json.dumps(owner.record()).encode()
                    self._send(200, body, {"Content-Type": "application/json"})
                    return
                name = self.path.rsplit("/", 1)[-1]
                if not self.path.startswith("/files/") or name not in owner.files:
                    self._send(404, b"not found")
                    return
                data = owner.files[name]
                if name in owner.corrupt:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                start = 0
                rng = self.headers.get("Range")
                status, headers = 200, {}
                if rng and not owner.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                        return
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
                body = data[start:]
                cuts = owner.cut_after.get(name)
                if cuts:
                    cut = cuts.pop(0)
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._send(status, body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def record(self) -> dict:
        return {
            "id": 56198,
            "files": [
                {"key": n, "size": len(d), "checksum": "md5:" + hashlib.md5(d).hexdigest(),
                 "links": {"self": f"{self.base}/files/{n}"}}
                for n, d in self.files.items()
            ],
        }

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    with _Server(_fixture_release()) as s:
        yield s


def test_full_release_download_verifies_published_md5(server: _Server, tmp_path: Path) -> None:
    files = dl.zenodo_files(server.base + "/api/records/56198")
    assert [f.name for f in files] == list(dl.OFFICIAL_FILES)
    assert all(f.checksum and f.checksum.startswith("md5:") for f in files)
    got = [dl.fetch(f, tmp_path, backoff=0) for f in files]
    for f in got:
        assert f.verified and not f.skipped
        assert f.path.read_bytes() == server.files[f.path.name]
        assert not (tmp_path / (f.path.name + ".part")).exists()
    # A second run finds everything complete and verified: no file is requested again.
    n = len(server.requests)
    again = [dl.fetch(f, tmp_path, backoff=0) for f in files]
    assert all(f.skipped for f in again) and len(server.requests) == n
    sums = dl.record_sha256(tmp_path, got)
    assert dl.read_checksums(sums)["im2latex_formulas.lst"] == "sha256:" + hashlib.sha256(
        server.files["im2latex_formulas.lst"]).hexdigest()
    assert dl.extract(tmp_path / "formula_images.tar.gz", tmp_path) == 2
    assert (tmp_path / "formula_images" / "60ee748793.png").stat().st_size == 256 * 40


def test_checksum_failure_removes_the_partial_file(server: _Server, tmp_path: Path) -> None:
    (rf,) = [f for f in dl.zenodo_files(server.base + "/api/records/56198") if f.name == "formula_images.tar.gz"]
    server.corrupt.add(rf.name)
    with pytest.raises(dl.ChecksumError, match="md5"):
        dl.fetch(rf, tmp_path, backoff=0)
    assert not (tmp_path / rf.name).exists() and not (tmp_path / (rf.name + ".part")).exists()
    server.corrupt.clear()
    assert dl.fetch(rf, tmp_path, backoff=0).verified


def test_user_checksum_overrides_and_wrong_size(server: _Server, tmp_path: Path) -> None:
    data = server.files["im2latex_test.lst"]
    sums = tmp_path / "sums.txt"
    sums.write_text(f"{hashlib.sha256(b'other').hexdigest()}  im2latex_test.lst\n")
    rf = dl.RemoteFile("im2latex_test.lst", server.base + "/files/im2latex_test.lst")
    (rf,) = dl.with_checksums([rf], dl.read_checksums(sums))
    with pytest.raises(dl.ChecksumError, match="sha256"):
        dl.fetch(rf, tmp_path / "a", backoff=0)
    bad_size = dl.RemoteFile(rf.name, rf.url, size=len(data) + 1)
    with pytest.raises(dl.ChecksumError, match="bytes"):
        dl.fetch(bad_size, tmp_path / "b", backoff=0, retries=0)


def test_interrupted_download_resumes_with_range(server: _Server, tmp_path: Path) -> None:
    name = "formula_images.tar.gz"
    size = len(server.files[name])
    server.cut_after[name] = [100, 50]  # two broken responses, then a good one
    (rf,) = [f for f in dl.zenodo_files(server.base + "/api/records/56198") if f.name == name]
    seen: list[int] = []
    got = dl.fetch(rf, tmp_path, backoff=0, progress=lambda n, done, total: seen.append(done))
    assert got.verified and got.resumed
    assert got.path.read_bytes() == server.files[name]
    ranges = [r for p, r in server.requests if p.endswith(name)]
    assert ranges == [None, "bytes=100-", "bytes=150-"]
    assert seen[-1] == size


def test_resume_across_runs_and_server_without_ranges(server: _Server, tmp_path: Path) -> None:
    name = "im2latex_formulas.lst"
    data = server.files[name]
    (rf,) = [f for f in dl.zenodo_files(server.base + "/api/records/56198") if f.name == name]
    # An earlier run died after 10 bytes: with retries=0 the interruption is reported, the part kept.
    server.cut_after[name] = [10]
    with pytest.raises(dl.DownloadError, match="run again to resume"):
        dl.fetch(rf, tmp_path, backoff=0, retries=0)
    assert (tmp_path / (name + ".part")).read_bytes() == data[:10]
    got = dl.fetch(rf, tmp_path, backoff=0)
    assert got.resumed and got.path.read_bytes() == data
    # A server that ignores Range sends the whole file with 200: the part is restarted, not appended.
    got.path.unlink()
    (tmp_path / (name + ".part")).write_bytes(data[:7])
    server.ignore_range = True
    got = dl.fetch(rf, tmp_path, backoff=0)
    assert not got.resumed and got.path.read_bytes() == data


def test_http_errors_are_clear(server: _Server, tmp_path: Path) -> None:
    with pytest.raises(dl.DownloadError, match="404"):
        dl.fetch(dl.RemoteFile("nope.lst", server.base + "/files/nope.lst"), tmp_path, backoff=0)
    with pytest.raises(dl.DownloadError, match="does not list"):
        dl.zenodo_files(server.base + "/api/records/56198", names=["missing.lst"])


def test_cli_download(server: _Server, tmp_path: Path, capsys) -> None:
    out = tmp_path / "release"
    rc = cli_main(["data", "download", "--record-api", server.base + "/api/records/56198",
                   "--out", str(out), "--no-progress", "--extract"])
    assert rc == 0
    assert (out / "im2latex_formulas.lst").read_bytes() == server.files["im2latex_formulas.lst"]
    assert (out / "formula_images" / "66667cee5b.png").exists()
    assert (out / "SHA256SUMS").exists()
    server.corrupt.add("im2latex_test.lst")
    (out / "im2latex_test.lst").unlink()
    rc = cli_main(["data", "download", "--record-api", server.base + "/api/records/56198",
                   "--out", str(out), "--no-progress"])
    assert rc == 3
    assert "im2latex_test.lst" in capsys.readouterr().err
