"""The plan as a value: its options, its tables' columns, the reason codes, and
`Plan` itself (counts, summary lines, JSON both ways)."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from ..contact import REMOTE_COLUMNS

MODES = ("add-only", "upsert", "mirror")
SOURCE_ACTIONS = ("add", "update", "unchanged", "deferred", "rejected", "suppressed",
                  "opted_out")
#: source actions of compliance (suppression lists, opt-outs), counted when present
COMPLIANCE_ACTIONS = ("suppressed", "opted_out")
REMOTE_ACTIONS = ("kept", "updated", "deleted", "deferred", "unmanaged")
FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number")
#: the fields a PATCH can change; outbound_number differences are only reported
COMPARED = ("name", "email", "phone_number")
PLAN_VERSION = 1
#: the reason of rows and contacts carried over unchanged from the last applied run
CARRIED_REASON = "same_as_last_run"

#: reason code -> what it means, for the summary and the report
REASONS: dict[str, str] = {
    "new": "not in the campaign: added",
    "changed": "differs from the campaign: patched",
    "same": "equal to the campaign after normalization",
    "same_as_last_run": "the source row and the campaign contact are as the last run "
                        "left them (not compared again)",
    "add_only": "differs from the campaign, but add-only mode does not update",
    "active_status": "the contact is being dialed or on a call; the next run picks it up",
    "no_remote_id": "the campaign lists this contact without an id, so it cannot be "
                    "patched or deleted",
    "remote_conflict": "two or more campaign contacts have this external_unique_id; fix "
                       "them in the platform",
    "phone_in_use": "another campaign contact, which this run keeps, has this phone "
                    "number; the platform would fail the import",
    "not_in_source": "not in the source: deleted (mirror)",
    "kept_not_in_source": "not in the source; only mirror mode deletes",
    "source_row_rejected": "the source row that describes this contact (by key, else "
                           "phone, else email) was rejected: it is neither updated nor "
                           "deleted until the row is fixed",
    "key_differs": "a source row has this contact's key but for case or spacing: not "
                   "deleted; fix the key in the source or the platform",
    "no_key": "no external_unique_id: added by hand in the platform, never touched",
    "stale": "the campaign contact changed since the plan was made (edited, deleted, on a "
             "call, its phone taken, its key added): not sent; plan again",
    "refused_by_reviewer": "the steward refused this write in the decisions file: not sent",
    "held": "its key is held by the steward (campaign-sync holds): not touched until "
            "released",
    "suppressed": "its phone, email or key is on a suppression list (--suppress): never "
                  "added, its contact removed",
    "opted_out": "its number opted out (Do Not Call, or removed as suppressed): never added "
                 "back until released (campaign-sync optouts release PHONE)",
    "do_not_call": "the contact is in status Do Not Call: its phone is not changed",
    "undo_add": "a rollback: the run being undone added this contact",
    "undo_update": "a rollback: the run being undone patched this contact; patched back",
    "undo_delete": "a rollback: the run being undone deleted this contact; added back",
}


@dataclass(frozen=True)
class PlanOptions:
    """The choices that change a plan."""

    mode: str = "upsert"
    max_delete_fraction: float = 0.10
    force: bool = False
    region: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 0 <= self.max_delete_fraction <= 1:
            raise ValueError("max_delete_fraction must be between 0 and 1")


def empty_frame(columns: Iterable[str]) -> pd.DataFrame:
    """An empty frame of object columns."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


ROW_COLUMNS = ("line", "external_unique_id", "action", "reason", "remote_id", "changed", "wave",
               "name", "email", "phone_number", "outbound_number",
               "before_name", "before_email", "before_phone_number", "before_outbound_number",
               "detail")
REJECT_COLUMNS = ("line", "key", "field", "value", "reason", "hint", "name", "email")
NOTE_COLUMNS = ("line", "field", "value", "note")
REMOTE_PLAN_COLUMNS = ("remote_id", "external_unique_id", "action", "reason", "status",
                       "name", "email", "phone_number", "outbound_number", "detail")


def remote_frame(contacts: Iterable[Any]) -> pd.DataFrame:
    """The campaign's contacts as a frame of REMOTE_COLUMNS (text, "" when absent;
    remote_id as a nullable integer). Takes RemoteContact objects or API dicts already
    read with RemoteContact.from_api; builds column lists, so a million contacts do
    not stay around as objects."""
    cols: dict[str, list[Any]] = {c: [] for c in REMOTE_COLUMNS}
    for c in contacts:
        get = c.get if isinstance(c, Mapping) else lambda k, _c=c: getattr(_c, k, None)
        rid = get("id") if get("remote_id") is None else get("remote_id")
        cols["remote_id"].append(rid)
        for name in REMOTE_COLUMNS[1:]:
            value = get(name)
            cols[name].append("" if value is None else str(value))
    frame = pd.DataFrame({k: v for k, v in cols.items() if k != "remote_id"},
                         columns=list(REMOTE_COLUMNS[1:]), dtype=object)
    frame.insert(0, "remote_id", pd.array(cols["remote_id"], dtype="Int64"))
    return frame


