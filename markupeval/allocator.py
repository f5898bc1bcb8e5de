"""glibc malloc settings for markupeval's own long-running processes (no-ops on other C libraries).

Two measured problems, each fixed by a process-wide ``mallopt`` that the process makes once,
before the work that needs it (both are what the ``MALLOC_*_`` environment variables would set):

* :func:`share_one_arena`, for the scoring driver: the executor's own threads (the process pool's
  manager thread, Dask's client loop) pickle and unpickle images that the main thread frees, and
  with one arena per thread those frees fragment arenas that then grow instead of being reused:
  scoring 30k pairs peaked at 289 MB, against 235 MB with one arena, no slower
  (``benchmarks/scoring_memory.py``).
* :func:`keep_freed_memory`, for the baselines' training and decoding: tensors of a few MB, of a
  new shape at every bucket and decoder step, crossed glibc's moving mmap threshold, so each was
  mapped, faulted in page by page and unmapped again; decoding the test set spent as much CPU in
  the kernel as in the model (887 s system against 904 s user per half). A fixed threshold and a
  large trim threshold keep freed memory for reuse: 144 test images, beam 5, 1 thread: 9.0-10.8 s
  system -> 0.5-0.7 s, 36-45 s -> 28-29 s wall, the same predictions.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import lru_cache

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

#: The ceiling of glibc's own moving threshold on 64-bit systems, fixed: larger blocks are still mapped.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 256 << 20


@lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt  # musl and other C libraries have no mallopt
    except (OSError, AttributeError):
        return None
    return libc


def _mallopt(*settings: tuple[int, int]) -> bool:
    libc = _libc()
    if libc is None:
        return False
    return all(bool(libc.mallopt(param, value)) for param, value in settings)


def share_one_arena() -> bool:
    """Every thread of this process allocates from the main arena (False: not glibc)."""
    return _mallopt((_M_ARENA_MAX, 1))


def keep_freed_memory() -> bool:
    """Freed memory stays in the heap for reuse instead of being unmapped (False: not glibc)."""
    return _mallopt((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD), (_M_TOP_PAD, TOP_PAD))
