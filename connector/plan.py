"""The plan: what a sync must add, patch and delete, worked out from the validated
source and the campaign's live contacts. Pure: no I/O, no clock.

`build_plan(valid, rejects, remote, mode, options)` returns a `Plan`, a value that
can be printed (`summary_lines`), saved (`to_json`), loaded back (`Plan.from_json`)
and tested. Its two tables account for everything:

* ``rows``: one line per source row, ``action`` one of add, update, unchanged,
  deferred, rejected, with ``reason``; the new values and, when the key matched a
  remote contact, that contact's values before (``before_*``); ``changed`` lists the
  fields an update patches.
* ``remote``: one line per remote contact, ``action`` one of kept, updated, deleted,
  deferred, unmanaged, with ``reason`` and the contact's values as listed.

The rules are product.md's "Sync modes" and "Rules that protect data"; the
comparisons normalize both sides, so the same data never yields an update.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .contact import ACTIVE_STATUSES, KNOWN_STATUSES, LINE_COLUMN
from .normalize import (
    KeyCodes,
    as_text,
    collapse_spaces,
    norm_emails,
    norm_phones,
    phone_hashes,
    stripped_text,
)

MODES = ("add-only", "upsert", "mirror")
SOURCE_ACTIONS = ("add", "update", "unchanged", "deferred", "rejected")
REMOTE_ACTIONS = ("kept", "updated", "deleted", "deferred", "unmanaged")
FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number")
#: the fields a PATCH can change; outbound_number differences are only reported
COMPARED = ("name", "email", "phone_number")
REMOTE_COLUMNS = ("remote_id", "external_unique_id", "name", "email", "phone_number",
                  "outbound_number", "status")
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
            "source": {a: int(src.get(a, 0)) for a in SOURCE_ACTIONS},
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
        for rec in self.deletes.to_dict("records"):
            yield "delete", rec
        updates = self.updates.sort_values(["wave", "line"], kind="stable")
        for rec in updates.to_dict("records"):
            yield "update", rec
        for rec in self.adds.to_dict("records"):
            yield "add", rec

    # ------------------------------------------------------------ text
    def summary_lines(self) -> list[str]:
        c = self.counts()
        out = [f"mode {self.mode}: {c['source_rows']:,} source rows, "
               f"{c['remote_contacts']:,} campaign contacts"]
        out.append(f"{'source rows':<22}" + "  ".join(
            f"{a} {c['source'][a]:,}" for a in SOURCE_ACTIONS))
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
        """The plan as JSON text: the same document as `to_dict`, with the four tables
        encoded by pandas (C speed: a million rows in a couple of seconds).

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
        parts = [json.dumps(head, ensure_ascii=False)[:-1]]
        for name, frame in (("rows", self.rows[~carried_rows]),
                            ("remote", self.remote[~carried_remote]),
                            ("conflicts", self.conflicts), ("rejects", self.rejects),
                            ("notes", self.notes)):
            body = frame.to_json(orient="records", force_ascii=False) if len(frame) else "[]"
            parts.append(f', "{name}": {body}')
        return "".join(parts) + "}"

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


# ---------------------------------------------------------------- building


