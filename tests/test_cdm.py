"""CDM: the official per-pair values of the golden hand pairs, determinism, failure policies.

``fixtures/cdm-hand-pairs.json`` is ``shared/golden/cdm/hand-pairs.json``: 24 pairs with the output
of the official ``cdm/evaluation.py`` (opendatalab/UniMERNet 5a2c80d9) run on this kind of machine.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from markupeval.cdm_scoring import score_cdm
from markupeval.metrics import METRICS
from markupeval.metrics.cdm import CDMConfig, equivalent_form, geometric_inliers, ransac_inliers, score_pair
from markupeval.rendering.colour import colour_formula, palette_colour
from markupeval.rendering.rasterize import OTHER_INK, colour_labels

HAND = json.loads((Path(__file__).parent / "fixtures" / "cdm-hand-pairs.json").read_text())
needs_tex = pytest.mark.skipif(shutil.which("pdflatex") is None or shutil.which("gs") is None,
                               reason="pdflatex and gs are needed")


@pytest.fixture(scope="module")
def hand_scoring(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cdm-cache")
    return score_cdm([p["gt"] for p in HAND], [p["pred"] for p in HAND], render_options={"cache": str(cache)})


@needs_tex
@pytest.mark.parametrize("k", range(len(HAND)), ids=[p["img_id"] for p in HAND])
def test_hand_pair_reproduces_official(hand_scoring, k: int) -> None:
    pair, r = HAND[k], hand_scoring.results[k]
    assert r.status == pair["status"]
    assert (r.recall, r.precision, r.f1) == (pair["recall"], pair["precision"], pair["F1_score"])
    assert (r.n_gt, r.n_pred) == (pair["n_gt_boxes"], pair["n_pred_boxes"])
    assert r.counted == pair["in_corpus_mean"]
    if pair["exprate_at_cdm_hit"] is not None:
        assert int(r.hit) == pair["exprate_at_cdm_hit"]


@needs_tex
def test_paper_demo_cases_and_corpus(hand_scoring) -> None:
    by_id = {p["img_id"]: r for p, r in zip(HAND, hand_scoring.results)}
    assert by_id["h23_paper_demo_case1"].f1 == 1.0
    assert by_id["h24_paper_demo_case2"].f1 == 0.933
    official = [p["F1_score"] for p in HAND if p["in_corpus_mean"]]
    assert hand_scoring.scores["cdm_f1"].value == pytest.approx(np.mean(official))
    assert hand_scoring.scores["cdm_exprate"].value == pytest.approx(np.mean([f == 1 for f in official]))
    # The gold that does not compile is excluded, but counted and listed.
    assert [HAND[i]["img_id"] for i in hand_scoring.gold_failed] == ["h22_identical_noncompiling"]
    # Bootstrap re-aggregates stored statistics through the registry.
    again = METRICS["cdm_f1"]().aggregate(hand_scoring.stats["cdm_f1"])
    assert again.value == hand_scoring.scores["cdm_f1"].value


@needs_tex
def test_fixed_variant_is_named_and_fixes_neq(tmp_path) -> None:
    out = score_cdm([r"a \ne b", r"x_{i}"], [r"a \neq b", r"x^{i}"], CDMConfig(variant="fixed"),
                    render_options={"cache": str(tmp_path)})
    assert out.results[0].f1 == 1.0
    assert "cdm_variant:fixed" in str(out.signature)
    assert equivalent_form("\\neq") == "\\not=" and equivalent_form("\\neq", "fixed") == "\\ne"


@needs_tex
def test_same_numbers_whatever_the_worker_count(shared_dir, tmp_path) -> None:
    rows = [line.split("\t") for line in (shared_dir / "data" / "predictions" / "results65_100.txt")
            .read_text(encoding="utf-8").splitlines()[:40]]
    gold, pred = [r[1] for r in rows], [r[2] for r in rows]
    one = score_cdm(gold, pred, render_options={"workers": 1, "cache": False, "chunk_size": 7})
    two = score_cdm(gold, pred, render_options={"workers": 2, "cache": str(tmp_path), "chunk_size": 13})
    cached = score_cdm(gold, pred, render_options={"workers": 2, "cache": str(tmp_path)})
    for a, b, c in zip(one.results, two.results, cached.results):
        assert a == b == c
    assert one.scores["cdm_f1"].value == two.scores["cdm_f1"].value == cached.scores["cdm_f1"].value


@needs_tex
def test_failure_policies_in_score(tmp_path) -> None:
    from markupeval.formats import GoldItem, GoldSet, Prediction, PredictionSet
    from markupeval.scoring import ScoreConfig, score

    gold = GoldSet(items=[GoldItem("a.png", "x + 1", 1), GoldItem("b.png", r"\frac { a } {", 2),
                          GoldItem("c.png", "y", 3)], source="names")
    preds = PredictionSet(items=[Prediction("a.png", "x + 1", 1), Prediction("b.png", "a", 2)],
                          format="jsonl", path=tmp_path / "p.jsonl")
    run = score(preds, gold, ScoreConfig(images=False, cdm=True, render_options={"cache": str(tmp_path)}))
    assert run.counts["cdm_gold_failed"] == 1
    assert run.scores["cdm_f1"].value == 0.5  # a.png 1.0, c.png missing 0.0, b.png excluded
    assert run.samples[1].cdm["status"] == "gt_not_rendered_excluded"
    assert run.samples[2].cdm["status"] == "pred_not_rendered_scored_zero"
    assert "cdm_gold_failed:excluded-listed" in str(run.signature)


@needs_tex
def test_cdm_command(tmp_path) -> None:
    from markupeval.cli import main

    src = tmp_path / "in.json"
    src.write_text(json.dumps([{"img_id": "one", "gt": "a + b", "pred": "a + b + c"}, {"gt": r"\frac{a}{", "pred": "a"}]))
    assert main(["cdm", str(src), "--json", str(tmp_path / "o.json"), "--per-sample", str(tmp_path / "o.csv"),
                 "--cache-dir", str(tmp_path / "c")]) == 0
    res = json.loads((tmp_path / "o.json").read_text())
    assert res["details"] == {"one": {"recall": 1.0, "precision": 0.6, "F1_score": 0.75}}
    assert res["gold_failed"][0]["img_id"] == "sample_1"
    rows = list(csv.DictReader((tmp_path / "o.csv").open()))
    assert list(rows[0]) == ["img_id", "recall", "precision", "f1", "status", "n_gt", "n_pred"]
    assert rows[1]["status"] == "gt_not_rendered_excluded"


@pytest.mark.parametrize("payload, message", [
    ('{"gt": "a"}', "JSON list"), ('[{"gt": "a"}]', "'pred'"), ("[1,", "not a JSON"),
    ('[{"img_id": "x", "gt": "a", "pred": "b"}, {"img_id": "x", "gt": "a", "pred": "b"}]', "repeats"),
])
def test_cdm_input_errors_name_the_file(tmp_path, payload: str, message: str) -> None:
    from markupeval.cli.cdm import read_cdm_input
    from markupeval.errors import InputError

    src = tmp_path / "bad.json"
    src.write_text(payload)
    with pytest.raises(InputError, match=message) as err:
        read_cdm_input(src)
    assert "bad.json" in str(err.value)


class _SkimageModel:
    """CDM's translation-and-scale model in skimage's protocol, to call skimage's ransac itself."""

    def __init__(self) -> None:
        self.translation, self.scale = np.zeros(2), 1.0

    @classmethod
    def from_estimate(cls, src, dst):
        m = cls()
        m.estimate(src, dst)
        return m

    def estimate(self, src, dst) -> bool:
        sc, dc = np.mean(src, axis=0), np.mean(dst, axis=0)
        self.translation = dc - sc
        self.scale = np.mean(np.linalg.norm(dst - dc, axis=1)) / (np.mean(np.linalg.norm(src - sc, axis=1)) + 1e-10)
        return True

    def residuals(self, src, dst):
        c = np.mean(src, axis=0)
        return np.sqrt(np.sum((self.scale * (src - c) + c + self.translation - dst) ** 2, axis=1))

    def __bool__(self) -> bool:
        return True


