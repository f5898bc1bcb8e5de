"""Symbol recognition: nearest neighbour over the glyph templates, with multi-part merging."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from markupeval.baselines.classical.features import features
from markupeval.baselines.classical.geometry import Box
from markupeval.baselines.classical.glyphs import EM_PX, KINDS, GlyphSet
from markupeval.baselines.classical.segment import Component, binarise, connected_components, merge_masks

# Merging two stacked parts into one multi-part symbol (i, j, =, \leq, ...) is accepted when the
# merged shape is at least this close to a multi-part template (squared feature distance) ...
MERGE_MAX_DISTANCE = 30.0
# ... and not much worse than recognising the parts separately.
MERGE_SLACK = 2.0
# Parts further apart than this (in display em) are never one symbol; ':' has the widest gap.
MERGE_MAX_GAP_EM = 0.45
# A single component recognised worse than this (squared distance) may be touching glyphs ...
SPLIT_MIN_DISTANCE = 15.0
SPLIT_MIN_WIDTH_EM = 0.45
# ... and is split where both halves are recognised within this distance and this fraction
# of the whole's distance.
SPLIT_MAX_DISTANCE = 20.0
SPLIT_GAIN = 0.6
SPLIT_CUTS = 16
# Nearest templates searched for the runner-up label (the confidence margin).
NEIGHBOURS = 24
# Templates closer than this to a kept template of the same label are dropped.
DUPLICATE_DISTANCE = 1.0
# A round blob at most this big (display em) is a dot.
DOT_MAX_EM = 0.2


@dataclass
class Symbol(Box):
    """A recognised symbol (or a structural primitive: a bar or a radical) with its geometry."""

    top: int
    left: int
    bottom: int
    right: int
    label: tuple[str, ...]
    kind: str  # one of glyphs.KINDS, or "bar" / "radical"
    size_class: int  # 0 display/text, 1 script, 2 scriptscript
    baseline: float  # estimated baseline row
    confidence: float  # 0..1, margin between the best and the best other label
    parts: int = 1
    mask: np.ndarray | None = field(default=None, repr=False)

    @property
    def em(self) -> float:
        return EM_PX[self.size_class]


def _distinct_templates(glyphs: GlyphSet, min_distance: float = DUPLICATE_DISTANCE) -> np.ndarray:
    """Mask of templates to keep: sub-pixel variants nearly identical to a kept one of the same
    label, size class and part count add nothing but time."""
    keep = np.zeros(len(glyphs.label), dtype=bool)
    key = np.stack([glyphs.label, glyphs.size_class, glyphs.parts], axis=1)
    _, group = np.unique(key, axis=0, return_inverse=True)
    for g in np.unique(group):
        members = np.flatnonzero(group == g)
        f = glyphs.features[members].astype(np.float32)
        kept: list[int] = []
        for k in range(len(members)):
            if not kept or ((f[kept] - f[k]) ** 2).sum(axis=1).min() > min_distance:
                kept.append(k)
        keep[members[kept]] = True
    return keep


class Classifier:
    """1-nearest-neighbour over the template matrix, restricted by the number of parts.

    Templates are grouped by part count and sorted by label, so the best distance per label is
    one ``minimum.reduceat`` over the distance matrix; confidence compares the best label with
    the runner-up.
    """

    def __init__(self, glyphs: GlyphSet):
        self.glyphs = glyphs
        self._groups: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._labels: dict[int, np.ndarray] = {}
        keep = _distinct_templates(glyphs)
        for p in np.unique(glyphs.parts):
            idx = np.flatnonzero((glyphs.parts == p) & keep)
            idx = idx[np.argsort(glyphs.label[idx], kind="stable")]
            t = np.ascontiguousarray(glyphs.features[idx], dtype=np.float32)
            labels = glyphs.label[idx]
            starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
            self._groups[int(p)] = (idx, t, (t**2).sum(axis=1), starts, labels[starts])
            self._labels[int(p)] = labels

    def nearest(self, feats: np.ndarray, parts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best template index, its squared distance, and the distance to the best other label."""
        n = len(feats)
        group = self._groups.get(parts)
        if group is None or n == 0:
            return np.full(n, -1), np.full(n, np.inf), np.full(n, np.inf)
        idx, t, norms, starts, _ = group
        q = np.asarray(feats, dtype=np.float32)
        d = (q**2).sum(axis=1)[:, None] - 2 * (q @ t.T) + norms[None, :]
        best = d.argmin(axis=1)
        best_d = d[np.arange(n), best]
        # Runner-up label: among the nearest few templates, the first with another label.
        k = min(NEIGHBOURS, d.shape[1])
        near = np.argpartition(d, k - 1, axis=1)[:, :k]
        near_d = np.take_along_axis(d, near, axis=1)
        order = np.argsort(near_d, axis=1)
        near, near_d = np.take_along_axis(near, order, axis=1), np.take_along_axis(near_d, order, axis=1)
        differs = self._labels[parts][near] != self._labels[parts][best][:, None]
        other = np.where(differs.any(axis=1), near_d[np.arange(n), differs.argmax(axis=1)], np.inf)
        return idx[best], np.maximum(best_d, 0), np.maximum(other, 0)


