"""Rendering one chunk of formulas: many formulas per pdflatex run, errors isolated.

The chunk is typeset optimistically as one document, one page per formula (the page geometry of
the single-formula document, so each page equals that formula rendered alone). Markers in TeX's
output attribute every message to its formula and give its page. Then:

* a formula whose text could change TeX's state for later formulas (``\\global``, ``\\def``,
  ``\\catcode``, ``\\input``, ``\\end{document}``, ...; see :data:`HAZARD`) never shares a run;
* a formula with a TeX error that still ended cleanly keeps its page (TeX recovers from most
  errors and the original still produced a PDF): every formula starts from the same TeX state,
  TeX's error count is reset with every paragraph, so its recovery is the one it makes alone
  (the tests compare such pages with single-formula runs);
* a formula that did not end cleanly (missing end marker: a fatal error or runaway argument;
  changed group or conditional nesting; not exactly one page) makes every formula after it
  untrusted: they go into a new run;
* a run that stops making progress for ``timeout`` seconds is killed; the formula that was running
  gets ``timeout`` and the others go into a new run (a killed run leaves no usable PDF).

Each re-run is strictly smaller than the run it comes from, so this terminates.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import tempfile
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from markupeval.rendering.rasterize import PageImage, make_rasterizer
from markupeval.rendering.result import RenderResult
from markupeval.rendering.sandbox import Limits, TexRun, run_pdflatex
from markupeval.rendering.templates import load_template

log = logging.getLogger("markupeval")

# Control sequences after which a formula is typeset alone: assignments that outlive the display's
# group, file and terminal I/O, mode and page changes, category-code tricks (`^^5c` spells `\`).
# Errors are caught anyway; this catches what could leak *without* an error.
HAZARD = re.compile(
    r"\^\^|@|\\(?:global|gdef|xdef|globaldefs|let|futurelet|def|edef|long|outer|protected"
    r"|newcommand|renewcommand|providecommand|newenvironment|renewenvironment|DeclareRobustCommand"
    r"|newcounter|setcounter|addtocounter|stepcounter|refstepcounter|newlength|setlength|addtolength"
    r"|newif|newcount|newdimen|newskip|newtoks|newbox|newsavebox|savebox|sbox|setbox"
    r"|catcode|lccode|uccode|sfcode|mathcode|delcode|makeatletter|makeatother|csname|endcsname"
    r"|expandafter|aftergroup|afterassignment|every[a-z]+|output|shipout|scantokens|lowercase|uppercase"
    r"|input|include|endinput|openin|openout|closein|closeout|read|readline|write|immediate|message"
    r"|special|pdf[a-z]*|errmessage|errhelp|errorstopmode|scrollmode|batchmode|nonstopmode|tracing[a-z]*"
    r"|newpage|clearpage|cleardoublepage|pagebreak|nopagebreak|enlargethispage|vadjust|insert|mark|marks"
    r"|hoffset|voffset|hsize|vsize|textwidth|textheight|paperwidth|paperheight|mag|jobname"
    r"|count|dimen|skip|muskip|toks|font|chardef|mathchardef|countdef|dimendef|skipdef|toksdef"
    r"|documentclass|usepackage|RequirePackage|begin\s*\{\s*document|end\s*\{\s*(?:document|displaymath)"
    r"|end(?![a-zA-Z])(?!\s*\{)|fontsize|selectfont|color|pagecolor|loop|repeat)(?![a-zA-Z])"
)

#: Messages kept per formula (the first few errors are the informative ones).
MAX_ERRORS = 3


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to render a chunk (picklable)."""

    formulas: tuple[str, ...]  # already rewritten
    template: str
    rasterizer: str
    dpi: int
    limits: Limits
    bilevel: bool
    strict: bool
    fmt: str | None = None  # preloaded format of the template (None: plain LaTeX format + preamble)
    #: The driver's environment (see :mod:`.environment`); a worker that differs refuses the chunk.
    environment: tuple[tuple[str, str], ...] | None = None


_ESCAPED = re.compile(r"\\\\|\\[{}%]")
_BRACES = re.compile(r"[{}]")


