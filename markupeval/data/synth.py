"""Synthetic normalized formulas for training at scale, learned from training gold only.

The generator is a *structure-aware* token n-gram model over normalized formulas:

* the context of a token is the two tokens before it **and** the construct whose group it sits
  in (``\\frac``'s numerator, a superscript, a ``\\left( ... \\right)`` pair, an ``array``), so a
  superscript group gets superscript-like content and a fraction's denominator fraction-like
  content;
* sampling keeps the markup well formed: ``{``/``}``, ``\\left``/``\\right`` and
  ``\\begin{X}``/``\\end{X}`` are tracked on a stack, a closing token is only drawn when it
  closes the innermost open construct, and the end of the formula only when nothing is open;
* a nucleus takes at most one superscript and one subscript (``x ^ { a } ^ { b }`` is TeX's
  "Double superscript" error, and was 79 % of the TeX failures before this rule);
* contexts back off (construct+2 tokens -> construct+1 token -> 1 token -> unigram) when
  unseen; lengths above ``max_tokens`` are rejected (the training filter's 150).

:func:`generate` yields candidates; ``markupeval data synth`` keeps only those that render (with
the same renderer as the real set) and are not copies of a training formula, then writes the
processed layout so baselines read real + synthetic without special cases. :func:`compare`
reports how the synthetic token and length distributions compare with the real training gold,
with real validation gold as the yardstick of natural variation.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Callable

    from markupeval.data.build import BuildConfig

BOS, EOS = "<s>", "</s>"
_LEFT = re.compile(r"^\\left(?:$|[^a-zA-Z]|\\[a-zA-Z]+$)")
_RIGHT = re.compile(r"^\\right(?:$|[^a-zA-Z]|\\[a-zA-Z]+$)")
_BEGIN = re.compile(r"^\\begin\{([a-zA-Z*]+)\}$")
_END = re.compile(r"^\\end\{([a-zA-Z*]+)\}$")


def opener(tok: str) -> str | None:
    """The closer kind this token opens (``}``, ``\\right``, ``\\end{X}``), else None."""
    if tok == "{":
        return "}"
    if _LEFT.match(tok):
        return "\\right"
    m = _BEGIN.match(tok)
    return f"\\end{{{m.group(1)}}}" if m else None


def closer(tok: str) -> str | None:
    if tok == "}":
        return "}"
    if _RIGHT.match(tok):
        return "\\right"
    return tok if _END.match(tok) else None


class _Tracker:
    """Structure state while reading or writing a token sequence.

    ``stack`` holds ``(closer kind, construct label, group number)``: the label of a ``{`` group
    is the token that owns it (``\\frac`` for both of its groups, ``^``, ``\\hat``...), found as
    the token before ``{`` or, for a second group, the label of the sibling group just closed.
    ``state`` is the argument-slot state: the last token, or ``("}", label, k)`` right after the
    k-th group of a construct closed.
    """

    def __init__(self) -> None:
        self.stack: list[tuple[str, str, int]] = []
        self.prev2, self.prev1 = BOS, BOS
        self.last_closed: tuple[str, int] = ("top", 0)
        self.state: object = BOS
        # Scripts already attached to the current nucleus: TeX rejects a second ^ (or _) on one
        # nucleus ("Double superscript"), which no n-gram context of two tokens can see.
        self.scripts: frozenset[str] = frozenset()
        self._saved: list[tuple[frozenset[str], bool]] = []  # per open construct: (outer scripts, is a script argument)

    def _track_scripts(self, tok: str) -> None:
        if tok in ("^", "_"):
            self.scripts = self.scripts | {tok}
        elif opener(tok) is not None:
            is_arg = tok == "{" and self.prev1 in ("^", "_")
            self._saved.append((self.scripts, is_arg))
            self.scripts = frozenset()
        elif closer(tok) is not None and self._saved:
            outer, is_arg = self._saved.pop()
            # A script's argument closing keeps the nucleus and its scripts; any other group just
            # closed is itself a new nucleus.
            self.scripts = outer if is_arg else frozenset()
        elif tok not in ("\\limits", "\\nolimits"):
            self.scripts = frozenset()

    @property
    def construct(self) -> str:
        return self.stack[-1][1] if self.stack else "top"

    def step(self, tok: str) -> None:
        self._track_scripts(tok)
        kind = opener(tok)
        if kind is not None:
            if tok == "{":
                if self.prev1 == "}":
                    label, k = self.last_closed[0], self.last_closed[1] + 1
                else:
                    label, k = self.prev1, 1
            else:
                label, k = tok, 1
            self.stack.append((kind, label, k))
            self.state = tok
        elif closer(tok) is not None and self.stack:
            _, label, k = self.stack.pop()
            self.last_closed = (label, k)
            self.state = ("}", label, k) if tok == "}" else tok
        else:
            self.state = tok
        self.prev2, self.prev1 = self.prev1, tok


def walk(tokens: Sequence[str]) -> Iterator[tuple[str, str, str, str, object]]:
    """``(construct, prev2, prev1, token, slot state)`` for each token and the final ``</s>``."""
    tr = _Tracker()
    for tok in list(tokens) + [EOS]:
        yield tr.construct, tr.prev2, tr.prev1, tok, tr.state
        tr.step(tok)


@dataclass
class StructuredNgram:
    """Counts of next tokens per context, from real training formulas."""

    max_tokens: int = 150
    backoff: float = 0.1  # chance to sample from a shorter context even when the long one is known
    c3: dict = field(default_factory=lambda: defaultdict(Counter))
    c2: dict = field(default_factory=lambda: defaultdict(Counter))
    c1: dict = field(default_factory=lambda: defaultdict(Counter))
    c0: Counter = field(default_factory=Counter)
    lengths: list[int] = field(default_factory=list)
    # state -> Counter{True: next was "{", False: it was not}; states are a token, or
    # ("}", construct, k) after the k-th group of a construct closed. A state followed by "{"
    # (nearly) always is an argument slot: sampling then must open a group (\frac's second
    # argument, the group after ^ or \hat).
    arg_next: dict = field(default_factory=lambda: defaultdict(Counter))

    def _must_open(self, state) -> bool:
        c = self.arg_next.get(state)
        return bool(c) and c[True] >= 10 and c[True] >= 0.99 * (c[True] + c[False])

    def fit(self, formulas: Iterable[str]) -> "StructuredNgram":
        for f in formulas:
            toks = f.split()
            if not toks or len(toks) > self.max_tokens or not well_formed(toks):
                continue
            self.lengths.append(len(toks))
            for construct, p2, p1, tok, state in walk(toks):
                self.arg_next[state][tok == "{"] += 1
                self.c3[(construct, p2, p1)][tok] += 1
                self.c2[(construct, p1)][tok] += 1
                self.c1[p1][tok] += 1
                self.c0[tok] += 1
        if not self.lengths:
            raise ValueError("no usable training formulas")
        return self

    def _choices(self, rng: random.Random, construct: str, p2: str, p1: str) -> Counter:
        for table, key in ((self.c3, (construct, p2, p1)), (self.c2, (construct, p1)), (self.c1, p1)):
            counts = table.get(key)
            if counts and (rng.random() >= self.backoff or table is self.c1):
                return counts
        return self.c0

    def sample(self, rng: random.Random, attempts: int = 20) -> list[str] | None:
        """One well-formed token sequence, or None when ``attempts`` all ran too long."""
        for _ in range(attempts):
            out = self._sample_once(rng)
            if out is not None:
                return out
        return None

    def _sample_once(self, rng: random.Random) -> list[str] | None:
        # A target length drawn from the real lengths: the n-gram alone ends formulas too early
        # (any "." or "," may be followed by </s>), which skews lengths short.
        target = rng.choice(self.lengths)
        tr = _Tracker()
        out: list[str] = []
        while len(out) <= self.max_tokens:
            counts = self._choices(rng, tr.construct, tr.prev2, tr.prev1)
            if self._must_open(tr.state):
                counts = Counter({"{": 1})
            allowed = {t: c for t, c in counts.items() if self._allowed(t, tr.stack) and t not in tr.scripts}
            if len(out) < target and len(allowed) > 1:
                allowed.pop(EOS, None)
            elif len(out) >= target and not self._must_open(tr.state):
                # Wind down: end, or close what is open instead of opening more; an empty group
                # first gets one plain token (LaTeX accepts "^ { }", but the gold never has it).
                if not tr.stack:
                    return out or None
                if tr.prev1 == "{":
                    allowed = {t: c for t, c in allowed.items() if opener(t) is None and closer(t) is None}
                else:
                    allowed = {}
            if not allowed:
                # Nothing seen here may follow: close the innermost construct (always legal).
                if not tr.stack:
                    return out or None
                kind = tr.stack[-1][0]
                tok = "\\right." if kind == "\\right" else kind
            else:
                tok = _draw(rng, allowed)
            if tok == EOS:
                return out or None
            out.append(tok)
            tr.step(tok)
        return None

    @staticmethod
    def _allowed(tok: str, stack: list[tuple[str, str, int]]) -> bool:
        if tok == EOS:
            return not stack
        kind = closer(tok)
        if kind is None:
            return True
        return bool(stack) and stack[-1][0] == kind


def _draw(rng: random.Random, counts: dict[str, int]) -> str:
    total = sum(counts.values())
    r = rng.random() * total
    for tok, c in counts.items():
        r -= c
        if r < 0:
            return tok
    return tok


def well_formed(tokens: Sequence[str]) -> bool:
    stack: list[str] = []
    for t in tokens:
        k = opener(t)
        if k is not None:
            stack.append(k)
        elif closer(t) is not None:
            if not stack or stack.pop() != closer(t):
                return False
    return not stack


def generate(model: StructuredNgram, n: int, seed: int = 0, exclude: Iterable[str] = ()) -> Iterator[str]:
    """Up to ``n`` distinct formulas (space-joined tokens) not in ``exclude``.

    Gives up after ``50 * n`` draws, so a tiny model cannot loop forever.
    """
    rng = random.Random(seed)
    seen = set(exclude)
    made = 0
    for _ in range(50 * n):
        if made >= n:
            return
        toks = model.sample(rng)
        if not toks:
            continue
        f = " ".join(toks)
        if f in seen:
            continue
        seen.add(f)
        made += 1
        yield f


# ----------------------------------------------------------------------------------------------
# Distribution check


def _js_divergence(p: Counter, q: Counter) -> float:
    """Jensen-Shannon divergence (bits, 0..1) between two token count tables."""
    tp, tq = sum(p.values()), sum(q.values())
    js = 0.0
    for t in set(p) | set(q):
        a, b = p.get(t, 0) / tp, q.get(t, 0) / tq
        m = (a + b) / 2
        if a:
            js += 0.5 * a * math.log2(a / m)
        if b:
            js += 0.5 * b * math.log2(b / m)
    return js


def _ks(a: Sequence[int], b: Sequence[int]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (largest gap between the empirical CDFs)."""
    a, b = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    for x in sorted(set(a) | set(b)):
        while i < len(a) and a[i] <= x:
            i += 1
        while j < len(b) and b[j] <= x:
            j += 1
        d = max(d, abs(i / len(a) - j / len(b)))
    return d


def _summary(formulas: Sequence[str]) -> dict:
    lens = sorted(len(f.split()) for f in formulas)
    n = len(lens)
    depth = []
    for f in formulas:
        d = m = 0
        for t in f.split():
            if opener(t):
                d += 1
                m = max(m, d)
            elif closer(t):
                d -= 1
        depth.append(m)
    has = lambda tok: sum(tok in f.split() for f in formulas) / n  # noqa: E731
    return {
        "formulas": n,
        "length_mean": round(sum(lens) / n, 2),
        "length_quartiles": [lens[n // 4], lens[n // 2], lens[(3 * n) // 4]],
        "length_max": lens[-1],
        "mean_max_nesting": round(sum(depth) / n, 2),
        "share_with_frac": round(has("\\frac"), 3),
        "share_with_superscript": round(has("^"), 3),
        "share_with_subscript": round(has("_"), 3),
    }


def compare(real_train: Sequence[str], synthetic: Sequence[str], real_reference: Sequence[str] | None = None) -> dict:
    """Token and length distributions of the synthetic set against the real training gold.

    ``real_reference`` (e.g. validation gold) gives the same figures for a second real sample,
    the scale against which the synthetic figures should be read.
    """
    def tokens(fs: Sequence[str]) -> Counter:
        c: Counter = Counter()
        for f in fs:
            c.update(f.split())
        return c

    train_tok = tokens(real_train)
    train_len = [len(f.split()) for f in real_train]

    def versus(fs: Sequence[str]) -> dict:
        tok = tokens(fs)
        total = sum(tok.values())
        unseen = sum(c for t, c in tok.items() if t not in train_tok)
        return {
            **_summary(fs),
            "token_js_divergence_vs_train_bits": round(_js_divergence(train_tok, tok), 4),
            "length_ks_vs_train": round(_ks(train_len, [len(f.split()) for f in fs]), 4),
            "distinct_tokens": len(tok),
            "share_of_tokens_unseen_in_train": round(unseen / total, 4) if total else 0.0,
            "share_of_formulas_copied_from_train": round(sum(f in set(real_train) for f in fs) / len(fs), 4),
        }

    out = {"real_train": {**_summary(real_train), "distinct_tokens": len(train_tok)}, "synthetic": versus(synthetic)}
    if real_reference:
        out["real_reference"] = versus(real_reference)
    return out


@dataclass
class SynthReport:
    """What :func:`synthesize` wrote: the build's manifest (with a ``synthetic`` section) and the check."""

    manifest: dict
    candidates: int
    kept: int
    distribution_check: dict


def synthesize(
    train_gold: Sequence[str],
    out: Path | str,
    n: int,
    config: BuildConfig,
    *,
    seed: int = 0,
    prefix: str = "syn",
    reference: Sequence[str] | None = None,
    description: dict | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> SynthReport:
    """Sample ``n`` candidates from a model of ``train_gold``, keep those that render (``config``,
    strict for ``data synth``) and are not training copies, and write them as a dataset's train split.

    Image names are ``prefix`` plus a hash of the formula, so they never clash with real names.
    The manifest gains a ``synthetic`` section with the counts and the distribution check against
    ``train_gold`` (and ``reference``, real gold that shows natural variation).
    """
    import hashlib
    import json
    import time
    from pathlib import Path

    from markupeval.data.build import BuildInputs, build
    from markupeval.data.lists import ListEntry
    from markupeval.data.reader import MANIFEST_FILE, Im2LatexDataset

    t0 = time.perf_counter()
    out = Path(out)
    model = StructuredNgram(max_tokens=config.filters.max_tokens).fit(train_gold)
    formulas = list(generate(model, n, seed=seed, exclude=train_gold))
    names = [f"{prefix}{hashlib.sha1(f.encode()).hexdigest()[:10]}" for f in formulas]
    inputs = BuildInputs(formulas, formulas, {"train": [ListEntry(name, i) for i, name in enumerate(names)]},
                         source="normalized", description={"synthetic": {
                             **(description or {}), "seed": seed, "candidates": n,
                             "generator": "structure-aware n-gram (markupeval.data.synth)"}})
    report = build(inputs, out, config, on_progress=on_progress)
    kept = [" ".join(item.tokens) for item in Im2LatexDataset(out, "train").items]
    check = compare(train_gold, kept, reference)
    manifest = report.manifest
    manifest["synthetic"] = {"candidates": len(formulas), "kept": len(kept), "distribution_check": check,
                             "seconds_total": round(time.perf_counter() - t0, 1)}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return SynthReport(manifest, len(formulas), len(kept), check)
