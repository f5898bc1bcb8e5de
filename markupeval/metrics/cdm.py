"""CDM, Character Detection Matching (Wang et al., CVPR 2025; opendatalab/UniMERNet ``cdm/``).

Gold and prediction are rendered with one colour per token (:mod:`markupeval.rendering.boxes`);
their token boxes are matched one to one with the Hungarian algorithm on

    cost = 1 * token + 0.05 * position + 0.15 * order

(token: 0 for equal tokens, 0.05 for tokens equal after the equivalence table, else 1; position:
L1 distance of the boxes normalised by the image size, / 4; order: |i/n_gt - j/n_pred|), the
matches are checked for a consistent layout by up to 5 rounds of RANSAC with a translation-and-
scale model on box centres (min 2 samples, 20 px, 50 trials, seed 42; skipped with <= 2 matches),
and the matches that pass and whose tokens are not different count. Per pair: recall, precision
and F1 = 2m / (n_gt + n_pred), each rounded to 3 decimals; over a corpus: the mean F1 and
ExpRate@CDM, the share of pairs with F1 = 1.

Policies: a gold without any box (it does not render, or nothing of it is visible) is excluded
from both means, counted and listed (the official code drops it silently); a prediction without
any box, or a missing prediction, scores 0.

Variants (:data:`VARIANTS`): ``official`` reproduces the official numbers, quirks included;
``fixed`` corrects what is a bug there (see :class:`CDMConfig`). The variant is in the signature.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist
from skimage.measure import ransac

from markupeval.metrics.base import Metric, Score, Signature

#: Version of the token equivalence table (:func:`equivalent_form`), recorded in the signature.
EQUIVALENCE_VERSION = "cdm-2025.09"
VARIANTS = ("official", "fixed")

# The official table. Its key "\neq" appears twice and the later value wins, so "\neq" -> "\not="
# and "\ne" stays "\ne": they do not count as equal (the 'official' variant keeps that).
_TABLE = {
    "\\dot": ".", "\\Dot": ".", "\\cdot": ".", "\\cdotp": ".", "\\ldotp": ".", "\\mid": "|",
    "\\rightarrow": "\\to", "\\top": "T", "\\Tilde": "\\tilde", "\\prime": "'", "\\ast": "*",
    "\\left<": "\\langle", "\\right>": "\\rangle", "\\lbrace": "\\{", "\\rbrace": "\\}", "\\lbrack": "[",
    "\\rbrack": "]", "\\blackslash": "/", "\\slash": "/", "\\leq": "\\le", "\\geq": "\\ge", "\\neq": "\\not=",
    "\\Vert": "\\|", "\\lVert": "\\|", "\\rVert": "\\|", "\\vert": "|", "\\lvert": "|", "\\rvert": "|",
    "\\colon": ":", "\\Ddot": "\\ddot", "\\Bar": "\\bar", "\\Vec": "\\vec", "\\parallel": "\\|",
    "\\dag": "\\dagger", "\\ddag": "\\ddagger", "\\textlangle": "<", "\\textrangle": ">",
    "\\textgreater": ">", "\\textless": "<", "\\textbackslash": "n", "\\textunderscore": "_", "\\=": "_",
    "\\neg": "\\lnot",
}
# The fix: the entry the table's author wrote first, and \not= with it.
_FIXED_TABLE = {**_TABLE, "\\neq": "\\ne", "\\not=": "\\ne"}


def equivalent_form(token: str, variant: str = "official") -> str:
    """A token's class under CDM's equivalence table (``\\left(`` -> ``(``, ``\\leq`` -> ``\\le`` ...)."""
    table = _FIXED_TABLE if variant == "fixed" else _TABLE
    if token.startswith("\\left") or token.startswith("\\right"):
        if "arrow" not in token and "<" not in token and ">" not in token and "harpoon" not in token:
            token = token.replace("\\left", "").replace("\\right", "")
    if token.startswith("\\big") or token.startswith("\\Big"):
        token = "\\" + token[4:].split("\\")[-1] if "\\" in token[4:] else token[-1]
    token = table.get(token, token)
    if token.startswith("\\wide"):
        return token.replace("wide", "")
    if token.startswith("\\var"):
        return token.replace("var", "")
    if token.startswith("\\string"):
        return token.replace("\\string", "")
    return token


@dataclass(frozen=True)
class CDMConfig:
    """Every setting of the matching; the defaults are the official ones.

    ``fixed`` mends three bugs of the official code: its equivalence table's duplicate ``\\neq``
    key (``\\ne`` vs ``\\neq`` scores 0.667), the layout check it skips with two matches or fewer
    (``x_{i}`` vs ``x^{i}`` scores 1.0), and its normalizer's comment rule, which ends a formula at
    its first ``%``, ``\\%`` included (:attr:`comments`, passed to the renderer).
    """

    variant: str = "official"
    cost_token: float = 1.0
    cost_position: float = 0.05
    cost_order: float = 0.15
    equivalent_cost: float = 0.05  # token cost of tokens equal after the table
    ransac_rounds: int = 5
    min_samples: int = 2
    residual_threshold: float = 20.0
    max_trials: int = 50
    seed: int = 42

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown CDM variant {self.variant!r}; known: {', '.join(VARIANTS)}")

    @property
    def comments(self) -> str:
        """Where the renderer starts a formula's comment (``TokenBoxRenderer(comments=...)``): the
        official normalizer ends a formula at its first ``%``, ``\\%`` included, a bug ``fixed`` mends."""
        return "unescaped-percent" if self.variant == "fixed" else "any-percent"

    def signature_items(self) -> list[tuple[str, object]]:
        return [
            ("cdm_variant", self.variant),
            ("cdm_table", f"{EQUIVALENCE_VERSION}{'+neq-fix' if self.variant == 'fixed' else ''}"),
            ("cdm_cost", f"tok{self.cost_token:g}/eq{self.equivalent_cost:g}+pos{self.cost_position:g}"
                         f"+ord{self.cost_order:g}"),
            ("cdm_ransac", f"{self.ransac_rounds}x-min{self.min_samples}-{self.residual_threshold:g}px-"
                           f"{self.max_trials}trials-seed{self.seed}"
                           f"{'-pair-check' if self.variant == 'fixed' else '-skip-le2'}"),
            ("cdm_gold_failed", "excluded-listed"),
            ("cdm_pred_failed", "zero"),
        ]


@dataclass(frozen=True)
class CDMResult:
    """One pair's CDM. ``status``: ``scored``, ``pred_not_rendered_scored_zero`` or
    ``gt_not_rendered_excluded``. Recall, precision and F1 are None for an excluded pair.

    ``gt_matched`` / ``pred_matched`` flag, per box, whether the token counts as matched (the
    report draws them); ``pairs`` are the Hungarian pairs (gold box, predicted box).
    """

    status: str
    recall: float | None
    precision: float | None
    f1: float | None
    n_gt: int
    n_pred: int
    matched: int = 0
    gt_matched: tuple[bool, ...] = ()
    pred_matched: tuple[bool, ...] = ()
    pairs: tuple[tuple[int, int], ...] = ()

    @property
    def counted(self) -> bool:
        return self.status != "gt_not_rendered_excluded"

    @property
    def hit(self) -> bool:
        return self.f1 == 1


def token_cost(gt: Sequence[str], pred: Sequence[str], config: CDMConfig = CDMConfig()) -> np.ndarray:
    """``(n_gt, n_pred)``: 0 for equal tokens, ``equivalent_cost`` for equivalent ones, else 1."""
    g = np.array(gt, dtype=object)[:, None]
    p = np.array(pred, dtype=object)[None, :]
    cost = np.where(g == p, 0.0, 1.0)
    gn = np.array([equivalent_form(t, config.variant) for t in gt], dtype=object)[:, None]
    pn = np.array([equivalent_form(t, config.variant) for t in pred], dtype=object)[None, :]
    cost[(cost == 1) & (gn == pn)] = config.equivalent_cost
    return cost


def match_boxes(
    gt_tokens: Sequence[str], gt_boxes: np.ndarray, gt_size: tuple[int, int],
    pred_tokens: Sequence[str], pred_boxes: np.ndarray, pred_size: tuple[int, int],
    config: CDMConfig = CDMConfig(),
) -> tuple[np.ndarray, np.ndarray]:
    """Hungarian matching: (pairs ``(k, 2)`` of gold and predicted box indices, token cost matrix)."""
    tok = token_cost(gt_tokens, pred_tokens, config)
    scale_g = np.array([gt_size[0], gt_size[1], gt_size[0], gt_size[1]], dtype=np.float64)
    scale_p = np.array([pred_size[0], pred_size[1], pred_size[0], pred_size[1]], dtype=np.float64)
    position = cdist(gt_boxes / scale_g, pred_boxes / scale_p, "minkowski", p=1) / 4
    n_g, n_p = len(gt_tokens), len(pred_tokens)
    order = cdist((np.arange(n_g) / n_g)[:, None], (np.arange(n_p) / n_p)[:, None], "minkowski", p=1)
    cost = config.cost_token * tok + config.cost_position * position + config.cost_order * order
    cost[np.isnan(cost) | np.isinf(cost)] = 100
    rows, cols = linear_sum_assignment(cost)
    return np.stack([rows, cols], axis=1), tok


# --- RANSAC ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranslationScale:
    """CDM's layout model, in scikit-image's RANSAC model protocol.

    The official model's quirk is kept: it scales about the centroid of the points it is applied
    to (all of the data when residuals are computed), not about the sample's centroid.
    """

    translation: np.ndarray
    scale: float

    # RANSAC calls these ~10 times per pair on a handful of points, so numpy's Python-level
    # wrappers (np.mean, np.linalg.norm) cost more than the arithmetic. The ufunc reductions below
    # are the ones those wrappers run, in the same order: the values are the same bit for bit
    # (tests/test_cdm.py checks them against the official model).

    @classmethod
    def from_estimate(cls, src: np.ndarray, dst: np.ndarray) -> "TranslationScale":
        n = len(src)
        src_c, dst_c = _add(src, axis=0) / n, _add(dst, axis=0) / n
        ds, ss = dst - dst_c, src - src_c
        scale = (_add(np.sqrt(_add(ds * ds, axis=1))) / n) / (_add(np.sqrt(_add(ss * ss, axis=1))) / n + 1e-10)
        return cls(dst_c - src_c, float(scale))

    def residuals(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        centre = _add(src, axis=0) / len(src)
        d = self.scale * (src - centre) + centre + self.translation - dst
        return np.sqrt(_add(d * d, axis=1))


_add = np.add.reduce


def ransac_inliers(src: np.ndarray, dst: np.ndarray, config: CDMConfig = CDMConfig()) -> np.ndarray | None:
    """Inliers of one call of ``skimage.measure.ransac``, as the official code makes it (None: no inlier).

    The official code leaves the generator unseeded; a fresh one seeded ``config.seed`` per call
    makes a pair's score independent of the order and process it is scored in.
    """
    with warnings.catch_warnings():
        # No inlier at all ends the rounds (see geometric_inliers): an answer, not a problem.
        warnings.filterwarnings("ignore", message="No inliers found", category=UserWarning)
        _, inliers = ransac(
            (src, dst), TranslationScale, min_samples=config.min_samples,
            residual_threshold=config.residual_threshold, max_trials=config.max_trials, rng=config.seed,
        )
    if inliers is None or not inliers.any():
        return None
    return inliers


def geometric_inliers(src: np.ndarray, dst: np.ndarray, config: CDMConfig = CDMConfig()) -> np.ndarray:
    """Which matched pairs have a consistent layout: the official rounds of RANSAC.

    ``src``/``dst``: ``(m, 2)`` box centres (y, x) of the matched gold and predicted tokens.
    """
    m = len(src)
    if m <= config.min_samples:
        if config.variant == "fixed" and m == 2:
            # Two matches leave RANSAC nothing to vote with; the fix checks that the second token
            # sits where the first one's offset puts it (same scale: both renders are 200 dpi).
            off = (dst[1] - dst[0]) - (src[1] - src[0])
            return np.full(m, bool(np.sqrt(off.dot(off)) < config.residual_threshold))
        return np.ones(m, dtype=bool)
    inliers = np.zeros(m, dtype=bool)
    for _ in range(config.ransac_rounds):
        rest = np.flatnonzero(~inliers)
        if len(rest) <= config.min_samples:
            break
        found = ransac_inliers(src[rest], dst[rest], config)
        if found is None:
            break
        inliers[rest[found]] = True
        if inliers.sum() >= m:
            break
    return inliers


def score_pair(
    gt_tokens: Sequence[str], gt_boxes: np.ndarray, gt_size: tuple[int, int],
    pred_tokens: Sequence[str] | None, pred_boxes: np.ndarray | None, pred_size: tuple[int, int] | None,
    config: CDMConfig = CDMConfig(),
) -> CDMResult:
    """CDM of one pair from its token boxes (``pred_tokens`` None or empty: no prediction boxes)."""
    n_gt = len(gt_tokens)
    n_pred = len(pred_tokens) if pred_tokens is not None else 0
    if n_gt == 0:
        return CDMResult("gt_not_rendered_excluded", None, None, None, 0, n_pred)
    if n_pred == 0:
        return CDMResult("pred_not_rendered_scored_zero", 0.0, 0.0, 0.0, n_gt, 0,
                         gt_matched=(False,) * n_gt)
    assert pred_boxes is not None and pred_size is not None and pred_tokens is not None
    gt_boxes = np.asarray(gt_boxes, dtype=np.float64)
    pred_boxes = np.asarray(pred_boxes, dtype=np.float64)
    pairs, tok = match_boxes(gt_tokens, gt_boxes, gt_size, pred_tokens, pred_boxes, pred_size, config)
    g, p = pairs[:, 0], pairs[:, 1]
    src = np.stack([(gt_boxes[g, 1] + gt_boxes[g, 3]) / 2, (gt_boxes[g, 0] + gt_boxes[g, 2]) / 2], axis=1)
    dst = np.stack([(pred_boxes[p, 1] + pred_boxes[p, 3]) / 2, (pred_boxes[p, 0] + pred_boxes[p, 2]) / 2], axis=1)
    good = geometric_inliers(src, dst, config) & (tok[g, p] != 1)
    m = int(good.sum())
    gt_flags = np.zeros(n_gt, dtype=bool)
    pred_flags = np.zeros(n_pred, dtype=bool)
    gt_flags[g[good]] = True
    pred_flags[p[good]] = True
    return CDMResult(
        "scored",
        round(m / n_gt, 3),
        round(m / n_pred, 3),
        round(2 * m / (n_gt + n_pred), 3),
        n_gt,
        n_pred,
        m,
        tuple(bool(x) for x in gt_flags),
        tuple(bool(x) for x in pred_flags),
        tuple((int(a), int(b)) for a, b in pairs),
    )


class CDMF1(Metric):
    """Corpus CDM: the mean of the pairs' (rounded) F1 over counted pairs. Stats: f1, counted."""

    name = "cdm_f1"
    stat_names = ("f1", "counted")

    def __init__(self, config: CDMConfig = CDMConfig()) -> None:
        self.config = config

    def stats_of(self, result: CDMResult) -> np.ndarray:
        return np.array([result.f1 or 0.0, float(result.counted)])

    def segment_stats(self, hypothesis: CDMResult, reference: object = None) -> np.ndarray:
        return self.stats_of(hypothesis)

    def score_from_stats(self, totals: np.ndarray) -> Score:
        total, counted = float(totals[0]), float(totals[1])
        return Score(self.name, total / counted if counted else 0.0, {"f1_sum": total, "counted": int(counted)})

    def signature(self) -> Signature:
        return Signature.from_items([("metric", self.name), *self.config.signature_items()])


class CDMExpRate(CDMF1):
    """ExpRate@CDM: the share of counted pairs whose (rounded) F1 is 1. Stats: hit, counted."""

    name = "cdm_exprate"
    stat_names = ("hit", "counted")

    def stats_of(self, result: CDMResult) -> np.ndarray:
        return np.array([float(result.hit), float(result.counted)])

    def score_from_stats(self, totals: np.ndarray) -> Score:
        hits, counted = float(totals[0]), float(totals[1])
        return Score(self.name, hits / counted if counted else 0.0, {"hits": int(hits), "counted": int(counted)})
