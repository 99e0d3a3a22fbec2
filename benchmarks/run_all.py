"""Run every benchmark script in this directory, one after the other, and print their
tables. `make bench` runs this. Arguments after ``--`` go to every script, e.g.
``python benchmarks/run_all.py -- --rows 100000`` for a quicker pass."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py", "_common.py"}


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP)
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} {' '.join(extra)}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *extra])
        print(f"=== {script.name}: exit {code} after {time.perf_counter() - started:.0f} s",
              flush=True)
        if code:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
