"""Running pdflatex on untrusted input: private directory, minimal environment, hard limits.

Model outputs are untrusted, so pdflatex runs with shell escape off (``-no-shell-escape`` and
``shell_escape=f``), kpathsea's paranoid file policy (``openin_any=p``/``openout_any=p``: no
absolute paths, no ``..``, no dot files), ``HOME`` and ``TEXMFOUTPUT`` pointing at the private
temporary directory, stdin closed (``\\errorstopmode`` then ends the job instead of waiting), and
resource limits set in the child before exec (address space, file size, CPU time). The run is its
own process group, so a timeout kills everything it started.

The watchdog reads TeX's terminal output as it arrives: every ``MEB`` marker (a formula starts)
resets the per-formula clock, so a batch of many formulas gets the same per-formula timeout as one
formula alone, and the formula that was running when the clock ran out is known. It also notes
pdflatex's CPU time at each marker, so a timeout says whether the formula was computing all along
(a loop: the same on any machine) or starved of CPU by a busy machine (worth trying again).
"""

from __future__ import annotations

import os
import resource
import selectors
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from markupeval.errors import RenderEnvironmentError


JOB = "batch"


@dataclass(frozen=True)
class Limits:
    """Hard limits for one pdflatex run."""

    timeout: float = 10.0  # seconds per formula without progress (the original's 10 s)
    address_space: int = 2 << 30  # bytes
    file_size: int = 512 << 20  # bytes, any single file pdflatex writes
    output_bytes: int = 64 << 20  # terminal output captured before the run is killed
    #: TeX's input stack (kpathsea's ``stack_size``: macro expansions and inputs open at once);
    #: None keeps TeX Live's 10,000. A runaway recursion fills it; a typeset formula needs ~60.
    input_stack: int | None = None


@dataclass
class TexRun:
    """What one pdflatex run left behind."""

    output: str  # terminal output (the log's content, unwrapped)
    pdf: Path | None
    returncode: int | None
    killed: str = ""  # "timeout" | "output" | "" when it ended by itself
    running: int | None = None  # index of the formula running when killed (from markers)
    seconds: float = 0.0
    #: On a timeout: CPU seconds pdflatex spent since the stalled formula began (None: unknown).
    stalled_cpu: float | None = None


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a running process, from /proc (None where there is none)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces), from its closing parenthesis on:
    # state is field 3, utime 14 and stime 15.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (IndexError, ValueError):
        return None


