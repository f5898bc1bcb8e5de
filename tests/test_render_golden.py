"""Parity with ../shared/golden/image-pairs: our renders of the same gold and predictions give the
original metric's per-pair values (those goldens were rendered one formula per pdflatex run, full
A4 page, Ghostscript 200 dpi, any ink -> black). One test case per golden row."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import SHARED, shared_available
from markupeval.images.compare import compare_images
from markupeval.rendering import Renderer

N = 120
DATA = SHARED / "data"


def _names() -> list[str]:
    if not shared_available():
        return [f"row{i}" for i in range(N)]  # each case then fails under CI=true, else skips (conftest)
    return (DATA / "im2latex100k" / "src-test-old.txt").read_text(encoding="utf-8").split("\n")[:N]


@pytest.fixture(scope="module")
def renders(shared_dir):
    if shutil.which("pdflatex") is None or shutil.which("gs") is None:
        pytest.skip("pdflatex/Ghostscript not installed (run render/setup.sh)")
    gold = (DATA / "im2latex100k" / "tgt-test-old.txt").read_text(encoding="utf-8").split("\n")[:N]
    predictions = {}
    for line in (DATA / "predictions" / "results65_100.txt").read_text(encoding="utf-8").split("\n"):
        parts = line.split("\t")
        if len(parts) >= 3:
            predictions[parts[0]] = parts[2]
    names = _names()
    renderer = Renderer(cache=False)
    gold_renders = renderer.render(gold)
    pred_renders = renderer.render([predictions.get(n, "") for n in names])
    return {n: (g, p if n in predictions else None) for n, g, p in zip(names, gold_renders, pred_renders)}


@pytest.fixture(scope="module")
def expected(shared_dir) -> dict:
    return {e["image"]: e for e in json.loads((shared_dir / "golden" / "image-pairs" / "expected.json").read_text())}


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("name", _names())
def test_render_reproduces_the_golden_pair(name: str, renders, expected) -> None:
    g, p = renders[name]
    e = expected[name]
    got = compare_images(g.image, p.image if p is not None else None)
    assert (g.image is not None) == e["gold_rendered"]
    assert (got.edit_distance, got.ref, got.match, got.match_ws) == (
        e["edit_distance"], e["ref"], e["match"], e["match_ws"])
