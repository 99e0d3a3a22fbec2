"""`campaign-sync demo` runs the whole story against its own sandbox and writes real
files: a plan report, a steward's decisions refusing one delete, an apply that honours
them, and a second sync that sends nothing."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from connector.cli import cli


def test_demo_runs_the_story_and_its_files_read_back(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", "--output-dir", str(out)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "second sync (run 2): 0 write requests" in result.output
    assert "apply (run 1): deleted 0, updated 2, added 10" in result.output
    assert "1 delete refused by the steward, not sent" in result.output
    decided = list(csv.DictReader((out / "decisions.csv").open(encoding="utf-8-sig")))
    assert [(r["action"], r["external_unique_id"], r["decision"]) for r in decided
            if r["decision"]] == [("delete", "50000000001", "reject")]
    plan = json.loads((out / "plan-report" / "plan.json").read_text(encoding="utf-8"))
    assert plan["counts"]["source"] == {"add": 10, "update": 2, "unchanged": 1,
                                        "deferred": 1, "rejected": 8}
    assert plan["counts"]["remote"]["unmanaged"] == 2
    rows = list(csv.DictReader((out / "campaign-after.csv").open(encoding="utf-8-sig")))
    assert len(rows) == 17                       # 14 valid rows + 2 by hand + 1 kept
    keys = {r["external_unique_id"] for r in rows}
    assert "50000000001" in keys                 # the steward refused its delete
    james = next(r for r in rows if r["external_unique_id"] == "51234567802")
    assert james["name"] == "James O'Brien"
    oliver = next(r for r in rows if r["external_unique_id"] == "51234567804")
    assert oliver["status"] == "Connected"       # on a call: deferred, untouched
    text = result.output.replace("\n", "")
    assert str(out / "plan-report") in text and "report" in text
