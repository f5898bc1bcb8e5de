"""The paired bootstrap: a case computed by hand, and parity with sacrebleu's paired_bs test."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from markupeval.errors import InputError
from markupeval.metrics.base import Metric, Score, Signature
from markupeval.stats import (
    bootstrap_intervals,
    compare_stats,
    p_value,
    percentile_bounds,
    resample_counts,
    resample_indices,
)
from markupeval.stats.runs import align, read_run, sample_stats


class ErrorRate(Metric):
    """A real sufficient-statistics metric: 1 - sum(distance) / sum(length) (edit-distance shaped)."""

    name = "error_rate"
    stat_names = ("distance", "length")

    def segment_stats(self, hypothesis, reference):
        return np.array([hypothesis, reference], dtype=np.float64)

    def score_from_stats(self, totals):
        return Score(self.name, 1.0 - totals[0] / totals[1] if totals[1] else 0.0)

    def signature(self):
        return Signature.from_items([("metric", self.name)])


# Three samples; (distance, length) per sample for two systems.
STATS_A = np.array([[1, 4], [0, 2], [2, 4]], dtype=float)  # 1 - 3/10 = 0.7
STATS_B = np.array([[0, 4], [0, 2], [1, 4]], dtype=float)  # 1 - 1/10 = 0.9
# Four resamples chosen by hand.
ROWS = np.array([[0, 0, 1], [2, 2, 2], [0, 1, 2], [1, 1, 1]])


def test_resample_counts_counts_each_row():
    counts = resample_counts(ROWS, 3)
    assert counts.tolist() == [[2, 1, 0], [0, 0, 3], [1, 1, 1], [0, 3, 0]]


def test_hand_computed_case():
    # Resampled values by hand:
    #   A: rows -> d/len = 2/10, 6/12, 3/10, 0/6  -> 0.8, 0.5, 0.7, 1.0
    #   B: rows -> 0/10, 3/12, 1/10, 0/6          -> 1.0, 0.75, 0.9, 1.0
    #   deltas B - A = 0.2, 0.25, 0.2, 0.0 ; observed delta = 0.9 - 0.7 = 0.2
    #   |d| mean = 0.65 / 4 = 0.1625 ; centred = 0.0375, 0.0875, 0.0375, -0.1625
    #   none reaches 0.2 -> p = (0 + 1) / (4 + 1) = 0.2
    #   B // 40 = 0, so the "95 %" bounds of 4 values are their min and max.
    metrics = {"error_rate": ErrorRate()}
    result = compare_stats({"error_rate": STATS_A}, {"error_rate": STATS_B}, metrics, indices=ROWS)
    ia, ib = result.intervals_a["error_rate"], result.intervals_b["error_rate"]
    diff = result.differences["error_rate"]
    assert ia.value == pytest.approx(0.7) and ib.value == pytest.approx(0.9)
    assert (ia.low, ia.high, ia.mean) == pytest.approx((0.5, 1.0, 3.0 / 4))
    assert (ib.low, ib.high, ib.mean) == pytest.approx((0.75, 1.0, 3.65 / 4))
    assert diff.delta == pytest.approx(0.2)
    assert (diff.low, diff.high) == pytest.approx((0.0, 0.25))
    assert diff.p_value == pytest.approx(0.2)
    single = bootstrap_intervals({"error_rate": STATS_A}, metrics, indices=ROWS)["error_rate"]
    assert single == ia


def test_p_value_counts_resamples_that_reach_the_observed_difference():
    # |d| = 1, 3, 5, 7 (mean 4) -> centred -3, -1, 1, 3 ; observed 1 -> two reach it -> 3/5.
    assert p_value(np.array([1.0, -3.0, 5.0, 7.0]), 1.0) == pytest.approx(3 / 5)
    assert p_value(np.array([1.0, -3.0, 5.0, 7.0]), -3.5) == pytest.approx(1 / 5)


def test_identical_systems_are_not_significant():
    metrics = {"error_rate": ErrorRate()}
    result = compare_stats({"error_rate": STATS_A}, {"error_rate": STATS_A}, metrics, resamples=200)
    diff = result.differences["error_rate"]
    assert diff.delta == 0.0 and (diff.low, diff.high) == (0.0, 0.0)
    assert diff.p_value == 1.0


def test_percentile_bounds_use_sacrebleu_order_statistics():
    values = np.arange(1000)[::-1].astype(float)
    assert percentile_bounds(values) == (25.0, 974.0)


def test_seeded_draw_is_fixed():
    first = resample_indices(50, 10, seed=12345)
    assert np.array_equal(first, resample_indices(50, 10, seed=12345))
    assert not np.array_equal(first, resample_indices(50, 10, seed=1))
    # sacrebleu draws its resamples exactly this way.
    expected = np.random.default_rng(12345).choice(50, size=(10, 50), replace=True)
    assert np.array_equal(first, expected)


class SacreBleuAdapter(Metric):
    """sacrebleu's own BLEU behind markupeval's Metric interface, to compare the two bootstraps."""

    name = "bleu"
    stat_names = tuple(f"s{i}" for i in range(10))

    def __init__(self):
        from sacrebleu.metrics import BLEU

        self.bleu = BLEU(tokenize="none", force=True)

    def segment_stats(self, hypothesis, reference):
        return np.array(self.bleu._extract_corpus_statistics([hypothesis], [[reference]])[0], dtype=float)

    def score_from_stats(self, totals):
        return Score(self.name, self.bleu._compute_score_from_stats([int(t) for t in totals]).score)

    def signature(self):
        return Signature.from_items([("impl", "sacrebleu")])


def test_parity_with_sacrebleu_paired_bootstrap(monkeypatch):
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    monkeypatch.setenv("SACREBLEU_SEED", "12345")
    rnd = random.Random(7)
    vocab = [f"t{i}" for i in range(30)]
    refs = [" ".join(rnd.choices(vocab, k=rnd.randint(5, 25))) for _ in range(150)]

    def noisy(line: str, rate: float) -> str:
        return " ".join(rnd.choice(vocab) if rnd.random() < rate else tok for tok in line.split())

    hyps_a = [noisy(r, 0.30) for r in refs]
    hyps_b = [noisy(r, 0.25) for r in refs]
    sigs, results = PairedTest(
        [("a", hyps_a), ("b", hyps_b)],
        {"BLEU": BLEU(tokenize="none", force=True)},
        references=[refs],
        test_type="bs",
        n_samples=1000,
    )()
    base, system = results["BLEU"]

    metric = SacreBleuAdapter()
    ours = compare_stats(
        {"bleu": metric.corpus_stats(hyps_a, refs)},
        {"bleu": metric.corpus_stats(hyps_b, refs)},
        {"bleu": metric},
        resamples=1000,
        seed=12345,
    )
    ib, ia = ours.intervals_b["bleu"], ours.intervals_a["bleu"]
    assert ib.value == pytest.approx(system.score)
    assert ib.mean == pytest.approx(system.mean)
    assert (ib.high - ib.low) / 2 == pytest.approx(system.ci)
    assert ia.mean == pytest.approx(base.mean)
    assert (ia.high - ia.low) / 2 == pytest.approx(base.ci)
    assert ours.differences["bleu"].p_value == pytest.approx(system.p_value)


def _write_run(path: Path, samples: list[tuple[str, list[float]]]) -> Path:
    run = {
        "markupeval_version": "0.1.0",
        "name": path.stem,
        "metrics": {"error_rate": 0.0},
        "signature": "test",
        "stat_names": {"error_rate": ["distance", "length"]},
        "samples": [{"image": name, "gold": "x", "prediction": "x", "stats": {"error_rate": s}} for name, s in samples],
    }
    path.write_text(json.dumps(run))
    return path


def test_runs_are_paired_by_image_name(tmp_path):
    a = read_run(_write_run(tmp_path / "a.json", [("p.png", [1, 4]), ("q.png", [0, 2]), ("r.png", [2, 4])]))
    b = read_run(_write_run(tmp_path / "b.json", [("r.png", [1, 4]), ("p.png", [0, 4]), ("q.png", [0, 2])]))
    order = align(a, b)
    assert order == [1, 2, 0]
    stats_b = sample_stats(b, {"error_rate": ErrorRate()})["error_rate"][order]
    assert stats_b.tolist() == STATS_B.tolist()


def test_runs_over_different_samples_are_refused(tmp_path):
    a = read_run(_write_run(tmp_path / "a.json", [("p.png", [1, 4]), ("q.png", [0, 2])]))
    b = read_run(_write_run(tmp_path / "b.json", [("p.png", [1, 4]), ("z.png", [0, 2])]))
    with pytest.raises(InputError, match="different samples"):
        align(a, b)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"metrics": {"bleu": "high"}}', "finite number"),
        ('{"metrics": {}, "stat_names": {"m": ["a"]}, "samples": [{"image": "x.png", "stats": {"m": [1, 2]}}]}', "expected 1 numbers"),
        ('{"metrics": {}, "stat_names": {}, "samples": [{"image": "x.png", "stats": {"m": [1]}}]}', "not listed"),
        ('{"metrics": {}, "samples": [{"stats": {}}]}', "no 'image'"),
    ],
)
def test_bad_run_files_name_the_file(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        read_run(path)
    assert info.value.path == path
