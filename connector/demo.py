"""The demo: a sandbox on a free loopback port, a seeded campaign, an import
through the client tracked to the end, and an export of the result."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .api.client import ApiClient
from .config import Settings
from .export import write_contacts
from .sandbox import SandboxServer, fake_contacts

DEMO_CAMPAIGN = 6

NEW_CONTACTS = [
    {"external_unique_id": "crm-1001", "name": "Ada Lovelace", "email": "ada@example.com",
     "phone_number": "+12014716992", "outbound_number": "+17608675309"},
    {"external_unique_id": "crm-1002", "name": "Alan Turing", "email": "alan@example.org",
     "phone_number": "+442079460958"},
    {"external_unique_id": "crm-1003", "name": "Grace Hopper", "email": "grace@example.net",
     "phone_number": "+13125550100"},
]


@dataclass
class DemoResult:
    """What the demo did and where it wrote."""

    url: str
    job_id: int | None
    job_status: str
    contacts: int
    export_csv: Path
    export_json: Path


def run_demo(out_dir: Path, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the demo story against a sandbox that lives for the call."""
    token = secrets.token_urlsafe(16)
    with SandboxServer(user="demo", token=token, campaigns=[DEMO_CAMPAIGN],
                       job_seconds=0.5) as sandbox:
        sandbox.seed(DEMO_CAMPAIGN, fake_contacts(20), check=False)
        echo(f"sandbox running at {sandbox.url}, campaign {DEMO_CAMPAIGN} seeded "
             "with 20 contacts")
        settings = Settings(base_url=sandbox.url, api_user="demo", api_token=token)
        with ApiClient(settings) as client:
            before = client.contacts.list(DEMO_CAMPAIGN)
            echo(f"read {len(before)} contacts in pages")
            result = client.contacts.import_file(DEMO_CAMPAIGN, NEW_CONTACTS)
            echo(f"imported {len(NEW_CONTACTS)} contacts: job {result.job_id} "
                 f"(id found in {result.found_in})")
            status = "unknown"
            if result.job_id is not None:
                job = client.jobs.wait(DEMO_CAMPAIGN, result.job_id, timeout=60,
                                       first_delay=0.25)
                status = job.status
                echo(f"job {job.id}: {job.status}")
            after = client.contacts.list(DEMO_CAMPAIGN)
        out_dir.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = out_dir / "contacts.csv", out_dir / "contacts.json"
        write_contacts(after, csv_path)
        write_contacts(after, json_path)
        return DemoResult(url=sandbox.url, job_id=result.job_id, job_status=status,
                          contacts=len(after), export_csv=csv_path, export_json=json_path)
