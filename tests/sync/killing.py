"""Start the command line in a process of its own and SIGKILL it once the sandbox has
seen enough requests of one kind: a run killed in the middle of its writes, for the
tests that check the next run finishes it exactly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def kill_when(sandbox: Any, kind: str, after: int, args: list[str], env: dict[str, str],
              cwd: Path, timeout: float = 30) -> dict[str, int]:
    """Run `campaign-sync ARGS` and kill it with SIGKILL when the sandbox has answered
    `after` requests of `kind`; returns the sandbox's counts at that moment."""
    proc = subprocess.Popen([sys.executable, "-c", "from connector.cli import main; main()",
                             *args], env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while sandbox.counts[kind] < after:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the run never got there"
            time.sleep(0.001)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return dict(sandbox.counts)
