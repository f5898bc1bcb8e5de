"""The renderer with real pdflatex: batch = alone, statuses, determinism, the CLI."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from markupeval.rendering import Renderer, RenderResult, render
from markupeval.rendering.rasterize import crop_to_ink, make_rasterizer
from markupeval.rendering.templates import load_template

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("gs") is None,
    reason="pdflatex/Ghostscript not installed (run render/setup.sh)",
)

# Ordinary formulas, some with TeX errors that TeX recovers from (the original still got a PDF).
FORMULAS = [
    r"x^2 + y^2 = z^2",
    r"\frac{a}{b} \sum_{i=1}^{n} i",
    r"\int_0^\infty e^{-x} \, dx",
    r"\undefinedmacro x + 1",  # recoverable error: still a page
    r"\left( \frac{1}{2} \right.",
    r"a}",  # extra brace: recoverable
    r"\mathrm{d} s^{2} = - d t^{2}",
    r"\begin{array}{cc} a & b \\ c & d \end{array}",
    "",
    r"\alpha \beta \gamma \Gamma",
]


def same(a: RenderResult, b: RenderResult) -> bool:
    if a.status != b.status:
        return False
    if a.image is None or b.image is None:
        return a.image is None and b.image is None
    return a.image.shape == b.image.shape and bool((a.image == b.image).all())


@pytest.fixture(scope="module")
def batch_results() -> list[RenderResult]:
    return Renderer(cache=False, workers=1).render(FORMULAS)


@pytest.fixture(scope="module")
def alone_results() -> list[RenderResult]:
    # chunk_size=1: every formula is its own pdflatex run.
    return Renderer(cache=False, workers=2, chunk_size=1).render(FORMULAS)


def test_batch_equals_alone(batch_results, alone_results) -> None:
    for f, a, b in zip(FORMULAS, batch_results, alone_results):
        assert same(a, b), f


def plain_document_image(formula: str, directory: Path) -> np.ndarray:
    """The original pipeline: the single document, plain pdflatex (LaTeX format and preamble),
    Ghostscript on the whole A4 page, any ink -> black, cropped."""
    directory.mkdir()
    (directory / "f.tex").write_text(load_template("im2markup").single(formula), encoding="utf-8")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "f.tex"], cwd=directory, capture_output=True, timeout=60)
    image = make_rasterizer("ghostscript-fullpage").rasterize(directory / "f.pdf", [0])[0].image
    return crop_to_ink(np.where(image < 255, 0, 255).astype(np.uint8))


def test_batch_equals_the_plain_protocol_document(batch_results, tmp_path: Path) -> None:
    for k in (0, 1, 3):
        expected = plain_document_image(FORMULAS[k], tmp_path / f"f{k}")
        got = batch_results[k].image
        assert got is not None and got.shape == expected.shape and (got == expected).all(), FORMULAS[k]


# Formulas that open more braces than they close are typeset alone (see batch.is_hazardous); TeX
# recovers from these ("Missing } inserted") and the original got a page. Two of them, so the
# alone runs' pages are rasterised together in one call.
UNBALANCED = [r"x _ { k", r"\left( \begin{array} { c c } { 0 } & { 1 } \\ { 1 } & {"]


def test_alone_runs_equal_the_plain_protocol_document(tmp_path: Path) -> None:
    """Formulas typeset alone, with the preamble preloaded and rasterised together, give the
    plain single document's pixels."""
    results = Renderer(cache=False, workers=1).render(UNBALANCED + FORMULAS[:2])
    for k, formula in enumerate(UNBALANCED):
        expected = plain_document_image(formula, tmp_path / f"u{k}")
        got = results[k]
        assert got.status == "ok" and "Missing } inserted" in got.message, got
        assert got.image is not None and got.image.shape == expected.shape and (got.image == expected).all(), formula


def test_preloading_failure_falls_back_to_the_plain_preamble(monkeypatch, batch_results) -> None:
    import markupeval.rendering.renderer as renderer_module
    from markupeval.errors import RenderEnvironmentError

    def broken(*args, **kwargs):
        raise RenderEnvironmentError("pdflatex could not preload the template")

    monkeypatch.setattr(renderer_module, "ensure_format", broken)
    results = Renderer(cache=False, workers=1).render(FORMULAS)
    assert all(same(a, b) for a, b in zip(results, batch_results))


