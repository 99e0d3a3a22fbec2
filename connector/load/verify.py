"""After the writes: what the campaign holds now (a fresh read, or the platform's own
answers to patches and deletes), every operation of a run checked against it, and
the one line that says how."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..api.frame import listed_text
from ..contact import REMOTE_COLUMNS
from ..normalize import comparison_frame, stripped_text
from ..state import OP_STATUSES, StateStore


def verify(store: StateStore, run_id: int, remote: pd.DataFrame, region: str | None
           ) -> tuple[int, int]:
    """Check every operation of the run against a fresh read of the campaign; returns
    (confirmed, not confirmed). Operations that failed stay failed.

    Only the contacts the operations name (by id or key, every copy of a key) are
    normalized for the comparison, so checking 1% of a campaign costs 1%; the
    operations are read a page at a time, so checking a million adds never holds them
    all."""
    lookup = ContactLookup(remote)
    confirmed = total = 0
    for kind in ("delete", "update", "add"):
        for ops in store.operation_pages(run_id, kind, NOT_FAILED):
            ok = _verify_page(ops, remote, lookup, region)
            store.confirm(ok)
            confirmed += sum(1 for _i, good, _r in ok if good)
            total += len(ok)
    return confirmed, total - confirmed


#: the statuses of the operations `verify` checks (a failed one stays failed)
NOT_FAILED = tuple(s for s in OP_STATUSES if s != "failed")


class ContactLookup:
    """Where each id and each (trimmed) key sits among the campaign's contacts, worked
    out once: a page of operations then finds its contacts in time proportional to
    the page, not to the campaign (a scan of 10M contacts per page of 50,000
    operations made verifying a 10M-row first sync quadratic)."""

    def __init__(self, remote: pd.DataFrame) -> None:
        codes, uniques = pd.factorize(
            stripped_text(remote["external_unique_id"]).to_numpy(dtype=object))
        self.keys = pd.Index(uniques)
        self.key_order = np.argsort(codes, kind="stable")
        self.key_bounds = np.searchsorted(codes[self.key_order], np.arange(len(uniques) + 1))
        # a contact without an id is -1, which no operation names
        ids = remote["remote_id"].to_numpy(dtype="int64", na_value=-1)
        self.id_order = np.argsort(ids, kind="stable")
        self.sorted_ids = ids[self.id_order]

    def named(self, ids: set[int], keys: set[str]) -> np.ndarray:
        """The positions (in campaign order) of the contacts with one of `ids`, and of
        every contact holding one of `keys`."""
        found = [np.zeros(0, dtype=np.int64)]
        if keys:
            codes = self.keys.get_indexer(list(keys))
            codes = codes[codes >= 0]
            found += [self.key_order[self.key_bounds[c]:self.key_bounds[c + 1]]
                      for c in codes]
        if ids:
            want = np.fromiter(ids, dtype="int64", count=len(ids))
            want = want[want >= 0]  # -1 stands for "no id" here
            lo = np.searchsorted(self.sorted_ids, want, side="left")
            hi = np.searchsorted(self.sorted_ids, want, side="right")
            found += [self.id_order[a:b] for a, b in zip(lo, hi) if b > a]
        return np.unique(np.concatenate(found))


def _verify_page(ops: list[dict[str, Any]], remote: pd.DataFrame, lookup: ContactLookup,
                 region: str | None) -> list[tuple[int, bool, int | None]]:
    want_ids = {int(op["remote_id"]) for op in ops if op["remote_id"] is not None}
    want_keys = {op["key"] for op in ops if op["key"]}
    named = lookup.named(want_ids, want_keys)
    rem = comparison_frame(remote.iloc[named].reset_index(drop=True), region)
    ids = set(int(x) for x in rem["remote_id"].dropna())
    # the named contacts as plain dicts, by id (the first with it) and by key (a key
    # one contact holds): a look-up per operation, not a pandas row each
    compared = ["n_name", "n_email", "n_phone_number"]
    with_id = rem.dropna(subset=["remote_id"]).drop_duplicates("remote_id")
    by_id = dict(zip(with_id["remote_id"].astype(int).tolist(),
                     with_id[compared].to_dict("records")))
    keyed = rem[rem["key"].ne("")].drop_duplicates("key", keep=False)
    by_key = dict(zip(keyed["key"].tolist(),
                      keyed[[*compared, "remote_id"]].to_dict("records")))

    def same(row: Mapping[str, Any], payload: dict[str, Any]) -> bool:
        for f, v in payload.items():
            if f == "external_unique_id" or f == "outbound_number" or not v:
                continue
            if row[f"n_{f}"] != v:
                return False
        return True

    results = []
    for op in ops:
        if op["kind"] == "delete":
            results.append((op["id"], op["remote_id"] not in ids, None))
        elif op["kind"] == "update":
            ok = op["remote_id"] in ids and same(by_id[op["remote_id"]], op["payload"])
            results.append((op["id"], bool(ok), None))
        else:
            if op["key"] in by_key:
                row = by_key[op["key"]]
                rid = row["remote_id"]
                results.append((op["id"], same(row, op["payload"]),
                                None if pd.isna(rid) else int(rid)))
            else:
                results.append((op["id"], False, None))
    return results


def answers_show_patches(answers: Mapping[int, Any], store: StateStore, run_id: int
                          ) -> bool:
    """True when every done PATCH of the run has an answer showing each field it sent
    (with any value: a different one is then reported unconfirmed)."""
    for op in store.operations(run_id, "update", ["done"]):
        contact = answers.get(int(op["remote_id"])) if op["remote_id"] is not None else None
        if contact is None:
            return False
        if any(getattr(contact, f, None) is None for f in op["payload"]):
            return False
    return True


def after_answers(remote: pd.DataFrame, answers: Mapping[int, Any], store: StateStore,
                  run_id: int) -> pd.DataFrame:
    """The campaign after a run of patches and deletes, without reading it again: the
    read the plan was made from, less the contacts a DELETE answered for, with every
    patched contact as its PATCH answer showed it (the platform's own word on what it
    now holds). `verify` checks the operations against it as against a re-read."""

    gone = {int(op["remote_id"]) for op in store.operations(run_id, "delete")
            if op["status"] == "done" and op["remote_id"] is not None}
    ids = remote["remote_id"]
    after = remote[~ids.isin(gone | set(answers)).fillna(False).to_numpy(dtype=bool)]
    if not answers:
        return after.reset_index(drop=True)
    patched = pd.DataFrame([[c.id] + [listed_text(getattr(c, f)) for f in REMOTE_COLUMNS[1:]]
                            for c in answers.values()], columns=list(REMOTE_COLUMNS),
                           dtype=object)
    patched["remote_id"] = pd.array(patched["remote_id"].to_numpy(), dtype="Int64")
    return pd.concat([after, patched], ignore_index=True)


def verification_text(method: str, attempted: int, failed: int, confirmed: int,
                      unconfirmed: int, contacts: int) -> str:
    """What the run checked after its writes, and how, in one line."""
    if method == "trust-state":
        return ("not verified (--trust-state): the platform's answers to the writes are "
                "taken as the outcome, the campaign is not read again")
    if not attempted:
        return "nothing was sent, so nothing to verify"
    if method == "none":
        return (f"nothing to verify: all {attempted:,} writes failed (see errors.csv)"
                if failed == attempted else "nothing to verify")
    checked = confirmed + unconfirmed
    how = (f"a fresh read of the campaign ({contacts:,} contacts)" if method == "re-read"
           else "the platform's answers to them (a PATCH answers with the contact as "
                "stored, a DELETE with the contact deleted)")
    text = (f"checked {checked:,} of {attempted:,} writes against {how}: {confirmed:,} "
            f"confirmed, {unconfirmed:,} not confirmed")
    return text + (f"; {failed:,} failed and were not checked" if failed else "")
