"""NGRAM (Table 3): interpolated modified Kneser-Ney is a proper distribution and behaves as one."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from markupeval.baselines.ngram import EOS, UNK, KneserNey

HOLDINGS = Path(__file__).resolve().parents[2] / "shared" / "data" / "im2latex100k"


def corpus() -> list[list[str]]:
    rng = random.Random(0)
    words = "a b c d e f { } ^ _".split()
    return [[rng.choice(words) for _ in range(rng.randint(1, 12))] for _ in range(200)]


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_probabilities_sum_to_one_in_every_context(order):
    lm = KneserNey(order).fit(corpus())
    vocab = sorted(lm.vocab)
    assert EOS in vocab and UNK in vocab
    for ctx in ([], ["a"], ["a", "b", "c", "d"], ["never", "seen"], ["<s>"] * 4, ["{", "}", "^"]):
        total = sum(lm.prob(w, ctx) for w in vocab)
        assert total == pytest.approx(1.0, abs=1e-12), ctx
        assert all(lm.prob(w, ctx) > 0 for w in vocab)  # no zero: every test token is scorable


def test_unigram_is_discounted_counts_plus_uniform_mass():
    # One level only: p(w) = max(c(w) - D, 0) / N + gamma / |V| with D of the counts-of-counts.
    lm = KneserNey(1).fit([["x", "x", "y"], ["x"]])
    counts = {"x": 3, "y": 1, EOS: 2}
    d = lm.levels[0].discounts
    n = sum(counts.values())
    gamma = sum(d[min(c, 3) - 1] for c in counts.values()) / n
    v = len(lm.vocab)  # x, y, </s>, <unk>
    assert v == 4
    for w, c in counts.items():
        assert lm.prob(w, []) == pytest.approx((c - d[min(c, 3) - 1]) / n + gamma / v)
    assert lm.prob("zzz", []) == pytest.approx(gamma / v)  # unknown -> <unk>, uniform share only


def test_perplexity_prefers_seen_text_and_counts_end_of_formula():
    train = corpus()
    lm = KneserNey(3).fit(train)
    lp, n = lm.logprob(["a", "b"])
    assert n == 3 and lp < 0
    shuffled = [random.Random(1).sample(f, len(f)) for f in train[:50]]
    assert lm.perplexity(train[:50]) < lm.perplexity(shuffled)
    assert math.isfinite(lm.perplexity([["unseen", "tokens", "only"]]))


@pytest.mark.skipif(not HOLDINGS.is_dir(), reason="offline holdings not found")
def test_5gram_on_real_formulas_beats_the_unigram():
    lines = [l.split() for l in (HOLDINGS / "train-first3000.formulas.norm.txt").read_text().split("\n") if l.strip()]
    train, held = lines[:1500], lines[2700:]
    five, one = KneserNey(5).fit(train), KneserNey(1).fit(train)
    assert five.perplexity(held) < 0.5 * one.perplexity(held)
