"""The report directory of `plan` and `sync`: plan.json, actions.csv, rejects.csv and
report.html. Every file is written atomically, the directory is created readable by
the user only, and CSV cells are neutralized against formula injection."""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..fileio import atomic_write, csv_lines, neutralize_cell, write_csv, write_frames_csv
from ..normalize import TEXT
from ..plan import Plan
from ..plan.parts import stacked
from ..plan.saved import sealed
from ..privacy import mask_email, mask_phone, mask_text
from .html import render_html
from .outcome import what_to_do

ACTION_COLUMNS = ("action", "reason", "line", "external_unique_id", "remote_id", "changed",
                  "name", "email", "phone_number", "outbound_number",
                  "before_name", "before_email", "before_phone_number",
                  "before_outbound_number", "detail", "notes",
                  # for the steward, in a spreadsheet: approve or reject each add, update
                  # and delete (blank: approve); `apply --decisions actions.csv`
                  "decision", "comment")
PHONE_COLUMNS = {"phone_number", "outbound_number", "before_phone_number",
                 "before_outbound_number"}
EMAIL_COLUMNS = {"email", "before_email"}
TEXT_COLUMNS = {"detail", "hint", "value", "notes"}


@dataclass
class ReportFiles:
    """Where the report went."""

    directory: Path
    plan_json: Path
    actions_csv: Path
    rejects_csv: Path
    report_html: Path | None


def _masker(column: str):
    if column in PHONE_COLUMNS:
        return lambda v: mask_phone(v) if v else v
    if column in EMAIL_COLUMNS:
        return lambda v: mask_email(v) if v else v
    if column in TEXT_COLUMNS:
        return lambda v: mask_text(v) if v else v
    return None


def masked(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with phones, emails and free text masked."""
    out = frame.copy()
    for column in out.columns:
        func = _masker(str(column))
        if func is not None:
            out[column] = out[column].map(lambda v, f=func: f(v) if isinstance(v, str) else v)
    return out


def masked_plan(plan: Plan) -> Plan:
    """The same plan with personal data masked in every table."""
    notes = plan.notes.copy()
    if len(notes):
        notes["value"] = [mask_phone(v) if f in PHONE_COLUMNS and v else mask_text(v)
                          for f, v in zip(notes["field"], notes["value"])]
        notes["note"] = notes["note"].map(mask_text)
    return Plan(options=plan.options, rows=masked(plan.rows), remote=masked(plan.remote),
                conflicts=masked(plan.conflicts), rejects=masked(plan.rejects),
                unknown_statuses=plan.unknown_statuses,
                outbound_differences=plan.outbound_differences, refused=plan.refused,
                meta=plan.meta, notes=notes)


def _text_column(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as text, "" where missing (or when there is no such column)."""
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column].astype(object)
    return values.where(values.notna(), "").astype(str)


#: why a delete is left unsent: an apply found it stale or the steward refused it
#: (pipeline.apply_run), or its key is held
NOT_SENT_DELETES = ("stale", "refused_by_reviewer", "held")


def action_parts(plan: Plan, batch: int = 50_000) -> Iterator[pd.DataFrame]:
    """actions.csv's table `batch` source rows at a time, then the deleted campaign
    contacts (and the planned deletes an apply did not send)."""
    notes = None
    if len(plan.notes):
        notes = plan.notes.groupby("line", sort=False).apply(
            lambda g: "; ".join(f"{f}: {n} ({v})" for f, n, v in
                                zip(g["field"], g["note"], g["value"])), include_groups=False)
        notes.index = notes.index.astype("int64")
    for start in range(0, max(len(plan.rows), 1), batch):
        rows = plan.rows.iloc[start:start + batch].reindex(columns=list(ACTION_COLUMNS),
                                                           fill_value="")
        if notes is not None:
            rows["notes"] = rows["line"].map(notes).fillna("").astype(object)
        yield rows
    # the deletes, and the deletes an apply did not send (stale: the contact changed
    # since the plan; or refused by the steward)
    remote = plan.remote
    not_sent = remote["action"].eq("deferred") & remote["reason"].isin(NOT_SENT_DELETES)
    if not_sent.any():  # a contact held for its source row's sake is listed with the row
        rows_held = plan.rows.loc[plan.rows["reason"].eq("held"), "external_unique_id"]
        not_sent &= ~(remote["reason"].eq("held") & remote["external_unique_id"].isin(rows_held))
    deletes = remote[remote["action"].eq("deleted") | not_sent]
    if len(deletes):
        status = _text_column(deletes, "status")
        detail = ("status " + status).where(status.ne(""), "")
        why = _text_column(deletes, "detail")
        if why.ne("").any():
            # a delete's reason in words (suppressed, ...), after its status
            detail = (detail + "; " + why).where(why.ne(""), detail).str.lstrip("; ")
        stale = deletes["action"].eq("deferred")  # not sent: the detail says why
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
        yield gone[list(ACTION_COLUMNS)].astype(object)


