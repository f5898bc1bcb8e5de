"""The allocator settings take on glibc (the project's machines) and are harmless to repeat."""

from __future__ import annotations

import subprocess
import sys

import pytest

from markupeval import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_settings_take_in_a_fresh_process() -> None:
    # A fresh process: the settings are process-wide, and this one's must stay as pytest made them.
    code = ("from markupeval import allocator as a; "
            "print(a.keep_freed_memory(), a.share_one_arena(), a.keep_freed_memory(), a.share_one_arena())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    libc = allocator._libc()
    assert out == (["True"] * 4 if libc is not None else ["False"] * 4)
