"""Compliance against the sandbox: suppression lists matched in every phone notation,
opt-outs that stay out (a stale export cannot add a number back), the Do Not Call
status, release with an audit trail, and the removal ledger, exact after a killed run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from cli_helpers import MAPPING, TOKEN, actions, env_for, run
from killing import kill_when

from connector.api.client import ApiClient
from connector.config import Settings
from connector.sandbox import SandboxServer


def phone(i: int) -> str:
    return f"+1201{4700000 + i}"


def seed(sandbox: SandboxServer, tmp: Path, n: int = 10) -> None:
    sandbox.seed(6, [{"external_unique_id": f"k{i}", "name": f"Name {i}",
                      "email": f"n{i}@example.com", "phone_number": phone(i)}
                     for i in range(n)])
    (tmp / "m.yaml").write_text(MAPPING, encoding="utf-8")


def source(tmp: Path, keys: range, extra: list[str] = (), name: str = "s.csv") -> Path:
    lines = ["id,name,email,phone"]
    lines += [f"k{i},Name {i},n{i}@example.com,{phone(i)}" for i in keys]
    lines += list(extra)
    path = tmp / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path






def sync(env, tmp: Path, src: Path, report: str, *extra: object, mode: str = "upsert"):
    return run(env, "sync", src, "--campaign-id", 6, "-m", tmp / "m.yaml", "--mode", mode,
               "--max-delete-fraction", "0.9", "--state", tmp / "state.db", "--report",
               tmp / report, *extra)


def keys_in(sandbox: SandboxServer) -> set[str]:
    return {c["external_unique_id"] for c in sandbox.contacts(6) if c.get("external_unique_id")}




def ledger(env, tmp: Path, *extra: object) -> list[dict[str, str]]:
    out = tmp / "ledger.csv"
    result = run(env, "ledger", "--campaign-id", 6, "--state", tmp / "state.db", "-o", out,
                 *extra)
    assert result.exit_code == 0, result.output
    with open(out, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def world(sandbox, tmp_path):
    seed(sandbox, tmp_path)
    return sandbox, tmp_path, env_for(sandbox)


def test_a_suppression_list_matches_every_notation_and_removes_the_contacts(world):
    sandbox, tmp, env = world
    src = source(tmp, range(10), ["new1,New 1,new1@example.org,(201) 480-0001",
                                  "new2,New 2,blocked@example.org,+1 201 480 0002",
                                  "new3,New 3,new3@example.org,+1 201 480 0003"])
    (tmp / "dnc.csv").write_text(
        "Phone Number,E-mail\n(201) 470-0003,\ntel:+1-201-470-0004,\n"
        "+1 201 470 0005 ext. 9,\n2014800001,\n,Blocked@Example.org\nnot a number,\n",
        encoding="utf-8")
    result = sync(env, tmp, src, "r1", "--suppress", tmp / "dnc.csv")
    assert result.exit_code == 0, result.output
    assert "suppression lists dnc.csv: 4 numbers, 1 emails, 0 keys" in result.output
    assert keys_in(sandbox) == {f"k{i}" for i in range(10) if i not in (3, 4, 5)} | {"new3"}
    rows = actions(tmp / "r1")
    gone = {r["external_unique_id"]: r["reason"] for r in rows if r["action"] == "delete"}
    assert gone == {"k3": "suppressed", "k4": "suppressed", "k5": "suppressed"}
    held_back = {r["external_unique_id"]: r["detail"] for r in rows
                 if r["action"] == "suppressed"}
    assert set(held_back) == {"k3", "k4", "k5", "new1", "new2"}
    assert "+12014800001 is on the suppression list dnc.csv" in held_back["new1"]
    assert "email blocked@example.org" in held_back["new2"]
    page = (tmp / "r1" / "report.html").read_text(encoding="utf-8")
    assert 'id="sec-compliance-rows"' in page and 'id="sec-compliance-contacts"' in page
    assert "Contacts removed as suppressed" in page and "new2" in page
    # what validate says of the same list
    checked = run(env, "validate", src, "-m", tmp / "m.yaml", "--suppress", tmp / "dnc.csv")
    assert "5 valid rows are on the suppression lists (dnc.csv)" in checked.output


def test_an_opted_out_number_is_never_added_back_until_released(world):
    sandbox, tmp, env = world
    (tmp / "list.csv").write_text("phone\n+12014700003\n", encoding="utf-8")
    assert sync(env, tmp, source(tmp, range(10)), "r1", "--suppress",
                tmp / "list.csv").exit_code == 0
    assert "k3" not in keys_in(sandbox)
    # a Do Not Call contact: an opt-out too, and its phone is never patched
    ids = {c["external_unique_id"]: c["id"] for c in sandbox.contacts(6)}
    sandbox.set_status(6, ids["k7"], "Do Not Call")
    src = source(tmp, [i for i in range(10) if i != 7],
                 ["k7,Name 7,n7@example.com,+12014709999"], name="s2.csv")
    result = sync(env, tmp, src, "r2")   # the stale export still has k3, no list given
    assert result.exit_code == 0, result.output
    rows = {r["external_unique_id"]: r for r in actions(tmp / "r2")}
    assert rows["k3"]["action"] == "opted_out" and "k3" not in keys_in(sandbox)
    assert rows["k7"]["reason"] == "do_not_call"
    k7 = next(c for c in sandbox.contacts(6) if c["external_unique_id"] == "k7")
    assert k7["phone_number"].replace("-", "").replace("(", "").replace(")", "") \
        .endswith("4700007")
    listed = run(env, "optouts", "--state", tmp / "state.db", "--mask-pii")
    assert "+1******0003  suppressed" in listed.output
    assert "+1******0007  do_not_call" in listed.output
    # someone deletes the DNC contact by hand; the export still cannot add its number back
    settings = Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN)
    with ApiClient(settings) as client:
        client.contacts.delete(6, contact_id=ids["k7"])
    assert sync(env, tmp, source(tmp, range(10), name="s3.csv"), "r3").exit_code == 0
    assert {"k3", "k7"} - keys_in(sandbox) == {"k3", "k7"}
    # released (by whom, and why, goes into the ledger): the next sync adds it
    released = run(env, "optouts", "release", "(201) 470-0003", "--region", "US", "--by",
                   "dana", "--note", "asked to be called again", "--state", tmp / "state.db")
    assert released.exit_code == 0 and "released +12014700003 (by dana)" in released.output
    assert sync(env, tmp, source(tmp, range(10), name="s4.csv"), "r4").exit_code == 0
    assert "k3" in keys_in(sandbox) and "k7" not in keys_in(sandbox)
    events = [(e["event"], e["reason"], e["by"]) for e in ledger(env, tmp)]
    assert ("removed", "suppressed", "") in events
    assert ("opted_out", "suppressed", "") in events
    assert ("opted_out", "do_not_call", "") in events
    assert ("released", "", "dana") in events


def test_the_ledger_after_a_mirror_run_a_suppression_run_and_a_rollback(world):
    sandbox, tmp, env = world
    assert sync(env, tmp, source(tmp, range(8)), "r1", mode="mirror").exit_code == 0
    (tmp / "list.csv").write_text("phone\n+12014700001\n", encoding="utf-8")
    assert sync(env, tmp, source(tmp, range(8), name="s2.csv"), "r2", "--suppress",
                tmp / "list.csv").exit_code == 0
    assert run(env, "rollback", "1", "--state", tmp / "state.db").exit_code == 0
    events = ledger(env, tmp)
    removed = [(e["event"], e["reason"], e["run_id"]) for e in events
               if e["event"] in ("removed", "added_back")]
    assert removed == [("removed", "not_in_source", "1"), ("removed", "not_in_source", "1"),
                       ("removed", "suppressed", "2"), ("added_back", "rollback", "3"),
                       ("added_back", "rollback", "3")]
    # hashed, and masked (written as '+1******0001: a spreadsheet must not read a formula)
    assert all(len(e["phone_hash"]) == 16 and e["phone"].startswith("'+1******")
               for e in events)
    assert ledger(env, tmp, "--since", "2999-01-01") == []


def test_a_killed_run_leaves_the_ledger_exact(tmp_path):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], latency_ms=5,
                       job_seconds=0) as sandbox:
        seed(sandbox, tmp_path, n=200)
        env = env_for(sandbox)
        src = source(tmp_path, range(50))       # mirror removes 150
        args = ["-q", "sync", str(src), "--campaign-id", "6", "-m", str(tmp_path / "m.yaml"),
                "--mode", "mirror", "--max-delete-fraction", "0.9", "--state",
                str(tmp_path / "state.db"), "--report", str(tmp_path / "r1"),
                "--rate-limit", "100"]
        assert kill_when(sandbox, "delete", 40, args, env, tmp_path)["delete"] >= 40
        result = sync(env, tmp_path, src, "r2", mode="mirror")
        assert result.exit_code == 0, result.output
        assert keys_in(sandbox) == {f"k{i}" for i in range(50)}
        removed = [e for e in ledger(env, tmp_path) if e["event"] == "removed"]
        assert len(removed) == 150
        assert len({e["key_hash"] for e in removed}) == 150


def test_dnc_push_is_idempotent_and_reports_each_refused_number(world):
    sandbox, tmp, env = world
    state = tmp / "state.db"
    (tmp / "optouts.csv").write_text("Mobile\n+12014700001\n(201) 470-0002\n911\ncall me\n",
                                     encoding="utf-8")
    first = run(env, "dnc", "push", tmp / "optouts.csv", "--region", "US", "--state", state)
    assert first.exit_code == 3, first.output
    assert "pushed 2 numbers; 0 already on the list" in first.output
    assert "2 refused" in first.output
    assert "refused 911: emergency_number" in first.output
    assert "refused call me: not a phone number" in first.output
    assert set(sandbox.dnc_list()) == {"+12014700001", "+12014700002"}
    # the platform skips listed numbers: their contacts show status Do Not Call
    status = {c["external_unique_id"]: c["status"] for c in sandbox.contacts(6)}
    assert status["k1"] == status["k2"] == "Do Not Call" and status["k3"] == "Upcoming"
    sandbox.reset_counts()
    again = run(env, "dnc", "push", tmp / "optouts.csv", "--region", "US", "--state", state)
    assert again.exit_code == 0, again.output     # refused before: listed, no new failure
    assert "pushed 0 numbers; 2 already on the list (pushed before, same expiry); 0 refused" \
        in again.output
    assert "refused before 911: emergency_number" in again.output
    assert sandbox.counts["dnc_add"] == 0                      # nothing sent at all
    checked = run(env, "dnc", "check", "+12014700001", "2014700003", "--region", "US")
    assert "+12014700001: listed" in checked.output
    assert "+12014700003: not listed" in checked.output
    # an entry that expires disappears
    (tmp / "one.csv").write_text("phone\n+12014700004\n", encoding="utf-8")
    run(env, "dnc", "push", tmp / "one.csv", "--expires-at", "2000-01-01", "--state", state)
    assert "+12014700004: not listed" in run(env, "dnc", "check", "+12014700004").output
    removed = run(env, "dnc", "remove", tmp / "optouts.csv", "--region", "US", "--state",
                  state)
    assert "removed 2 numbers" in removed.output
    assert "+12014700001: not listed" in run(env, "dnc", "check", "+12014700001").output
    events = [(e["event"], e["phone"]) for e in ledger(env, tmp)]
    assert ("pushed_to_dnc", "'+1******0001") in events
    assert ("removed_from_dnc", "'+1******0001") in events
    assert sum(1 for e, _p in events if e == "refused") == 2    # 911 and "call me"


def test_sync_pushes_the_numbers_it_suppressed_to_the_company_list(world):
    sandbox, tmp, env = world
    (tmp / "list.csv").write_text("phone\n+12014700003\n+12014800009\n", encoding="utf-8")
    src = source(tmp, range(10), ["new9,New 9,new9@example.org,+12014800009"])
    result = sync(env, tmp, src, "r1", "--suppress", tmp / "list.csv",
                  "--push-suppressed-to-dnc")
    assert result.exit_code == 0, result.output
    assert "company Do-Not-Call list: 2 numbers pushed" in result.output
    assert set(sandbox.dnc_list()) == {"+12014700003", "+12014800009"}


def test_the_sandbox_dnc_endpoints_answer_a_status_per_number(sandbox):
    settings = Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN)
    with ApiClient(settings) as client:
        added = client.dnc.add([("+12014716992", None), ("112", None), ("12345", None)])
        assert [a["status"] for a in added] == ["added", "emergency_number", "invalid"]
        assert client.dnc.check(["+12014716992"])[0]["listed"] is True
        assert [r["status"] for r in client.dnc.remove(["+12014716992", "+12014716993"])] \
            == ["removed", "not_listed"]
        from connector.errors import ApiError
        with pytest.raises(ApiError):
            client.dnc.add([("+12014716992", None)] * 1001)


def test_a_rollback_does_not_add_back_an_opted_out_number(world):
    sandbox, tmp, env = world
    (tmp / "list.csv").write_text("phone\n+12014700001\n", encoding="utf-8")
    assert sync(env, tmp, source(tmp, range(10)), "r1", "--suppress",
                tmp / "list.csv").exit_code == 0
    assert "k1" not in keys_in(sandbox)
    undo = run(env, "rollback", "1", "--state", tmp / "state.db", "--report", tmp / "undo")
    assert undo.exit_code == 3, undo.output
    assert "k1" not in keys_in(sandbox)
    refused = (tmp / "undo" / "rollback-refused.csv").read_text(encoding="utf-8-sig")
    assert "its phone +12014700001 opted out" in refused


def test_a_list_without_a_header_and_bad_options_are_caught_before_anything_is_sent(world):
    sandbox, tmp, env = world
    (tmp / "bare.csv").write_text("2014700003\n2014700004\n", encoding="utf-8")
    sandbox.reset_counts()
    bad = sync(env, tmp, source(tmp, range(10)), "r0", "--suppress", tmp / "bare.csv",
               "--push-suppressed-to-dnc", "--dnc-expires-at", "31/12/2027")
    assert bad.exit_code == 2 and "--dnc-expires-at '31/12/2027'" in bad.output
    assert sum(sandbox.counts[k] for k in ("delete", "patch", "import", "list")) == 0
    result = sync(env, tmp, source(tmp, range(10)), "r1", "--suppress", tmp / "bare.csv")
    assert result.exit_code == 0, result.output
    assert keys_in(sandbox) == {f"k{i}" for i in range(10)} - {"k3", "k4"}  # both numbers
    bad_since = run(env, "ledger", "--campaign-id", 6, "--state", tmp / "state.db",
                    "--since", "2026-13-01", "-o", tmp / "l.csv")
    assert bad_since.exit_code == 2 and "--since '2026-13-01'" in bad_since.output


def test_a_holds_file_may_be_a_table_and_a_hold_does_not_keep_a_suppressed_number(world):
    sandbox, tmp, env = world
    (tmp / "holds.csv").write_text("Record ID,Note\nk2,legal review\nk5,x\n", encoding="utf-8")
    (tmp / "list.csv").write_text("phone\n+12014700005\n", encoding="utf-8")
    result = sync(env, tmp, source(tmp, range(10)), "r1", "--holds-file", tmp / "holds.csv",
                  "--suppress", tmp / "list.csv", mode="mirror")
    assert result.exit_code == 0, result.output
    listed = run(env, "holds", "--state", tmp / "state.db").output
    assert "k2  held since" in listed and "k5  held since" in listed
    gone = {r["external_unique_id"]: r["detail"] for r in actions(tmp / "r1")
            if r["action"] == "delete"}
    assert list(gone) == ["k5"] and "compliance comes before holds" in gone["k5"]


def test_a_first_sync_into_an_empty_campaign_with_a_list(sandbox, tmp_path):
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "list.csv").write_text("phone\n+12014700002\n", encoding="utf-8")
    result = sync(env_for(sandbox), tmp_path, source(tmp_path, range(5)), "r1", "--suppress",
                  tmp_path / "list.csv")
    assert result.exit_code == 0, result.output
    assert keys_in(sandbox) == {"k0", "k1", "k3", "k4"}


def test_trust_state_reads_the_campaign_when_lists_are_given(world):
    sandbox, tmp, env = world
    assert sync(env, tmp, source(tmp, range(10)), "r1").exit_code == 0
    (tmp / "list.csv").write_text("phone\n+12014700003\n", encoding="utf-8")
    result = sync(env, tmp, source(tmp, range(10), name="s2.csv"), "r2", "--trust-state",
                  "--suppress", tmp / "list.csv")
    assert result.exit_code == 0, result.output
    assert "--trust-state: suppression lists are given; reading the campaign" in result.output
    assert "k3" not in keys_in(sandbox)