class Write(NamedTuple):
    """One write of a plan, as the state store records it (`StateStore.add_operations`
    takes the first seven fields), and the fingerprint of the campaign contact it was
    decided against (see `contact_fingerprints`)."""

    kind: str                       # delete, update or add
    key: str
    remote_id: int | None
    line: int | None
    wave: int | None
    payload: dict[str, Any]
    before: dict[str, Any] | None   # the contact as it was, for rollback
    against: str

    def operation(self) -> tuple[Any, ...]:
        return tuple(self)[:7]


#: the fields of a campaign contact its fingerprint covers: a contact edited,
#: re-keyed or put on a call since the plan no longer has the same one
FINGERPRINT_FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number",
                      "status")


def contact_fingerprints(remote: pd.DataFrame, ids: Iterable[int] | None = None
                         ) -> dict[int, str]:
    """remote_id -> the fingerprint of the contact as listed (the first with the id),
    for the contacts of `remote` (a frame with FINGERPRINT_FIELDS), or only `ids`."""
    frame = remote.dropna(subset=["remote_id"]).drop_duplicates("remote_id")
    if ids is not None:
        frame = frame[frame["remote_id"].isin(list(ids))]
    out = {}
    columns = [frame[f].astype(str).tolist() if f in frame else [""] * len(frame)
               for f in FINGERPRINT_FIELDS]
    for rid, *values in zip(frame["remote_id"].astype("int64").tolist(), *columns):
        out[int(rid)] = hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:32]
    return out


def _write(kind: str, rec: Mapping[str, Any], fingerprints: Mapping[int, str]) -> Write:
    """One write of a plan from its row (adds, updates) or contact (deletes)."""
    key = _cell(rec.get("external_unique_id"))
    rid = _int_cell(rec.get("remote_id"))
    if kind == "delete":
        before = {f: _cell(rec.get(f)) for f in FIELDS}
        before["status"] = _cell(rec.get("status"))
        before["reason"] = _cell(rec.get("reason"))  # for the removal ledger
        return Write(kind, key, rid, None, None, {"contact_id": rid}, before,
                     fingerprints.get(rid, ""))
    if kind == "update":
        changed = [f for f in _cell(rec.get("changed")).split(",") if f]
        before = {f: _cell(rec.get(f"before_{f}")) for f in FIELDS[1:]}
        before["external_unique_id"] = key
        return Write(kind, key, rid, _int_cell(rec.get("line")),
                     _int_cell(rec.get("wave")) or 0,
                     {f: _cell(rec.get(f)) for f in changed}, before,
                     fingerprints.get(rid, ""))
    payload = {f: _cell(rec.get(f)) for f in FIELDS if _cell(rec.get(f))}
    return Write(kind, key, None, _int_cell(rec.get("line")), None, payload, None, "")


