"""The validate path of two revisions of campaign-sync on one file, runs interleaved.

    .venv/bin/python benchmarks/compare_revisions.py --rev HEAD~1 --rows 1000000 --repeat 3

A single run of `validate.py` moves by 10-20% on a shared machine, more than the
change one wants to see. This script generates the contacts CSV once (the
generator of this tree), checks `--rev` out into a temporary git worktree, and runs
`validate.py`'s `run_campaign_sync` of each tree on that same file, alternating
(old, new, old, new, ...), each in its own process. It reports the median seconds
of the call (read, map, normalize, validate, write) and the CPU seconds of each
side, and their ratio new / old: the figure a "stays within 10%" target is read
from. Both sides must agree on the valid count, else exit 1.

With `--country`, the new tree also runs with `region: {column: Country}` (each
row's national numbers read in its own country) on the same file, as a third side.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import format_table, machine_line, run_in_subprocess  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rev", default="HEAD~1", help="the revision to compare against")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--country", action="store_true",
                    help="also run this tree with a Country column for the region")
    args = ap.parse_args(argv)

    import validate as bench  # this tree's generator and mappings

    print(f"machine: {machine_line()}")
    with tempfile.TemporaryDirectory(prefix="bench-revs-") as tmp:
        out = Path(tmp)
        old_tree = out / "old"
        subprocess.run(["git", "-C", str(HERE.parent), "worktree", "add", "--detach", "-q",
                        str(old_tree), args.rev], check=True)
        try:
            csv_path = out / "contacts.csv"
            bench.generate(csv_path, args.rows, args.seed)
            mapping = out / "plain.yaml"
            mapping.write_text(bench.MAPPING_YAML, encoding="utf-8")
            country = out / "country.yaml"
            country.write_text(bench.MAPPING_COUNTRY_YAML, encoding="utf-8")
            sides = {"old": (old_tree / "benchmarks" / "validate.py", mapping),
                     "new": (HERE / "validate.py", mapping)}
            if args.country:
                sides["new, Country column"] = (HERE / "validate.py", country)
            seconds: dict[str, list[float]] = {k: [] for k in sides}
            cpu: dict[str, list[float]] = {k: [] for k in sides}
            valid: dict[str, set[int]] = {k: set() for k in sides}
            for i in range(args.repeat):
                for name, (script, mp) in sides.items():
                    run = run_in_subprocess(script, "run_campaign_sync", {
                        "csv_path": str(csv_path), "mapping_path": str(mp),
                        "out_csv": str(out / f"valid-{i}.csv")})
                    if not run.ok:
                        print(f"{name} crashed:\n{run.error}", file=sys.stderr)
                        return 1
                    took = run.result["validate_seconds"] + run.result["write_seconds"]
                    seconds[name].append(took)
                    cpu[name].append(run.cpu_seconds or 0.0)
                    valid[name].add(run.result["valid"])
                    print(f"  run {i + 1} {name}: {took:.1f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(HERE.parent), "worktree", "remove", "--force",
                            str(old_tree)], check=False)
    base = statistics.median(seconds["old"])
    base_cpu = statistics.median(cpu["old"]) or 1.0
    rows = [[name, f"{statistics.median(s):.1f}", f"{statistics.median(cpu[name]):.1f}",
             f"{statistics.median(s) / base:.2f}x",
             f"{statistics.median(cpu[name]) / base_cpu:.2f}x", ", ".join(map(str, valid[name]))]
            for name, s in seconds.items()]
    print()
    print(f"{args.rows:,} rows; {args.rev} against this tree; median of {args.repeat} "
          "interleaved runs each")
    print(format_table(["side", "seconds", "CPU s", "ratio (s)", "ratio (CPU)", "valid rows"],
                       rows))
    counts = {frozenset(v) for v in valid.values()}
    if len(counts) != 1:
        print("ERROR: the sides disagree on the number of valid rows", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
