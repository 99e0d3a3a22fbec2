"""What the end-to-end tests of the command line share: the sandbox's credentials, a
mapping of id/name/email/phone columns, the environment that points the command at a
sandbox, a run of the command, and reading back a report's actions.csv and a campaign."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from connector.cli import cli

TOKEN = "s3cret-token-value"
MAPPING = """
region: US
columns:
  external_unique_id: id
  name: name
  email: email
  phone_number: phone
"""


def env_for(sandbox: Any) -> dict[str, str]:
    return {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
            "CAMPAIGN_SYNC_API_TOKEN": TOKEN}


def run(env: dict[str, str], *args: object):
    """`campaign-sync ARGS` in this process, with `env`."""
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def actions(report: Path) -> list[dict[str, str]]:
    """A report directory's actions.csv, row by row."""
    with open(report / "actions.csv", encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def campaign(sandbox: Any, campaign_id: int = 6) -> dict[str, tuple[str, str, str]]:
    """The campaign's managed contacts: key -> (name, email, phone)."""
    return {c["external_unique_id"]: (c.get("name") or "", c.get("email") or "",
                                      c.get("phone_number") or "")
            for c in sandbox.contacts(campaign_id) if c.get("external_unique_id")}
