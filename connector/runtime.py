"""How the interpreter runs a whole-campaign command (kept light: the CLI imports it
before anything heavy)."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import sys
from collections.abc import Iterator
from typing import Any

BATCH_GC_THRESHOLDS = (50_000, 20, 20)


@contextlib.contextmanager
def batch_gc() -> Iterator[None]:
    """Fewer cyclic garbage collections while a run works on a whole campaign.

    With the interpreter's default thresholds (700, 10, 10) a night of a million rows
    runs some 3,000 young collections and a dozen full ones, each full one walking
    every container a million-row run holds: about a second of CPU, for cycles that
    are few (the run's objects are mostly strings and arrays, which hold none). Larger
    thresholds keep the collector running, only less often; the previous ones are
    put back on the way out, whatever happens."""
    before = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(before, BATCH_GC_THRESHOLDS)))
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _libc_trim() -> Any:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS). Looked
    up among the symbols the process already has: `ctypes.util.find_library` would
    start a subprocess (ldconfig) in every run."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _libc_trim()


def give_back_memory() -> None:
    """Hand the memory a stage freed back to the system before the next stage starts.

    A million-row stage frees hundreds of MiB of small objects and arrays, and both
    glibc's heap and Arrow's pool keep freed pages for reuse: the next stage's peak
    would sit on top of them. Trimming at the boundaries between stages costs a few
    milliseconds and lowers every later peak (benchmarks/scale.py)."""
    if _TRIM is not None:
        _TRIM(0)
    pool = sys.modules.get("pyarrow")
    if pool is not None:
        pool.default_memory_pool().release_unused()