def build_plan(valid: pd.DataFrame, rejects: pd.DataFrame, remote: pd.DataFrame,
               options: PlanOptions | None = None, *, mode: str | None = None,
               meta: Mapping[str, Any] | None = None,
               carried: pd.DataFrame | None = None,
               protect: pd.DataFrame | None = None) -> Plan:
    """Work out the plan.

    valid: normalized contacts (the five fields and ``__line__``), as
    `schema.normalize_contacts` gives them. rejects: its reject records (line, key,
    field, value, reason, hint). remote: `remote_frame(...)` of the campaign.
    carried: rows (line, external_unique_id) known to be unchanged since the last
    applied run, source and campaign side alike: they are not compared again.
    protect: the rejected rows as read (line, key, phone_number, email), see
    `ValidationResult.rejected_rows`; each protects the contact it describes. Without
    it, the reject records' keys do.
    """
    if options is None:
        options = PlanOptions(mode=mode or "upsert")
    elif mode is not None and mode != options.mode:
        options = PlanOptions(mode=mode, max_delete_fraction=options.max_delete_fraction,
                              force=options.force, region=options.region)
    region = options.region

    # -- remote side, normalized for comparison
    rem = remote.reset_index(drop=True).copy()
    for c in REMOTE_COLUMNS[1:]:
        rem[c] = as_text(rem[c]) if c in rem else ""
    rem["key"] = stripped_text(rem["external_unique_id"])
    src = valid.reset_index(drop=True)
    carried_keys = (carried["external_unique_id"].to_numpy(dtype=object)
                    if carried is not None else np.array([], dtype=object))
    # every key (campaign, source, carried) hashed once into a small int: each join
    # below is then an array look-up, not a hash join of a million strings
    rkeys = rem["key"].to_numpy(dtype=object)
    codes = KeyCodes(rkeys, src["external_unique_id"].astype(str).to_numpy(dtype=object),
                     carried_keys)
    r_codes, s_codes, c_codes = codes.parts
    # each campaign contact's carried row, if any (used three times); a carried
    # contact's phone is known by the hash the last run recorded (its listed fields
    # have not changed since): only the other phones are normalized
    carried_at = codes.first_of(c_codes)[r_codes]
    held = _carried_phone_hashes(carried, carried_at)
    if held is None:
        rem["n_phone_number"] = norm_phones(rem["phone_number"], region)
    else:
        n_phone = _cells(len(rem), "")
        other = held.isna().to_numpy()
        if other.any():
            n_phone[other] = norm_phones(rem.loc[other, "phone_number"], region).to_numpy()
        rem["n_phone_number"] = n_phone
    # the campaign contacts' fates, as arrays (set into `rem` where read by frame)
    n_rem = len(rem)
    r_action = _cells(n_rem, "")
    r_reason = _cells(n_rem, "")

    def fate(mask: np.ndarray, action: str, reason: str) -> None:
        r_action[mask] = action
        r_reason[mask] = reason

    managed = rkeys != ""
    fate(~managed, "unmanaged", "no_key")
    # keys more than one managed contact holds: a conflict, none of them touched
    holders = codes.count(r_codes[managed])
    conflict_code = holders > 1
    dup_remote = managed & conflict_code[r_codes]
    fate(dup_remote, "kept", "remote_conflict")
    status = rem["status"]
    active = status.isin(ACTIVE_STATUSES).to_numpy()
    unknown = rem.loc[status.ne("") & ~status.isin(KNOWN_STATUSES), "status"]
    unknown_statuses = {str(k): int(v) for k, v in unknown.value_counts().items()}
    # per key, the position of the one managed contact holding it (conflicts: none)
    single_at = codes.only_of(r_codes, managed)

    # -- source side
    rows = pd.DataFrame({
        "line": pd.array(src[LINE_COLUMN].astype("int64"), dtype="Int64"),
        "external_unique_id": src["external_unique_id"].astype(str).to_numpy(),
    })
    for c in FIELDS[1:]:
        rows[c] = src[c].fillna("").astype(str).to_numpy()
    rows["action"] = ""
    rows["reason"] = ""
    rows["changed"] = ""
    rows["detail"] = ""
    rows["remote_id"] = pd.array([None] * len(rows), dtype="Int64")
    for c in ("name", "email", "phone_number", "outbound_number"):
        rows[f"before_{c}"] = ""

    # per source row, the position of its campaign contact (an array look-up)
    at = single_at[s_codes]
    matched = pd.Series(at >= 0, index=rows.index)
    conflicted = conflict_code[s_codes]
    rows.loc[conflicted, ["action", "reason"]] = ("deferred", "remote_conflict")

    m_idx = rows.index[matched]
    hit = rem.iloc[at[at >= 0]]
    rows.loc[m_idx, "remote_id"] = pd.array(hit["remote_id"].to_numpy(), dtype="Int64")
    for c in ("name", "email", "phone_number", "outbound_number"):
        before = _cells(len(rows), "")
        before[at >= 0] = hit[c].to_numpy(dtype=object)
        rows[f"before_{c}"] = before
    # differences, after normalizing both sides; a blank source value changes nothing
    # (names, emails and outbound numbers of the campaign are normalized only where
    # their raw text differs from the source's normalized value: most are equal)
    lazy = {"name": collapse_spaces, "email": norm_emails,
            "outbound_number": lambda v: norm_phones(v, region)}
    diff_names: dict[str, pd.Series] = {}

    def differs(c: str) -> np.ndarray:
        mine = rows.loc[m_idx, c].to_numpy(dtype=object)
        if c in lazy:
            theirs = hit[c].to_numpy(dtype=object)
            diff = (mine != theirs) & (mine != "")
            if diff.any():
                normed = lazy[c](pd.Series(theirs[diff], dtype=object)).to_numpy(dtype=object)
                diff[diff] = normed != mine[diff]
            return diff
        return (mine != hit[f"n_{c}"].to_numpy(dtype=object)) & (mine != "")

    for c in COMPARED:
        diff_names[c] = pd.Series(differs(c), index=m_idx)
    out_diff = differs("outbound_number")
    outbound_differences = int(out_diff.sum())
    # the list of changed fields, built only where something changed
    any_diff = np.zeros(len(m_idx), dtype=bool)
    for c in COMPARED:
        any_diff |= diff_names[c].to_numpy()
    changed_text = _cells(len(m_idx), "")
    if any_diff.any():
        flags = [diff_names[c].to_numpy()[any_diff] for c in COMPARED]
        changed_text[any_diff] = [",".join(c for c, f in zip(COMPARED, fs) if f)
                                  for fs in zip(*flags)]
    changed = pd.Series(changed_text, index=m_idx, dtype=object)
    rows.loc[m_idx, "changed"] = changed.to_numpy()
    if out_diff.any():
        rows.loc[m_idx[out_diff], "detail"] = (
            "campaign outbound_number " + hit["outbound_number"].to_numpy()[out_diff]
            + " differs (not patchable)")

    hit_active = pd.Series(hit["status"].isin(ACTIVE_STATUSES).to_numpy(), index=m_idx)
    hit_no_id = pd.Series(hit["remote_id"].isna().to_numpy(), index=m_idx)
    has_change = changed.ne("")
    todo = rows.loc[m_idx, "action"].eq("")
    # order of precedence for matched rows
    sel = todo & hit_active & has_change
    rows.loc[sel[sel].index, ["action", "reason"]] = ("deferred", "active_status")
    rows.loc[sel[sel].index, "detail"] = "status " + hit["status"].to_numpy(
        dtype=object)[sel.to_numpy()]
    todo &= ~sel
    sel = todo & ~has_change
    rows.loc[sel[sel].index, ["action", "reason"]] = ("unchanged", "same")
    todo &= ~sel
    if options.mode == "add-only":
        rows.loc[todo[todo].index, ["action", "reason"]] = ("unchanged", "add_only")
        todo &= False
    sel = todo & hit_no_id
    rows.loc[sel[sel].index, ["action", "reason"]] = ("deferred", "no_remote_id")
    todo &= ~sel
    rows.loc[todo[todo].index, ["action", "reason"]] = ("update", "changed")
    new = rows["action"].eq("") & ~matched
    rows.loc[new, ["action", "reason"]] = ("add", "new")
    rows.loc[~rows["action"].isin(["update"]), "changed"] = ""

    # -- rows carried over from the last run: unchanged, their contacts kept
    is_carried = carried_at >= 0
    if len(carried_keys):
        fate((r_action == "") & is_carried, "kept", "same_as_last_run")

    # -- remote contacts' fate, before phone checks (deletes free phones)
    todo_r = r_action == ""
    in_valid = codes.among(r_codes, s_codes)
    if len(carried_keys):
        in_valid |= is_carried
    r_detail = _cells(n_rem, "")
    # a contact a rejected source row describes (by its key, else its phone, else its
    # email) is neither updated nor deleted: a row that lost its key still protects
    # its person
    guard_at, guard_why = _protected(rem, protect if protect is not None
                                     else _protect_from(rejects), todo_r & ~in_valid)
    guarded = guard_at >= 0
    fate(guarded, "deferred", "source_row_rejected")
    r_detail[guarded] = guard_why[guarded]
    todo_r &= ~guarded
    absent = todo_r & ~in_valid
    if options.mode == "mirror" and absent.any():
        # a key that differs from a source row's only in case or invisible characters
        # is that row's person under a mangled key: not deleted
        gone = np.flatnonzero(absent)
        folded = _near_keys(src, protect, {_fold(k) for k in rkeys[gone]})
        if folded:
            near = np.zeros(n_rem, dtype=bool)
            near[gone] = [_fold(k) in folded for k in rkeys[gone]]
            fate(near, "deferred", "key_differs")
            r_detail[near] = [f"source line {folded[_fold(k)][0]} has the key "
                              f"{folded[_fold(k)][1]!r}, which differs only in case or "
                              "spacing" for k in rkeys[near]]
            absent &= ~near
    if options.mode == "mirror":
        no_id = rem["remote_id"].isna().to_numpy()
        fate(absent & active, "deferred", "active_status")
        fate(absent & ~active & no_id, "deferred", "no_remote_id")
        fate(absent & ~active & ~no_id, "deleted", "not_in_source")
    else:
        fate(absent, "kept", "kept_not_in_source")

    # -- phone conflicts: a phone held by another campaign contact that keeps it
    rem["action"] = r_action
    clash, waves = _phone_conflicts(rows, rem, held)
    phone = rows["phone_number"]
    rows["wave"] = pd.array([None] * len(rows), dtype="Int64")
    if waves:
        rows.loc[list(waves), "wave"] = list(waves.values())
    rows.loc[rows["action"].eq("update") & rows["wave"].isna(), "wave"] = 0

    # -- remote side of the source rows (each contact by its key's source rows)
    row_action = rows["action"].to_numpy(dtype=object)
    row_reason = rows["reason"].to_numpy(dtype=object)
    for rows_mask, action, reason in (
            (row_action == "update", "updated", "changed"),
            (row_reason == "active_status", "deferred", "active_status"),
            (row_reason == "no_remote_id", "deferred", "no_remote_id"),
            (row_reason == "phone_in_use", "deferred", "source_row_rejected")):
        if rows_mask.any():
            fate((r_action == "") & codes.among(r_codes, s_codes[rows_mask]), action, reason)
    fate(r_action == "", "kept", "same")
    rem["action"] = r_action
    rem["reason"] = r_reason
    rem["detail"] = r_detail

    # -- rejected rows: one line per source row, reasons joined
    rej_rows = _rejected_rows(rejects)
    parts = [rows[list(ROW_COLUMNS)]] + ([rej_rows] if len(rej_rows) else [])
    table = _in_line_order(parts, carried["line"] if len(carried_keys) else None,
                           carried_keys)

    remote_out = rem[list(REMOTE_PLAN_COLUMNS)].copy()
    remote_out["external_unique_id"] = rem["external_unique_id"]
    conflicts = rem.loc[dup_remote, list(REMOTE_COLUMNS)].sort_values(
        ["external_unique_id", "remote_id"], kind="stable").reset_index(drop=True)

    problems = empty_frame(REJECT_COLUMNS) if rejects is None else rejects.reindex(
        columns=list(REJECT_COLUMNS), fill_value="")
    if clash.any():
        extra = pd.DataFrame({"line": rows.loc[clash, "line"].to_numpy(),
                              "key": rows.loc[clash, "external_unique_id"].to_numpy(),
                              "field": "phone_number", "value": phone[clash].to_numpy(),
                              "reason": "phone_in_use",
                              "hint": (rows.loc[clash, "detail"] + "; " +
                                       REASONS["phone_in_use"]).to_numpy()})
        problems = pd.concat([problems, extra], ignore_index=True) if len(problems) else extra
    problems = problems.sort_values(["line", "field"], kind="stable").reset_index(drop=True)

    plan = Plan(options=options, rows=table, remote=remote_out.reset_index(drop=True),
                conflicts=conflicts, rejects=problems, unknown_statuses=unknown_statuses,
                outbound_differences=outbound_differences, meta=dict(meta or {}))
    plan.refused = _safety(plan, has_valid=len(src) > 0 or len(carried_keys) > 0)
    return plan


