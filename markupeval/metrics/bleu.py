"""Corpus BLEU as Moses ``multi-bleu.perl`` computes it (the IM2LATEX-100K protocol).

Whitespace tokens, case-sensitive, one reference, clipped n-gram counts up to 4, brevity penalty,
no smoothing: any n-gram order without a match gives BLEU 0. sacrebleu with ``tokenize='none'``
and ``smooth_method='none'`` implements the same formula, and we use its ``compute_bleu``; only the
whitespace split is Perl's (ASCII whitespace only).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sacrebleu.metrics.bleu import BLEU as _SacreBLEU

from markupeval.metrics.base import Metric, Score, Signature
from markupeval.metrics.tokens import perl_split

MAX_ORDER = 4


class BLEU(Metric):
    """multi-bleu.perl BLEU-4. Statistics: hyp_len, ref_len, correct_1..4, total_1..4."""

    name = "bleu"
    stat_names = (
        ("hyp_len", "ref_len")
        + tuple(f"correct_{n}" for n in range(1, MAX_ORDER + 1))
        + tuple(f"total_{n}" for n in range(1, MAX_ORDER + 1))
    )

    def segment_stats(self, hypothesis: str | None, reference: str) -> np.ndarray:
        hyp_ngrams, hyp_len = _ngrams(hypothesis or "")
        ref_ngrams, ref_len = _ngrams(reference)
        correct = [0] * MAX_ORDER
        total = [0] * MAX_ORDER
        for ngram, count in hyp_ngrams.items():
            order = len(ngram) - 1
            total[order] += count
            if ngram in ref_ngrams:
                correct[order] += min(count, ref_ngrams[ngram])
        return np.array([hyp_len, ref_len, *correct, *total], dtype=np.float64)

    def score_from_stats(self, totals: np.ndarray) -> Score:
        hyp_len, ref_len = int(totals[0]), int(totals[1])
        correct = [int(c) for c in totals[2 : 2 + MAX_ORDER]]
        total = [int(t) for t in totals[2 + MAX_ORDER :]]
        if ref_len == 0:
            # multi-bleu.perl prints "BLEU = 0, 0/0/0/0 (BP=0, ratio=0, ...)" here.
            return Score(self.name, 0.0, _parts([0.0] * MAX_ORDER, 0.0, 0.0, hyp_len, ref_len))
        sb = _SacreBLEU.compute_bleu(correct, total, hyp_len, ref_len, smooth_method="none")
        # multi-bleu prints precision 0 (not undefined) for an order with no hypothesis n-grams.
        precisions = [100.0 * c / t if t else 0.0 for c, t in zip(correct, total)]
        return Score(self.name, float(sb.score), _parts(precisions, sb.bp, hyp_len / ref_len, hyp_len, ref_len))

    def signature(self) -> Signature:
        return Signature.from_items(
            [("metric", "bleu"), ("impl", "multi-bleu.perl"), ("tok", "whitespace"), ("case", "mixed"),
             ("nrefs", 1), ("smooth", "none"), ("order", MAX_ORDER)]
        )


def _ngrams(text: str) -> tuple[Counter, int]:
    # sacrebleu's own extractor re-splits with str.split(), which also splits on Unicode
    # whitespace; counting over Perl's tokens keeps multi-bleu.perl's notion of a token.
    tokens = perl_split(text)
    counts: Counter = Counter()
    for n in range(1, MAX_ORDER + 1):
        counts.update(zip(*(tokens[i:] for i in range(n))))  # the n-grams as tuples, built in C
    return counts, len(tokens)


def _parts(precisions: list[float], bp: float, ratio: float, hyp_len: int, ref_len: int) -> dict:
    return {"precisions": precisions, "bp": bp, "ratio": ratio, "hyp_len": hyp_len, "ref_len": ref_len}


def format_multi_bleu(score: Score) -> str:
    """The line multi-bleu.perl prints, for side-by-side checks with the Perl script."""
    p = score.parts
    precs = "/".join(f"{x:.1f}" for x in p["precisions"])
    return (
        f"BLEU = {score.value:.2f}, {precs} (BP={p['bp']:.3f}, ratio={p['ratio']:.3f}, "
        f"hyp_len={p['hyp_len']}, ref_len={p['ref_len']})"
    )
