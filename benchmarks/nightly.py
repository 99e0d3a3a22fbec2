"""The nightly run costs what changed.

A campaign of N contacts (default 1,000,000) in a sandbox running in its own process,
and a CRM export of the same contacts (phones in display formats, so normalization
has work). Night 1: a full sync (nothing known yet: every row normalized and
compared; the state store records each row's hash). Night 2: the same export with 1%
of the rows changed: rows identical on both sides since night 1 are carried, only
the rest are normalized and compared; the campaign is read once, and the patches are
verified from the platform's answers. Night 3: the renames undone, with
--trust-state (no read of the campaign at all). Then the API work alone: one plain
read of the campaign and the same patches, without source, plan, state or report:
the floor of night 2 (read + patches) and of night 3 (patches). Each night runs in
its own process; the figure
is the client's time (CPU of the sync process and of any child it forks, and wall
time), as a ratio of night 1 measured in the same invocation. Target: night 2 under
a fifth of night 1.

    .venv/bin/python benchmarks/nightly.py --rows 1000000 --json /tmp/nightly.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _common import (  # noqa: E402
    Stages,
    figure,
    machine_line,
    ratio_figure,
    run_in_subprocess,
    sandbox_process,
    targets_table,
    write_json,
)

TOKEN = "nightly-token"



def contacts(n: int):
    """The campaign as the sandbox is seeded with it: the export's contacts, in E.164."""
    for i in range(n):
        exchange, line = divmod(i, 10_000)
        yield {"external_unique_id": f"c{i}", "name": f"Contact {i}",
               "email": f"contact{i}@example.com",
               "phone_number": f"+1201{200 + exchange:03d}{line:04d}"}


def write_source(path: Path, n: int, changed_every: int = 0) -> int:
    """The export: the campaign's contacts with phones as people write them; every
    `changed_every`-th row renamed. Returns the number of changed rows."""
    styles = ("({a}) {b}-{c}", "{a}.{b}.{c}", "1-{a}-{b}-{c}", "+1 {a} {b} {c}", "{a}{b}{c}")
    changed = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("external_unique_id,name,email,phone_number\n")
        for i in range(n):
            exchange, line = divmod(i, 10_000)
            phone = styles[i % len(styles)].format(a="201", b=f"{200 + exchange:03d}",
                                                   c=f"{line:04d}")
            name = f"Contact {i}"
            if changed_every and i % changed_every == 7:
                name = f"Renamed {i}"
                changed += 1
            handle.write(f"c{i},{name},contact{i}@Example.com,{phone}\n")
    return changed


def night(url: str, source: str, state: str, report: str, full_check: bool = False,
          trust_state: bool = False) -> dict:
    """One sync, as the nightly job runs it (in its own process)."""
    from connector.api.client import ApiClient
    from connector.config import Settings
    from connector.load import LoadOptions
    from connector.pipeline import sync_run
    from connector.plan import PlanOptions

    settings = Settings(base_url=url, api_user="u", api_token=TOKEN, rate_limit=100_000)
    stages = Stages()
    with stages("sync"), ApiClient(settings) as client:
        out = sync_run(source=source, campaign_id=6, mapping="generic",
                       plan_options=PlanOptions(mode="upsert"),
                       load_options=LoadOptions(chunk_size=1000, concurrency=4,
                                                first_poll=0.05, max_poll=0.5),
                       settings=settings, state_path=state, report_dir=report, client=client,
                       full_check=full_check, trust_state=trust_state)
    reasons = out.plan.rows["reason"].value_counts().to_dict()
    # CPU: this process's and its validation child's, if it forked one
    return {"exit_code": out.exit_code, "wall_s": stages.times["sync"]["seconds"],
            "cpu_s": stages.times["sync"]["cpu_seconds"],
            "reasons": {k: int(v) for k, v in reasons.items()},
            "load": out.counts.get("load", {})}


