"""The glyph set: templates for every printable symbol of the gold vocabulary.

Why rendered templates rather than glyphs harvested from training images: the evaluation
renders every formula with the same TeX fonts at the same 200 dpi, so a symbol's pixels are
fixed up to sub-pixel placement. Rendering each symbol alone, in a slot next to a marker that
shows the baseline, gives clean, correctly labelled templates at display, text (big operators),
script and scriptscript sizes, with two sub-pixel offsets, without any alignment errors.

Each slot is ``MARKER \\hspace \\raisebox{dy}{$\\STYLE glyph$}``; the marker is a solid
3pt x 8pt block hanging from the baseline, so its top row is the baseline row.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from markupeval.baselines.classical.features import FEATURE_DIM, features
from markupeval.baselines.classical.segment import binarise, connected_components, merge_masks
from markupeval.errors import RenderEnvironmentError

log = logging.getLogger("markupeval")

GLYPH_SET_VERSION = "1"
PX_PER_PT = 200 / 72.27
# Style -> (TeX style command, font size in pt inside a 12pt displaymath).
STYLES = {
    "D": (r"\displaystyle", 12.0),
    "T": (r"\textstyle", 12.0),
    "S": (r"\scriptstyle", 8.0),
    "SS": (r"\scriptscriptstyle", 6.0),
}
STYLE_CODES = {"D": 0, "T": 0, "S": 1, "SS": 2}  # size class: 0 main, 1 script, 2 scriptscript
EM_PX = {0: 12.0 * PX_PER_PT, 1: 8.0 * PX_PER_PT, 2: 6.0 * PX_PER_PT}
# Sub-pixel offsets (dx, dy) in pt: the rasteriser's "any coverage is ink" rule makes a glyph's
# pixels depend on where it falls on the pixel grid (1 px = 0.36pt).
OFFSETS = ((0.0, 0.0), (0.18, 0.18), (0.09, 0.27), (0.27, 0.09))
SLOTS_PER_RENDER = 10
MARKER = r"\rule[-8pt]{3pt}{8pt}"

KINDS = ("sym", "upright", "accent", "bigop", "delim")

# Glyphs with several spellings (\le / \leq, \to / \rightarrow, | / \vert / \mid, \perp / \bot)
# are listed once, under the spelling the training and validation gold use most.
GREEK_AND_SYMBOLS = r"""
\alpha \beta \gamma \delta \epsilon \varepsilon \zeta \eta \theta \vartheta \iota \kappa \lambda
\mu \nu \xi \pi \varpi \rho \varrho \sigma \varsigma \tau \upsilon \phi \varphi \chi \psi \omega
\Gamma \Delta \Theta \Lambda \Xi \Pi \Sigma \Upsilon \Phi \Psi \Omega
\aleph \hbar \imath \jmath \ell \wp \Re \Im \partial \infty \prime \emptyset \nabla \top
\forall \exists \triangle \flat \natural \sharp \diamondsuit \S \P \dagger \ddagger
\pounds \pm \mp \times \setminus \cdot \ast \star \circ \bullet \cap \cup \sqcap \sqcup \vee
\wedge \oplus \ominus \otimes \oslash \odot \diamond \amalg \bigtriangleup
\bigtriangledown \triangleright \triangleleft \leq \geq \equiv \prec \succ \preceq \succeq \sim
\simeq \ll \gg \asymp \subset \supset \subseteq \supseteq \approx \cong \in \ni \notin \neq
\vdash \smile \parallel \perp \propto \doteq \leftarrow \rightarrow \leftrightarrow
\Rightarrow \Leftrightarrow \Longrightarrow \Longleftarrow \Longleftrightarrow \longrightarrow
\longleftarrow \longleftrightarrow \mapsto \longmapsto \hookrightarrow \rightharpoonup
\rightleftharpoons \uparrow \downarrow \Downarrow \nearrow \searrow \vdots \ddots \cdots \ldots
\langle \rangle \lceil \lfloor \rfloor \backslash \| \{ \} \# \& \%
"""
PUNCTUATION = list("!()*+,-./:;<=>?@[]|") + ['"', "`"]
BIG_OPERATORS = r"\sum \prod \coprod \int \oint \smallint \bigcup \bigcap \bigoplus \bigotimes \bigwedge \bigsqcup".split()
ACCENTS = r"\hat \bar \tilde \vec \dot \ddot \check \breve \acute \grave".split()
WIDE_ACCENTS = r"\widehat \widetilde".split()
# Opening/closing delimiters with their \left / \right token forms in the gold's conventions.
DELIMITERS = {
    "(": ("(", r"\left(", r"\right)"), ")": (")", r"\left(", r"\right)"),
    "[": ("[", r"\left[", r"\right]"), "]": ("]", r"\left[", r"\right]"),
    r"\{": (r"\{", r"\left\{", r"\right\}"), r"\}": (r"\}", r"\left\{", r"\right\}"),
    "|": ("|", r"\left|", r"\right|"), r"\|": (r"\|", r"\left\|", r"\right\|"),
    r"\langle": (r"\langle", r"\left\langle", r"\right\rangle"),
    r"\rangle": (r"\rangle", r"\left\langle", r"\right\rangle"),
}
OPENING = {"(", "[", r"\{", r"\langle"}
DELIMITER_SIZES = (r"\big", r"\Big", r"\bigg", r"\Bigg")
TALL_DELIMITER_PT = (36, 54, 80)


@dataclass(frozen=True)
class GlyphSpec:
    """One template source: its label (gold tokens), TeX source, kind and styles."""

    label: tuple[str, ...]
    source: str
    kind: str
    styles: tuple[str, ...] = ("D", "S", "SS")


def glyph_specs() -> list[GlyphSpec]:
    """Every template source, in a fixed order (its hash names the cache file)."""
    specs: list[GlyphSpec] = []
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    digits = [str(d) for d in range(10)]
    for ch in letters:
        specs.append(GlyphSpec((ch,), ch, "sym"))
        specs.append(GlyphSpec((r"\mathrm", ch), rf"\mathrm{{{ch}}}", "upright"))
        specs.append(GlyphSpec(("{", r"\bf", ch, "}"), rf"\mathbf{{{ch}}}", "sym"))
        if ch.isupper():
            specs.append(GlyphSpec(("{", r"\cal", ch, "}"), rf"\mathcal{{{ch}}}", "sym"))
    for stem, src in (("i", r"\textrm{\i}"), ("j", r"\textrm{\j}")):
        # The roman i and j without their dot, for when the dot is not merged back.
        specs.append(GlyphSpec((r"\mathrm", stem), src, "upright"))
    for lig in ("ff", "fi", "fl", "ffi", "ffl"):
        # Roman text joins these into one ligature glyph (\mathrm { e f f }).
        specs.append(GlyphSpec((r"\mathrm", *lig), rf"\mathrm{{{lig}}}", "upright"))
    for d in digits:
        specs.append(GlyphSpec((d,), d, "sym"))
        specs.append(GlyphSpec(("{", r"\bf", d, "}"), rf"\mathbf{{{d}}}", "sym"))
    for p in PUNCTUATION:
        specs.append(GlyphSpec((p,), p, "delim" if p in DELIMITERS else "sym"))
    for tok in GREEK_AND_SYMBOLS.split():
        specs.append(GlyphSpec((tok,), tok, "delim" if tok in DELIMITERS else "sym"))
    for tok in BIG_OPERATORS:
        specs.append(GlyphSpec((tok,), tok, "bigop", ("D", "T", "S", "SS")))
    for tok in ACCENTS:
        specs.append(GlyphSpec((tok,), tok + r"{\phantom{x}}", "accent"))
    for tok in WIDE_ACCENTS:
        specs.append(GlyphSpec((tok,), tok + r"{\phantom{xyz}}", "accent", ("D", "S")))
    for tok in DELIMITERS:
        side = "l" if tok in OPENING else "r"
        for size in DELIMITER_SIZES:
            specs.append(GlyphSpec((tok,), f"{size}{side} {tok}", "delim", ("D",)))
        for height in TALL_DELIMITER_PT:
            strut = rf"\rule[-{height / 2 - 3:g}pt]{{0pt}}{{{height:g}pt}}"
            src = rf"\left{tok} {strut} \right." if side == "l" else rf"\left. {strut} \right{tok}"
            specs.append(GlyphSpec((tok,), src, "delim", ("D",)))
    return specs


def specs_hash(specs: Sequence[GlyphSpec]) -> str:
    blob = json.dumps([GLYPH_SET_VERSION, OFFSETS, MARKER, [(s.label, s.source, s.kind, s.styles) for s in specs]])
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class GlyphSet:
    """Template matrix and per-template metadata (arrays indexed by template)."""

    features: np.ndarray  # (n, FEATURE_DIM) float32
    label: np.ndarray  # (n,) index into labels
    kind: np.ndarray  # (n,) index into KINDS
    size_class: np.ndarray  # (n,) 0 main, 1 script, 2 scriptscript
    height: np.ndarray  # (n,) px
    descent: np.ndarray  # (n,) px from the baseline row down to the bottom row (negative: above)
    parts: np.ndarray  # (n,) connected components in the template
    labels: list[tuple[str, ...]]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp, features=self.features, label=self.label, kind=self.kind, size_class=self.size_class,
            height=self.height, descent=self.descent, parts=self.parts,
            labels=np.array(json.dumps([list(lab) for lab in self.labels])),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> "GlyphSet":
        with np.load(path) as z:
            labels = [tuple(lab) for lab in json.loads(str(z["labels"]))]
            return cls(z["features"], z["label"], z["kind"], z["size_class"], z["height"], z["descent"], z["parts"], labels)


def _slot(source: str, style: str, dx: float, dy: float) -> str:
    return rf"{MARKER}\hspace{{{4 + dx:g}pt}}\raisebox{{{dy:g}pt}}{{${STYLES[style][0]} {source}$}}\hspace{{14pt}}"


def _is_marker(c) -> bool:
    # 3pt x 8pt at 200 dpi is 8.3 x 22.1 px; a solid block, unlike any glyph of the vocabulary.
    return 7 <= c.width <= 10 and 21 <= c.height <= 24 and c.mask.mean() > 0.97


def harvest(image: np.ndarray, n_slots: int) -> list[tuple[object, int, int] | None]:
    """Split one render into its slots: (merged glyph component, baseline row, parts) per slot."""
    comps = connected_components(binarise(image))
    markers = [c for c in comps if _is_marker(c)]
    if len(markers) != n_slots:
        return [None] * n_slots
    out: list[tuple[object, int, int] | None] = []
    for k, marker in enumerate(markers):
        end = markers[k + 1].left if k + 1 < n_slots else image.shape[1] + 1
        parts = [c for c in comps if marker.right <= c.left < end and not _is_marker(c)]
        out.append((merge_masks(parts), marker.top, len(parts)) if parts else None)
    return out


RenderFn = Callable[[Sequence[str]], list]


def project_renderer(workers: int | None = None):
    """The evaluation's renderer (im2markup template): templates must be drawn by the same code."""
    from markupeval.rendering import Renderer  # imported lazily: only building needs TeX

    return Renderer(template="im2markup", cache=False, workers=workers)


