"""Text metrics on hand-made cases, each value computed by hand from the original formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from markupeval.metrics import METRICS, get_metric
from markupeval.metrics.bleu import format_multi_bleu
from markupeval.metrics.tokens import perl_split, space_split


def test_registry_names_match_classes():
    for name, cls in METRICS.items():
        assert cls.name == name


def test_bleu_perfect_and_lengths():
    s = get_metric("bleu").corpus_score(["a b c d e"], ["a b c d e"])
    assert s.value == pytest.approx(100.0)
    assert s.parts["hyp_len"] == 5 and s.parts["ref_len"] == 5 and s.parts["bp"] == 1.0


def test_bleu_hand_computed_with_brevity_penalty():
    # hyp "a b c d" vs ref "a b c d e f": all 1..4-gram precisions 1, BP = exp(1 - 6/4).
    s = get_metric("bleu").corpus_score(["a b c d"], ["a b c d e f"])
    assert s.value == pytest.approx(100 * math.exp(1 - 6 / 4))
    assert s.parts["ratio"] == pytest.approx(4 / 6)


def test_bleu_clipped_counts():
    # "x x x x" vs "x y z w": unigram correct clipped to 1 of 4, no bigram match -> BLEU 0.
    stats = get_metric("bleu").segment_stats("x x x x", "x y z w")
    assert stats.tolist() == [4, 4, 1, 0, 0, 0, 4, 3, 2, 1]
    assert get_metric("bleu").corpus_score(["x x x x"], ["x y z w"]).value == 0.0


def test_bleu_corpus_is_not_mean_of_sentences():
    hyps, refs = ["a b c d e", "p q"], ["a b c d e", "p r"]
    bleu = get_metric("bleu")
    s = bleu.corpus_score(hyps, refs)
    # unigrams 6/7, bigrams 4/5, trigrams 3/3, 4-grams 2/2; lengths equal -> BP 1.
    expected = 100 * math.exp((math.log(6 / 7) + math.log(4 / 5) + 0 + 0) / 4)
    assert s.value == pytest.approx(expected)
    assert format_multi_bleu(s).startswith(f"BLEU = {expected:.2f}, 85.7/80.0/100.0/100.0 (BP=1.000")


def test_bleu_missing_hypothesis_counts_as_empty():
    bleu = get_metric("bleu")
    with_missing = bleu.corpus_score(["a b c d", None], ["a b c d", "e f g h"])
    with_empty = bleu.corpus_score(["a b c d", ""], ["a b c d", "e f g h"])
    assert with_missing.value == with_empty.value
    assert with_missing.parts["ref_len"] == 8 and with_missing.parts["hyp_len"] == 4


def test_bleu_empty_reference_corpus_is_zero():
    assert get_metric("bleu").corpus_score([""], [""]).value == 0.0


def test_perl_split_keeps_unicode_whitespace_inside_tokens():
    assert perl_split("  a\u00a0b \t c  ") == ["a\u00a0b", "c"]
    assert perl_split("") == []


def test_space_split_quirks_of_the_original():
    assert space_split("") == [""]
    assert space_split("a  b") == ["a", "", "b"]


def test_edit_distance_hand_cases():
    ed = get_metric("edit_distance")
    assert ed.segment_stats("a b c", "a b c").tolist() == [0, 3]
    assert ed.segment_stats("a x c d", "a b c").tolist() == [2, 4]
    # empty prediction is one empty token: distance 2 (substitute + delete) over max_len 2
    assert ed.segment_stats("", "a b").tolist() == [2, 2]
    score = ed.aggregate(np.array([[0, 3], [2, 4]]))
    assert score.value == pytest.approx(1 - 2 / 7)


def test_exact_match_whitespace_normalized_and_missing():
    em = get_metric("exact_match")
    assert em.segment_stats(" a  b ", "a b").tolist() == [1, 1]
    assert em.segment_stats("a b", "a c").tolist() == [0, 1]
    assert em.segment_stats(None, "").tolist() == [0, 1]
    assert em.segment_stats("", "").tolist() == [1, 1]


def test_signatures_record_settings():
    sig = str(get_metric("bleu").signature())
    assert "smooth:none" in sig and "tok:whitespace" in sig and sig.endswith("version:0.1.0")
