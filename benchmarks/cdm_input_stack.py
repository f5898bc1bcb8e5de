"""How deep TeX's input stack goes in CDM's colour renders: the evidence for ``CDM_INPUT_STACK``.

``markupeval.rendering.boxes.CDM_INPUT_STACK`` caps TeX's input stack for CDM's renders, so that a
runaway recursion fails in a second instead of running into the 30-s timeout. The cap must be far
above what any real formula needs. This survey typesets every distinct gold and predicted formula
of the test set, coloured as CDM colours it, in both forms markupeval may typeset (the official
``\\mathcolor[RGB]`` and the named palette), under TeX Live's own stack, and reads the deepest
input stack from each run's log ("Here is how much of TeX's memory you used: <n>i,..."). Formulas
that must be typeset alone are typeset alone; those with a coloured ``\\renewcommand`` (the known
runaway) are skipped and counted. One process, ~5 minutes.

    .venv/bin/python benchmarks/cdm_input_stack.py [--predictions a.txt b.txt]

Measured (2026-12): 19,365 distinct formulas in 303 runs, deepest 57 levels (LaTeX's own baseline),
one timeout (a prediction that loops in plain TeX too), 3 coloured ``\\renewcommand`` skipped.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
from pathlib import Path

from markupeval.rendering.batch import is_hazardous
from markupeval.rendering.boxes import CDM_INPUT_STACK
from markupeval.rendering.colour import colour_formula
from markupeval.rendering.sandbox import sandbox_env
from markupeval.rendering.templates import load_template

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
STATS = re.compile(r"(\d+)i,\d+n,\d+p,\d+b,\d+s stack positions")
BATCH = 1500


def deepest_stack(template: str, formulas: list[str], workdir: Path, timeout: float) -> tuple[int | None, str]:
    """(deepest input stack, outcome) of one pdflatex run over ``formulas`` in the new directory
    ``workdir``, under TeX's own stack."""
    workdir.mkdir()
    (workdir / "b.tex").write_text(load_template(template).batch(formulas, "0000"), encoding="utf-8")
    try:
        proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-no-shell-escape", "b.tex"], cwd=workdir,
                              env=sandbox_env(workdir), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "timeout"
    log = (workdir / "b.log").read_text(encoding="utf-8", errors="replace") if (workdir / "b.log").exists() else ""
    m = STATS.search(log)
    return (int(m.group(1)) if m else None), ("capacity" if "capacity exceeded" in proc.stdout else "ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gold", type=Path, default=DATA / "im2latex100k" / "tgt-test-old.txt")
    parser.add_argument("--predictions", type=Path, nargs="*",
                        default=[DATA / "predictions" / "results65_100.txt", DATA / "predictions" / "resultsT.txt"])
    parser.add_argument("--timeout", type=float, default=40.0)
    args = parser.parse_args()
    formulas = [g for g in args.gold.read_text(encoding="utf-8").splitlines() if g]
    for path in args.predictions:
        formulas += [row.split("\t")[2] for row in path.read_text(encoding="utf-8").splitlines() if row.count("\t") >= 2]
    distinct = list(dict.fromkeys(formulas))
    batches: dict[int, list[str]] = {}
    alone: list[tuple[int, str]] = []
    for formula in distinct:
        coloured = colour_formula(formula)
        if not coloured.ok:
            continue
        for form in {coloured.latex, coloured.typeset}:
            (alone.append((coloured.paper, form)) if is_hazardous(form)
             else batches.setdefault(coloured.paper, []).append(form))
    deepest, outcomes, skipped = 0, {"ok": 0, "capacity": 0, "timeout": 0}, 0
    with tempfile.TemporaryDirectory(prefix="markupeval-stack-") as tmp:
        work = Path(tmp)
        runs = [(paper, forms[k:k + BATCH]) for paper, forms in sorted(batches.items())
                for k in range(0, len(forms), BATCH)]
        for paper, form in alone:
            if "{\\renewcommand}" in form:
                skipped += 1
            else:
                runs.append((paper, [form]))
        for n, (paper, forms) in enumerate(runs):
            depth, outcome = deepest_stack(f"cdm-a{paper}", forms, work / f"run{n}", args.timeout)
            outcomes[outcome] += 1
            deepest = max(deepest, depth or 0)
    print(f"{len(distinct)} distinct formulas; {sum(map(len, batches.values()))} batched and {len(alone)} alone "
          f"(both colour forms); {skipped} coloured \\renewcommand skipped")
    print(f"pdflatex runs: {outcomes}")
    print(f"deepest input stack {deepest} levels; CDM_INPUT_STACK = {CDM_INPUT_STACK} "
          f"({CDM_INPUT_STACK / max(deepest, 1):.1f}x the deepest)")


if __name__ == "__main__":
    main()
