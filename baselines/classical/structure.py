"""Structural analysis: arrange recognised symbols into normalized LaTeX tokens.

Rules, applied recursively to each sub-expression (a "level"):
1. containers, widest first: a radical takes what it covers; a horizontal bar with symbols
   both above and below inside its extent is a fraction; a display big operator takes the
   symbols above and below it as limits;
2. accents: an accent glyph, a short bar or dots right above a symbol (\\hat, \\bar, \\dot, ...);
   a bar above several symbols is an \\overline;
3. the main baseline: the largest size class, and the baseline most of its symbols share;
   runs of upright letters become \\operatorname / \\mathrm; tall delimiters become \\left/\\right;
4. every other symbol is a script of the nearest main-line symbol on its left: above that
   symbol's baseline a superscript, below it a subscript (smaller scripts follow the larger
   script they belong to), each script group parsed recursively.
Tokens follow the gold's conventions: ``x _ { i } ^ { 2 }``, ``\\frac { a } { b }``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupeval.baselines.classical.geometry import Box
from markupeval.baselines.classical.glyphs import DELIMITERS, EM_PX, OPENING
from markupeval.baselines.classical.recognize import Symbol

AXIS_EM = 0.25  # math axis above the baseline (cmsy axis_height), in em
LIMIT_OPERATORS = {r"\sum", r"\prod", r"\coprod", r"\bigcup", r"\bigcap", r"\bigoplus", r"\bigotimes",
                   r"\bigwedge", r"\bigsqcup"}
OPERATOR_NAMES = {"exp", "ln", "sin", "cos", "sinh", "log", "cosh", "tanh", "tan", "arctan", "coth", "cot",
                  "dim", "deg", "arcsin", "arccos", "sec", "ker", "csc", "tg", "ctg", "arg", "sh", "ch", "th"}
LIMIT_NAMES = {"lim", "det", "min", "max", "sup", "inf", "limsup", "liminf"}
WIDE_ACCENT = {r"\hat": r"\widehat", r"\tilde": r"\widetilde"}
DOT_LABELS = {".", r"\cdot", r"\cdotp"}
ROW_GAP_EM = 0.6  # main-size baselines further apart are different rows of an array
CELL_GAP_EM = 0.75  # a wider horizontal gap inside an array row separates cells
TALL_DELIMITER = 1.12  # taller than this many em (normal "(" is 1.02 em, \big 1.23 em): \left / \right


@dataclass
class Item(Box):
    """A symbol or an already-built sub-expression, with the geometry layout needs."""

    top: float
    left: float
    bottom: float
    right: float
    tokens: list[str]
    baseline: float
    size: int
    kind: str
    label: tuple[str, ...] = ()
    children: list["Item"] = field(default_factory=list)

    @property
    def em(self) -> float:
        return EM_PX[self.size]


def _from_symbol(s: Symbol) -> Item:
    baseline = s.baseline
    tokens = list(s.label)
    if s.kind == "accent":
        tokens += ["{", "}"]  # an accent found over nothing still has to be valid LaTeX
    if s.kind in ("delim", "bigop"):
        # Axis-centred glyphs: the template's descent does not scale with stretched sizes.
        baseline = s.cy + AXIS_EM * s.em
    return Item(s.top, s.left, s.bottom, s.right, tokens, baseline, s.size_class, s.kind, s.label)


def _box(members: list[Item], tokens: list[str], baseline: float, size: int, kind: str = "box") -> Item:
    return Item(min(m.top for m in members), min(m.left for m in members), max(m.bottom for m in members),
                max(m.right for m in members), tokens, baseline, size, kind)


def _main_baseline(items: list[Item]) -> float:
    size = min(i.size for i in items)
    mains = [i for i in items if i.size == size]
    tol = 0.22 * EM_PX[size]
    # The baseline most main-size symbols share; ties go to the leftmost.
    best = max(mains, key=lambda a: (sum(abs(b.baseline - a.baseline) <= tol for b in mains), -a.left))
    return best.baseline


def _within(o: Item, c: Item, tol: float) -> bool:
    return o.left >= c.left - tol and o.right <= c.right + tol


def _grow(group: list[Item], pool: list[Item], em: float) -> list[Item]:
    """Extend a limit group sideways by symbols in the same band (limits wider than the operator)."""
    changed = True
    while changed:
        changed = False
        top, bottom = min(g.top for g in group), max(g.bottom for g in group)
        left, right = min(g.left for g in group), max(g.right for g in group)
        for o in pool:
            if o in group:
                continue
            if top - 2 <= o.cy <= bottom + 2 and (left - 0.35 * em <= o.right and o.left <= right + 0.35 * em):
                group.append(o)
                changed = True
    return group


def _containers(items: list[Item]) -> list[Item]:
    while True:
        for c in sorted(items, key=lambda i: -i.width):
            others = [o for o in items if o is not c]
            if c.kind == "radical":
                inside = [o for o in others if c.left + 0.25 * min(c.width, c.height) < o.cx < c.right + 1
                          and c.top < o.cy < c.bottom + 2]
                rest = [o for o in others if o not in inside]
                if inside:
                    size = min(o.size for o in inside)
                    box = _box([c] + inside, [r"\sqrt", "{", *parse(inside), "}"], _main_baseline(inside), size)
                else:
                    box = _box([c], [r"\sqrt", "{", "}"], c.bottom - 0.1 * c.em, c.size)
                items = rest + [box]
                break
            if c.kind == "bar":
                tol = 2
                above = [o for o in others if _within(o, c, tol) and o.bottom <= c.top + 1]
                below = [o for o in others if _within(o, c, tol) and o.top >= c.bottom - 1]
                if above and below:
                    # Numerator and denominator are set one size smaller than the fraction, except
                    # that display fractions keep the text size.
                    size = max(0, min(o.size for o in above + below) - 1)
                    tokens = [r"\frac", "{", *parse(above), "}", "{", *parse(below), "}"]
                    box = _box([c] + above + below, tokens, c.cy + AXIS_EM * EM_PX[size], size)
                    items = [o for o in others if o not in above and o not in below] + [box]
                    break
            if c.kind == "bigop" and c.size == 0 and c.label and c.label[0] in LIMIT_OPERATORS:
                em = c.em
                overlaps = [o for o in others if o.right > c.left and o.left < c.right]
                above = [o for o in overlaps if o.bottom <= c.top + 1 and o.bottom >= c.top - 1.2 * em]
                below = [o for o in overlaps if o.top >= c.bottom - 1 and o.top <= c.bottom + 0.8 * em]
                if above or below:
                    pool = [o for o in others if o.size > 0]
                    above = _grow(above, pool, em) if above else []
                    below = _grow([o for o in below if o not in above], [o for o in pool if o not in above], em) if below else []
                    tokens = list(c.tokens)
                    if below:
                        tokens += ["_", "{", *parse(below), "}"]
                    if above:
                        tokens += ["^", "{", *parse(above), "}"]
                    box = _box([c] + above + below, tokens, c.baseline, c.size, kind="bigop-limits")
                    items = [o for o in others if o not in above and o not in below] + [box]
                    break
        else:
            return items


def _is_accent_like(i: Item) -> bool:
    return i.kind in ("accent", "bar") or (i.label and i.label[0] in DOT_LABELS) or i.label == (r"\sim",)


def _accents(items: list[Item]) -> list[Item]:
    for a in sorted([i for i in items if _is_accent_like(i)], key=lambda i: -i.bottom):
        if a not in items:
            continue
        gap = 0.4 * EM_PX[min(a.size, 1)]
        below = [o for o in items if o is not a and not _is_accent_like(o) and o.top >= a.bottom - 1
                 and o.top - a.bottom <= gap and o.right > a.left - 1 and o.left < a.right + 1]
        if not below:
            continue
        if a.kind == "bar":
            covered = [o for o in below if _within(o, a, 3)]
            if not covered:
                # A \bar sits off-centre over an italic letter wider than itself.
                near = min(below, key=lambda o: abs(o.cx - a.cx))
                if not (near.left - 1 <= a.cx <= near.right + 1 and a.width <= near.width + 3):
                    continue
                covered = [near]
            # \overline's rule spans its base from the left edge; the \bar macron is shorter and
            # sits right of the base's left edge.
            spans = a.left <= min(o.left for o in covered) and a.right >= max(o.right for o in covered) - 1
            name = r"\overline" if len(covered) > 1 or spans else r"\bar"
            members = covered
        else:
            base = min(below, key=lambda o: abs(o.cx - a.cx))
            if not (base.left - 2 <= a.cx <= base.right + 2):
                continue
            members = [base]
            if a.label and a.label[0] in DOT_LABELS:
                dots = [d for d in items if d is not a and d.label and d.label[0] in DOT_LABELS
                        and abs(d.cy - a.cy) < 3 and base.left - 2 <= d.cx <= base.right + 2]
                name = r"\ddot" if dots else r"\dot"
                for d in dots:
                    items = [i for i in items if i is not d]
            elif a.label == (r"\sim",):
                name = r"\tilde"
            else:
                name = a.label[0]
            if a.kind == "accent" and len(below) > 1 and a.width > 1.5 * base.width:
                members = [o for o in below if _within(o, a, 3)] or [base]
            if len(members) > 1:
                name = WIDE_ACCENT.get(name, name)
        tokens = [name, "{", *parse(members), "}"]
        base_line = _main_baseline(members)
        box = _box([a] + members, tokens, base_line, min(m.size for m in members))
        items = [i for i in items if i is not a and i not in members] + [box]
    return items


def _upright_runs(line: list[Item]) -> list[Item]:
    out: list[Item] = []
    k = 0
    while k < len(line):
        if line[k].kind != "upright":
            out.append(line[k])
            k += 1
            continue
        run = [line[k]]
        while k + 1 < len(line) and line[k + 1].kind == "upright" and line[k + 1].left - run[-1].right < 0.3 * run[-1].em:
            k += 1
            run.append(line[k])
        k += 1
        letters = [t for r in run for t in r.label[1:]]  # ("\mathrm", "f", "f") for the ff ligature
        word = "".join(letters)
        if word in LIMIT_NAMES:
            tokens = [r"\operatorname*", "{", *letters, "}"]
        elif word in OPERATOR_NAMES:
            tokens = [r"\operatorname", "{", *letters, "}"]
        else:
            tokens = [r"\mathrm", "{", *letters, "}"]
        out.append(_box(run, tokens, run[0].baseline, run[0].size, kind="box"))
    return out


def _delimiters(line: list[Item]) -> list[str]:
    """Main-line tokens with tall delimiters as balanced \\left / \\right pairs.

    Bars (|, \\|) open and close alternately, so ``<x|A|y>`` pairs its bars with each other.
    """
    depth = 0
    bars_seen: dict[str, int] = {}
    tall = [it for it in line if _is_tall_delimiter(it)]
    bar_total = {s: sum(1 for it in tall if it.label[0] == s) for s in ("|", r"\|")}
    out_tokens: list[list[str]] = []
    for it in line:
        tok = it.tokens
        if _is_tall_delimiter(it):
            sym = it.label[0]
            _, left, right = DELIMITERS[sym]
            if sym in bar_total:
                seen = bars_seen.get(sym, 0)
                bars_seen[sym] = seen + 1
                pairs_left = bar_total[sym] - seen
                # An odd bar out opens only where nothing is open (it then gets a \\right.).
                opening = seen % 2 == 0 and (pairs_left >= 2 or depth == 0)
            else:
                opening = sym in OPENING
            if opening:
                tok = [left] + tok[1:]
                depth += 1
            else:
                if depth == 0:
                    out_tokens.insert(0, [r"\left."])
                else:
                    depth -= 1
                tok = [right] + tok[1:]
        out_tokens.append(tok)
    flat = [t for tok in out_tokens for t in tok]
    return flat + [r"\right."] * depth


def _is_tall_delimiter(it: Item) -> bool:
    return it.kind == "delim" and bool(it.label) and it.label[0] in DELIMITERS and it.height > TALL_DELIMITER * it.em


def _dots(tokens: list[str]) -> list[str]:
    """Three baseline dots are \\ldots, three centred dots \\cdots (the gold's usual forms)."""
    out: list[str] = []
    k = 0
    while k < len(tokens):
        if tokens[k : k + 3] == [".", ".", "."]:
            out.append(r"\ldots")
            k += 3
        elif tokens[k : k + 3] == [r"\cdot"] * 3:
            out.append(r"\cdots")
            k += 3
        else:
            out.append(tokens[k])
            k += 1
    return out


def _right_with_scripts(b: Item, scripts: list[Item]) -> float:
    return max([b.right] + [s.right for s in scripts])


def _space(gap: float, em: float) -> list[str]:
    """Explicit horizontal space for a gap wider than TeX's own spacing ever makes (<= 5/18 em
    plus side bearings): \\quad is 1 em, \\qquad 2 em."""
    if gap > 1.7 * em:
        return [r"\qquad"]
    if gap > 0.85 * em:
        return [r"\quad"]
    return []


def _is_dot(i: Item) -> bool:
    return i.kind == "sym" and bool(i.label) and i.label[0] in DOT_LABELS | {r"\bullet"} and max(i.width, i.height) <= 0.2 * EM_PX[0]


def _place_dots(items: list[Item]) -> list[Item]:
    """A lone dot's size is unreliable (a few pixels), so its place decides: on the main baseline
    it is a period, on the math axis a \\cdot, both main-line symbols; elsewhere it stays a script."""
    others = [i for i in items if not _is_dot(i)]
    if not others:
        return items
    size = min(i.size for i in others)
    em = EM_PX[size]
    y0 = _main_baseline(others)
    for d in items:
        if not _is_dot(d):
            continue
        if abs((d.bottom - 1) - y0) <= 0.12 * em + 1:
            d.label, d.tokens = (".",), ["."]
        elif abs(d.cy - (y0 - AXIS_EM * em)) <= 0.12 * em + 1:
            d.label, d.tokens = (r"\cdot",), [r"\cdot"]
        else:
            continue
        d.size, d.baseline = size, y0
    return items


def _rows(items: list[Item], em: float) -> list[list[Item]]:
    """Items grouped into text rows: main-size baselines more than ROW_GAP_EM apart start a new
    row; smaller items (scripts) join the row whose band they overlap most."""
    size = min(i.size for i in items)
    mains = sorted([i for i in items if i.size == size], key=lambda i: i.baseline)
    rows: list[list[Item]] = []
    for m in mains:
        if rows and m.baseline - rows[-1][-1].baseline <= ROW_GAP_EM * em:
            rows[-1].append(m)
        else:
            rows.append([m])
    bands = [(min(i.top for i in r), max(i.bottom for i in r)) for r in rows]
    for i in items:
        if i.size == size:
            continue
        overlap = [min(i.bottom, b) - max(i.top, t) for t, b in bands]
        rows[max(range(len(rows)), key=lambda k: overlap[k])].append(i)
    return rows


def _cells(row: list[Item], em: float) -> list[list[Item]]:
    """A row split into cells at horizontal gaps wider than CELL_GAP_EM."""
    cells: list[list[Item]] = []
    right = -1e9
    for i in sorted(row, key=lambda i: i.left):
        if cells and i.left - right <= CELL_GAP_EM * em:
            cells[-1].append(i)
        else:
            cells.append([i])
        right = max(right, i.right) if len(cells[-1]) > 1 else i.right
    return cells


def _column_spec(grid: list[list[list[Item]]], ncols: int) -> list[str]:
    """l, c or r per column: whichever edge (left, centre, right) varies least across rows."""
    spec = []
    for c in range(ncols):
        cells = [row[c] for row in grid if c < len(row) and row[c]]
        if len(cells) < 2:
            spec.append("c")
            continue
        lefts = [min(i.left for i in cell) for cell in cells]
        rights = [max(i.right for i in cell) for cell in cells]
        centres = [(a + b) / 2 for a, b in zip(lefts, rights)]
        spread = {k: max(v) - min(v) for k, v in (("l", lefts), ("c", centres), ("r", rights))}
        best = min(spread, key=lambda k: (spread[k], k != "c"))
        spec.append(best if spread[best] < spread["c"] - 2 else "c")
    return spec


def _arrays(items: list[Item]) -> list[Item]:
    """Main-size symbols stacked in several rows (outside fractions) are an array: one per pair
    of tall delimiters enclosing such rows, or the whole level when no delimiter encloses them."""
    size = min(i.size for i in items)
    em = EM_PX[size]
    y0 = _main_baseline(items)
    off = [i for i in items if i.size == size and abs(i.baseline - y0) > ROW_GAP_EM * em and not _is_tall_delimiter(i)
           and i.kind not in ("bigop", "bigop-limits")]
    tall = sorted([d for d in items if _is_tall_delimiter(d)], key=lambda d: d.left)
    regions: dict[tuple[float, float], list[Item]] = {}
    for o in off:
        lo = max((d.right for d in tall if d.right <= o.left + 1), default=-1e9)
        hi = min((d.left for d in tall if d.left >= o.right - 1), default=1e9)
        regions.setdefault((lo, hi), []).append(o)
    for lo, hi in regions:
        region = [i for i in items if lo - 1 <= i.cx <= hi + 1 and not _is_tall_delimiter(i)]
        if not region:  # its rows were taken by an earlier, wider array
            continue
        box = _array(region, size)
        if box is not None:
            items = [i for i in items if not any(i is r for r in region)] + [box]
    return items


def _array(region: list[Item], size: int) -> Item | None:
    em = EM_PX[size]
    rows = _rows(region, em)
    if len(rows) < 2:
        return None
    bands = sorted((min(i.top for i in r if i.size == size), max(i.bottom for i in r if i.size == size)) for r in rows)
    # Rows of an array lie one under another; a tall box beside a short line is not an array.
    if any(b[0] < a[1] - 0.15 * em for a, b in zip(bands, bands[1:])):
        return None
    rows.sort(key=lambda r: min(i.top for i in r))
    grid = [_cells(r, em) for r in rows]
    ncols = max(len(g) for g in grid)
    # Rows with fewer cells: each cell goes to the column of the fullest row it overlaps best.
    ref = next(g for g in grid if len(g) == ncols)
    spans = [(min(i.left for i in c), max(i.right for i in c)) for c in ref]
    aligned: list[list[list[Item]]] = []
    for g in grid:
        if len(g) == ncols:
            aligned.append(g)
            continue
        row: list[list[Item]] = [[] for _ in range(ncols)]
        for cell in g:
            a, b = min(i.left for i in cell), max(i.right for i in cell)
            k = max(range(ncols), key=lambda k: (min(b, spans[k][1]) - max(a, spans[k][0]), -abs((a + b) / 2 - sum(spans[k]) / 2)))
            row[k].extend(cell)
        aligned.append(row)
    tokens = [r"\begin{array}", "{", *_column_spec(aligned, ncols), "}"]
    for row in aligned:
        for k, cell in enumerate(row):
            if k:
                tokens.append("&")
            tokens += ["{", *parse(cell), "}"]
        tokens.append("\\\\")
    tokens.append(r"\end{array}")
    return _box(region, tokens, (min(i.top for i in region) + max(i.bottom for i in region)) / 2 + AXIS_EM * em, size)


def _above(s: Item, b: Item) -> bool:
    """Is script s a superscript of base b (else a subscript)?"""
    if b.kind == "box":
        return s.baseline < b.baseline - 0.2 * b.em
    if b.height > TALL_DELIMITER * b.em or b.kind in ("bigop", "bigop-limits"):
        return s.cy < b.cy
    return s.baseline < b.baseline - 0.2 * b.em


def _limits_under_words(line: list[Item], scripts: list[Item], owner: dict[int, tuple[int, str]]) -> None:
    """Limits of \\lim-like words are centred under them and may start left of the word:
    a run of adjacent scripts on one baseline that overlaps such a word belongs to it."""
    words = [k for k, b in enumerate(line) if b.kind == "box" and b.tokens[:1] == [r"\operatorname*"]]
    if not words:
        return
    runs: list[list[Item]] = []
    for s in sorted(scripts, key=lambda i: i.left):
        for run in runs:
            last = run[-1]
            if abs(s.cy - last.cy) <= 0.3 * last.em and s.left - last.right <= 0.4 * last.em:
                run.append(s)
                break
        else:
            runs.append([s])
    for run in runs:
        left, right = min(i.left for i in run), max(i.right for i in run)
        for k in words:
            b = line[k]
            if left < b.right and b.left < right and (min(i.top for i in run) >= b.bottom - 2 or max(i.bottom for i in run) <= b.top + 2):
                side = "sup" if max(i.bottom for i in run) <= b.top + 2 else "sub"
                for i in run:
                    owner[id(i)] = (k, side)
                break


def parse(items: list[Item]) -> list[str]:
    """Normalized LaTeX tokens for a set of items forming one sub-expression."""
    if not items:
        return []
    items = _containers(list(items))
    items = _accents(items)
    items = _place_dots(items)
    items = _arrays(items)
    size = min(i.size for i in items)
    y0 = _main_baseline(items)
    tol = 0.22 * EM_PX[size]
    line = sorted([i for i in items if i.size == size and abs(i.baseline - y0) <= tol], key=lambda i: i.left)
    scripts = sorted([i for i in items if not any(i is m for m in line)], key=lambda i: (i.size, i.left))
    line = _upright_runs(line)
    # Scripts: larger ones pick a main-line base; smaller ones follow the larger script they sit by.
    owner: dict[int, tuple[int, str]] = {}  # id(script) -> (index of base in line, "sub"/"sup"/"pre")
    _limits_under_words(line, scripts, owner)
    placed: list[Item] = [s for s in scripts if id(s) in owner]
    for s in scripts:
        if id(s) in owner:
            continue
        parent = None
        best = float("inf")
        for t in placed:
            if t.size < s.size and t.left <= s.left and s.left - t.right <= 0.6 * t.em:
                # The nearest larger script: horizontal gap plus distance from t's vertical band.
                d = max(0.0, s.left - t.right) + max(0.0, t.top - s.cy, s.cy - t.bottom)
                if d < best:
                    parent, best = t, d
        if parent is not None:
            owner[id(s)] = owner[id(parent)]
        else:
            bases = [k for k, b in enumerate(line) if b.left <= s.left]
            if not bases:
                # Limits centred under a word (\lim) start left of it: overlap decides.
                bases = [k for k, b in enumerate(line) if b.left < s.right and s.left < b.right][:1]
            if not bases:
                owner[id(s)] = (-1, "pre")
            else:
                k = bases[-1]
                owner[id(s)] = (k, "sup" if _above(s, line[k]) else "sub")
        placed.append(s)
    groups: dict[tuple[int, str], list[Item]] = {}
    for s in scripts:
        groups.setdefault(owner[id(s)], []).append(s)
    parts: list[Item] = []
    if (-1, "pre") in groups:
        pre = groups[(-1, "pre")]
        parts.append(_box(pre, ["{", "}", "^", "{", *parse(pre), "}"], y0, size))
    em = EM_PX[size]
    for k, b in enumerate(line):
        tokens = list(b.tokens)
        if k > 0:
            tokens = _space(b.left - _right_with_scripts(line[k - 1], groups.get((k - 1, "sub"), []) + groups.get((k - 1, "sup"), [])), em) + tokens
        if (k, "sub") in groups:
            tokens += ["_", "{", *parse(groups[(k, "sub")]), "}"]
        if (k, "sup") in groups:
            tokens += ["^", "{", *parse(groups[(k, "sup")]), "}"]
        parts.append(Item(b.top, b.left, b.bottom, b.right, tokens, b.baseline, b.size, b.kind, b.label))
    return _dots(_delimiters(parts))


def layout(symbols: list[Symbol]) -> list[str]:
    """Normalized LaTeX tokens for a recognised formula."""
    return parse([_from_symbol(s) for s in symbols])
