"""A template's preamble preloaded into a TeX format, so a pdflatex run starts at ``\\begin{document}``.

Starting pdflatex costs about 90 ms before the first formula, almost all of it loading the LaTeX
format (18 MB, gzip-compressed by web2c) and then the class and packages. That is noise for a
batch of hundreds of formulas but the whole cost of a formula that must be typeset alone. So the
template's preamble is loaded once and dumped (``pdflatex -ini "&pdflatex" preamble \\dump``), and
the dump is stored *uncompressed*: web2c reads formats through zlib, which reads plain files as
they are, and skipping the decompression halves a run (measured: 108 ms -> 53 ms per
single-formula document). Pages are pixel-identical to the plain document (tested against plain
``pdflatex`` on the template's single-formula document).

The preamble is the project's own template, never model output; the run that dumps it has the
same sandboxed environment as every other run. Formats are kept next to the render cache, keyed by
the template's text and the TeX version, and written atomically, so concurrent processes may race
to build the same one harmlessly.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import subprocess
import tempfile
from pathlib import Path

from markupeval.errors import RenderEnvironmentError
from markupeval.rendering.sandbox import find_pdflatex, sandbox_env
from markupeval.rendering.templates import BEGIN_DOCUMENT, Template

log = logging.getLogger("markupeval")


def format_path(template: Template, tex_version: str, directory: Path) -> Path:
    """Where the preloaded format of ``template`` under this TeX lives (it may not exist yet)."""
    key = hashlib.sha256(f"{template.text}\0{tex_version}\0{_base_format_stamp()}".encode()).hexdigest()[:16]
    return directory / f"{template.name}-{key}.fmt"


def ensure_format(template: Template, tex_version: str, directory: Path) -> Path:
    """The preloaded format's path, building it first when it is missing."""
    target = format_path(template, tex_version, directory)
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="markupeval-fmt-", dir=directory) as tmp:
        work = Path(tmp)
        preamble = template.preamble[: template.preamble.rindex(BEGIN_DOCUMENT)]
        (work / "preamble.tex").write_text(preamble + "\\dump\n", encoding="utf-8")
        cmd = [find_pdflatex(), "-ini", "-interaction=nonstopmode", "-no-shell-escape", "-jobname=preloaded",
               "&pdflatex", "preamble.tex"]
        try:
            proc = subprocess.run(cmd, cwd=work, env=sandbox_env(work), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, errors="replace", timeout=120)
        except (subprocess.SubprocessError, OSError) as exc:
            raise RenderEnvironmentError(f"could not preload the {template.name!r} template: {exc}") from exc
        dumped = work / "preloaded.fmt"
        if proc.returncode != 0 or not dumped.exists():
            tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
            raise RenderEnvironmentError(
                f"pdflatex could not preload the {template.name!r} template's preamble "
                f"(exit {proc.returncode}):\n{tail}"
            )
        plain = work / "plain.fmt"
        with gzip.open(dumped, "rb") if _is_gzip(dumped) else dumped.open("rb") as src, plain.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
        os.replace(plain, target)
    log.debug("render: preloaded %s into %s", template.name, target)
    return target


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _base_format_stamp() -> str:
    """Size and modification time of the installed LaTeX format: a rebuilt base invalidates ours.

    A stamp that cannot be taken is an error (:class:`RenderEnvironmentError`), never a constant
    such as "unknown": a constant would keep matching a format dumped from an older base, so a
    stale format would be used forever. The renderer then typesets without a preloaded format.
    """
    try:
        out = subprocess.run(["kpsewhich", "-engine=pdftex", "pdflatex.fmt"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RenderEnvironmentError(f"cannot locate the LaTeX format to stamp the preloaded one: {exc}") from exc
    location = out.stdout.strip()
    if out.returncode != 0 or not location:
        raise RenderEnvironmentError(f"kpsewhich finds no pdflatex.fmt (exit {out.returncode}) to stamp the preloaded format")
    try:
        st = Path(location).stat()
    except OSError as exc:
        raise RenderEnvironmentError(f"cannot stat the LaTeX format {location}: {exc.strerror}") from exc
    return f"{st.st_size}:{st.st_mtime_ns}"