#: Version of :func:`is_hazardous`'s rules, in the cache key of every formula they send alone: a
#: render cached before a formula was sent alone may be a batch's wrong page (``alone2``: braces
#: counted as TeX counts them, where an unmatched ``}`` is dropped).
ALONE_RULES = "alone2"


def is_hazardous(formula: str) -> bool:
    """Whether the formula must have a pdflatex run of its own.

    Besides :data:`HAZARD`, a formula that leaves a brace open: TeX then reads on into the next
    formulas (an open group or a runaway argument), so in a batch it would cost a re-run of
    everything after it. Open is counted as TeX counts it alone, where a ``}`` with nothing open is
    an error TeX drops: ``x } \\frac { a`` leaves one open though its braces are even. In a batch
    such an open brace swallowed the next formulas until one with a spare ``}`` ended it, and
    nothing looked amiss: a real prediction that fails alone rendered ``ok`` from the page of a
    formula twelve places later. (2 % of one real model's test predictions open more braces than
    they close; 610 of a weak CTC model's 10,273 have even braces and still leave one open.)
    """
    if HAZARD.search(formula) is not None:
        return True
    depth = 0
    for brace in _BRACES.findall(_ESCAPED.sub("", formula).split("%", 1)[0]):
        depth = depth + 1 if brace == "{" else max(depth - 1, 0)
    return depth > 0


@dataclass
class _Segment:
    begin_page: int | None = None
    end_levels: str | None = None
    errors: list[str] | None = None


def parse_markers(output: str, nonce: str, n: int) -> tuple[str | None, list[_Segment], int | None]:
    """Split TeX's terminal output into per-formula segments.

    Returns the reference nesting levels, one segment per formula, and the final page counter.
    """
    ref: str | None = None
    final: int | None = None
    segs = [_Segment(errors=[]) for _ in range(n)]
    current: int | None = None
    tag = re.compile(rf"ME([BERZ]){re.escape(nonce)}:([0-9:-]+)")
    lines = output.split("\n")
    for k, line in enumerate(lines):
        for m in tag.finditer(line):
            kind, payload = m.group(1), m.group(2).split(":")
            if not all(payload):
                continue  # cut off (a killed run's last line)
            if kind == "R":
                ref = ":".join(payload)
            elif kind == "B" and len(payload) == 2:
                i = int(payload[0])
                if 0 <= i < n:
                    current = i
                    segs[i].begin_page = int(payload[1])
            elif kind == "E" and len(payload) >= 3:
                i = int(payload[0])
                if 0 <= i < n:
                    segs[i].end_levels = ":".join(payload[1:])
            elif kind == "Z" and payload[0]:
                final = int(payload[0])
                current = None
        if current is not None and (line.startswith("! ") or "Not reading from" in line or "Not writing to" in line):
            errors = segs[current].errors
            assert errors is not None
            if len(errors) < MAX_ERRORS:
                # TeX's "l.<n> <context>" line: the line number is the batch file's, so keep only
                # the context (where in the formula TeX was).
                context = next((x for x in lines[k + 1 : k + 8] if x.startswith("l.")), "")
                context = re.sub(r"^l\.\d+ ?", "", context).strip()
                errors.append(line.strip() + (f" (at: {context})" if context else ""))
    return ref, segs, final


def _run(job: ChunkJob, indices: list[int], base: Path, counter: list[int]) -> tuple[TexRun, str]:
    counter[0] += 1
    workdir = base / f"run{counter[0]}"
    workdir.mkdir()
    template = load_template(job.template)
    nonce = secrets.token_hex(4)
    source = template.batch([job.formulas[i] for i in indices], nonce, preloaded=job.fmt is not None)
    return run_pdflatex(source, workdir, nonce, job.limits, len(indices), job.fmt), nonce


