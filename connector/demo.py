"""The demo: the whole story against a sandbox on a free loopback port, no account
needed. A campaign is seeded as a CRM's earlier load would have left it (some
contacts out of date, one on a call, two added by hand, some no longer in the CRM).
Then the HubSpot sample export in sample_data/ is validated and planned (a dry run
with its report and the plan to apply); a data steward refuses one delete in the
plan's actions.csv and holds that key; the plan is applied with those decisions;
and a sync of the same export sends nothing."""

from __future__ import annotations

import csv
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .api.client import ApiClient
from .config import Settings
from .extract.mapping import SHIPPED_DIR
from .load import LoadOptions
from .pipeline import apply_run, plan_run, sync_run
from .plan import PlanOptions
from .report import write_contacts
from .sandbox import SandboxServer
from .state import StateStore

DEMO_CAMPAIGN = 6
SAMPLE = SHIPPED_DIR.parent / "sample_data" / "hubspot-contacts.csv"
MAPPING = "hubspot"

# the campaign as an earlier load left it: keys of the sample, some values outdated
SEEDED = [
    {"external_unique_id": "51234567801", "name": "Maria Gonzalez",
     "email": "maria.gonzalez@northwind-traders.com", "phone_number": "+12014716992"},
    {"external_unique_id": "51234567802", "name": "James OBrien",          # name changed
     "email": "jobrien@example.com", "phone_number": "+12014716993"},
    {"external_unique_id": "51234567803", "name": "Priya Natarajan",       # email changed
     "email": "priya@old-example.com", "phone_number": "+12014716994"},
    {"external_unique_id": "51234567804", "name": "Oliver Bennett",        # on a call
     "email": "oliver@example.co.uk", "phone_number": "+442079460958", "status": "Connected"},
    {"external_unique_id": "50000000001", "name": "Former Customer",       # not in the CRM
     "email": "former@example.com", "phone_number": "+12014716900"},
    {"name": "Walk-in Caller", "phone_number": "+12014716901"},            # added by hand
    {"name": "Front Desk", "phone_number": "+12014716902"},                # added by hand
]


#: the delete the steward refuses in the demo, and why
KEPT_KEY = "50000000001"
KEPT_WHY = "still owes us a callback: keep until the account is closed"


@dataclass
class DemoResult:
    """What the demo did and where it wrote."""

    url: str
    plan_report: Path
    sync_report: Path
    second_sync_writes: int
    contacts: int
    export_csv: Path
    exit_code: int
    decisions: Path


def steward_decisions(actions_csv: Path, out: Path) -> Path:
    """What a data steward does in a spreadsheet: the plan's actions.csv with the
    delete of KEPT_KEY rejected (every other write left blank: approved)."""
    with open(actions_csv, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        if row["action"] == "delete" and row["external_unique_id"] == KEPT_KEY:
            row["decision"], row["comment"] = "reject", KEPT_WHY
    with open(out, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def run_demo(out_dir: Path, echo: Callable[[str], None] = print) -> DemoResult:
    """Run the demo story against a sandbox that lives for the call."""
    token = secrets.token_urlsafe(16)
    out_dir.mkdir(parents=True, exist_ok=True)
    with SandboxServer(user="demo", token=token, campaigns=[DEMO_CAMPAIGN],
                       job_seconds=0.3) as sandbox:
        seeded = sandbox.seed(DEMO_CAMPAIGN, [{k: v for k, v in c.items() if k != "status"}
                                              for c in SEEDED])
        for row, contact in zip(SEEDED, seeded):
            if "status" in row:
                sandbox.set_status(DEMO_CAMPAIGN, contact["id"], row["status"])
        echo(f"sandbox at {sandbox.url}: campaign {DEMO_CAMPAIGN} holds {len(SEEDED)} contacts "
             "(2 added by hand, 1 on a call, some out of date)")
        settings = Settings(base_url=sandbox.url, api_user="demo", api_token=token)
        # a fresh state store: the sandbox is new at every demo
        state = out_dir / "state.db"
        for stale in (state, state.with_name("state.db-wal"), state.with_name("state.db-shm")):
            stale.unlink(missing_ok=True)

        # 1. validate + plan: a dry run with the steward's report and the plan to apply
        options = PlanOptions(mode="mirror", max_delete_fraction=0.5)
        planned = plan_run(source=str(SAMPLE), campaign_id=DEMO_CAMPAIGN, mapping=MAPPING,
                           options=options, settings=settings,
                           report_dir=str(out_dir / "plan-report"), command="plan (demo)",
                           state_path=str(state))
        r = planned.validated.result
        echo(f"validated {SAMPLE.name}: {r.rows} rows, {r.valid_count} valid, "
             f"{r.rejected_count} rejected")
        for line in planned.plan.summary_lines():
            echo("  " + line)
        files = planned.files
        plan_report = files.report_html or files.plan_json
        echo(f"plan report: {plan_report.resolve()}")

        # 2. the steward refuses one delete
        decisions = steward_decisions(files.actions_csv, out_dir / "decisions.csv")
        echo(f"steward: rejects the delete of {KEPT_KEY} ({KEPT_WHY}) in {decisions.name}")

        # 3. apply exactly the plan, with the decisions; then sync again: nothing to send
        load = LoadOptions(chunk_size=1000, concurrency=4, job_timeout=60, first_poll=0.2)
        first = apply_run(plan_file=files.plan_json, settings=settings, state_path=str(state),
                          report_dir=str(out_dir / "apply-report"), load_options=load,
                          decisions=decisions)
        loaded = first.counts.get("load", {})
        remote = first.plan.remote if first.plan is not None else None
        refused = 0 if remote is None else int(remote["reason"].eq("refused_by_reviewer").sum())
        echo(f"apply (run {first.run_id}): deleted {loaded.get('deleted', 0)}, updated "
             f"{loaded.get('updated', 0)}, added {loaded.get('added', 0)} through "
             f"{loaded.get('jobs', 0)} import job(s); {first.counts.get('confirmed', 0)} "
             f"operations confirmed by re-reading the campaign; {refused} delete refused "
             "by the steward, not sent")
        with StateStore(state) as store:  # later syncs leave it alone too
            store.add_holds(DEMO_CAMPAIGN, [KEPT_KEY], KEPT_WHY)
        echo(f"steward: holds {KEPT_KEY} (campaign-sync holds release {KEPT_KEY} lets it go)")
        sandbox.reset_counts()
        second = sync_run(source=str(SAMPLE), campaign_id=DEMO_CAMPAIGN, mapping=MAPPING,
                          plan_options=options, load_options=load, settings=settings,
                          state_path=str(state), report_dir=str(out_dir / "second-sync-report"),
                          echo=lambda s: None)
        counts = sandbox.counts
        writes = sum(counts[k] for k in ("add", "import", "patch", "delete"))
        echo(f"second sync (run {second.run_id}): {writes} write requests, "
             f"{counts['list']} read request(s)")
        with ApiClient(settings) as client:
            after = client.contacts.list(DEMO_CAMPAIGN)
        export_csv = out_dir / "campaign-after.csv"
        write_contacts(after, export_csv)
        sync_report = first.report_html or first.report_dir or out_dir
        return DemoResult(url=sandbox.url, plan_report=plan_report, sync_report=sync_report,
                          second_sync_writes=writes, contacts=len(after), export_csv=export_csv,
                          exit_code=max(first.exit_code, second.exit_code),
                          decisions=decisions)
