"""Benchmark of a plan at scale: a 1,000,000-row source CSV against a 1,000,000-contact
campaign (read, validate, fetch the campaign, plan), against a naive row-by-row loop.

    .venv/bin/python benchmarks/plan_scale.py --rows 1000000 --baseline-rows 200000 \
        --json results.json

The campaign lives in a sandbox of its own process (no latency, no rate limit), seeded
with N contacts: keys ``c{i}``, names, emails, distinct valid US phones. The source CSV
(columns external_unique_id,name,email,phone_number; mapping `generic`) is a changed
copy: 1% of the names changed, 0.5% of the contacts removed, 0.5% new rows, phones in
display styles (``(201) 471-6992``, ``201.471.6992``, ``+1 201 471 6992``, ...), some
emails with an upper-case domain, some names with extra spaces, 0.2% invalid phones
and 0.1% invalid emails (rejected rows: their contacts are kept).

Each side runs in its own process (run_in_subprocess), the sandbox in a third:

- **campaign-sync**: `prepare_source` (read + map), `validate_prepared` (normalize +
  validate), `fetch_remote` (every page), `make_plan` (mirror), each stage timed
  (wall and CPU); the peak RSS is the whole plan's. An extra run fetches the campaign
  in a thread while the main thread reads and validates.
- **baseline**: `pandas.read_csv(dtype=str)`, one iteration per row with
  `phonenumbers.parse/is_valid_number/format_number(E164)` and
  `email_validator.validate_email(check_deliverability=False)`; the campaign fetched
  with the same client into a dict key -> contact dict, each phone normalized with
  phonenumbers; a dict diff (adds, updates field by field, deletes).

With --baseline-rows M < N, the baseline (and campaign-sync once more, for the count
check) runs on a dataset of M rows made the same way; rows/s keeps the figures
comparable. Both must agree on adds, updates and deletes (exit 1 if not).

Targets: campaign-sync total < 60 s and peak RSS < 3 GiB at N rows; campaign-sync
>= 3x the baseline's rows/s. The exit code is 0 whether targets are met or not.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# imported here, so the measured calls do not pay for them (run_in_subprocess)
import email_validator  # noqa: E402
import pandas as pd  # noqa: E402
import phonenumbers  # noqa: E402
from _common import (  # noqa: E402
    Stages,
    figure,
    fmt_num,
    format_table,
    machine,
    machine_line,
    run_in_subprocess,
    sandbox_process,
    write_json,
)

from connector.api.client import ApiClient  # noqa: E402
from connector.api.frame import fetch_remote  # noqa: E402
from connector.config import Settings  # noqa: E402
from connector.extract import prepare_source  # noqa: E402
from connector.pipeline import make_plan  # noqa: E402
from connector.plan import PlanOptions  # noqa: E402
from connector.validate import validate_prepared, validate_while  # noqa: E402

USER, TOKEN = "u", "t"
#: this file, whose campaign_contacts seeds the sandbox (memory.py uses it too)
PLAN_SCALE = Path(__file__).resolve()
CAMPAIGN_ID = 6
TOTAL_TARGET_S = 60.0
RSS_TARGET_MIB = 3072.0
SPEED_TARGET = 3.0
HEADER = ["external_unique_id", "name", "email", "phone_number"]

AREA_CODES = [201, 202, 206, 212, 213, 214, 303, 305, 312, 404, 415, 503, 512, 602, 617,
              646, 702, 713, 718, 773, 808, 818, 917, 949]
FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
         "William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
         "Thomas", "Sarah", "Charles", "Karen", "Daniel", "Lisa", "Matthew", "Betty",
         "José", "Zoë", "Søren", "Anaïs"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Rodriguez", "Martinez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson",
        "Martin", "Lee", "Perez", "Thompson", "White", "O'Brien", "Müller", "Núñez"]
DOMAINS = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com",
           "acme-corp.com", "globex.io", "initech.com"]
US_STYLES = ["({a}) {e}-{l}", "{a}.{e}.{l}", "1-{a}-{e}-{l}", "+1 {a} {e} {l}", "{a}{e}{l}",
             "{a}-{e}-{l}", "+1 ({a}) {e}-{l}", "+1{a}{e}{l}"]
BAD_PHONES = ["12345", "555-CALL-NOW", "n/a", "123-4567", "call me"]
BAD_EMAILS = ["{u}@", "@gmail.com", "{u}@@gmail.com", "{u}@gmail", "{u}gmail.com"]

_PAIRS: list[tuple[int, int]] | None = None


# ------------------------------------------------------------------ data

def valid_pairs() -> list[tuple[int, int]]:
    """(area code, exchange) pairs phonenumbers calls valid (2xx-9xx, no 555, no N11)."""
    global _PAIRS
    if _PAIRS is None:
        pairs = []
        for a in AREA_CODES:
            for e in range(200, 1000):
                if e == 555 or e % 100 == 11:
                    continue
                if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{a}{e}4567")):
                    pairs.append((a, e))
        assert (len(pairs) * 10000) % 7919, "the stride must be prime to the number count"
        _PAIRS = pairs
    return _PAIRS


def phone_parts(i: int) -> tuple[int, int, str]:
    """The i-th distinct valid US number as (area, exchange, line)."""
    pairs = valid_pairs()
    code = (i * 7919) % (len(pairs) * 10000)  # 7919 is prime to the pair count * 10,000
    a, e = pairs[code // 10000]
    return a, e, f"{code % 10000:04d}"


def contact(i: int) -> dict[str, str]:
    """Campaign contact i (the source's row i before changes)."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    a, e, line = phone_parts(i)
    return {"external_unique_id": f"c{i}", "name": f"{first} {last}",
            "email": f"{first[0].lower()}.{i}@{DOMAINS[i % len(DOMAINS)]}",
            "phone_number": f"+1{a}{e}{line}"}


def campaign_contacts(rows: int) -> Iterator[dict[str, str]]:
    for i in range(rows):
        yield contact(i)


def write_source(path: Path, rows: int) -> dict[str, int]:
    """The source CSV: the campaign's rows minus 0.5% removed, 1% of the names changed,
    0.5% new rows, phones in display styles, some invalid rows. Returns what went in."""
    kinds = {"rows": 0, "removed": 0, "changed_name": 0, "new": 0, "bad_phone": 0,
             "bad_email": 0, "upper_domain": 0, "spaced_name": 0}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(rows + rows // 200):
            if i < rows and i % 200 == 7:
                kinds["removed"] += 1
                continue
            c = contact(i)
            name, email = c["name"], c["email"]
            a, e, line = phone_parts(i)
            phone = US_STYLES[i % len(US_STYLES)].format(a=a, e=e, l=line)
            if i >= rows:
                kinds["new"] += 1
            elif i % 100 == 3:
                name = f"{name} Jr"
                kinds["changed_name"] += 1
            if i % 500 == 11:
                phone = BAD_PHONES[i % len(BAD_PHONES)]
                kinds["bad_phone"] += 1
            elif i % 1000 == 13:
                email = BAD_EMAILS[i % len(BAD_EMAILS)].format(u=f"x{i}")
                kinds["bad_email"] += 1
            elif i % 20 == 1:
                local, _, dom = email.partition("@")
                email = f"{local}@{dom.capitalize()}"
                kinds["upper_domain"] += 1
            if i % 50 == 9:
                name = f" {name.replace(' ', '  ')} "
                kinds["spaced_name"] += 1
            w.writerow([c["external_unique_id"], name, email, phone])
            kinds["rows"] += 1
    kinds["bytes"] = path.stat().st_size
    return kinds


def sandbox(rows: int) -> Any:
    """The sandbox, seeded with `campaign_contacts(rows)`, in a process of its own:
    ``with sandbox(rows) as url``."""
    return sandbox_process(PLAN_SCALE, "campaign_contacts", rows, user=USER, token=TOKEN,
                           campaign=CAMPAIGN_ID)


def _client(url: str) -> Any:
    return ApiClient(Settings(base_url=url, api_user=USER, api_token=TOKEN,
                              rate_limit=100000))


# ------------------------------------------------------------------ measured calls

def _plan_counts(plan: Any) -> dict[str, int]:
    c = plan.counts()
    return {"adds": c["source"]["add"], "updates": c["source"]["update"],
            "deletes": c["remote"]["deleted"], "rejected": c["source"]["rejected"],
            "unchanged": c["source"]["unchanged"], "deferred": c["source"]["deferred"],
            "remote_contacts": c["remote_contacts"]}


def measure_campaign_sync(csv_path: str, url: str, parallel: bool = True) -> dict[str, Any]:
    """read + map, validate, fetch, plan: each stage's wall and CPU seconds.

    With `parallel` (what `plan` and `sync` do), the campaign is read while a child
    process validates (`validate_while`): one stage "validate + fetch", whose CPU
    seconds are this process's; the child's peak RSS is reported beside. Without it,
    each stage runs in turn, to show what each costs."""
    import resource

    stages = Stages()
    timed = stages.timed

    def fetch() -> Any:
        with _client(url) as client:
            return fetch_remote(client, CAMPAIGN_ID)

    info, src, mapping, mapped = timed("read", lambda: prepare_source(csv_path, "generic"))
    if parallel:
        validated, remote = timed("validate + fetch", lambda: validate_while(
            info, src, mapping, mapped, fetch))
    else:
        validated = timed("validate", lambda: validate_prepared(info, src, mapping, mapped))
        remote = timed("fetch", fetch)
    plan = timed("plan", lambda: make_plan(validated, remote,
                                           PlanOptions(mode="mirror", max_delete_fraction=0.5)))
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"stages": stages.times, "counts": _plan_counts(plan),
            "source_rows": int(len(mapped)), "remote_rows": int(len(remote)),
            "valid_rows": int(len(validated.result.valid)), "refused": plan.refused,
            "child_peak_rss_mib": round(child_kib / 1024, 1)}


def measure_baseline(csv_path: str, url: str) -> dict[str, Any]:
    """The naive way: pandas read, row-by-row phonenumbers + email-validator, the
    campaign into a dict of dicts (phones normalized one by one), a dict diff."""
    stages = Stages()

    def e164(raw: str) -> str | None:
        try:
            num = phonenumbers.parse(raw, "US")
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(num):
            return None
        return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)

    with stages("read"):
        df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    source: dict[str, dict[str, str]] = {}
    rejected: set[str] = set()
    seen_phones: set[str] = set()
    with stages("validate"):
        validate_rows(df, e164, source, rejected, seen_phones)
    remote: dict[str, dict[str, Any]] = {}
    with stages("fetch"), _client(url) as client:
        for page in client.contacts.iter_pages(CAMPAIGN_ID):
            for obj in page:
                key = (obj.get("external_unique_id") or "").strip()
                raw = obj.get("phone_number") or ""
                remote[key] = {"id": obj.get("id"),
                               "name": " ".join((obj.get("name") or "").split()),
                               "email": (obj.get("email") or "").strip(),
                               "phone_number": e164(raw) or raw.strip()}
    with stages("plan"):
        adds = updates = deletes = 0
        for key, mine in source.items():
            theirs = remote.get(key)
            if theirs is None:
                adds += 1
            elif any(v and v != theirs[f] for f, v in mine.items()):
                updates += 1
        for key in remote:
            if key and key not in source and key not in rejected:
                deletes += 1
    return {"stages": stages.times, "counts": {"adds": adds, "updates": updates,
                                               "deletes": deletes, "rejected": len(rejected)},
            "source_rows": int(len(df)), "remote_rows": len(remote),
            "valid_rows": len(source)}


