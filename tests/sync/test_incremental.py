"""The nightly run costs what changed: rows identical to the last applied run, whose
campaign contact is unchanged since, are not normalized or compared again; everything
else goes the full way, and the outcome is the one a full check gives."""

from __future__ import annotations

from connector.api.client import ApiClient
from connector.api.http import RetryPolicy
from connector.config import Settings
from connector.load import LoadOptions
from connector.pipeline import sync_run
from connector.plan import PlanOptions

TOKEN = "s3cret-token-value"


def write_source(path, rows):
    path.write_text("external_unique_id,name,email,phone_number\n"
                    + "".join(f"{k},{n},{e},{p}\n" for k, n, e, p in rows), encoding="utf-8")
    return path


def base_rows(n=300):
    return [(f"k{i}", f"Name  {i}", f"n{i}@Example.com", f"(201) 47{i // 1000 + 2}-{i % 1000 + 1000}")
            for i in range(n)]


def sync(sandbox, tmp_path, source, *, mapping="generic", **kw):
    settings = Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN, rate_limit=500)
    with ApiClient(settings, retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.05)) as client:
        return sync_run(source=str(source), campaign_id=6, mapping=mapping,
                        plan_options=PlanOptions(mode="mirror", force=True),
                        load_options=LoadOptions(first_poll=0.05, max_poll=0.2),
                        settings=settings, state_path=str(tmp_path / "state.db"),
                        report_dir=str(tmp_path / "report"), client=client, **kw)


def reasons(outcome):
    return outcome.plan.rows["reason"].value_counts().to_dict()


def contents(sandbox):
    return sorted((c["external_unique_id"], c["name"], c.get("email") or "", c["phone_number"])
                  for c in sandbox.contacts(6))


def test_second_night_compares_only_what_changed(sandbox, tmp_path):
    rows = base_rows()
    first = sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows))
    assert first.exit_code == 0 and reasons(first) == {"new": 300}
    # night 2: 3 names changed, 1 row removed, 2 added
    night = list(rows)
    night[5] = ("k5", "Renamed Five", "n5@example.com", night[5][3])
    night[6] = ("k6", "Renamed Six", "n6@example.com", night[6][3])
    night[7] = ("k7", "Renamed Seven", "n7@example.com", night[7][3])
    del night[10]
    night += [("x1", "New One", "", "+1 201 555 0100".replace("555 0100", "480 0001")),
              ("x2", "New Two", "", "201-480-0002")]
    second = sync(sandbox, tmp_path, write_source(tmp_path / "b.csv", night))
    assert second.exit_code == 0, second.counts
    got = reasons(second)
    assert got == {"same_as_last_run": 296, "changed": 3, "new": 2}
    assert second.counts["load"] == {**second.counts["load"], "updated": 3, "added": 2,
                                     "deleted": 1}
    # a full check of the same input finds nothing more to do
    sandbox.reset_counts()
    full = sync(sandbox, tmp_path, tmp_path / "b.csv", full_check=True)
    assert reasons(full) == {"same": 301}
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0


def test_a_contact_edited_in_the_platform_is_compared_again(sandbox, tmp_path):
    source = write_source(tmp_path / "a.csv", base_rows(50))
    sync(sandbox, tmp_path, source)
    k3 = next(c for c in sandbox.contacts(6) if c["external_unique_id"] == "k3")
    with ApiClient(Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN)) as c:
        c.contacts.patch(6, k3["id"], {"name": "Edited By Hand"})
    second = sync(sandbox, tmp_path, source)
    assert reasons(second) == {"same_as_last_run": 49, "changed": 1}
    names = {c["external_unique_id"]: c["name"] for c in sandbox.contacts(6)}
    assert names["k3"] == "Name 3"


def test_a_changed_mapping_carries_nothing(sandbox, tmp_path):
    source = write_source(tmp_path / "a.csv", base_rows(40))
    sync(sandbox, tmp_path, source)
    other = tmp_path / "m.yaml"
    other.write_text("region: CA\ncolumns:\n  external_unique_id: external_unique_id\n"
                     "  name: name\n  email: email\n  phone_number: phone_number\n",
                     encoding="utf-8")
    second = sync(sandbox, tmp_path, source, mapping=str(other))
    assert reasons(second) == {"same": 40}


