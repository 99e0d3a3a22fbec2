"""The review in a plan's report.html: each write listed has a box (checked: send it)
and a comment box; "uncheck / check all shown" act on every row the search, the
filters and a facet leave (every page of a table); a live count says what will be
sent; decisions.csv is made in the page. Clicked in a real headless Chromium through
WebDriver (as test_report_browser.py), and the downloaded file applied with
`campaign-sync apply --decisions` against the sandbox: exactly the approved writes go
out."""

from __future__ import annotations

import csv
import dataclasses
import re
import time
from pathlib import Path

import pandas as pd
from cli_helpers import MAPPING, campaign, env_for, run

from connector.plan import PlanOptions, build_plan, remote_frame
from connector.report.html import render_html
from connector.validate.schema import normalize_contacts

WRITES = ("add", "import", "patch", "delete")
CONTACTS, KEPT = 300, 160          # the source keeps k0..k159: 140 deletes
MOVED = range(1, 7)                # k1..k6 renamed; k7 gets another email: 7 updates
ADDS = ["new0", "new1", "new2", "+4471"]   # "+4471" starts like a spreadsheet formula


def name_of(i: int) -> str:
    """Every fourth contact is North, the others South: a word to filter by."""
    return f"North {i}" if i % 4 == 0 else f"South {i}"


def phone_of(i: int) -> str:
    return f"+1201{4700000 + i}"


