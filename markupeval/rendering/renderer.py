"""The public renderer: settings in the constructor, ``render(formulas) -> list[RenderResult]``.

Formulas are rewritten (the protocol's pre-render rewrites), looked up in the cache, and the
misses are split into chunks that worker processes typeset and rasterise (:mod:`.batch`). Results
do not depend on the chunking or the number of workers: every page is the formula's image as if it
were rendered alone.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import tempfile
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator, Sequence

from markupeval.errors import RenderEnvironmentError
from markupeval.metrics.base import Signature
from markupeval.executor import ChunkRunner, Executor, make_executor
from markupeval.rendering.batch import ALONE_RULES, ChunkJob, is_hazardous, poisoned, render_chunk, split_job, timeout_message
from markupeval.rendering.cache import RenderCache, cache_key, default_cache_dir
from markupeval.rendering.preloaded import ensure_format
from markupeval.rendering.rasterize import COLOUR_RASTERIZERS, RASTERIZERS
from markupeval.rendering.result import RenderResult
from markupeval.rendering.rewrites import get_preset
from markupeval.rendering.sandbox import Limits, tex_version
from markupeval.rendering.templates import DEFAULT_TEMPLATE, load_template

log = logging.getLogger("markupeval")

#: The rasteriser used unless another is named. Ghostscript on per-page crop boxes: on the 1,200
#: sample formulas it matches 95.1 % of the original dataset images under image Match, PDFium at
#: best 87.6 % (render/README.md has the measurements), so fidelity decides it.
DEFAULT_RASTERIZER = "ghostscript"

#: The rewrite preset each template gets by default. The evaluation template gets the original
#: evaluation's rewrites; the dataset template reproduces the dataset's own renders, which were made
#: before (and without) the `\matrix` -> `\mymatrix` rewrite: with it, 8 more of the 1,200 sample
#: images differ.
DEFAULT_REWRITES = {"im2markup": "im2latex_compatible", "dataset": "dataset_compatible"}


@dataclass(frozen=True)
class RenderSettings:
    """Every renderer setting that can change a pixel (each is recorded by :meth:`Renderer.signature`).

    The defaults are the original protocol's; :func:`render_settings` resolves Renderer keyword
    arguments into them.
    """

    template: str = DEFAULT_TEMPLATE
    rewrites: str | None = None  # None: the template's default preset
    rasterizer: str = DEFAULT_RASTERIZER
    dpi: int = 200
    bilevel: bool = True  # the original's "any coverage -> black"; False keeps grayscale
    strict: bool = False  # True: a formula with TeX errors fails even if TeX produced a page
    timeout: float = 10.0  # seconds without progress, per formula
    max_chars: int = 20_000  # longer formulas are "too_large" without running TeX
    input_stack: int | None = None  # TeX's input stack (:attr:`~.sandbox.Limits.input_stack`); None: TeX Live's


#: Renderer keyword arguments that change how the work is done, never a result: every page is the
#: formula's image as if rendered alone, whatever the processes, chunking or cache (tested in
#: tests/test_render.py). They stay out of signatures; every other argument is a RenderSettings field.
EXECUTION_OPTIONS = frozenset({"workers", "chunk_size", "cache", "progress", "executor"})


def render_settings(**options: object) -> RenderSettings:
    """The :class:`RenderSettings` that Renderer keyword arguments ask for, validated and with the
    template's default rewrites filled in; execution options are ignored, unknown names refused."""
    known = {f.name for f in fields(RenderSettings)}
    unknown = set(options) - known - EXECUTION_OPTIONS
    if unknown:
        raise TypeError(f"unknown render option(s): {', '.join(sorted(unknown))}")
    settings = RenderSettings(**{k: v for k, v in options.items() if k in known})  # type: ignore[arg-type]
    load_template(settings.template)  # fail early on an unknown template
    if not settings.timeout > 0:
        raise ValueError(f"timeout must be more than 0 seconds, got {settings.timeout!r}")
    if settings.input_stack is not None and not settings.input_stack >= 100:
        raise ValueError(f"input_stack must be at least 100 (LaTeX needs ~60), got {settings.input_stack!r}")
    if settings.rasterizer not in RASTERIZERS + COLOUR_RASTERIZERS:
        raise ValueError(f"unknown rasterizer {settings.rasterizer!r}; known: {', '.join(RASTERIZERS)}")
    return replace(settings, rewrites=settings.rewrites or DEFAULT_REWRITES.get(settings.template, "im2latex_compatible"))


