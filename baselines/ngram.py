"""NGRAM (Table 3 of Deng et al. 2017): an interpolated modified Kneser-Ney n-gram language model.

The paper reports the perplexity of a 5-gram model of the test formulas as the floor an image
model must beat. This is Chen & Goodman's (1998) interpolated modified Kneser-Ney: three
discounts per order (for counts 1, 2 and 3+) estimated from the counts-of-counts, continuation
counts for every order below the highest, and the unigram level interpolated with the uniform
distribution over the vocabulary, so every token (``<unk>`` included) has a non-zero probability.
Formulas are padded with n-1 ``<s>`` on the left and end with ``</s>``, which is predicted and
counted in the perplexity (as the neural models' perplexity counts it). No torch: a corpus of a
few thousand formulas trains in a second in pure Python.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


@dataclass
class _Order:
    counts: Counter                                   # n-gram tuple -> (continuation) count
    context_total: Counter = field(default_factory=Counter)    # context -> sum of counts
    context_types: dict = field(default_factory=dict)          # context -> [N1, N2, N3+]
    discounts: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _discounts(counts: Counter) -> tuple[float, float, float]:
    n = Counter(c for c in counts.values() if c <= 4)
    n1, n2, n3, n4 = n[1], n[2], n[3], n[4]
    single = n1 / (n1 + 2 * n2) if n1 else 0.5
    if not (n1 and n2 and n3 and n4):
        # Too little data for the three estimates (tiny corpora): absolute discounting with
        # Ney's single estimate, or 0.5 when even that is undefined.
        return (single, single, single)
    y = single
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    # A non-positive estimate (odd counts-of-counts) would give unseen words no mass at all.
    return d if min(d) > 0 else (single, single, single)


class KneserNey:
    """``KneserNey(order).fit(formulas)``; formulas are token lists (normalized LaTeX split on spaces)."""

    def __init__(self, order: int = 5) -> None:
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        self.vocab: set[str] = set()
        self.levels: list[_Order] = []

    def fit(self, formulas: Iterable[Sequence[str]]) -> "KneserNey":
        n = self.order
        top: Counter = Counter()
        for tokens in formulas:
            seq = [BOS] * (n - 1) + list(tokens) + [EOS]
            self.vocab.update(tokens)
            for i in range(n - 1, len(seq)):
                top[tuple(seq[i - n + 1:i + 1])] += 1
        self.vocab.update((EOS, UNK))
        # Lower orders count the distinct words seen before each n-gram (continuation counts).
        levels = [top]
        for _ in range(n - 1):
            lower: Counter = Counter()
            for gram in levels[-1]:
                lower[gram[1:]] += 1
            levels.append(lower)
        self.levels = []
        for counts in reversed(levels):  # unigrams first
            level = _Order(counts, discounts=_discounts(counts))
            types: dict = defaultdict(lambda: [0, 0, 0])
            for gram, c in counts.items():
                ctx = gram[:-1]
                level.context_total[ctx] += c
                types[ctx][min(c, 3) - 1] += 1
            level.context_types = dict(types)
            self.levels.append(level)
        return self

    def prob(self, word: str, context: Sequence[str]) -> float:
        """p(word | the last order-1 tokens of context), interpolated down to the uniform."""
        if not self.levels:
            raise ValueError("fit the model first")
        word = word if word in self.vocab else UNK
        context = tuple(context)[-(self.order - 1):] if self.order > 1 else ()
        p = 1.0 / len(self.vocab)
        for k, level in enumerate(self.levels):  # k + 1 = the order of this level
            ctx = context[len(context) - k:] if k else ()
            if len(ctx) < k:
                continue
            total = level.context_total.get(ctx, 0)
            if not total:
                continue  # unseen context: the lower order alone
            c = level.counts.get(ctx + (word,), 0)
            d = level.discounts
            n1, n2, n3 = level.context_types[ctx]
            gamma = (d[0] * n1 + d[1] * n2 + d[2] * n3) / total
            p = max(c - d[min(c, 3) - 1], 0.0) / total + gamma * p if c else gamma * p
        return p

    def logprob(self, tokens: Sequence[str]) -> tuple[float, int]:
        """Natural-log probability of one formula, ``</s>`` included, and the tokens it counts."""
        seq = [BOS] * (self.order - 1) + list(tokens) + [EOS]
        total = 0.0
        for i in range(self.order - 1, len(seq)):
            total += math.log(self.prob(seq[i], seq[:i]))
        return total, len(seq) - (self.order - 1)

    def perplexity(self, formulas: Iterable[Sequence[str]]) -> float:
        logp, tokens = 0.0, 0
        for f in formulas:
            lp, n = self.logprob(f)
            logp, tokens = logp + lp, tokens + n
        if not tokens:
            raise ValueError("no tokens to measure")
        return math.exp(-logp / tokens)