@pytest.mark.parametrize("failure", ["no kpsewhich", "no format found"])
def test_a_failing_format_stamp_invalidates_the_preloaded_format(monkeypatch, tmp_path: Path, failure: str) -> None:
    # The stamp keys the preloaded format by the installed base format. If it cannot be taken, a
    # constant stand-in would match a stale format forever: it must fail, and rendering fall back.
    import markupeval.rendering.preloaded as preloaded
    from markupeval.errors import RenderEnvironmentError

    real_run = subprocess.run

    def run(cmd, *args, **kwargs):
        if cmd[0] != "kpsewhich":
            return real_run(cmd, *args, **kwargs)
        if failure == "no kpsewhich":
            raise FileNotFoundError(2, "No such file or directory", "kpsewhich")
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="")

    monkeypatch.setattr(preloaded.subprocess, "run", run)
    with pytest.raises(RenderEnvironmentError, match="stamp"):
        preloaded.format_path(load_template("im2markup"), "tex", tmp_path)
    results = Renderer(cache=tmp_path / "cache", workers=1).render(FORMULAS[:2])
    assert [r.status for r in results] == ["ok", "ok"]
    assert not list((tmp_path / "cache").glob("formats/*.fmt"))  # nothing built under a missing stamp


def test_statuses_and_images(batch_results) -> None:
    for f, r in zip(FORMULAS, batch_results):
        assert r.status == "ok", (f, r.message)
        assert r.image is not None and r.image.ndim == 2 and r.image.dtype == np.uint8
        assert set(np.unique(r.image)) <= {0, 255}  # bilevel: the original's any-ink-is-black
    by_formula = dict(zip(FORMULAS, batch_results))
    assert "Undefined control sequence" in by_formula[r"\undefinedmacro x + 1"].message
    assert by_formula[r"x^2 + y^2 = z^2"].message == ""
    blank = by_formula[""].image
    assert blank.shape == (2339, 1654) and (blank == 255).all()  # blank render: the whole A4 page


def test_fatal_error_and_strict_mode() -> None:
    r = render([r"\frac{a", r"\undefinedmacro", "x"], cache=False, workers=1)
    assert r[0].status == "error" and "File ended" in r[0].message and r[0].image is None
    assert r[1].status == "ok" and "Undefined control sequence" in r[1].message
    # Even braces, one left open (TeX drops the first }): it must fail as alone, not swallow the
    # next formulas up to a spare } and come out ok (batch.is_hazardous).
    leak = render([r"a } \frac { b", "x", r"y } + z"], cache=False, workers=1)
    assert leak[0].status == "error" and "File ended" in leak[0].message, leak[0]
    assert [x.status for x in leak[1:]] == ["ok", "ok"]
    assert r[2].status == "ok" and r[2].message == ""
    strict = render([r"\undefinedmacro"], cache=False, workers=1, strict=True)
    assert strict[0].status == "error" and strict[0].image is None


def test_grayscale_mode_and_pdfium() -> None:
    gray = render([r"\sum_i x_i"], cache=False, workers=1, bilevel=False)[0].image
    assert gray is not None and len(np.unique(gray)) > 2
    bilevel = render([r"\sum_i x_i"], cache=False, workers=1)[0].image
    # Same ink extent: bilevel is exactly "gray < 255 -> 0".
    assert (np.where(gray < 255, 0, 255) == bilevel).all()
    pdfium = render([r"\sum_i x_i"], cache=False, workers=1, rasterizer="pdfium")[0].image
    assert pdfium is not None and abs(pdfium.shape[0] - bilevel.shape[0]) <= 2


def test_workers_do_not_change_results(batch_results) -> None:
    more = Renderer(cache=False, workers=2, chunk_size=3).render(FORMULAS)
    assert all(same(a, b) for a, b in zip(batch_results, more))


def test_duplicates_and_order() -> None:
    r = render(["x", "y", "x"], cache=False, workers=1)
    assert same(r[0], r[2]) and not same(r[0], r[1])