def render_chunk(job: ChunkJob) -> list[RenderResult]:
    """Render every formula of the chunk; one result per formula, in order."""
    if job.environment is not None:
        from markupeval.rendering.environment import check_here

        check_here(job.environment, job.template, job.rasterizer)
    if job.fmt is not None and not Path(job.fmt).exists():
        # Another machine's path: this worker preloads the template into its own format once.
        job = replace(job, fmt=_local_format(job.template))
    n = len(job.formulas)
    results: list[RenderResult | None] = [None] * n
    rasterizer = make_rasterizer(job.rasterizer, job.dpi)
    hazardous = [is_hazardous(f) for f in job.formulas]
    safe = [i for i in range(n) if not hazardous[i]]
    queue: deque[list[int]] = deque()
    if safe:
        queue.append(safe)
    queue.extend([i] for i in range(n) if hazardous[i])
    counter = [0]
    alone: list[tuple[int, Path, str]] = []  # (formula index, one-page PDF, TeX's errors) to rasterise
    with tempfile.TemporaryDirectory(prefix="markupeval-tex-") as tmp:
        base = Path(tmp)
        while queue:
            indices = queue.popleft()
            run, nonce = _run(job, indices, base, counter)
            ref, segs, final = parse_markers(run.output, nonce, len(indices))
            if len(indices) == 1:
                outcome = _alone(job, run, segs[0])
                if isinstance(outcome, RenderResult):
                    results[indices[0]] = outcome
                else:
                    alone.append((indices[0], *outcome))
                continue
            if run.killed:
                k = run.running if run.running is not None else 0
                log.debug("render: run of %d killed (%s) at formula %d; the others go again", len(indices),
                          run.killed, k)
                results[indices[k]] = _killed(run, job)
                rest = indices[:k] + indices[k + 1 :]
                if rest:
                    queue.append(rest)
                continue
            trusted: list[tuple[int, int, str]] = []  # (formula index, 0-based page, TeX's errors)
            for pos, i in enumerate(indices):
                seg = segs[pos]
                next_page = segs[pos + 1].begin_page if pos + 1 < len(indices) else final
                pages = (next_page - seg.begin_page) if (next_page is not None and seg.begin_page is not None) else None
                clean_end = seg.end_levels is not None and seg.end_levels == ref and pages == 1
                if seg.begin_page is None:
                    # Never started: an earlier formula swallowed it, or TeX stopped before the
                    # first formula (then each goes alone, so each gets its own diagnosis).
                    if pos == 0:
                        queue.extend([j] for j in indices)
                    else:
                        queue.append(indices[pos:])
                    break
                if not clean_end:
                    log.debug("render: formula %d of a run of %d ended uncleanly (levels %s, pages %s); "
                              "it goes alone, the %d after it again", pos, len(indices), seg.end_levels, pages,
                              len(indices) - pos - 1)
                    queue.append([i])
                    if indices[pos + 1 :]:
                        queue.append(indices[pos + 1 :])
                    break
                message = "; ".join(seg.errors or [])
                if message and job.strict:
                    results[i] = RenderResult("error", None, message)
                    continue
                trusted.append((i, seg.begin_page - 1, message))
            if trusted and run.pdf is None:
                # A fatal error left no PDF: the clean formulas simply go again, without the rest.
                queue.append([i for i, _, _ in trusted])
                continue
            if trusted:
                images = rasterizer.rasterize(run.pdf, [p for _, p, _ in trusted])
                for (i, _, message), page in zip(trusted, images):
                    results[i] = _finish(page, message, job)
        if alone:
            for (i, _, message), page in zip(alone, _rasterize_together(rasterizer, [p for _, p, _ in alone], base)):
                results[i] = _finish(page, message, job)
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


@functools.lru_cache(maxsize=None)
def _local_format(template: str) -> str | None:
    from markupeval.errors import RenderEnvironmentError
    from markupeval.rendering.cache import default_cache_dir
    from markupeval.rendering.preloaded import ensure_format
    from markupeval.rendering.sandbox import tex_version

    try:
        return str(ensure_format(load_template(template), tex_version(), default_cache_dir() / "formats"))
    except (RenderEnvironmentError, OSError) as exc:
        log.warning("render: %s; typesetting without a preloaded format", exc)
        return None


def split_job(job: ChunkJob) -> tuple[ChunkJob, ChunkJob] | None:
    """The two halves of a chunk (for finding a formula that kills workers), or None for one formula."""
    if len(job.formulas) < 2:
        return None
    half = len(job.formulas) // 2
    return replace(job, formulas=job.formulas[:half]), replace(job, formulas=job.formulas[half:])


