"""Loader's workers: one task a worker, each taking the next operation when free; the
results in the operations' order, never more in flight than asked, an error raised
once every worker has stopped."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.load.loader import _spread


class Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.started: list[int] = []

    def __call__(self, item):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.started.append(item)
        time.sleep(0.002 * (item % 3))
        with self.lock:
            self.now -= 1
        return item * 10


@pytest.mark.parametrize("workers", [1, 2, 4, 8])
def test_results_in_order_and_at_most_workers_in_flight(workers):
    call = Counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        out = _spread(pool, workers, call, list(range(40)))
    assert out == [i * 10 for i in range(40)]
    assert sorted(call.started) == list(range(40))  # each item called once
    assert call.most <= workers
    if workers == 1:
        assert call.started == list(range(40))  # one worker: the items in order


def test_no_items_no_task():
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert _spread(pool, 2, lambda i: 1 / 0, []) == []


def test_an_error_stops_the_workers_and_is_raised():
    seen = []

    def call(item):
        seen.append(item)
        if item == 3:
            raise PermissionError("token disabled")
        time.sleep(0.01)
        return item

    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(PermissionError):
        _spread(pool, 2, call, list(range(100)))
    # the other worker finished the item it held, then took no more
    assert len(seen) <= 6 and 3 in seen
