"""Report: the writers of the report directory (report.html, plan.json, actions.csv,
rejects.csv, success.csv, errors.csv, operations.csv) and of the `export` command.
`html` renders the page from a template; `outcome` turns a run's operations into
each row's outcome and what to do about it."""

from .export import write_contacts
from .files import (
    ReportFiles,
    masked_plan,
    outcome_table,
    write_operations,
    write_outcome_files,
    write_plan_file,
    write_rejects_table,
    write_report,
)
from .html import render_html
from .outcome import attach_outcomes, operations_frame, outcome_counts

__all__ = ["ReportFiles", "attach_outcomes", "masked_plan", "operations_frame",
           "outcome_counts", "outcome_table", "render_html", "write_contacts",
           "write_operations", "write_outcome_files", "write_plan_file", "write_rejects_table", "write_report"]
