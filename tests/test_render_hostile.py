"""Hostile formulas (model outputs are untrusted): each is contained, and every ordinary formula
in the same batch still gets exactly the image it gets alone."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from markupeval.rendering import Renderer, RenderResult

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("gs") is None,
    reason="pdflatex/Ghostscript not installed (run render/setup.sh)",
)

TAG = uuid.uuid4().hex[:8]
TMP = Path(tempfile.gettempdir())
SHELL_TARGET = TMP / f"markupeval-shell-{TAG}"
OPENOUT_TARGET = TMP / f"markupeval-openout-{TAG}.tex"
PARENT_TARGET = f"markupeval-parent-{TAG}"

NORMAL = [r"x^2 + 1", r"\frac{\alpha}{\beta}", r"\sum_{k=0}^{n} \binom{n}{k}", r"\sqrt{a+b} \cdot \pi"]

# (name, formula, allowed statuses)
HOSTILE = [
    ("input_passwd", r"\input{/etc/passwd}", {"error"}),
    ("input_parent", r"\input{../../../../etc/passwd}", {"error"}),
    ("shell_escape", rf"\immediate\write18{{touch {SHELL_TARGET}}} x", {"ok"}),
    ("openout_absolute", rf"\immediate\openout5={OPENOUT_TARGET} \immediate\write5{{owned}} x", {"ok", "error"}),
    ("openout_parent", rf"\immediate\openout5=../{PARENT_TARGET}.tex \immediate\write5{{owned}} x", {"ok", "error"}),
    ("infinite_loop", r"\def\x{\x}\x", {"timeout"}),
    ("output_flood", r"\def\x{\message{flood flood flood flood flood flood}\x}\x", {"too_large", "timeout"}),
    ("maxdimen_rule", r"\rule{\maxdimen}{\maxdimen}", {"ok", "error", "too_large"}),
    ("deep_grouping", "{" * 5000 + "x" + "}" * 5000, {"error"}),
    ("deep_recursion", r"\def\r{\r\relax}\r", {"error"}),
    ("megabyte", "x+" * 600_000, {"too_large"}),
    ("end_document", r"a \end{document} b", {"ok", "error"}),
    ("errorstopmode", r"\errorstopmode \undefinedmacro", {"error"}),
    ("hundred_errors", r"\undefinedmacro " * 150, {"error"}),
    ("runaway", r"\frac{a", {"error"}),
    ("open_group", r"{x", {"ok", "error"}),
    ("global_redefine", r"\gdef\alpha{BROKEN} \global\let\frac\relax x", {"ok"}),
    ("catcode", r"\catcode`\x=13 \def x{y} x", {"ok", "error"}),
    ("page_size", r"\global\pdfpagewidth=10in x", {"ok"}),
    ("caret_escape", r"^^5cgdef^^5cbeta{BROKEN} x", {"ok", "error"}),
]


@pytest.fixture(scope="module")
def results() -> dict[str, RenderResult]:
    # Hostile formulas first and in between, so ordinary ones follow every kind of damage.
    formulas: list[str] = []
    names: list[str] = []
    for k, (name, formula, _) in enumerate(HOSTILE):
        formulas.append(formula)
        names.append(name)
        formulas.append(NORMAL[k % len(NORMAL)])
        names.append(f"normal{k}")
    out = Renderer(cache=False, workers=1, timeout=2.0).render(formulas)
    return dict(zip(names, out))


@pytest.fixture(scope="module")
def alone() -> list[RenderResult]:
    return Renderer(cache=False, workers=1, chunk_size=1).render(NORMAL)


@pytest.mark.parametrize("name, formula, allowed", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_formula_is_contained(results, name: str, formula: str, allowed: set[str]) -> None:
    r = results[name]
    assert r.status in allowed, (r.status, r.message)
    assert (r.image is not None) == (r.status == "ok")
    assert "root:" not in r.message  # nothing of /etc/passwd leaks into messages
    if r.image is not None:
        assert r.image.shape[0] <= 2339 and r.image.shape[1] <= 1654  # never more than the A4 page


def test_every_ordinary_formula_renders_as_alone(results, alone) -> None:
    for k in range(len(HOSTILE)):
        r = results[f"normal{k}"]
        expected = alone[k % len(NORMAL)]
        assert r.status == "ok" and r.message == "", (HOSTILE[k][0], r.message)
        assert r.image.shape == expected.image.shape and (r.image == expected.image).all(), HOSTILE[k][0]


def test_no_file_escapes_the_sandbox(results) -> None:
    assert not SHELL_TARGET.exists()
    assert not OPENOUT_TARGET.exists()
    assert not any(p.name.startswith(PARENT_TARGET) for p in TMP.iterdir())
    assert "Not reading from /etc/passwd" in results["input_passwd"].message


def test_sandbox_environment_is_minimal(tmp_path: Path) -> None:
    from markupeval.rendering.sandbox import sandbox_env

    os.environ["MARKUPEVAL_SECRET_FOR_TEST"] = "x"
    try:
        env = sandbox_env(tmp_path)
    finally:
        del os.environ["MARKUPEVAL_SECRET_FOR_TEST"]
    assert "MARKUPEVAL_SECRET_FOR_TEST" not in env
    assert env["openin_any"] == env["openout_any"] == "p" and env["shell_escape"] == "f"
    assert env["HOME"] == env["TEXMFOUTPUT"] == str(tmp_path)
