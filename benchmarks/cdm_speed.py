"""CDM speed: markupeval's CDM against an official-equivalent pipeline, on the same real pairs, in one run.

The reference does per formula what the official ``cdm/`` code (opendatalab/UniMERNet) does, with
the same programs: a document of its own per formula and one ``pdflatex`` process for it (no
preloaded format), Ghostscript ``pngalpha`` on the whole page at 200 dpi into a PNG file (what
ImageMagick's ``magick -density 200`` delegates to; ImageMagick's own re-encoding is left out),
the crop with an 8 px pad saved back, one full-image comparison per token colour for the boxes,
the box picture; per pair the matcher with its Python-level token ids, and
``skimage.measure.ransac`` itself each round. It leaves out the official Node.js tokenizer run per
formula (markupeval's tokenizer serves both), so it is faster than the official code; the official
code was measured at 0.55 s per pair on 2 cores. Both sides use the same number of processes
and no cache, and their per-pair F1 values are compared.

Pairs: the first N test items of a real model's predictions (``results65_100.txt``: image, gold,
prediction).

    nice .venv/bin/python benchmarks/cdm_speed.py [--pairs 400] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import warnings
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from markupeval.cdm_scoring import score_cdm
from markupeval.metrics.cdm import equivalent_form
from markupeval.rendering.boxes import upgreek_installed
from markupeval.rendering.colour import colour_formula, palette_colour
from markupeval.rendering.templates import load_template

RESULTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "predictions" / "results65_100.txt"
OFFICIAL_SECONDS_PER_PAIR = 0.55


def _document(latex: str, paper: int) -> str:
    t = load_template(f"cdm-a{paper}")
    preamble = t.preamble.replace("\\IfFileExists{upgreek.sty}{\\usepackage{upgreek}}{}",
                                  "\\usepackage{upgreek}" if upgreek_installed() else "")
    # The official preamble: without markupeval's named palette (ColouredFormula.typeset), which
    # would cost this per-formula document 5,831 colour definitions.
    preamble = re.sub(r"% CDM's palette as named colours.*?\\makeatother\n", "", preamble, flags=re.S)
    return preamble + t.body.replace("%<formula>", latex) + "\\end{document}\n"


def reference_boxes(formula: str) -> tuple[list[dict], tuple[int, int]] | None:
    """One formula the official way: (boxes with tokens, image size), None without a render."""
    c = colour_formula(formula)
    if not c.ok:
        return None
    with tempfile.TemporaryDirectory(prefix="cdm-ref-") as tmp:
        tex = Path(tmp) / "f.tex"
        tex.write_text(_document(c.latex, c.paper) + "\n", encoding="utf-8")
        try:
            subprocess.run(["pdflatex", "-interaction=nonstopmode", f"-output-directory={tmp}", str(tex)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30, cwd=tmp)
        except subprocess.TimeoutExpired:
            return None
        pdf = tex.with_suffix(".pdf")
        if not pdf.exists():
            return None
        png = Path(tmp) / "f_base.png"
        subprocess.run(["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pngalpha", "-r200",
                        "-dTextAlphaBits=4", "-dGraphicsAlphaBits=4", f"-sOutputFile={png}", str(pdf)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        data = np.asarray(Image.open(png).convert("L"))
        ys, xs = np.nonzero(data != 255)
        box = (0, 0, 10, 10) if len(ys) == 0 else (xs.min(), ys.min(), xs.max(), ys.max())
        Image.open(png).convert("RGB").crop((box[0] - 8, box[1] - 8, box[2] + 8, box[3] + 8)).save(png)
        img = np.asarray(Image.open(png).convert("RGB"))
        out = []
        for k, token in enumerate(c.tokens):
            coords = np.argwhere(np.all(img == np.array(palette_colour(k), np.uint8), axis=2))
            if coords.size:
                out.append({"token": token, "bbox": [int(coords[:, 1].min() - 1), int(coords[:, 0].min() - 1),
                                                     int(coords[:, 1].max() + 1), int(coords[:, 0].max() + 1)]})
        vis = Image.fromarray(img).copy()
        draw = ImageDraw.Draw(vis)
        for b in out:
            draw.rectangle(b["bbox"], outline=(0, 250, 0), width=1)
        vis.save(Path(tmp) / "f.png")
        return out, (img.shape[1], img.shape[0])


class _Model:
    """The official translation-and-scale model, in skimage's protocol."""

    def __init__(self) -> None:
        self.translation, self.scale = np.zeros(2), 1.0

    @classmethod
    def from_estimate(cls, src, dst):
        m = cls()
        m.estimate(src, dst)
        return m

    def estimate(self, src, dst) -> bool:
        sc, dc = np.mean(src, axis=0), np.mean(dst, axis=0)
        self.translation = dc - sc
        self.scale = np.mean(np.linalg.norm(dst - dc, axis=1)) / (np.mean(np.linalg.norm(src - sc, axis=1)) + 1e-10)
        return True

    def residuals(self, src, dst):
        c = np.mean(src, axis=0)
        return np.sqrt(np.sum((self.scale * (src - c) + c + self.translation - dst) ** 2, axis=1))

    def __bool__(self) -> bool:
        return True


