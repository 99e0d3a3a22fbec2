"""report.html: static checks on the page, and a real headless Chromium that loads the
file, runs its script and dumps the DOM (escaping, script count, sorting, filtering)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from connector.plan import Plan, PlanOptions, build_plan, remote_frame
from connector.report import masked_plan, write_report
from connector.report.html import render_html
from connector.validate.schema import normalize_contacts

INJECTED = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def example_plan():
    src = pd.DataFrame({
        "external_unique_id": ["a", "b", "c", "d", ""],
        "name": ["Ann", "Bob B", INJECTED, "Di", "X"],
        "email": ["", "bob@x.org", "", "", ""],
        "phone_number": ["2014716992", "2014716993", "2014716994", "2014716995",
                         "2014716900"],
        "outbound_number": [""] * 5, "__line__": range(2, 7)})
    v = normalize_contacts(src, region="US")
    remote = remote_frame([
        {"id": 1, "external_unique_id": "a", "name": "Ann",
         "phone_number": "+1-(201)-471-6992", "status": "Upcoming"},
        {"id": 2, "external_unique_id": "b", "name": "Bob", "phone_number": "+12014716993",
         "status": "Finished"},
        {"id": 4, "external_unique_id": "zz", "name": "Old", "phone_number": "+12014716980",
         "status": "Upcoming"},
        {"id": 5, "external_unique_id": "", "name": "Manual", "phone_number": "+12014716997",
         "status": "Upcoming"}])
    return build_plan(v.valid, v.rejects, remote,
                      PlanOptions(mode="mirror", region="US", force=True),
                      meta={"source": "x.csv", "campaign_id": 6})


NAMES = ["Mia", "ann", "Zoe", "Bea", "Kai", "Eve", "Lou", "Cy", "Dan", "Ida", "Jo"]


def adds_plan(rejected: int = 0):
    """11 adds (lines 2..12) with names out of order, plus `rejected` rows without a key."""
    n = len(NAMES)
    src = pd.DataFrame({
        "external_unique_id": [f"k{i}" for i in range(n)] + [""] * rejected,
        "name": NAMES + [f"R{i}" for i in range(rejected)],
        "email": [f"{x.lower()}@example.com" for x in NAMES] + [""] * rejected,
        "phone_number": [f"20147170{i:02d}" for i in range(n + rejected)],
        "outbound_number": [""] * (n + rejected), "__line__": range(2, 2 + n + rejected)})
    v = normalize_contacts(src, region="US")
    return build_plan(v.valid, v.rejects, remote_frame([]),
                      PlanOptions(mode="upsert", region="US", force=True),
                      meta={"source": "people.csv", "campaign_id": 9,
                            "created_at": "2026-12-02T12:00:00Z"})


def raw_personal_values(plan) -> set[str]:
    values: set[str] = set()
    for frame, cols in ((plan.rows, ("email", "phone_number", "before_email",
                                     "before_phone_number")),
                        (plan.remote, ("email", "phone_number"))):
        for col in cols:
            values.update(str(v) for v in frame[col] if isinstance(v, str) and v)
    values.update(re.sub(r"\D", "", v)[-10:] for v in list(values) if "@" not in v)
    return values


# ---------------------------------------------------------------- static checks
def test_nothing_is_fetched_from_anywhere():
    page = render_html(example_plan())
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"url\(", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "@import" not in page and "@font-face" not in page
    assert "default-src 'none'" in page  # the CSP lets only the page's own script run
    assert page.count("<script") == 1 and page.count("</script>") == 1


def test_every_value_is_escaped():
    page = render_html(example_plan())
    assert ESCAPED in page
    assert INJECTED not in page


def test_header_meta_and_missing_values_show_a_dash():
    page = render_html(example_plan())
    assert "x.csv" in page and "mirror" in page and "campaign 6" in page
    assert re.search(r"<dt>Source sha256</dt><dd>\u2014</dd>", page)
    assert re.search(r"<dt>Mapping</dt><dd>\u2014</dd>", page)
    assert "Refused" not in page
    full = dataclasses.replace(example_plan(), meta={
        "source": "crm/export.csv", "source_sha256": "ab" * 32, "mapping": "hubspot",
        "campaign_id": 6, "created_at": "2026-12-02T12:00:00Z",
        "command": "campaign-sync plan crm/export.csv --campaign 6"})
    page = render_html(full)
    for text in ("crm/export.csv", "ab" * 32, "hubspot", "2026-12-02T12:00:00Z",
                 "campaign-sync plan"):
        assert text in page


def test_refused_is_a_red_banner():
    plan = dataclasses.replace(example_plan(), refused="would delete 3 of 4 contacts (75%) <b>")
    page = render_html(plan)
    assert ('<div class="refused" role="alert"><strong>Refused:</strong> would delete 3 of 4 '
            "contacts (75%) &lt;b&gt;; nothing was sent</div>") in page


def test_cards_charts_and_reason_tooltips():
    page = render_html(example_plan())
    for action in ("add", "update", "unchanged", "deferred", "rejected", "kept", "updated",
                   "deleted", "unmanaged"):
        assert f'<div class="k">{action}</div>' in page
    assert page.count("<svg") == 2
    assert re.search(r'class="lbl">missing_key</text><rect [^>]*></rect><text [^>]*>1</text>',
                     page)
    assert re.search(r'class="lbl">add</text><rect [^>]*></rect><text [^>]*>2</text>', page)
    assert ('data-facet="reason:not_in_source" title="not in the source: deleted (mirror) '
            '(click: show only these)">not_in_source</abbr>') in page


def test_updates_show_before_and_after_of_changed_fields():
    page = render_html(example_plan())
    updates = page.split('id="updates"', 1)[1].split("</table>", 1)[0]
    assert "<del>Bob</del>" in updates and "<ins>Bob B</ins>" in updates
    assert '<span class="blank">(empty)</span>' in updates and "<ins>bob@x.org</ins>" in updates
    assert updates.count('class="chg"') == 2  # name and email; the phone is unchanged
    assert "<td>+12014716993</td>" in updates


def test_an_outbound_number_that_differs_is_reported_not_patched():
    plan = example_plan()
    rows = plan.rows.copy()
    rows.loc[rows["action"].eq("update"), "outbound_number"] = "+17608675309"
    rows.loc[rows["action"].eq("update"), "before_outbound_number"] = "+17608675300"
    page = render_html(dataclasses.replace(plan, rows=rows))
    updates = page.split('id="updates"', 1)[1].split("</table>", 1)[0]
    assert '<td class="odiff" data-v="+17608675309"' in updates
    assert "(campaign: +17608675300, not patched)" in updates
    assert updates.count('class="chg"') == 2


def test_mask_pii_leaves_no_raw_phone_or_email():
    plan = example_plan()
    page = render_html(plan, mask_pii=True)
    raw = raw_personal_values(plan)
    assert "bob@x.org" in raw and "+1-(201)-471-6992" in raw and "2014716992" in raw
    for value in raw:
        assert value not in page, value
    assert "+1******6993" in page and "b***@x.org" in page
    assert ESCAPED in page


def test_mask_pii_of_an_already_masked_plan_keeps_the_stars():
    plan = example_plan()
    page = render_html(masked_plan(plan), mask_pii=True)
    assert "+1******6993" in page and "+16993" not in page
    assert "b***@x.org" in page


def test_mask_pii_masks_free_text_and_rejected_values():
    plan = adds_plan(rejected=1)
    rejects = pd.DataFrame([{"line": 40, "key": "kx", "field": "email", "value": "eve@@x.org",
                             "reason": "invalid_email", "hint": "call +1 201 471 7099"},
                            {"line": 41, "key": "ky", "field": "phone_number",
                             "value": "2014717098 ext", "reason": "invalid_phone",
                             "hint": "or write to ann@example.com"}])
    plan = dataclasses.replace(plan, rejects=rejects)
    page = render_html(plan, mask_pii=True)
    for raw in ("eve@@x.org", "+1 201 471 7099", "2014717098", "ann@example.com"):
        assert raw not in page, raw
    assert "invalid_email" in page and "a***@example.com" in page


def deferred_plan():
    """A contact being dialed, a key on two campaign contacts, one without an id."""
    src = pd.DataFrame({"external_unique_id": ["a", "b", "c"], "name": ["Ann2", "Bob", "Cy"],
                        "email": [""] * 3,
                        "phone_number": ["2014716992", "2014716993", "2014716994"],
                        "outbound_number": [""] * 3, "__line__": range(2, 5)})
    v = normalize_contacts(src, region="US")
    remote = remote_frame([
        {"id": 1, "external_unique_id": "a", "name": "Ann", "phone_number": "+12014716992",
         "status": "Dialing"},
        {"id": 2, "external_unique_id": "b", "name": "Bob", "phone_number": "+12014716993",
         "status": "Weird"},
        {"id": 3, "external_unique_id": "b", "name": "Bob2", "phone_number": "+12014716983",
         "status": "Upcoming"},
        {"id": None, "external_unique_id": "q", "name": "NoId",
         "phone_number": "+12014716981", "status": "Upcoming"}])
    return build_plan(v.valid, v.rejects, remote, PlanOptions(mode="mirror", region="US"),
                      meta={"source": "x.csv", "campaign_id": 6})


def test_deferred_conflicts_and_notes():
    page = render_html(deferred_plan())
    rows = page.split('id="deferred-rows"', 1)[1].split("</table>", 1)[0]
    assert "active_status" in rows and "status Dialing" in rows and "remote_conflict" in rows
    contacts = page.split('id="deferred-contacts"', 1)[1].split("</table>", 1)[0]
    assert "NoId" in contacts and "no_remote_id" in contacts
    conflicts = page.split('id="conflicts"', 1)[1].split("</table>", 1)[0]
    assert "Bob2" in conflicts and conflicts.count("<tr") == 3
    assert "1 external id is on more than one campaign contact" in page
    assert "Unknown status <code>Weird</code> on 1 contact: treated as not active." in page
    assert "Deferred: 1 source row because the contact is being dialed" in page
    assert '<p class="empty">None.</p>' in page  # no updates, deletes, rejects


def test_a_plan_read_back_from_json_gives_the_same_page():
    for plan in (example_plan(), deferred_plan(), adds_plan(rejected=2)):
        assert render_html(Plan.from_json(plan.to_json())) == render_html(plan)


def test_more_rows_than_max_rows_are_cut_with_a_message():
    plan = adds_plan(rejected=3)
    page = render_html(plan, max_rows=2)
    assert "showing 2 of 11; all are in actions.csv" in page
    assert "showing 2 of 3; all are in rejects.csv" in page
    adds = page.split('id="adds"', 1)[1].split("</table>", 1)[0]
    assert adds.count("<tr") == 3  # header and two rows
    big = render_html(plan, max_rows=2000)
    assert "showing" not in big


def test_write_report_writes_the_page(tmp_path):
    files = write_report(example_plan(), tmp_path / "rep", mask_pii=True)
    assert files.report_html is not None
    page = files.report_html.read_text(encoding="utf-8")
    assert ESCAPED in page and "b***@x.org" in page and "bob@x.org" not in page


# ---------------------------------------------------------------- headless Chromium
def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    path = _find_chromium()
    if path is None:  # try the Makefile's installer (root only), then give up
        root = Path(__file__).resolve().parents[2]
        if shutil.which("make") and (root / "Makefile").exists():
            subprocess.run(["make", "-s", "chromium"], cwd=root, check=False, timeout=900,
                           capture_output=True)
        path = _find_chromium()
    if path is None:
        pytest.skip("no chromium binary and it could not be installed")
    return path


class Dom(HTMLParser):
    """Tables of a dumped DOM: id -> header keys and rows of (hidden, cell texts)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, dict] = {}
        self.scripts = 0
        self.root_attrs: dict[str, str | None] = {}
        self._table: dict | None = None
        self._row: list[str] | None = None
        self._hidden = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.root_attrs = a
        elif tag == "script":
            self.scripts += 1
        elif tag == "table" and a.get("id"):
            self._table = self.tables[a["id"]] = {"keys": [], "rows": [], "attrs": a}
        elif tag == "th" and self._table is not None:
            self._table["keys"].append((a.get("data-key"), a.get("aria-sort")))
        elif tag == "tr" and self._table is not None:
            self._row, self._hidden = [], "hidden" in a
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            if self._row:
                self._table["rows"].append((self._hidden, self._row))
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def column(self, table: str, key: str, *, visible_only: bool = False) -> list[str]:
        t = self.tables[table]
        i = [k for k, _ in t["keys"]].index(key)
        return [cells[i] for hidden, cells in t["rows"] if not (visible_only and hidden)]


