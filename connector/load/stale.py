"""What of a saved plan can still be sent: each write checked against the campaign as
it is when the plan is applied.

A write was decided against a campaign contact (its fingerprint: key, fields and
status as read when the plan was made). It goes out only when that contact is
still the same one: a contact edited, deleted or put on a call since, a key added
since, or a phone another contact now holds makes the write `stale`; it is listed,
not sent. A write an earlier attempt of the same plan carried out (a killed apply)
is `done`, not sent again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..contact import ACTIVE_STATUSES
from ..normalize import comparison_frame, norm_phones, stripped_text
from ..plan import Write, contact_fingerprints

#: the fields a stale write's detail names when they changed since the plan
CHANGED_FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number",
                  "status")
#: statuses of an earlier attempt's operation that mean "it went out"
SENT = ("done", "sent", "pending", "unconfirmed")


@dataclass
class Freshness:
    """The writes of a saved plan, sorted: to send, stale (with why), done before."""

    send: list[Write] = field(default_factory=list)
    stale: list[tuple[Write, str]] = field(default_factory=list)
    done: list[Write] = field(default_factory=list)


def earlier_key(kind: str, key: str, remote_id: int | None) -> tuple[str, Any]:
    """How a write is known across attempts: adds by key, the rest by contact id."""
    return (kind, key) if kind == "add" else (kind, remote_id)


def check_writes(writes: Sequence[Write], remote: pd.DataFrame, region: str | None,
                 earlier: Mapping[tuple[str, Any], str] | None = None) -> Freshness:
    """Sort `writes` against `remote` (the campaign now, as `fetch_remote` reads it).
    `earlier`: the status an earlier attempt of the same plan left each write in."""
    earlier = earlier or {}
    out = Freshness()
    ids = {w.remote_id for w in writes if w.remote_id is not None}
    now = contact_fingerprints(remote, ids)
    live = remote[remote["remote_id"].isin(list(ids)).fillna(False).to_numpy(dtype=bool)]
    status = dict(zip(live["remote_id"].astype("int64").tolist(), live["status"].tolist()))
    listed = dict(zip(live["remote_id"].astype("int64").tolist(),
                      live[list(CHANGED_FIELDS)].to_dict("records")))
    keys = stripped_text(remote["external_unique_id"])
    held_keys = dict(zip(keys[keys.ne("")].tolist(),
                         remote.loc[keys.ne(""), "remote_id"].tolist()))
    compared = None  # the contacts an earlier attempt may have changed, normalized

    def went_out(w: Write) -> bool:
        return earlier.get(earlier_key(w.kind, w.key, w.remote_id)) in SENT

    def holds_payload(w: Write) -> bool:
        nonlocal compared
        if compared is None:
            touched = live if len(live) else remote.iloc[:0]
            compared = comparison_frame(touched.reset_index(drop=True), region)
            compared = compared.dropna(subset=["remote_id"]).drop_duplicates("remote_id")
            compared = compared.set_index(compared["remote_id"].astype("int64"))
        if w.remote_id not in compared.index:
            return False
        row = compared.loc[w.remote_id]
        return all(row[f"n_{f}"] == v for f, v in w.payload.items()
                   if v and f not in ("external_unique_id", "outbound_number"))

    def changed_why(w: Write) -> str:
        st = status.get(w.remote_id, "")
        if st in ACTIVE_STATUSES:
            return f"the contact is now being dialed or on a call (status {st})"
        changed = [f for f in CHANGED_FIELDS if w.before is not None and f in w.before
                   and str(listed.get(w.remote_id, {}).get(f, "")) != str(w.before[f])]
        return ("the contact was edited in the campaign since the plan"
                + (f" ({', '.join(changed)} changed)" if changed else ""))

    for w in writes:
        if w.kind == "delete":
            if w.remote_id not in now:
                if went_out(w):
                    out.done.append(w)
                else:
                    out.stale.append((w, "the contact was deleted from the campaign since "
                                         "the plan"))
            elif now[w.remote_id] != w.against:
                out.stale.append((w, changed_why(w)))
            else:
                out.send.append(w)
        elif w.kind == "update":
            if w.remote_id not in now:
                out.stale.append((w, "the contact was deleted from the campaign since the "
                                     "plan"))
            elif now[w.remote_id] == w.against:
                out.send.append(w)
            elif went_out(w) and holds_payload(w):
                out.done.append(w)
            else:
                out.stale.append((w, changed_why(w)))
        else:
            holder = held_keys.get(w.key)
            if w.key in held_keys:
                if went_out(w):
                    out.done.append(w)
                else:
                    rid = "" if holder is None or pd.isna(holder) else f" (contact {holder})"
                    out.stale.append((w, f"a contact with this key was added to the "
                                         f"campaign since the plan{rid}"))
            else:
                out.send.append(w)
    _phones_taken_since(out, remote, region)
    return out


def _phones_taken_since(out: Freshness, remote: pd.DataFrame, region: str | None) -> None:
    """Adds and updates to send whose phone another campaign contact now holds (one
    this apply does not delete or move to another phone) become stale."""
    wanted = {w.payload.get("phone_number") for w in out.send
              if w.kind in ("add", "update") and w.payload.get("phone_number")}
    if not wanted:
        return
    phones = norm_phones(remote["phone_number"], region)
    hit = phones.isin(wanted).to_numpy()
    if not hit.any():
        return
    freed = {w.remote_id for w in out.send
             if w.kind == "delete" or (w.kind == "update" and "phone_number" in w.payload)}
    holders: dict[str, list[int | None]] = {}
    for phone, rid in zip(phones[hit].tolist(), remote.loc[hit, "remote_id"].tolist()):
        holders.setdefault(phone, []).append(None if pd.isna(rid) else int(rid))
    keep = []
    for w in out.send:
        phone = w.payload.get("phone_number") if w.kind != "delete" else None
        others = [rid for rid in holders.get(phone or "", [])
                  if rid != w.remote_id and (rid is None or rid not in freed)]
        if others:
            who = "a contact without an id" if others[0] is None else f"contact {others[0]}"
            out.stale.append((w, f"its phone {phone} is now held by {who} in the campaign"))
        else:
            keep.append(w)
    out.send = keep
