"""The report files of a large plan are written a batch of rows at a time (plan.json,
actions.csv): the bytes are those the whole-table writers wrote, kept here as the
reference, on generated plans with every kind of row (adds, updates with before
values, deletes, rows carried from the last run, notes, rejects, cells with commas,
quotes, formulas and non-ASCII text, missing values) and batch sizes down to one row."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.fileio import write_frame_csv, write_frames_csv
from connector.plan import CARRIED_REASON, PlanOptions, build_plan, remote_frame
from connector.plan.parts import build_plan_parts
from connector.plan.saved import seal, sealed, unseal
from connector.report.files import (
    ACTION_COLUMNS,
    NOT_SENT_DELETES,
    _text_column,
    action_parts,
    write_actions,
)
from connector.validate.schema import normalize_contacts

FIELDS = ["external_unique_id", "name", "email", "phone_number", "outbound_number"]
NAMES = ["Ann", "Bo, \"B\"", "=SUM(A1)", "Zoë Ünal", "", "  x  y "]


# ------------------------------------------------------------------ today's writers

def reference_json(plan) -> str:
    carried_rows = plan.rows["reason"].eq(CARRIED_REASON)
    carried_remote = plan.remote["reason"].eq(CARRIED_REASON)
    head = dict(plan.to_dict_head())
    head["carried"] = {"rows": int(carried_rows.sum()), "remote": int(carried_remote.sum()),
                       "note": "identical to the last applied run on both sides; "
                               "counted, not listed (actions.csv lists every row)"}
    parts = [json.dumps(head, ensure_ascii=False)[:-1]]
    for name, frame in (("rows", plan.rows[~carried_rows]),
                        ("remote", plan.remote[~carried_remote]),
                        ("conflicts", plan.conflicts), ("rejects", plan.rejects),
                        ("notes", plan.notes)):
        body = frame.to_json(orient="records", force_ascii=False) if len(frame) else "[]"
        parts.append(f', "{name}": {body}')
    return "".join(parts) + "}"


def reference_actions_frame(plan) -> pd.DataFrame:
    rows = plan.rows.reindex(columns=list(ACTION_COLUMNS), fill_value="")
    if len(plan.notes):
        joined = plan.notes.groupby("line", sort=False).apply(
            lambda g: "; ".join(f"{f}: {n} ({v})" for f, n, v in
                                zip(g["field"], g["note"], g["value"])), include_groups=False)
        joined.index = joined.index.astype("int64")
        rows["notes"] = rows["line"].map(joined).fillna("").astype(object)
    remote = plan.remote
    not_sent = remote["action"].eq("deferred") & remote["reason"].isin(NOT_SENT_DELETES)
    if not_sent.any():
        rows_held = plan.rows.loc[plan.rows["reason"].eq("held"), "external_unique_id"]
        not_sent &= ~(remote["reason"].eq("held") & remote["external_unique_id"].isin(rows_held))
    deletes = remote[remote["action"].eq("deleted") | not_sent]
    if len(deletes):
        status = _text_column(deletes, "status")
        detail = ("status " + status).where(status.ne(""), "")
        why = _text_column(deletes, "detail")
        if why.ne("").any():
            detail = (detail + "; " + why).where(why.ne(""), detail).str.lstrip("; ")
        stale = deletes["action"].eq("deferred")
        if stale.any():
            detail = detail.where(~stale, deletes["detail"].astype(str))
        gone = pd.DataFrame({
            "action": deletes["action"].map({"deleted": "delete"}).fillna("deferred").to_numpy(),
            "reason": deletes["reason"].to_numpy(), "line": "",
            "external_unique_id": deletes["external_unique_id"].to_numpy(),
            "remote_id": deletes["remote_id"].to_numpy(), "changed": "", "name": "",
            "email": "", "phone_number": "", "outbound_number": "",
            "before_name": deletes["name"].to_numpy(), "before_email": deletes["email"].to_numpy(),
            "before_phone_number": deletes["phone_number"].to_numpy(),
            "before_outbound_number": deletes["outbound_number"].to_numpy(),
            "detail": detail.to_numpy(), "notes": "", "decision": "", "comment": ""})
        rows = pd.concat([rows.astype(object), gone[list(ACTION_COLUMNS)].astype(object)],
                         ignore_index=True)
    return rows


# ------------------------------------------------------------------ plans

rows_st = st.lists(st.tuples(st.sampled_from([f"k{i}" for i in range(8)] + [""]),
                             st.sampled_from(NAMES),
                             st.sampled_from(["a@x.com", "", "bad", "Zoë@exämple.com"]),
                             st.sampled_from(["201-471-6990", "201-471-6991", "12", ""])),
                   max_size=12)
remote_st = st.lists(st.tuples(st.sampled_from([f"k{i}" for i in range(8)] + [""]),
                               st.sampled_from(NAMES),
                               st.sampled_from(["+12014716990", "+12014716992", ""]),
                               st.sampled_from(["Upcoming", "Dialing", "Odd"])), max_size=12)


def make_plan(src_rows, rem_rows, mode, carried_n, notes, text):
    data = {f: [] for f in FIELDS}
    for key, name, email, phone in src_rows:
        for f, v in zip(FIELDS, (key, name, email, phone, "")):
            data[f].append(v)
    data["__line__"] = list(range(2, len(src_rows) + 2))
    v = normalize_contacts(pd.DataFrame(data), region="US")
    rem = remote_frame([{"id": i, "external_unique_id": k, "name": n, "phone_number": p,
                         "status": s} for i, (k, n, p, s) in enumerate(rem_rows)])
    carried = None
    if carried_n:
        carried = pd.DataFrame({"line": np.arange(100, 100 + carried_n, dtype="int64"),
                                "external_unique_id": [f"c{i}" for i in range(carried_n)]})
    builder = build_plan_parts if text else build_plan
    kwargs = {"part_rows": 2} if text else {}
    plan = builder(v.valid, v.rejects, rem, PlanOptions(mode=mode, region="US",
                                                       max_delete_fraction=1.0),
                   carried=carried, protect=v.rejected_rows, meta={"source": "s.csv"}, **kwargs)
    if notes and len(v.valid):
        lines = v.valid["__line__"].tolist()[:2]
        plan.notes = pd.DataFrame({"line": lines, "field": "phone_number",
                                   "value": ["201, 471", "x\"y"][:len(lines)],
                                   "note": ["extension dropped", "=cmd"][:len(lines)]})
    return plan


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows_st, remote_st, st.sampled_from(["upsert", "mirror"]), st.integers(0, 3),
       st.booleans(), st.booleans(), st.integers(1, 4))
def test_streamed_files_are_todays_bytes(tmp_path_factory, src_rows, rem_rows, mode, carried_n,
                                         notes, text, batch):
    plan = make_plan(src_rows, rem_rows, mode, carried_n, notes, text)
    tmp = tmp_path_factory.mktemp("streamed")
    # plan.json: the pieces make today's text, and the streamed seal is today's seal
    today = reference_json(plan)
    assert "".join(plan.json_parts(batch=batch)) == today
    assert "".join(sealed(plan.json_parts(batch=batch))) == seal(today)
    unseal("".join(sealed(plan.json_parts(batch=batch))))
    # actions.csv
    write_frame_csv(tmp / "today.csv", reference_actions_frame(plan),
                    blank_after=ACTION_COLUMNS.index("external_unique_id") + 1)
    write_frames_csv(tmp / "streamed.csv", list(ACTION_COLUMNS), action_parts(plan, batch),
                     blank_after=ACTION_COLUMNS.index("external_unique_id") + 1)
    write_actions(plan, tmp / "written.csv")
    assert (tmp / "streamed.csv").read_bytes() == (tmp / "today.csv").read_bytes()
    assert (tmp / "written.csv").read_bytes() == (tmp / "today.csv").read_bytes()
