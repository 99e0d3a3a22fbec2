"""What protects the campaign's contacts: a rejected source row protects the contact
it describes (by key, else phone, else email); a key that differs from a source
row's only in case or spacing is not deleted; and the delete rule refuses a mirror
that would delete too much."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..contact import LINE_COLUMN
from .model import Plan, PlanOptions, object_cells


def protect_from(rejects: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows known only by their reject records: line and key."""
    if rejects is None or not len(rejects) or "key" not in rejects.columns:
        return pd.DataFrame({"line": [], "key": [], "phone_number": [], "email": []})
    first = rejects.drop_duplicates("line")
    return pd.DataFrame({"line": first["line"].to_numpy(), "key": first["key"].to_numpy(),
                         "phone_number": "", "email": ""})


def protected_contacts(rem: pd.DataFrame, protect: pd.DataFrame, open_: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per campaign contact still open, the line of the rejected source row that
    describes it (-1: none) and why: the row's key when a contact holds it, else its
    phone, else its email. Only the few rejected rows are looked up."""
    n = len(rem)
    at = np.full(n, -1, dtype=np.int64)
    why = object_cells(n, "")
    if protect is None or not len(protect):
        return at, why
    keys = rem["key"].to_numpy(dtype=object)
    by_key = {k: i for i, k in enumerate(keys) if k and open_[i]}
    phones = rem["n_phone_number"].to_numpy(dtype=object)
    needs_email = []
    by_phone: dict[str, int] | None = None
    for line, key, phone, email in zip(protect["line"], protect["key"].astype(str),
                                       protect["phone_number"].astype(str),
                                       protect["email"].astype(str)):
        key = key.strip()
        i = by_key.get(key, -1) if key else -1
        how = f"key {key!r}"
        if i < 0 and phone:
            if by_phone is None:
                by_phone = {p: j for j, p in enumerate(phones) if p and open_[j]}
            i, how = by_phone.get(phone, -1), f"phone {phone}"
        if i < 0 and email:
            needs_email.append((line, email))
            continue
        if i >= 0 and at[i] < 0:
            at[i] = int(line)
            why[i] = f"source line {int(line)} (rejected) has its {how}"
    if needs_email:
        emails = rem["email"].astype(str).str.strip().str.lower().to_numpy(dtype=object)
        by_email = {e: j for j, e in enumerate(emails) if e and open_[j] and at[j] < 0}
        for line, email in needs_email:
            i = by_email.get(email.lower(), -1)
            if i >= 0 and at[i] < 0:
                at[i] = int(line)
                why[i] = f"source line {int(line)} (rejected) has its email {email}"
    return at, why


def fold_key(key: Any) -> str:
    """A key as compared for 'the same but for case or spacing'."""
    return "".join(str(key).split()).casefold()


def near_keys(src: pd.DataFrame, protect: pd.DataFrame | None, wanted: set[str]
               ) -> dict[str, tuple[int, str]]:
    """Of the folded keys `wanted` (the contacts about to be deleted), those a source row
    (valid or rejected) holds in another spelling: folded key -> (its line, the key as
    the row writes it). One vectorized fold of the source keys, on nights with deletes."""
    out: dict[str, tuple[int, str]] = {}
    if not wanted:
        return out
    keys = src["external_unique_id"].astype(str)
    folded = keys.str.replace(r"\s+", "", regex=True).str.casefold()
    hit = folded.isin(wanted).to_numpy() & (folded != keys).to_numpy()
    for line, key, f in zip(src.loc[hit, LINE_COLUMN], keys[hit], folded[hit]):
        out.setdefault(f, (int(line), key))
    if protect is not None and len(protect):
        for line, key in zip(protect["line"], protect["key"].astype(str)):
            f = fold_key(key)
            if key.strip() and f in wanted and f != key:
                out.setdefault(f, (int(line), key))
    return out


def delete_refusal(plan: Plan, *, has_valid: bool) -> str | None:
    """The delete rule: why the plan is refused, or None."""
    managed = int(plan.remote["action"].ne("unmanaged").sum())
    return delete_rule(plan.options, len(plan.deletes), managed, has_valid=has_valid)


def delete_rule(options: PlanOptions, deletes: int, managed: int, *,
                has_valid: bool = True) -> str | None:
    """Why `deletes` of `managed` campaign contacts is too many, or None."""
    if not deletes or options.force:
        return None
    if not has_valid:
        return (f"the source has no valid rows, and the plan would delete all {deletes:,} "
                "managed contacts; nothing is sent (fix the source, or plan with --force)")
    fraction = deletes / managed if managed else 1.0
    if fraction > options.max_delete_fraction:
        return (f"the plan would delete {deletes:,} of {managed:,} managed contacts "
                f"({fraction:.1%}), more than --max-delete-fraction "
                f"{options.max_delete_fraction:.0%}; nothing is sent (check the source, or "
                "plan again with a higher --max-delete-fraction or --force)")
    return None
