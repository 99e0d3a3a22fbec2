"""`plan` against the sandbox: GET requests only, the report files read back, exit codes,
and --mask-pii in every file."""

from __future__ import annotations

import csv
import json
import os
import stat

import pytest
from click.testing import CliRunner

from connector.cli import cli

TOKEN = "s3cret-token-value"
MAPPING = """
region: US
columns:
  external_unique_id: Record ID
  name: {template: "{First Name} {Last Name}"}
  email: Email
  phone_number: Phone Number
"""
CSV = """Record ID,First Name,Last Name,Email,Phone Number
k1,Ann,Lee,ann@example.com,(201) 471-6992
k2,Bob,Stone,bob@example.com,201.471.6993
k3,Cy,New,cy@example.com,201-471-6994
k4,=HYPERLINK("x"),Evil,,201-471-6995
,No,Key,,201-471-6996
k6,Bad,Phone,,12345
"""


@pytest.fixture
def setup(sandbox, tmp_path):
    sandbox.seed(6, [
        {"external_unique_id": "k1", "name": "Ann Lee", "email": "ann@example.com",
         "phone_number": "+12014716992"},
        {"external_unique_id": "k2", "name": "Bob Old", "email": "bob@example.com",
         "phone_number": "+12014716993"},
        {"external_unique_id": "gone", "name": "Gone", "email": "gone@example.com",
         "phone_number": "+12014716999"},
        {"name": "By Hand", "phone_number": "+12014716998"},
    ])
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "s.csv").write_text(CSV, encoding="utf-8")
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    sandbox.reset_counts()
    return sandbox, tmp_path, env


def run(env, *args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def read_csv(path):
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))


def test_plan_sends_only_gets_and_writes_the_report(setup):
    sandbox, tmp, env = setup
    before = sandbox.contacts(6)
    report = tmp / "report"
    result = run(env, "plan", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--mode", "mirror", "--max-delete-fraction", "0.5", "--report", report)
    assert result.exit_code == 3, result.output          # rows rejected
    counts = sandbox.counts
    assert counts["list"] >= 1
    assert sum(counts[k] for k in ("add", "import", "patch", "delete")) == 0
    assert sandbox.contacts(6) == before
    assert "add 2" in result.output and "update 1" in result.output
    assert "deleted 1" in result.output and "unmanaged 1" in result.output

    assert stat.S_IMODE(os.stat(report).st_mode) == 0o700
    for name in ("plan.json", "actions.csv", "rejects.csv"):
        assert stat.S_IMODE(os.stat(report / name).st_mode) == 0o600
    doc = json.loads((report / "plan.json").read_text(encoding="utf-8"))
    assert doc["counts"]["source"] == {"add": 2, "update": 1, "unchanged": 1, "deferred": 0,
                                       "rejected": 2}
    assert doc["meta"]["campaign_id"] == 6 and len(doc["meta"]["source_sha256"]) == 64

    actions = read_csv(report / "actions.csv")
    by_key = {a["external_unique_id"]: a for a in actions}
    assert by_key["k2"]["action"] == "update" and by_key["k2"]["changed"] == "name"
    assert (by_key["k2"]["before_name"], by_key["k2"]["name"]) == ("Bob Old", "Bob Stone")
    assert by_key["gone"]["action"] == "delete"
    assert by_key["k4"]["name"].startswith("'=HYPERLINK")  # neutralized formula
    assert len(actions) == 6 + 1                             # every row + the delete

    rejects = read_csv(report / "rejects.csv")
    assert [(r["line"], r["reason"]) for r in rejects] == [("6", "missing_key"),
                                                           ("7", "invalid_phone")]
    assert rejects[1]["Phone Number"] == "12345"
    assert TOKEN not in result.output
    for path in report.iterdir():
        assert TOKEN not in path.read_text(encoding="utf-8", errors="replace")


def test_plan_refused_by_the_delete_rule_exits_4(setup):
    sandbox, tmp, env = setup
    (tmp / "one.csv").write_text("Record ID,First Name,Last Name,Email,Phone Number\n"
                                 "k1,Ann,Lee,,(201) 471-6992\n", encoding="utf-8")
    result = run(env, "plan", tmp / "one.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--mode", "mirror", "--report", tmp / "r")
    assert result.exit_code == 4, result.output
    assert "REFUSED" in result.output
    doc = json.loads((tmp / "r" / "plan.json").read_text(encoding="utf-8"))
    assert doc["refused"]
    forced = run(env, "plan", tmp / "one.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--mode", "mirror", "--force", "--report", tmp / "r2")
    assert forced.exit_code == 0, forced.output
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0


def test_plan_exit_0_and_mask_pii(setup):
    sandbox, tmp, env = setup
    (tmp / "ok.csv").write_text("Record ID,First Name,Last Name,Email,Phone Number\n"
                                "k1,Ann,Lee,ann@example.com,(201) 471-6992\n"
                                "k9,Zed,Nine,zed@example.org,201-471-6990\n"
                                ",No,Key,nokey@example.net,201-471-6991\n", encoding="utf-8")
    result = run(env, "plan", tmp / "ok.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--report", tmp / "masked", "--mask-pii")
    assert result.exit_code == 3, result.output
    for path in (tmp / "masked").iterdir():
        text = path.read_text(encoding="utf-8")
        for secret in ("ann@example.com", "zed@example.org", "nokey@example.net",
                       "2014716990", "201-471-6991", "4716992"):
            assert secret not in text, (path.name, secret)
    actions = read_csv(tmp / "masked" / "actions.csv")
    assert {a["email"] for a in actions} >= {"z***@example.org"}
    assert "'+1******6990" in {a["phone_number"] for a in actions}


def test_plan_unknown_campaign_is_a_clear_error(setup):
    sandbox, tmp, env = setup
    result = run(env, "plan", tmp / "s.csv", "--campaign-id", 999, "-m", tmp / "m.yaml",
                 "--report", tmp / "r")
    assert result.exit_code == 1
    assert "999" in result.output and "Traceback" not in result.output
    assert not (tmp / "r").exists()