def _is_round(mask: np.ndarray) -> bool:
    h, w = mask.shape
    return max(h, w) <= 1.6 * min(h, w) and mask.mean() >= 0.45  # a 5x5 diamond is 0.52


def _is_bar(c: Component) -> bool:
    return c.height <= 4 and c.width >= 3 * c.height and c.mask.mean() > 0.85


def _is_radical(c: Component, comps: list[Component]) -> bool:
    """A radical sign: an overline runs from its right edge leftwards and it encloses others."""
    if c.width < 12 or c.height < 12:
        return False
    top = c.mask[:3].any(axis=0)
    if not top[-1]:
        return False
    run = int(np.argmin(top[::-1])) if not top.all() else c.width  # length of the run ending at the right
    if run < 0.3 * c.width:
        return False
    start = c.right - run
    for o in comps:
        if o is c:
            continue
        cy, cx = (o.top + o.bottom) / 2, (o.left + o.right) / 2
        if c.top < cy < c.bottom and start - 2 < cx < c.right and o.top > c.top:
            return True
    return False


def _inside(a: Component, b: Component) -> bool:
    """a's box lies within b's."""
    return a.top >= b.top and a.bottom <= b.bottom and a.left >= b.left and a.right <= b.right


def _stack_candidates(comps: list[Component], skip: set[int]) -> list[tuple[int, int]]:
    """Pairs of components stacked vertically closely enough to be parts of one symbol."""
    max_gap = MERGE_MAX_GAP_EM * EM_PX[0]
    pairs = []
    for i, a in enumerate(comps):
        if i in skip:
            continue
        for j in range(i + 1, len(comps)):
            b = comps[j]
            if b.left >= a.right:
                break  # sorted by left: no later component overlaps a horizontally
            if j in skip:
                continue
            overlap = min(a.right, b.right) - max(a.left, b.left)
            if overlap < 0.4 * min(a.width, b.width):
                continue
            gap = max(a.top, b.top) - min(a.bottom, b.bottom)
            # Parts of one symbol are stacked (at most a sliver of vertical overlap), or one
            # lies inside the other (the bar of \Theta).
            inside = _inside(b, a) or _inside(a, b)
            if gap < -0.25 * min(a.height, b.height) and not inside:
                continue
            if gap <= max_gap and max(a.height, b.height) < 1.6 * EM_PX[0]:
                pairs.append((i, j))
    return pairs


