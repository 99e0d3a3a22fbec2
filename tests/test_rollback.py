"""rollback and runs against the sandbox: a mirror run undone exactly, contacts changed
since refused, --dry-run sends nothing, and the run history."""

from __future__ import annotations

import pytest
from cli_helpers import MAPPING, TOKEN, run


def contents(sandbox):
    return sorted((c.get("external_unique_id") or "", c.get("name") or "",
                   c.get("email") or "", c.get("phone_number") or "")
                  for c in sandbox.contacts(6))


@pytest.fixture
def world(sandbox, tmp_path):
    rows = [{"external_unique_id": f"k{i}", "name": f"Name {i}",
             "email": f"n{i}@example.com", "phone_number": f"+120147{16000 + i}"}
            for i in range(40)]
    rows.append({"name": "By Hand", "phone_number": "+12014719999"})
    sandbox.seed(6, rows)
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    # the source: k0..k35 (k36..k39 removed), k1..k5 renamed, k6 new phone, 3 new
    lines = ["id,name,email,phone"]
    for i in range(36):
        name = f"Renamed {i}" if 1 <= i <= 5 else f"Name {i}"
        phone = "+12014718888" if i == 6 else f"+120147{16000 + i}"
        lines.append(f"k{i},{name},n{i}@example.com,{phone}")
    for j in range(3):
        lines.append(f"new{j},New {j},new{j}@example.org,+120147{17000 + j}")
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    return sandbox, tmp_path, env


def test_rollback_of_a_mirror_run_restores_the_campaign(world):
    sandbox, tmp, env = world
    before = contents(sandbox)
    state = tmp / "state.db"
    result = run(env, "sync", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--mode", "mirror", "--force", "--state", state, "--report", tmp / "r1")
    assert result.exit_code == 0, result.output
    after_sync = contents(sandbox)
    assert len(after_sync) == 36 + 3 + 1
    assert ("k1", "Renamed 1", "n1@example.com", "+12014716001") in after_sync

    sandbox.reset_counts()
    dry = run(env, "rollback", "1", "--dry-run", "--state", state)
    assert dry.exit_code == 0, dry.output
    # said in the rollback's own terms
    assert "would delete 3 contacts that run 1 had added" in dry.output
    assert "would patch back 6 contacts that run 1 had changed" in dry.output
    assert "would add back 4 contacts that run 1 had deleted" in dry.output
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0

    undo = run(env, "rollback", "1", "--state", state, "--report", tmp / "undo")
    assert undo.exit_code == 0, undo.output
    assert contents(sandbox) == before
    assert "deleted 3 contacts that run 1 had added" in undo.output
    assert (tmp / "undo" / "rollback-actions.csv").exists()
    # the rollback's report says what happened, as a sync's does
    page = (tmp / "undo" / "report.html").read_text(encoding="utf-8")
    assert "Rollback report" in page and "Every write was done:</strong> 13." in page
    success = (tmp / "undo" / "success.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(success) == 1 + 13 and all(",done" in line for line in success[1:])
    actions = (tmp / "undo" / "rollback-actions.csv").read_text(encoding="utf-8-sig")
    assert actions.splitlines()[0] == "action,key,remote_id,undoes,outcome,error"
    assert actions.count(",done,") == 13

    history = run(env, "runs", "--state", state)
    assert history.exit_code == 0
    assert "rollback" in history.output and "sync" in history.output
    show = run(env, "runs", "--show", "2", "--state", state)
    assert "undoes run 1" in show.output


def test_rollback_refuses_contacts_changed_since(world):
    sandbox, tmp, env = world
    state = tmp / "state.db"
    result = run(env, "sync", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
                 "--state", state, "--report", tmp / "r1")
    assert result.exit_code == 0, result.output
    # someone edits k1 in the platform after the run
    k1 = next(c for c in sandbox.contacts(6) if c.get("external_unique_id") == "k1")
    edited = run(env, "export", "--campaign-id", 6, "-o", tmp / "x.json")
    assert edited.exit_code == 0
    from connector.api.client import ApiClient
    from connector.config import Settings

    with ApiClient(Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN)) as c:
        c.contacts.patch(6, k1["id"], {"name": "Edited By Hand"})
    undo = run(env, "rollback", "1", "--state", state)
    assert undo.exit_code == 3, undo.output
    assert "refused update of k1: changed since the run" in undo.output
    names = {c["external_unique_id"]: c["name"] for c in sandbox.contacts(6)
             if c.get("external_unique_id")}
    assert names["k1"] == "Edited By Hand"
    assert names["k2"] == "Name 2"            # the others are back
    assert "new0" not in names


def test_rollback_unknown_run_and_missing_state(world):
    sandbox, tmp, env = world
    missing = run(env, "rollback", "5", "--state", tmp / "none.db")
    assert missing.exit_code == 2 and "no state store" in missing.output
    assert not (tmp / "none.db").exists()
    run(env, "sync", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
        "--state", tmp / "state.db", "--report", tmp / "r")
    unknown = run(env, "rollback", "99", "--state", tmp / "state.db")
    assert unknown.exit_code == 2 and "no run 99" in unknown.output
