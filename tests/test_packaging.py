"""What a user installing markupeval gets: a wheel that works on its own, and dependencies
declared exactly as imported."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Import name -> distribution, for imports whose distribution is named differently.
_DISTRIBUTION = {"PIL": "pillow", "Levenshtein": "python-levenshtein", "pypdfium2": "pypdfium2", "skimage": "scikit-image"}


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(reqs: list[str]) -> set[str]:
        return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in reqs}

    return names(project["dependencies"]), {k: names(v) for k, v in project["optional-dependencies"].items()}


def _third_party_imports(folder: Path) -> set[str]:
    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("markupeval", "__future__")}


def test_dependencies_are_declared_exactly_as_imported() -> None:
    required, extras = _declared()
    imported = {_DISTRIBUTION.get(m, m).lower() for m in _third_party_imports(ROOT / "markupeval")}
    baseline_imports = {_DISTRIBUTION.get(m, m).lower() for m in _third_party_imports(ROOT / "baselines")}
    # torch is the baselines extra (markupeval.data imports it only in its torch view); everything
    # else either package imports is a plain dependency, and nothing declared goes unused.
    assert extras["baselines"] == {"torch"}
    assert (imported | baseline_imports) - {"torch"} == required


def _fresh_venv_with_wheel(tmp: Path) -> Path:
    """Build the wheel from a copy of the sources and install it, alone, into a new venv.

    The copy keeps this checkout's build/ and egg-info untouched. The venv gets only the wheel;
    the declared dependencies come from this test environment through a .pth file (so the test
    needs no network), which adds directories but not their .pth files: this checkout's editable
    install stays invisible, and ``import markupeval`` can only find the wheel.
    """
    src = tmp / "src"
    top_level = {".venv", ".git", "build", "dist", ".cache", "data", "runs", "out"}  # checkout-only folders

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in ("__pycache__", ".pytest_cache") or n.endswith(".egg-info")}
        return skip | (top_level & set(names) if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, src, symlinks=True, ignore=ignore)
    wheels = tmp / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", str(src), "-w", str(wheels)], check=True, cwd=tmp)
    (wheel,) = wheels.glob("markupeval-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                    "--disable-pip-version-check", str(wheel)], check=True)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "markupeval_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


@pytest.mark.slow
def test_the_wheel_works_from_a_fresh_venv_in_another_directory(tmp_path: Path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (run ./setup.sh)")
    venv = _fresh_venv_with_wheel(tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    exe = str(venv / "bin" / "markupeval")

    def run(*args: str) -> str:
        proc = subprocess.run([exe, *args], cwd=work, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"markupeval {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import markupeval; print(markupeval.__file__)"],
                           cwd=work, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where  # the wheel, not this checkout

    # score: the bundled sample (package data), text metrics.
    out = run("score", "--no-images", "--json", "run.json")
    assert "BLEU" in out
    run_file = json.loads((work / "run.json").read_text())
    assert run_file["counts"]["gold"] == 300 and run_file["run_format"] == 2
    # leaderboard: the published rows ship with the package.
    board = run("leaderboard", "run.json")
    assert "IM2TEX" in board and "bundled-sample" in board
    # render: the templates ship with the package.
    (work / "f.txt").write_text("x ^ { 2 }\n\\frac { a } { b }\n", encoding="utf-8")
    rendered = run("render", "f.txt", "png", "--no-cache")
    assert "ok 2" in rendered and sorted(p.name for p in (work / "png").glob("*.png")) == ["0.png", "1.png"]
    # The baselines live inside the project's namespace: no generic top-level package.
    dist = importlib.metadata.Distribution.at(next((venv / "lib").glob("python*/site-packages/markupeval-*.dist-info")))
    top = {f.parts[0] for f in dist.files if f.suffix == ".py"}
    assert top == {"markupeval"}, top
