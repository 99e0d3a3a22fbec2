"""The report directory of `plan` and `sync`: plan.json, actions.csv, rejects.csv and
report.html. Every file is written atomically, the directory is created readable by
the user only, and CSV cells are neutralized against formula injection."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .fileio import atomic_write, write_csv, write_frame_csv
from .plan import Plan
from .privacy import mask_email, mask_phone, mask_text

ACTION_COLUMNS = ("action", "reason", "line", "external_unique_id", "remote_id", "changed",
                  "name", "email", "phone_number", "outbound_number",
                  "before_name", "before_email", "before_phone_number",
                  "before_outbound_number", "detail")
PHONE_COLUMNS = {"phone_number", "outbound_number", "before_phone_number",
                 "before_outbound_number"}
EMAIL_COLUMNS = {"email", "before_email"}
TEXT_COLUMNS = {"detail", "hint", "value"}


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
    return Plan(options=plan.options, rows=masked(plan.rows), remote=masked(plan.remote),
                conflicts=masked(plan.conflicts), rejects=masked(plan.rejects),
                unknown_statuses=plan.unknown_statuses,
                outbound_differences=plan.outbound_differences, refused=plan.refused,
                meta=plan.meta)


def actions_frame(plan: Plan) -> pd.DataFrame:
    """actions.csv's table: every source row, then every deleted campaign contact."""
    rows = plan.rows.reindex(columns=list(ACTION_COLUMNS), fill_value="")
    deletes = plan.deletes
    if len(deletes):
        gone = pd.DataFrame({
            "action": "delete", "reason": deletes["reason"].to_numpy(), "line": "",
            "external_unique_id": deletes["external_unique_id"].to_numpy(),
            "remote_id": deletes["remote_id"].to_numpy(), "changed": "", "name": "",
            "email": "", "phone_number": "", "outbound_number": "",
            "before_name": deletes["name"].to_numpy(), "before_email": deletes["email"].to_numpy(),
            "before_phone_number": deletes["phone_number"].to_numpy(),
            "before_outbound_number": deletes["outbound_number"].to_numpy(),
            "detail": ("status " + deletes["status"].fillna("").astype(str)).where(
                deletes["status"].fillna("").astype(str).ne(""), "").to_numpy()})
        rows = pd.concat([rows.astype(object), gone[list(ACTION_COLUMNS)].astype(object)],
                         ignore_index=True)
    return rows


def write_actions(plan: Plan, path: Path) -> int:
    """actions.csv: one line per source row and per deleted campaign contact. A row
    carried from the last run has an action, a reason, a line and a key, and nothing
    else: such rows are written from those four cells."""
    return write_frame_csv(path, actions_frame(plan),
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
                 html_max_rows: int = 2000) -> ReportFiles:
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
        handle.write(shown.to_json())
        handle.write("\n")
    write_actions(shown, files.actions_csv)
    write_rejects_table(shown.rejects, files.rejects_csv, originals=originals)
    try:
        from .report_html import render_html
    except ImportError:  # the HTML page is optional while it is being built
        return files
    html = render_html(shown, mask_pii=mask_pii, max_rows=html_max_rows)
    files.report_html = target / "report.html"
    with atomic_write(files.report_html) as handle:
        handle.write(html)
    return files