def dump_dom(chromium: str, page: Path, fragment: str = "") -> tuple[Dom, str]:
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    profile = page.parent / f"profile-{time.monotonic_ns()}"
    done = subprocess.run(
        [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         "--disable-extensions", "--disable-background-networking",
         f"--user-data-dir={profile}", "--virtual-time-budget=2000", "--dump-dom", url],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Dom()
    dom.feed(done.stdout)
    assert dom.tables, done.stdout[:2000]
    return dom, done.stdout


def test_chromium_shows_injected_markup_as_text_and_runs_only_its_own_script(
        chromium, tmp_path):
    page = tmp_path / "report.html"
    html = render_html(example_plan())
    page.write_text(html, encoding="utf-8")
    dom, text = dump_dom(chromium, page)
    # the page's script ran to its end (it marks the root element last)
    assert dom.root_attrs.get("data-report") == "ready"
    # one script element, as in the page: the injected name did not become one
    assert dom.scripts == html.count("<script") == 1
    assert ESCAPED in text
    for table in ("adds", "updates", "deletes", "unmanaged", "rejects"):
        assert table in dom.tables
    assert INJECTED in dom.column("adds", "name")  # shown as text in its cell
    assert dom.column("updates", "name") == ["Bob \u2192 Bob B"]
    assert dom.column("rejects", "reason") == ["missing_key"]
    assert dom.column("deletes", "remote_id") == ["4"]
    assert dom.column("unmanaged", "name") == ["Manual"]


def test_chromium_sorts_and_filters_from_the_url_fragment(chromium, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render_html(adds_plan()), encoding="utf-8")

    dom, _ = dump_dom(chromium, page)
    assert dom.column("adds", "name") == NAMES  # source order without a fragment

    dom, _ = dump_dom(chromium, page, "sort=adds.name")
    assert dom.column("adds", "name") == sorted(NAMES, key=str.lower)
    assert dict(dom.tables["adds"]["keys"])["name"] == "ascending"

    # numbers sort as numbers (12 before 9), descending with "-"
    dom, _ = dump_dom(chromium, page, "sort=-adds.line")
    assert dom.column("adds", "line") == [str(n) for n in range(12, 1, -1)]
    assert dict(dom.tables["adds"]["keys"])["line"] == "descending"

    dom, _ = dump_dom(chromium, page, "sort=-name&q=I")
    visible = dom.column("adds", "name", visible_only=True)
    assert visible == sorted([n for n in NAMES if "i" in n.lower()], key=str.lower,
                             reverse=True)
    assert len(dom.column("adds", "name")) == len(NAMES)  # the others are only hidden


def test_chromium_runs_no_script_but_the_pages_own_even_if_one_slipped_in(chromium, tmp_path):
    """Defence in depth: the page's Content-Security-Policy admits its own script by hash,
    so markup that escaped escaping could still not run."""
    html = render_html(example_plan())
    planted = html.replace(
        "<footer>", '<script>document.documentElement.setAttribute("data-planted", "ran")'
                    '</script><img src="x" onerror="document.title=\'planted\'"><footer>', 1)
    page = tmp_path / "report.html"
    page.write_text(planted, encoding="utf-8")
    dom, text = dump_dom(chromium, page)
    assert dom.root_attrs.get("data-report") == "ready"  # the page's own script ran
    assert "data-planted" not in dom.root_attrs
    assert "<title>planted</title>" not in text


def test_chromium_screenshot_and_rendered_text_hold_the_summary_counts(chromium, tmp_path):
    """The page as a steward sees it: rendered to a PNG by Chromium, and its rendered
    text (after the script ran) holds every summary count of the plan."""
    plan = adds_plan(rejected=3)
    files = write_report(plan, tmp_path / "report")
    shot = tmp_path / "report.png"
    profile = tmp_path / "profile-shot"
    done = subprocess.run(
        [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         f"--user-data-dir={profile}", "--hide-scrollbars", "--window-size=1280,1600",
         f"--screenshot={shot}", files.report_html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real, non-blank page
    dom, html = dump_dom(chromium, files.report_html)
    cards = re.findall(r'<div class="k">([^<]+)</div><div class="v">([0-9,]+)</div>', html)
    counts = plan.counts()
    assert counts["source"]["add"] == 11 and counts["source"]["rejected"] == 3
    expected = [(a, f"{n:,}") for a, n in counts["source"].items()] + [
        (a, f"{n:,}") for a, n in counts["remote"].items()]
    assert cards == expected
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert f"Source rows: {counts['source_rows']:,} rows" in text


def test_a_refused_plans_cards_say_would_be_and_a_runs_cards_say_what_happened():
    plan = example_plan()
    plan.refused = "mirror would delete 1 of 2 managed contacts"
    page = render_html(plan)
    assert "would be deleted (refused: nothing sent)" in page
    assert "will be deleted" not in page.split('id="summary"')[1].split("</section>")[0]
