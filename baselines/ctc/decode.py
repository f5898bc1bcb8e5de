"""CTC decoding: best-path (greedy) and prefix beam search over per-step log-probabilities."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import numpy as np

from markupeval.baselines.ctc.model import BLANK


def collapse(path: Sequence[int], blank: int = BLANK) -> list[int]:
    """CTC's many-to-one map: merge runs of equal symbols, then delete blanks ("aa-ab" -> "aab")."""
    out: list[int] = []
    prev = None
    for s in path:
        if s != prev and s != blank:
            out.append(int(s))
        prev = s
    return out


def greedy(logp: np.ndarray, blank: int = BLANK) -> list[int]:
    """Best path: the argmax symbol per step (T, V), collapsed."""
    return collapse(np.asarray(logp).argmax(-1).tolist(), blank)


def _logsumexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def prefix_beam(logp: np.ndarray, beam: int = 5, blank: int = BLANK, prune: int = 16) -> list[int]:
    """CTC prefix beam search (Hannun et al. 2014) without a language model.

    Each prefix keeps two log-probabilities: of the paths ending in a blank and in a non-blank, so
    that "a-a" (two a's) and "aa" (one a) are told apart. At each step only the ``prune`` most
    likely symbols are tried, which leaves the result unchanged in practice and keeps it fast.
    """
    logp = np.asarray(logp, dtype=np.float64)
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}  # prefix -> (p_blank, p_nonblank)
    for t in range(logp.shape[0]):
        row = logp[t]
        cands = np.argsort(row)[::-1][:prune]
        nxt: dict[tuple[int, ...], list[float]] = defaultdict(lambda: [-math.inf, -math.inf])
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            for s in cands:
                s = int(s)
                p = float(row[s])
                if s == blank:
                    e = nxt[prefix]
                    e[0] = _logsumexp(e[0], total + p)
                    continue
                last = prefix[-1] if prefix else None
                ext = prefix + (s,)
                e = nxt[ext]
                if s == last:
                    # repeating the last symbol needs a blank in between; otherwise it merges
                    e[1] = _logsumexp(e[1], pb + p)
                    same = nxt[prefix]
                    same[1] = _logsumexp(same[1], pnb + p)
                else:
                    e[1] = _logsumexp(e[1], total + p)
        beams = dict(sorted(((k, (v[0], v[1])) for k, v in nxt.items()),
                            key=lambda kv: _logsumexp(*kv[1]), reverse=True)[:beam])
    best = max(beams.items(), key=lambda kv: _logsumexp(*kv[1]))
    return list(best[0])