def validate_rows(df: pd.DataFrame, e164: Any, source: dict[str, dict[str, str]],
                  rejected: set[str], seen_phones: set[str]) -> None:
    """The baseline's validation: one row at a time."""
    for row in df.itertuples(index=False):
        key = (row.external_unique_id or "").strip()
        name = " ".join((row.name or "").split())
        phone = e164((row.phone_number or "").strip())
        email = (row.email or "").strip()
        ok = bool(key and name and phone)
        if ok and email:
            try:
                email = email_validator.validate_email(
                    email, check_deliverability=False).normalized
            except email_validator.EmailNotValidError:
                ok = False
        if ok and (key in source or phone in seen_phones):
            ok = False
        if not ok:
            rejected.add(key)
            continue
        seen_phones.add(phone)
        source[key] = {"name": name, "email": email, "phone_number": phone}


# ------------------------------------------------------------------ driver

COMPARED = ("adds", "updates", "deletes")


def run_case(rows: int, work: Path, *, baseline: bool, stages: bool,
             timeout: float | None = None) -> dict[str, Any]:
    """Generate `rows`, start a sandbox, run campaign-sync (and the others) on it."""
    csv_path = work / f"source-{rows}.csv"
    t0 = time.perf_counter()
    gen = write_source(csv_path, rows)
    out: dict[str, Any] = {"rows": rows, "input": gen,
                           "generate_seconds": round(time.perf_counter() - t0, 1)}
    t0 = time.perf_counter()
    with sandbox(rows) as url:
        out["sandbox_seed_seconds"] = round(time.perf_counter() - t0, 1)
        args = {"csv_path": str(csv_path), "url": url}
        out["campaign_sync"] = run_in_subprocess(__file__, "measure_campaign_sync", args,
                                                 timeout=timeout).to_dict()
        if stages:
            out["stages"] = run_in_subprocess(__file__, "measure_campaign_sync",
                                              {**args, "parallel": False},
                                              timeout=timeout).to_dict()
        if baseline:
            out["baseline"] = run_in_subprocess(__file__, "measure_baseline", args,
                                                timeout=timeout).to_dict()
    return out


