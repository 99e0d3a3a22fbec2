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


def _sync_on_a_terminal(sandbox, tmp_path, *extra, base=7000):
    import pty
    import select

    src = tmp_path / "s.csv"
    rows = "".join(f"k{base + i},Name {i},,+1201471{base + i}\n" for i in range(120))
    src.write_text("external_unique_id,name,email,phone_number\n" + rows, encoding="utf-8")
    env = {**os.environ, "CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN, "COLUMNS": "120"}
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from connector.cli import main; main()", *extra, "sync",
         str(src), "--campaign-id", "6", "-m", "generic", "--chunk-size", "40",
         "--state", str(tmp_path / f"state{len(extra)}.db"), "--report", str(tmp_path / "r")],
        stdout=subprocess.DEVNULL, stderr=slave, env=env, cwd=tmp_path)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    return proc.returncode, out.decode("utf-8", "replace")


def test_progress_bars_on_a_terminal_and_not_with_q(sandbox, tmp_path):
    code, text = _sync_on_a_terminal(sandbox, tmp_path)
    assert code == 0, text
    assert "adding" in text and "120/120" in text     # the bar, with its position
    assert "/s" in text                               # and its rate
    assert TOKEN not in text
    # -q, and new contacts to add again (upsert keeps the first 120): no bar, no text
    code, quiet = _sync_on_a_terminal(sandbox, tmp_path, "-q", base=8000)
    assert code == 0, quiet
    assert len(sandbox.contacts(6)) == 240
    assert quiet.strip() == ""
