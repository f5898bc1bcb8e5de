"""Without ../shared the tests behind the README's claims say so: CI=true fails, elsewhere they skip
with the message in the terminal summary (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("ci, expect_failure", [("true", True), ("", False)])
def test_missing_shared_data_fails_under_ci_and_skips_loudly_elsewhere(tmp_path: Path, ci: str, expect_failure: bool) -> None:
    env = {**os.environ, "CI": ci, "MARKUPEVAL_SHARED": str(tmp_path / "no-shared-here")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(TESTS / "test_published_scores.py")],
                          cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=120)
    out = " ".join(proc.stdout.split())
    assert (proc.returncode != 0) == expect_failure, proc.stdout
    assert "shared data missing" in out and "2 test(s) did not run their checks" in out
    assert f"the project's shared data is missing: {tmp_path / 'no-shared-here'}" in out
