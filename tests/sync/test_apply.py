"""plan --out / apply against the sandbox: a saved plan is carried out exactly and
once, never reading the source; writes whose contact changed since the plan are
stale (listed, not sent); an edited, masked or expired plan is refused; a killed
apply is finished by the next apply of the same file."""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_helpers import MAPPING, TOKEN, actions, campaign, env_for, run
from killing import kill_when

from connector.api.client import ApiClient
from connector.config import Settings
from connector.pipeline import plan_age_refusal
from connector.plan import Plan, PlanOptions
from connector.sandbox import SandboxServer
from connector.state import StateStore

WRITES = ("add", "import", "patch", "delete")


def seed_world(sandbox: SandboxServer, tmp: Path, n: int = 40, renamed: int = 5,
               removed: int = 4, added: int = 3) -> dict[str, tuple[str, str, str]]:
    """The campaign k0..k{n-1}; the source drops the last `removed`, renames
    k1..k{renamed}, gives k{renamed+1} a new phone, adds `added`. Returns the
    campaign a full apply must leave: key -> (name, email, phone)."""
    rows = [{"external_unique_id": f"k{i}", "name": f"Name {i}",
             "email": f"n{i}@example.com", "phone_number": f"+1201{4700000 + i}"}
            for i in range(n)]
    sandbox.seed(6, rows)
    (tmp / "m.yaml").write_text(MAPPING, encoding="utf-8")
    final = {}
    lines = ["id,name,email,phone"]
    moved = renamed + 1
    for i in range(n - removed):
        name = f"Renamed {i}" if 1 <= i <= renamed else f"Name {i}"
        phone = "+12014718888" if i == moved else f"+1201{4700000 + i}"
        lines.append(f"k{i},{name},n{i}@example.com,{phone}")
        final[f"k{i}"] = (name, f"n{i}@example.com", phone)
    for j in range(added):
        lines.append(f"new{j},New {j},new{j}@example.org,+1201{4800000 + j}")
        final[f"new{j}"] = (f"New {j}", f"new{j}@example.org", f"+1201{4800000 + j}")
    (tmp / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return final






def plan(env, tmp: Path, *extra: object):
    result = run(env, "plan", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--mode", "mirror", "--max-delete-fraction", "0.5", "--report",
                 tmp / "planned", *extra)
    assert result.exit_code == 0, result.output
    return tmp / "planned" / "plan.json"




def writes(sandbox: SandboxServer) -> dict[str, int]:
    return {k: sandbox.counts[k] for k in WRITES}


def ids_of(sandbox: SandboxServer) -> dict[str, int]:
    return {c["external_unique_id"]: c["id"] for c in sandbox.contacts(6)}




@pytest.fixture
def world(sandbox, tmp_path):
    final = seed_world(sandbox, tmp_path)
    return sandbox, tmp_path, env_for(sandbox), final


def test_apply_sends_exactly_the_plan_once_without_reading_the_source(world):
    sandbox, tmp, env, final = world
    plan_file = plan(env, tmp)
    ids = ids_of(sandbox)
    (tmp / "s.csv").unlink()  # apply never reads the source
    sandbox.reset_counts()
    result = run(env, "apply", plan_file, "--state", tmp / "state.db", "--report", tmp / "a1")
    assert result.exit_code == 0, result.output
    assert campaign(sandbox) == final
    assert writes(sandbox) == {"add": 0, "import": 1, "patch": 6, "delete": 4}
    # the request log: one PATCH per planned update, one DELETE per removed key
    sent = [r.method for r in sandbox.requests if r.method in ("PATCH", "DELETE", "POST")]
    assert (sent.count("PATCH"), sent.count("DELETE")) == (6, 4)
    assert set(ids) - set(campaign(sandbox)) == {"k36", "k37", "k38", "k39"}
    assert "sent: deleted 4  updated 6  added 3" in result.output
    with StateStore(tmp / "state.db") as store:
        (only,) = store.runs(6)
        assert (only.command, only.status) == ("apply", "done")
    # the same plan again: already applied, nothing sent
    sandbox.reset_counts()
    again = run(env, "apply", plan_file, "--state", tmp / "state.db", "--report", tmp / "a2")
    assert again.exit_code == 0, again.output
    assert "already applied by run 1" in again.output
    assert writes(sandbox) == dict.fromkeys(WRITES, 0)


def test_plan_out_writes_the_plan_to_apply_even_with_masked_reports(world):
    sandbox, tmp, env, final = world
    plan(env, tmp, "--mask-pii", "--out", tmp / "tonight.json")
    masked = run(env, "apply", tmp / "planned" / "plan.json", "--state", tmp / "st.db")
    assert masked.exit_code == 2
    assert "plan.json was written with --mask-pii" in masked.output
    assert oct((tmp / "tonight.json").stat().st_mode & 0o777) == "0o600"
    result = run(env, "apply", tmp / "tonight.json", "--state", tmp / "st.db",
                 "--report", tmp / "a")
    assert result.exit_code == 0, result.output
    assert campaign(sandbox) == final


def test_writes_whose_contact_changed_since_the_plan_are_stale(world):
    sandbox, tmp, env, final = world
    plan_file = plan(env, tmp)
    ids = ids_of(sandbox)
    settings = Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN)
    with ApiClient(settings) as client:
        client.contacts.patch(6, ids["k2"], {"phone_number": "+12014719000"})  # edited
        client.contacts.delete(6, contact_id=ids["k37"])                      # deleted
    sandbox.set_status(6, ids["k3"], "Connected")                              # on a call
    # --refuse-if-stale: nothing at all is sent
    sandbox.reset_counts()
    refused = run(env, "apply", plan_file, "--state", tmp / "state.db", "--refuse-if-stale",
                  "--report", tmp / "refused")
    assert refused.exit_code == 4, refused.output
    assert writes(sandbox) == dict.fromkeys(WRITES, 0)
    # without it, the others go out and the three are listed
    result = run(env, "apply", plan_file, "--state", tmp / "state.db", "--report", tmp / "a")
    assert result.exit_code == 3, result.output
    assert "3 planned writes are stale" in result.output
    stale = {(r["external_unique_id"], r["action"]): r["detail"] for r in actions(tmp / "a")
             if r["reason"] == "stale"}
    assert set(stale) == {("k2", "deferred"), ("k3", "deferred"), ("k37", "deferred")}
    assert "edited in the campaign since the plan (phone_number changed)" in stale[
        ("k2", "deferred")]
    assert "on a call (status Connected)" in stale[("k3", "deferred")]
    assert "deleted from the campaign since the plan" in stale[("k37", "deferred")]
    now = campaign(sandbox)
    expected = dict(final)
    expected["k2"] = ("Name 2", "n2@example.com", "+12014719000")
    expected["k3"] = ("Name 3", "n3@example.com", "+12014700003")
    assert now == expected
    assert writes(sandbox) == {"add": 0, "import": 1, "patch": 4, "delete": 3}