def _symbol(classifier: Classifier, c: Component, parts: int, t: int, d: float, o: float) -> Symbol:
    g = classifier.glyphs
    if t < 0:
        return Symbol(c.top, c.left, c.bottom, c.right, ("?",), "sym", 0, c.bottom - 1, 0.0, parts, c.mask)
    scale = c.height / max(int(g.height[t]), 1)
    baseline = (c.bottom - 1) - g.descent[t] * scale
    conf = float(1 - np.sqrt(d) / max(np.sqrt(o), 1e-9)) if np.isfinite(o) else 1.0
    return Symbol(c.top, c.left, c.bottom, c.right, g.labels[g.label[t]], KINDS[g.kind[t]],
                  int(g.size_class[t]), float(baseline), max(conf, 0.0), parts, c.mask)


@dataclass
class _Group:
    """Parts merged so far, with the best classification of their union."""

    comp: Component
    parts: int
    template: int
    dist: float
    other: float


def _classify(classifier: Classifier, comps: list[Component], parts: list[int]) -> list[tuple[int, float, float]]:
    feats = features([c.mask for c in comps])
    out: list[tuple[int, float, float]] = [(-1, np.inf, np.inf)] * len(comps)
    for p in sorted(set(parts)):
        sel = [k for k, q in enumerate(parts) if q == p]
        best, dist, other = classifier.nearest(feats[sel], p)
        for k, t, d, o in zip(sel, best, dist, other):
            out[k] = (int(t), float(d), float(o))
    return out


def _crop(mask: np.ndarray, top: int, left: int) -> Component | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return Component(top + r0, left + c0, top + r1, left + c1, mask[r0:r1, c0:c1])


