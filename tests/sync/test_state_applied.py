"""The state store hands back the last applied state as one frame, read as columns;
it must equal the row-by-row reading whatever the keys and hashes hold."""

from __future__ import annotations

import pandas as pd
import pytest

from connector.state import StateStore

INT64 = 2 ** 63


@pytest.mark.parametrize("keys", [
    ["k1", "k2", "k3"],
    ["Ünïcode", "with,comma", "with space", "日本"],
    ["unit\x1fseparator", "k2"],      # the separator the column reading uses
    [],
])
def test_applied_equals_the_row_by_row_reading(tmp_path, keys):
    store = StateStore(tmp_path / "state.db")
    hashes = [-INT64, INT64 - 1, 0, 17]
    rows = [(k, hashes[i % 4], None if i % 2 else hashes[(i + 1) % 4],
             None if i % 3 == 1 else i + 1, None if i % 2 == 0 else -i)
            for i, k in enumerate(keys)]
    store.record_applied(6, 1, rows)
    store.record_applied(7, 1, [("other campaign", 1, 2, 3, 4)])
    fast, slow = store.applied(6), store._applied_by_rows(6)
    pd.testing.assert_frame_equal(fast, slow)
    assert sorted(fast["key"]) == sorted(keys)
    assert list(fast.dtypes.astype(str)) == ["object", "int64", "Int64", "Int64", "Int64"]
    got = {r[0]: r[1:] for r in fast.itertuples(index=False)}
    for key, *want in rows:
        assert [None if pd.isna(v) else int(v) for v in got[key]] == want
    store.close()


def test_has_operations_answers_per_run_and_kind(tmp_path):
    store = StateStore(tmp_path / "state.db")
    run = store.start_run(6, "sync")
    other = store.start_run(6, "sync")
    store.add_operations(run, [("update", "k1", 11, 2, 0, {"name": "A"}, {}),
                               ("delete", "k2", 12, None, None, {"contact_id": 12}, {})])
    assert store.has_operations(run, "update") and store.has_operations(run, "delete")
    assert not store.has_operations(run, "add")
    assert not store.has_operations(other, "update")
    store.mark([op["id"] for op in store.operations(run, "update")], "done")
    assert [op["key"] for op in store.operations(run, statuses=["done"])] == ["k1"]