def _cache_key(formula: str, settings_key: str) -> str:
    """The cache key of a prepared formula; one typeset alone carries the rules that sent it alone."""
    return cache_key(formula, f"{settings_key}|{ALONE_RULES}" if is_hazardous(formula) else settings_key)


class Renderer:
    """Batched, sandboxed, cached pdflatex renderer.

    ``workers``: processes (default: the CPUs this process may use); ``chunk_size``: formulas per
    pdflatex run at most; ``cache``: ``False`` disables it, a path moves it (default
    :func:`~markupeval.rendering.cache.default_cache_dir`); ``progress``: show a rich progress bar
    on stderr; ``executor``: where chunks run (:func:`markupeval.executor.make_executor`: ``None``
    for a local pool of ``workers`` or ``$DASK_SCHEDULER_ADDRESS``, ``"dask://HOST:PORT"``, or an
    executor object, which the caller closes). Use the renderer as a context manager (or call
    :meth:`close`) to stop the worker processes it started.
    """

    def __init__(
        self,
        template: str = DEFAULT_TEMPLATE,
        *,
        rewrites: str | None = None,
        rasterizer: str = DEFAULT_RASTERIZER,
        dpi: int = 200,
        bilevel: bool = True,
        strict: bool = False,
        timeout: float = 10.0,
        max_chars: int = 20_000,
        input_stack: int | None = None,
        workers: int | None = None,
        chunk_size: int = 400,
        cache: bool | str | Path = True,
        progress: bool = False,
        executor: "str | Executor | None" = None,
    ) -> None:
        self.settings = render_settings(
            template=template, rewrites=rewrites, rasterizer=rasterizer, dpi=dpi, bilevel=bilevel,
            strict=strict, timeout=timeout, max_chars=max_chars, input_stack=input_stack,
        )
        self.rewrite = get_preset(self.settings.rewrites)  # type: ignore[arg-type]
        self.workers = max(1, workers if workers is not None else len(os.sched_getaffinity(0)))
        self.chunk_size = max(1, chunk_size)
        self.progress = progress
        self.limits = Limits(timeout=timeout, input_stack=self.settings.input_stack)
        self._executor_spec = executor
        self._executor: Executor | None = executor if executor is not None and not isinstance(executor, str) else None
        self._checked: Executor | None = None
        self._tex_version: str | None = None
        self._fmt: str | None = None
        self._fmt_tmp: tempfile.TemporaryDirectory | None = None
        if cache is False:
            self.cache: RenderCache | None = None
            self._formats_dir: Path | None = None
        else:
            cache_dir = default_cache_dir() if cache is True else Path(cache)
            self.cache = RenderCache(cache_dir)
            self._formats_dir = cache_dir / "formats"

    @property
    def tex_version(self) -> str:
        if self._tex_version is None:
            self._tex_version = tex_version()
        return self._tex_version

    def signature(self) -> Signature:
        s = self.settings
        return Signature.from_items(
            [
                ("template", f"{s.template}@{load_template(s.template).sha}"),
                ("rewrites", s.rewrites),
                ("tex", self.tex_version),
                ("rasterizer", s.rasterizer),
                ("dpi", s.dpi),
                ("ink", "any-coverage" if s.bilevel else "gray"),
                ("tex_errors", "fail" if s.strict else "render"),
                ("timeout", f"{s.timeout:g}s"),
                ("max_chars", s.max_chars),
                # Only where set, so the signatures of renders under TeX's own limit stay as they were.
                *([("input_stack", s.input_stack)] if s.input_stack is not None else []),
            ]
        )

    def _preloaded_format(self) -> str | None:
        """The template's preamble as a preloaded format (built once), or None if that fails."""
        if self._fmt is None:
            directory = self._formats_dir
            if directory is None:
                self._fmt_tmp = tempfile.TemporaryDirectory(prefix="markupeval-fmt-")
                directory = Path(self._fmt_tmp.name)
            try:
                self._fmt = str(ensure_format(load_template(self.settings.template), self.tex_version, directory))
            except (RenderEnvironmentError, OSError) as exc:
                # Slower but equivalent: every run loads the LaTeX format and the preamble itself.
                log.warning("render: %s; typesetting without a preloaded format", exc)
                self._fmt = ""
        return self._fmt or None

    def _cache_settings(self) -> str:
        s = self.settings
        template = load_template(s.template)
        # A smaller input stack can only turn a render into a failure, but the failure is cached.
        stack = [f"stack{s.input_stack}"] if s.input_stack is not None else []
        return "|".join(
            ["v1", template.sha, self.tex_version, s.rasterizer, str(s.dpi), str(s.bilevel), str(s.strict), *stack]
        )

    def render(self, formulas: Sequence[str]) -> list[RenderResult]:
        """One :class:`RenderResult` per formula, in order."""
        results: list[RenderResult | None] = [None] * len(formulas)
        for i, result in self.render_stream(formulas):
            results[i] = result
        assert all(r is not None for r in results)
        return results  # type: ignore[return-value]

    def render_stream(self, formulas: Sequence[str]) -> Iterator[tuple[int, RenderResult]]:
        """``(index, result)`` for every formula, each index exactly once, as results arrive.

        Formulas are taken in windows (in input order): a window's cached results come out at
        once, its misses go out as chunks, and at most two chunks per worker are in flight. So a
        caller that drops what it has used holds a bounded number of images, whatever the number
        of formulas. Identical formulas are typeset once.
        """
        s = self.settings
        settings_key = self._cache_settings()
        executor = self._get_executor()
        self._check_workers(executor)
        runner: ChunkRunner[ChunkJob, list[RenderResult]] = ChunkRunner(
            executor, render_chunk, split=split_job, poison=poisoned)
        waiting: dict[str, list[int]] = {}  # cache key -> indices waiting for its render
        key_of: dict[str, str] = {}  # prepared formula in flight -> its cache key
        own_timeout = timeout_message(s.timeout)
        window = max(1, self.chunk_size * executor.parallelism * 4)
        cached = typeset = 0

        def finish(job: ChunkJob, out: list[RenderResult]) -> Iterator[tuple[int, RenderResult]]:
            keys = [key_of.pop(f) for f in job.formulas]  # a split job's halves come back too
            for key, result in zip(keys, out):
                if self.cache is not None:
                    self.cache.put(key, result)  # the driver is the cache's only writer
                for i in waiting.pop(key):
                    yield i, result
            bar.advance(len(keys))

        with _Progress(self.progress, len(formulas)) as bar:
            try:
                for start in range(0, len(formulas), window):
                    misses: list[tuple[str, str]] = []  # (key, prepared formula)
                    for i in range(start, min(start + window, len(formulas))):
                        formula = self.rewrite(formulas[i])
                        if len(formula) > s.max_chars:
                            bar.advance(1)
                            yield i, RenderResult("too_large", None, f"formula of {len(formula)} characters "
                                                                     f"exceeds the limit of {s.max_chars}")
                            continue
                        key = _cache_key(formula, settings_key)
                        if key in waiting:
                            waiting[key].append(i)
                            continue
                        hit = self.cache.get(key) if self.cache is not None else None
                        if hit is not None and hit.status == "timeout" and hit.message != own_timeout:
                            hit = None  # a timeout under another limit: this one may let it finish
                        if hit is not None:
                            cached += 1
                            bar.advance(1)
                            yield i, hit
                            continue
                        waiting[key] = [i]
                        key_of[formula] = key
                        misses.append((key, formula))
                    typeset += len(misses)
                    jobs = self._jobs(misses)
                    if len(jobs) == 1 and start + window >= len(formulas) and not runner.in_flight \
                            and not executor.remote:
                        # One chunk in all: starting worker processes would cost more than it saves.
                        yield from finish(jobs[0], render_chunk(jobs[0]))
                        jobs = []
                    for job in jobs:
                        while runner.full:
                            for done in runner.completed(block=True):
                                yield from finish(*done)
                        runner.submit(job)
                    for done in runner.completed(block=False):
                        yield from finish(*done)
                for done in runner.drain():
                    yield from finish(*done)
            except BaseException:
                runner.cancel()  # Ctrl-C or an error: this run's chunks stop on every worker
                raise
        log.info("render: %d formulas, %d cached, %d typeset on %s", len(formulas), cached, typeset,
                 executor.description)

    def _get_executor(self) -> Executor:
        if self._executor is None:
            self._executor = make_executor(self._executor_spec, self.workers)
        return self._executor

    def close(self) -> None:
        """Stop the worker processes this renderer started (an executor passed in stays open)."""
        if self._executor is not None and self._executor is not self._executor_spec:
            self._executor.close()
        self._executor = None

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_workers(self, executor: Executor) -> None:
        """Refuse a cluster whose workers would render differently (or unsafely) before sending work."""
        if not executor.remote or self._checked is executor:
            return
        from markupeval.rendering.environment import differences, fingerprint

        expected = self.environment()
        s = self.settings
        found = executor.run_on_workers(functools.partial(fingerprint, s.template, s.rasterizer))
        for worker, theirs in sorted(found.items()):
            diff = differences(expected, tuple(tuple(p) for p in theirs))
            if diff:
                raise RenderEnvironmentError(
                    f"worker {worker} renders differently from the driver: {'; '.join(diff)}. Every node "
                    "needs the same setup (render/setup.sh); see README 'Clusters'")
        threads = getattr(executor, "nthreads", lambda: {})()
        many = sorted(w for w, n in threads.items() if n > 1)
        if many:
            raise RenderEnvironmentError(
                f"worker {many[0]} runs {threads[many[0]]} threads; PDFium is not thread-safe, so start "
                "workers with `dask worker --nthreads 1 --nworkers N`")
        self._checked = executor

    def environment(self) -> tuple[tuple[str, str], ...]:
        """The driver's render environment (what every worker must match)."""
        from markupeval.rendering.environment import fingerprint

        return fingerprint(self.settings.template, self.settings.rasterizer)

    def _jobs(self, misses: list[tuple[str, str]]) -> list[ChunkJob]:
        if not misses:
            return []
        s = self.settings
        fmt = self._preloaded_format()
        remote = self._get_executor().remote
        environment = self.environment() if remote else None
        formulas = [f for _, f in misses]
        return [ChunkJob(tuple(formulas[i] for i in chunk), s.template, s.rasterizer, s.dpi, self.limits, s.bilevel,
                         s.strict, fmt, environment)
                for chunk in self._chunks(formulas, self._get_executor().parallelism)]

    def _chunks(self, formulas: list[str], workers: int | None = None) -> list[list[int]]:
        """Index lists, one per pdflatex batch, the slow ones first.

        Formulas typeset alone (:func:`~markupeval.rendering.batch.is_hazardous`) cost a pdflatex
        run each and are where the rare formula that loops until the timeout lives, so they go
        first, in small chunks: they spread over the workers and a 10-s timeout overlaps the rest
        of the work instead of trailing it. The others: about four chunks per worker, so the last
        round leaves no core idle for long, but not below 100 formulas (each chunk pays a
        pdflatex and a Ghostscript start).
        """
        workers = workers or self.workers
        hazardous = [is_hazardous(f) for f in formulas]
        alone = [i for i, h in enumerate(hazardous) if h]
        rest = [i for i, h in enumerate(hazardous) if not h]
        small = min(self.chunk_size, 32)
        chunks = [alone[a : a + small] for a in range(0, len(alone), small)]
        n = len(rest)
        if n:
            size = min(self.chunk_size, max(min(100, n), math.ceil(n / (4 * workers))))
            chunks += [rest[a : a + size] for a in range(0, n, size)]
        return chunks


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._progress = None
        self._task = None

    def __enter__(self) -> "_Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=Console(stderr=True), transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("render", total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def render(formulas: Sequence[str], **settings) -> list[RenderResult]:
    """Render formulas with a :class:`Renderer` built from ``settings`` (see its constructor)."""
    return Renderer(**settings).render(formulas)