def _split_touching(classifier: Classifier, group: "_Group") -> list["_Group"]:
    """Split a badly recognised blob into two glyphs that touch (bilevel rendering fattens ink).

    Every vertical cut is tried; the best one is kept when both halves are recognised well and
    clearly better than the whole.
    """
    c = group.comp
    # Glyphs touch at a pixel or two: try the columns with the least ink in the middle part.
    lo, hi = max(3, c.width // 5), min(c.width - 2, c.width - c.width // 5)
    if hi <= lo:
        return [group]
    ink = c.mask[:, lo:hi].sum(axis=0)
    cuts = (lo + np.argsort(ink, kind="stable")[:SPLIT_CUTS]).tolist()
    pieces: list[tuple[Component, Component]] = []
    for x in cuts:
        a = _crop(c.mask[:, :x], c.top, c.left)
        b = _crop(c.mask[:, x:], c.top, c.left + x)
        if a is not None and b is not None:
            pieces.append((a, b))
    if not pieces:
        return [group]
    flat = [p for pair in pieces for p in pair]
    res = _classify(classifier, flat, [1] * len(flat))
    scores = [max(res[2 * k][1], res[2 * k + 1][1]) for k in range(len(pieces))]
    k = int(np.argmin(scores))
    if scores[k] > SPLIT_MAX_DISTANCE or scores[k] > SPLIT_GAIN * group.dist:
        return [group]
    (a, b), ra, rb = pieces[k], res[2 * k], res[2 * k + 1]
    return [_Group(a, 1, *ra), _Group(b, 1, *rb)]


def _extract_bar(classifier: Classifier, group: "_Group") -> list["_Group"]:
    """Separate a fraction bar from the ink touching it (script fractions sit a pixel away).

    Rows inked across nearly the whole width are the bar; what remains above and below falls
    apart into its own components. Kept only if those are recognised better than the whole.
    """
    c = group.comp
    full = np.flatnonzero(c.mask.mean(axis=1) >= 0.95)
    if len(full) == 0 or len(full) > 4 or full[-1] - full[0] >= len(full):
        return [group]
    top, bottom = int(full[0]), int(full[-1]) + 1
    if top == 0 and bottom == c.height:
        return [group]
    rest = c.mask.copy()
    rest[top:bottom] = False
    pieces = [Component(p.top + c.top, p.left + c.left, p.bottom + c.top, p.right + c.left, p.mask)
              for p in connected_components(rest)]
    # A fraction bar outspans what touches it, or carries several glyphs; a serif (the foot of
    # a roman stem) does neither.
    if not pieces or (len(pieces) < 2 and max(p.width for p in pieces) > c.width - 4):
        return [group]
    res = _classify(classifier, pieces, [1] * len(pieces))
    if max(d for _, d, _ in res) > SPLIT_MAX_DISTANCE:
        return [group]
    bar = Component(c.top + top, c.left, c.top + bottom, c.right, c.mask[top:bottom])
    (bt, bd, bo), = _classify(classifier, [bar], [1])
    return [_Group(bar, 1, bt, bd, bo)] + [_Group(p, 1, *r) for p, r in zip(pieces, res)]


def recognise(image: np.ndarray, classifier: Classifier) -> list[Symbol]:
    """Segment a formula image into symbols and recognise each."""
    comps = connected_components(binarise(image))
    specials: list[Symbol] = []
    rest: list[Component] = []
    for c in comps:
        if _is_radical(c, comps):
            specials.append(Symbol(c.top, c.left, c.bottom, c.right, (r"\sqrt",), "radical", 0, c.bottom - 1, 1.0, 1, c.mask))
        else:
            rest.append(c)
    groups = [_Group(c, 1, *r) for c, r in zip(rest, _classify(classifier, rest, [1] * len(rest)))]
    groups = [h for g in groups for h in (_extract_bar(classifier, g) if g.dist > SPLIT_MIN_DISTANCE else [g])]
    for _depth in range(2):  # three glyphs in a row can touch
        split: list[_Group] = []
        for g in groups:
            w, h = g.comp.width, g.comp.height
            poor = (g.dist > SPLIT_MIN_DISTANCE and SPLIT_MIN_WIDTH_EM * EM_PX[0] <= w <= 2.5 * EM_PX[0]
                    and 5 <= h <= 1.5 * EM_PX[0])
            split.extend(_split_touching(classifier, g) if poor else [g])
        if len(split) == len(groups):
            break
        groups = split
    # Greedy pairwise merging, best merged distance first; a second round lets three-part
    # symbols (\equiv, \vdots) form from a two-part one plus a part.
    for _round in range(2):
        groups.sort(key=lambda g: (g.comp.left, g.comp.top))
        pairs = _stack_candidates([g.comp for g in groups], set())
        if not pairs:
            break
        cands = [merge_masks([groups[i].comp, groups[j].comp]) for i, j in pairs]
        results = _classify(classifier, cands, [groups[i].parts + groups[j].parts for i, j in pairs])
        used: set[int] = set()
        merged: list[_Group] = []
        for k in sorted(range(len(pairs)), key=lambda k: results[k][1]):
            i, j = pairs[k]
            t, d, o = results[k]
            if i in used or j in used or d > MERGE_MAX_DISTANCE:
                continue
            if d > max(groups[i].dist, groups[j].dist) + MERGE_SLACK:
                continue
            used.update((i, j))
            merged.append(_Group(cands[k], groups[i].parts + groups[j].parts, t, d, o))
        if not merged:
            break
        groups = [g for k, g in enumerate(groups) if k not in used] + merged
    symbols = [_symbol(classifier, g.comp, g.parts, g.template, g.dist, g.other) for g in groups]
    for s in symbols:
        # A small round blob is a dot whatever template it fell nearest (tiny accents, \cdot,
        # a period look alike at a few pixels); structure tells period, \cdot and \dot apart.
        if s.parts == 1 and max(s.height, s.width) <= DOT_MAX_EM * EM_PX[0] and _is_round(s.mask):
            s.kind, s.label = "sym", (".",)
            continue
        # Minus, fraction bar, overline and the \bar accent share one shape; structure decides.
        if s.parts == 1 and _is_bar(Component(s.top, s.left, s.bottom, s.right, s.mask)):
            s.kind, s.label = "bar", ("-",)
    symbols += specials
    symbols.sort(key=lambda s: (s.left, s.top))
    return symbols
