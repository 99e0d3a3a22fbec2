"""The command line: help on every command, export and jobs against the sandbox,
exit codes and messages that never show the token."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from connector import __version__
from connector.cli import cli

TOKEN = "s3cret-token-value"


def run(*args, env=None):
    runner = CliRunner()
    return runner.invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_version_and_help_on_every_command():
    assert __version__ in run("--version").output
    top = run("--help")
    assert top.exit_code == 0 and "Exit codes" in top.output
    for name, command in cli.commands.items():
        result = run(name, "--help")
        assert result.exit_code == 0, name
        assert command.help, f"{name} has no help text"
        for param in command.params:
            if getattr(param, "help", None) is None and param.param_type_name == "option":
                pytest.fail(f"{name} {param.opts} has no help")


@pytest.fixture
def env(sandbox):
    return {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
            "CAMPAIGN_SYNC_API_TOKEN": TOKEN}


def seed(sandbox):
    return sandbox.seed(6, [
        {"external_unique_id": "A1", "name": "=HYPERLINK(\"x\")", "email": "a@example.com",
         "phone_number": "+12014716992"},
        {"external_unique_id": "A2", "name": "Zoë Ünïcode", "email": "z@example.com",
         "phone_number": "+12014716993", "status": "Finished"},
    ])


def test_export_csv_opens_in_a_spreadsheet(sandbox, env, tmp_path):
    seed(sandbox)
    out = tmp_path / "contacts.csv"
    result = run("export", "--campaign-id", "6", "--output", str(out), env=env)
    assert result.exit_code == 0, result.output
    assert "wrote 2 contacts" in result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the accents right
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [r["external_unique_id"] for r in rows] == ["A1", "A2"]
    assert rows[0]["name"] == "'=HYPERLINK(\"x\")"  # formula neutralized
    assert rows[1]["name"] == "Zoë Ünïcode" and rows[1]["status"] == "Finished"
    assert "user_custom_metadata.NAME (REQUIRED)" in rows[0]
    assert rows[0]["id"] and rows[0]["created_at"]


def test_export_json_keeps_every_field(sandbox, env, tmp_path):
    seed(sandbox)
    out = tmp_path / "contacts.json"
    assert run("export", "--campaign-id", "6", "-o", str(out), env=env).exit_code == 0
    data = json.loads(out.read_text())
    assert len(data) == 2
    assert {"id", "status", "user_custom_metadata", "phone_number"} <= set(data[0])


def test_export_to_an_unknown_suffix_is_usage(sandbox, env, tmp_path):
    seed(sandbox)
    result = run("export", "--campaign-id", "6", "-o", str(tmp_path / "x.xml"), env=env)
    assert result.exit_code == 2 and ".csv or .json" in result.output


def test_jobs_command(sandbox, env):
    import requests

    body = json.dumps([{"name": "A", "phone_number": "+12014716992",
                        "external_unique_id": "A"}])
    r = requests.post(f"{sandbox.url}/apps/api/v1/outbound_dialer/campaigns/6/contacts/import",
                      files={"file": ("c.json", body, "application/json")},
                      auth=("acme", TOKEN), timeout=10)
    job_id = r.json()["job_id"]
    for _ in range(100):
        result = run("jobs", "--campaign-id", "6", str(job_id), env=env)
        if "completed" in result.output:
            break
    assert result.exit_code == 0 and f"{job_id}\tcompleted" in result.output
    missing = run("jobs", "--campaign-id", "6", "999999", str(job_id), env=env)
    assert missing.exit_code == 3 and "999999\tnot found" in missing.output
    assert f"{job_id}\tcompleted" in missing.output          # the others are still shown


def test_auth_failure_exit_1_and_no_token(sandbox, env, tmp_path):
    wrong = "wrong-token-never-shown-42"
    bad_env = {**env, "CAMPAIGN_SYNC_API_TOKEN": wrong}
    result = run("-v", "export", "--campaign-id", "6", "-o", str(tmp_path / "x.csv"),
                 env=bad_env)
    assert result.exit_code == 1
    assert "API token" in result.output and "401" in result.output
    assert wrong not in result.output and TOKEN not in result.output
    assert not (tmp_path / "x.csv").exists()


def test_unknown_campaign_and_unreachable_server(env, tmp_path):
    result = run("export", "--campaign-id", "404", "-o", str(tmp_path / "x.csv"), env=env)
    assert result.exit_code == 1 and "404" in result.output
    down = {**env, "CAMPAIGN_SYNC_BASE_URL": "http://127.0.0.1:9"}
    result = run("export", "--campaign-id", "6", "-o", str(tmp_path / "x.csv"), env=down)
    assert result.exit_code == 1 and "could not connect" in result.output


def test_missing_settings_is_usage(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("export", "--campaign-id", "6", "-o", "x.csv", env={
        "CAMPAIGN_SYNC_BASE_URL": "", "CAMPAIGN_SYNC_API_TOKEN": ""})
    assert result.exit_code == 2 and "no base URL" in result.output