def poisoned(job: ChunkJob, reason: str) -> list[RenderResult]:
    """The result of a one-formula chunk whose workers kept dying: an ``error``, not a hang."""
    return [RenderResult("error", None, f"rendering this formula killed its worker process repeatedly ({reason})")
            for _ in job.formulas]


#: A timeout is the formula's own (cached) when pdflatex computed for at least this share of it.
#: A loop on an idle core gets ~99 % of it; the rest is the watchdog's polling and the clock's tick.
COMPUTING_SHARE = 0.9


def timeout_message(seconds: float) -> str:
    """A timeout's message; it names the limit, so a cached timeout is only reused under the same one."""
    return f"no progress for {seconds:g} s; pdflatex killed"


def _killed(run: TexRun, job: ChunkJob) -> RenderResult:
    if run.killed == "timeout":
        # The same status and message either way: only whether it is cached depends on the load.
        computing = run.stalled_cpu is not None and run.stalled_cpu >= COMPUTING_SHARE * job.limits.timeout
        return RenderResult("timeout", None, timeout_message(job.limits.timeout), transient=not computing)
    return RenderResult("too_large", None, f"TeX wrote more than {job.limits.output_bytes} bytes of messages")


def _alone(job: ChunkJob, run: TexRun, seg: _Segment) -> RenderResult | tuple[Path, str]:
    """The result of a formula's own run, or (its one-page PDF, TeX's errors) to rasterise."""
    if run.killed:
        return _killed(run, job)
    message = "; ".join(seg.errors or [])
    if run.pdf is None:
        return RenderResult("error", None, message or _last_words(run.output) or "pdflatex produced no PDF")
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(run.pdf))
    except pdfium.PdfiumError as exc:
        return RenderResult("error", None, f"unreadable PDF: {exc}")
    pages = len(doc)
    doc.close()
    if pages != 1:
        # The original converted the PDF to `<name>.png`; a multi-page PDF became `<name>-0.png`,
        # ... so no image was found and the formula counted as a failed render.
        return RenderResult("error", None, f"{pages} pages of output (the original pipeline produced no image)"
                            + (f"; {message}" if message else ""))
    if message and job.strict:
        return RenderResult("error", None, message)
    return run.pdf, message


def _rasterize_together(rasterizer, pdfs: list[Path], base: Path) -> list[PageImage]:
    """The first page of each PDF, from one rasteriser call over a merged document.

    A rasteriser call costs a Ghostscript start (~60 ms), as much as the pdflatex run of a
    preloaded single formula, so the formulas typeset alone are rasterised together. Merging copies
    each page with its own resources (fonts included), so a page rasterises as it does in its own
    file (tested).
    """
    if len(pdfs) == 1:
        return rasterizer.rasterize(pdfs[0], [0])
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()
    sources = []
    try:
        for pdf in pdfs:
            src = pdfium.PdfDocument(str(pdf))
            sources.append(src)
            merged.import_pages(src, [0])
        path = base / "alone.pdf"
        merged.save(str(path))
    except pdfium.PdfiumError as exc:
        # A page PDFium cannot copy must not cost the others their images: one call each.
        log.debug("render: merging %d single-formula PDFs failed (%s); rasterising each alone", len(pdfs), exc)
        return [page for pdf in pdfs for page in rasterizer.rasterize(pdf, [0])]
    finally:
        merged.close()
        for src in sources:
            src.close()
    return rasterizer.rasterize(path, list(range(len(pdfs))))


def _finish(page: PageImage, message: str, job: ChunkJob) -> RenderResult:
    image = page.image
    if image is None:
        if page.error:
            return RenderResult("error", None, page.error)
        return RenderResult("too_large", None, page.too_large)
    if job.bilevel:
        # The original's quirk: ImageMagick wrote ink as alpha and convert('L') dropped it, so
        # every pixel with any coverage became black.
        image = np.where(image < 255, 0, 255).astype(np.uint8)
    return RenderResult("ok", image, message)


def _last_words(output: str) -> str:
    lines = [x.strip() for x in output.strip().split("\n") if x.strip()]
    fatal = [x for x in lines if x.startswith("!") or "job aborted" in x or "Emergency stop" in x]
    return "; ".join(fatal[:MAX_ERRORS]) if fatal else (lines[-1] if lines else "")