def _cell(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    return str(value)


def _int_cell(value: Any) -> int | None:
    text = _cell(value).strip()
    return int(text) if text else None


@dataclass
class Plan:
    """A worked-out sync. `refused` holds the safety rule's message when the plan must
    not be carried out without --force."""

    options: PlanOptions
    rows: pd.DataFrame
    remote: pd.DataFrame
    conflicts: pd.DataFrame
    rejects: pd.DataFrame = field(default_factory=lambda: empty_frame(REJECT_COLUMNS))
    unknown_statuses: dict[str, int] = field(default_factory=dict)
    outbound_differences: int = 0
    refused: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: notes on single valid rows (line, field, value, note): what was changed in
    #: them on the way (an extension dropped, a later phone column used...)
    notes: pd.DataFrame = field(default_factory=lambda: empty_frame(NOTE_COLUMNS))
    _counted: tuple[tuple[pd.DataFrame, ...], dict[str, Any]] | None = field(
        default=None, init=False, repr=False, compare=False)

    # ------------------------------------------------------------ counts
    @property
    def mode(self) -> str:
        return self.options.mode

    def counts(self) -> dict[str, Any]:
        """What the plan does, in numbers. A run asks several times (report, state,
        summary); the counting over a million rows is done once per set of frames (a
        plan's frames are not changed in place once built)."""
        frames = (self.rows, self.remote, self.conflicts)
        cached = self._counted
        if cached is None or any(a is not b for a, b in zip(cached[0], frames)):
            cached = self._counted = (frames, self._count_frames())
        return {**copy.deepcopy(cached[1]),
                "unknown_statuses": dict(self.unknown_statuses),
                "outbound_differences": int(self.outbound_differences)}

    def _count_frames(self) -> dict[str, Any]:
        src = self.rows["action"].value_counts()
        rem = self.remote["action"].value_counts()
        reasons = self.rows.loc[self.rows["action"].eq("rejected"), "reason"]
        per_reason: dict[str, int] = {}
        for text, n in reasons.value_counts().items():
            for reason in str(text).split(";"):
                per_reason[reason] = per_reason.get(reason, 0) + int(n)
        return {
            "source_rows": int(len(self.rows)),
            "remote_contacts": int(len(self.remote)),
            # the compliance actions only when a row has them: a plan without lists
            # reads as before
            "source": {a: int(src.get(a, 0)) for a in SOURCE_ACTIONS
                       if a not in COMPLIANCE_ACTIONS or src.get(a, 0)},
            "remote": {a: int(rem.get(a, 0)) for a in REMOTE_ACTIONS},
            "reject_reasons": dict(sorted(per_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
            "deferred_reasons": _reason_counts(self.rows, "deferred"),
            "conflicts": int(self.conflicts["external_unique_id"].nunique())
            if len(self.conflicts) else 0,
        }

    @property
    def adds(self) -> pd.DataFrame:
        return self.rows[self.rows["action"].eq("add")]

    @property
    def updates(self) -> pd.DataFrame:
        return self.rows[self.rows["action"].eq("update")]

    @property
    def deletes(self) -> pd.DataFrame:
        return self.remote[self.remote["action"].eq("deleted")]

    def has_writes(self) -> bool:
        c = self.counts()  # counted once a run, not three more scans of the frames
        return bool(c["source"]["add"] or c["source"]["update"] or c["remote"]["deleted"])

    def operations(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Writes in the order they must go out: deletes, then updates (wave by wave: an
    update of wave n takes a phone that one of wave n-1 frees), then adds."""
        for kind, records in self._write_batches():
            for rec in records:
                yield kind, rec

    def _write_batches(self, batch: int = 50_000
                       ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """The writes' rows (deletes: contacts) in `operations` order, `batch` at a time."""
        updates = self.updates.sort_values(["wave", "line"], kind="stable")
        for kind, frame in (("delete", self.deletes), ("update", updates), ("add", self.adds)):
            for start in range(0, len(frame), batch):
                yield kind, frame.iloc[start:start + batch].to_dict("records")

    def writes(self) -> list[Write]:
        """Every write of the plan, in the order it goes out (`operations`), as the
        state store records it, each with the fingerprint of the campaign contact it
        was decided against (updates and deletes; "" for adds)."""
        return list(self.iter_writes())

    def iter_writes(self, batch: int = 50_000) -> Iterator[Write]:
        """`writes`, built `batch` rows at a time: the writes of a million-row plan are
        never all Python objects at once."""
        for kind, records in self._write_batches(batch):
            fingerprints = {} if kind == "add" else contact_fingerprints(self.remote, {
                rec["remote_id"] for rec in records if not pd.isna(rec["remote_id"])})
            for rec in records:
                yield _write(kind, rec, fingerprints)

    # ------------------------------------------------------------ text
    def summary_lines(self) -> list[str]:
        c = self.counts()
        out = [f"mode {self.mode}: {c['source_rows']:,} source rows, "
               f"{c['remote_contacts']:,} campaign contacts"]
        out.append(f"{'source rows':<22}" + "  ".join(
            f"{a} {n:,}" for a, n in c['source'].items()))
        out.append(f"{'campaign contacts':<22}" + "  ".join(
            f"{a} {c['remote'][a]:,}" for a in REMOTE_ACTIONS))
        for title, key in (("rejected", "reject_reasons"), ("deferred", "deferred_reasons")):
            for reason, n in c[key].items():
                out.append(f"  {title:<10}{reason:<26}{n:>9,}")
        if c["conflicts"]:
            out.append(f"  conflicts: {c['conflicts']:,} external_unique_id values are on "
                       "more than one campaign contact; neither is touched")
        for status, n in c["unknown_statuses"].items():
            out.append(f"  unknown status {status!r} on {n:,} contacts: treated as not active")
        if c["outbound_differences"]:
            out.append(f"  {c['outbound_differences']:,} contacts have another "
                       "outbound_number in the campaign (not patchable; reported only)")
        if len(self.notes):
            first = self.notes.iloc[0]
            out.append(f"  notes on {self.notes['line'].nunique():,} rows, e.g. line "
                       f"{int(first['line'])}: {first['note']} (value {first['value']!r}); "
                       "every one in actions.csv and the report")
        if self.refused:
            out.append(f"REFUSED: {self.refused}")
        return out

    # ------------------------------------------------------------ json
    def to_dict(self) -> dict[str, Any]:
        return {"version": PLAN_VERSION, "options": asdict(self.options),
                "meta": self.meta, "counts": self.counts(), "refused": self.refused,
                "unknown_statuses": self.unknown_statuses,
                "outbound_differences": self.outbound_differences,
                "rows": _records(self.rows), "remote": _records(self.remote),
                "conflicts": _records(self.conflicts), "rejects": _records(self.rejects),
                "notes": _records(self.notes)}

    def to_json(self) -> str:
        """The plan as JSON text (see `json_parts`)."""
        return "".join(self.json_parts())

    def json_parts(self, batch: int = 50_000) -> Iterator[str]:
        """The plan as JSON text, in pieces: the same document as `to_dict`, with the
        four tables encoded by pandas (C speed), `batch` rows at a time, so the text of
        a million-row plan is never held whole.

        Rows and campaign contacts carried over unchanged from the last applied run
        (reason ``same_as_last_run``) are not listed one by one: ``carried`` gives
        their numbers and ``counts`` still has them (actions.csv lists every row), so
        a nightly run's plan.json is the size of what changed."""
        carried_rows = self.rows["reason"].eq(CARRIED_REASON)
        carried_remote = self.remote["reason"].eq(CARRIED_REASON)
        head = {k: v for k, v in self.to_dict_head().items()}
        head["carried"] = {"rows": int(carried_rows.sum()),
                           "remote": int(carried_remote.sum()),
                           "note": "identical to the last applied run on both sides; "
                                   "counted, not listed (actions.csv lists every row)"}
        yield json.dumps(head, ensure_ascii=False)[:-1]
        for name, frame, skip in (("rows", self.rows, carried_rows),
                                  ("remote", self.remote, carried_remote),
                                  ("conflicts", self.conflicts, None),
                                  ("rejects", self.rejects, None),
                                  ("notes", self.notes, None)):
            yield f', "{name}": ['
            first = True
            for start in range(0, len(frame), batch):
                part = frame.iloc[start:start + batch]
                if skip is not None:
                    part = part[~skip.iloc[start:start + batch].to_numpy()]
                if not len(part):
                    continue
                body = part.to_json(orient="records", force_ascii=False)
                yield body[1:-1] if first else "," + body[1:-1]
                first = False
            yield "]"
        yield "}"

    def to_dict_head(self) -> dict[str, Any]:
        """Everything of `to_dict` but the four tables."""
        return {"version": PLAN_VERSION, "options": asdict(self.options),
                "meta": self.meta, "counts": self.counts(), "refused": self.refused,
                "unknown_statuses": self.unknown_statuses,
                "outbound_differences": self.outbound_differences}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Plan:
        if doc.get("version") != PLAN_VERSION:
            raise ValueError(f"plan version {doc.get('version')!r} is not {PLAN_VERSION}")
        return cls(options=PlanOptions(**doc["options"]),
                   rows=_frame(doc["rows"], ROW_COLUMNS),
                   remote=_frame(doc["remote"], REMOTE_PLAN_COLUMNS),
                   conflicts=_frame(doc["conflicts"], REMOTE_COLUMNS),
                   rejects=_frame(doc.get("rejects") or [], REJECT_COLUMNS),
                   notes=_frame(doc.get("notes") or [], NOTE_COLUMNS),
                   unknown_statuses=dict(doc.get("unknown_statuses") or {}),
                   outbound_differences=int(doc.get("outbound_differences") or 0),
                   refused=doc.get("refused"), meta=dict(doc.get("meta") or {}))

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return cls.from_dict(json.loads(text))


def _reason_counts(rows: pd.DataFrame, action: str) -> dict[str, int]:
    counts = rows.loc[rows["action"].eq(action), "reason"].value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    out = frame.astype(object).where(frame.notna(), None)
    return out.to_dict("records")


def _frame(records: list[dict[str, Any]], columns: Iterable[str]) -> pd.DataFrame:
    columns = list(columns)
    if not records:
        frame = empty_frame(columns)
    else:
        frame = pd.DataFrame.from_records(records, columns=columns)
    for c in columns:
        if c in ("line", "remote_id", "wave"):  # nullable integers
            frame[c] = pd.array(frame[c], dtype="Int64")
        else:
            frame[c] = frame[c].fillna("").astype(str).astype(object)
    return frame


def object_cells(n: int, value: str) -> np.ndarray:
    """An object array of `n` times `value` (filling an empty array is several times
    cheaper than np.full for objects)."""
    out = np.empty(n, dtype=object)
    out[:] = value
    return out