def write_actions(plan: Plan, path: Path) -> int:
    """actions.csv: one line per source row and per deleted campaign contact, written
    50,000 rows at a time. A row carried from the last run has an action, a reason, a
    line and a key, and nothing else: such rows are written from those four cells."""
    return write_frames_csv(path, list(ACTION_COLUMNS), action_parts(plan),
                            blank_after=ACTION_COLUMNS.index("external_unique_id") + 1)


def write_rejects_table(rejects: pd.DataFrame, path: str | os.PathLike[str], *,
                        originals: tuple[Sequence[str], dict] | None = None) -> int:
    """rejects.csv: one line per rejected source row, in line order: its original
    columns when known, then line and, joined by " | " when the row has several
    problems, field, value, reason and hint. Returns the number of rows written."""
    columns, by_line = originals if originals else ([], {})
    blank = [""] * len(columns)
    ours = [name if name not in columns else f"reject_{name}"  # the source may have a "line"
            for name in ("line", "field", "value", "reason", "hint")]

    def lines() -> Iterator[list[Any]]:
        if rejects.empty:
            return
        for line, group in rejects.groupby("line", sort=True):
            yield [*by_line.get(int(line), blank), int(line),
                   *(" | ".join(str(v) for v in group[col]) for col in
                     ("field", "value", "reason", "hint"))]

    return write_csv(path, [*columns, *ours], lines())


