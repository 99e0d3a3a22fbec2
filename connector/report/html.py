"""report.html: one self-contained page for a data steward to review a plan.

Everything is inline (CSS, SVG charts, one small script for sorting and filtering
tables); the page fetches nothing, and a Content-Security-Policy allows only its own
script (by hash), so it works offline and a value that slipped through escaping
still could not run.

The page is rendered from a Jinja2 template with autoescaping: templates/report.html.j2
(the page) and templates/report_parts.html.j2 (a table section, a bar chart, the cards),
with the stylesheet and the script beside them (report.css, report.js). This module
only prepares plain data for it: values masked, each cell a value and its kind, rows
cut at max_rows, counts and chart geometry. Every value the template prints is escaped
by Jinja2; nothing is escaped here. The only text the template prints as it is, not
escaped, is the page's own stylesheet and script, read from their files.

A plan's page is also where a steward reviews it: each write listed (the rows of
the Deletes, Updates and Adds tables) has a box, checked, and a comment box; the script
counts what will be sent and makes decisions.csv in the page (key, action, decision,
comment) for `apply --decisions`. A write the page does not list (a table cut at
max_rows, a key masked on the page) has no box, is not in that file and so is not
sent; the page says so and points to actions.csv's decision column.

The script honours a URL fragment at load, for links and checks without clicking:
``report.html#sort=adds.name`` (``-adds.name`` for descending; ``sort=name`` sorts
every table that has the column) and ``q=text`` (fills every table's filter box).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ..contact import REASON_HINTS
from ..fileio import cell_text
from ..normalize import normalize_phone
from ..plan import REASONS, REMOTE_ACTIONS, SOURCE_ACTIONS, Plan
from ..privacy import mask_email, mask_phone, mask_text
from .outcome import OUTCOMES, outcome_totals, what_to_do

#: the page's template, its parts, stylesheet and script
TEMPLATES = Path(__file__).with_name("templates")

PHONE_COLUMNS = frozenset({"phone_number", "outbound_number", "before_phone_number",
                           "before_outbound_number"})
EMAIL_COLUMNS = frozenset({"email", "before_email"})
#: identifiers: only email addresses in them are masked (record ids stay findable)
KEY_COLUMNS = frozenset({"external_unique_id", "key"})
#: codes and numbers: never personal data
PLAIN_COLUMNS = frozenset({"line", "remote_id", "wave", "action", "reason", "changed",
                           "outcome",
                           "status", "field"})
EDITABLE = ("name", "email", "phone_number", "outbound_number")

#: Okabe-Ito palette (distinguishable with the common colour-vision deficiencies);
#: every bar and card also carries its label as text
COLOURS = {
    "add": "#009E73", "update": "#0072B2", "unchanged": "#8C8C8C", "deferred": "#E69F00",
    "rejected": "#D55E00", "kept": "#56B4E9", "updated": "#0072B2", "deleted": "#CC79A7",
    "unmanaged": "#8C8C8C", "suppressed": "#000000", "opted_out": "#6A3D9A",
}
REJECT_COLOUR = "#D55E00"

LABELS = {
    "add": "will be added", "update": "will be updated", "unchanged": "already equal",
    "deferred": "left for a later run", "rejected": "rejected (not sent)",
    "kept": "kept as is", "updated": "will be patched", "deleted": "will be deleted",
    "unmanaged": "not managed by the sync",
    "suppressed": "suppressed (on a list)", "opted_out": "opted out (not added back)",
}

#: what happened to a write (sync, apply, rollback reports), failures first
OUTCOME_COLOURS = {"failed": "#D55E00", "pending": "#E69F00", "unconfirmed": "#F0E442",
                   "skipped": "#8C8C8C", "done": "#009E73"}
OUTCOME_LABELS = {"failed": "refused by the platform", "pending": "import job still running",
                  "unconfirmed": "sent, not seen afterwards", "skipped": "not sent",
                  "done": "done and confirmed"}
#: the plan action whose writes an outcome belongs to, and the words for it when done
WRITE_ACTIONS = {"add": "add", "update": "update", "updated": "update", "deleted": "delete"}

_EMAIL_ONLY = re.compile(r"[^\s@<>\"',;]+@[^\s@<>\"',;]+")


# ---------------------------------------------------------------- values
_text = cell_text


def _phone(value: str) -> str:
    # the page may be handed an already masked plan: masking twice would drop stars
    return value if not value or "*" in value else mask_phone(value)


def _email(value: str) -> str:
    return value if not value or "***@" in value else mask_email(value)


def _masker(column: str, mask_pii: bool) -> Callable[[str], str]:
    if not mask_pii or column in PLAIN_COLUMNS:
        return lambda v: v
    if column in PHONE_COLUMNS:
        return _phone
    if column in EMAIL_COLUMNS:
        return _email
    if column in KEY_COLUMNS:
        return lambda v: _EMAIL_ONLY.sub(lambda m: _email(m.group(0)), v) if v else v
    return lambda v: mask_text(v) if v else v


def _reject_value_masker(mask_pii: bool) -> Callable[[str, str], str]:
    """Rejected values are masked by the field they were found in."""
    def mask(value: str, field: str) -> str:
        if not mask_pii or not value:
            return value
        if field in PHONE_COLUMNS:
            return _phone(value)
        if field in EMAIL_COLUMNS:
            return _email(value)
        return mask_text(value)
    return mask


def _explain(code: str) -> str:
    return " / ".join(REASONS.get(c) or REASON_HINTS.get(c) or "" for c in code.split(";")
                      if REASONS.get(c) or REASON_HINTS.get(c))


#: A table cell, (kind, text, extra), which the template turns into its <td>; text is
#: the value shown (masked), extra depends on the kind:
#:   text      a plain value (extra None)
#:   num       a number, right-aligned (extra None)
#:   reason    text the row's codes ("a;b"), extra their (code, tooltip) pairs
#:   phone     text the E.164 form, extra the form the campaign holds (shown on hover)
#:   changed   a field an update changes: extra (before) -> text (either may be empty)
#:   outbound  an outbound number the campaign holds otherwise (extra): not patched
Cell = tuple[str, str, Any]


@functools.lru_cache(maxsize=1024)
def _reason_codes(code: str) -> tuple[tuple[str, str], ...]:
    """(code, tooltip) of each reason of "a;b" (a few distinct values over many rows)."""
    return tuple((one, _explain(one) or one) for one in code.split(";"))


def _reason_cell(code: str) -> Cell:
    """The reason codes of a row, each a click to show only the rows with it."""
    return ("reason", code, _reason_codes(code)) if code else ("text", "", None)


# ---------------------------------------------------------------- tables
class Column:
    def __init__(self, key: str, title: str | None = None, *, numeric: bool = False) -> None:
        self.key = key
        self.title = title or key.replace("_", " ")
        self.numeric = numeric


def _col(key: str, title: str | None = None) -> Column:
    return Column(key, title, numeric=key in {"line", "remote_id", "wave"})


#: the row attributes a click on a card, a bar or a reason filters by
FACETS = ("action", "reason", "outcome")

#: the tables whose rows are a plan's writes, and the write (decisions.csv's action)
#: each of their rows is
REVIEWED = {"deletes": "delete", "updates": "update", "adds": "add"}


def _facets(rec: dict[str, Any], facet_action: str | None) -> list[tuple[str, str]]:
    """(name, value) of the data-action / data-reason / data-outcome of a table row."""
    values = {"action": facet_action or _text(rec.get("action")),
              "reason": _text(rec.get("reason")), "outcome": _text(rec.get("outcome"))}
    return [(name, values[name]) for name in FACETS if values[name]]


def _table(table_id: str, frame: pd.DataFrame, columns: Sequence[Column], *,
           max_rows: int, csv_name: str, mask_pii: bool,
           cell: Callable[[dict[str, Any], Column], Cell | None] | None = None,
           facet_action: str | None = None, region: str | None = None,
           write: str | None = None, where: Any = None) -> dict[str, Any]:
    """One table section's data: its columns, its first max_rows rows as (facets,
    cells, review) with the values masked, the number of rows in all and the file that
    holds them all. Its heading, intro, filter box, download button and pager are the
    template's.

    With `write` (delete, update or add: a plan's table of writes) each row's review
    is (key, write), the write decisions.csv names; None when the page masks the key
    (it could not name the write), or for the rows of other tables.

    `where` (a boolean mask of `frame`'s rows) picks the table's rows from a larger
    frame: only the rows shown are taken, not a copy of every row the mask holds."""
    if where is not None:
        picked = np.flatnonzero(np.asarray(where, dtype=bool))
        frame = frame.iloc[picked if max_rows < 0 else picked[:max_rows]]
        total = len(picked)
    else:
        total = int(len(frame))
    table: dict[str, Any] = {"id": table_id, "total": total, "csv_name": csv_name,
                             "columns": [], "rows": [], "review": write is not None}
    if not total:
        return table
    shown = frame.head(max_rows) if max_rows >= 0 else frame
    present = [c for c in columns if c.key in shown.columns or cell is not None]
    maskers = {c.key: _masker(c.key, mask_pii) for c in present}
    key_mask = _masker("external_unique_id", mask_pii)
    table["columns"] = [{"key": c.key, "title": c.title, "numeric": c.numeric}
                        for c in present]
    rows = table["rows"]
    for rec in shown.to_dict("records"):
        cells = []
        for c in present:
            if cell is not None:
                custom = cell(rec, c)
                if custom is not None:
                    cells.append(custom)
                    continue
            raw = _text(rec.get(c.key))
            value = maskers[c.key](raw)
            if c.key == "reason":
                cells.append(_reason_cell(value))
            elif c.numeric:
                cells.append(("num", value, None))
            elif c.key in PHONE_COLUMNS and region != "":
                cells.append(_phone_cell(raw, maskers[c.key], region))
            else:
                cells.append(("text", value, None))
        review = None
        if write is not None:
            key = _text(rec.get("external_unique_id"))
            if key and key_mask(key) == key:
                review = (key, write)
        rows.append((_facets(rec, facet_action), cells, review))
    return table


def _phone_cell(raw: str, mask: Callable[[str], str], region: str | None) -> Cell:
    """A phone as E.164 in every table, the form the campaign stores on hover."""

    if not raw:
        return ("text", "", None)
    e164 = normalize_phone(raw, region).e164 if not raw.startswith("+") or not \
        raw[1:].isdigit() else raw
    if not e164 or e164 == raw:
        return ("text", mask(raw), None)
    return ("phone", mask(e164), mask(raw))


def _update_cell(mask_pii: bool) -> Callable[[dict[str, Any], Column], Cell | None]:
    """Editable fields of an update: "before -> after" where the field changes."""
    def cell(rec: dict[str, Any], c: Column) -> Cell | None:
        if c.key not in EDITABLE:
            return None
        changed = {f.strip() for f in _text(rec.get("changed")).split(",") if f.strip()}
        mask = _masker(c.key, mask_pii)
        after = mask(_text(rec.get(c.key)))
        before = mask(_text(rec.get(f"before_{c.key}")))
        if c.key not in changed:
            if c.key == "outbound_number" and before and before != after:
                # reported only: the platform does not patch the outbound number
                return ("outbound", after, before)
            return ("text", after, None)
        return ("changed", after, before)
    return cell


def _reject_cell(mask_pii: bool) -> Callable[[dict[str, Any], Column], Cell | None]:
    mask_value = _reject_value_masker(mask_pii)

    def cell(rec: dict[str, Any], c: Column) -> Cell | None:
        if c.key != "value":
            return None
        return ("text", mask_value(_text(rec.get("value")), _text(rec.get("field"))), None)
    return cell


# ---------------------------------------------------------------- charts
#: a bar chart's geometry (SVG units): width, label column, number column, bar, gap
CHART_WIDTH, CHART_LABEL_W, CHART_NUM_W, CHART_BAR_H, CHART_GAP = 640, 190, 80, 20, 6


def _bar_chart(groups: Sequence[tuple[str, Sequence[tuple[str, int, str, str]]]],
               facet_key: str | None = None) -> dict[str, Any] | None:
    """A horizontal bar chart (inline SVG in the page), laid out: its size and a line
    per group heading and per bar, with positions. groups: (heading, [(label, n,
    colour, tooltip)]). None when there is nothing to draw."""
    rows = sum(len(items) + (1 if heading else 0) for heading, items in groups)
    if not rows:
        return None
    width, label_w, num_w = CHART_WIDTH, CHART_LABEL_W, CHART_NUM_W
    bar_h, gap = CHART_BAR_H, CHART_GAP
    bar_space = width - label_w - num_w
    peak = max([n for _, items in groups for _, n, _, _ in items] + [1])
    lines: list[dict[str, Any]] = []
    y = gap
    for heading, items in groups:
        if heading:
            lines.append({"heading": heading, "text_y": y + bar_h - 5})
            y += bar_h + gap
        for label, n, colour, tip in items:
            w = 0 if n <= 0 else max(2.0, bar_space * n / peak)
            lines.append({"heading": "", "label": label, "n": n, "colour": colour, "tip": tip,
                          "y": y, "text_y": y + bar_h - 5, "width": f"{w:.1f}",
                          "value_x": f"{label_w + w + 6:.1f}"})
            y += bar_h + gap
    return {"width": width, "height": rows * (bar_h + gap) + gap, "label_x": label_w - 8,
            "bar_x": label_w, "bar_h": bar_h, "facet": facet_key or "", "lines": lines}


# ---------------------------------------------------------------- page
SOURCE_COLUMNS = [_col("line"), _col("external_unique_id", "external id"), _col("name"),
                  _col("email"), _col("phone_number", "phone"),
                  _col("outbound_number", "outbound"), _col("reason")]
REMOTE_TABLE_COLUMNS = [_col("remote_id", "contact id"),
                        _col("external_unique_id", "external id"), _col("status"),
                        _col("name"), _col("email"), _col("phone_number", "phone"),
                        _col("outbound_number", "outbound"), _col("reason"),
                        _col("detail", "why (source line)")]


def _thousands(n: int) -> str:
    return f"{n:,}"


@functools.cache
def _environment() -> Environment:
    """The page's Jinja2 environment, made once on first use: every printed value is
    escaped, a name the template does not get is an error (not an empty string), and
    block tags leave no blank lines behind."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["thousands"] = _thousands
    return env


@functools.cache
def _assets() -> tuple[str, str, str]:
    """The stylesheet and the script of the page, read once, and the script's sha256
    (base64) for the Content-Security-Policy: the hash of exactly the text that the
    template puts between the script tags (as it is: escaping would break it)."""
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    return style, script, digest


def _meta_text(meta: dict[str, Any], key: str,
               mask: Callable[[str], str] = lambda v: v) -> str | None:
    """A run header value, None when missing (the page shows a dash)."""
    value = _text(meta.get(key))
    return None if value == "" else mask(value)


def _outcome_text(per: dict[str, int] | None) -> str | None:
    """"0 done, 4 failed": what happened to the writes of one kind."""
    if per is None:
        return None
    said = [f"{int(per.get(o, 0)):,} {o}" for o in OUTCOMES if per.get(o)]
    return ", ".join(said) if said else "nothing sent"


def action_labels(outcomes: dict[str, dict[str, int]] | None = None,
                  refused: bool = False) -> dict[str, str]:
    """What each action's card and bar say: the plan's future tense; in a run's report
    what happened to the writes ("0 done, 4 failed"); in a refused plan "would be"."""
    labels = dict(LABELS)
    for a, kind in WRITE_ACTIONS.items():
        if outcomes is not None:
            labels[a] = _outcome_text(outcomes.get(kind)) or LABELS[a]
        elif refused:
            labels[a] = {"add": "would be added", "update": "would be updated",
                         "updated": "would be patched",
                         "deleted": "would be deleted"}[a] + " (refused: nothing sent)"
    return labels


def _cards(counts: dict[str, Any], outcomes: dict[str, dict[str, int]] | None = None,
           refused: bool = False) -> dict[str, Any]:
    """The summary cards: the writes per outcome (a run's report only), the source
    rows and the campaign contacts per action; each group with its total."""
    labels = action_labels(outcomes, refused)

    def group(actions: Sequence[str], numbers: dict[str, int], total: int) -> dict[str, Any]:
        return {"total": int(total),
                "cards": [{"key": a, "colour": COLOURS[a], "n": int(numbers.get(a, 0)),
                           "label": labels[a]} for a in actions]}

    writes = None
    if outcomes is not None:
        totals = outcome_totals(outcomes)
        writes = {"total": sum(totals.values()),
                  "cards": [{"key": o, "colour": OUTCOME_COLOURS[o], "n": totals[o],
                             "label": OUTCOME_LABELS[o]} for o in OUTCOMES]}
    return {"writes": writes,
            "source": group([a for a in SOURCE_ACTIONS if a in counts["source"]],
                            counts["source"], counts["source_rows"]),
            "remote": group(REMOTE_ACTIONS, counts["remote"], counts["remote_contacts"])}


def _notes(counts: dict[str, Any], mask: Callable[[str], str]) -> list[dict[str, Any]]:
    """What the summary's notes are about, in their order; the template words them."""
    notes: list[dict[str, Any]] = []
    conflicts = int(counts.get("conflicts") or 0)
    if conflicts:
        notes.append({"kind": "conflicts", "n": conflicts})
    for status, n in (counts.get("unknown_statuses") or {}).items():
        notes.append({"kind": "unknown_status", "n": int(n), "status": mask(str(status))})
    outbound = int(counts.get("outbound_differences") or 0)
    if outbound:
        notes.append({"kind": "outbound", "n": outbound})
    for reason, n in (counts.get("deferred_reasons") or {}).items():
        notes.append({"kind": "deferred", "n": int(n), "reason": reason,
                      "why": REASONS.get(reason, reason)})
    return notes


def _outcome_banner(totals: dict[str, int], verification: Any) -> dict[str, Any]:
    """The first thing a reader of a run's report sees: did every write go through."""
    said = str(verification) if verification else ""
    return {"bad": [(o, totals[o]) for o in ("failed", "pending", "unconfirmed", "skipped")
                    if totals[o]],
            "total": sum(totals.values()), "done": totals["done"],
            "checked": said[:1].upper() + said[1:]}


def _problem_table(rows: pd.DataFrame, remote: pd.DataFrame,
                   common: dict[str, Any]) -> dict[str, Any]:
    """The writes that did not go through, failures first, with the platform's message
    and what to do: the first table of a run's report."""

    order = {o: i for i, o in enumerate(OUTCOMES)}
    parts = []
    for frame, action in ((rows, None), (remote, "deleted")):
        if "outcome" not in frame.columns:
            continue
        bad = frame[frame["outcome"].ne("") & frame["outcome"].ne("done")]
        if action is not None:
            bad = bad.assign(action="delete", line="")
        parts.append(bad.reindex(columns=["line", "action", "external_unique_id", "remote_id",
                                          "outcome", "error"], fill_value=""))
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(table):
        table["what_to_do"] = [what_to_do(o, e) for o, e in
                               zip(table["outcome"], table["error"].fillna(""))]
        table = table.iloc[np.argsort([order.get(o, 9) for o in table["outcome"]],
                                      kind="stable")]
    return _table("problems", table,
                  [_col("outcome"), _col("action"), _col("line"),
                   _col("external_unique_id", "external id"), _col("remote_id", "contact id"),
                   _col("error", "platform's message"), _col("what_to_do", "what to do")],
                  csv_name="errors.csv", **common)


def _review(tables: dict[str, Any], sizes: dict[str, Any], max_rows: int
            ) -> dict[str, Any] | None:
    """What the review section says: the plan's writes, how many the page lists with
    a box (only those are in decisions.csv), how many it does not list (tables cut at
    max_rows) and how many it lists without a box (their key masked on the page).
    None when the plan has no write."""
    total = sum(int(sizes[t]) for t in REVIEWED)
    if not total:
        return None
    listed = sum(len(tables[t]["rows"]) for t in REVIEWED)
    boxed = sum(1 for t in REVIEWED for *_, review in tables[t]["rows"] if review)
    return {"total": total, "boxed": boxed, "unlisted": total - boxed, "cut": total - listed,
            "masked": listed - boxed, "max_rows": max_rows}


def render_html(plan: Plan, *, mask_pii: bool = False, max_rows: int = 5000) -> str:
    """The report page for `plan` as one self-contained HTML document."""
    counts = plan.counts()
    meta = plan.meta if isinstance(plan.meta, dict) else {}
    text_mask = (lambda v: mask_text(v) if v else v) if mask_pii else (lambda v: v)
    rows, remote = plan.rows, plan.remote

    campaign = _text(meta.get("campaign_id"))
    outcome = meta.get("outcome") if isinstance(meta.get("outcome"), dict) else None
    outcomes = (outcome or {}).get("outcome") if "outcome" in rows.columns else None
    command = _text(meta.get("command")).split(" ")[0]
    kind = ({"rollback": "Rollback report", "apply": "Apply report"}.get(command, "Sync report")
            if outcomes is not None else "Sync plan")
    style, script, script_hash = _assets()
    opts = plan.options

    action = rows["action"] if "action" in rows.columns else pd.Series([], dtype=object)
    r_action = remote["action"] if "action" in remote.columns else pd.Series([], dtype=object)
    sizes = {"problems": None, "deletes": int(r_action.eq("deleted").sum()),
             "updates": int(action.eq("update").sum()), "adds": int(action.eq("add").sum()),
             "deferred-rows": int(action.eq("deferred").sum()),
             "deferred-contacts": int(r_action.eq("deferred").sum()),
             "unmanaged": int(r_action.eq("unmanaged").sum()),
             "conflicts": int(len(plan.conflicts)), "notes": int(len(plan.notes)),
             "rejects": int(len(plan.rejects))}
    # compliance: rows a suppression list or an opt-out kept out, contacts removed as
    # suppressed (their sections appear only when there are some)
    kept_out = action.isin(["suppressed", "opted_out"])
    r_reason = remote["reason"] if "reason" in remote.columns else pd.Series([], dtype=object)
    removed = r_reason.eq("suppressed")
    sizes["compliance-rows"] = int(kept_out.sum())
    sizes["compliance-contacts"] = int(removed.sum())

    charts: dict[str, Any] = {"outcome": None}
    if outcomes is not None:
        charts["outcome"] = _bar_chart([
            (k, [(o, int(outcomes[k].get(o, 0)), OUTCOME_COLOURS[o], OUTCOME_LABELS[o])
                 for o in OUTCOMES]) for k in ("delete", "update", "add") if k in outcomes],
            facet_key="outcome")
    labels = action_labels(outcomes, plan.refused is not None)
    charts["actions"] = _bar_chart([
        ("Source rows", [(a, int(counts["source"].get(a, 0)), COLOURS[a],
                          labels[a]) for a in SOURCE_ACTIONS if a in counts["source"]]),
        ("Campaign contacts", [(a, int(counts["remote"].get(a, 0)), COLOURS[a],
                                labels[a]) for a in REMOTE_ACTIONS]),
    ], facet_key="action")
    reject_reasons = counts.get("reject_reasons") or {}
    charts["rejects"] = _bar_chart([
        ("", [(r, int(n), REJECT_COLOUR, REASON_HINTS.get(r, "")) for r, n in
              reject_reasons.items()])], facet_key="reason") if reject_reasons else None

    common = {"max_rows": max_rows, "mask_pii": mask_pii, "region": opts.region}
    wrote = [_col("outcome"), _col("error")] if outcomes is not None else []
    # a plan's writes are reviewed in the page; a run's were sent already
    reviewing = outcomes is None
    writes = REVIEWED if reviewing else {}
    tables = {
        "problems": _problem_table(rows, remote, common) if outcomes is not None else None,
        "deletes": _table("deletes", remote,
                          [*REMOTE_TABLE_COLUMNS, *wrote], csv_name="actions.csv",
                          write=writes.get("deletes"), where=r_action.eq("deleted"), **common),
        "updates": _table(
            "updates", rows,
            [_col("line"), _col("external_unique_id", "external id"),
             _col("remote_id", "contact id"), _col("changed", "changed fields"), _col("name"),
             _col("email"), _col("phone_number", "phone"), _col("outbound_number", "outbound"),
             *wrote],
            csv_name="actions.csv", cell=_update_cell(mask_pii), write=writes.get("updates"),
            where=action.eq("update"), **common),
        "adds": _table("adds", rows, [*SOURCE_COLUMNS, *wrote], csv_name="actions.csv",
                       write=writes.get("adds"), where=action.eq("add"), **common),
        "deferred-rows": _table("deferred-rows", rows,
                                [*SOURCE_COLUMNS, _col("remote_id", "contact id"),
                                 _col("detail")], csv_name="actions.csv",
                                where=action.eq("deferred"), **common),
        "deferred-contacts": _table("deferred-contacts", remote,
                                    REMOTE_TABLE_COLUMNS, csv_name="actions.csv",
                                    where=r_action.eq("deferred"), **common),
        "unmanaged": _table("unmanaged", remote,
                            REMOTE_TABLE_COLUMNS, csv_name="actions.csv",
                            where=r_action.eq("unmanaged"), **common),
        "conflicts": _table("conflicts", plan.conflicts,
                            [_col("external_unique_id", "external id"),
                             _col("remote_id", "contact id"), _col("status"), _col("name"),
                             _col("email"), _col("phone_number", "phone"),
                             _col("outbound_number", "outbound")],
                            csv_name="actions.csv", **common),
        "notes": _table("notes", plan.notes,
                        [_col("line"), _col("field"), _col("value"), _col("note")],
                        csv_name="actions.csv", cell=_reject_cell(mask_pii), **common),
        "compliance-rows": _table("compliance-rows", rows,
                                  [*SOURCE_COLUMNS, _col("detail", "why")],
                                  csv_name="actions.csv", where=kept_out, **common),
        "compliance-contacts": _table("compliance-contacts", remote,
                                      [*REMOTE_TABLE_COLUMNS, *wrote], csv_name="actions.csv",
                                      where=removed, **common),
        "rejects": _table("rejects", plan.rejects,
                          [_col("line"), _col("key", "external id"), _col("name"),
                           _col("email"), _col("field"), _col("value"), _col("reason"),
                           _col("hint")],
                          csv_name="rejects.csv", cell=_reject_cell(mask_pii), **common,
                          facet_action="rejected"),
    }

    page = {
        "review": _review(tables, sizes, max_rows) if reviewing else None,
        "title": f"{kind} \u2014 campaign {campaign}" if campaign else kind,
        "style": style, "script": script, "script_hash": script_hash,
        "run": outcomes is not None,
        "refused": (text_mask(str(plan.refused)).rstrip().rstrip(".")
                    if plan.refused is not None else None),
        "banner": (_outcome_banner(outcome_totals(outcomes), (outcome or {}).get(
            "verification")) if outcomes is not None else None),
        "meta": {"source": _meta_text(meta, "source"),
                 "source_sha256": _meta_text(meta, "source_sha256"),
                 "mapping": _meta_text(meta, "mapping"),
                 "campaign_id": _meta_text(meta, "campaign_id"),
                 "created_at": _meta_text(meta, "created_at"),
                 "command": _meta_text(meta, "command", text_mask)},
        "mode": _text(plan.mode),
        "limits": {"fraction": f"{opts.max_delete_fraction:.0%}", "force": bool(opts.force),
                   "reject_policy": _text(meta.get("reject_policy"))},
        "masked": mask_pii,
        "sizes": sizes,
        "cards": _cards(counts, outcomes, refused=plan.refused is not None),
        "notes": _notes(counts, text_mask),
        "charts": charts,
        "reasons": list(REASONS.items()), "hints": list(REASON_HINTS.items()),
        "tables": tables,
        "source_rows": int(counts["source_rows"]),
        "remote_contacts": int(counts["remote_contacts"]),
    }
    return _environment().get_template("report.html.j2").render(page)
