"""`--log-format json`: one JSON object per event of a sync, for schedulers, with no
token anywhere; no progress bar when stderr is not a terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TOKEN = "s3cret-token-value"


def test_json_log_events_of_a_sync(sandbox, tmp_path):
    sandbox.seed(6, [{"external_unique_id": "k1", "name": "Old", "phone_number": "+12014716992"},
                     {"external_unique_id": "gone", "name": "Gone",
                      "phone_number": "+12014716999"}])
    src = tmp_path / "s.csv"
    src.write_text("external_unique_id,name,email,phone_number\n"
                   "k1,New Name,,201-471-6992\nk2,Second,,201-471-6993\n", encoding="utf-8")
    env = {**os.environ, "CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    done = subprocess.run(
        [sys.executable, "-c", "from connector.cli import main; main()", "--log-format", "json",
         "sync", str(src), "--campaign-id", "6", "-m", "generic", "--mode", "mirror", "--force",
         "--state", str(tmp_path / "state.db"), "--report", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    events = []
    for line in done.stderr.splitlines():
        if line.strip():
            events.append(json.loads(line))   # every stderr line is one JSON object
    names = [e.get("event") for e in events]
    for expected in ("run_started", "campaign_read", "planned", "phase", "job_started",
                     "job_finished", "verified", "run_finished"):
        assert expected in names, (expected, names)
    finished = next(e for e in events if e.get("event") == "run_finished")
    assert finished["exit_code"] == 0 and finished["load"]["added"] == 1
    assert finished["load"]["updated"] == 1 and finished["load"]["deleted"] == 1
    assert all({"ts", "level", "logger", "message"} <= set(e) for e in events)
    everything = done.stdout + done.stderr
    assert TOKEN not in everything
    assert "\r" not in done.stderr and "ETA" not in done.stderr   # no bar: not a terminal
    for path in (tmp_path / "r").iterdir():
        assert TOKEN not in path.read_text(encoding="utf-8", errors="replace")
    assert TOKEN.encode() not in (tmp_path / "state.db").read_bytes()
