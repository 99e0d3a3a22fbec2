"""report.html: one self-contained page for a data steward to review a plan.

Everything is inline (CSS, SVG charts, one small script for sorting and filtering
tables); the page fetches nothing, and a Content-Security-Policy allows only its own
script (by hash), so it works offline and a value that slipped through escaping
still could not run. Every value is escaped with html.escape.

The script honours a URL fragment at load, for links and checks without clicking:
``report.html#sort=adds.name`` (``-adds.name`` for descending; ``sort=name`` sorts
every table that has the column) and ``q=text`` (fills every table's filter box).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from ..contact import REASON_HINTS
from ..fileio import cell_text
from ..normalize import normalize_phone
from ..plan import REASONS, REMOTE_ACTIONS, SOURCE_ACTIONS, Plan
from ..privacy import mask_email, mask_phone, mask_text
from .outcome import OUTCOMES, outcome_totals, what_to_do

DASH = "\u2014"
ARROW = "\u2192"

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
    "unmanaged": "#8C8C8C",
}
REJECT_COLOUR = "#D55E00"

LABELS = {
    "add": "will be added", "update": "will be updated", "unchanged": "already equal",
    "deferred": "left for a later run", "rejected": "rejected (not sent)",
    "kept": "kept as is", "updated": "will be patched", "deleted": "will be deleted",
    "unmanaged": "not managed by the sync",
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


def _reason_cell(code: str) -> str:
    """The reason codes of a row, each a click to show only the rows with it."""
    if not code:
        return "<td></td>"
    parts = []
    for one in code.split(";"):
        title = _explain(one) or one
        parts.append(f'<abbr class="facet" data-facet="reason:{escape(one)}" '
                     f'title="{escape(title)} (click: show only these)">{escape(one)}</abbr>')
    return f'<td data-v="{escape(code)}">{";".join(parts)}</td>'


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


def _facets(rec: dict[str, Any], facet_action: str | None) -> str:
    """data-action / data-reason / data-outcome of a table row."""
    out = []
    action = facet_action or _text(rec.get("action"))
    if action:
        out.append(f' data-action="{escape(action)}"')
    reason = _text(rec.get("reason"))
    if reason:
        out.append(f' data-reason="{escape(reason)}"')
    outcome = _text(rec.get("outcome"))
    if outcome:
        out.append(f' data-outcome="{escape(outcome)}"')
    return "".join(out)


def _table(table_id: str, title: str, frame: pd.DataFrame, columns: Sequence[Column], *,
           max_rows: int, csv_name: str, mask_pii: bool, intro: str = "",
           cell: Callable[[dict[str, Any], Column], str] | None = None,
           facet_action: str | None = None, region: str | None = None) -> str:
    """One section: a heading that folds it, an intro, a filter box, a download
    button, the table (paged by the script) and a pager."""
    total = int(len(frame))
    head = (f'<section id="sec-{table_id}"><details class="sec" open><summary><h2>'
            f'{escape(title)} <span class="n">{total:,}</span></h2></summary>')
    if intro:
        head += f'<p class="intro">{intro}</p>'
    if not total:
        return head + '<p class="empty">None.</p></details></section>'
    shown = frame.head(max_rows) if max_rows >= 0 else frame
    present = [c for c in columns if c.key in shown.columns or cell is not None]
    maskers = {c.key: _masker(c.key, mask_pii) for c in present}
    out = [head]
    if total > len(shown):
        out.append(f'<p class="truncated" role="status">showing {len(shown):,} of '
                   f'{total:,}; all are in {escape(csv_name)}</p>')
    out.append(f'<div class="tools"><label>Filter <input type="search" class="filter" '
               f'data-table="{table_id}" placeholder="type to filter rows" '
               f'aria-controls="{table_id}"></label> <span class="count" '
               f'data-for="{table_id}"></span> <button type="button" class="dl" '
               f'data-table="{table_id}">Download shown rows (CSV)</button></div>')
    out.append(f'<div class="scroll"><table id="{table_id}" class="data"><thead><tr>')
    for c in present:
        cls = ' class="num"' if c.numeric else ""
        out.append(f'<th scope="col" data-key="{c.key}"{cls} tabindex="0" '
                   f'aria-sort="none" title="click to sort">{escape(c.title)}</th>')
    out.append("</tr></thead><tbody>")
    records = shown.to_dict("records")
    for rec in records:
        out.append(f"<tr{_facets(rec, facet_action)}>")
        for c in present:
            if cell is not None:
                custom = cell(rec, c)
                if custom is not None:
                    out.append(custom)
                    continue
            raw = _text(rec.get(c.key))
            value = maskers[c.key](raw)
            if c.key == "reason":
                out.append(_reason_cell(value))
            elif c.numeric:
                out.append(f'<td class="num">{escape(value)}</td>')
            elif c.key in PHONE_COLUMNS and region != "":
                out.append(_phone_cell(raw, maskers[c.key], region))
            else:
                out.append(f"<td>{escape(value)}</td>")
        out.append("</tr>")
    out.append(f'</tbody></table></div><div class="pager" data-for="{table_id}" hidden>'
               '<button type="button" class="prev">\u2039 previous</button> '
               '<span class="page"></span> '
               '<button type="button" class="next">next \u203a</button></div>'
               "</details></section>")
    return "".join(out)


def _phone_cell(raw: str, mask: Callable[[str], str], region: str | None) -> str:
    """A phone as E.164 in every table, the form the campaign stores on hover."""

    if not raw:
        return "<td></td>"
    e164 = normalize_phone(raw, region).e164 if not raw.startswith("+") or not \
        raw[1:].isdigit() else raw
    if not e164 or e164 == raw:
        return f"<td>{escape(mask(raw))}</td>"
    return (f'<td data-v="{escape(mask(e164))}" title="stored as {escape(mask(raw))}">'
            f"{escape(mask(e164))}</td>")


def _update_cell(mask_pii: bool) -> Callable[[dict[str, Any], Column], str | None]:
    """Editable fields of an update: "before -> after" where the field changes."""
    def cell(rec: dict[str, Any], c: Column) -> str | None:
        if c.key not in EDITABLE:
            return None
        changed = {f.strip() for f in _text(rec.get("changed")).split(",") if f.strip()}
        mask = _masker(c.key, mask_pii)
        after = mask(_text(rec.get(c.key)))
        before = mask(_text(rec.get(f"before_{c.key}")))
        if c.key not in changed:
            if c.key == "outbound_number" and before and before != after:
                # reported only: the platform does not patch the outbound number
                return (f'<td class="odiff" data-v="{escape(after)}" title="the campaign has '
                        f'another outbound number; it is not patched">{escape(after)} '
                        f'<span class="note">(campaign: {escape(before)}, not patched)</span>'
                        "</td>")
            return f"<td>{escape(after)}</td>"
        before_html = (f"<del>{escape(before)}</del>" if before
                       else '<span class="blank">(empty)</span>')
        after_html = f"<ins>{escape(after)}</ins>" if after \
            else '<span class="blank">(empty)</span>'
        return (f'<td class="chg" data-v="{escape(after)}" title="changed">{before_html} '
                f'<span class="arrow" aria-label="becomes">{ARROW}</span> {after_html}</td>')
    return cell


def _reject_cell(mask_pii: bool) -> Callable[[dict[str, Any], Column], str | None]:
    mask_value = _reject_value_masker(mask_pii)

    def cell(rec: dict[str, Any], c: Column) -> str | None:
        if c.key != "value":
            return None
        return f"<td>{escape(mask_value(_text(rec.get('value')), _text(rec.get('field'))))}</td>"
    return cell


# ---------------------------------------------------------------- charts
def _bar_chart(title: str, groups: Sequence[tuple[str, Sequence[tuple[str, int, str, str]]]],
               facet_key: str | None = None) -> str:
    """A horizontal bar chart as inline SVG. groups: (heading, [(label, n, colour,
    tooltip)])."""
    rows = sum(len(items) + (1 if heading else 0) for heading, items in groups)
    if not rows:
        return ""
    width, label_w, num_w, bar_h, gap = 640, 190, 80, 20, 6
    bar_space = width - label_w - num_w
    peak = max([n for _, items in groups for _, n, _, _ in items] + [1])
    height = rows * (bar_h + gap) + gap
    out = [f'<figure class="chart"><svg viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" preserveAspectRatio="xMinYMin meet">'
           f'<title>{escape(title)}</title>']
    y = gap
    for heading, items in groups:
        if heading:
            out.append(f'<text x="0" y="{y + bar_h - 5}" class="grp">{escape(heading)}</text>')
            y += bar_h + gap
        for label, n, colour, tip in items:
            w = 0 if n <= 0 else max(2.0, bar_space * n / peak)
            tip_text = f"{label}: {n:,}" + (f" \u2014 {tip}" if tip else "")
            facet = (f' data-facet="{facet_key}:{escape(label)}" class="bar"' if facet_key
                     else "")
            out.append(f'<g{facet}><title>{escape(tip_text)}</title>'
                       f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end" '
                       f'class="lbl">{escape(label)}</text>'
                       f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                       f'rx="2" fill="{colour}"></rect>'
                       f'<text x="{label_w + w + 6:.1f}" y="{y + bar_h - 5}" '
                       f'class="val">{n:,}</text></g>')
            y += bar_h + gap
    out.append(f"</svg><figcaption>{escape(title)}</figcaption></figure>")
    return "".join(out)


# ---------------------------------------------------------------- page
STYLE = """
:root{--fg:#1b1f24;--muted:#57606a;--bg:#fff;--panel:#f6f8fa;--line:#d0d7de;
--red:#b3261e;--redbg:#fdecea;--chg:#fff4cc;--acc:#0072B2}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;padding:1rem 1.25rem 3rem;font:15px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,"Noto Sans","Liberation Sans",sans-serif;color:var(--fg);
background:var(--bg);max-width:1400px;margin-inline:auto}
h1{font-size:1.5rem;margin:.2rem 0 .6rem}
h2{font-size:1.15rem;margin:1.8rem 0 .5rem;border-bottom:1px solid var(--line);
padding-bottom:.25rem}
h2 .n{font-weight:normal;color:var(--muted);font-size:.95rem}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
font-size:.9em;word-break:break-all}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0 0 1rem;
background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.7rem 1rem}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0;min-width:0}
.refused{background:var(--redbg);color:var(--red);border:2px solid var(--red);
border-left-width:10px;border-radius:6px;padding:.8rem 1rem;font-size:1.1rem;margin:1rem 0}
.ok{background:#e8f5ee;color:#0b5e3c;border:2px solid #009E73;border-left-width:10px;
border-radius:6px;padding:.8rem 1rem;font-size:1.1rem;margin:1rem 0}
.searchbar{margin:.6rem 0;padding:.5rem .75rem;background:var(--panel);border:1px solid
var(--line);border-radius:6px}.searchbar input{font:inherit;padding:.25rem .45rem;
min-width:20rem;max-width:100%}.searchbar .hint{color:var(--muted);font-size:.85rem}
.facetbar{position:sticky;top:0;z-index:2;background:#fff4cc;border:1px solid #E69F00;
border-radius:6px;padding:.4rem .75rem;margin:.4rem 0}
[data-facet]{cursor:pointer}.card[data-facet]:hover{outline:2px solid var(--acc)}
details.sec>summary{cursor:pointer;list-style:revert}details.sec>summary h2{display:inline}
.pager{margin:.4rem 0;display:flex;gap:.6rem;align-items:center}
.notes{border-left:4px solid #E69F00;background:#fff8e6;padding:.5rem 1rem;margin:1rem 0}
.notes li{margin:.15rem 0}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:.6rem}
.card{border:1px solid var(--line);border-left:8px solid var(--c,#8C8C8C);border-radius:6px;
padding:.5rem .75rem;background:var(--bg);break-inside:avoid}
.card .v{font-size:1.6rem;font-weight:600;font-variant-numeric:tabular-nums}
.card .k{font-weight:600}.card .d{color:var(--muted);font-size:.85rem}
h3{font-size:1rem;margin:1rem 0 .4rem;color:var(--muted)}
.charts{margin-top:1rem;display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1rem}
figure.chart{margin:0;border:1px solid var(--line);border-radius:6px;padding:.6rem;
break-inside:avoid}
figure.chart svg{width:100%;height:auto;display:block}
figure.chart figcaption{color:var(--muted);font-size:.85rem;margin-top:.3rem}
svg text{font:13px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#1b1f24}
svg text.grp{font-weight:600}svg text.val{font-variant-numeric:tabular-nums}
.tools{margin:.3rem 0;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
.tools input{font:inherit;padding:.25rem .45rem;border:1px solid var(--line);border-radius:4px;
min-width:16rem;max-width:100%}
.count{color:var(--muted);font-size:.85rem}
.scroll{overflow-x:auto;border:1px solid var(--line);border-radius:6px}
table.data{border-collapse:collapse;width:100%;font-size:.9rem}
table.data th,table.data td{padding:.3rem .55rem;border-bottom:1px solid var(--line);
text-align:left;vertical-align:top}
table.data th{background:var(--panel);position:sticky;top:0;cursor:pointer;
white-space:nowrap;user-select:none}
table.data th:focus{outline:2px solid var(--acc);outline-offset:-2px}
table.data th[aria-sort=ascending]::after{content:" \\25B2"}
table.data th[aria-sort=descending]::after{content:" \\25BC"}
table.data tbody tr:nth-child(even){background:#fafbfc}
.num{text-align:right;font-variant-numeric:tabular-nums}
td.chg{background:var(--chg);box-shadow:inset 4px 0 0 #E69F00}
td.chg del{color:var(--red);text-decoration:line-through}
td.chg ins{text-decoration:none;font-weight:600}
.blank,.note{color:var(--muted);font-style:italic}
td.odiff{box-shadow:inset 4px 0 0 #56B4E9}
.truncated{background:#fff8e6;border-left:4px solid #E69F00;padding:.35rem .75rem}
.empty{color:var(--muted)}
abbr[title]{text-decoration:underline dotted;cursor:help}
details.legend{margin:1rem 0}details.legend dt{font-family:ui-monospace,Menlo,Consolas,
monospace;font-weight:600}details.legend dd{margin:0 0 .35rem 1rem}
nav.toc{font-size:.9rem;display:flex;flex-wrap:wrap;gap:.3rem .9rem}nav.toc a{color:var(--acc)}
footer{margin-top:2rem;color:var(--muted);font-size:.85rem}
@media (max-width:600px){body{padding:.6rem}dl.meta{grid-template-columns:1fr}
dl.meta dt{margin-top:.3rem}}
@media print{body{max-width:none;padding:0;font-size:11px}
.tools,nav.toc,.searchbar,.facetbar,.pager{display:none}
.scroll{overflow:visible;border:0}table.data th{position:static}
tr[hidden]{display:table-row!important}section{break-inside:auto}
h2{break-after:avoid}.refused{border-width:3px}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""

SCRIPT = r"""
(function(){
"use strict";
var PAGE = 100;
var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
var tables = Array.prototype.slice.call(document.querySelectorAll("table.data"));
var search = document.getElementById("search-all");
var facetBar = document.getElementById("facet");
var facet = null;
function cellText(row, i){
  var c = row.cells[i];
  if (!c){ return ""; }
  return (c.hasAttribute("data-v") ? c.getAttribute("data-v") : c.textContent).trim();
}
function rowsOf(table){ return Array.prototype.slice.call(table.tBodies[0].rows); }
function matches(row, table){
  var text = row.textContent.toLowerCase();
  var q = search ? search.value.trim().toLowerCase() : "";
  if (q && text.indexOf(q) < 0){ return false; }
  var local = table.getAttribute("data-filter") || "";
  if (local && text.indexOf(local) < 0){ return false; }
  if (facet){
    var v = row.getAttribute("data-" + facet.key);
    if (v === null || v.split(";").indexOf(facet.value) < 0){ return false; }
  }
  return true;
}
function render(table){
  var rows = rowsOf(table), matched = [];
  rows.forEach(function(r){ if (matches(r, table)){ matched.push(r); } r.hidden = true; });
  var pages = Math.max(1, Math.ceil(matched.length / PAGE));
  var page = Math.min(parseInt(table.getAttribute("data-page") || "0", 10), pages - 1);
  table.setAttribute("data-page", page);
  matched.slice(page * PAGE, (page + 1) * PAGE).forEach(function(r){ r.hidden = false; });
  table.setAttribute("data-matched", matched.length);
  var out = document.querySelector('.count[data-for="' + table.id + '"]');
  if (out){
    var unit = rows.length === 1 ? " row" : " rows";
    out.textContent = matched.length === rows.length ? rows.length.toLocaleString() + unit
      : matched.length.toLocaleString() + " of " + rows.length.toLocaleString() + " rows match";
  }
  var pager = document.querySelector('.pager[data-for="' + table.id + '"]');
  if (pager){
    pager.hidden = pages < 2;
    pager.querySelector(".page").textContent = "rows " + (matched.length ? page * PAGE + 1 : 0)
      + "\u2013" + Math.min((page + 1) * PAGE, matched.length) + " of " + matched.length
      + " (page " + (page + 1) + " of " + pages + ")";
    pager.querySelector(".prev").disabled = page === 0;
    pager.querySelector(".next").disabled = page >= pages - 1;
  }
}
function renderAll(){
  tables.forEach(render);
  if (facetBar){
    facetBar.hidden = !facet;
    if (facet){
      facetBar.querySelector(".what").textContent = facet.key + " " + facet.value;
      var n = 0;
      tables.forEach(function(t){ n += parseInt(t.getAttribute("data-matched") || "0", 10); });
      facetBar.querySelector(".n").textContent = n.toLocaleString();
    }
  }
  document.documentElement.setAttribute("data-filtered-by", facet ? facet.key + ":" + facet.value : "");
}
function sortTable(table, key, desc){
  var ths = table.tHead.rows[0].cells, idx = -1;
  for (var i = 0; i < ths.length; i++){
    if (ths[i].getAttribute("data-key") === key){ idx = i; }
    ths[i].setAttribute("aria-sort", "none");
  }
  if (idx < 0){ return false; }
  var numeric = ths[idx].classList.contains("num");
  var body = table.tBodies[0], rows = rowsOf(table);
  rows.forEach(function(r, n){ if (!r.hasAttribute("data-i")){ r.setAttribute("data-i", n); } });
  rows.sort(function(a, b){
    var x = cellText(a, idx), y = cellText(b, idx), r;
    if (x === "" || y === ""){ r = (x === "") - (y === ""); if (r){ return r; } }
    if (numeric && x !== "" && y !== ""){ r = parseFloat(x) - parseFloat(y); }
    else { r = collator.compare(x, y); }
    if (desc){ r = -r; }
    return r || (a.getAttribute("data-i") - b.getAttribute("data-i"));
  });
  rows.forEach(function(r){ body.appendChild(r); });
  ths[idx].setAttribute("aria-sort", desc ? "descending" : "ascending");
  table.setAttribute("data-sorted", (desc ? "-" : "") + key);
  render(table);
  return true;
}
function setFacet(spec){
  var at = spec.indexOf(":");
  var next = {key: spec.slice(0, at), value: spec.slice(at + 1)};
  facet = facet && facet.key === next.key && facet.value === next.value ? null : next;
  tables.forEach(function(t){ t.setAttribute("data-page", 0); });
  renderAll();
  if (facet){
    var first = tables.filter(function(t){ return t.getAttribute("data-matched") !== "0"; })[0];
    if (first){
      var d = first.closest("details"); if (d){ d.open = true; }
      first.closest("section").scrollIntoView();
    }
  }
}
function csvCell(v){
  if (/^[=+\-@\t\r]/.test(v)){ v = "'" + v; }
  return '"' + v.replace(/"/g, '""') + '"';
}
function download(table){
  var heads = Array.prototype.map.call(table.tHead.rows[0].cells,
                                       function(th){ return csvCell(th.textContent.trim()); });
  var lines = [heads.join(",")];
  rowsOf(table).forEach(function(r){
    if (!matches(r, table)){ return; }
    var cells = [];
    for (var i = 0; i < r.cells.length; i++){ cells.push(csvCell(cellText(r, i))); }
    lines.push(cells.join(","));
  });
  var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], {type: "text/csv"});
  var a = document.createElement("a");
  a.href = URL["createObjectURL"](blob);
  a.download = table.id + "-shown.csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
}
tables.forEach(function(table){
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function(th){
    function go(){
      sortTable(table, th.getAttribute("data-key"), th.getAttribute("aria-sort") === "ascending");
    }
    th.addEventListener("click", go);
    th.addEventListener("keydown", function(e){
      if (e.key === "Enter" || e.key === " "){ e.preventDefault(); go(); }
    });
  });
});
Array.prototype.forEach.call(document.querySelectorAll("input.filter"), function(input){
  var table = document.getElementById(input.getAttribute("data-table"));
  input.addEventListener("input", function(){
    table.setAttribute("data-filter", input.value.trim().toLowerCase());
    table.setAttribute("data-page", 0);
    render(table);
  });
});
if (search){
  search.addEventListener("input", function(){
    tables.forEach(function(t){ t.setAttribute("data-page", 0); });
    renderAll();
  });
}
Array.prototype.forEach.call(document.querySelectorAll(".pager"), function(pager){
  var table = document.getElementById(pager.getAttribute("data-for"));
  function move(by){
    table.setAttribute("data-page", parseInt(table.getAttribute("data-page") || "0", 10) + by);
    render(table);
  }
  pager.querySelector(".prev").addEventListener("click", function(){ move(-1); });
  pager.querySelector(".next").addEventListener("click", function(){ move(1); });
});
Array.prototype.forEach.call(document.querySelectorAll("button.dl"), function(button){
  button.addEventListener("click", function(){
    download(document.getElementById(button.getAttribute("data-table")));
  });
});
document.addEventListener("click", function(e){
  var el = e.target.closest ? e.target.closest("[data-facet]") : null;
  if (el){ setFacet(el.getAttribute("data-facet")); }
});
if (facetBar){
  facetBar.querySelector("button").addEventListener("click", function(){
    facet = null; renderAll();
  });
}
function fromHash(){
  var params = new URLSearchParams(location.hash.replace(/^#/, ""));
  params.getAll("sort").forEach(function(spec){
    var desc = spec.charAt(0) === "-", name = desc ? spec.slice(1) : spec;
    var dot = name.indexOf("."), only = dot > 0 ? name.slice(0, dot) : null;
    var key = dot > 0 ? name.slice(dot + 1) : name;
    tables.forEach(function(t){
      if (only === null || t.id === only){ sortTable(t, key, desc); }
    });
  });
  var q = params.get("q");
  if (q !== null && search){ search.value = q; }
  var f = params.get("facet");
  if (f){ facet = null; setFacet(f); }
  renderAll();
}
renderAll();
if (location.hash){ fromHash(); }
window.addEventListener("hashchange", fromHash);
document.documentElement.setAttribute("data-report", "ready");
})();
"""

SOURCE_COLUMNS = [_col("line"), _col("external_unique_id", "external id"), _col("name"),
                  _col("email"), _col("phone_number", "phone"),
                  _col("outbound_number", "outbound"), _col("reason")]
REMOTE_TABLE_COLUMNS = [_col("remote_id", "contact id"),
                        _col("external_unique_id", "external id"), _col("status"),
                        _col("name"), _col("email"), _col("phone_number", "phone"),
                        _col("outbound_number", "outbound"), _col("reason"),
                        _col("detail", "why (source line)")]


def _meta_value(meta: dict[str, Any], key: str, *, mono: bool = False,
                mask: Callable[[str], str] = lambda v: v) -> str:
    value = _text(meta.get(key)) if isinstance(meta, dict) else ""
    if value == "":
        return DASH
    text = escape(mask(value))
    return f'<span class="mono">{text}</span>' if mono else text


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
           refused: bool = False) -> str:
    labels = action_labels(outcomes, refused)

    def label(a: str) -> str:
        return labels[a]

    def group(title: str, actions: Iterable[str], numbers: dict[str, int], total: int,
              what: str) -> str:
        cells = [f'<h3>{escape(title)}: {total:,} {what}</h3><div class="cards">']
        for a in actions:
            cells.append(f'<div class="card" style="--c:{COLOURS[a]}" data-card="{a}" '
                         f'data-facet="action:{a}" title="click: show only these">'
                         f'<div class="k">{escape(a)}</div><div class="v">'
                         f'{int(numbers.get(a, 0)):,}</div>'
                         f'<div class="d">{escape(label(a))}</div></div>')
        cells.append("</div>")
        return "".join(cells)

    out = ""
    if outcomes is not None:
        totals = outcome_totals(outcomes)
        out += (f'<h3>Writes: {sum(totals.values()):,} planned</h3><div class="cards" '
                'id="outcome-cards">')
        for o in OUTCOMES:
            out += (f'<div class="card" style="--c:{OUTCOME_COLOURS[o]}" data-outcome="{o}" '
                    f'data-facet="outcome:{o}" title="click: show only these">'
                    f'<div class="k">{escape(o)}</div><div class="v">{totals[o]:,}</div>'
                    f'<div class="d">{escape(OUTCOME_LABELS[o])}</div></div>')
        out += "</div>"
    return (out + group("Source rows", SOURCE_ACTIONS, counts["source"],
                        counts["source_rows"], "rows")
            + group("Campaign contacts", REMOTE_ACTIONS, counts["remote"],
                    counts["remote_contacts"], "contacts"))


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _notes(plan: Plan, counts: dict[str, Any], mask: Callable[[str], str]) -> str:
    items = []
    conflicts = int(counts.get("conflicts") or 0)
    if conflicts:
        items.append(f"{_plural(conflicts, 'external id is', 'external ids are')} on more "
                     "than one campaign contact; none of those contacts is touched (see "
                     "Conflicts).")
    for status, n in (counts.get("unknown_statuses") or {}).items():
        items.append(f"Unknown status <code>{escape(mask(str(status)))}</code> on "
                     f"{_plural(int(n), 'contact', 'contacts')}: treated as not active.")
    outbound = int(counts.get("outbound_differences") or 0)
    if outbound:
        items.append(f"{_plural(outbound, 'contact has', 'contacts have')} another outbound "
                     "number in the campaign (not patchable; reported only).")
    for reason, n in (counts.get("deferred_reasons") or {}).items():
        items.append(f"Deferred: {_plural(int(n), 'source row', 'source rows')} because "
                     f"{escape(REASONS.get(reason, reason))} (<code>{escape(reason)}</code>).")
    if not items:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _legend() -> str:
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in REASONS.items())
    hints = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>"
                    for k, v in REASON_HINTS.items())
    return ('<details class="legend"><summary>What the reason codes mean</summary>'
            f"<h3>Plan reasons</h3><dl>{items}</dl>"
            + (f"<h3>Reject reasons (how to fix)</h3><dl>{hints}</dl>" if hints else "")
            + "</details>")


def _outcome_banner(totals: dict[str, int], verification: Any) -> str:
    """The first thing a reader of a run's report sees: did every write go through."""
    bad = [(o, totals[o]) for o in ("failed", "pending", "unconfirmed", "skipped") if totals[o]]
    checked = (f" {escape(str(verification)[:1].upper() + str(verification)[1:])}."
               if verification else "")
    if bad:
        said = ", ".join(f"{n:,} {o}" for o, n in bad)
        return (f'<div class="refused" role="alert" id="outcome-banner"><strong>Not every '
                f"write went through:</strong> {escape(said)} (of {sum(totals.values()):,}"
                f"); see the first table below and errors.csv.{checked}</div>")
    return (f'<div class="ok" role="status" id="outcome-banner"><strong>Every write was '
            f"done:</strong> {totals['done']:,}.{checked}</div>")


def _problem_table(rows: pd.DataFrame, remote: pd.DataFrame, common: dict[str, Any]) -> str:
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
    return _table("problems", "Writes that did not go through", table,
                  [_col("outcome"), _col("action"), _col("line"),
                   _col("external_unique_id", "external id"), _col("remote_id", "contact id"),
                   _col("error", "platform's message"), _col("what_to_do", "what to do")],
                  csv_name="errors.csv", **common,
                  intro="Failed first, then pending, unconfirmed and not sent. Each is also "
                        "in errors.csv with the source row's columns.")


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
    title = f"{kind} \u2014 campaign {campaign}" if campaign else kind
    script_hash = hashlib.sha256(SCRIPT.encode("utf-8")).digest()
    csp = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
           f"script-src 'sha256-{base64.b64encode(script_hash).decode()}'; "
           "form-action 'none'; base-uri 'none'")

    parts: list[str] = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(csp, quote=False)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{escape(title)}</h1>",
    ]
    if plan.refused is not None:
        reason = text_mask(str(plan.refused)).rstrip().rstrip(".")
        parts.append(f'<div class="refused" role="alert"><strong>Refused:</strong> '
                     f"{escape(reason)}; nothing was sent</div>")
    if outcomes is not None:
        parts.append(_outcome_banner(outcome_totals(outcomes), (outcome or {}).get(
            "verification")))
    parts.append('<dl class="meta">')
    parts.append(f"<dt>Source file</dt><dd>{_meta_value(meta, 'source', mono=True)}</dd>")
    parts.append(f"<dt>Source sha256</dt><dd>{_meta_value(meta, 'source_sha256', mono=True)}"
                 "</dd>")
    parts.append(f"<dt>Mapping</dt><dd>{_meta_value(meta, 'mapping')}</dd>")
    parts.append(f"<dt>Campaign id</dt><dd>{_meta_value(meta, 'campaign_id')}</dd>")
    parts.append(f"<dt>Mode</dt><dd>{escape(_text(plan.mode) or DASH)}</dd>")
    opts = plan.options
    limits = (f"mirror deletes at most {opts.max_delete_fraction:.0%} of the managed "
              f"contacts" + (" (--force: beyond it too)" if opts.force else "")
              + f"; rejected rows: {_text(meta.get('reject_policy')) or 'any exits 3'}")
    parts.append(f"<dt>Limits in force</dt><dd id=\"limits\">{escape(limits)}</dd>")
    parts.append(f"<dt>Time of the run</dt><dd>{_meta_value(meta, 'created_at')}</dd>")
    parts.append(f"<dt>Command</dt><dd>{_meta_value(meta, 'command', mono=True, mask=text_mask)}"
                 "</dd>")
    if mask_pii:
        parts.append("<dt>Personal data</dt><dd>phone numbers and email addresses are "
                     "masked</dd>")
    parts.append("</dl></header>")

    action = rows["action"] if "action" in rows.columns else pd.Series([], dtype=object)
    r_action = remote["action"] if "action" in remote.columns else pd.Series([], dtype=object)
    sizes = {"problems": None, "deletes": int(r_action.eq("deleted").sum()),
             "updates": int(action.eq("update").sum()), "adds": int(action.eq("add").sum()),
             "deferred-rows": int(action.eq("deferred").sum()),
             "deferred-contacts": int(r_action.eq("deferred").sum()),
             "unmanaged": int(r_action.eq("unmanaged").sum()),
             "conflicts": int(len(plan.conflicts)), "notes": int(len(plan.notes)),
             "rejects": int(len(plan.rejects))}
    names = {"problems": "Not done", "deletes": "Deletes", "updates": "Updates",
             "adds": "Adds", "deferred-rows": "Deferred rows",
             "deferred-contacts": "Deferred contacts", "unmanaged": "Unmanaged",
             "conflicts": "Conflicts", "notes": "Notes", "rejects": "Rejects"}
    parts.append('<nav class="toc" aria-label="Sections">'
                 + "".join(f'<a href="#sec-{i}">{escape(names[i])}'
                           + (f" ({n:,})" if n is not None else "") + "</a>"
                           for i, n in sizes.items() if i != "problems" or outcomes is not None)
                 + "</nav>")
    parts.append('<div class="searchbar"><label>Search every table <input type="search" '
                 'id="search-all" placeholder="a name, a key, a phone, a reason..."></label>'
                 ' <span class="hint">Click a card, a bar or a reason to show only its rows; '
                 'each table pages 100 rows at a time, folds at its heading and downloads '
                 'what it shows.</span></div>')
    parts.append('<div id="facet" class="facetbar" role="status" hidden>Showing only rows '
                 'with <strong class="what"></strong>: <span class="n"></span> rows. '
                 '<button type="button">Show all rows</button></div>')

    parts.append('<section id="summary"><h2>Summary</h2>')
    parts.append(_cards(counts, outcomes, refused=plan.refused is not None))
    parts.append(_notes(plan, counts, text_mask))
    parts.append('<div class="charts">')
    if outcomes is not None:
        parts.append(_bar_chart("Outcome of the writes", [
            (k, [(o, int(outcomes[k].get(o, 0)), OUTCOME_COLOURS[o], OUTCOME_LABELS[o])
                 for o in OUTCOMES]) for k in ("delete", "update", "add") if k in outcomes],
            facet_key="outcome"))
    labels = action_labels(outcomes, plan.refused is not None)
    parts.append(_bar_chart("Actions", [
        ("Source rows", [(a, int(counts["source"].get(a, 0)), COLOURS[a],
                          labels[a]) for a in SOURCE_ACTIONS]),
        ("Campaign contacts", [(a, int(counts["remote"].get(a, 0)), COLOURS[a],
                                labels[a]) for a in REMOTE_ACTIONS]),
    ], facet_key="action"))
    reject_reasons = counts.get("reject_reasons") or {}
    if reject_reasons:
        parts.append(_bar_chart("Rejected rows per reason", [
            ("", [(r, int(n), REJECT_COLOUR, REASON_HINTS.get(r, "")) for r, n in
                  reject_reasons.items()])], facet_key="reason"))
    else:
        parts.append('<figure class="chart"><p class="empty">No rejected rows.</p>'
                     "<figcaption>Rejected rows per reason</figcaption></figure>")
    parts.append("</div>")
    parts.append(_legend())
    parts.append("</section>")

    common = {"max_rows": max_rows, "mask_pii": mask_pii, "region": plan.options.region}
    wrote = [_col("outcome"), _col("error")] if outcomes is not None else []
    if outcomes is not None:
        parts.append(_problem_table(rows, remote, common))
    parts.append(_table("deletes", "Deletes", remote[r_action.eq("deleted")],
                        [*REMOTE_TABLE_COLUMNS, *wrote], csv_name="actions.csv", **common,
                        intro="Campaign contacts the run deleted (see the outcome column)."
                        if outcomes is not None else "Campaign contacts that will be "
                                                     "deleted."))
    parts.append(_table(
        "updates", "Updates", rows[action.eq("update")],
        [_col("line"), _col("external_unique_id", "external id"),
         _col("remote_id", "contact id"), _col("changed", "changed fields"), _col("name"),
         _col("email"), _col("phone_number", "phone"), _col("outbound_number", "outbound"),
         *wrote],
        csv_name="actions.csv", cell=_update_cell(mask_pii), **common,
        intro=f"Changed fields are highlighted and shown as before {ARROW} after."))
    parts.append(_table("adds", "Adds", rows[action.eq("add")], [*SOURCE_COLUMNS, *wrote],
                        csv_name="actions.csv", **common,
                        intro="Source rows that were not in the campaign; the outcome "
                              "column says what happened to each." if outcomes is not None
                        else "Source rows that are not in the campaign; they will be "
                             "added."))
    parts.append(_table("deferred-rows", "Deferred source rows", rows[action.eq("deferred")],
                        [*SOURCE_COLUMNS, _col("remote_id", "contact id"), _col("detail")],
                        csv_name="actions.csv", **common,
                        intro="Left as they are this time; a later run picks them up."))
    parts.append(_table("deferred-contacts", "Deferred campaign contacts",
                        remote[r_action.eq("deferred")], REMOTE_TABLE_COLUMNS,
                        csv_name="actions.csv", **common))
    parts.append(_table("unmanaged", "Unmanaged campaign contacts",
                        remote[r_action.eq("unmanaged")], REMOTE_TABLE_COLUMNS,
                        csv_name="actions.csv", **common,
                        intro="Contacts the sync never touches (for example added by hand, "
                              "without an external id)."))
    parts.append(_table("conflicts", "Conflicts", plan.conflicts,
                        [_col("external_unique_id", "external id"),
                         _col("remote_id", "contact id"), _col("status"), _col("name"),
                         _col("email"), _col("phone_number", "phone"),
                         _col("outbound_number", "outbound")],
                        csv_name="actions.csv", **common,
                        intro="Campaign contacts that share an external id; fix them in "
                              "the platform."))
    parts.append(_table("notes", "Notes on rows", plan.notes,
                        [_col("line"), _col("field"), _col("value"), _col("note")],
                        csv_name="actions.csv", cell=_reject_cell(mask_pii), **common,
                        intro="What was changed in valid rows on the way (an extension "
                              "dropped, a later phone column used, a country not known)."))
    parts.append(_table("rejects", "Rejects", plan.rejects,
                        [_col("line"), _col("key", "external id"), _col("name"),
                         _col("email"), _col("field"), _col("value"), _col("reason"),
                         _col("hint")],
                        csv_name="rejects.csv", cell=_reject_cell(mask_pii), **common,
                        facet_action="rejected",
                        intro="Problems found in the source; these rows are not sent."))
    parts.append(f"<footer>{counts['source_rows']:,} source rows, "
                 f"{counts['remote_contacts']:,} campaign contacts. This page is "
                 "self-contained and loads nothing from the network.</footer>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "".join(parts)