def _limit_child(limits: Limits, cpu_seconds: int) -> None:
    # Runs in the child between fork and exec: only async-signal-safe work (setrlimit).
    resource.setrlimit(resource.RLIMIT_AS, (limits.address_space, limits.address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


#: Start-up of pdflatex and Ghostscript is dominated by page faults: pdflatex touches 36 MB
#: loading its format (8,000 faults, 30 ms of system time per run). Asking glibc's malloc for
#: transparent huge pages (honoured where THP is ``always`` or ``madvise``, ignored elsewhere)
#: cuts the faults to 2,400 and a single-formula run from 61 to 44 ms, Ghostscript by 13-20 %.
#: Allocation strategy cannot change what TeX typesets or Ghostscript paints.
MALLOC_TUNABLES = "glibc.malloc.hugetlb=1"


def with_malloc_tunables(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus :data:`MALLOC_TUNABLES`, keeping tunables already set."""
    current = env.get("GLIBC_TUNABLES", "")
    return {**env, "GLIBC_TUNABLES": f"{current}:{MALLOC_TUNABLES}" if current else MALLOC_TUNABLES}


def sandbox_env(workdir: Path, input_stack: int | None = None) -> dict[str, str]:
    """The whole environment pdflatex sees (``input_stack``: see :attr:`Limits.input_stack`)."""
    env = {
        "GLIBC_TUNABLES": MALLOC_TUNABLES,
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "TEXMFOUTPUT": str(workdir),
        "TEXMFVAR": str(workdir / ".texmf-var"),
        "openin_any": "p",
        "openout_any": "p",
        "shell_escape": "f",
        # No line wrapping in the log/terminal: markers and messages stay on one line.
        "max_print_line": "100000",
        "error_line": "250",
        "half_error_line": "200",
        "LC_ALL": "C",
        # Reproducible PDFs (no creation date / ID from the clock).
        "SOURCE_DATE_EPOCH": "0",
        "FORCE_SOURCE_DATE": "1",
    }
    if input_stack is not None:
        env["stack_size"] = str(input_stack)  # kpathsea reads texmf.cnf settings from the environment
    return env


def find_pdflatex() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        raise RenderEnvironmentError(
            "pdflatex not found on PATH; run render/setup.sh (Debian/Ubuntu) or install TeX Live"
        )
    return exe


def run_pdflatex(
    source: str, workdir: Path, nonce: str, limits: Limits, n_formulas: int, fmt: str | None = None
) -> TexRun:
    """Typeset ``source`` in ``workdir`` (which must be private and empty) and watch it.

    ``fmt``: path of a format to load instead of the LaTeX format (a preloaded preamble).
    """
    exe = find_pdflatex()
    tex = workdir / f"{JOB}.tex"
    tex.write_text(source, encoding="utf-8", errors="surrogateescape")
    cpu = int(limits.timeout * (n_formulas + 1)) + 5
    cmd = [exe, "-interaction=nonstopmode", "-no-shell-escape", *([f"-fmt={fmt}"] if fmt else []), f"{JOB}.tex"]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=workdir,
        env=sandbox_env(workdir, limits.input_stack),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=lambda: _limit_child(limits, cpu),
    )
    begin_marker = f"MEB{nonce}:".encode()
    chunks: list[bytes] = []
    size = 0
    killed = ""
    running: int | None = None
    last_progress = time.monotonic()
    cpu_at_progress = _cpu_seconds(proc.pid)
    stalled_cpu: float | None = None
    pending = b""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        while True:
            remaining = limits.timeout - (time.monotonic() - last_progress)
            if remaining <= 0:
                killed = "timeout"
                now = _cpu_seconds(proc.pid)
                if now is not None and cpu_at_progress is not None:
                    stalled_cpu = now - cpu_at_progress
                break
            if not sel.select(timeout=min(remaining, 0.5)):
                continue
            data = os.read(proc.stdout.fileno(), 1 << 16)
            if not data:
                break
            chunks.append(data)
            size += len(data)
            if size > limits.output_bytes:
                killed = "output"
                break
            # Track which formula is running: the last begin marker seen.
            text = pending + data
            pos = text.rfind(begin_marker)
            if pos >= 0:
                tail = text[pos + len(begin_marker) :]
                colon = tail.find(b":")
                if colon > 0 and tail[:colon].isdigit():
                    running = int(tail[:colon])
                    last_progress = time.monotonic()
                    cpu_at_progress = _cpu_seconds(proc.pid)
            pending = text[-256:]
    finally:
        sel.close()
        if killed:
            _kill_group(proc)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
        proc.stdout.close()
    output = b"".join(chunks).decode("utf-8", errors="replace")
    pdf = workdir / f"{JOB}.pdf"
    return TexRun(
        output=output,
        pdf=pdf if (pdf.exists() and not killed) else None,
        returncode=proc.returncode,
        killed=killed,
        running=running if killed else None,
        seconds=time.monotonic() - start,
        stalled_cpu=stalled_cpu,
    )


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def tex_version() -> str:
    """First line of ``pdflatex --version`` (e.g. ``pdfTeX 3.14...-2.6-1.40.24 (TeX Live 2022/Debian)``)."""
    exe = find_pdflatex()
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        raise RenderEnvironmentError(f"pdflatex --version failed: {exc}") from exc
    return out.stdout.splitlines()[0].strip()
