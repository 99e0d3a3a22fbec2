"""A whole-campaign run collects garbage less often (batch_gc), and puts the
interpreter's thresholds back afterwards, whatever happens."""

from __future__ import annotations

import gc

import pytest
from test_incremental import base_rows, sync, write_source  # same directory

from connector.runtime import BATCH_GC_THRESHOLDS, batch_gc


@pytest.fixture
def default_thresholds():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_batch_gc_raises_the_thresholds_and_puts_them_back(default_thresholds):
    with batch_gc():
        assert gc.get_threshold() == BATCH_GC_THRESHOLDS
        assert gc.isenabled()
    assert gc.get_threshold() == (700, 10, 10)
    with pytest.raises(RuntimeError), batch_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


def test_batch_gc_never_lowers_a_threshold(default_thresholds):
    gc.set_threshold(100_000, 5, 50)
    with batch_gc():
        assert gc.get_threshold() == (100_000, 20, 50)
    assert gc.get_threshold() == (100_000, 5, 50)


def test_a_sync_runs_under_batch_gc(sandbox, tmp_path, default_thresholds):
    seen = []
    source = write_source(tmp_path / "night.csv", base_rows(20))
    outcome = sync(sandbox, tmp_path, source, echo=lambda _s: seen.append(gc.get_threshold()))
    assert outcome.exit_code == 0
    assert seen and set(seen) == {BATCH_GC_THRESHOLDS}
    assert gc.get_threshold() == (700, 10, 10)