def _stage_text(run: dict[str, Any], name: str) -> str:
    s = (run.get("result") or {}).get("stages", {}).get(name)
    if not s:
        return ""
    return f"{s['seconds']:.1f} s ({s['cpu_seconds']:.1f} CPU)"


def report(big: dict[str, Any], small: dict[str, Any]) -> tuple[str, dict[str, Any], bool]:
    """The table, the figures, and whether the counts agree."""
    cs = big["campaign_sync"]
    bl = small["baseline"]
    cs_small = small["campaign_sync"]
    n, m = big["rows"], small["rows"]
    cs_total = cs["seconds"]
    bl_total = bl["seconds"]
    cs_rate = cs["result"]["source_rows"] / cs_total if cs_total else None
    bl_rate = bl["result"]["source_rows"] / bl_total if bl_total else None
    ratio = cs_rate / bl_rate if cs_rate and bl_rate else None
    cs_counts = {k: cs_small["result"]["counts"][k] for k in COMPARED}
    bl_counts = {k: bl["result"]["counts"][k] for k in COMPARED}
    agree = cs_counts == bl_counts
    rows = [figure("rows (source / campaign)", f"{fmt_num(cs['result']['source_rows'])} / "
                   f"{fmt_num(cs['result']['remote_rows'])}",
                   f"{fmt_num(bl['result']['source_rows'])} / "
                   f"{fmt_num(bl['result']['remote_rows'])}")]
    seq = big.get("stages") if big.get("stages", {}).get("ok") else None
    for stage in ("read", "validate + fetch", "plan"):
        rows.append(figure(f"{stage} s (CPU s)", _stage_text(cs, stage),
                           _stage_text(bl, stage) if stage != "validate + fetch" else
                           f"validate {_stage_text(bl, 'validate')}, "
                           f"fetch {_stage_text(bl, 'fetch')}"))
    if seq is not None:
        rows.append(figure("stages one after the other: read / validate / fetch / plan s",
                           " / ".join(f"{seq['result']['stages'][k]['seconds']:.1f}"
                                      for k in ("read", "validate", "fetch", "plan"))
                           + f" = {seq['seconds']:.1f}"))
    rows.append(figure("total s", f"{cs_total:.1f}", f"{bl_total:.1f}",
                       target=f"< {TOTAL_TARGET_S:.0f}", met=cs_total < TOTAL_TARGET_S))
    rows.append(figure("CPU s", f"{cs['cpu_seconds']:.1f}", f"{bl['cpu_seconds']:.1f}"))
    rows.append(figure("source rows/s", fmt_num(cs_rate), fmt_num(bl_rate),
                       "" if ratio is None else f"{ratio:.1f}x", f">= {SPEED_TARGET:.0f}x",
                       met=bool(ratio and ratio >= SPEED_TARGET)))
    peak_ratio = cs["peak_rss_mib"] / bl["peak_rss_mib"] if bl["peak_rss_mib"] else None
    rows.append(figure("peak RSS MiB", fmt_num(cs["peak_rss_mib"]), fmt_num(bl["peak_rss_mib"]),
                       "" if peak_ratio is None else f"{peak_ratio:.2f}x",
                       f"< {RSS_TARGET_MIB:.0f}", met=cs["peak_rss_mib"] < RSS_TARGET_MIB))
    rows.append(figure("peak RSS MiB of the validation process",
                       fmt_num(cs["result"].get("child_peak_rss_mib"))))
    label = "" if m == n else f" (at {fmt_num(m)} rows)"
    rows.append(figure(f"adds / updates / deletes{label}",
                       " / ".join(fmt_num(cs_counts[k]) for k in COMPARED),
                       " / ".join(fmt_num(bl_counts[k]) for k in COMPARED), target="equal",
                       met=agree))
    if m != n:
        c = cs["result"]["counts"]
        rows.append([f"adds / updates / deletes (at {fmt_num(n)} rows)",
                     " / ".join(fmt_num(c[k]) for k in COMPARED), "", "", "", ""])
    table = format_table(["figure", "campaign-sync", "baseline", "ratio", "target", "met"],
                         rows)
    figures = {"campaign_sync_seconds": cs_total, "baseline_seconds": bl_total,
               "campaign_sync_rows_per_s": cs_rate, "baseline_rows_per_s": bl_rate,
               "ratio": ratio, "campaign_sync_peak_rss_mib": cs["peak_rss_mib"],
               "baseline_peak_rss_mib": bl["peak_rss_mib"], "counts_agree": agree,
               "campaign_sync_counts": cs_counts, "baseline_counts": bl_counts}
    return table, figures, agree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000,
                    help="campaign contacts (the source has about as many rows)")
    ap.add_argument("--baseline-rows", type=int, default=None,
                    help="run the baseline on a dataset of this many rows (default: --rows)")
    ap.add_argument("--no-stages", action="store_true",
                    help="skip the run that times each stage one after the other")
    ap.add_argument("--out-dir", help="where the CSVs go (default: a temporary directory)")
    ap.add_argument("--json", help="write every figure and run to this file")
    args = ap.parse_args(argv)
    base_rows = min(args.baseline_rows or args.rows, args.rows)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="bench-plan-", dir=args.out_dir) as tmp:
        work = Path(tmp)
        big = run_case(args.rows, work, baseline=base_rows == args.rows,
                       stages=not args.no_stages)
        small = big if base_rows == args.rows else run_case(base_rows, work, baseline=True,
                                                            stages=False)
    runs = [r for case in (big, small) for k, r in case.items()
            if k in ("campaign_sync", "baseline", "stages")]
    failed = [r for r in runs if not r["ok"]]
    for r in failed:
        print(f"{r['func']} failed:\n{r['error']}", file=sys.stderr)
    if any(not case.get(k, {"ok": True})["ok"] for case in (big, small)
           for k in ("campaign_sync", "baseline")):
        return 1
    table, figures, agree = report(big, small)
    print(table)
    print()
    c = big["campaign_sync"]["result"]["counts"]
    print(f"campaign-sync at {fmt_num(args.rows)}: {fmt_num(c['adds'])} adds, "
          f"{fmt_num(c['updates'])} updates, {fmt_num(c['deletes'])} deletes, "
          f"{fmt_num(c['rejected'])} rejected, {fmt_num(c['unchanged'])} unchanged, "
          f"{fmt_num(c['deferred'])} deferred")
    if small is not big:
        c2, b2 = small["campaign_sync"]["result"]["counts"], small["baseline"]["result"]["counts"]
        print(f"at {fmt_num(base_rows)}: campaign-sync {c2}; baseline {b2}")
    print(f"input: {big['input']}; generated in {big['generate_seconds']} s, sandbox seeded "
          f"and up in {big['sandbox_seed_seconds']} s")
    print(f"Machine: {machine_line(info)}")
    if args.json:
        write_json(args.json, {"figures": figures, "machine": info, "rows": args.rows,
                               "baseline_rows": base_rows, "full": big,
                               "baseline_case": None if small is big else small})
    if not agree:
        print("the two disagree on adds / updates / deletes", file=sys.stderr)
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