def seed(sandbox, tmp: Path) -> dict[str, tuple[str, str, str]]:
    """Campaign 6 holds k0..k299; the source (tmp/s.csv) keeps k0..k159, renames
    k1..k6, gives k7 another email and adds four keys. Returns the campaign as it is:
    key -> (name, email, phone)."""
    sandbox.seed(6, [{"external_unique_id": f"k{i}", "name": name_of(i),
                      "email": f"n{i}@example.com", "phone_number": phone_of(i)}
                     for i in range(CONTACTS)])
    (tmp / "m.yaml").write_text(MAPPING, encoding="utf-8")
    lines = ["id,name,email,phone"]
    for i in range(KEPT):
        name = f"Moved {i}" if i in MOVED else name_of(i)
        email = "m7@example.org" if i == 7 else f"n{i}@example.com"
        lines.append(f"k{i},{name},{email},{phone_of(i)}")
    for j, key in enumerate(ADDS):
        lines.append(f"{key},New {j},new{j}@example.org,+1201{4800000 + j}")
    (tmp / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {f"k{i}": (name_of(i), f"n{i}@example.com", phone_of(i)) for i in range(CONTACTS)}






# ---------------------------------------------------------------- the browser
def load(driver, url: str) -> None:
    driver.get(url)
    for _ in range(100):
        if driver.execute_script("return document.documentElement.getAttribute('data-report')")\
                == "ready":
            return
        time.sleep(0.05)
    raise AssertionError("the page's script did not finish")


def click(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def counter(driver) -> str:
    return driver.find_element("css selector", "#review-bar .sent").text


def unchecked(driver, table: str) -> list[str]:
    """The keys of the writes of `table` left unchecked, on every page."""
    return driver.execute_script(
        f"return Array.from(document.querySelectorAll('#{table} tr[data-write]'))"
        ".filter(r => !r.querySelector('td.rv input[type=checkbox]').checked)"
        ".map(r => r.getAttribute('data-write-key'));")


def row_of(driver, table: str, key: str):
    return driver.execute_script(
        f"return Array.from(document.querySelectorAll('#{table} tr[data-write]'))"
        ".filter(r => r.getAttribute('data-write-key') === arguments[0])[0];", key)


def download(driver, name: str = "decisions.csv") -> Path:
    target = driver.downloads / name
    for old in driver.downloads.iterdir():
        old.unlink()
    click(driver, driver.find_element("id", "review-download"))
    for _ in range(200):
        if target.exists() and target.stat().st_size and not any(
                p.suffix == ".crdownload" for p in driver.downloads.iterdir()):
            return target
        time.sleep(0.05)
    raise AssertionError(f"no {name} in {driver.downloads}: "
                         f"{[p.name for p in driver.downloads.iterdir()]}")


# ---------------------------------------------------------------- the steward's review
def test_a_review_in_the_page_sends_exactly_the_approved_writes(browser, sandbox, tmp_path):
    from selenium.webdriver.common.by import By

    before = seed(sandbox, tmp_path)
    env = env_for(sandbox)
    report, state = tmp_path / "planned", tmp_path / "state.db"
    planned = run(env, "plan", tmp_path / "s.csv", "--campaign-id", 6, "-m",
                      tmp_path / "m.yaml", "--mode", "mirror", "--max-delete-fraction", "0.5",
                      "--report", report, "--state", state)
    assert planned.exit_code == 0, planned.output
    deletes = [f"k{i}" for i in range(KEPT, CONTACTS)]
    south = [k for k in deletes if name_of(int(k[1:])).startswith("South")]
    assert (len(deletes), len(south)) == (140, 105)   # 105 South: more than a page of 100

    load(browser, (report / "report.html").resolve().as_uri())
    assert counter(browser) == "151 of 151 writes will be sent: 4 adds, 7 updates, 140 deletes"
    assert not browser.find_elements(By.ID, "review-unlisted")   # every write is listed

    # only the deletes (a card), and of them the South ones (the search): 105, two pages
    click(browser, browser.find_element(By.CSS_SELECTOR, '.card[data-facet="action:deleted"]'))
    browser.find_element(By.ID, "search-all").send_keys("South")
    shown = browser.find_element(By.CSS_SELECTOR, "#review-bar .shown")
    assert shown.text == "(105 writes shown)"
    assert "page 1 of 2" in browser.find_element(By.CSS_SELECTOR,
                                                 '.pager[data-for="deletes"]').text
    click(browser, browser.find_element(By.ID, "review-uncheck"))
    assert sorted(unchecked(browser, "deletes")) == sorted(south)   # the second page's too
    assert unchecked(browser, "updates") == [] and unchecked(browser, "adds") == []
    assert counter(browser) == "46 of 151 writes will be sent: 4 adds, 7 updates, 35 deletes"

    # every row again; the deletes table's own filter and its "check shown rows" take
    # back South 290..299 (8 of them: 292 and 296 are North)
    click(browser, browser.find_element(By.CSS_SELECTOR, "#facet button"))
    browser.find_element(By.ID, "search-all").clear()
    browser.execute_script("document.getElementById('search-all')"
                           ".dispatchEvent(new Event('input'))")
    box = browser.find_element(By.CSS_SELECTOR, 'input.filter[data-table="deletes"]')
    click(browser, box)
    box.send_keys("South 29")
    assert browser.find_element(By.CSS_SELECTOR, "#review-bar .shown").text \
        == "(19 writes shown)"                                   # 8 deletes, 7 updates, 4 adds
    click(browser, browser.find_element(
        By.CSS_SELECTOR, 'button.rv-set[data-table="deletes"][data-send="yes"]'))
    again = [f"k{i}" for i in range(290, 300) if i % 4]
    refused_deletes = sorted(set(south) - set(again))
    assert sorted(unchecked(browser, "deletes")) == refused_deletes
    assert browser.find_element(By.CSS_SELECTOR, '.rv-count[data-for="deletes"]').text \
        == "43 of 140 will be sent"

    # two more single rows: an update and the add whose key looks like a formula, each
    # with a comment; and a comment on a refused delete
    comments = {("update", "k1"): 'moved, ask "sales"', ("add", "+4471"): '=HYPERLINK("x")',
                ("delete", "k161"): "still a customer"}
    for (action, key), text in comments.items():
        row = row_of(browser, {"update": "updates", "add": "adds", "delete": "deletes"}[action],
                     key)
        if action != "delete":   # a comment box opens when the write is unchecked
            assert not row.find_elements(By.CSS_SELECTOR, "td.rv input.rv-note")
            click(browser, row.find_element(By.CSS_SELECTOR, "td.rv input[type=checkbox]"))
        else:   # on the filtered-out first page: shown again to type in it
            box.clear()
            box.send_keys("South 161")
        note = row.find_element(By.CSS_SELECTOR, "td.rv input.rv-note")
        click(browser, note)
        note.send_keys(text)
        assert "off" in row.get_attribute("class")
    assert counter(browser) == "52 of 151 writes will be sent: 3 adds, 6 updates, 43 deletes"

    decided = download(browser)
    raw = decided.read_text(encoding="utf-8-sig")
    assert raw.splitlines()[0] == "key,action,decision,comment"
    lines = list(csv.DictReader(raw.splitlines()))
    assert len(lines) == 151
    got = {(r["action"], r["key"]): (r["decision"], r["comment"]) for r in lines}
    # a key or comment a spreadsheet would run as a formula is neutralized as the
    # page's other downloads do; apply reads the key back
    assert got[("add", "'+4471")] == ("reject", "'=HYPERLINK(\"x\")")
    assert got[("update", "k1")] == ("reject", 'moved, ask "sales"')
    assert got[("delete", "k161")] == ("reject", "still a customer")
    rejected = {k for k, (decision, _) in got.items() if decision == "reject"}
    assert rejected == {("delete", k) for k in refused_deletes} | {("update", "k1"),
                                                                    ("add", "'+4471")}
    assert {d for d, _ in got.values()} == {"approve", "reject"}

    sandbox.reset_counts()
    applied = run(env, "apply", report / "plan.json", "--decisions", decided,
                      "--state", state, "--report", tmp_path / "applied")
    assert applied.exit_code == 0, applied.output
    assert "52 writes approved, 99 refused by the reviewer" in applied.output
    assert {k: sandbox.counts[k] for k in WRITES} == {"add": 0, "import": 1, "patch": 6,
                                                      "delete": 43}
    expected = {k: v for k, v in before.items()
                if int(k[1:]) < KEPT or k in refused_deletes}
    for i in MOVED:
        if i != 1:                                  # k1's update was refused: old name
            expected[f"k{i}"] = (f"Moved {i}", f"n{i}@example.com", phone_of(i))
    expected["k7"] = (name_of(7), "m7@example.org", phone_of(7))
    for j, key in enumerate(ADDS):
        if key != "+4471":                          # refused: not added
            expected[key] = (f"New {j}", f"new{j}@example.org", f"+1201{4800000 + j}")
    assert campaign(sandbox) == expected
    with open(tmp_path / "applied" / "actions.csv", encoding="utf-8-sig", newline="") as f:
        refused = {r["external_unique_id"]: r["detail"] for r in csv.DictReader(f)
                   if r["reason"] == "refused_by_reviewer"}
    assert refused["k161"] == "refused by reviewer: still a customer"
    assert refused["k1"] == 'refused by reviewer: moved, ask "sales"'
    assert len(refused) == 99


def small_plan(adds: int = 5):
    """`adds` adds (k0..), one update (u: a new name), one delete (gone)."""
    keys = [f"k{i}" for i in range(adds)] + ["u"]
    src = pd.DataFrame({"external_unique_id": keys,
                        "name": [f"P{i}" for i in range(adds)] + ["U new"],
                        "email": [""] * (adds + 1),
                        "phone_number": [f"20147180{i:02d}" for i in range(adds + 1)],
                        "outbound_number": [""] * (adds + 1), "__line__": range(2, adds + 3)})
    v = normalize_contacts(src, region="US")
    remote = remote_frame([
        {"id": 1, "external_unique_id": "u", "name": "U old",
         "phone_number": f"+120147180{adds:02d}", "status": "Upcoming"},
        {"id": 2, "external_unique_id": "gone", "name": "Gone", "phone_number": "+12014719999",
         "status": "Upcoming"}])
    return build_plan(v.valid, v.rejects, remote,
                      PlanOptions(mode="mirror", region="US", force=True),
                      meta={"source": "x.csv", "campaign_id": 6})


def test_a_page_cut_at_max_rows_says_the_writes_not_listed_are_not_sent(browser, tmp_path):
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(render_html(small_plan(), max_rows=2), encoding="utf-8")
    load(browser, page.resolve().as_uri())
    note = browser.find_element(By.ID, "review-unlisted").text
    assert note.startswith("3 writes of the plan are not listed for review on this page, so "
                           "they are not in decisions.csv and will not be sent")
    assert "3 beyond the 2 rows a table shows" in note
    assert "decision column" in note and "actions.csv" in note
    assert browser.find_element(By.CSS_SELECTOR, "#sec-adds .truncated").text == (
        "showing 2 of 5; all are in actions.csv; the 3 not shown are not in decisions.csv, "
        "so applying with it does not send them (see Review the writes)")
    assert counter(browser) == "4 of 7 writes will be sent: 2 adds, 1 update, 1 delete"
    lines = list(csv.reader(download(browser).read_text(encoding="utf-8-sig").splitlines()))
    assert lines == [["key", "action", "decision", "comment"], ["gone", "delete", "approve", ""],
                     ["u", "update", "approve", ""], ["k0", "add", "approve", ""],
                     ["k1", "add", "approve", ""]]


# ---------------------------------------------------------------- the page's markup
def test_each_write_row_carries_its_key_and_action_escaped_and_a_box():
    plan = small_plan(adds=1)
    rows = plan.rows.copy()
    rows.loc[rows["external_unique_id"].eq("k0"), "external_unique_id"] = 'k"<b>&0'
    page = render_html(dataclasses.replace(plan, rows=rows))
    assert 'data-write="add" data-write-key="k&#34;&lt;b&gt;&amp;0">' in page
    assert 'aria-label="send the add of k&#34;&lt;b&gt;&amp;0"' in page
    assert page.count('<td class="rv"><input type="checkbox" checked') == 3
    assert 'class="rv-note"' not in page   # the script makes it when a write is unchecked
    assert 'data-write="delete" data-write-key="gone"' in page
    assert 'data-write="update" data-write-key="u"' in page
    assert not re.search(r"<[a-z][^<>]*\son[a-z]+\s*=", page.split("<script>", 1)[0]), \
        "an inline event handler (the page's CSP would block it)"
    assert page.count("<script") == 1
    assert 'id="review-bar"' in page and 'id="review-unlisted"' not in page
    # only the three tables of writes have the column
    assert page.count('<th scope="col" class="rv"') == 3


def test_a_runs_report_has_no_review_and_a_masked_key_has_no_box():
    plan = small_plan(adds=1)
    rows = plan.rows.copy()
    rows["outcome"] = ""
    rows.loc[rows["action"].isin(["add", "update"]), "outcome"] = "done"
    remote = plan.remote.copy()
    remote["outcome"] = ""
    done = dataclasses.replace(plan, rows=rows, remote=remote, meta={
        **plan.meta, "command": "sync",
        "outcome": {"outcome": {k: {"done": 1} for k in ("add", "update", "delete")}}})
    page = render_html(done)
    markup = page.split("<script>", 1)[0]
    assert "data-write" not in markup and "review-bar" not in markup
    assert 'class="rv"' not in markup and 'id="sec-review"' not in markup

    rows = plan.rows.copy()
    rows.loc[rows["external_unique_id"].eq("k0"), "external_unique_id"] = "ann@example.com"
    page = render_html(dataclasses.replace(plan, rows=rows), mask_pii=True)
    assert "ann@example.com" not in page
    assert page.count('<td class="rv"><input type="checkbox" checked') == 2
    assert '<td class="rv" title="the key is masked on this page: decide in actions.csv">' \
        in page
    note = page.split('id="review-unlisted">', 1)[1].split("</p>", 1)[0]
    assert note.startswith("<strong>1 write of the plan is not listed for review on this "
                           "page, so it is not in decisions.csv and will not be sent")
    assert "1 whose key is masked on this page (no box)" in note
    assert "PLAN.json: the plan written by plan --out" in page
