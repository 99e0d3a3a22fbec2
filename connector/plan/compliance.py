"""What compliance keeps out of the campaign: numbers, emails and keys on a suppression
list, and numbers that opted out (a contact seen as Do Not Call, or removed as
suppressed, until a person releases it).

* A source row whose phone, email or key is suppressed sends nothing (action
  ``suppressed``); a managed campaign contact whose phone is suppressed is deleted
  (reason ``suppressed``) in upsert and mirror, under the delete rule, unless it is
  on a call (deferred) or has no id (deferred).
* A row that would add an opted-out number, or move one onto a contact, sends
  nothing (action ``opted_out``).
* A PATCH never changes the phone of a contact in status Do Not Call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..normalize import phone_hashes

#: the status of a campaign contact whose number is on the Do Not Call list
DO_NOT_CALL = "Do Not Call"


@dataclass(frozen=True)
class Compliance:
    """Suppressed phones (E.164), emails (lower-cased: matched without case) and keys ->
    the list's file name; opted-out phones -> why."""

    phones: Mapping[str, str] = field(default_factory=dict)
    emails: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[str, str] = field(default_factory=dict)
    opted_out: Mapping[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.phones or self.emails or self.keys or self.opted_out)


def suppressed_contacts(rem: pd.DataFrame, held: pd.Series | None, phones: Mapping[str, str]
                        ) -> np.ndarray:
    """Per campaign contact, whether its phone is suppressed: by its normalized phone,
    or (a contact carried from the last run, not normalized again) by the hash the
    last run recorded."""
    hit = rem["n_phone_number"].isin(list(phones)).to_numpy()
    if held is not None and phones:
        wanted = phone_hashes(np.array(list(phones), dtype=object)).to_numpy()
        hit = hit | held.isin(wanted).fillna(False).to_numpy(dtype=bool)
    return hit


def why_suppressed(phone: str, email: str, key: str, c: Compliance) -> str:
    for value, found, what in ((phone, c.phones, "phone"), (email, c.emails, "email"),
                               (key, c.keys, "key")):
        if value and value in found:
            return f"its {what} {value} is on the suppression list {found[value]}"
    return ""


def apply_compliance(rows: pd.DataFrame, rem: pd.DataFrame, at: np.ndarray,
                     held: pd.Series | None, c: Compliance, mode: str,
                     fate: Callable[[np.ndarray, str, str], None], r_action: np.ndarray,
                     r_detail: np.ndarray, active: np.ndarray) -> set[str]:
    """Mark the plan's rows and contacts (in place) as the docstring of the module says.
    `at`: per source row, the position of its campaign contact (-1: none). Returns the
    keys of the contacts deleted as suppressed (their carried rows are marked too)."""
    removed: set[str] = set()
    if c.phones and mode != "add-only":
        supp = suppressed_contacts(rem, held, c.phones)
        managed = rem["key"].ne("").to_numpy()
        no_id = rem["remote_id"].isna().to_numpy()
        # whatever else the plan decided for it (kept, held, protected by a rejected
        # row, a mangled key): a suppressed number is removed; only a contact on a call
        # or without an id is left for a later run
        target = supp & managed
        if target.any():
            phones = rem["n_phone_number"].to_numpy(dtype=object)
            detail = [f"its phone {p or '(recorded)'} is on a suppression list" +
                      (f" ({c.phones[p]})" if p in c.phones else "")
                      for p in phones[target]]
            fate(target & active, "deferred", "active_status")
            fate(target & ~active & no_id, "deferred", "no_remote_id")
            gone = target & ~active & ~no_id
            fate(gone, "deleted", "suppressed")
            r_detail[target] = detail
            removed = set(rem["key"].to_numpy(dtype=object)[gone].tolist())
        loose = supp & ~managed
        if loose.any():
            r_detail[loose] = ("its phone is on a suppression list; not managed by the "
                               "sync (no key): remove it in the platform")
    acting = rows["action"].isin(["add", "update", "unchanged"]).to_numpy()
    phone_s = rows["phone_number"].astype(str)
    email_s = rows["email"].astype(str).str.lower()
    key_s = rows["external_unique_id"].astype(str)
    phone = phone_s.to_numpy(dtype=object)
    email = email_s.to_numpy(dtype=object)
    key = key_s.to_numpy(dtype=object)
    if c.phones or c.emails or c.keys or removed:
        # (pandas' isin hashes; numpy's on object arrays compares every pair)
        listed = (phone_s.isin(list(c.phones)) | email_s.isin(list(c.emails))
                  | key_s.isin(list(c.keys))).to_numpy()
        gone_row = key_s.isin(list(removed)).to_numpy() & rows["action"].ne("rejected").to_numpy()
        hit = (acting & listed) | gone_row
        if hit.any():
            rows.loc[hit, ["action", "reason", "changed"]] = ("suppressed", "suppressed", "")
            rows.loc[hit, "detail"] = [
                why_suppressed(p, e, k, c) or "its campaign contact's phone is on a "
                "suppression list: the contact is removed" for p, e, k in
                zip(phone[hit], email[hit], key[hit])]
    if c.opted_out:
        action = rows["action"].to_numpy(dtype=object)
        moves = (action == "update") & rows["changed"].str.contains("phone_number").to_numpy()
        out = ((action == "add") | moves) & phone_s.isin(list(c.opted_out)).to_numpy()
        if out.any():
            rows.loc[out, ["action", "reason", "changed"]] = ("opted_out", "opted_out", "")
            rows.loc[out, "detail"] = [f"{p} opted out: {c.opted_out[p]} (campaign-sync "
                                       "optouts release PHONE, after checking)"
                                       for p in phone[out]]
    # a Do Not Call contact keeps its number: the PATCH leaves the phone out
    if not len(rem):  # an empty campaign: no contact is Do Not Call
        return removed
    status = np.where(at >= 0, rem["status"].to_numpy(dtype=object)[np.maximum(at, 0)], "")
    keep = ((rows["action"].eq("update") & rows["changed"].str.contains("phone_number"))
            .to_numpy() & (status == DO_NOT_CALL))
    if keep.any():
        left = [",".join(f for f in ch.split(",") if f != "phone_number")
                for ch in rows.loc[keep, "changed"]]
        rows.loc[keep, "changed"] = left
        rows.loc[keep, "detail"] = "status Do Not Call: its phone is not changed"
        none_left = keep.copy()
        none_left[keep] = [not x for x in left]
        rows.loc[none_left, ["action", "reason"]] = ("unchanged", "do_not_call")
    return removed
