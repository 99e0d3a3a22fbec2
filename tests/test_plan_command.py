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


def test_plan_with_statuses_unmanaged_formatted_phones_and_remote_duplicates(sandbox, tmp_path):
    """A campaign as real ones are: contacts on a call, unknown statuses, contacts added
    by hand, two contacts sharing a key; exact counts, and no write request."""
    seeded = sandbox.seed(6, [
        {"external_unique_id": "k1", "name": "Ann Lee", "phone_number": "+12014716992"},
        {"external_unique_id": "k2", "name": "Bob Old", "phone_number": "+12014716993"},
        {"external_unique_id": "k3", "name": "Cy Old", "phone_number": "+12014716994"},
        {"external_unique_id": "k4", "name": "Di Old", "phone_number": "+12014716995"},
        {"external_unique_id": "dup", "name": "Dup One", "phone_number": "+12014716996"},
        {"external_unique_id": "dup", "name": "Dup Two", "phone_number": "+12014716997"},
        {"name": "By Hand", "phone_number": "+12014716998"},
        {"external_unique_id": "gone", "name": "Gone", "phone_number": "+12014716999"},
    ], check=False)
    ids = {c["external_unique_id"] if c.get("external_unique_id") else "hand": c["id"]
           for c in seeded}
    sandbox.set_status(6, ids["k2"], "Dialing")
    sandbox.set_status(6, ids["k3"], "Paused By Supervisor")      # unknown: not active
    sandbox.set_status(6, ids["gone"], "Queued")                  # active: not deleted
    listed = {c["external_unique_id"]: c["phone_number"] for c in sandbox.contacts(6)
              if c.get("external_unique_id")}
    assert listed["k1"] == "+12014716992"
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "s.csv").write_text(
        "Record ID,First Name,Last Name,Email,Phone Number\n"
        "k1,Ann,Lee,,(201) 471-6992\n"          # unchanged (formatted differently)
        "k2,Bob,New,,201-471-6993\n"            # deferred: Dialing
        "k3,Cy,New,,201-471-6994\n"             # update: unknown status is not active
        "k4,Di,Old,,+1 201 471 6995\n"          # unchanged
        "dup,Dup,Three,,201-471-6990\n"         # deferred: two campaign contacts have dup
        "new,New,One,,201-471-6998\n"           # rejected: the hand-added contact's phone
        "new2,New,Two,,201-471-6980\n",         # add
        encoding="utf-8")
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    sandbox.reset_counts()
    result = run(env, "plan", tmp_path / "s.csv", "--campaign-id", 6, "-m", tmp_path / "m.yaml",
                 "--mode", "mirror", "--force", "--report", tmp_path / "r")
    assert result.exit_code == 3, result.output
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0
    doc = json.loads((tmp_path / "r" / "plan.json").read_text(encoding="utf-8"))
    c = doc["counts"]
    assert c["source"] == {"add": 1, "update": 1, "unchanged": 2, "deferred": 2, "rejected": 1}
    assert c["remote"] == {"kept": 4, "updated": 1, "deleted": 0, "deferred": 2, "unmanaged": 1}
    assert c["deferred_reasons"] == {"active_status": 1, "remote_conflict": 1}
    assert c["reject_reasons"] == {"phone_in_use": 1}
    assert c["unknown_statuses"] == {"Paused By Supervisor": 1}
    assert c["conflicts"] == 1
    assert "unknown status 'Paused By Supervisor'" in result.output


@pytest.mark.parametrize("command", ["plan", "sync"])
def test_validating_while_reading_gives_the_same_report(setup, monkeypatch, command):
    """From PARALLEL_MIN_ROWS rows on, plan (and a first sync) validate while a thread
    reads the campaign: the same exit code and report as in sequence."""
    from connector.validate import run as validation

    sandbox, tmp, env = setup
    # the same campaign twice: 6 for the run in sequence, 7 for the threaded one
    sandbox.seed(7, [{k: c.get(k) for k in ("external_unique_id", "name", "email",
                                           "phone_number")} for c in sandbox.contacts(6)])
    outcomes = []
    for campaign, min_rows in ((6, 10**9), (7, 0)):
        monkeypatch.setattr(validation, "PARALLEL_MIN_ROWS", min_rows)
        extra = ["--state", tmp / f"state-{campaign}.db"] if command == "sync" else []
        result = run(env, command, tmp / "s.csv", "--campaign-id", campaign, "--mapping",
                     tmp / "m.yaml", "--mode", "mirror", "--force", "--report",
                     tmp / f"r{campaign}", *extra)
        doc = json.loads((tmp / f"r{campaign}" / "plan.json").read_text(encoding="utf-8"))
        outcomes.append((result.exit_code, doc["counts"], sorted(
            (r["external_unique_id"], r["action"], r["reason"]) for r in doc["rows"])))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == 3  # rows rejected