def build_glyph_set(render_fn: RenderFn) -> GlyphSet:
    """Render every template source and harvest its glyphs (about a minute of pdflatex)."""
    specs = glyph_specs()
    jobs = [(s, style, dx, dy) for s in specs for style in s.styles for dx, dy in OFFSETS]
    formulas, slices = [], []
    for start in range(0, len(jobs), SLOTS_PER_RENDER):
        chunk = jobs[start : start + SLOTS_PER_RENDER]
        formulas.append("".join(_slot(s.source, style, dx, dy) for s, style, dx, dy in chunk))
        slices.append(chunk)
    log.info("rendering %d glyph slots in %d formulas", len(jobs), len(formulas))
    results = render_fn(formulas)
    labels: list[tuple[str, ...]] = []
    label_index: dict[tuple[str, ...], int] = {}
    masks, rows = [], []
    dropped: dict[str, int] = {}
    for chunk, result in zip(slices, results):
        ok = result.status == "ok" and result.image is not None
        slots = harvest(result.image, len(chunk)) if ok else [None] * len(chunk)
        for (spec, style, _dx, _dy), slot in zip(chunk, slots):
            if slot is None:
                dropped[spec.source] = dropped.get(spec.source, 0) + 1
                continue
            comp, baseline, parts = slot
            if spec.label not in label_index:
                label_index[spec.label] = len(labels)
                labels.append(spec.label)
            masks.append(comp.mask)
            rows.append((label_index[spec.label], KINDS.index(spec.kind), STYLE_CODES[style], comp.height,
                         (comp.bottom - 1) - baseline, parts))
    if dropped:
        log.warning("glyph set: %d template sources lost a slot: %s", len(dropped), ", ".join(sorted(dropped)[:20]))
    if not rows:
        raise RenderEnvironmentError("glyph set: no template rendered; is the TeX installation working?")
    meta = np.array(rows, dtype=np.int32).reshape(-1, 6)
    return GlyphSet(features(masks).reshape(-1, FEATURE_DIM), meta[:, 0], meta[:, 1], meta[:, 2],
                    meta[:, 3], meta[:, 4], meta[:, 5], labels)