def test_a_phone_taken_since_the_plan_makes_its_write_stale(world):
    sandbox, tmp, env, final = world
    plan_file = plan(env, tmp)
    ids = ids_of(sandbox)
    settings = Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN)
    with ApiClient(settings) as client:  # k10 now holds the phone new0 would get
        client.contacts.patch(6, ids["k10"], {"phone_number": "+12014800000"})
    result = run(env, "apply", plan_file, "--state", tmp / "state.db", "--report", tmp / "a")
    assert result.exit_code == 3, result.output
    stale = {r["external_unique_id"]: r["detail"] for r in actions(tmp / "a")
             if r["reason"] == "stale"}
    assert list(stale) == ["new0"]
    assert f"+12014800000 is now held by contact {ids['k10']}" in stale["new0"]
    assert "new0" not in campaign(sandbox) and "new1" in campaign(sandbox)


def test_an_edited_plan_is_refused_naming_the_file(world):
    sandbox, tmp, env, _ = world
    plan_file = plan(env, tmp)
    text = plan_file.read_text(encoding="utf-8")
    plan_file.write_text(text.replace("Renamed 1", "Renamed X", 1), encoding="utf-8")
    sandbox.reset_counts()
    result = run(env, "apply", plan_file, "--state", tmp / "state.db")
    assert result.exit_code == 2
    assert str(plan_file) in result.output and "edited" in result.output
    assert sandbox.counts["list"] == 0 and writes(sandbox) == dict.fromkeys(WRITES, 0)
    missing = run(env, "apply", tmp / "nope.json", "--state", tmp / "state.db")
    assert missing.exit_code == 2 and "no plan file" in missing.output