def test_ransac_equals_skimage_ransac_seeded_42() -> None:
    import warnings

    from skimage.measure import ransac

    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(3, 60))
        src = rng.uniform(0, 400, (n, 2)).round() / 2
        dst = src * rng.uniform(0.8, 1.2) + rng.uniform(-30, 30, 2)
        bad = rng.random(n) < rng.uniform(0, 0.7)
        dst[bad] += rng.uniform(-200, 200, (int(bad.sum()), 2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, expected = ransac((src, dst), _SkimageModel, min_samples=2, residual_threshold=20, max_trials=50, rng=42)
        ours = ransac_inliers(src, dst)
        if expected is None:
            assert ours is None
        else:
            assert ours is not None and np.array_equal(ours, expected), trial


def test_geometry_rules() -> None:
    src = np.array([[10.0, 10.0], [10.0, 30.0]])
    assert geometric_inliers(src, src + [100, 0]).all()  # <= 2 matches: never checked (official)
    assert not geometric_inliers(src, np.array([[10.0, 10.0], [60.0, 30.0]]), CDMConfig(variant="fixed")).any()
    # A different token never counts, even at the right place.
    r = score_pair(["a", "b", "c"], np.array([[0, 0, 5, 5], [10, 0, 15, 5], [20, 0, 25, 5]]), (30, 10),
                   ["a", "b", "d"], np.array([[0, 0, 5, 5], [10, 0, 15, 5], [20, 0, 25, 5]]), (30, 10))
    assert (r.matched, r.f1, r.gt_matched) == (2, 0.667, (True, True, False))


def test_colouring_and_label_decoding() -> None:
    assert palette_colour(0) == (0, 0, 15) and palette_colour(16) == (0, 0, 255) and palette_colour(17) == (0, 15, 0)
    c = colour_formula(r"\frac{a}{b} + \sin x")
    assert c.tokens == ("\\frac", "a", "b", "+", "s", "i", "n", "x") and c.ok
    # Unparsable: the official code colours the raw text, one token; a command without argument fails.
    assert colour_formula(r"\frac{a}{").tokens == ("\\frac{a}{",)
    assert not colour_formula(r"x \phantom").ok
    rgba = np.zeros((1, 4, 4), np.uint8)
    rgba[0, 0] = (255, 255, 255, 0)
    rgba[0, 1] = (0, 0, 30, 17)  # token 1, faint coverage keeps its colour
    rgba[0, 2] = (0, 0, 0, 255)  # black: ink of no token
    rgba[0, 3] = (3, 7, 30, 200)  # a blend
    assert colour_labels(rgba).tolist() == [[0, 2, int(OTHER_INK), int(OTHER_INK)]]
