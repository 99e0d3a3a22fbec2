"""A run's outcomes are joined to the plan as tables and success.csv / errors.csv are
written a chunk of the source at a time: the outcomes and the bytes are those of the
dict-and-whole-table code they replace, kept here as the reference, on generated
plans and operations (every status, confirmed or not, platform errors, repeated and
missing operations, deletes), sources read back in chunks of any size with lines
missing or repeated, masked or not."""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_streamed import make_plan, remote_st, rows_st

from connector.fileio import atomic_write, neutralize_cell
from connector.plan import Plan
from connector.privacy import mask_text
from connector.report.files import (
    ERROR_COLUMNS,
    OUTCOME_COLUMNS,
    masked,
    write_outcome_files,
)
from connector.report.outcome import ROW_KINDS, attach_outcomes, outcome_of, what_to_do
from connector.state.store import StateStore

# ------------------------------------------------------------------ the code replaced

def reference_operations_frame(ops: pd.DataFrame) -> pd.DataFrame:
    """The run's operations (kind, key, remote_id, line, status, confirmed, error) with
    their ``outcome``."""
    out = ops.copy()
    out["error"] = out["error"].fillna("").astype(str)
    out["outcome"] = [outcome_of(s, None if pd.isna(c) else int(c))
                      for s, c in zip(out["status"], out["confirmed"])]
    return out