def test_an_expired_plan_is_refused_unless_max_age_0(world):
    sandbox, tmp, env, final = world
    plan_file = plan(env, tmp)
    time.sleep(0.5)
    sandbox.reset_counts()
    old = run(env, "apply", plan_file, "--state", tmp / "state.db", "--max-age", "0.0001")
    assert old.exit_code == 4, old.output
    assert "--max-age" in old.output and writes(sandbox) == dict.fromkeys(WRITES, 0)
    result = run(env, "apply", plan_file, "--state", tmp / "state.db", "--max-age", "0",
                 "--report", tmp / "a")
    assert result.exit_code == 0, result.output
    assert campaign(sandbox) == final


def test_plan_age():
    made = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    plan_ = Plan(options=PlanOptions(), rows=None, remote=None, conflicts=None,  # type: ignore[arg-type]
                 meta={"created_at": made.isoformat()})
    assert plan_age_refusal(plan_, 24, now=made + timedelta(hours=23)) is None
    assert "25.0 hours ago" in plan_age_refusal(plan_, 24, now=made + timedelta(hours=25))
    assert plan_age_refusal(plan_, 0, now=made + timedelta(days=400)) is None


def test_a_killed_apply_is_finished_by_the_next_apply_of_the_same_file(tmp_path):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], latency_ms=5,
                       job_seconds=0.3) as sandbox:
        final = seed_world(sandbox, tmp_path, n=300, renamed=120, removed=20, added=60)
        env = env_for(sandbox)
        plan_file = plan(env, tmp_path)
        sandbox.reset_counts()
        args = ["-q", "apply", str(plan_file), "--state", str(tmp_path / "state.db"),
                "--report", str(tmp_path / "a1"), "--rate-limit", "100"]
        first = kill_when(sandbox, "patch", 30, args, env, tmp_path)
        result = run(env, "apply", plan_file, "--state", tmp_path / "state.db",
                     "--report", tmp_path / "a2")
        assert result.exit_code == 0, result.output
        assert "carried out by an earlier attempt of this plan" in result.output
        assert campaign(sandbox) == final
        # each planned write went out once, over the two attempts
        assert sandbox.counts["delete"] == 20
        assert sandbox.counts["patch"] == 121
        assert first["patch"] >= 30
        with StateStore(tmp_path / "state.db") as store:
            assert [r.status for r in store.runs(6)] == ["done", "interrupted"]
            # the ledger counts each of the 20 removals once, over both attempts
            assert len(store.removals(6)) == 20


