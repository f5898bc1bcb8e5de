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
def test_scoring_keeps_boxes_not_renders(hand_scoring, tmp_path) -> None:
    # A corpus's label maps would take gigabytes: scoring keeps the boxes only; pictures ask for maps.
    assert all(b.labels is None for b in hand_scoring.gold_boxes)
    assert all(b is None or b.labels is None for b in hand_scoring.pred_boxes)
    from markupeval.rendering.boxes import TokenBoxRenderer

    (kept,) = TokenBoxRenderer(cache=False).render([HAND[0]["gt"]], keep_labels=True)
    assert kept.labels is not None and kept.labels.dtype == np.uint16
    assert np.array_equal(kept.boxes, hand_scoring.gold_boxes[0].boxes)


@needs_tex
def test_fixed_variant_is_named_and_fixes_neq(tmp_path) -> None:
    out = score_cdm([r"a \ne b", r"x_{i}"], [r"a \neq b", r"x^{i}"], CDMConfig(variant="fixed"),
                    render_options={"cache": str(tmp_path)})
    assert out.results[0].f1 == 1.0
    assert "cdm_variant:fixed" in str(out.signature)
    assert equivalent_form("\\neq") == "\\not=" and equivalent_form("\\neq", "fixed") == "\\ne"


def test_official_normalizer_ends_a_formula_at_its_first_percent() -> None:
    # preprocess_formula.js cuts the line at any %, \% included; the raw formula is used only
    # where what is left does not parse.
    assert colour_formula(r"5 0 \% x").tokens == ("5", "0")
    assert colour_formula(r"5 0 \% x", "unescaped-percent").tokens == ("5", "0", "\\%", "x")
    assert colour_formula(r"%a%b").tokens == ("a",)  # one leading % dropped, then the cut
    assert colour_formula(r"a + b").tokens == colour_formula(r"a + b", "unescaped-percent").tokens
    with pytest.raises(ValueError, match="comment rule"):
        colour_formula("x", "none")


@needs_tex
def test_fixed_variant_compares_what_follows_a_percent(tmp_path) -> None:
    gold, pred = [r"5 0 \% x"], [r"5 0 \% y"]
    official = score_cdm(gold, pred, render_options={"cache": str(tmp_path)})
    fixed = score_cdm(gold, pred, CDMConfig(variant="fixed"), render_options={"cache": str(tmp_path)})
    assert (official.results[0].f1, official.results[0].n_gt) == (1.0, 2)  # both cut to "5 0"
    assert (fixed.results[0].n_gt, fixed.results[0].f1) == (4, 0.75)  # 5, 0, \%, x: only x vs y differs
    assert official.signature.as_dict()["comments"] == "any-percent"
    assert fixed.signature.as_dict()["comments"] == "unescaped-percent"


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
def test_runaway_recursion_stops_on_the_input_stack(tmp_path) -> None:
    # A test-set gold formula (tgt-test-old line 1677, shortened): coloured, its \renewcommand
    # redefines \mathcolor's continuation and the next \mathcolor recurses without end. Under
    # TeX's own stack it runs into the timeout (2 s here).
    from markupeval.rendering.boxes import CDM_INPUT_STACK, TokenBoxRenderer

    formula = (r"\renewcommand { \arraystretch } { 1 . 2 } \begin{array} { r c l } { \chi _ { 0 } } & { = } & { 1 } "
               r"\end{array}")
    capped = TokenBoxRenderer(timeout=5, cache=str(tmp_path / "c"), workers=1)
    (boxes, plain) = capped.render([formula, "x = 1"])
    assert boxes.status == "error" and f"input stack size={CDM_INPUT_STACK}" in boxes.message
    assert plain.status == "ok" and len(plain.boxes) == 3
    assert f"input_stack:{CDM_INPUT_STACK}" in str(capped.signature())
    # TeX's own stack is another setting: its own signature, and no cached failure is reused.
    own = TokenBoxRenderer(timeout=2, input_stack=None, cache=str(tmp_path / "c"), workers=1)
    assert "input_stack:tex" in str(own.signature())
    assert own.render([formula])[0].status == "timeout"


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
@pytest.mark.parametrize("variant", ["official", "fixed"])
def test_report_pictures_colour_each_token_by_its_fate(tmp_path, variant: str) -> None:
    from markupeval.formats import GoldItem, GoldSet, Prediction, PredictionSet
    from markupeval.report.cdm import EXTRA, MATCHED, MISSED, cdm_pictures
    from markupeval.scoring import ScoreConfig, score

    gold = GoldSet(items=[GoldItem("a.png", "x + 1", 1), GoldItem("b.png", r"5 0 \% x", 2)], source="names")
    preds = PredictionSet(items=[Prediction("a.png", "x + 2", 1), Prediction("b.png", r"5 0 \% y", 2)],
                          format="jsonl", path=tmp_path / "p.jsonl")
    run = score(preds, gold, ScoreConfig(images=False, cdm=True, cdm_variant=variant,
                                         render_options={"cache": str(tmp_path)}))
    pics = cdm_pictures([g.formula for g in gold.items], [p.text for p in preds.items],
                        [s.cdm for s in run.samples], render_options={"cache": str(tmp_path)}, variant=variant)

    def has(picture, colour) -> bool:
        return bool((picture == np.array(colour, np.uint8)).all(axis=-1).any())

    (g, p), (g2, p2) = pics
    assert has(g, MATCHED) and has(g, MISSED) and not has(g, EXTRA)  # 1 is missed
    assert has(p, MATCHED) and has(p, EXTRA) and not has(p, MISSED)  # 2 is extra
    # Under the official comment rule both are cut to "5 0"; the fixed variant draws x and y.
    assert has(g2, MISSED) == has(p2, EXTRA) == (variant == "fixed")


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


