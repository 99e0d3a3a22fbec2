"""What a scheduler relies on: an exit policy for rejected rows, a state store and
report directories that do not depend on the working directory, and a TOML file that
may hold every option of plan and sync."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox import SandboxServer

TOKEN = "s3cret-token-value"
MAPPING = """
region: US
columns:
  external_unique_id: id
  name: name
  phone_number: phone
"""
CSV = "id,name,phone\n" + "".join(f"k{i},Name {i},(201) 471-{6900 + i}\n" for i in range(9)) \
    + ",No Key,(201) 471-6999\n"                      # 1 rejected row of 10


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "s.csv").write_text(CSV, encoding="utf-8")
    monkeypatch.setenv("CAMPAIGN_SYNC_BASE_URL", sandbox.url)
    monkeypatch.setenv("CAMPAIGN_SYNC_API_USER", "acme")
    monkeypatch.setenv("CAMPAIGN_SYNC_API_TOKEN", TOKEN)
    return sandbox, tmp_path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def sync_args(tmp: Path, *extra):
    return ("sync", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml", *extra)


def run_status(state: Path, run_id: int) -> str:
    with sqlite3.connect(state) as db:
        return db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()[0]


# ------------------------------------------------------------------ exit policy


def test_rejects_within_the_policy_exit_0_as_done_with_rejects(world, own_state_home):
    sandbox, tmp = world
    result = run(*sync_args(tmp, "--max-reject-fraction", "0.1"))
    assert result.exit_code == 0, result.output
    assert run_status(own_state_home / "state.db", 1) == "done_with_rejects"
    again = run(*sync_args(tmp, "--max-rejects", "0"))            # over the policy
    assert again.exit_code == 3, again.output
    assert run_status(own_state_home / "state.db", 2) == "partial"
    assert run(*sync_args(tmp)).exit_code == 3                     # no policy: any reject
    # both limits: both must hold
    assert run(*sync_args(tmp, "--max-rejects", "5", "--max-reject-fraction", "0.05")
               ).exit_code == 3
    assert run(*sync_args(tmp, "--max-rejects", "1", "--max-reject-fraction", "0.1")
               ).exit_code == 0


def test_failed_writes_exit_3_whatever_the_reject_policy(tmp_path, monkeypatch):
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    (tmp_path / "s.csv").write_text(CSV, encoding="utf-8")
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], job_seconds=0,
                       fail_jobs=100) as sandbox:
        monkeypatch.setenv("CAMPAIGN_SYNC_BASE_URL", sandbox.url)
        monkeypatch.setenv("CAMPAIGN_SYNC_API_USER", "acme")
        monkeypatch.setenv("CAMPAIGN_SYNC_API_TOKEN", TOKEN)
        result = run(*sync_args(tmp_path, "--max-reject-fraction", "1"))
    assert result.exit_code == 3, result.output


def test_plan_and_validate_follow_the_same_policy(world):
    sandbox, tmp = world
    assert run("plan", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml").exit_code == 3
    assert run("plan", tmp / "s.csv", "--campaign-id", 6, "-m", tmp / "m.yaml",
               "--max-rejects", "1").exit_code == 0
    assert run("validate", tmp / "s.csv", "-m", tmp / "m.yaml").exit_code == 3
    assert run("validate", tmp / "s.csv", "-m", tmp / "m.yaml",
               "--max-reject-fraction", "0.1").exit_code == 0


# ------------------------------------------------------------------ a stable home


def test_runs_from_another_directory_share_the_state_and_the_lock(world, own_state_home,
                                                                  monkeypatch):
    sandbox, tmp = world
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    monkeypatch.chdir(tmp / "a")
    first = run(*sync_args(tmp, "--max-rejects", "1"))
    assert first.exit_code == 0, first.output
    monkeypatch.chdir(tmp / "b")
    history = run("runs")
    assert history.exit_code == 0 and "sync" in history.output, history.output
    sandbox.reset_counts()
    second = run(*sync_args(tmp, "--max-rejects", "1"))
    assert second.exit_code == 0, second.output
    assert "run 2;" in second.output                       # not "run 1" again
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0
    # reports default under the same home, recorded as absolute paths
    with sqlite3.connect(own_state_home / "state.db") as db:
        dirs = [r[0] for r in db.execute("SELECT report_dir FROM runs ORDER BY id")]
    assert all(Path(d).is_absolute() and Path(d).is_relative_to(own_state_home / "reports")
               for d in dirs), dirs
    assert all((Path(d) / "report.html").is_file() for d in dirs)
    assert not (tmp / "a" / ".campaign-sync").exists()
    assert not (tmp / "b" / "reports").exists()


def test_a_store_in_the_old_default_place_is_used_with_a_note(world, own_state_home,
                                                              monkeypatch):
    sandbox, tmp = world
    import connector.state

    monkeypatch.chdir(tmp)
    legacy = tmp / ".campaign-sync" / "state.db"
    monkeypatch.setattr(connector.state.paths, "LEGACY_STATE", Path(".campaign-sync") / "state.db")
    first = run(*sync_args(tmp, "--state", legacy))
    assert first.exit_code == 3
    result = run(*sync_args(tmp))
    assert "old default place" in result.output and str(legacy) in result.output
    assert "run 2;" in result.output
    assert not (own_state_home / "state.db").exists()


def test_the_state_variable_names_the_store(world, tmp_path, monkeypatch):
    sandbox, tmp = world
    store = tmp / "elsewhere.db"
    monkeypatch.setenv("CAMPAIGN_SYNC_STATE", str(store))
    assert run(*sync_args(tmp)).exit_code == 3
    assert store.is_file()


# ------------------------------------------------------------------ the TOML file


def test_the_toml_file_may_hold_every_option(world, own_state_home, monkeypatch):
    sandbox, tmp = world
    monkeypatch.chdir(tmp)
    (tmp / "campaign-sync.toml").write_text(
        f'campaign_id = 6\nmapping = "{tmp / "m.yaml"}"\nmode = "mirror"\n'
        f'max_reject_fraction = 0.1\nstate = "{tmp / "toml.db"}"\n'
        f'report_root = "{tmp / "reports-here"}"\nmax_delete_fraction = 1.0\n',
        encoding="utf-8")
    sandbox.seed(6, [{"external_unique_id": "old", "name": "Old", "phone_number": "+12014717000"}])
    result = run("sync", tmp / "s.csv")
    assert result.exit_code == 0, result.output
    assert (tmp / "toml.db").is_file()
    reports = list((tmp / "reports-here").iterdir())
    assert len(reports) == 1 and reports[0].name.startswith("campaign-6-")
    plan = json.loads((reports[0] / "plan.json").read_text(encoding="utf-8"))
    assert plan["options"]["mode"] == "mirror"
    assert "old" not in {c.get("external_unique_id") for c in sandbox.contacts(6)}
    # a flag still beats the file
    assert run("sync", tmp / "s.csv", "--max-reject-fraction", "0").exit_code == 3


def test_an_unknown_toml_key_is_named_with_its_closest_match(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "campaign-sync.toml").write_text("max_rejets = 3\n", encoding="utf-8")
    result = run("validate", tmp_path / "x.csv", "-m", "generic")
    assert result.exit_code == 2
    assert "max_rejets" in result.output and "did you mean 'max_rejects'?" in result.output