def test_a_new_row_taking_a_carried_rows_phone_is_decided_as_a_full_check_would(
        sandbox, tmp_path):
    rows = base_rows(30)
    sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows))
    # a new row, earlier in the file, with k20's phone: over all rows, the first keeps it
    night = [("x0", "Early Bird", "", rows[20][3])] + rows
    second = sync(sandbox, tmp_path, write_source(tmp_path / "b.csv", night))
    full_reasons = second.plan.rows.set_index("external_unique_id")["reason"]
    assert full_reasons["k20"] == "duplicate_phone"
    assert "same_as_last_run" not in set(full_reasons)     # fell back to the full path


def test_a_store_without_phone_hashes_normalizes_the_carried_phones_instead(
        sandbox, tmp_path):
    import sqlite3

    from connector.state import StateStore

    rows = base_rows(30)
    sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows))
    # as a store written before phone hashes were kept: the column dropped
    db = sqlite3.connect(tmp_path / "state.db")
    db.execute("ALTER TABLE contacts DROP COLUMN phone_hash")
    db.commit()
    db.close()
    StateStore(tmp_path / "state.db").close()  # opening it adds the column back, empty
    db = sqlite3.connect(tmp_path / "state.db")
    assert db.execute("SELECT COUNT(*) FROM contacts WHERE phone_hash IS NULL").fetchone()[0] == 30
    db.close()
    night = [("x0", "Early Bird", "", rows[20][3])] + rows
    second = sync(sandbox, tmp_path, write_source(tmp_path / "b.csv", night))
    assert second.plan.rows.set_index("external_unique_id")["reason"]["k20"] == \
        "duplicate_phone"


def test_full_check_every_n_runs(sandbox, tmp_path):
    source = write_source(tmp_path / "a.csv", base_rows(20))
    seen = []
    for _ in range(5):
        out = sync(sandbox, tmp_path, source, full_check_every=3)
        seen.append("same_as_last_run" in set(out.plan.rows["reason"]))
    # run 1 has no state (a full check by nature); then two incremental runs, a full
    # one, an incremental one
    assert seen == [False, True, True, False, True]


def test_the_applied_state_is_hashes_not_contact_values(sandbox, tmp_path):
    import sqlite3

    sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", base_rows(20)))
    db = sqlite3.connect(tmp_path / "state.db")
    columns = [r[1] for r in db.execute("PRAGMA table_info(contacts)")]
    assert columns == ["campaign_id", "key", "row_hash", "remote_hash", "remote_id", "run_id",
                       "phone_hash"]
    rows = db.execute("SELECT key, row_hash, remote_hash, phone_hash FROM contacts").fetchall()
    assert len(rows) == 20
    assert all(isinstance(h, int) and isinstance(r, int) and isinstance(p, int)
               for _k, h, r, p in rows)
    # no phone, email or name in that table: keys and integers only
    for row in db.execute("SELECT * FROM contacts"):
        assert [type(v) for v in row] == [int, str, int, int, int, int, int]



def test_trust_state_plans_without_reading_the_campaign(sandbox, tmp_path):
    rows = base_rows(60)
    first = sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows))
    assert first.exit_code == 0
    night = list(rows)
    night[3] = ("k3", "Renamed Three", "n3@example.com", rows[3][3])
    del night[9]
    night.append(("x1", "New One", "", "201-480-0001"))
    sandbox.reset_counts()
    notes = []
    settings = Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN, rate_limit=500)
    with ApiClient(settings) as client:
        out = sync_run(source=str(write_source(tmp_path / "b.csv", night)), campaign_id=6,
                       mapping="generic", plan_options=PlanOptions(mode="mirror", force=True),
                       load_options=LoadOptions(first_poll=0.05, max_poll=0.2),
                       settings=settings, state_path=str(tmp_path / "state.db"),
                       report_dir=str(tmp_path / "r"), client=client, trust_state=True,
                       echo=notes.append)
    assert out.exit_code == 0, out.counts
    counts = sandbox.counts
    assert counts["list"] == 0                                   # the campaign was not read
    assert counts["patch"] == 1 and counts["delete"] == 1 and counts["import"] == 1
    assert any("--trust-state" in n and "not verified" in n for n in notes)
    # a full check afterwards finds the campaign exactly as the source says
    sandbox.reset_counts()
    full = sync(sandbox, tmp_path, tmp_path / "b.csv", full_check=True)
    assert set(full.plan.rows["reason"]) == {"same"}
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0


