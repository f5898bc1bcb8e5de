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
    """Factory ``(name, formulas) -> Path``: a dataset directory built from ``formulas`` by the real
    pipeline (pdflatex render, preprocessing, lists, vocabulary). Train, validation and test hold
    the same formulas under different image names: what a test that overfits needs."""
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (run ./setup.sh)")
    from markupeval.data.build import BuildConfig, BuildInputs, build
    from markupeval.data.lists import ListEntry

    root = tmp_path_factory.mktemp("formula-datasets")

    def make(name: str, formulas: list[str]) -> Path:
        splits = {split: [ListEntry(f"{split}{i:03d}", i) for i in range(len(formulas))]
                  for split in ("train", "validate", "test")}
        out = root / name
        build(BuildInputs(formulas, formulas, splits, source="normalized"), out,
              BuildConfig(render_options={"cache": False}))
        return out

    return make


@pytest.fixture(scope="module")
def torch_one_thread():
    """Run torch on one CPU thread: on a machine whose cores are busy, small ops with two OpenMP
    threads wait on each other and run many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
