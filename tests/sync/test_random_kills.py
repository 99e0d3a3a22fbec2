"""Crash safety at random points: a sync under faults is killed with SIGKILL at 20
seeded random moments (counted in requests the sandbox has seen), then run again;
after every recovery the campaign must equal what one uninterrupted run gives: no
duplicate contact, none lost, none deleted that the source holds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.sandbox import SandboxServer

TOKEN = "s3cret-token-value"
ROOT = Path(__file__).resolve().parents[2]
POINTS = 20
SEED = 20261202


def world(sandbox: SandboxServer, tmp: Path) -> Path:
    """A campaign of 240 contacts (10 by hand) and a source that adds 60, changes 40
    and drops 25 of them."""
    keyed = [{"external_unique_id": f"k{i}", "name": f"Name {i}", "email": f"k{i}@example.com",
              "phone_number": f"+1201472{i:04d}"} for i in range(230)]
    hand = [{"name": f"Hand {i}", "phone_number": f"+1201473{i:04d}"} for i in range(10)]
    sandbox.seed(6, keyed + hand, check=False)
    lines = ["external_unique_id,name,email,phone_number"]
    for i in range(25, 230):
        name = f"Changed {i}" if i % 5 == 0 else f"Name {i}"
        lines.append(f"k{i},{name},k{i}@example.com,(201) 472-{i:04d}")
    for j in range(60):
        lines.append(f"n{j},New {j},n{j}@example.org,201-474-{j:04d}")
    source = tmp / "source.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return source


def args(tmp: Path, source: Path, report: str) -> list[str]:
    return ["-q", "sync", str(source), "--campaign-id", "6", "-m", "generic", "--mode",
            "mirror", "--force", "--state", str(tmp / "state.db"), "--report",
            str(tmp / report), "--chunk-size", "20", "--rate-limit", "1000",
            "--job-timeout", "30"]


def env(sandbox: SandboxServer) -> dict[str, str]:
    return {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
            "CAMPAIGN_SYNC_API_TOKEN": TOKEN}


def contents(sandbox: SandboxServer) -> list[tuple[str, str, str, str]]:
    rows = sorted((c.get("external_unique_id") or "", c.get("name") or "",
                   c.get("email") or "", c.get("phone_number") or "")
                  for c in sandbox.contacts(6))
    keys = [r[0] for r in rows if r[0]]
    phones = [r[3] for r in rows]
    assert len(keys) == len(set(keys)), "a contact was duplicated"
    assert len(phones) == len(set(phones)), "a phone is on two contacts"
    return rows


def total(sandbox: SandboxServer) -> int:
    counts = sandbox.counts
    return sum(counts[k] for k in ("list", "import", "job", "patch", "delete"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reference")
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], job_seconds=0.05) as sandbox:
        source = world(sandbox, tmp)
        sandbox.reset_counts()
        result = CliRunner().invoke(cli, args(tmp, source, "r"), env=env(sandbox))
        assert result.exit_code == 0, result.output
        return contents(sandbox), total(sandbox)


def test_twenty_random_kills_each_recover_to_the_uninterrupted_result(reference, tmp_path):
    expected, requests = reference
    rng = random.Random(SEED)
    points = sorted(rng.randint(1, requests) for _ in range(POINTS))
    killed = 0
    for n, point in enumerate(points):
        tmp = tmp_path / f"kill-{n}"
        tmp.mkdir()
        with SandboxServer(user="acme", token=TOKEN, campaigns=[6], job_seconds=0.05,
                           error_rate=0.05, seed=SEED + n) as sandbox:
            source = world(sandbox, tmp)
            sandbox.reset_counts()
            proc = subprocess.Popen(
                [sys.executable, "-c", "from connector.cli import main; main()",
                 *args(tmp, source, "killed")], cwd=tmp,
                env={**os.environ, **env(sandbox), "PYTHONPATH": str(ROOT)},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            try:
                while total(sandbox) < point and proc.poll() is None:
                    assert time.monotonic() < deadline, f"point {point} never reached"
                    time.sleep(0.0005)
            finally:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed += 1
                proc.wait()
            # recovery, with the faults off, runs to the end
            sandbox.set_faults(error_rate=0.0)
            result = CliRunner().invoke(cli, args(tmp, source, "recovered"), env=env(sandbox))
            assert result.exit_code == 0, (n, point, result.output)
            assert contents(sandbox) == expected, (n, point)
    # most runs were killed mid-way (a run may also stop by itself on an injected error,
    # exit 1, which the recovery must finish just the same)
    assert killed >= POINTS * 3 // 4, killed