class _OfficialModel:
    """The official code's ``SimpleAffineTransform``, transcribed (estimate / __call__ / residuals)."""

    def estimate(self, src, dst) -> bool:
        src_center, dst_center = np.mean(src, axis=0), np.mean(dst, axis=0)
        self.translation = dst_center - src_center
        src_dists = np.linalg.norm(src - src_center, axis=1)
        dst_dists = np.linalg.norm(dst - dst_center, axis=1)
        self.scale = np.mean(dst_dists) / (np.mean(src_dists) + 1e-10)
        return True

    def __call__(self, coords):
        centered = coords - np.mean(coords, axis=0)
        return centered * self.scale + np.mean(coords, axis=0) + self.translation

    def residuals(self, src, dst):
        return np.sqrt(np.sum((self(src) - dst) ** 2, axis=1))


def test_layout_model_is_the_official_one() -> None:
    from markupeval.metrics.cdm import TranslationScale

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(2, 60))
        src, dst = rng.uniform(0, 400, (n, 2)), rng.uniform(0, 400, (n, 2))
        # The two-point samples of the trials and the larger ones of the final refit.
        k = rng.choice(n, int(rng.integers(2, n + 1)), replace=False)
        official = _OfficialModel()
        official.estimate(src[k], dst[k])
        ours = TranslationScale.from_estimate(src[k], dst[k])
        # Bit for bit: RANSAC's inlier test compares these with its threshold.
        np.testing.assert_array_equal(ours.residuals(src, dst), official.residuals(src, dst))
        assert ours.scale == official.scale and np.array_equal(ours.translation, official.translation)


def test_ransac_finds_the_moved_tokens_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 400, (30, 2))
    dst = src * 1.1 + [12.0, -7.0]
    moved = np.zeros(30, dtype=bool)
    moved[[3, 11, 20]] = True
    dst[moved] += [150.0, 90.0]
    inliers = ransac_inliers(src, dst)
    assert inliers is not None and np.array_equal(inliers, ~moved)
    # All five rounds together: the moved tokens agree with one another, so a later round keeps them.
    assert geometric_inliers(src, dst).all()
    # Seeded per call: the same data gives the same inliers, however often and in whatever order.
    noisy = dst + rng.normal(0, 15, dst.shape)
    first = ransac_inliers(src, noisy)
    ransac_inliers(src, dst)
    assert np.array_equal(first, ransac_inliers(src, noisy))


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


@needs_tex
@pytest.mark.parametrize("paper", [5, 3])
def test_named_palette_colours_draw_what_rgb_colours_draw(tmp_path, paper: int) -> None:
    """``ColouredFormula.typeset`` swaps ``\\mathcolor[RGB]{r,g,b}`` for the templates' named colours
    to save TeX time: every palette colour must write the same PDF page content as the official form."""
    import re
    import subprocess

    from markupeval.rendering.colour import MAX_TOKENS, ColouredFormula
    from markupeval.rendering.templates import load_template

    official = " ".join(f"\\mathcolor[RGB]{{{r},{g},{b}}}{{x}}"
                        for r, g, b in (palette_colour(k) for k in range(MAX_TOKENS)))
    typeset = ColouredFormula("", (), official, paper).typeset
    assert "[RGB]" not in typeset and typeset.count("\\mathcolor{cdm") == MAX_TOKENS

    t = load_template(f"cdm-a{paper}")
    streams = []
    for name, latex in (("official", official), ("typeset", typeset)):
        words = latex.split(" ")
        lines = [" ".join(words[a : a + 40]) for a in range(0, len(words), 40)]
        doc = t.preamble.replace("\\begin{document}", "\\pdfcompresslevel=0\n\\begin{document}")
        doc += "".join(t.body.replace("%<formula>", line) for line in lines) + "\\end{document}\n"
        (tmp_path / f"{name}.tex").write_text(doc, encoding="utf-8")
        subprocess.run(["pdflatex", "-interaction=batchmode", "-halt-on-error", f"{name}.tex"], cwd=tmp_path,
                       capture_output=True, timeout=120, check=True)
        pdf = (tmp_path / f"{name}.pdf").read_bytes()
        streams.append([s for s in re.findall(rb"stream\r?\n(.*?)endstream", pdf, re.S) if b" rg " in s])
    assert streams[0] and streams[0] == streams[1]
    assert sum(s.count(b" rg ") for s in streams[0]) == MAX_TOKENS
