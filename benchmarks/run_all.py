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
    summary: list[tuple[str, list[str]]] = []
    for script in scripts:
        print(f"\n=== {script.name} {' '.join(extra)}", flush=True)
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(script), *extra], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if line.lstrip().startswith("|") and cells and cells[-1] in ("yes", "NO"):
                summary.append((script.stem, cells))
        code = proc.wait()
        print(f"=== {script.name}: exit {code} after {time.perf_counter() - started:.0f} s",
              flush=True)
        if code:
            failed.append(script.name)
    if summary:
        print("\n=== every figure with a target (figure | measured | baseline | ratio | "
              "target | met)")
        for name, cells in summary:
            print(f"| {name} | " + " | ".join(cells) + " |")
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