def default_cache_dir() -> Path:
    """``<markupeval cache>/classical`` (``$XDG_CACHE_HOME/markupeval`` or ``~/.cache/markupeval``)."""
    from markupeval.rendering.cache import default_cache_dir as markupeval_cache

    return markupeval_cache() / "classical"


def glyph_set_path(cache_dir: Path | None = None, renderer_key: str = "") -> Path:
    """Cache file named by the glyph specs and the renderer's settings (rasterizer, TeX version)."""
    key = hashlib.sha256((specs_hash(glyph_specs()) + renderer_key).encode()).hexdigest()[:12]
    return (cache_dir or default_cache_dir()) / f"glyphs-{key}.npz"


def load_or_build(cache_dir: Path | None = None, rebuild: bool = False, workers: int | None = None) -> tuple[GlyphSet, Path]:
    """The cached glyph set, built with the project renderer on first use (the baseline's "training")."""
    renderer = project_renderer(workers)
    path = glyph_set_path(cache_dir, str(renderer.signature()))
    if path.exists() and not rebuild:
        return GlyphSet.load(path), path
    glyphs = build_glyph_set(renderer.render)
    glyphs.save(path)
    log.info("glyph set: %d templates of %d labels cached in %s", len(glyphs.label), len(glyphs.labels), path)
    return glyphs, path
