"""A row that lost its key must not get its person deleted: in mirror, a rejected row
protects the campaign contact it describes (by key, else phone, else email), and keys
with stray spaces, another case or mangled by a spreadsheet never lead to a delete.
Plan-level cases, then the 10-rows-lose-their-key night end to end against the sandbox."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.plan import PlanOptions, build_plan, remote_frame
from connector.validate.schema import normalize_contacts

FIELDS = ["external_unique_id", "name", "email", "phone_number", "outbound_number"]
TOKEN = "s3cret-token-value"


def source(*rows: tuple) -> pd.DataFrame:
    data = {f: [] for f in FIELDS}
    for r in rows:
        r = tuple(r) + ("",) * (5 - len(r))
        for f, v in zip(FIELDS, r):
            data[f].append(v)
    data["__line__"] = list(range(2, len(rows) + 2))
    return pd.DataFrame(data)


def campaign(n: int) -> pd.DataFrame:
    return remote_frame([{"id": i, "external_unique_id": f"k{i}", "name": f"N {i}",
                          "email": f"p{i}@example.com", "phone_number": f"+1201471{6900 + i}",
                          "status": "Upcoming"} for i in range(n)])


def mirror(src: pd.DataFrame, rem: pd.DataFrame):
    v = normalize_contacts(src, region="US")
    return build_plan(v.valid, v.rejects, rem, PlanOptions(mode="mirror", region="US",
                                                          max_delete_fraction=1.0),
                      protect=v.rejected_rows)


def fates(plan) -> dict[int, tuple[str, str, str]]:
    return {int(r.remote_id): (r.action, r.reason, r.detail) for r in plan.remote.itertuples()}


def rows(n: int, **changes) -> list[tuple]:
    out = [(f"k{i}", f"N {i}", f"p{i}@example.com", f"(201) 471-{6900 + i}") for i in range(n)]
    for i, row in changes.items():
        out[int(i[1:])] = row
    return out


def test_a_blank_key_still_protects_its_person_by_phone():
    plan = mirror(source(*rows(5, i3=("", "N 3", "p3@example.com", "(201) 471-6903"))),
                  campaign(5))
    assert fates(plan)[3] == ("deferred", "source_row_rejected",
                              "source line 5 (rejected) has its phone +12014716903")
    assert plan.counts()["remote"]["deleted"] == 0


def test_a_blank_key_and_a_bad_phone_still_protect_by_email():
    plan = mirror(source(*rows(5, i2=("", "N 2", "P2@Example.com", "not a phone"))),
                  campaign(5))
    assert fates(plan)[2][:2] == ("deferred", "source_row_rejected")
    assert "email" in fates(plan)[2][2]


def test_a_rejected_row_with_its_key_protects_by_key():
    plan = mirror(source(*rows(5, i1=("k1", "", "p1@example.com", "(201) 471-6901"))),
                  campaign(5))                                     # missing_name
    assert fates(plan)[1] == ("deferred", "source_row_rejected",
                              "source line 3 (rejected) has its key 'k1'")


@pytest.mark.parametrize("key", ["K3", " k3 ", "k3\u200b", "k 3"])
def test_a_key_that_differs_only_in_case_or_spacing_does_not_delete(key):
    plan = mirror(source(*rows(5, i3=(key, "N 3", "p3@example.com", "(201) 471-6903"))),
                  campaign(5))
    action, reason, detail = fates(plan)[3]
    if key.strip("\u200b ") == "k3":                # the key is read as k3: the same contact
        assert (action, reason) == ("kept", "same")
    else:
        assert (action, reason) == ("deferred", "key_differs"), (key, action, reason)
        assert f"source line 5 has the key {key!r}" in detail
    assert plan.counts()["remote"]["deleted"] == 0


def test_a_key_mangled_by_a_spreadsheet_is_rejected_and_protects_its_person():
    src = source(*rows(5, i4=("1.23E+10", "N 4", "p4@example.com", "(201) 471-6904")))
    v = normalize_contacts(src, region="US")
    assert v.rejects[["line", "reason"]].values.tolist() == [[6, "invalid_key"]]
    assert "scientific notation" in v.rejects["hint"].iat[0]
    plan = mirror(src, campaign(5))
    assert fates(plan)[4][:2] == ("deferred", "source_row_rejected")
    assert plan.counts()["remote"]["deleted"] == 0


def test_a_contact_really_gone_from_the_source_is_still_deleted():
    plan = mirror(source(*rows(4)), campaign(5))
    assert fates(plan)[4] == ("deleted", "not_in_source", "")


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_bytes().decode("utf-8-sig").splitlines()))


def test_ten_rows_that_lose_their_key_delete_nobody(sandbox, tmp_path):
    """The night of the issue: 10 of 100 rows lose their Record ID in the CRM export.
    Before, 10 rows were rejected and their 10 people deleted (under the 10% limit)."""
    people = [(f"k{i}", f"Name {i}", f"p{i}@example.com", f"+1201471{6000 + i:04d}")
              for i in range(100)]
    sandbox.seed(6, [{"external_unique_id": k, "name": n, "email": e, "phone_number": p}
                     for k, n, e, p in people])
    (tmp_path / "m.yaml").write_text(
        "region: US\ncolumns:\n  external_unique_id: Record ID\n  name: Name\n"
        "  email: Email\n  phone_number: Phone\n", encoding="utf-8")
    with open(tmp_path / "s.csv", "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["Record ID", "Name", "Email", "Phone"])
        for i, (k, n, e, p) in enumerate(people):
            out.writerow(["" if i % 10 == 3 else k, n, e, p])
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    sandbox.reset_counts()
    result = CliRunner().invoke(cli, ["sync", str(tmp_path / "s.csv"), "--campaign-id", "6",
                                      "-m", str(tmp_path / "m.yaml"), "--mode", "mirror",
                                      "--report", str(tmp_path / "r")], env=env)
    assert result.exit_code == 3, result.output               # 10 rows rejected
    assert sandbox.counts["delete"] == 0
    assert len(sandbox.contacts(6)) == 100
    actions = read_csv(tmp_path / "r" / "actions.csv")
    assert sum(a["action"] == "delete" for a in actions) == 0
    # the report links each protected contact to the line that protected it
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert page.count("(rejected) has its phone") == 10
    assert "source line 5 (rejected) has its phone +12014716003" in page