def api_floor(url: str, changed_every: int) -> dict:
    """The API work a night cannot do without, alone (in its own process): one read of
    the whole campaign, as every night that does not trust the state does once, then
    the PATCHes of the contacts night 2 changes (with the names they hold now, so the
    campaign is left as it is), four at a time through the Loader's dispatch (one
    window of them all, no state store marks). Nothing else:
    no source, no plan, no state, no report. Its CPU is the floor of night 2's (read
    and patches) and of night 3's (patches only)."""
    from concurrent.futures import ThreadPoolExecutor

    from connector.api.client import ApiClient
    from connector.api.frame import fetch_remote
    from connector.config import Settings
    from connector.load.loader import _spread

    settings = Settings(base_url=url, api_user="u", api_token=TOKEN, rate_limit=100_000)
    stages = Stages()
    with ApiClient(settings) as client:
        remote = stages.timed("read", lambda: fetch_remote(client, 6))
        number = remote["external_unique_id"].str.slice(1).astype(int)
        changed = remote[number % changed_every == 7] if changed_every else remote.iloc[:0]
        ops = list(zip(changed["remote_id"].astype(int).tolist(), changed["name"].tolist()))
        with stages("patch"), ThreadPoolExecutor(max_workers=4) as pool:  # the Loader's dispatch
            _spread(pool, 4, lambda op: client.contacts.patch(6, op[0], {"name": op[1]}), ops)
    read, patch = stages.times["read"], stages.times["patch"]
    return {"contacts": len(remote), "patches": len(ops),
            "read_cpu_s": read["cpu_seconds"], "read_wall_s": read["seconds"],
            "patch_cpu_s": patch["cpu_seconds"], "patch_wall_s": patch["seconds"],
            "cpu_s": stages.total("cpu_seconds"), "wall_s": stages.total()}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="campaign and export size")
    ap.add_argument("--changed-every", type=int, default=100,
                    help="night 2 renames every Nth row (100: 1%%)")
    ap.add_argument("--json", default=None, help="write every figure here")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp:
        tmp_path = Path(tmp)
        t = time.perf_counter()
        with sandbox_process(__file__, "contacts", args.rows, user="u", token=TOKEN) as url:
            print(f"sandbox with {args.rows:,} contacts at {url} "
                  f"({time.perf_counter() - t:.0f} s)", flush=True)
            night1_src, night2_src = tmp_path / "night1.csv", tmp_path / "night2.csv"
            write_source(night1_src, args.rows)
            changed = write_source(night2_src, args.rows, args.changed_every)
            state = str(tmp_path / "state.db")
            runs = {}
            for name, src, trust in (("night 1 (first: every row compared)", night1_src, False),
                                     ("night 2 (1% changed)", night2_src, False),
                                     ("night 3 (1% changed back, --trust-state)", night1_src,
                                      True)):
                run = run_in_subprocess(__file__, "night", {
                    "url": url, "source": str(src), "state": state,
                    "report": str(tmp_path / f"report-{len(runs)}"), "trust_state": trust})
                if not run.ok:
                    print(f"{name} failed: {run.error}", file=sys.stderr)
                    return 1
                runs[name] = {**run.result, "peak_rss_mib": run.peak_rss_mib}
                print(f"{name}: {run.result['wall_s']:.1f} s wall, "
                      f"{run.result['cpu_s']:.1f} s CPU, reasons {run.result['reasons']}",
                      flush=True)
            floor = run_in_subprocess(__file__, "api_floor",
                                      {"url": url, "changed_every": args.changed_every})
            if not floor.ok:
                print(f"the API work alone failed: {floor.error}", file=sys.stderr)
                return 1
            f = floor.result
            print(f"API work alone: one read of the campaign {f['read_wall_s']:.1f} s wall, "
                  f"{f['read_cpu_s']:.1f} s CPU; {f['patches']:,} patches "
                  f"{f['patch_wall_s']:.1f} s wall, {f['patch_cpu_s']:.1f} s CPU", flush=True)

    n1, n2, n3 = runs.values()
    carried = n2["reasons"].get("same_as_last_run", 0)

    updated = (n2["load"].get("updated", 0), n3["load"].get("updated", 0))
    rows = [
        figure("rows changed on nights 2 and 3", f"{changed:,}"),
        figure("rows carried on night 2", f"{carried:,}", f"{args.rows - changed:,}",
               met=carried == args.rows - changed),
        figure("patches on night 2 / night 3", f"{updated[0]:,} / {updated[1]:,}",
               f"{changed:,}", met=updated[0] == updated[1] == changed),
        ratio_figure("client CPU s, night 2 vs night 1", n2["cpu_s"], n1["cpu_s"], target=0.2),
        ratio_figure("client wall s, night 2 vs night 1", n2["wall_s"], n1["wall_s"],
                     target=0.2),
        ratio_figure("client CPU s, night 3 (trust) vs night 1", n3["cpu_s"], n1["cpu_s"],
                     target=0.2),
        ratio_figure("client wall s, night 3 (trust) vs night 1", n3["wall_s"], n1["wall_s"],
                     target=0.2),
        ratio_figure("client CPU s, API work alone: one read + the patches (floor of night 2)",
                     f["cpu_s"], n1["cpu_s"]),
        ratio_figure("client CPU s, API work alone: one read of the campaign",
                     f["read_cpu_s"], n1["cpu_s"]),
        ratio_figure("client CPU s, API work alone: the patches (floor of night 3)",
                     f["patch_cpu_s"], n1["cpu_s"]),
        # what a night costs over the API work it cannot do without, measured in the
        # same run: night 2 against one read + its patches, night 3 against the patches
        ratio_figure("client CPU s, night 2 vs its floor (one read + the patches)",
                     n2["cpu_s"], f["cpu_s"], target=1.5 + 1e-9),
        ratio_figure("client CPU s, night 3 (trust) vs its floor (the patches)",
                     n3["cpu_s"], f["patch_cpu_s"], target=2.5 + 1e-9),
        figure("peak RSS MiB nights 1 / 2 / 3", f"{n1['peak_rss_mib']:,.0f} / "
               f"{n2['peak_rss_mib']:,.0f} / {n3['peak_rss_mib']:,.0f}"),
    ]
    print()
    print(machine_line())
    print(targets_table(rows))
    if args.json:
        write_json(args.json, {"rows": args.rows, "changed": changed, "nights": runs,
                               "api_floor": floor.result, "table": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
