"""A run's report says what happened, not what was planned: against a sandbox that fails
every import job, the page, the cards, the charts, success.csv and errors.csv say
"failed" with the platform's message; a clean run says every write was done; the
"verified" line says what was checked and how."""

from __future__ import annotations

import csv
import re
from html import unescape
from pathlib import Path

import pytest
from cli_helpers import MAPPING, TOKEN
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox import SandboxServer

CSV = """id,name,email,phone,Notes
k1,Ann Lee,ann@example.com,(201) 471-6992,first
k2,Bo Chen,bo@example.com,(201) 471-6993,second
k3,Cy Dunn,,(201) 471-6994,"third, with a comma"
,No Key,,(201) 471-6995,rejected
k5,Ed Fox,,(201) 471-6996,fifth
"""


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_bytes().decode("utf-8-sig").splitlines()))


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split()).replace(" :", ":")


@pytest.fixture
def files(tmp_path):
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "s.csv").write_text(CSV, encoding="utf-8")
    return tmp_path


def sync(sandbox, tmp, *extra):
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN, "CAMPAIGN_SYNC_STATE": str(tmp / "state.db")}
    return CliRunner().invoke(cli, ["sync", str(tmp / "s.csv"), "--campaign-id", "6", "-m",
                                    str(tmp / "m.yaml"), "--report", str(tmp / "r"), *extra],
                              env=env)


def test_failed_jobs_are_reported_as_failed_everywhere(files):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], job_seconds=0,
                       fail_jobs=100) as sandbox:
        result = sync(sandbox, files)
    assert result.exit_code == 3, result.output
    assert "verified: nothing to verify: all 4 writes failed" in result.output
    assert "0 confirmed, 0 not confirmed" not in result.output
    page = (files / "r" / "report.html").read_text(encoding="utf-8")
    shown = text_of(page)
    assert "Sync report" in shown and "Sync plan" not in shown
    assert "will be added" not in shown
    assert "Not every write went through: 4 failed (of 4)" in shown
    assert 'data-outcome="failed"' in page
    # the first table is the failed writes, with the platform's message
    assert page.index('id="sec-problems"') < page.index('id="sec-adds"')
    problems = page[page.index('id="sec-problems"'):page.index('id="sec-adds"')]
    assert problems.count("<tr") == 4 + 1 and "Internal Error" in problems
    assert "Outcome of the writes" in shown
    # the cards of the adds say what happened
    add_card = page[page.index('data-card="add"'):]
    assert "4 failed" in add_card[:add_card.index("</div></div>")]

    errors = read_csv(files / "r" / "errors.csv")
    assert [(e["line"], e["action"], e["outcome"]) for e in errors] == [
        ("2", "add", "failed"), ("3", "add", "failed"), ("4", "add", "failed"),
        ("5", "rejected", "rejected"), ("6", "add", "failed")]
    assert errors[2]["Notes"] == "third, with a comma"       # the source row's own columns
    assert "Internal Error" in errors[0]["error"] and errors[0]["what_to_do"]
    assert errors[3]["error"] == "missing_key"
    assert read_csv(files / "r" / "success.csv") == []


def test_a_clean_run_says_every_write_was_done(files):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], job_seconds=0) as sandbox:
        sandbox.seed(6, [{"external_unique_id": "k2", "name": "Bo Old",
                          "email": "bo@example.com", "phone_number": "+12014716993"},
                         {"external_unique_id": "gone", "name": "Gone",
                          "phone_number": "+12014716999"}])
        result = sync(sandbox, files, "--mode", "mirror", "--max-delete-fraction", "1")
    assert result.exit_code == 3, result.output                  # one row rejected
    assert re.search(r"verified: checked 5 of 5 writes against a fresh read of the "
                     r"campaign \(\d+ contacts\): 5 confirmed, 0 not confirmed", result.output)
    shown = text_of((files / "r" / "report.html").read_text(encoding="utf-8"))
    assert "Every write was done: 5." in shown
    success = read_csv(files / "r" / "success.csv")
    assert [(s["line"], s["action"], s["outcome"]) for s in success] == [
        ("2", "add", "done"), ("3", "update", "done"), ("4", "add", "done"),
        ("6", "add", "done"), ("", "delete", "done")]
    assert success[0]["Notes"] == "first" and success[-1]["external_unique_id"] == "gone"
    errors = read_csv(files / "r" / "errors.csv")
    assert [(e["line"], e["outcome"]) for e in errors] == [("5", "rejected")]
