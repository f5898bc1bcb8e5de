"""The render cache: hits, misses, damaged entries, --no-cache, concurrent processes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import markupeval.rendering.renderer as renderer_module
from markupeval.rendering import Renderer, RenderResult
from markupeval.rendering.cache import RenderCache, default_cache_dir

needs_tex = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("gs") is None,
    reason="pdflatex/Ghostscript not installed (run render/setup.sh)",
)

FORMULAS = [r"x^2", r"\frac{a}{b}", r"\frac{a", r"\undefinedmacro y"]


def _count_typeset(monkeypatch) -> list[int]:
    """Spy on the chunks sent to TeX: returns a list that collects their sizes."""
    sizes: list[int] = []
    real = renderer_module.render_chunk

    def spy(job):
        sizes.append(len(job.formulas))
        return real(job)

    monkeypatch.setattr(renderer_module, "render_chunk", spy)
    return sizes


def _same(a: RenderResult, b: RenderResult) -> bool:
    if (a.status, a.message) != (b.status, b.message):
        return False
    if a.image is None or b.image is None:
        return a.image is None and b.image is None
    return a.image.shape == b.image.shape and bool((a.image == b.image).all())


@needs_tex
def test_hit_miss_and_reuse_across_renderers(tmp_path: Path, monkeypatch) -> None:
    sizes = _count_typeset(monkeypatch)
    first = Renderer(cache=tmp_path, workers=1).render(FORMULAS)
    assert sum(sizes) == len(FORMULAS)
    second = Renderer(cache=tmp_path, workers=1).render(FORMULAS + [r"x^3"])
    assert sum(sizes) == len(FORMULAS) + 1  # only the new formula was typeset
    assert all(_same(a, b) for a, b in zip(first, second))
    # Other settings are other keys: nothing reused.
    Renderer(cache=tmp_path, workers=1, template="dataset").render([r"x^2"])
    assert sum(sizes) == len(FORMULAS) + 2


@needs_tex
def test_damaged_entries_are_rendered_again(tmp_path: Path, monkeypatch) -> None:
    first = Renderer(cache=tmp_path, workers=1).render(FORMULAS)
    files = sorted(p for p in (tmp_path / "v1").rglob("*") if p.is_file())
    assert len(files) == len(FORMULAS)
    files[0].write_bytes(files[0].read_bytes()[:-3])  # truncated
    data = bytearray(files[1].read_bytes())
    data[-1] ^= 0xFF  # flipped bits
    files[1].write_bytes(bytes(data))
    files[2].write_bytes(b"garbage")
    sizes = _count_typeset(monkeypatch)
    again = Renderer(cache=tmp_path, workers=1).render(FORMULAS)
    assert sum(sizes) == 3
    assert all(_same(a, b) for a, b in zip(first, again))
    sizes.clear()
    Renderer(cache=tmp_path, workers=1).render(FORMULAS)  # repaired on the way
    assert sizes == []


@needs_tex
def test_no_cache_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "markupeval"
    Renderer(cache=False, workers=1).render([r"x"])
    assert not any(tmp_path.iterdir())
    Renderer(workers=1).render([r"x"])  # default location
    assert any((tmp_path / "markupeval").rglob("*"))


def test_only_timeouts_of_a_computing_formula_are_stored(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    cache.put("ab" * 32, RenderResult("timeout", None, "slow", transient=True))  # the machine was busy
    assert cache.get("ab" * 32) is None
    cache.put("cd" * 32, RenderResult("timeout", None, "loops"))  # it computed all along: its own doing
    assert cache.get("cd" * 32) == RenderResult("timeout", None, "loops")


LOOP = r"\def\x{\x}\x"


@needs_tex
def test_a_looping_formula_is_cached_only_when_it_was_computing(tmp_path: Path, monkeypatch) -> None:
    import markupeval.rendering.sandbox as sandbox

    calls: list[float | None] = []
    real = sandbox._cpu_seconds
    monkeypatch.setattr(sandbox, "_cpu_seconds", lambda pid: calls.append(real(pid)) or calls[-1])
    with Renderer(cache=tmp_path, workers=1, timeout=1.5) as r:
        (first,) = r.render([LOOP])
    assert first.status == "timeout" and first.message == "no progress for 1.5 s; pdflatex killed"
    assert calls and all(c is not None for c in calls)  # pdflatex's CPU time is read from /proc
    # Whichever it was (a loop gets a whole core unless the machine is busy), the cache agrees.
    typeset = _count_typeset(monkeypatch)
    with Renderer(cache=tmp_path, workers=1, timeout=1.5) as r:
        (again,) = r.render([LOOP])
    assert again == first and typeset == ([] if not first.transient else [1])
    # A cached timeout counts only under its own limit: a longer one may let the formula finish.
    with Renderer(cache=tmp_path, workers=1, timeout=2.5) as r:
        (longer,) = r.render([LOOP])
    assert longer.message == "no progress for 2.5 s; pdflatex killed" and typeset[-1] == 1


@needs_tex
def test_a_timeout_without_computing_is_tried_again(tmp_path: Path, monkeypatch) -> None:
    import markupeval.rendering.sandbox as sandbox

    # As if another process had the CPU the whole time: pdflatex's clock never moves.
    monkeypatch.setattr(sandbox, "_cpu_seconds", lambda pid: 0.0)
    with Renderer(cache=tmp_path, workers=1, timeout=1.0) as r:
        (first,) = r.render([LOOP])
    assert first.status == "timeout" and first.transient
    typeset = _count_typeset(monkeypatch)
    with Renderer(cache=tmp_path, workers=1, timeout=1.0) as r:
        r.render([LOOP])
    assert typeset == [1]


def test_roundtrip_gray_bilevel_and_none(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (7, 13), dtype=np.uint8)
    bilevel = np.where(rng.random((5, 9)) < 0.5, 0, 255).astype(np.uint8)
    white = np.full((6, 4), 255, np.uint8)
    cases = [RenderResult("ok", gray, "ünïcode"), RenderResult("ok", bilevel), RenderResult("ok", white),
             RenderResult("error", None, "! Undefined control sequence.")]
    for k, result in enumerate(cases):
        key = f"{k:02d}" * 32
        cache.put(key, result)
        assert _same(cache.get(key), result)


@needs_tex
def test_concurrent_processes_share_the_cache(tmp_path: Path) -> None:
    code = (
        "import sys; from markupeval.rendering import Renderer; "
        "r = Renderer(cache=sys.argv[1], workers=1).render([r'x^{%d}' % i for i in range(12)]); "
        "print(sum(x.status == 'ok' for x in r))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs == ["12"] * 3
    files = [p for p in (tmp_path / "v1").rglob("*") if p.is_file()]
    assert len(files) == 12 and not any(p.name.startswith(".tmp-") for p in files)
    # The three processes raced to preload the template: one format, no leftovers of the others.
    assert [p.suffix for p in (tmp_path / "formats").iterdir()] == [".fmt"]
    cache = RenderCache(tmp_path)
    assert all(cache.get(p.name) is not None for p in files)
