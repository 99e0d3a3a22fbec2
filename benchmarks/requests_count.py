"""Benchmark of the requests a sync sends: no wasted request.

    .venv/bin/python benchmarks/requests_count.py --campaign 100000 --json results.json

A sandbox campaign of N contacts (default 100,000) is synced (mirror, force) from a
CSV that adds 5,000 contacts, changes 2,000 (a third each in name, email, phone) and
drops 1,000. The sandbox counts the requests by kind. The minimum the API allows:

* reads: the design reads the campaign twice, once to plan and once to verify what
  the run did, at 100 contacts a page: ceil(N / 100) + ceil(N_after / 100) GETs;
* one import per file of chunk_size adds: ceil(adds / chunk_size), each job polled
  at least once;
* one PATCH per change, one DELETE per removal.

Targets: imports, PATCHes and DELETEs equal to their minimum; everything beyond the
minimum (extra polls, retries, extra pages) within 5% of the minimum's total; no 429;
a second run of the same input sends reads only.

Then a steady-state check: a sync of 300 name changes (`--patches`) against a sandbox
that allows 10 requests per sliding second, with the client's limiter at 8/s, must
meet no 429 at all (about 40 s; `--quick` makes it 80 patches).

Each sync runs in its own process, sandbox included (run_in_subprocess). The exit code
is 0 whether the targets are met or not (the table says), 1 if a run crashed or the
campaign does not end up as the source.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    fmt_num,
    format_table,
    machine,
    machine_line,
    met_text,
    run_in_subprocess,
    write_json,
)

from connector.api.client import ApiClient  # noqa: E402
from connector.config import Settings  # noqa: E402
from connector.load import LoadOptions  # noqa: E402
from connector.pipeline import sync_run  # noqa: E402
from connector.plan import PlanOptions  # noqa: E402
from connector.sandbox import SandboxServer, fake_contacts  # noqa: E402

USER, TOKEN = "bench", "bench-token-0123456789"
CAMPAIGN_ID = 6
PER_PAGE = 100
EXCESS_TARGET = 0.05     # everything beyond the minimum, as a share of the minimum
WRITE_KINDS = ("add", "import", "patch", "delete")
FIELDS = ["external_unique_id", "name", "email", "phone_number"]
NEW_PHONES_FROM = 3_000_000  # fake_contacts index of the first changed phone (+1 201 5xx)


# ------------------------------------------------------------------ input

def write_source(path: Path, remote: list[dict[str, Any]], *, adds: int, changes: int,
                 removes: int, add_start: int,
                 kinds: tuple[str, ...] = ("name", "email", "phone_number")) -> dict[str, Any]:
    """The CSV: the campaign's contacts minus `removes` (spread evenly), `changes` of
    them changed (the fields of `kinds` in turn), plus `adds` new ones. Returns the
    expected final campaign as {key: (name, email, phone)} and the keys touched."""
    n = len(remote)
    # every k-th contact goes, every m-th of the rest changes: spread over all pages
    gone = set(range(0, n, max(1, n // removes))[:removes]) if removes else set()
    removed = {remote[i]["external_unique_id"] for i in gone}
    kept = [c for i, c in enumerate(remote) if i not in gone]
    changed_idx = (set(range(0, len(kept), max(1, len(kept) // changes))[:changes])
                   if changes else set())
    expected: dict[str, tuple[str, str, str]] = {}
    changed_keys = []
    rows = []
    j = 0
    for i, c in enumerate(kept):
        key, name, email, phone = (c["external_unique_id"], c["name"], c["email"],
                                   c["phone_number"])
        if i in changed_idx:
            which = kinds[j % len(kinds)]
            if which == "name":
                name = f"Changed Name {j}"
            elif which == "email":
                email = f"changed{j}@example.org"
            else:
                phone = next(fake_contacts(1, NEW_PHONES_FROM + j))["phone_number"]
            j += 1
            changed_keys.append(key)
        rows.append((key, name, email, phone))
        expected[key] = (name, email, phone)
    for c in fake_contacts(adds, add_start):
        rows.append((c["external_unique_id"], c["name"], c["email"], c["phone_number"]))
        expected[c["external_unique_id"]] = (c["name"], c["email"], c["phone_number"])
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(FIELDS)
        w.writerows(rows)
    return {"expected": expected, "removed": len(removed), "changed": len(changed_keys),
            "added": adds, "rows": len(rows)}


def campaign_matches(sb: SandboxServer, expected: dict[str, tuple[str, str, str]]) -> bool:
    got = {c["external_unique_id"]: (c["name"], c["email"], c["phone_number"])
           for c in sb.contacts(CAMPAIGN_ID)}
    return len(sb.contacts(CAMPAIGN_ID)) == len(expected) and got == expected


def minimum(campaign: int, adds: int, changes: int, removes: int, chunk_size: int
            ) -> dict[str, int]:
    """The fewest requests of each kind the API allows for this sync."""
    after = campaign - removes + adds
    imports = math.ceil(adds / chunk_size) if adds else 0
    m = {"list": math.ceil(campaign / PER_PAGE) + math.ceil(after / PER_PAGE),
         "list_plan": math.ceil(campaign / PER_PAGE), "list_verify": math.ceil(after / PER_PAGE),
         "import": imports, "job": imports, "patch": changes, "delete": removes, "add": 0}
    m["total"] = m["list"] + m["import"] + m["job"] + m["patch"] + m["delete"]
    return m


def _sync(sb: SandboxServer, source: Path, work: Path, *, rate: float, chunk_size: int,
          concurrency: int, tag: str) -> dict[str, Any]:
    settings = Settings(base_url=sb.url, api_user=USER, api_token=TOKEN, rate_limit=rate)
    client = ApiClient(settings)
    sb.reset_counts()
    t0 = time.perf_counter()
    try:
        outcome = sync_run(
            source=str(source), campaign_id=CAMPAIGN_ID, mapping="generic",
            plan_options=PlanOptions(mode="mirror", max_delete_fraction=1.0, force=True),
            load_options=LoadOptions(chunk_size=chunk_size, concurrency=concurrency,
                                     job_timeout=600, first_poll=0.5, max_poll=10),
            settings=settings, state_path=str(work / "state.db"),
            report_dir=str(work / f"report-{tag}"), client=client)
    finally:
        client_stats = dict(client.http.stats)
        client.close()
    seconds = time.perf_counter() - t0
    counts = dict(sb.counts)
    return {"exit_code": outcome.exit_code, "seconds": round(seconds, 3),
            "counts": counts, "client": client_stats, "load": outcome.counts.get("load", {}),
            "requests": sum(counts.get(k, 0) for k in ("list", "add", "import", "job", "patch",
                                                       "delete", "rate_limited",
                                                       "error_injected", "dropped"))}


# ------------------------------------------------------------------ measured calls

def measure_requests(campaign: int = 100_000, adds: int = 5_000, changes: int = 2_000,
                     removes: int = 1_000, chunk_size: int = 1000, concurrency: int = 4,
                     job_seconds: float = 0.2, rate: float = 1000.0,
                     work_dir: str | None = None) -> dict[str, Any]:
    """Seed, sync once (counting requests), check the campaign, sync the same file
    again (counting requests)."""
    with tempfile.TemporaryDirectory(prefix="bench-req-", dir=work_dir) as tmp:
        work = Path(tmp)
        with SandboxServer(user=USER, token=TOKEN, campaigns=[CAMPAIGN_ID], latency_ms=0,
                           rate_limit=None, job_seconds=job_seconds, seed=1) as sb:
            sb.seed(CAMPAIGN_ID, fake_contacts(campaign), check=False)
            src = write_source(work / "source.csv", sb.contacts(CAMPAIGN_ID), adds=adds,
                               changes=changes, removes=removes, add_start=campaign)
            first = _sync(sb, work / "source.csv", work, rate=rate, chunk_size=chunk_size,
                          concurrency=concurrency, tag="1")
            first["campaign_matches"] = campaign_matches(sb, src["expected"])
            second = _sync(sb, work / "source.csv", work, rate=rate, chunk_size=chunk_size,
                           concurrency=concurrency, tag="2")
            second["campaign_matches"] = campaign_matches(sb, src["expected"])
    return {"first": first, "second": second,
            "minimum": minimum(campaign, src["added"], src["changed"], src["removed"],
                               chunk_size),
            "input": {k: v for k, v in src.items() if k != "expected"},
            "options": {"campaign": campaign, "chunk_size": chunk_size,
                        "concurrency": concurrency, "job_seconds": job_seconds,
                        "rate": rate}}


def measure_steady(campaign: int = 1000, patches: int = 300, sandbox_rate: int = 10,
                   client_rate: float = 8.0, concurrency: int = 4,
                   work_dir: str | None = None) -> dict[str, Any]:
    """A sync of `patches` name changes against a sandbox that answers 429 above
    `sandbox_rate` requests per sliding second, the client limited to `client_rate`."""
    with tempfile.TemporaryDirectory(prefix="bench-steady-", dir=work_dir) as tmp:
        work = Path(tmp)
        with SandboxServer(user=USER, token=TOKEN, campaigns=[CAMPAIGN_ID], latency_ms=0,
                           rate_limit=sandbox_rate, job_seconds=0.2, seed=1) as sb:
            sb.seed(CAMPAIGN_ID, fake_contacts(campaign), check=False)
            src = write_source(work / "source.csv", sb.contacts(CAMPAIGN_ID), adds=0,
                               changes=patches, removes=0, add_start=campaign, kinds=("name",))
            run = _sync(sb, work / "source.csv", work, rate=client_rate, chunk_size=1000,
                        concurrency=concurrency, tag="steady")
            run["campaign_matches"] = campaign_matches(sb, src["expected"])
            run["patches_planned"] = src["changed"]
    run["options"] = {"campaign": campaign, "sandbox_rate": sandbox_rate,
                      "client_rate": client_rate, "concurrency": concurrency}
    return run


# ------------------------------------------------------------------ report

def evaluate(res: dict[str, Any], steady: dict[str, Any] | None) -> list[list[Any]]:
    """The table rows: figure, measured, minimum, ratio, target, met."""
    m = res["minimum"]
    c1, c2 = res["first"]["counts"], res["second"]["counts"]
    rows: list[list[Any]] = []

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}x" if b else ("1.000x" if a == 0 else "n/a")

    rows.append(["campaign reads (GET pages)", fmt_num(c1.get("list", 0)),
                 f"{fmt_num(m['list'])} ({m['list_plan']}+{m['list_verify']})",
                 ratio(c1.get("list", 0), m["list"]), "= 2 reads", met_text(c1.get("list", 0) ==
                                                                       m["list"])])
    for kind, label in (("import", "imports"), ("patch", "PATCHes"), ("delete", "DELETEs"),
                        ("add", "single adds")):
        got = c1.get(kind, 0)
        rows.append([label, fmt_num(got), fmt_num(m[kind]), ratio(got, m[kind]), "= minimum",
                     met_text(got == m[kind])])
    polls = c1.get("job", 0)
    rows.append(["job polls", fmt_num(polls), f">= {m['job']}", ratio(polls, m["job"]),
                 ">= 1 a job", met_text(polls >= m["job"])])
    retries = res["first"]["client"].get("retries", 0)
    rows.append(["client retries", fmt_num(retries), "0", "", "(in the 5%)", ""])
    total = res["first"]["requests"]
    excess = total - m["total"]
    rows.append(["total requests", fmt_num(total), fmt_num(m["total"]),
                 ratio(total, m["total"]), "<= 1.05x", met_text(total <= m["total"] *
                                                          (1 + EXCESS_TARGET))])
    rows.append(["beyond the minimum (polls+retries+...)", fmt_num(excess),
                 f"{fmt_num(m['total'] * EXCESS_TARGET)} (5%)",
                 f"{100 * excess / m['total']:.2f}%", "<= 5%",
                 met_text(excess <= m["total"] * EXCESS_TARGET)])
    r429 = c1.get("rate_limited", 0)
    rows.append(["429 answers", fmt_num(r429), "0", "", "0", met_text(r429 == 0)])
    rows.append(["campaign = source after run 1", str(res["first"]["campaign_matches"]), "",
                 "", "True", met_text(res["first"]["campaign_matches"])])
    writes2 = sum(c2.get(k, 0) for k in WRITE_KINDS)
    rows.append(["run 2: writes (add+import+patch+delete)", fmt_num(writes2), "0", "", "0",
                 met_text(writes2 == 0)])
    rows.append(["run 2: job polls", fmt_num(c2.get("job", 0)), "0", "", "0",
                 met_text(c2.get("job", 0) == 0)])
    rows.append(["run 2: campaign reads (GET pages)", fmt_num(c2.get("list", 0)),
                 fmt_num(m["list_verify"]) + " (plan read)",
                 ratio(c2.get("list", 0), m["list_verify"]), "reads only",
                 met_text(writes2 == 0)])
    if steady is not None:
        sc = steady["counts"]
        patches = sc.get("patch", 0)
        rows.append([f"steady: PATCHes at {steady['options']['client_rate']:g}/s vs "
                     f"{steady['options']['sandbox_rate']}/s limit", fmt_num(patches),
                     fmt_num(steady["patches_planned"]), ratio(patches,
                                                               steady["patches_planned"]),
                     "= planned", met_text(patches == steady["patches_planned"])])
        rows.append(["steady: 429 answers", fmt_num(sc.get("rate_limited", 0)), "0", "", "0",
                     met_text(sc.get("rate_limited", 0) == 0)])
        rows.append(["steady: campaign = source", str(steady["campaign_matches"]), "", "",
                     "True", met_text(steady["campaign_matches"])])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--campaign", "--rows", dest="campaign", type=int, default=100_000,
                    help="contacts in the campaign before the sync (--rows: the same)")
    ap.add_argument("--adds", type=int, default=5_000)
    ap.add_argument("--changes", type=int, default=2_000)
    ap.add_argument("--removes", type=int, default=1_000)
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--job-seconds", type=float, default=0.2)
    ap.add_argument("--patches", type=int, default=300,
                    help="name changes of the steady-state 429 check")
    ap.add_argument("--quick", action="store_true", help="steady-state check of 80 patches")
    ap.add_argument("--no-steady", action="store_true", help="skip the steady-state check")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.quick:
        args.patches = min(args.patches, 80)

    mach = machine()
    print(f"machine: {machine_line(mach)}")
    scale = args.campaign / 100_000
    adds, changes, removes = args.adds, args.changes, args.removes
    if scale < 1:  # --rows/--campaign below the default shrinks the changes with it
        adds, changes, removes = (max(1, round(x * scale)) for x in (adds, changes, removes))
    print(f"campaign {args.campaign:,}: {adds:,} adds, {changes:,} changes, {removes:,} "
          f"removals", flush=True)
    run = run_in_subprocess(__file__, "measure_requests", {
        "campaign": args.campaign, "adds": adds, "changes": changes, "removes": removes,
        "chunk_size": args.chunk_size, "concurrency": args.concurrency,
        "job_seconds": args.job_seconds})
    if not run.ok:
        print(run.error, file=sys.stderr)
        return 1
    res = run.result
    print(f"sync 1: {res['first']['seconds']:.1f} s, sync 2: {res['second']['seconds']:.1f} s",
          flush=True)
    steady = None
    steady_run = None
    if not args.no_steady:
        print(f"steady-state check: {args.patches} patches at 8/s", flush=True)
        steady_run = run_in_subprocess(__file__, "measure_steady", {"patches": args.patches})
        if not steady_run.ok:
            print(steady_run.error, file=sys.stderr)
            return 1
        steady = steady_run.result
        print(f"steady: {steady['seconds']:.1f} s", flush=True)
    rows = evaluate(res, steady)
    rows.append(["peak RSS MiB, the syncs' process (sandbox in it) / the steady one",
                 f"{fmt_num(run.peak_rss_mib)} / "
                 f"{fmt_num(steady_run.peak_rss_mib) if steady_run else '-'}", "", "", "", ""])
    print()
    print(format_table(["figure", "measured", "baseline/minimum", "ratio", "target", "met"],
                       rows))
    c1, c2 = res["first"]["counts"], res["second"]["counts"]
    print(f"\nrun 1 by kind: {dict(sorted(c1.items()))}; client: {res['first']['client']}")
    print(f"run 2 by kind: {dict(sorted(c2.items()))}; client: {res['second']['client']}")
    if steady:
        print(f"steady by kind: {dict(sorted(steady['counts'].items()))}; "
              f"client: {steady['client']}")
    if args.json:
        write_json(args.json, {"machine": mach, "args": vars(args) | {"json": str(args.json)},
                               "table": rows, "result": res, "steady": steady,
                               "runs": [run.to_dict()] + ([steady_run.to_dict()]
                                                          if steady_run else [])})
    ok = res["first"]["campaign_matches"] and res["second"]["campaign_matches"] and (
        steady is None or steady["campaign_matches"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