def test_a_night_of_patches_and_deletes_is_verified_from_the_answers(sandbox, tmp_path):
    rows = base_rows(250)
    assert sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows)).exit_code == 0
    night = list(rows)
    for i in (3, 40, 77):
        night[i] = (f"k{i}", f"Renamed {i}", night[i][2], night[i][3])
    del night[100]
    sandbox.reset_counts()
    second = sync(sandbox, tmp_path, write_source(tmp_path / "b.csv", night))
    assert second.exit_code == 0, second.counts
    assert second.counts["confirmed"] == 4 and second.counts["unconfirmed"] == 0
    assert sandbox.counts["list"] == 3  # one read of 250 contacts (3 pages): no re-read
    assert sandbox.counts["patch"] == 3 and sandbox.counts["delete"] == 1
    # what the answers said was recorded: the next night carries every row
    sandbox.reset_counts()
    third = sync(sandbox, tmp_path, tmp_path / "b.csv")
    assert reasons(third) == {"same_as_last_run": 249}
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0
    # --full-check verifies by reading the campaign again
    night[5] = ("k5", "Renamed 5", night[5][2], night[5][3])
    sandbox.reset_counts()
    full = sync(sandbox, tmp_path, write_source(tmp_path / "c.csv", night), full_check=True)
    assert full.exit_code == 0 and full.counts["confirmed"] == 1
    assert sandbox.counts["list"] == 6  # the plan's read and the verify's


def test_a_patch_the_answer_does_not_show_is_unconfirmed(sandbox, tmp_path, monkeypatch):
    rows = base_rows(20)
    assert sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows)).exit_code == 0
    night = list(rows)
    night[2] = ("k2", "Renamed Two", night[2][2], night[2][3])
    # the platform answers 200 with the contact as it was (a write it did not keep)
    import connector.sandbox.endpoints as endpoints

    original = endpoints.patch_contact

    def forgetful(store, opts, req, m):
        camp = store.campaigns[int(m.group("cid"))]
        before = {cid: dict(c) for cid, c in camp.by_id.items()}
        reply = original(store, opts, req, m)
        for cid, c in before.items():
            camp.by_id[cid].update(c)
        reply.body = endpoints.public_contact(camp.id, camp.by_id[reply.body["id"]])
        return reply

    monkeypatch.setattr(endpoints, "patch_contact", forgetful)
    second = sync(sandbox, tmp_path, write_source(tmp_path / "b.csv", night))
    assert second.exit_code == 3
    assert second.counts["unconfirmed"] == 1 and second.counts["confirmed"] == 0


def test_plan_json_counts_carried_rows_and_lists_what_changed(sandbox, tmp_path):
    import csv
    import json

    rows = base_rows(120)
    assert sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows)).exit_code == 0
    night = list(rows)
    night[9] = ("k9", "Renamed Nine", night[9][2], night[9][3])
    second = sync(sandbox, tmp_path, write_source(tmp_path / "b.csv", night))
    assert second.exit_code == 0
    doc = json.loads((tmp_path / "report" / "plan.json").read_text(encoding="utf-8"))
    assert doc["carried"]["rows"] == 119 and doc["carried"]["remote"] == 119
    assert [r["external_unique_id"] for r in doc["rows"]] == ["k9"]
    assert [r["external_unique_id"] for r in doc["remote"]] == ["k9"]
    assert doc["counts"]["source"]["unchanged"] == 119  # still counted
    with open(tmp_path / "report" / "actions.csv", encoding="utf-8-sig", newline="") as f:
        actions = list(csv.DictReader(f))
    assert len(actions) == 120  # actions.csv lists every row
    assert sum(a["reason"] == "same_as_last_run" for a in actions) == 119


def test_patch_answers_without_the_patched_field_make_the_run_read_again(
        sandbox, tmp_path, monkeypatch):
    rows = base_rows(20)
    assert sync(sandbox, tmp_path, write_source(tmp_path / "a.csv", rows)).exit_code == 0
    night = list(rows)
    night[4] = ("k4", "Renamed Four", night[4][2], night[4][3])
    import connector.sandbox.endpoints as endpoints

    original = endpoints.patch_contact

    def terse(store, opts, req, m):  # a platform that answers with the id only
        reply = original(store, opts, req, m)
        reply.body = {"id": reply.body["id"]}
        return reply

    monkeypatch.setattr(endpoints, "patch_contact", terse)
    sandbox.reset_counts()
    second = sync(sandbox, tmp_path, write_source(tmp_path / "b.csv", night))
    assert second.exit_code == 0 and second.counts["confirmed"] == 1
    assert sandbox.counts["list"] == 2  # the plan's read, and a re-read to verify
