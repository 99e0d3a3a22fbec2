"""The compliance ledger: every removal, add-back, opt-out, release and Do-Not-Call push
of a campaign, in time order, as a compliance officer asks for it. Numbers and keys are
given as hashes (SHA-256, first 16 hex digits) and the number masked, so the file can be
handed on; the state store can tell which contact a hash names."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..fileio import write_csv
from ..normalize import norm_phones
from ..privacy import mask_phone

LEDGER_COLUMNS = ("at", "event", "reason", "run_id", "key_hash", "phone_hash", "phone",
                  "by", "detail")


def digest(value: str) -> str:
    """A value's hash as the ledger gives it ("" for "")."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:16] if value else ""


def ledger_events(removals: Iterable[Mapping[str, Any]], added_back: Iterable[Mapping[str, Any]],
                  optouts: Iterable[Mapping[str, Any]], pushes: Iterable[Mapping[str, Any]] = ()
                  ) -> list[dict[str, Any]]:
    """The ledger's rows from the state store's records, oldest first."""
    rows: list[dict[str, Any]] = []
    for r in removals:
        rows.append({"at": r["at"], "event": "removed", "reason": r["reason"],
                     "run_id": r["run_id"], "key": r["key"], "phone": r["phone"], "by": "",
                     "detail": f"contact {r['remote_id']}"})
    for r in added_back:
        rows.append({"at": r["at"], "event": "added_back", "reason": "rollback",
                     "run_id": r["run_id"], "key": r["key"], "phone": r["phone"], "by": "",
                     "detail": ""})
    for r in optouts:
        rows.append({"at": r["opted_at"], "event": "opted_out", "reason": r["reason"],
                     "run_id": r["run_id"], "key": "", "phone": r["phone"], "by": "",
                     "detail": ""})
        if r.get("released_at"):
            rows.append({"at": r["released_at"], "event": "released", "reason": "",
                         "run_id": "", "key": "", "phone": r["phone"],
                         "by": r.get("released_by") or "", "detail": r.get("release_note") or ""})
    for r in pushes:
        rows.append({"at": r["at"], "event": r["event"], "reason": r.get("reason", ""),
                     "run_id": r.get("run_id") or "", "key": "", "phone": r["phone"],
                     "by": "", "detail": r.get("detail", "")})
    # by time to the second, then by run (several runs may share a second), then in the
    # order the store recorded them
    order = {id(r): i for i, r in enumerate(rows)}
    rows.sort(key=lambda r: (str(r["at"])[:19], int(r["run_id"] or 0) or 1 << 62,
                             order[id(r)]))
    return rows


def write_ledger(rows: Iterable[Mapping[str, Any]], output: str | Path,
                 since: str | None = None) -> int:
    """ledger CSV: the events at or after `since` (an ISO date or time). Returns the
    number of rows written."""
    kept = [r for r in rows if not since or str(r["at"]) >= since]
    # numbers as the campaign listed them (+1-(201)-...) hashed and masked in E.164
    phones = norm_phones(pd.Series([r["phone"] for r in kept], dtype=object), None).tolist()
    return write_csv(Path(output), list(LEDGER_COLUMNS), (
        [r["at"], r["event"], r["reason"], r["run_id"], digest(r["key"]), digest(p),
         mask_phone(p) if p else "", r["by"], r["detail"]] for r, p in zip(kept, phones)))
