"""The steward's page at 3,000+ rows, clicked in a real headless Chromium through
WebDriver (Debian's chromium + chromium-driver, with Selenium): deletes before adds,
sections that fold and page, a click on a reason, a card or a bar that filters every
table, one search box for every table, and "download what is shown" read back."""

from __future__ import annotations

import csv
import time

import pandas as pd
import pytest

from connector.plan import PlanOptions, build_plan, remote_frame
from connector.report import write_report
from connector.validate.schema import normalize_contacts

ADDS, REJECTED, DELETES = 3000, 400, 250


def big_plan():
    """3,000 adds, 400 rejected rows (200 without a key, 200 with a bad phone), 250
    campaign contacts to delete (phones stored in the platform's display form)."""
    n = ADDS + REJECTED
    keys = [f"k{i}" for i in range(ADDS)] + [""] * 200 + [f"bad{i}" for i in range(200)]
    phones = ([f"(201) 5{i // 10000:02d}-{i % 10000:04d}" for i in range(ADDS)]
              + [f"(201) 6{i // 10000:02d}-{i % 10000:04d}" for i in range(200)]
              + ["not a phone"] * 200)
    src = pd.DataFrame({"external_unique_id": keys, "name": [f"Person {i}" for i in range(n)],
                        "email": [""] * n, "phone_number": phones, "outbound_number": [""] * n,
                        "__line__": range(2, n + 2)})
    v = normalize_contacts(src, region="US")
    remote = remote_frame([{"id": 10_000 + i, "external_unique_id": f"gone{i}",
                            "name": f"Gone {i}", "phone_number": f"+1-(201)-700-{i:04d}",
                            "status": "Upcoming"} for i in range(DELETES)])
    return build_plan(v.valid, v.rejects, remote,
                      PlanOptions(mode="mirror", region="US", max_delete_fraction=1.0),
                      meta={"source": "big.csv", "campaign_id": 6, "reject_policy": "none"},
                      protect=v.rejected_rows)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    files = write_report(big_plan(), tmp_path_factory.mktemp("report"))
    return files.report_html.resolve().as_uri()


def visible_rows(driver, table: str) -> list:
    """(data-reason, data-action, first data cell) of the rows shown; a plan's tables of
    writes begin with the review column (a box and a comment), which is skipped."""
    return driver.execute_script(
        f"return Array.from(document.querySelectorAll('#{table} tbody tr'))"
        ".filter(r => !r.hidden).map(r => [r.getAttribute('data-reason') || '', "
        "r.getAttribute('data-action') || '', "
        "r.querySelector('td:not(.rv)').textContent.trim()]);")


def matched(driver, table: str) -> int:
    return int(driver.execute_script(
        f"return document.getElementById('{table}').getAttribute('data-matched');"))


def load(driver, url):
    driver.get(url)
    for _ in range(100):
        if driver.execute_script("return document.documentElement.getAttribute('data-report')")\
                == "ready":
            return
        time.sleep(0.05)
    raise AssertionError("the page's script did not finish")


def test_deletes_come_first_sections_page_and_the_summary_links_each(browser, page):
    from selenium.webdriver.common.by import By

    load(browser, page)
    order = browser.execute_script(
        "return Array.from(document.querySelectorAll('section[id^=sec-]')).map(s => s.id);")
    assert order.index("sec-deletes") < order.index("sec-updates") < order.index("sec-adds")
    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "nav.toc a")]
    assert f"Deletes ({DELETES})" in links and "Adds (3,000)" in links
    # 3,000 adds are paged 100 at a time: the deletes are near the top, not 12,000 px down
    assert len(visible_rows(browser, "adds")) == 100
    top = browser.execute_script("return document.getElementById('sec-deletes')"
                                 ".getBoundingClientRect().top + window.scrollY;")
    assert top < 4000, top
    pager = browser.find_element(By.CSS_SELECTOR, '.pager[data-for="adds"]')
    assert "page 1 of 30" in pager.text
    pager.find_element(By.CSS_SELECTOR, ".next").click()
    assert "rows 101\u2013200" in pager.text
    assert visible_rows(browser, "adds")[0][2] == "102"        # line 102: the 101st add


