"""What happened to each write of a run, told per plan row: the report of a `sync`,
an `apply` or a `rollback` says what was done, not what was planned.

Pure: takes the plan and the run's operations (as the state store lists them) and
returns the plan's tables with two more columns, ``outcome`` and ``error``, plus
what to do about each outcome that is not ``done``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..normalize import TEXT, positions_in, taken_at

#: every outcome of a write, failures first (the order of the report's cards)
OUTCOMES = ("failed", "pending", "unconfirmed", "skipped", "done")

#: outcome -> what it means and what to do
OUTCOME_HINTS: dict[str, str] = {
    "failed": "the platform refused this write; fix what its message names, then run the "
              "sync again",
    "pending": "the import job was still running when the run stopped waiting; the next "
               "run waits for it and checks the contact",
    "unconfirmed": "the write was sent but the campaign did not show it afterwards; the "
                   "next run compares again and sends what is still missing",
    "skipped": "not sent (the run stopped first); the next run sends it",
    "done": "done, and the campaign shows it",
}

#: the platform's error names -> what to do
ERROR_HINTS: dict[str, str] = {
    "DuplicateContactPhoneOnCampaign": "another contact of the campaign has this phone "
                                       "number: give each contact its own, or remove the "
                                       "other one",
    "Internal Error": "the platform failed on its side; run the sync again later",
}

#: plan row action -> operation kind
ROW_KINDS = {"add": "add", "update": "update"}


def outcome_of(status: Any, confirmed: Any) -> str:
    """One operation's outcome from its stored status and confirmation."""
    if status == "failed":
        return "failed"
    if status == "pending":
        return "pending"
    if status == "planned":
        return "skipped"
    if status in ("sent", "unconfirmed"):
        return "unconfirmed"
    if status == "done":
        return "unconfirmed" if confirmed == 0 else "done"
    return "unconfirmed"


def what_to_do(outcome: str, error: str) -> str:
    """The advice for one write: the platform's error named, else the outcome's."""
    for name, hint in ERROR_HINTS.items():
        if name in (error or ""):
            return hint
    return OUTCOME_HINTS.get(outcome, "")


def operations_frame(ops: pd.DataFrame) -> pd.DataFrame:
    """The run's operations (kind, key, remote_id, line, status, confirmed, error) with
    their ``outcome`` (`outcome_of`, for every operation at once)."""
    out = ops.copy(deep=False)  # new columns only: the operations are not copied
    out["error"] = pd.array(out["error"].fillna("").astype(str), dtype=TEXT)
    status = out["status"].astype(str)
    unconfirmed = out["confirmed"].eq(0).fillna(False).to_numpy(dtype=bool)
    out["outcome"] = pd.array(np.select(
        [status.eq("failed").to_numpy(dtype=bool), status.eq("pending").to_numpy(dtype=bool),
         status.eq("planned").to_numpy(dtype=bool),
         status.eq("done").to_numpy(dtype=bool) & ~unconfirmed],
        ["failed", "pending", "skipped", "done"], "unconfirmed").astype(object), dtype=TEXT)
    return out


def attach_outcomes(rows: pd.DataFrame, remote: pd.DataFrame, ops: pd.DataFrame
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan's rows and remote contacts with ``outcome`` and ``error``: adds and
    updates by their key (the last operation of a key), deletes by the contact's id.
    Rows with no write keep both blank. Joined as tables, not dicts of a million keys."""
    ops = operations_frame(ops)
    rows = rows.copy(deep=False)  # two columns more; the plan's tables are not copied
    remote = remote.copy(deep=False)
    outcome = np.full(len(rows), "", dtype=object)
    error = np.full(len(rows), "", dtype=object)
    for action, kind in ROW_KINDS.items():
        mine = ops[ops["kind"].eq(kind)].drop_duplicates("key", keep="last")
        if mine.empty:
            continue
        sel = rows["action"].eq(action).to_numpy(dtype=bool)
        found = positions_in(rows.loc[sel, "external_unique_id"], mine["key"])
        outcome[sel] = taken_at(mine["outcome"].to_numpy(dtype=object), found, "skipped")
        error[sel] = taken_at(mine["error"].to_numpy(dtype=object), found, "")
    rows["outcome"] = pd.array(outcome, dtype=TEXT)
    rows["error"] = pd.array(error, dtype=TEXT)
    outcome = np.full(len(remote), "", dtype=object)
    error = np.full(len(remote), "", dtype=object)
    sel = remote["action"].eq("deleted").to_numpy(dtype=bool)
    if sel.any():
        deletes = ops[ops["kind"].eq("delete") & ops["remote_id"].notna()].drop_duplicates(
            "remote_id", keep="last")
        ids = remote.loc[sel, "remote_id"]
        found = pd.Index(deletes["remote_id"].astype("int64")).get_indexer(
            ids.fillna(-1).astype("int64"))
        found[ids.isna().to_numpy()] = -1
        outcome[sel] = taken_at(deletes["outcome"].to_numpy(dtype=object), found, "skipped")
        error[sel] = taken_at(deletes["error"].to_numpy(dtype=object), found, "")
    remote["outcome"] = pd.array(outcome, dtype=TEXT)
    remote["error"] = pd.array(error, dtype=TEXT)
    return rows, remote


def outcome_counts(rows: pd.DataFrame, remote: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Writes per kind (add, update, delete) and outcome."""
    out: dict[str, dict[str, int]] = {}
    for kind, frame, action in (("add", rows, "add"), ("update", rows, "update"),
                                ("delete", remote, "deleted")):
        if "outcome" not in frame.columns:
            continue
        sel = frame.loc[frame["action"].eq(action), "outcome"]
        counts = sel.value_counts()
        out[kind] = {o: int(counts.get(o, 0)) for o in OUTCOMES}
    return out


def outcome_totals(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """Writes per outcome, all kinds together."""
    return {o: sum(int(c.get(o, 0)) for c in counts.values()) for o in OUTCOMES}
