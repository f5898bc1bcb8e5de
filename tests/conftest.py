"""Shared fixtures. `shared_dir` locates the read-only project data beside the repository.

Tests behind the README's headline claims (published scores, golden pairs, Table 2) need that data,
``../shared``. Without it they say so with one message: under ``CI=true`` they fail (a CI run
without the data proves nothing and must not pass), elsewhere they skip and the terminal summary
repeats the message with their number, even under ``-q``. A test declares the need with the
``shared_dir`` fixture or the ``shared`` marker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: ../shared beside the repository; MARKUPEVAL_SHARED points elsewhere (or, set to a missing
#: folder, shows what a clone without the data does).
SHARED = Path(os.environ.get("MARKUPEVAL_SHARED") or Path(__file__).resolve().parents[2] / "shared")
SHARED_MESSAGE = (
    f"the project's shared data is missing: {SHARED} (data/ and golden/, read-only, beside the "
    "repository) holds what the published-score, golden-pair and Table 2 tests check against"
)


def shared_available() -> bool:
    return (SHARED / "data").is_dir() and (SHARED / "golden").is_dir()


def require_shared() -> Path:
    """``SHARED``, or fail (under CI=true) / skip with :data:`SHARED_MESSAGE`."""
    if not shared_available():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(SHARED_MESSAGE + "; CI=true, so this is a failure, not a skip", pytrace=False)
        pytest.skip(SHARED_MESSAGE)
    return SHARED


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "shared: needs ../shared (fails under CI=true when missing, else skips)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("shared") is not None:
        require_shared()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if shared_available():
        return
    reports = terminalreporter.stats.get("skipped", []) + terminalreporter.stats.get("error", []) + \
        terminalreporter.stats.get("failed", [])
    hit = sum(1 for r in reports if SHARED_MESSAGE in str(getattr(r, "longrepr", "")))
    if hit:
        terminalreporter.write_sep("=", "shared data missing", red=True, bold=True)
        terminalreporter.write_line(f"{hit} test(s) did not run their checks: {SHARED_MESSAGE}")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return require_shared()


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