def write_report(plan: Plan, directory: str | os.PathLike[str], *, mask_pii: bool = False,
                 originals: tuple[Sequence[str], dict] | None = None,
                 html_max_rows: int = 5000) -> ReportFiles:
    """Write the four report files into `directory` (created 0700)."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    os.chmod(target, 0o700)
    shown = masked_plan(plan) if mask_pii else plan
    if mask_pii and originals:
        columns, by_line = originals
        originals = (columns, {k: [mask_text(v) for v in vals] for k, vals in by_line.items()})
    files = ReportFiles(directory=target, plan_json=target / "plan.json",
                        actions_csv=target / "actions.csv", rejects_csv=target / "rejects.csv",
                        report_html=None)
    with atomic_write(files.plan_json) as handle:
        shown.meta = {**shown.meta, "masked": bool(mask_pii)}
        handle.writelines(sealed(shown.json_parts()))
        handle.write("\n")
    write_actions(shown, files.actions_csv)
    write_rejects_table(shown.rejects, files.rejects_csv, originals=originals)
    html = render_html(shown, mask_pii=mask_pii, max_rows=html_max_rows)
    files.report_html = target / "report.html"
    with atomic_write(files.report_html) as handle:
        handle.write(html)
    return files


def write_plan_file(plan: Plan, path: str | os.PathLike[str]) -> Path:
    """The plan to apply: the plan's JSON document, never masked, sealed with its
    checksum (`plan.saved`); readable by the user only."""
    target = Path(path)
    with atomic_write(target) as handle:
        plan.meta = {**plan.meta, "masked": False}
        handle.writelines(sealed(plan.json_parts()))
        handle.write("\n")
    os.chmod(target, 0o600)
    return target


OUTCOME_COLUMNS = ("line", "action", "external_unique_id", "remote_id", "outcome")
ERROR_COLUMNS = ("error", "what_to_do")


def _advice(outcome: Any, error: Any) -> pd.Series:
    """What to do about each write (`what_to_do`; blank when done), worked out once per
    distinct (outcome, error) pair."""
    pairs = pd.DataFrame({"o": pd.array(outcome, dtype=TEXT).fillna(""),
                          "e": pd.array(error, dtype=TEXT).fillna("")})
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(pairs))
    said = np.array([what_to_do(o, e) if o != "done" else "" for o, e in uniques] or [""],
                    dtype=object)
    return pd.Series(pd.array(said[codes] if len(codes) else [], dtype=TEXT))


def outcome_table(plan: Plan) -> pd.DataFrame:
    """One line per write of the run (adds, updates, deletes) and per rejected source
    row: line, action, key, contact id, outcome, error, what to do; in line order,
    deletes (no source line) last. Text is Arrow strings, line and id nullable
    integers: a million writes are a table, not a million Python rows."""
    rows = plan.rows
    if "outcome" not in rows.columns:
        return pd.DataFrame(columns=[*OUTCOME_COLUMNS, *ERROR_COLUMNS])

    def part(line: Any, action: Any, key: Any, remote_id: Any, outcome: Any,
             error: Any, advice: Any) -> pd.DataFrame:
        return pd.DataFrame({
            "line": pd.array(line, dtype="Int64"), "action": pd.array(action, dtype=TEXT),
            "external_unique_id": pd.array(key, dtype=TEXT),
            "remote_id": pd.array(remote_id, dtype="Int64"),
            "outcome": pd.array(outcome, dtype=TEXT), "error": pd.array(error, dtype=TEXT),
            "what_to_do": pd.array(advice, dtype=TEXT)})

    wrote = rows[rows["outcome"].ne("")]
    parts = [part(wrote["line"], wrote["action"], wrote["external_unique_id"],
                  wrote["remote_id"], wrote["outcome"], wrote["error"],
                  _advice(wrote["outcome"], wrote["error"]))]
    # rows the source rejected (a write the platform refused is a failed write above)
    rejects = plan.rejects[plan.rejects["reason"].ne("platform_rejected")] if len(
        plan.rejects) else plan.rejects
    if len(rejects):
        grouped = rejects.groupby("line", sort=True)
        n = grouped.ngroups
        parts.append(part(
            list(grouped.groups), ["rejected"] * n, grouped["key"].first().astype(object),
            [None] * n, ["rejected"] * n,
            grouped["reason"].agg(lambda s: " | ".join(map(str, s))).astype(object),
            grouped["hint"].agg(lambda s: " | ".join(map(str, s))).astype(object)))
    remote = plan.remote
    if "outcome" in remote.columns:
        gone = remote[remote["outcome"].ne("")]
        if len(gone):
            parts.append(part(
                [None] * len(gone), ["delete"] * len(gone), gone["external_unique_id"],
                gone["remote_id"], gone["outcome"], gone["error"],
                _advice(gone["outcome"], gone["error"])))
    # in line order, stable; deletes (no line) last, as listed; joined a column at a time
    lines = np.concatenate([p["line"].to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)
                            for p in parts])
    return stacked(parts, np.argsort(lines, kind="stable"))


def write_outcome_files(plan: Plan, directory: str | os.PathLike[str], *,
                        source_columns: Sequence[str] = (),
                        source_chunks: Iterable[pd.DataFrame]
                        | Callable[[np.ndarray], Iterable[pd.DataFrame]] = (),
                        mask_pii: bool = False) -> tuple[int, int]:
    """success.csv and errors.csv, as a Data Loader user expects them: every write that
    was done (success), and every write that failed, is pending, unconfirmed or was not
    sent, and every rejected source row (errors), each with the source row's original
    columns, its line, the action and (errors) the platform's message and what to do.

    The originals come from `source_chunks` (the source read again, all columns, a
    chunk at a time; or a function of the sorted lines wanted giving those chunks).
    The outcome table is sorted by line, so each chunk's rows are found by a binary
    search, and the rows are written by whole columns: memory stays bounded however
    many rows were written. Returns (success rows, error rows)."""
    table = outcome_table(plan)
    if mask_pii:
        table = masked(table)
    target = Path(directory)
    columns = list(source_columns)
    ours = [c if c not in columns else f"sync_{c}" for c in OUTCOME_COLUMNS]
    extra = [c if c not in columns else f"sync_{c}" for c in ERROR_COLUMNS]
    ok = table["outcome"].eq("done").to_numpy(dtype=bool)
    counts = [0, 0]
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(atomic_write(target / name, encoding="utf-8-sig",
                                                    newline=""))
                   for name in ("success.csv", "errors.csv")]
        writers = [csv.writer(h) for h in handles]
        writers[0].writerow([neutralize_cell(h) for h in [*columns, *ours]])
        writers[1].writerow([neutralize_cell(h) for h in [*columns, *ours, *extra]])

        def emit(at: np.ndarray, originals: pd.DataFrame) -> None:
            """The table's rows `at`, each after its source row's cells (`originals`,
            one row per position, the source's columns as text), into the two files:
            by whole columns (`csv_lines`), the bytes csv.writer writes."""
            part = table.iloc[at]
            cells = {k: originals.iloc[:, k].to_numpy(dtype=object)
                     for k in range(len(columns))}
            for j, name in enumerate((*OUTCOME_COLUMNS, *ERROR_COLUMNS)):
                cells[len(columns) + j] = part[name].array
            frame = pd.DataFrame(cells, copy=False)
            good = ok[at]
            for g, rows, width in ((0, good, len(columns) + len(OUTCOME_COLUMNS)),
                                   (1, ~good, frame.shape[1])):
                if not rows.any():
                    continue
                sub = frame.loc[rows, list(range(width))]
                counts[g] += len(sub)
                lines = csv_lines(sub)
                if lines is not None:
                    handles[g].flush()  # the header (and the BOM) before the bytes
                    handles[g].buffer.write(lines)
                    continue
                for rec in sub.astype(object).to_numpy(dtype=object).tolist():
                    writers[g].writerow([neutralize_cell(_cell(v)) for v in rec])

        lined = int(table["line"].notna().sum()) if len(table) else 0
        lines = table["line"].to_numpy(dtype="int64", na_value=-1)[:lined]  # sorted
        seen = np.zeros(lined, dtype=bool)
        if callable(source_chunks):
            source_chunks = source_chunks(np.unique(lines)) if lined else ()
        for chunk in (source_chunks if lined else ()):
            numbers = pd.to_numeric(chunk["__line__"], errors="coerce").to_numpy(
                dtype="float64")
            starts = np.searchsorted(lines, numbers, side="left")
            ends = np.searchsorted(lines, numbers, side="right")
            hit = np.flatnonzero(ends > starts)
            if not len(hit):
                continue
            at = np.concatenate([np.arange(starts[h], ends[h]) for h in hit])
            # each source row once per outcome row of its line
            source = chunk.iloc[np.repeat(hit, ends[hit] - starts[hit])].reindex(
                columns=columns)
            originals = pd.DataFrame({k: [_cell(v) for v in source.iloc[:, k].tolist()]
                                      for k in range(len(columns))}, dtype=object)
            if mask_pii:
                originals = originals.map(lambda v: mask_text(v) if v else v)
            emit(at, originals)
            seen[at] = True
        # rows the source did not give again, then the writes with no line
        left = np.flatnonzero(np.concatenate([~seen, np.ones(len(table) - lined, dtype=bool)]))
        for start in range(0, len(left), EMIT_BATCH):
            at = left[start:start + EMIT_BATCH]
            emit(at, pd.DataFrame({k: [""] * len(at) for k in range(len(columns))},
                                  dtype=object))
    return counts[0], counts[1]


def _cell(value: Any) -> Any:
    """A CSV cell's value: blank for a missing one."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return value


#: outcome rows turned into Python values at a time, outside the source's chunks
EMIT_BATCH = 50_000


def write_operations(operations: Iterable[dict[str, Any]] | Iterable[pd.DataFrame],
                     path: Path, *, mask_pii: bool) -> int:
    """operations.csv: the outcome of every write of a run: kind, key, remote id, line,
    status, confirmed, error. From `StateStore.operation_frames` (pages of typed
    columns, written by whole columns) or, one by one, from `StateStore.operations`
    dicts: the same bytes."""
    header = ["kind", "external_unique_id", "remote_id", "line", "status", "confirmed",
              "error"]
    items = iter(operations)
    first = next(items, None)
    if isinstance(first, pd.DataFrame):
        frames = itertools.chain([first], items)
        return write_frames_csv(path, header, (_operation_cells(f, mask_pii) for f in frames))

    def lines():
        for op in itertools.chain([] if first is None else [first], items):
            error = op["error"] or ""
            yield [op["kind"], op["key"] or "", op["remote_id"] or "", op["line"] or "",
                   op["status"], {1: "yes", 0: "no"}.get(op["confirmed"], ""),
                   mask_text(error) if mask_pii else error]

    return write_csv(path, header, lines())


def _operation_cells(frame: pd.DataFrame, mask_pii: bool) -> pd.DataFrame:
    """A page of operations as operations.csv's cells (blank where the row-by-row
    writer writes blank: a missing or zero id or line, a missing key or error)."""
    def number(col: pd.Series) -> pd.Series:
        return col.where(col.ne(0)).astype("Int64")  # `or ""`: 0 is blank too

    error = frame["error"].fillna("").astype(object)
    if mask_pii:
        error = error.map(lambda e: mask_text(e) if e else e)
    confirmed = frame["confirmed"].map({1: "yes", 0: "no"}, na_action="ignore")
    return pd.DataFrame({
        "kind": frame["kind"].fillna(""), "key": frame["key"].fillna(""),
        "remote_id": number(frame["remote_id"]), "line": number(frame["line"]),
        "status": frame["status"].fillna(""),
        "confirmed": confirmed.astype(object).where(confirmed.notna(), ""),
        "error": error})
