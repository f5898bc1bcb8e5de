"""What decides a render's pixels besides the formula, per machine: checked on every worker.

A cluster whose nodes have different TeX Live releases, templates or rasterisers would produce a
mixture of images under one signature, and the driver's cache would store them under keys that
claim the driver's environment. So the driver takes its own fingerprint, every worker compares
its fingerprint with it before its first chunk, and a mismatch is an error naming the worker and
the differing parts.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess

from markupeval.errors import RenderEnvironmentError

#: (part, value) pairs, in a fixed order.
Fingerprint = tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=None)
def fingerprint(template: str, rasterizer: str) -> Fingerprint:
    """This machine's markupeval, TeX, template, Ghostscript and PDFium versions (computed once
    per process: a worker checks every chunk against it for a few microseconds)."""
    import pypdfium2

    from markupeval import __version__
    from markupeval.rendering.sandbox import tex_version
    from markupeval.rendering.templates import load_template

    parts = [
        ("markupeval", __version__),
        ("tex", tex_version()),
        ("template", f"{template}@{load_template(template).sha}"),
        ("rasterizer", rasterizer),
        # PDFium finds page bounds and counts pages for every rasteriser.
        ("pdfium", str(getattr(pypdfium2, "PDFIUM_INFO", getattr(pypdfium2, "V_LIBPDFIUM", "?")))),
    ]
    if rasterizer.startswith("ghostscript"):
        parts.append(("ghostscript", _ghostscript_version()))
    return tuple(parts)


def _ghostscript_version() -> str:
    exe = shutil.which("gs")
    if exe is None:
        return "missing"
    try:
        return subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unusable ({exc})"


def worker_name() -> str:
    """The Dask worker's address inside a Dask task, else host and process id."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"{socket.gethostname()} pid {os.getpid()}"


def differences(expected: Fingerprint, actual: Fingerprint) -> list[str]:
    want, have = dict(expected), dict(actual)
    return [f"{k} {have.get(k, 'missing')!r} (driver: {want.get(k, 'missing')!r})"
            for k in dict.fromkeys([*want, *have]) if want.get(k) != have.get(k)]


def check_here(expected: Fingerprint, template: str, rasterizer: str) -> None:
    """Raise :class:`RenderEnvironmentError` naming this worker if it differs from ``expected``."""
    diff = differences(expected, fingerprint(template, rasterizer))
    if diff:
        raise RenderEnvironmentError(
            f"worker {worker_name()} renders differently from the driver: {'; '.join(diff)}. "
            "Every node needs the same setup (render/setup.sh); see README 'Clusters'"
        )
