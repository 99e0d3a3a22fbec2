"""Matching: the source rows against the campaign's contacts, by key, compared after
normalizing both sides; each row and each contact gets its action and reason. The
one entry point is `build_plan`; phones, ordering and the delete rule are in the
rooms beside it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..contact import ACTIVE_STATUSES, KNOWN_STATUSES, LINE_COLUMN
from ..normalize import KeyCodes, as_text, collapse_spaces, norm_emails, norm_phones, stripped_text
from .compliance import Compliance, apply_compliance
from .model import (
    CARRIED_REASON,
    COMPARED,
    FIELDS,
    REASONS,
    REJECT_COLUMNS,
    REMOTE_COLUMNS,
    REMOTE_PLAN_COLUMNS,
    ROW_COLUMNS,
    Plan,
    PlanOptions,
    empty_frame,
    object_cells,
)
from .order import in_line_order, rejected_rows_table
from .phones import carried_phone_hashes, phone_conflicts
from .safety import delete_refusal, fold_key, near_keys, protect_from, protected_contacts


def build_plan(valid: pd.DataFrame, rejects: pd.DataFrame, remote: pd.DataFrame,
               options: PlanOptions | None = None, *, mode: str | None = None,
               meta: Mapping[str, Any] | None = None,
               carried: pd.DataFrame | None = None,
               protect: pd.DataFrame | None = None,
               hold: Collection[str] = (),
               compliance: Compliance | None = None) -> Plan:
    """Work out the plan.

    valid: normalized contacts (the five fields and ``__line__``), as
    `validate.normalize_contacts` gives them. rejects: its reject records (line, key,
    field, value, reason, hint). remote: `remote_frame(...)` of the campaign.
    carried: rows (line, external_unique_id) known to be unchanged since the last
    applied run, source and campaign side alike: they are not compared again.
    protect: the rejected rows as read (line, key, phone_number, email), see
    `ValidationResult.rejected_rows`; each protects the contact it describes. Without
    it, the reject records' keys do.
    hold: keys the steward holds (`campaign-sync holds`): their rows are neither added
    nor updated, their contacts neither patched nor deleted (deferred, reason held).
    compliance: suppressed and opted-out numbers (see `plan.compliance`).
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
    held = carried_phone_hashes(carried, carried_at)
    if "n_phone_number" in remote:  # already worked out so (see plan.parts)
        rem["n_phone_number"] = as_text(rem["n_phone_number"])
    elif held is None:
        rem["n_phone_number"] = norm_phones(rem["phone_number"], region)
    else:
        n_phone = object_cells(len(rem), "")
        other = held.isna().to_numpy()
        if other.any():
            n_phone[other] = norm_phones(rem.loc[other, "phone_number"], region).to_numpy()
        rem["n_phone_number"] = n_phone
    # the campaign contacts' fates, as arrays (set into `rem` where read by frame)
    n_rem = len(rem)
    r_action = object_cells(n_rem, "")
    r_reason = object_cells(n_rem, "")

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
        before = object_cells(len(rows), "")
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
    changed_text = object_cells(len(m_idx), "")
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
    r_detail = object_cells(n_rem, "")
    # a contact a rejected source row describes (by its key, else its phone, else its
    # email) is neither updated nor deleted: a row that lost its key still protects
    # its person
    guard_at, guard_why = protected_contacts(rem, protect if protect is not None
                                     else protect_from(rejects), todo_r & ~in_valid)
    guarded = guard_at >= 0
    fate(guarded, "deferred", "source_row_rejected")
    r_detail[guarded] = guard_why[guarded]
    todo_r &= ~guarded
    absent = todo_r & ~in_valid
    if options.mode == "mirror" and absent.any():
        # a key that differs from a source row's only in case or invisible characters
        # is that row's person under a mangled key: not deleted
        gone = np.flatnonzero(absent)
        folded = near_keys(src, protect, {fold_key(k) for k in rkeys[gone]})
        if folded:
            near = np.zeros(n_rem, dtype=bool)
            near[gone] = [fold_key(k) in folded for k in rkeys[gone]]
            fate(near, "deferred", "key_differs")
            r_detail[near] = [f"source line {folded[fold_key(k)][0]} has the key "
                              f"{folded[fold_key(k)][1]!r}, which differs only in case or "
                              "spacing" for k in rkeys[near]]
            absent &= ~near
    if options.mode == "mirror":
        no_id = rem["remote_id"].isna().to_numpy()
        fate(absent & active, "deferred", "active_status")
        fate(absent & ~active & no_id, "deferred", "no_remote_id")
        fate(absent & ~active & ~no_id, "deleted", "not_in_source")
    else:
        fate(absent, "kept", "kept_not_in_source")

    # -- keys the steward holds: nothing is written for them (before the phone checks,
    # so a held contact keeps its phone)
    if hold:
        held_keys = list(hold)
        held_rows = (rows["external_unique_id"].isin(held_keys)
                     & rows["action"].isin(["add", "update"])).to_numpy()
        why = "its key is held (campaign-sync holds release KEY to let it through)"
        if held_rows.any():
            rows.loc[held_rows, ["action", "reason", "changed", "detail"]] = (
                "deferred", "held", "", why)
            fate((r_action == "") & codes.among(r_codes, s_codes[held_rows]), "deferred",
                 "held")
        held_deletes = (r_action == "deleted") & pd.Series(rkeys).isin(held_keys).to_numpy()
        fate(held_deletes, "deferred", "held")
        r_detail[held_deletes] = why

    # -- compliance: suppression lists and opt-outs (after the holds: they win over them)
    suppressed_keys: set[str] = set()
    if compliance:
        suppressed_keys = apply_compliance(rows, rem, at, held, compliance, options.mode,
                                           fate, r_action, r_detail, active)
        if hold and suppressed_keys:  # a hold does not keep a suppressed number in
            over = pd.Series(rkeys).isin(list(hold)).to_numpy() & (r_reason == "suppressed")
            r_detail[over] = [f"{d}; its key is held, but a suppressed number is removed "
                              "all the same (compliance comes before holds)"
                              for d in r_detail[over]]

    # -- phone conflicts: a phone held by another campaign contact that keeps it
    rem["action"] = r_action
    clash, waves = phone_conflicts(rows, rem, held)
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
    rej_rows = rejected_rows_table(rejects)
    parts = [rows[list(ROW_COLUMNS)]] + ([rej_rows] if len(rej_rows) else [])
    table = in_line_order(parts, carried["line"] if len(carried_keys) else None,
                           carried_keys)
    if suppressed_keys and len(carried_keys):  # carried rows of contacts removed as suppressed
        gone = (table["reason"].eq(CARRIED_REASON)
                & table["external_unique_id"].isin(list(suppressed_keys))).to_numpy()
        if gone.any():
            table.loc[gone, ["action", "reason"]] = ("suppressed", "suppressed")
            table.loc[gone, "detail"] = ("its campaign contact's phone is on a suppression "
                                         "list: the contact is removed")

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
        extra = extra.reindex(columns=list(REJECT_COLUMNS), fill_value="")
        problems = pd.concat([problems, extra], ignore_index=True) if len(problems) else extra
    problems = problems.sort_values(["line", "field"], kind="stable").reset_index(drop=True)

    plan = Plan(options=options, rows=table, remote=remote_out.reset_index(drop=True),
                conflicts=conflicts, rejects=problems, unknown_statuses=unknown_statuses,
                outbound_differences=outbound_differences, meta=dict(meta or {}))
    plan.refused = delete_refusal(plan, has_valid=len(src) > 0 or len(carried_keys) > 0)
    return plan


def carried_positions(carried_keys: np.ndarray, rem_keys: pd.Series) -> np.ndarray:
    """Per campaign contact, the position of the carried row with its key, else -1.
    Carried keys are unique (a carried row's key appears once in the source); were
    they not, the first row with the key is the one found."""
    codes = KeyCodes(rem_keys.to_numpy(dtype=object), carried_keys)
    remote, carried = codes.parts
    return codes.first_of(carried)[remote]
