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


def test_a_store_with_a_rowid_contacts_table_is_rebuilt_and_keeps_every_row(tmp_path):
    import sqlite3

    path = tmp_path / "state.db"
    store = StateStore(path)
    rows = [(f"k{i}", i - 5, None if i % 2 else i, i + 100, None if i % 3 else -i)
            for i in range(50)]
    store.record_applied(6, 1, rows)
    before = store.applied(6)
    store.close()
    # as a store written before the table was WITHOUT ROWID (and before phone hashes)
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE old (campaign_id INTEGER NOT NULL, key TEXT NOT NULL,
            row_hash INTEGER NOT NULL, remote_hash INTEGER, remote_id INTEGER,
            run_id INTEGER, PRIMARY KEY (campaign_id, key));
        INSERT INTO old SELECT campaign_id, key, row_hash, remote_hash, remote_id, run_id
            FROM contacts;
        DROP TABLE contacts;
        ALTER TABLE old RENAME TO contacts;""")
    db.close()
    store = StateStore(path)
    sql = store.db.execute("SELECT sql FROM sqlite_master WHERE name='contacts'").fetchone()[0]
    assert "WITHOUT ROWID" in sql
    after = store.applied(6)
    pd.testing.assert_frame_equal(after.drop(columns="phone_hash"),
                                  before.drop(columns="phone_hash"))
    assert after["phone_hash"].isna().all()
    store.record_applied(6, 2, [("k1", 7, 8, 9, 10)], removed=["k2"])
    again = StateStore(path).applied(6).set_index("key")
    assert len(again) == 49 and again.loc["k1", "row_hash"] == 7
