"""`campaign-sync demo` runs the story against its own sandbox and writes real files."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from connector.cli import cli


def test_demo_runs_and_its_exports_read_back(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--output-dir", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "job 1: completed" in result.output
    rows = list(csv.DictReader((out / "contacts.csv").open(encoding="utf-8-sig")))
    assert len(rows) == 23
    keys = {r["external_unique_id"] for r in rows}
    assert {"crm-1001", "crm-1002", "crm-1003", "seed-1"} <= keys
    ada = next(r for r in rows if r["external_unique_id"] == "crm-1001")
    # a leading + would run as a formula in a spreadsheet, so the cell is neutralized
    assert ada["phone_number"] == "'+1-(201)-471-6992" and ada["status"] == "Upcoming"
    assert len(json.loads((out / "contacts.json").read_text())) == 23
    assert str(out / "contacts.csv") in result.output.replace("\n", "")