def decide(actions_csv: Path, out: Path, verdicts: dict[tuple[str, str], tuple[str, str]]
           ) -> Path:
    """actions.csv with the `decision` and `comment` of some writes filled in, as a
    steward does in a spreadsheet."""
    with open(actions_csv, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        got = verdicts.get((row["action"], row["external_unique_id"]))
        if got:
            row["decision"], row["comment"] = got
    with open(out, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def test_decisions_in_actions_csv_send_only_the_approved_writes(world):
    sandbox, tmp, env, final = world
    plan_file = plan(env, tmp)
    decided = decide(tmp / "planned" / "actions.csv", tmp / "decided.csv",
                     {("delete", "k37"): ("reject", "still a customer, ask sales"),
                      ("update", "k2"): ("Reject", ""), ("add", "new0"): ("approve", "")})
    sandbox.reset_counts()
    result = run(env, "apply", plan_file, "--decisions", decided, "--state", tmp / "state.db",
                 "--report", tmp / "a")
    assert result.exit_code == 0, result.output
    assert "11 writes approved, 2 refused by the reviewer" in result.output
    expected = dict(final)
    expected["k2"] = ("Name 2", "n2@example.com", "+12014700002")
    expected["k37"] = ("Name 37", "n37@example.com", "+12014700037")
    assert campaign(sandbox) == expected
    assert writes(sandbox) == {"add": 0, "import": 1, "patch": 5, "delete": 3}
    refused = {r["external_unique_id"]: r["detail"] for r in actions(tmp / "a")
               if r["reason"] == "refused_by_reviewer"}
    assert refused == {"k2": "refused by reviewer",
                       "k37": "refused by reviewer: still a customer, ask sales"}
    shown = run(env, "runs", "--show", "1", "--state", tmp / "state.db")
    assert "decisions " in shown.output and "approved 11, rejected 2" in shown.output


@pytest.mark.parametrize("lines,why", [
    (["key,action,decision", "k1,update,approve", "k1,update,reject"],
     "line 3: the update of 'k1' is decided twice (also on line 2)"),
    (["key,action,decision", "k1,update,approve", "zz,delete,reject"],
     "line 3: the plan holds no delete of 'zz'"),
    (["key,action,decision", "k1,update,maybe"], "line 2, column decision: 'maybe'"),
    (["key,action", "k1,update"], "line 1: no decision column"),
])
def test_a_decisions_file_that_cannot_be_used_is_refused_with_its_line(world, lines, why):
    sandbox, tmp, env, _ = world
    plan_file = plan(env, tmp)
    (tmp / "d.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    sandbox.reset_counts()
    result = run(env, "apply", plan_file, "--decisions", tmp / "d.csv", "--state",
                 tmp / "state.db")
    assert result.exit_code == 2, result.output
    assert why in " ".join(result.output.split())
    assert writes(sandbox) == dict.fromkeys(WRITES, 0)
    assert not (tmp / "state.db").exists()   # refused before any run was started


def test_held_keys_are_left_alone_by_every_plan_until_released(world):
    sandbox, tmp, env, final = world
    state = tmp / "state.db"
    result = run(env, "sync", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--mode", "mirror", "--max-delete-fraction", "0.5", "--state", state,
                 "--hold", "k1", "--hold", "k36", "--report", tmp / "r1")
    assert result.exit_code == 0, result.output
    now = campaign(sandbox)
    assert now["k1"] == ("Name 1", "n1@example.com", "+12014700001")   # not renamed
    assert "k36" in now                                                   # not deleted
    held = {r["external_unique_id"]: r["action"] for r in actions(tmp / "r1")
            if r["reason"] == "held"}
    assert held == {"k1": "deferred", "k36": "deferred"}
    listed = run(env, "holds", "--state", state)
    assert "campaign 6  k1  held since" in listed.output and "k36" in listed.output
    # a later plan still leaves them alone; an apply of a plan made before the hold too
    plan_file = plan(env, tmp, "--state", state)
    assert {r["external_unique_id"] for r in actions(tmp / "planned")
            if r["reason"] == "held"} == {"k1", "k36"}
    released = run(env, "holds", "release", "k1", "k36", "--state", state)
    assert released.exit_code == 0 and "campaign 6: released k1, k36" in released.output
    again = run(env, "holds", "release", "k1", "--state", state)
    assert again.exit_code == 2 and "not held: k1" in again.output
    fresh = plan(env, tmp, "--state", state, "--out", tmp / "p2.json")
    assert fresh.exists()
    run(env, "holds", "add", "k1", "--campaign-id", 6, "--state", state, "--note", "ask")
    result = run(env, "apply", tmp / "p2.json", "--state", state, "--report", tmp / "a")
    assert result.exit_code == 0, result.output
    assert campaign(sandbox)["k1"] == ("Name 1", "n1@example.com", "+12014700001")
    assert "k36" not in campaign(sandbox)
    assert plan_file.exists()


def test_a_plan_refused_when_made_is_never_applied(sandbox, tmp_path):
    seed_world(sandbox, tmp_path)
    env = env_for(sandbox)
    (tmp_path / "s.csv").write_text("id,name,email,phone\nk1,,n1@example.com,123\n",
                                    encoding="utf-8")
    made = run(env, "plan", tmp_path / "s.csv", "--campaign-id", 6, "-m", tmp_path / "m.yaml",
               "--mode", "mirror", "--max-delete-fraction", "1", "--report", tmp_path / "p")
    assert made.exit_code == 4 and "to send exactly this plan" not in made.output
    sandbox.reset_counts()
    result = run(env, "apply", tmp_path / "p" / "plan.json", "--state", tmp_path / "st.db")
    assert result.exit_code == 4 and "refused when it was made" in result.output
    assert writes(sandbox) == dict.fromkeys(WRITES, 0)
