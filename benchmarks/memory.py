"""Benchmark of memory: reading a large source in chunks and paging through a large
campaign keep the peak RSS bounded.

    .venv/bin/python benchmarks/memory.py --rows 1000000 --json results.json

(a) A CSV of N rows (the plan_scale generator: external_unique_id,name,email,
phone_number) read three ways, each in its own process:

- `iter_source(path, chunk_rows=100_000)`, the chunks consumed (rows counted);
- `read_source(path)`, the whole file as one frame;
- `list(csv.reader(open(path)))`: one copy of the data as Python objects, the yardstick.

(b) A sandbox campaign of N contacts (its own process) paged through two ways:

- `fetch_remote(client, 6)`: columns built as pages arrive;
- `client.contacts.list(6)`: every contact as a RemoteContact object (the yardstick:
  one copy of the contacts as Python objects).

Each figure is the peak RSS of its process minus the RSS once the modules were
imported ("above imports"), next to the full peak. Targets: iter_source well under
one copy (< 0.5x); read_source no more than about one copy (<= 1.1x); fetch_remote
no more than the RemoteContact list (<= 1x). Exit 0 unless a run crashed.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    figure,
    fmt_num,
    format_table,
    machine,
    machine_line,
    run_in_subprocess,
    write_json,
)
from plan_scale import CAMPAIGN_ID, _client, sandbox, write_source  # noqa: E402

from connector.api.frame import fetch_remote  # noqa: E402
from connector.extract import iter_source, read_source  # noqa: E402

ITER_TARGET = 0.5      # of one copy as Python objects
READ_TARGET = 1.1
FETCH_TARGET = 1.0


# ------------------------------------------------------------------ measured calls

def measure_iter_source(path: str, chunk_rows: int = 100_000) -> dict[str, Any]:
    chunks, _info = iter_source(path, chunk_rows=chunk_rows)
    rows = n = 0
    for frame in chunks:
        rows += len(frame)
        n += 1
    return {"rows": rows, "chunks": n}


def measure_read_source(path: str) -> dict[str, Any]:
    frame, _info = read_source(path)
    return {"rows": int(len(frame))}


def measure_csv_list(path: str) -> dict[str, Any]:
    with open(path, newline="", encoding="utf-8") as fh:
        records = list(csv.reader(fh))
    return {"rows": len(records) - 1}


def measure_fetch_remote(url: str) -> dict[str, Any]:
    with _client(url) as client:
        frame = fetch_remote(client, CAMPAIGN_ID)
    return {"rows": int(len(frame))}


def measure_contacts_list(url: str) -> dict[str, Any]:
    with _client(url) as client:
        contacts = client.contacts.list(CAMPAIGN_ID)
    return {"rows": len(contacts)}


# ------------------------------------------------------------------ driver

def _above(run: Any) -> float:
    return round(run.peak_rss_mib - run.rss_before_call_mib, 1)


FILE_RUNS = ("iter_source", "read_source", "csv_list")
REMOTE_RUNS = ("fetch_remote", "contacts_list")


def measure_all(rows: int, work_dir: str | None = None, chunk_rows: int = 100_000,
                timeout: float | None = None,
                names: tuple[str, ...] = FILE_RUNS + REMOTE_RUNS) -> dict[str, Any]:
    """The runs of (a) and (b) named in `names` at `rows`, each in its own process:
    {"runs": {name: run dict with 'above_mib'}, ...}."""
    out: dict[str, Any] = {"rows": rows, "chunk_rows": chunk_rows}
    with tempfile.TemporaryDirectory(prefix="bench-mem-", dir=work_dir) as tmp:
        path = Path(tmp, "source.csv")
        out["input"] = write_source(path, rows)
        runs: dict[str, Any] = {}
        for name, func, kwargs in (
                ("iter_source", "measure_iter_source",
                 {"path": str(path), "chunk_rows": chunk_rows}),
                ("read_source", "measure_read_source", {"path": str(path)}),
                ("csv_list", "measure_csv_list", {"path": str(path)})):
            if name in names:
                runs[name] = run_in_subprocess(__file__, func, kwargs, timeout=timeout)
        if any(n in names for n in REMOTE_RUNS):
            with sandbox(rows) as url:
                for name in REMOTE_RUNS:
                    if name in names:
                        runs[name] = run_in_subprocess(__file__, f"measure_{name}",
                                                       {"url": url}, timeout=timeout)
    out["runs"] = {}
    for name, run in runs.items():
        d = run.to_dict()
        d["above_mib"] = _above(run)
        out["runs"][name] = d
    return out


def report(res: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r = res["runs"]
    copy_src = r["csv_list"]["above_mib"]
    copy_rem = r["contacts_list"]["above_mib"]

    def line(label: str, name: str, copy: float, target: float | None, op: str) -> list[Any]:
        run = r[name]
        ratio = run["above_mib"] / copy if copy else None
        met = None
        if target is not None and ratio is not None:
            met = ratio < target if op == "<" else ratio <= target
        return figure(label, f"{fmt_num(run['above_mib'])} MiB (peak "
                      f"{fmt_num(run['peak_rss_mib'])}, {run['seconds']:.1f} s)",
                      f"{fmt_num(copy)} MiB", "" if ratio is None else f"{ratio:.2f}x",
                      "" if target is None else f"{op} {target}x", met)

    rows = [
        line(f"iter_source, chunks of {fmt_num(res['chunk_rows'])}", "iter_source", copy_src,
             ITER_TARGET, "<"),
        line("read_source, whole file", "read_source", copy_src, READ_TARGET, "<="),
        line("list(csv.reader): one copy", "csv_list", copy_src, None, ""),
        line("fetch_remote, columns as pages arrive", "fetch_remote", copy_rem, FETCH_TARGET,
             "<="),
        line("contacts.list: RemoteContact objects", "contacts_list", copy_rem, None, ""),
    ]
    table = format_table(["figure (peak RSS above imports)", "measured",
                          "baseline (one copy)", "ratio", "target", "met"], rows)
    figures = {name: {"above_mib": run["above_mib"], "peak_rss_mib": run["peak_rss_mib"],
                      "seconds": run["seconds"], "rows": (run.get("result") or {}).get("rows")}
               for name, run in r.items()}
    return table, figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--chunk-rows", type=int, default=100_000)
    ap.add_argument("--out-dir", help="where the CSV goes (default: a temporary directory)")
    ap.add_argument("--json", help="write every figure and run to this file")
    args = ap.parse_args(argv)
    info = machine()
    t0 = time.perf_counter()
    res = measure_all(args.rows, args.out_dir, args.chunk_rows)
    failed = [(n, r) for n, r in res["runs"].items() if not r["ok"]]
    for n, r in failed:
        print(f"{n} failed:\n{r['error']}", file=sys.stderr)
    if failed:
        return 1
    table, figures = report(res)
    print(table)
    print()
    counts = {n: r["result"]["rows"] for n, r in res["runs"].items()}
    print(f"rows seen: {counts}; CSV {fmt_num(res['input']['bytes'] / 2**20, 1)} MiB; "
          f"{time.perf_counter() - t0:.0f} s in all")
    print(f"Machine: {machine_line(info)}")
    if args.json:
        write_json(args.json, {"figures": figures, "machine": info, "result": res})
    return 0


if __name__ == "__main__":
    sys.exit(main())