def test_signature_records_settings() -> None:
    sig = Renderer(template="dataset", cache=False).signature().as_dict()
    assert sig["template"].startswith("dataset@")
    assert sig["rewrites"] == "dataset_compatible"
    assert sig["rasterizer"] == "ghostscript" and sig["dpi"] == "200"
    assert sig["ink"] == "any-coverage" and "TeX Live" in sig["tex"]


def test_cli_render(tmp_path: Path) -> None:
    from markupeval.cli import main

    formulas = tmp_path / "f.lst"
    formulas.write_text("x^2\n\\frac{a\n\\alpha\n", encoding="utf-8")
    names = tmp_path / "names.txt"
    names.write_text("one\ntwo.png\nthree\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["render", str(formulas), str(out), "--names", str(names), "--no-cache"]) == 0
    rows = list(csv.DictReader(open(out / "status.csv", encoding="utf-8")))
    assert [(r["name"], r["status"]) for r in rows] == [("one", "ok"), ("two", "error"), ("three", "ok")]
    assert (out / "one.png").exists() and (out / "three.png").exists() and not (out / "two.png").exists()
    # Without --names: the 0-based line number.
    assert main(["render", str(formulas), str(tmp_path / "out2"), "--no-cache"]) == 0
    assert (tmp_path / "out2" / "0.png").exists()


def test_cli_bad_names(tmp_path: Path, capsys) -> None:
    from markupeval.cli import main

    formulas = tmp_path / "f.lst"
    formulas.write_text("x\ny\n", encoding="utf-8")
    names = tmp_path / "names.txt"
    names.write_text("a\n", encoding="utf-8")
    assert main(["render", str(formulas), str(tmp_path / "o"), "--names", str(names)]) == 2
    assert "names.txt" in capsys.readouterr().err
    names.write_text("a\na\n", encoding="utf-8")
    assert main(["render", str(formulas), str(tmp_path / "o"), "--names", str(names)]) == 2
    assert "names.txt:2" in capsys.readouterr().err


def test_ghostscript_failure_is_per_page(tmp_path: Path) -> None:
    from markupeval.rendering.rasterize import GhostscriptRasterizer

    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.5\nnot really a pdf\n")
    out = GhostscriptRasterizer()._gs_pages(bad, [0, 1], False)
    assert len(out) == 2 and all(isinstance(x, str) and "Ghostscript" in x for x in out)


def test_ghostscript_page_lists_too_long_for_one_argument_are_split(tmp_path: Path, monkeypatch) -> None:
    """Ghostscript refuses a -sPageList of ~700 pages written one by one ("Command too long"), and
    the batch then fell back to one Ghostscript call per page. Runs of pages are written as
    ranges, and a list still too long is split over calls with the same pages out."""
    from markupeval.rendering import rasterize
    from markupeval.rendering.batch import ChunkJob, _run
    from markupeval.rendering.sandbox import Limits

    assert rasterize.page_lists([0, 1, 2, 4, 6, 7]) == [("1-3,5,7-8", 6)]
    assert [n for _, n in rasterize.page_lists(list(range(0, 3000, 2)))] == [264, 247, 200, 200, 200, 200, 189]
    job = ChunkJob(tuple(f"x_{{{i}}}" for i in range(12)), "im2markup", "ghostscript", 100, Limits(), True, False)
    run, _ = _run(job, list(range(12)), tmp_path, [0])
    pages = [0, 2, 3, 5, 7, 8, 10, 11]
    whole = rasterize.GhostscriptRasterizer(100).rasterize(run.pdf, pages)
    monkeypatch.setattr(rasterize, "_MAX_PAGE_LIST", 4)
    assert len(rasterize.page_lists(pages)) > 1
    split = rasterize.GhostscriptRasterizer(100).rasterize(run.pdf, pages)
    assert len(split) == len(pages) and all(a.image is not None for a in split)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(whole, split))
    assert not np.array_equal(whole[0].image, whole[1].image)  # x_0 and x_2: distinct pages came back


