"""verify: each operation checked against the campaign as read after the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.load import verify
from connector.load.verify import ContactLookup
from connector.normalize import stripped_text
from connector.plan import remote_frame
from connector.state import StateStore


def test_each_kind_of_operation_is_confirmed_only_by_what_the_campaign_holds(tmp_path):
    store = StateStore(tmp_path / "state.db")
    run = store.start_run(6, "sync")
    store.add_operations(run, [
        ("update", "a", 1, 2, 0, {"name": "Ann B"}, {}),      # listed with two spaces
        ("update", "b", 2, 3, 0, {"email": "b@new.example"}, {}),         # still old
        ("update", "z", 99, 4, 0, {"name": "Zed"}, {}),                   # id not listed
        ("delete", "c", 3, None, None, {"contact_id": 3}, {}),            # still there
        ("delete", "d", 4, None, None, {"contact_id": 4}, {}),            # gone
        ("add", "e", None, 5, None, {"external_unique_id": "e", "name": "Eve",
                                     "phone_number": "+12014716992"}, None),
        ("add", "f", None, 6, None, {"external_unique_id": "f", "name": "Fay"}, None),
        ("add", "g", None, 7, None, {"external_unique_id": "g", "name": "Gus"}, None),
    ])
    store.mark([op["id"] for op in store.operations(run)], "done")
    after = remote_frame([
        {"id": 1, "external_unique_id": "a", "name": "Ann  B"},
        {"id": 2, "external_unique_id": "b", "email": "b@old.example"},
        {"id": 3, "external_unique_id": "c", "name": "Cy"},
        {"id": 5, "external_unique_id": "e", "name": "Eve", "phone_number": "+1 201-471-6992"},
        {"id": 6, "external_unique_id": "f", "name": "Someone else"},
        {"id": 7, "external_unique_id": "g", "name": "Gus"},
        {"id": 8, "external_unique_id": "g", "name": "Gus"},              # key held twice
    ])
    assert verify(store, run, after, "US") == (3, 5)
    status = {op["key"]: (op["status"], op["remote_id"]) for op in store.operations(run)}
    assert status == {"a": ("done", 1), "b": ("unconfirmed", 2), "z": ("unconfirmed", 99),
                      "c": ("unconfirmed", 3), "d": ("done", 4), "e": ("done", 5),
                      "f": ("unconfirmed", 6), "g": ("unconfirmed", None)}


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 6)),
                          st.sampled_from(["a", " a", "b ", "b", "", None, "c"])), max_size=15),
       st.sets(st.integers(-1, 8)), st.sets(st.sampled_from(["a", "b", "c", "d"])))
def test_contact_lookup_finds_what_a_scan_finds(contacts, ids, keys):
    """ContactLookup (built once per verify) names the contacts a scan of the whole
    campaign per page named: every contact with a wanted id, every copy of a wanted
    trimmed key, in campaign order."""
    remote = pd.DataFrame({"remote_id": pd.array([i for i, _ in contacts], dtype="Int64"),
                           "external_unique_id": [k for _, k in contacts]})
    trimmed = stripped_text(remote["external_unique_id"])
    scan = (remote["remote_id"].isin(ids).fillna(False).to_numpy(dtype=bool)
            | trimmed.isin(keys).to_numpy(dtype=bool))
    assert ContactLookup(remote).named(ids, keys).tolist() == np.flatnonzero(scan).tolist()