def reference_pair(gt, pred) -> float | None:
    """The official evaluation of one pair from its boxes (F1, None when the gold is excluded)."""
    from skimage.measure import ransac

    if gt is None or not gt[0]:
        return None
    if pred is None or not pred[0]:
        return 0.0
    (bg, sg), (bp, sp) = gt, pred
    ids: dict[str, int] = {}
    ids_n: dict[str, int] = {}
    for d in bg + bp:
        ids.setdefault(d["token"], len(ids))
        ids_n.setdefault(equivalent_form(d["token"]), len(ids_n))
    g_id = np.array([ids[d["token"]] for d in bg])
    g_nid = np.array([ids_n[equivalent_form(d["token"])] for d in bg])
    p_onehot = np.array([[int(ids[d["token"]] == k) for k in range(len(ids))] for d in bp])
    p_nonehot = np.array([[int(ids_n[equivalent_form(d["token"])] == k) for k in range(len(ids_n))] for d in bp])
    tok = 1.0 - p_onehot[:, g_id]
    ntok = 1.0 - p_nonehot[:, g_nid]
    tok[(tok == 1) & (ntok == 0)] = 0.05
    tok = tok.T
    arr_g = np.array([[b["bbox"][0] / sg[0], b["bbox"][1] / sg[1], b["bbox"][2] / sg[0], b["bbox"][3] / sg[1]] for b in bg])
    arr_p = np.array([[b["bbox"][0] / sp[0], b["bbox"][1] / sp[1], b["bbox"][2] / sp[0], b["bbox"][3] / sp[1]] for b in bp])
    pos = cdist(arr_g, arr_p, "minkowski", p=1) / 4
    order = cdist(np.array([[i / len(bg)] for i in range(len(bg))]), np.array([[i / len(bp)] for i in range(len(bp))]),
                  "minkowski", p=1)
    cost = tok + 0.05 * pos + 0.15 * order
    pairs = list(zip(*linear_sum_assignment(cost)))
    src = np.array([[(bg[a]["bbox"][1] + bg[a]["bbox"][3]) / 2, (bg[a]["bbox"][0] + bg[a]["bbox"][2]) / 2] for a, _ in pairs])
    dst = np.array([[(bp[b]["bbox"][1] + bp[b]["bbox"][3]) / 2, (bp[b]["bbox"][0] + bp[b]["bbox"][2]) / 2] for _, b in pairs])
    if len(src) <= 2:
        inl = np.ones(len(pairs), bool)
    else:
        inl = np.zeros(len(pairs), bool)
        for _ in range(5):
            rest = np.flatnonzero(~inl)
            if len(rest) <= 2:
                break
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, found = ransac((src[rest], dst[rest]), _Model, min_samples=2, residual_threshold=20, max_trials=50,
                                  rng=42)
            if found is None or not found.any():
                break
            inl[rest[found]] = True
            if inl.sum() >= len(pairs):
                break
    for k, (a, b) in enumerate(pairs):
        if inl[k] and tok[a, b] == 1:
            inl[k] = False
    m = int(inl.sum())
    return round(2 * m / (len(bg) + len(bp)), 3)


def _ref_pair_job(args):
    g, p = args
    return reference_pair(g, p)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--pairs", type=int, default=400)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--reference-pairs", type=int, default=None,
                        help="time the official-equivalent pipeline on the first N pairs only (default: all), "
                             "compared per pair")
    args = parser.parse_args()
    rows = [line.split("\t") for line in args.results.read_text(encoding="utf-8").splitlines()][: args.pairs]
    gold, pred = [r[1] for r in rows], [r[2] for r in rows]
    n = len(rows)
    print(f"{n} real pairs from {args.results.name}, {args.workers} processes, load {os.getloadavg()[0]:.1f}")

    t0 = time.perf_counter()
    ours = score_cdm(gold, pred, render_options={"workers": args.workers, "cache": False})
    t_ours = time.perf_counter() - t0
    print(f"markupeval CDM          {t_ours:8.1f} s  {t_ours / n * 1000:7.1f} ms/pair  "
          f"(mean F1 {ours.scores['cdm_f1'].value:.4f})")

    m = min(n, args.reference_pairs or n)
    t0 = time.perf_counter()
    with Pool(args.workers) as pool:
        boxes = pool.map(reference_boxes, gold[:m] + pred[:m], chunksize=2)
        ref = pool.map(_ref_pair_job, list(zip(boxes[:m], boxes[m:])), chunksize=8)
    t_ref = time.perf_counter() - t0
    counted = [f for f in ref if f is not None]
    print(f"official-equivalent     {t_ref:8.1f} s  {t_ref / m * 1000:7.1f} ms/pair  on the first {m} pairs "
          f"(mean F1 {np.mean(counted):.4f})")

    same = sum(1 for a, b in zip(ours.results[:m], ref) if a.f1 == b)
    print(f"per-pair F1 identical   {same} of {m}")
    print(f"speed-up vs official-equivalent (same run, per pair)   {(t_ref / m) / (t_ours / n):6.1f}x")
    print(f"speed-up vs official measured 0.55 s/pair    {OFFICIAL_SECONDS_PER_PAIR * n / t_ours:6.1f}x (target >= 20x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