def test_a_clicked_reason_filters_every_table_to_it(browser, page):
    from selenium.webdriver.common.by import By

    load(browser, page)
    reason = browser.find_element(
        By.CSS_SELECTOR, '#rejects tbody tr:not([hidden]) abbr[data-facet="reason:missing_key"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", reason)
    reason.click()
    assert browser.execute_script(
        "return document.documentElement.getAttribute('data-filtered-by')") \
        == "reason:missing_key"
    rows = visible_rows(browser, "rejects")
    assert len(rows) == 100 and matched(browser, "rejects") == 200
    assert all("missing_key" in r[0].split(";") for r in rows)
    assert matched(browser, "adds") == 0 and matched(browser, "deletes") == 0
    bar = browser.find_element(By.ID, "facet")
    assert bar.is_displayed() and "reason missing_key" in bar.text
    bar.find_element(By.TAG_NAME, "button").click()
    assert matched(browser, "adds") == ADDS and not bar.is_displayed()


def test_a_card_and_a_chart_bar_filter_too(browser, page):
    from selenium.webdriver.common.by import By

    load(browser, page)
    browser.find_element(By.CSS_SELECTOR, '.card[data-facet="action:deleted"]').click()
    assert matched(browser, "deletes") == DELETES and matched(browser, "adds") == 0
    browser.find_element(By.CSS_SELECTOR, '.card[data-facet="action:deleted"]').click()  # off
    assert matched(browser, "adds") == ADDS
    bar = browser.find_element(By.CSS_SELECTOR, 'g[data-facet="reason:invalid_phone"]')
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', "
                           "{bubbles: true}))", bar)
    assert matched(browser, "rejects") == 200 and matched(browser, "adds") == 0


def test_one_search_box_searches_every_table(browser, page):
    from selenium.webdriver.common.by import By

    load(browser, page)
    box = browser.find_element(By.ID, "search-all")
    box.send_keys("Gone 12")
    assert matched(browser, "deletes") == 11                  # Gone 12, Gone 120..129
    assert matched(browser, "adds") == 0 and matched(browser, "rejects") == 0


def test_sections_fold_at_their_heading(browser, page):
    from selenium.webdriver.common.by import By

    load(browser, page)
    table = browser.find_element(By.ID, "adds")
    assert table.is_displayed()
    heading = browser.find_element(By.CSS_SELECTOR, "#sec-adds summary")
    browser.execute_script("arguments[0].scrollIntoView()", heading)
    heading.click()
    assert not table.is_displayed()
    heading.click()
    assert table.is_displayed()


def test_download_what_is_shown(browser, page):
    from selenium.webdriver.common.by import By

    load(browser, page)
    target = browser.downloads / "rejects-shown.csv"
    if target.exists():
        target.unlink()
    browser.find_element(By.CSS_SELECTOR, '.card[data-facet="action:rejected"]').click()
    browser.find_element(By.ID, "search-all").send_keys("not a phone")
    button = browser.find_element(By.CSS_SELECTOR, 'button.dl[data-table="rejects"]')
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    for _ in range(100):
        if target.exists() and target.stat().st_size:
            break
        time.sleep(0.05)
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0][:3] == ["line", "external id", "name"]
    assert len(rows) == 1 + 200                      # every matching row, not one page
    assert all(r[5] == "not a phone" and r[6] == "invalid_phone" for r in rows[1:])


def test_phones_in_one_form_with_the_stored_form_on_hover(browser, page):
    from selenium.webdriver.common.by import By

    load(browser, page)
    cell = browser.find_element(By.CSS_SELECTOR, "#deletes tbody tr td:nth-child(7)")  # 1: review
    assert cell.text == "+12017000000"
    assert cell.get_attribute("title") == "stored as +1-(201)-700-0000"
    limits = browser.find_element(By.ID, "limits").text
    assert "mirror deletes at most 100%" in limits and "rejected rows: none" in limits
