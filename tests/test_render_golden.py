"""Parity with ../shared/golden/image-pairs: our renders of the same gold and predictions give the
original metric's per-pair values (those goldens were rendered one formula per pdflatex run, full
A4 page, Ghostscript 200 dpi, any ink -> black)."""

from __future__ import annotations

import json
import shutil

import pytest

from markupeval.images.compare import compare_images
from markupeval.rendering import Renderer

N = 120


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("gs") is None,
                    reason="pdflatex/Ghostscript not installed (run render/setup.sh)")
def test_renders_reproduce_golden_pair_values(shared_dir) -> None:
    data = shared_dir / "data"
    gold = (data / "im2latex100k" / "tgt-test-old.txt").read_text(encoding="utf-8").split("\n")[:N]
    names = (data / "im2latex100k" / "src-test-old.txt").read_text(encoding="utf-8").split("\n")[:N]
    predictions = {}
    for line in (data / "predictions" / "results65_100.txt").read_text(encoding="utf-8").split("\n"):
        parts = line.split("\t")
        if len(parts) >= 3:
            predictions[parts[0]] = parts[2]
    expected = {e["image"]: e for e in json.loads((shared_dir / "golden" / "image-pairs" / "expected.json").read_text())}
    renderer = Renderer(cache=False)
    gold_renders = renderer.render(gold)
    pred_renders = renderer.render([predictions.get(n, "") for n in names])
    for name, g, p in zip(names, gold_renders, pred_renders):
        e = expected[name]
        pred_image = p.image if name in predictions else None
        got = compare_images(g.image, pred_image)
        assert (g.image is not None) == e["gold_rendered"], name
        assert (got.edit_distance, got.ref, got.match, got.match_ws) == (
            e["edit_distance"], e["ref"], e["match"], e["match_ws"]), name
