"""Shared fixtures. `shared_dir` locates the read-only project data beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data not found at {SHARED} (the project's ../shared folder)")
    return SHARED


@pytest.fixture(scope="session")
def build_formula_dataset(tmp_path_factory):
    """Factory ``(name, formulas, n_train) -> Path``: a dataset directory built from ``formulas`` by
    the real pipeline (pdflatex render, preprocessing, lists, vocabulary). The first ``n_train``
    formulas are the train split and, under other image names, the test split; the rest validate."""
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (run ./setup.sh)")
    from markupeval.data.build import BuildConfig, BuildInputs, build
    from markupeval.data.lists import ListEntry

    root = tmp_path_factory.mktemp("formula-datasets")

    def make(name: str, formulas: list[str], n_train: int) -> Path:
        splits = {"train": [ListEntry(f"train{i:03d}", i) for i in range(n_train)],
                  "validate": [ListEntry(f"val{i:03d}", i) for i in range(n_train, len(formulas))],
                  "test": [ListEntry(f"test{i:03d}", i) for i in range(n_train)]}
        out = root / name
        build(BuildInputs(formulas, formulas, splits, source="normalized"), out,
              BuildConfig(render_options={"cache": False}))
        return out

    return make
