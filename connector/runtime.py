"""How the interpreter runs a whole-campaign command (kept light: the CLI imports it
before anything heavy)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

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
