"""Messages that lead to the fix: each case of what a new user met, as a test."""

from __future__ import annotations

import csv
import socket
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox import SandboxServer

TOKEN = "s3cret-token-value"


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


# ------------------------------------------------------------------ 401


@pytest.mark.parametrize("token", ["wrong", "the"])
def test_a_401_names_the_user_sent_says_it_once_and_keeps_the_words(token):
    with SandboxServer(user="acme", token="right-token", campaigns=[6], job_seconds=0) as s:
        result = run("export", "--campaign-id", 6, "-o", "x.csv",
                     env={"CAMPAIGN_SYNC_BASE_URL": s.url, "CAMPAIGN_SYNC_API_TOKEN": token,
                          "CAMPAIGN_SYNC_API_USER": "acme"})
    assert result.exit_code == 1
    text = result.output
    assert "refused the user name and API token, which it checks together" in text
    assert "user name sent: 'acme'" in text
    assert "campaign-sync sandbox" in text                  # where the sandbox's user is
    assert text.count("regenerated") == 1                   # said once, not twice
    assert "***" not in text                                # no word of it mangled
    assert "the platform refused" in text


def test_a_long_token_is_still_taken_out_wherever_it_is_echoed():
    from connector.privacy import scrub_secrets

    assert scrub_secrets("sent s3cret-token-value twice: s3cret-token-value", [TOKEN]) \
        == "sent *** twice: ***"
    # a short one only where it stands as a credential
    assert scrub_secrets("the token=the in https://acme:the@host/", ["the"]) \
        == "the token=*** in https://acme:***@host/"


# ------------------------------------------------------------------ notes on rows


def test_row_notes_show_their_value_and_reach_actions_the_report_and_plan(sandbox, tmp_path):
    (tmp_path / "m.yaml").write_text(
        "region: US\ncolumns:\n  external_unique_id: id\n  name: name\n"
        "  phone_number: phone\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text("id,name,phone\nk1,Ann,(201) 471-6992 ext. 43\n"
                                    "k2,Bo,(201) 471-6993\n", encoding="utf-8")
    validate = run("validate", tmp_path / "s.csv", "-m", tmp_path / "m.yaml")
    assert "extension dropped, e.g. line 2: extension 43 dropped" in validate.output
    assert "extension N dropped" not in validate.output
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    plan = run("plan", tmp_path / "s.csv", "--campaign-id", 6, "-m", tmp_path / "m.yaml",
               "--report", tmp_path / "r", env=env)
    assert plan.exit_code == 0, plan.output
    assert "notes on 1 rows, e.g. line 2: extension 43 dropped" in plan.output
    rows = list(csv.DictReader((tmp_path / "r" / "actions.csv").read_text(
        encoding="utf-8-sig").splitlines()))
    assert rows[0]["notes"] == "phone_number: extension 43 dropped ((201) 471-6992 ext. 43)"
    assert rows[1]["notes"] == ""
    page = (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    assert 'id="sec-notes"' in page and "extension 43 dropped" in page


# ------------------------------------------------------------------ headers


def test_header_names_match_whatever_their_case_and_spaces(tmp_path):
    (tmp_path / "s.csv").write_text(" EXTERNAL_UNIQUE_ID ,Name, phone_number,EMAIL\n"
                                    "k1,Ann,(201) 471-6992,\n", encoding="utf-8")
    result = run("validate", tmp_path / "s.csv", "-m", "generic")
    assert result.exit_code == 0, result.output


def test_title_lines_above_a_csv_header_are_skipped(tmp_path):
    (tmp_path / "s.csv").write_text(
        "Contacts export\nGenerated 2026-12-01 by the CRM\n\n"
        "record id,first name,LAST NAME,email,phone number,mobile phone number\n"
        "k1,Ann,Lee,ann@example.com,(201) 471-6992,\n", encoding="utf-8")
    result = run("validate", tmp_path / "s.csv", "-m", "hubspot")
    assert result.exit_code == 0, result.output
    assert "header on line 4" in result.output and "lines above it were skipped" in result.output
    assert "fields where the header has" not in result.output


def test_header_row_names_the_line(tmp_path):
    (tmp_path / "s.csv").write_text("external_unique_id,name,phone_number\n"
                                    "junk,junk,junk\n"
                                    "external_unique_id,name,phone_number\n"
                                    "k1,Ann,(201) 471-6992\n", encoding="utf-8")
    (tmp_path / "m.yaml").write_text(
        "columns: {external_unique_id: external_unique_id, name: name, "
        "phone_number: phone_number}\nregion: US\nsource: {header_row: 3}\n", encoding="utf-8")
    result = run("validate", tmp_path / "s.csv", "-m", tmp_path / "m.yaml")
    assert result.exit_code == 0, result.output
    assert "rows read         1" in result.output


# ------------------------------------------------------------------ runs and jobs


def test_runs_show_lists_the_job_ids_and_jobs_goes_on_past_a_404(sandbox, tmp_path):
    (tmp_path / "s.csv").write_text("external_unique_id,name,phone_number,email\n"
                                    "k1,Ann,(201) 471-6992,\n", encoding="utf-8")
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    state = tmp_path / "state.db"
    assert run("sync", tmp_path / "s.csv", "--campaign-id", 6, "-m", "generic", "--state",
               state, "--report", tmp_path / "r", env=env).exit_code == 0
    show = run("runs", "--show", 1, "--state", state)
    job_lines = [line for line in show.output.splitlines() if line.strip().startswith("job ")]
    assert len(job_lines) == 1 and "completed" in job_lines[0], show.output
    job_id = int(job_lines[0].split()[1])
    jobs = run("jobs", "--campaign-id", 6, 99999, job_id, env=env)
    assert jobs.exit_code == 3
    assert "99999\tnot found" in jobs.output
    assert f"{job_id}\tcompleted" in jobs.output


# ------------------------------------------------------------------ usage


def test_a_busy_port_for_the_sandbox_is_a_usage_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("sandbox", "--port", port)
    assert result.exit_code == 2
    assert "the port is in use" in result.output and "--port 0" in result.output
    assert "internal error" not in result.output


def test_a_misspelt_mapping_name_gets_a_did_you_mean():
    result = run("validate", "sample_data/hubspot-contacts.csv", "--mapping", "hubspott")
    assert result.exit_code == 2 and "did you mean 'hubspot'?" in result.output


def test_a_mapping_that_fits_another_export_names_the_one_that_fits():
    result = run("validate", "sample_data/hubspot-contacts.csv", "--mapping", "salesforce")
    assert result.exit_code == 2 and "did you mean --mapping hubspot?" in result.output


@pytest.mark.parametrize("content", [b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, b"zip"])
def test_an_xls_file_gets_our_own_message(tmp_path, content):
    path = tmp_path / "contacts.xls"
    if content == b"zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("x", "y")
    else:
        path.write_bytes(content)
    result = run("validate", path, "-m", "generic")
    assert result.exit_code == 2
    assert "a legacy .xls workbook" in result.output and "save it as .xlsx" in result.output
    assert "xlrd" not in result.output and "openpyxl" not in result.output


def test_every_command_explains_every_option():
    for name, command in cli.commands.items():
        for param in command.params:
            if isinstance(param, type(command.params[0])) and getattr(param, "help", None) \
                    is None and param.param_type_name == "option":
                pytest.fail(f"{name} --{param.name} has no help")
    assert Path("README.md").exists()