def test_chunks_cover_every_formula_once_alone_runs_first() -> None:
    formulas = [f"x_{{{i}}}" for i in range(300)]
    formulas[7] = r"\def\x{y}\x"  # typeset alone
    formulas[250] = r"x _ { k"  # more braces opened than closed: alone
    chunks = Renderer(cache=False, workers=2)._chunks(formulas)
    assert sorted(i for c in chunks for i in c) == list(range(300))
    assert chunks[0] == [7, 250]
    assert all(len(c) <= 400 for c in chunks)
    assert Renderer(cache=False)._chunks([r"x _ { k"]) == [[0]]  # only formulas typeset alone
    assert Renderer(cache=False)._chunks([]) == []


def test_a_formula_typeset_alone_on_its_own() -> None:
    (result,) = render([r"x _ { k"], cache=False, workers=1)
    assert result.status == "ok" and "Missing } inserted" in result.message


def test_malloc_tunables_keep_the_callers() -> None:
    from markupeval.rendering.sandbox import MALLOC_TUNABLES, sandbox_env, with_malloc_tunables

    assert with_malloc_tunables({})["GLIBC_TUNABLES"] == MALLOC_TUNABLES
    mixed = with_malloc_tunables({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2", "X": "1"})
    assert mixed == {"GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{MALLOC_TUNABLES}", "X": "1"}
    assert sandbox_env(Path("/tmp/w"))["GLIBC_TUNABLES"] == MALLOC_TUNABLES


def test_pgm_stream_is_split_into_pages() -> None:
    from markupeval.rendering.rasterize import _split_pgm_stream

    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    b = np.full((1, 4), 255, np.uint8)
    stream = b"P5\n3 2\n255\n" + a.tobytes() + b"P5\n# a comment\n4 1\n255\n" + b.tobytes()
    pages = _split_pgm_stream(stream)
    assert [p.shape for p in pages] == [(2, 3), (1, 4)]
    assert (pages[0] == a).all() and (pages[1] == b).all()
    with pytest.raises(ValueError, match="truncated"):
        _split_pgm_stream(stream[:-1])
    with pytest.raises(ValueError, match="no PGM header"):
        _split_pgm_stream(b"Error: something\n")


def test_a_colour_left_on_the_stack_does_not_colour_the_next_formula() -> None:
    """pdfTeX starts every page in the colour left on top of its colour stack. TeX's recovery from
    an error inside ``\\mathcolor`` can skip the pop (here: CDM's colouring of a ``\\put`` outside
    ``picture``), so without the colour-depth marker the next formula of the run came out in that
    colour: a CDM label map claiming the other formula's token, unlike its own render."""
    from markupeval.rendering.colour import colour_formula

    leaks = colour_formula(r"\put ( 2 , 3 ) { x }").latex
    plain = r"x + \mathcolor[RGB]{0,0,30}{y}"  # "x" in black: OTHER_INK in its own label map
    options = dict(rasterizer="ghostscript-colour", rewrites="minimal", bilevel=False, cache=False, workers=1)
    together = Renderer("cdm-a5", **options).render([leaks, plain, plain + " z"])
    alone = [Renderer("cdm-a5", chunk_size=1, **options).render([f])[0] for f in (leaks, plain, plain + " z")]
    assert together[0].message, "the leaking formula is one with TeX errors"
    for a, b in zip(together, alone):
        assert same(a, b)
    # Black stays black: no pixel of the second formula carries the leaked colour's label (1).
    assert together[1].image is not None and not (together[1].image == 1).any()


def test_a_run_ends_at_the_formula_that_leaks_state(tmp_path: Path) -> None:
    """A formula that leaves a group open (an ``array`` never closed) makes the rest of its run
    worthless: they go again in a new run. TeX ends the run there instead of typesetting them, and
    the pages before it stay in the PDF."""
    from markupeval.rendering.batch import ChunkJob, _run, parse_markers
    from markupeval.rendering.sandbox import Limits

    job = ChunkJob(("x", r"\begin{array}{c} y", "z", "w"), "im2markup", "ghostscript", 160, Limits(), True, False)
    run, nonce = _run(job, [0, 1, 2, 3], tmp_path, [0])
    ref, segs, final = parse_markers(run.output, nonce, 4)
    assert segs[0].end_levels == ref and segs[1].end_levels != ref
    assert [s.begin_page for s in segs] == [1, 2, None, None] and final is None
    assert run.pdf is not None