def reference_attach_outcomes(rows: pd.DataFrame, remote: pd.DataFrame, ops: pd.DataFrame
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The plan's rows and remote contacts with ``outcome`` and ``error``: adds and
    updates by their key, deletes by the contact's id. Rows with no write keep both
    blank."""
    ops = reference_operations_frame(ops)
    rows = rows.copy()
    remote = remote.copy()
    rows["outcome"] = ""
    rows["error"] = ""
    remote["outcome"] = ""
    remote["error"] = ""
    for action, kind in ROW_KINDS.items():
        mine = ops[ops["kind"].eq(kind)].drop_duplicates("key", keep="last")
        if mine.empty:
            continue
        by_key = dict(zip(mine["key"], zip(mine["outcome"], mine["error"])))
        sel = rows["action"].eq(action).to_numpy()
        found = [by_key.get(k) for k in rows.loc[sel, "external_unique_id"]]
        rows.loc[sel, "outcome"] = [f[0] if f else "skipped" for f in found]
        rows.loc[sel, "error"] = [f[1] if f else "" for f in found]
    deletes = ops[ops["kind"].eq("delete") & ops["remote_id"].notna()]
    sel = remote["action"].eq("deleted").to_numpy()
    if sel.any():
        by_id = dict(zip(deletes["remote_id"].astype("int64"),
                         zip(deletes["outcome"], deletes["error"])))
        found = [by_id.get(int(i)) if not pd.isna(i) else None
                 for i in remote.loc[sel, "remote_id"]]
        remote.loc[sel, "outcome"] = [f[0] if f else "skipped" for f in found]
        remote.loc[sel, "error"] = [f[1] if f else "" for f in found]
    return rows, remote



def reference_outcome_table(plan: Plan) -> pd.DataFrame:
    """One line per write of the run (adds, updates, deletes) and per rejected source
    row: line, action, key, contact id, outcome, error, what to do; in line order,
    deletes (no source line) last."""

    rows = plan.rows
    if "outcome" not in rows.columns:
        return pd.DataFrame(columns=[*OUTCOME_COLUMNS, *ERROR_COLUMNS])
    def ids(values: Any) -> list[Any]:
        return ["" if pd.isna(v) or v == "" else int(v) for v in values]

    wrote = rows[rows["outcome"].ne("")]
    parts = [pd.DataFrame({
        "line": wrote["line"].to_numpy(), "action": wrote["action"].to_numpy(),
        "external_unique_id": wrote["external_unique_id"].to_numpy(),
        "remote_id": ids(wrote["remote_id"]), "outcome": wrote["outcome"].to_numpy(),
        "error": wrote["error"].to_numpy(),
        "what_to_do": [what_to_do(o, e) if o != "done" else ""
                       for o, e in zip(wrote["outcome"], wrote["error"])]})]
    # rows the source rejected (a write the platform refused is a failed write above)
    rejects = plan.rejects[plan.rejects["reason"].ne("platform_rejected")] if len(
        plan.rejects) else plan.rejects
    if len(rejects):
        grouped = rejects.groupby("line", sort=True)
        parts.append(pd.DataFrame({
            "line": list(grouped.groups), "action": "rejected",
            "external_unique_id": grouped["key"].first().to_numpy(),
            "remote_id": "", "outcome": "rejected",
            "error": grouped["reason"].agg(lambda s: " | ".join(map(str, s))).to_numpy(),
            "what_to_do": grouped["hint"].agg(lambda s: " | ".join(map(str, s))).to_numpy()}))
    table = pd.concat(parts, ignore_index=True).sort_values("line", kind="stable")
    remote = plan.remote
    if "outcome" in remote.columns:
        gone = remote[remote["outcome"].ne("")]
        if len(gone):
            table = pd.concat([table, pd.DataFrame({
                "line": "", "action": "delete",
                "external_unique_id": gone["external_unique_id"].to_numpy(),
                "remote_id": ids(gone["remote_id"]), "outcome": gone["outcome"].to_numpy(),
                "error": gone["error"].to_numpy(),
                "what_to_do": [what_to_do(o, e) if o != "done" else ""
                               for o, e in zip(gone["outcome"], gone["error"])]})],
                ignore_index=True)
    # the one change: a run that wrote only deletes had its contact ids concatenated
    # with an empty column, which made them floats ("41.0"); they are ids again
    table["remote_id"] = [int(v) if isinstance(v, float) and not np.isnan(v) else v
                          for v in table["remote_id"]]
    return table.reset_index(drop=True)


def reference_outcome_files(plan: Plan, directory: str | os.PathLike[str], *,
                        source_columns: Sequence[str] = (),
                        source_chunks: Iterable[pd.DataFrame] = (),
                        mask_pii: bool = False) -> tuple[int, int]:
    """success.csv and errors.csv, as a Data Loader user expects them: every write that
    was done (success), and every write that failed, is pending, unconfirmed or was not
    sent, and every rejected source row (errors), each with the source row's original
    columns, its line, the action and (errors) the platform's message and what to do.

    The originals come from `source_chunks` (the source read again, all columns, a
    chunk at a time), so memory stays bounded however many rows were written.
    Returns (success rows, error rows)."""
    table = reference_outcome_table(plan)
    if mask_pii:
        table = masked(table)
    target = Path(directory)
    columns = list(source_columns)
    ours = [c if c not in columns else f"sync_{c}" for c in OUTCOME_COLUMNS]
    extra = [c if c not in columns else f"sync_{c}" for c in ERROR_COLUMNS]
    ok = table["outcome"].eq("done").to_numpy()
    counts = [0, 0]
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(atomic_write(target / name, encoding="utf-8-sig",
                                                    newline=""))
                   for name in ("success.csv", "errors.csv")]
        writers = [csv.writer(h) for h in handles]
        writers[0].writerow([neutralize_cell(h) for h in [*columns, *ours]])
        writers[1].writerow([neutralize_cell(h) for h in [*columns, *ours, *extra]])

        def emit(rec: Sequence[Any], original: Sequence[Any], good: bool) -> None:
            cells = [*original, *rec[:len(OUTCOME_COLUMNS)]]
            if not good:
                cells += list(rec[len(OUTCOME_COLUMNS):])
            writers[0 if good else 1].writerow([neutralize_cell(v) for v in cells])
            counts[0 if good else 1] += 1

        with_line = np.zeros(len(table), dtype=bool)
        by_line: dict[int, list[int]] = {}
        for i, line in enumerate(table["line"].to_numpy(dtype=object)):
            if line != "" and not pd.isna(line):
                with_line[i] = True
                by_line.setdefault(int(line), []).append(i)
        records = table.to_numpy(dtype=object)
        blank = [""] * len(columns)
        seen: set[int] = set()
        for chunk in (source_chunks if by_line else ()):
            hit = chunk[chunk["__line__"].isin(by_line)]
            for values in hit.itertuples(index=False, name=None):
                original = dict(zip(hit.columns, values))
                line = int(original["__line__"])
                cells = ["" if pd.isna(original.get(c)) else str(original.get(c, ""))
                         for c in columns]
                if mask_pii:
                    cells = [mask_text(v) if v else v for v in cells]
                for i in by_line[line]:
                    emit(records[i], cells, bool(ok[i]))
                seen.add(line)
        for line, at in by_line.items():  # rows the source did not give again
            if line not in seen:
                for i in at:
                    emit(records[i], blank, bool(ok[i]))
        for i in range(len(table)):
            if not with_line[i]:
                emit(records[i], blank, bool(ok[i]))
    return counts[0], counts[1]


# ------------------------------------------------------------------ generated runs

STATUSES = ["done", "failed", "pending", "planned", "sent", "unconfirmed"]
ERRORS = [None, "", "DuplicateContactPhoneOnCampaign: 409", "Internal Error", "x, \"y\""]


def operations_of(plan, picks) -> pd.DataFrame:
    """Operations for some of the plan's writes (some twice, some missing), and one
    for a key the plan does not hold, as the state store lists them."""
    ops = []
    rows = plan.rows
    writes = [("add", k, None, ln) for k, ln in
              zip(rows.loc[rows["action"].eq("add"), "external_unique_id"],
                  rows.loc[rows["action"].eq("add"), "line"])]
    writes += [("update", k, r, ln) for k, r, ln in
               zip(rows.loc[rows["action"].eq("update"), "external_unique_id"],
                   rows.loc[rows["action"].eq("update"), "remote_id"],
                   rows.loc[rows["action"].eq("update"), "line"])]
    gone = plan.remote[plan.remote["action"].eq("deleted")]
    writes += [("delete", k, r, None) for k, r in zip(gone["external_unique_id"],
                                                       gone["remote_id"])]
    writes.append(("add", "nobody", None, 999))
    for i, (kind, key, rid, line) in enumerate(writes):
        times = picks[i % len(picks)][0]
        for t in range(times):  # a write sent again (a later attempt) may end otherwise
            _, status, confirmed, error = picks[(i + t) % len(picks)]
            ops.append({"kind": kind, "key": key,
                        "remote_id": None if rid is None or pd.isna(rid) else int(rid),
                        "line": None if line is None or pd.isna(line) else int(line),
                        "status": status, "confirmed": confirmed, "error": error})
    return pd.DataFrame(ops, columns=["kind", "key", "remote_id", "line", "status",
                                      "confirmed", "error"], dtype=object)


def source_of(plan, drop: int) -> pd.DataFrame:
    """The source again, all columns: the plan's lines and the rejected ones, one line
    left out every `drop`, one other column with text that needs quoting."""
    lines = sorted(set(plan.rows["line"].dropna().astype(int))
                   | set(plan.rejects["line"].dropna().astype(int)))
    lines = [ln for i, ln in enumerate(lines) if not drop or i % drop]
    return pd.DataFrame({"id": [f"k{ln}" for ln in lines],
                         "Notes": [f"=n{ln}, \"q\"" if ln % 2 else None for ln in lines],
                         "__line__": lines})


pick_st = st.tuples(st.integers(1, 2), st.sampled_from(STATUSES),
                    st.sampled_from([None, 0, 1]), st.sampled_from(ERRORS))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows_st, remote_st, st.sampled_from(["upsert", "mirror"]), st.booleans(),
       st.lists(pick_st, min_size=1, max_size=6), st.integers(0, 3), st.integers(1, 4),
       st.booleans())
def test_outcomes_and_files_are_todays(tmp_path_factory, src_rows, rem_rows, mode, text,
                                       picks, drop, chunk, mask_pii):
    plan = make_plan(src_rows, rem_rows, mode, 0, False, text)
    ops = operations_of(plan, picks)
    # the outcomes laid on the plan's tables
    rows, remote = attach_outcomes(plan.rows, plan.remote, ops)
    ref_rows, ref_remote = reference_attach_outcomes(plan.rows, plan.remote, ops)
    for new, ref in ((rows, ref_rows), (remote, ref_remote)):
        for column in ("outcome", "error"):
            assert new[column].astype(object).tolist() == ref[column].astype(object).tolist()
    # success.csv and errors.csv, the source given back in chunks
    plan.rows, plan.remote = ref_rows, ref_remote
    source = source_of(plan, drop)
    columns = ["id", "Notes"]
    tmp = tmp_path_factory.mktemp("outcomes")
    (tmp / "ref").mkdir()
    (tmp / "new").mkdir()

    def chunks():
        for start in range(0, len(source), chunk):
            yield source.iloc[start:start + chunk]

    want = reference_outcome_files(plan, tmp / "ref", source_columns=columns,
                                   source_chunks=chunks(), mask_pii=mask_pii)
    plan.rows, plan.remote = rows, remote
    got = write_outcome_files(plan, tmp / "new", source_columns=columns,
                              source_chunks=chunks(), mask_pii=mask_pii)
    assert got == want
    for name in ("success.csv", "errors.csv"):
        assert (tmp / "new" / name).read_bytes() == (tmp / "ref" / name).read_bytes(), name


def test_the_stores_operation_table_is_what_it_holds(tmp_path):
    """operation_table, read in pages, gives every operation in id order."""
    store = StateStore(tmp_path / "state.db")
    run = store.start_run(6, "sync", source="s.csv")
    store.add_operations(run, [("add", f"k{i}", None, i + 2, 0, {}, None) for i in range(7)]
                         + [("delete", None, 41, None, 0, {}, None)])
    store.mark([1, 3], "done")
    table = store.operation_table(run, page=3)
    assert table["key"].astype(object).where(table["key"].notna(), None).tolist() == [
        *[f"k{i}" for i in range(7)], None]
    assert table["status"].tolist() == ["done", "planned", "done", *["planned"] * 5]
    assert table["line"].tolist()[:2] == [2, 3] and pd.isna(table["line"].iloc[-1])
    assert table["remote_id"].iloc[-1] == 41
    done = store.done_frame(run, page=1)
    assert done["key"].tolist() == ["k0", "k2"] and done["kind"].tolist() == ["add", "add"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(
    st.sampled_from(["add", "update", "delete"]),
    st.one_of(st.none(), st.sampled_from(["k1", "=k2", "k,3", 'k"4', "-5", "k\n6"])),
    st.sampled_from([None, 0, 7, 41]), st.sampled_from([None, 0, 2, 3]),
    st.sampled_from(STATUSES), st.sampled_from([None, 0, 1]),
    st.sampled_from([*ERRORS, "a.b@example.com refused: +1 201-471-6992 is taken"])),
    max_size=12), st.booleans(), st.integers(1, 5))
def test_operations_csv_by_columns_is_the_row_writers(tmp_path, ops, mask_pii, page):
    """operations.csv from the store's pages of typed columns has the bytes of the
    row-by-row writer over the same operations as dicts."""
    from connector.report.files import write_operations

    store = StateStore(tmp_path / f"s{len(ops)}{mask_pii}{page}.db")
    run = store.start_run(6, "sync", source="s.csv")
    store.add_operations(run, [(kind, key, rid, line, 0, {"a": 1}, None)
                               for kind, key, rid, line, *_ in ops])
    ids = [op["id"] for op in store.operations(run)]
    for op_id, (*_, status, confirmed, error) in zip(ids, ops):
        store.db.execute("UPDATE operations SET status=?, confirmed=?, error=? WHERE id=?",
                         (status, confirmed, error, op_id))
    store.db.commit()
    by_rows = write_operations(store.iter_operations(run), tmp_path / "rows.csv",
                               mask_pii=mask_pii)
    by_columns = write_operations(store.operation_frames(run, page), tmp_path / "cols.csv",
                                  mask_pii=mask_pii)
    assert by_rows == by_columns == len(ops)
    assert (tmp_path / "cols.csv").read_bytes() == (tmp_path / "rows.csv").read_bytes()
