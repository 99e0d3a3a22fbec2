"""What a run records of the contacts it applied (`record_applied`) is worked out as
tables, joined by key with Arrow, and handed to the store in batches: the state it
leaves is the one the dict-per-key code it replaces left (kept here as the
reference), on generated plans, operations in every status, sources with repeated
and blank keys, campaigns read after the run with duplicated keys, and --trust-state
runs (no read after)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connector.incremental as inc
from connector.incremental import phone_hashes, record_applied, remote_hashes, source_hashes
from connector.load.loader import record_plan
from connector.normalize import as_text, stripped_text
from connector.plan import Plan, remote_frame
from connector.state.store import StateStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from test_streamed import make_plan, remote_st, rows_st  # noqa: E402

# ------------------------------------------------------------------ the code replaced

def reference_record_applied(store: StateStore, campaign_id: int, run_id: int, plan: Plan,
                    validated: Any, after: pd.DataFrame | None,
                    hashes: pd.Series | None = None) -> None:
    """The last applied state of every contact this run added, updated or found equal
    (confirmed only): the source row's hash and the campaign contact's hash as read
    after the run; and forget the ones it deleted. Rows carried over are left as
    they are (their hashes did not change), and only the recorded rows are hashed
    and looked up, so a night that changed 1% records 1%."""

    done = {(kind, key): rid for kind, key, rid in store.db.execute(
        "SELECT kind, key, remote_id FROM operations WHERE run_id=? AND status='done'"
        " ORDER BY id", (run_id,)).fetchall()}
    rows = plan.rows
    keep = rows["action"].isin(["add", "update", "unchanged"]) & rows["reason"].ne(
        "same_as_last_run")
    mapped = validated.mapped
    removed = [key for (kind, key) in done if kind == "delete" and key]
    if mapped is None:
        return
    wanted = set(rows.loc[keep, "external_unique_id"])
    mkeys = stripped_text(mapped["external_unique_id"])
    mine = mkeys.isin(wanted).to_numpy()
    if hashes is None:
        hashes = source_hashes(mapped[mine], validated.mapping)
    else:
        hashes = hashes[mine]
    src_hash = dict(zip(mkeys[mine].to_numpy(), hashes.to_numpy()))
    if after is None:  # --trust-state: no read after the run; ids from the operations
        rem_hash: dict[str, Any] = {}
        rem_id = {key: rid for (_kind, key), rid in done.items()}
        for key, rid in zip(rows.loc[keep, "external_unique_id"], rows.loc[keep, "remote_id"]):
            rem_id.setdefault(key, rid)
    else:
        akeys = stripped_text(after["external_unique_id"])
        # contacts with a wanted key that no other contact holds: duplicates of a
        # wanted key are all among the wanted ones, so only those are looked at
        single = (akeys.isin(wanted) & akeys.ne("")).to_numpy(copy=True)
        single[single] = ~akeys[single].duplicated(keep=False).to_numpy()
        rem_hash = dict(zip(akeys[single].to_numpy(), remote_hashes(after[single]).to_numpy()))
        rem_id = dict(zip(akeys[single].to_numpy(), after.loc[single, "remote_id"].to_numpy()))
    # the phone the contact holds after the run: the source's E.164 (added, patched or
    # found equal); unknown when the source left it blank
    kept = rows.loc[keep, ["external_unique_id", "action", "phone_number"]]
    # ... but not for a row add-only mode left alone: its contact may hold another phone
    phone = as_text(kept["phone_number"].where(rows.loc[keep, "reason"].ne("add_only"),
                                               "")).to_numpy(dtype=object)
    hashes_of = phone_hashes(phone).to_numpy() if len(phone) else []
    applied = []
    for (key, action), ph, phash in zip(
            zip(kept["external_unique_id"], kept["action"]), phone, hashes_of):
        if action in ("add", "update") and (action, key) not in done:
            continue
        if key not in src_hash or (after is not None and key not in rem_hash):
            continue
        rid = rem_id.get(key)
        rh = rem_hash.get(key)
        applied.append((key, int(src_hash[key]), None if rh is None else int(rh),
                        None if rid is None or pd.isna(rid) else int(rid),
                        int(phash) if ph else None))
    store.record_applied(campaign_id, run_id, applied, removed)


# ------------------------------------------------------------------ generated runs

STATUSES = ["done", "done", "failed", "planned", "sent"]


def contacts(store: StateStore) -> list[tuple[Any, ...]]:
    return sorted((tuple(r) for r in store.db.execute(
        "SELECT campaign_id, key, row_hash, remote_hash, remote_id, run_id, phone_hash"
        " FROM contacts").fetchall()), key=repr)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows_st, remote_st, remote_st, st.sampled_from(["upsert", "mirror"]), st.booleans(),
       st.lists(st.sampled_from(STATUSES), min_size=1, max_size=5), st.booleans(),
       st.integers(1, 3))
def test_recorded_state_is_todays(tmp_path_factory, src_rows, rem_rows, after_rows, mode, text,
                                  statuses, trusting, batch):
    plan = make_plan(src_rows, rem_rows, mode, 0, False, text)
    keys = [k if i % 3 else f" {k}" for i, (k, *_rest) in enumerate(src_rows)]
    mapped = pd.DataFrame({"external_unique_id": keys})
    validated = SimpleNamespace(mapped=mapped, mapping=None)
    hashes = pd.Series([hash((i, k)) % 1000 for i, k in enumerate(keys)], dtype="int64")
    after = None if trusting else remote_frame(
        [{"id": 100 + i, "external_unique_id": k, "name": n, "phone_number": p, "status": s}
         for i, (k, n, p, s) in enumerate(after_rows)])
    tmp = tmp_path_factory.mktemp("applied")
    stores = []
    for name, record in (("ref", reference_record_applied), ("new", record_applied)):
        store = StateStore(tmp / f"{name}.db")
        run = store.start_run(6, "sync", source="s.csv")
        record_plan(store, run, plan)
        ops = store.operations(run)
        for i, op in enumerate(ops):
            store.mark([op["id"]], statuses[i % len(statuses)],
                       remote_id=500 + i if i % 2 else None)
        # a row recorded by an earlier run, deleted by this one
        store.record_applied(6, run, [("k0", 1, 2, 3, None), ("gone", 4, 5, 6, None)])
        before = inc.RECORD_BATCH
        inc.RECORD_BATCH = batch
        try:
            record(store, 6, run, plan, validated, after, hashes)
        finally:
            inc.RECORD_BATCH = before
        stores.append(contacts(store))
    assert stores[0] == stores[1]