def _protect_from(rejects: pd.DataFrame) -> pd.DataFrame:
    """Rejected rows known only by their reject records: line and key."""
    if rejects is None or not len(rejects) or "key" not in rejects.columns:
        return pd.DataFrame({"line": [], "key": [], "phone_number": [], "email": []})
    first = rejects.drop_duplicates("line")
    return pd.DataFrame({"line": first["line"].to_numpy(), "key": first["key"].to_numpy(),
                         "phone_number": "", "email": ""})


def _protected(rem: pd.DataFrame, protect: pd.DataFrame, open_: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per campaign contact still open, the line of the rejected source row that
    describes it (-1: none) and why: the row's key when a contact holds it, else its
    phone, else its email. Only the few rejected rows are looked up."""
    n = len(rem)
    at = np.full(n, -1, dtype=np.int64)
    why = _cells(n, "")
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


def _fold(key: Any) -> str:
    """A key as compared for 'the same but for case or spacing'."""
    return "".join(str(key).split()).casefold()


def _near_keys(src: pd.DataFrame, protect: pd.DataFrame | None, wanted: set[str]
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
            f = _fold(key)
            if key.strip() and f in wanted and f != key:
                out.setdefault(f, (int(line), key))
    return out


def _cells(n: int, value: str) -> np.ndarray:
    """An object array of `n` times `value` (filling an empty array is several times
    cheaper than np.full for objects)."""
    out = np.empty(n, dtype=object)
    out[:] = value
    return out


#: the carried rows' cells besides line and key (the Int64 columns: missing)
_CARRIED_CELLS = {"action": "unchanged", "reason": CARRIED_REASON}


def _in_line_order(parts: list[pd.DataFrame], carried_lines: pd.Series | None,
                   carried_keys: np.ndarray) -> pd.DataFrame:
    """The plan's rows: `parts` (frames of ROW_COLUMNS) and the rows carried from the
    last run (unchanged, known by line and key), in line order; stable, so the rows
    of one line keep their order. Built column by column: a carried row's cells are
    all alike but its line and key, so only the parts' rows are placed one by one."""
    if carried_lines is None or not len(carried_keys):
        table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        line = table["line"]
        if line.isna().any():
            return table.sort_values("line", kind="stable").reset_index(drop=True)
        values = line.to_numpy(dtype="int64")
        if len(values) and (values[1:] < values[:-1]).any():
            # numpy's argsort on the plain ints: much cheaper than sort_values on
            # the nullable column
            table = table.take(np.argsort(values, kind="stable"))
        return table.reset_index(drop=True)
    lines = [p["line"] for p in parts] + [pd.Series(pd.array(carried_lines.to_numpy(),
                                                             dtype="Int64"))]
    if any(line.isna().any() for line in lines):
        n_same = len(carried_keys)
        same = pd.DataFrame({
            c: (lines[-1].array if c == "line" else carried_keys
                if c == "external_unique_id"
                else pd.array([None] * n_same, dtype="Int64") if c in ("remote_id", "wave")
                else _cells(n_same, _CARRIED_CELLS.get(c, "")))
            for c in ROW_COLUMNS})
        return _in_line_order([*parts, same], None, carried_keys)
    all_lines = np.concatenate([line.to_numpy(dtype="int64") for line in lines])
    order = np.argsort(all_lines, kind="stable")
    n = len(order)
    n_other = n - len(carried_keys)
    where = np.empty(n, dtype=np.intp)
    where[order] = np.arange(n)
    other_at = where[:n_other]  # where the parts' rows go
    columns: dict[str, Any] = {}
    for c in ROW_COLUMNS:
        if c == "line":
            columns[c] = pd.array(all_lines[order], dtype="Int64")
        elif c == "external_unique_id":
            columns[c] = np.concatenate([p[c].to_numpy(dtype=object) for p in parts]
                                        + [carried_keys])[order]
        elif c in ("remote_id", "wave"):
            values = np.zeros(n, dtype="int64")
            missing = np.ones(n, dtype=bool)
            if n_other:
                values[other_at] = np.concatenate(
                    [p[c].to_numpy(dtype="int64", na_value=0) for p in parts])
                missing[other_at] = np.concatenate([p[c].isna().to_numpy() for p in parts])
            columns[c] = pd.arrays.IntegerArray(values, missing)
        else:
            cells = _cells(n, _CARRIED_CELLS.get(c, ""))
            if n_other:
                cells[other_at] = np.concatenate([p[c].to_numpy(dtype=object) for p in parts])
            columns[c] = cells
    return pd.DataFrame(columns)


def _carried_positions(carried_keys: np.ndarray, rem_keys: pd.Series) -> np.ndarray:
    """Per campaign contact, the position of the carried row with its key, else -1.
    Carried keys are unique (a carried row's key appears once in the source); were
    they not, the first row with the key is the one found."""
    codes = KeyCodes(rem_keys.to_numpy(dtype=object), carried_keys)
    remote, carried = codes.parts
    return codes.first_of(carried)[remote]


def _carried_phone_hashes(carried: pd.DataFrame | None, carried_at: np.ndarray
                          ) -> pd.Series | None:
    """Per campaign contact, the phone hash recorded for it when it is a carried row's
    contact (`carried` has a ``phone_hash`` column: see `sync._validate_incremental`),
    else NA; None when no carried row has one. carried_at: `_carried_positions`."""
    if carried is None or "phone_hash" not in carried or not len(carried):
        return None
    hashes = carried["phone_hash"]
    known = hashes.notna().to_numpy()
    if not known.any():
        return None
    values = hashes.to_numpy(dtype="int64", na_value=0)
    found = carried_at >= 0
    found[found] = known[carried_at[found]]
    return pd.Series(pd.arrays.IntegerArray(np.where(found, values[carried_at], 0), ~found))


def _phone_holders(rem: pd.DataFrame, held: pd.Series | None
                   ) -> tuple[pd.Series, Callable[[pd.Series], pd.Series]]:
    """The first campaign contact holding each phone (deleted ones hold none), as a
    Series key by phone, and how to turn source phones into that Series' index: the
    E.164 text itself, or (with `held`, the carried contacts' recorded phone hashes)
    the phone's hash, which carried and normalized phones alike have."""
    live = ~rem["action"].eq("deleted").to_numpy()
    phones = rem["n_phone_number"].to_numpy(dtype=object)
    as_index: Callable[[pd.Series], pd.Series] = lambda phone: phone  # noqa: E731
    if held is None:
        ident, has = phones, phones != ""
    else:
        ident = held.to_numpy(dtype="int64", na_value=0).copy()
        has = held.notna().to_numpy().copy()
        other = ~has & (phones != "")
        if other.any():
            ident[other] = phone_hashes(phones[other]).to_numpy()
        has |= other

        def as_index(phone: pd.Series) -> pd.Series:
            return pd.Series(phone_hashes(phone.to_numpy(dtype=object)).to_numpy(),
                             index=phone.index)
    has &= live
    holders = pd.DataFrame({"phone": ident[has], "key": rem["key"].to_numpy(dtype=object)[has]})
    holders = holders.drop_duplicates("phone")
    return pd.Series(holders["key"].to_numpy(), index=holders["phone"].to_numpy()), as_index


def _phone_conflicts(rows: pd.DataFrame, rem: pd.DataFrame, held: pd.Series | None = None
                     ) -> tuple[pd.Series, dict[int, int]]:
    """Reject (phone_in_use) each add or update whose phone another campaign contact
    keeps after this plan. A phone is free when its holder is deleted (deletes go
    first) or, for adds, updated to another phone (updates go before adds). An
    update may take a phone that another update frees: it then goes in a later
    wave, after that one; updates that would swap phones (a cycle) are rejected.
    Returns the rejected rows' mask and the wave of every update taking a freed phone.
    `held`: see `_carried_phone_hashes` (phones are then matched by their hashes).
    """
    holder_key, as_index = _phone_holders(rem, held)
    keys = rows["external_unique_id"]
    phone = rows["phone_number"]
    owner = as_index(phone).map(holder_key).where(phone.ne(""))
    foreign = owner.notna() & owner.ne(keys) & phone.ne("")
    clash = pd.Series(False, index=rows.index)
    waves: dict[int, int] = {}
    if not foreign.any():
        return clash, waves
    while True:
        is_add = rows["action"].eq("add")
        is_move = rows["action"].eq("update") & rows["changed"].str.contains("phone_number")
        movers = dict(zip(keys[is_move], rows.index[is_move]))  # key -> row moving away
        candidates = foreign & (is_add | is_move)
        freed = owner.isin(movers.keys())
        bad = candidates & ~freed
        # updates that take a phone another update frees: order them, refuse cycles
        deps = {i: movers[owner.at[i]] for i in rows.index[candidates & freed & is_move]}
        waves = {}
        for start in deps:
            chain, node = [], start
            on_chain: set[int] = set()
            while node in deps and node not in waves and node not in on_chain:
                chain.append(node)
                on_chain.add(node)
                node = deps[node]
            if node in on_chain:  # a cycle: every update on it is refused
                cycle = chain[chain.index(node):]
                bad.loc[cycle] = True
                for i in cycle:
                    waves[i] = -1
                chain = chain[:chain.index(node)]
                base = -1
            else:
                base = waves.get(node, 0)
            for i in reversed(chain):
                base = -1 if base < 0 else base + 1
                waves[i] = base
        bad |= pd.Series({i: True for i, w in waves.items() if w < 0}, dtype=bool).reindex(
            rows.index, fill_value=False)
        if not bad.any():
            break
        rows.loc[bad, ["action", "reason"]] = ("rejected", "phone_in_use")
        rows.loc[bad, "detail"] = ("the campaign contact with key " + owner[bad].map(
            lambda k: repr(k) if k else "(none, unmanaged)") + " has " + phone[bad])
        rows.loc[bad, "changed"] = ""
        clash |= bad
        foreign &= ~bad
    return clash, {i: w for i, w in waves.items() if w >= 0}


def _rejected_rows(rejects: pd.DataFrame) -> pd.DataFrame:
    if rejects is None or rejects.empty:
        return empty_frame(ROW_COLUMNS)
    grouped = rejects.groupby("line", sort=True)
    reasons = grouped["reason"].agg(lambda s: ";".join(dict.fromkeys(s)))
    detail = grouped.apply(lambda g: " | ".join(
        f"{f}: {h}" for f, h in zip(g["field"], g["hint"])), include_groups=False)
    key = grouped["key"].first() if "key" in rejects.columns else pd.Series("", index=reasons.index)
    out = pd.DataFrame({"line": pd.array(reasons.index.astype("int64"), dtype="Int64"),
                        "external_unique_id": key.to_numpy(), "action": "rejected",
                        "reason": reasons.to_numpy(), "detail": detail.to_numpy()})
    for c in ROW_COLUMNS:
        if c not in out:
            out[c] = pd.array([None] * len(out), dtype="Int64") if c in ("remote_id",
                                                                          "wave") else ""
    return out[list(ROW_COLUMNS)]


def _safety(plan: Plan, *, has_valid: bool) -> str | None:
    """The delete rule: why the plan is refused, or None."""
    deletes = len(plan.deletes)
    if not deletes or plan.options.force:
        return None
    managed = int(plan.remote["action"].ne("unmanaged").sum())
    if not has_valid:
        return (f"the source has no valid rows, and mirror would delete all {deletes:,} "
                "managed contacts; nothing is sent (fix the source, or add --force)")
    fraction = deletes / managed if managed else 1.0
    if fraction > plan.options.max_delete_fraction:
        return (f"mirror would delete {deletes:,} of {managed:,} managed contacts "
                f"({fraction:.1%}), more than --max-delete-fraction "
                f"{plan.options.max_delete_fraction:.0%}; nothing is sent (check the source, "
                "raise the fraction, or add --force)")
    return None
