"""What CDM's Ghostscript step costs by output device: the evidence that ``pngalpha`` stays.

CDM finds a token by its exact colour at any coverage, which Ghostscript's ``pngalpha`` gives (the
coverage goes to alpha). About half of a cold ``score --cdm`` run's Ghostscript time could be PNG
encoding, so this script typesets real coloured gold formulas as one batch (the ``cdm-a5``
template, as ``TokenBoxRenderer`` does), crops every page to its ink as the colour rasteriser does,
and times one Ghostscript call over all pages per device, against ``pngalpha`` in the same run
(the best of ``--repeat`` runs, CPU seconds of the child). It also checks whether each PNG device
writes the same pixels as ``pngalpha``: a device that is faster but loses the alpha, or changes a
pixel, cannot replace it.

    .venv/bin/python benchmarks/cdm_ghostscript_devices.py [--formulas 200] [--repeat 3]

Measured (2026-12, 2-core machine, ``--formulas 100``): ``pngalpha`` 0.61 CPU-s; ``png16malpha``
the same pixels at the same cost; ``png16m`` 0.93x (no alpha); ``ppmraw`` 0.57x (no alpha:
partial coverage blends into the white page, so colours are no longer exact); ``nullpage`` 0.34x
(interpretation only, no page written).
``perf`` on the ``pngalpha`` run: libz 20 %, libpng 14 %.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium

from markupeval.rendering.batch import is_hazardous
from markupeval.rendering.colour import colour_formula
from markupeval.rendering.rasterize import (_object_bounds, _run_ghostscript, _split_png_stream, ink_region,
                                            page_pixels)
from markupeval.rendering.sandbox import sandbox_env
from markupeval.rendering.templates import load_template

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEVICES = ("pngalpha", "png16malpha", "png16m", "ppmraw", "nullpage")
DPI = 200


def typeset(formulas: list[str], workdir: Path) -> Path:
    """One pdflatex run over the coloured formulas (one page each) in the ``cdm-a5`` template."""
    (workdir / "b.tex").write_text(load_template("cdm-a5").batch(formulas, "0000"), encoding="utf-8")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-no-shell-escape", "b.tex"], cwd=workdir,
                   env=sandbox_env(workdir), stdin=subprocess.DEVNULL, capture_output=True, timeout=600)
    return workdir / "b.pdf"


def set_ink_cropboxes(pdf: Path, out: Path) -> int:
    """Give every page a crop box around its ink on the 200-dpi pixel grid, as the colour
    rasteriser does before it calls Ghostscript; returns the number of pages."""
    s = DPI / 72.0
    doc = pdfium.PdfDocument(str(pdf))
    try:
        for page in doc:
            bounds = _object_bounds(page)
            if bounds is None:
                continue
            wpx, hpx = page_pixels(*page.get_size(), DPI)
            x0, y0, x1, y1 = ink_region(bounds, DPI, wpx, hpx)
            page.set_cropbox(x0 / s, (hpx - y1) / s, x1 / s, (hpx - y0) / s)
        doc.save(str(out))
        return len(doc)
    finally:
        doc.close()


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, default=DATA / "im2latex100k" / "tgt-test-old.txt")
    parser.add_argument("--formulas", type=int, default=200, help="coloured gold formulas to typeset")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    forms = []
    for formula in args.gold.read_text(encoding="utf-8").splitlines():
        coloured = colour_formula(formula) if formula else None
        if coloured is not None and coloured.ok and coloured.paper == 5 and not is_hazardous(coloured.typeset):
            forms.append(coloured.typeset)
        if len(forms) == args.formulas:
            break
    with tempfile.TemporaryDirectory(prefix="markupeval-gsdev-") as tmp:
        work = Path(tmp)
        cropped = work / "cropped.pdf"
        pages = set_ink_cropboxes(typeset(forms, work), cropped)
        cost: dict[str, float] = {}
        output: dict[str, bytes] = {}
        for device in DEVICES:
            best = math.inf
            for _ in range(args.repeat):
                before = child_cpu()
                proc = _run_ghostscript(cropped, list(range(pages)), device, DPI, True)
                best = min(best, child_cpu() - before)
            cost[device], output[device] = best, proc.stdout
    reference = _split_png_stream(output["pngalpha"])
    print(f"{pages} pages of coloured gold formulas, one Ghostscript call each, best of {args.repeat}")
    for device in DEVICES:
        same = ""
        if device.startswith("png"):
            images = _split_png_stream(output[device])
            alpha = output[device][25] in (4, 6)  # IHDR colour type: grey or RGB with alpha
            identical = len(images) == len(reference) and all(
                a.shape == b.shape and np.array_equal(a, b) for a, b in zip(images, reference))
            same = f"  pixels identical to pngalpha: {identical}" + ("" if alpha else " (no alpha)")
        print(f"  {device:12s} {cost[device]:6.2f} CPU-s  {cost[device] / cost['pngalpha']:5.2f}x pngalpha{same}")


if __name__ == "__main__":
    main()
