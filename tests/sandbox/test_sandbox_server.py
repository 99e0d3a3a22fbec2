"""The sandbox on its own, over real HTTP: what the client tests do not reach."""

from __future__ import annotations

import json

import requests
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox import SandboxServer, fake_contacts

AUTH = ("acme", "s3cret-token-value")


def api(sb, path):
    return f"{sb.url}/apps/api/v1/outbound_dialer/campaigns/{path}"


def test_auth_errors_are_json_and_counted(sandbox):
    r = requests.get(api(sandbox, "6/contacts"), auth=("acme", "wrong"), timeout=5)
    assert r.status_code == 401 and "message" in r.json()
    r = requests.get(api(sandbox, "6/contacts"), timeout=5)
    assert r.status_code == 401
    assert sandbox.counts["auth_failed"] == 2


def test_paging_headers_and_wrong_method(sandbox):
    sandbox.seed(6, fake_contacts(250), check=False)
    r = requests.get(api(sandbox, "6/contacts"), params={"page": 2, "per": 100}, auth=AUTH,
                     timeout=5)
    assert r.status_code == 200 and len(r.json()) == 100
    assert r.headers["Total"] == "250" and r.headers["Per-Page"] == "100"
    assert 'rel="next"' in r.headers["Link"] and 'rel="last"' in r.headers["Link"]
    assert len(requests.get(api(sandbox, "6/contacts"), auth=AUTH, timeout=5).json()) == 250
    r = requests.put(api(sandbox, "6/contacts"), auth=AUTH, timeout=5)
    assert r.status_code == 405 and "message" in r.json()


def test_contacts_come_back_in_the_platform_shape(sandbox):
    sandbox.seed(6, [{"name": "Bob Smith", "phone_number": "+12014716992",
                      "email": "b@example.com", "external_unique_id": "B1"}])
    contact = requests.get(api(sandbox, "6/contacts"), auth=AUTH, timeout=5).json()[0]
    for key in ("id", "name", "campaign_id", "assigned_call_id", "assigned_participant_id",
                "outbound_number", "priority", "created_at", "updated_at", "status",
                "user_custom_metadata", "phone_number", "email", "external_unique_id"):
        assert key in contact
    assert contact["phone_number"] == "+1-(201)-471-6992"
    assert contact["user_custom_metadata"]["NAME (REQUIRED)"] == "Bob Smith"
    assert contact["created_at"].endswith("Z")


def test_fail_jobs_and_error_rate(sandbox):
    sandbox.set_faults(fail_jobs=1)
    body = json.dumps(list(fake_contacts(3)))
    r = requests.post(api(sandbox, "6/contacts/import"), auth=AUTH, timeout=5,
                      files={"file": ("c.json", body, "application/json")})
    job = requests.get(r.headers["Location"], auth=AUTH, timeout=5).json()
    assert job["status"] == "failed" and job["error_message"] == "Internal Error"
    assert sandbox.contacts(6) == []
    sandbox.set_faults(error_rate=1.0)
    assert requests.get(api(sandbox, "6/contacts"), auth=AUTH, timeout=5).status_code == 500
    assert sandbox.counts["error_injected"] >= 1


def test_state_survives_a_restart(tmp_path):
    data = tmp_path / "state.json"
    with SandboxServer(user="acme", token=AUTH[1], campaigns=[6], data_file=str(data)) as sb:
        r = requests.post(api(sb, "6/contacts"), auth=AUTH, timeout=5,
                          json={"name": "A", "phone_number": "+12014716992",
                                "external_unique_id": "A"})
        assert len(r.json()["valid_contacts"]) == 1
    assert data.exists()
    with SandboxServer(user="acme", token=AUTH[1], campaigns=[6], data_file=str(data)) as sb:
        assert [c["external_unique_id"] for c in sb.contacts(6)] == ["A"]


def test_sandbox_help_lists_the_fault_options():
    out = CliRunner().invoke(cli, ["sandbox", "--help"]).output
    for option in ("--latency-ms", "--error-rate", "--rate-limit", "--job-seconds",
                   "--fail-jobs", "--data", "--campaign"):
        assert option in out
