"""What undoing a sync run takes: from the remote state the run saved before each
patch and delete, the operations that put the campaign back (delete what it added,
patch back what it changed, add back what it deleted), each only when the contact
is still as the run left it; a contact changed since is refused and listed. The
rollback is then carried out by the same `Loader`, as a run of its own."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from ..errors import UsageError
from ..normalize import collapse_spaces, comparison_frame, norm_emails, norm_phones
from ..plan import REMOTE_PLAN_COLUMNS, ROW_COLUMNS, Plan, PlanOptions, empty_frame
from ..state import StateStore

FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number")


def still_holds(row: pd.Series, values: dict[str, Any], region: str | None) -> bool:
    """The live contact still holds `values` (compared normalized; blanks ignored)."""
    for f, v in values.items():
        if f in ("external_unique_id", "outbound_number", "status") or not v:
            continue
        want = v
        if f == "phone_number":
            want = norm_phones(pd.Series([str(v)]), region).iat[0]
        elif f == "email":
            want = norm_emails(pd.Series([str(v)])).iat[0]
        elif f == "name":
            want = collapse_spaces(pd.Series([str(v)])).iat[0]
        if row[f"n_{f}"] != want:
            return False
    return True


def plan_rollback(store: StateStore, run_id: int, remote: pd.DataFrame,
                  region: str | None = None, opted_out: Collection[str] = ()
                  ) -> tuple[list[tuple], list[dict[str, Any]], list[dict[str, Any]]]:
    """(operations to record, actions for the report, refused contacts). A contact whose
    number opted out since (`opted_out`) is not added back."""
    run = store.run(run_id)
    if run is None:
        raise UsageError(f"no run {run_id} in the state store",
                         hint="list the runs with: campaign-sync runs")
    if run.command != "sync":
        raise UsageError(f"run {run_id} is a {run.command}, not a sync; only syncs are undone")
    live = comparison_frame(remote, region)
    by_id = live.dropna(subset=["remote_id"]).drop_duplicates("remote_id")
    by_id = by_id.set_index(by_id["remote_id"].astype(int))
    by_key = live[live["key"].ne("")].drop_duplicates("key", keep=False).set_index("key")
    phones_in_use = set(live["n_phone_number"]) - {""}
    ops: list[tuple] = []
    actions: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    freed: set[str] = set()

    def refuse(op: dict[str, Any], why: str) -> None:
        refused.append({"kind": op["kind"], "key": op["key"], "remote_id": op["remote_id"],
                        "reason": why})

    done = [op for op in store.operations(run_id) if op["status"] in
            ("done", "sent", "pending", "unconfirmed")]
    # 1. delete what the run added, if it is still as added
    for op in (o for o in done if o["kind"] == "add"):
        if op["key"] not in by_key.index:
            if op["status"] == "done":
                refuse(op, "not in the campaign any more")
            continue
        row = by_key.loc[op["key"]]
        if not still_holds(row, op["payload"], region):
            refuse(op, "changed since the run")
            continue
        rid = int(row["remote_id"])
        freed.add(row["n_phone_number"])
        ops.append(("delete", op["key"], rid, op["line"], None, {"contact_id": rid},
                    {f: str(row[f]) for f in FIELDS}))
        actions.append({"action": "delete", "key": op["key"], "remote_id": rid,
                        "undoes": "add"})
    # 2. patch back what the run changed
    for op in (o for o in done if o["kind"] == "update"):
        rid = op["remote_id"]
        if rid not in by_id.index:
            refuse(op, "not in the campaign any more")
            continue
        row = by_id.loc[rid]
        if not still_holds(row, op["payload"], region):
            refuse(op, "changed since the run")
            continue
        back = {f: (op["before"] or {}).get(f, "") for f in op["payload"]}
        if "phone_number" in back and back["phone_number"]:
            old = norm_phones(pd.Series([back["phone_number"]]), region).iat[0]
            if old in phones_in_use and old not in freed and old != row["n_phone_number"]:
                refuse(op, f"its old phone {old} is now used by another contact")
                continue
            back["phone_number"] = old
        ops.append(("update", op["key"], rid, op["line"], 0, back,
                    {f: str(row[f]) for f in FIELDS}))
        actions.append({"action": "update", "key": op["key"], "remote_id": rid,
                        "undoes": "update", "fields": ",".join(back)})
    # 3. add back what the run deleted
    for op in (o for o in done if o["kind"] == "delete"):
        before = op["before"] or {}
        if op["remote_id"] in by_id.index:
            if op["status"] == "done":
                refuse(op, "still in the campaign")
            continue
        key = before.get("external_unique_id", "")
        if key and key in by_key.index:
            refuse(op, "a contact with this key was added since")
            continue
        phone = norm_phones(pd.Series([before.get("phone_number", "")]), region).iat[0]
        if phone in opted_out:
            refuse(op, f"its phone {phone} opted out (campaign-sync optouts): not added back")
            continue
        if phone in phones_in_use and phone not in freed:
            refuse(op, f"its phone {phone} is now used by another contact")
            continue
        payload = {f: before.get(f, "") for f in FIELDS if before.get(f)}
        payload["phone_number"] = phone
        ops.append(("add", key, None, None, None, payload, None))
        actions.append({"action": "add", "key": key, "remote_id": op["remote_id"],
                        "undoes": "delete"})
    return ops, actions, refused


def rollback_plan(ops: list[tuple], of_run: int, campaign_id: int) -> Any:
    """The rollback as a `Plan`, so its report is the same page as a sync's: the
    re-adds and the patches back as source rows (no line), the deletes of what the
    run added as campaign contacts."""

    rows, remote = [], []
    for kind, key, rid, _line, _wave, payload, before in ops:
        before = before or {}
        if kind == "delete":
            remote.append({"remote_id": rid, "external_unique_id": key, "action": "deleted",
                           "reason": "undo_add", "status": before.get("status", ""),
                           **{f: before.get(f, "") for f in FIELDS[1:]}})
            continue
        row = {c: "" for c in ROW_COLUMNS}
        row.update({"line": None, "external_unique_id": key, "remote_id": rid,
                    "action": "add" if kind == "add" else "update",
                    "reason": "undo_delete" if kind == "add" else "undo_update",
                    "changed": "" if kind == "add" else ",".join(payload), "wave": None})
        for f in FIELDS[1:]:
            row[f] = payload.get(f, before.get(f, "") if kind == "update" else "")
            row[f"before_{f}"] = before.get(f, "") if kind == "update" else ""
        rows.append(row)
    rows_frame = pd.DataFrame(rows, columns=list(ROW_COLUMNS)) if rows else empty_frame(ROW_COLUMNS)
    for c in ("line", "remote_id", "wave"):
        rows_frame[c] = pd.array(rows_frame[c].tolist(), dtype="Int64")
    remote_frame = (pd.DataFrame(remote, columns=list(REMOTE_PLAN_COLUMNS)) if remote
                    else empty_frame(REMOTE_PLAN_COLUMNS))
    remote_frame["remote_id"] = pd.array(remote_frame["remote_id"].tolist(), dtype="Int64")
    return Plan(options=PlanOptions(mode="upsert"), rows=rows_frame, remote=remote_frame,
                conflicts=empty_frame(FIELDS), meta={"command": "rollback", "campaign_id": campaign_id,
                                                "rollback_of": of_run})
