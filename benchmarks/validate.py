"""Benchmark of the validation path (what `campaign-sync validate` runs) against a
naive row-by-row pandas + phonenumbers + email-validator loop doing the same job.

    .venv/bin/python benchmarks/validate.py --rows 1000000 --baseline-rows 200000 \
        --json results.json

Generates a seeded contacts CSV (CRM-export style: mixed phone styles, mixed-case and
a few internationalized email domains, ~1% invalid phones and emails, ~0.1% duplicate
keys, names with extra spaces), writes a mapping for it, then runs each side in its own
process (peak RSS per run). The baseline may run on a prefix of the file
(--baseline-rows); throughput (rows/s) keeps the two comparable, and campaign-sync is
also run on that prefix so both valid counts are checked on the same input.

campaign-sync also runs once more on the same file with `region: {column: Country}`
(national numbers read in each row's country, written as names and codes).

Targets: campaign-sync >= 4x the baseline's rows/s; campaign-sync peak RSS < 2048 MiB;
the Country column costs at most 10% more seconds.
Exit code 0 unless a run crashed or the two disagree on the valid count.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import pstats
import random
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import email_validator
import pandas as pd
import phonenumbers

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

from connector.pipeline import validate_source  # noqa: E402
from connector.validate import write_valid  # noqa: E402

SPEED_TARGET = 4.0        # campaign-sync rows/s over the baseline's (issue 22: stays >= 4x)
RSS_TARGET_MIB = 2048.0   # campaign-sync peak RSS
COUNTRY_TARGET = 1.10     # a Country column read per row: seconds over the run without

MAPPING_YAML = """\
# written by benchmarks/validate.py for its generated contacts file
region: US
columns:
  external_unique_id: Record ID
  name: {template: "{First Name} {Last Name}"}
  email: Email
  phone_number: {coalesce: [Mobile Phone Number, Phone Number]}
required: [external_unique_id, name, phone_number]
"""

# the same mapping reading each row's national numbers in its Country column
MAPPING_COUNTRY_YAML = MAPPING_YAML.replace("region: US", "region: {column: Country, default: US}")

HEADER = ["Record ID", "First Name", "Last Name", "Email", "Phone Number",
          "Mobile Phone Number", "Company", "City", "Created Date", "Country"]
# how exports write the country of a US contact, and of the international numbers'
US_COUNTRY = ["United States", "US", "USA", "", "United States of America", "us", "U.S."]
INTL_COUNTRY = {"+44": "United Kingdom", "+33": "France", "+49": "Deutschland",
                "+61": "AU", "+52": "Mexico"}

# ------------------------------------------------------------------ data

AREA_CODES = [201, 202, 206, 212, 213, 214, 303, 305, 312, 404, 415, 503, 512, 602, 617,
              646, 702, 713, 718, 773, 808, 818, 917, 949]
FIRST = ["James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
         "William", "Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
         "Thomas", "Sarah", "Charles", "Karen", "Christopher", "Nancy", "Daniel", "Lisa",
         "Matthew", "Betty", "Anthony", "Margaret", "Mark", "Sandra", "Donald", "Ashley",
         "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
         "Kevin", "Carol", "Brian", "Amanda", "George", "Melissa", "Edward", "Deborah",
         "Mary Ann", "Jean-Luc", "José", "Zoë", "Chloé", "Søren", "Łukasz", "Anaïs"]
LAST = ["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
        "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
        "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
        "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
        "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
        "O'Brien", "van der Berg", "Müller", "Núñez", "Kowalski", "Dubois", "Rossi"]
DOMAINS = ["gmail.com", "Gmail.com", "GMAIL.COM", "yahoo.com", "Yahoo.com", "outlook.com",
           "Outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net",
           "Acme-Corp.com", "globex.io", "Initech.com", "umbrella.co", "hooli.xyz",
           "mail.Example-Partners.org", "stark-industries.com"]
IDN_EMAILS = ["{u}@bücher.de", "{u}@münchen-reisen.de", "{u}@exämple.com",
              "josé.{u}@correo.es", "{u}@españa-viajes.es", "zoë.{u}@café.fr"]
BAD_EMAILS = ["{u}@", "@gmail.com", "{u}@@gmail.com", "{u}.@gmail.com", "{u}@gmail",
              "{u} smith@yahoo.com", "{u}@gmail..com", "{u}gmail.com", "{u}@-bad-.com",
              "{u}@yahoo,com"]
BAD_PHONES = ["12345", "555-CALL-NOW", "000-000-0000", "(555) 555-5555",
              "n/a", "123-4567", "+1 999 123 4567", "20147169920000", "call me"]
COMPANIES = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries",
             "Wayne Enterprises", "Soylent", "", ""]
CITIES = ["New York", "Chicago", "Houston", "Miami", "Seattle", "Boston", "Las Vegas",
          "Los Angeles", "San Francisco", "Austin", "Denver", "Atlanta", ""]

US_STYLES = ["({a}) {e}-{l}", "{a}.{e}.{l}", "1-{a}-{e}-{l}", "+1 {a} {e} {l}", "{a}{e}{l}",
             "{a}-{e}-{l}", "+1 ({a}) {e}-{l}", "+1{a}{e}{l}"]


def valid_exchanges() -> list[tuple[int, int]]:
    """(area code, exchange) pairs phonenumbers calls valid: exchange 2xx-9xx, no 555
    and no N11, checked with one line number each."""
    pairs = []
    for a in AREA_CODES:
        for e in range(200, 1000):
            if e == 555 or e % 100 == 11:
                continue
            num = phonenumbers.parse(f"+1{a}{e}4567")
            if phonenumbers.is_valid_number(num):
                pairs.append((a, e))
    return pairs


def intl_numbers(rng: random.Random, n: int) -> list[str]:
    """`n` distinct international numbers in the usual written styles."""
    out: set[str] = set()
    makers = [
        lambda: f"+44 20 7{rng.randint(100, 999)} {rng.randint(1000, 9999)}",   # London
        lambda: f"+44 7{rng.randint(400, 999)} {rng.randint(100000, 999999)}",  # UK mobile
        lambda: f"+33 1 {rng.randint(40, 49)} {rng.randint(10, 99)} {rng.randint(10, 99)} "
                f"{rng.randint(10, 99)}",                                        # Paris
        lambda: f"+49 30 {rng.randint(2000000, 9999999)}",                       # Berlin
        lambda: f"+61 2 {rng.randint(8000, 9999)} {rng.randint(1000, 9999)}",   # Sydney
        lambda: f"+52 55 {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",  # CDMX
    ]
    while len(out) < n:
        out.add(rng.choice(makers)())
    return sorted(out)


def _ascii(s: str) -> str:
    """jose.nunez for José Núñez: CRM mailboxes are nearly always plain ASCII."""
    s = s.replace("ø", "o").replace("ł", "l")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def _messy(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.02:
        return f"  {s} "
    if r < 0.04:
        return s.replace(" ", "   ") if " " in s else f"{s}  "
    if r < 0.05:
        return f"\t{s}"
    return s


def generate(path: Path, rows: int, seed: int = 20240601) -> dict:
    """Write the contacts CSV; return what went into it (counts by kind) and a
    sample check of the generated phones with phonenumbers."""
    rng = random.Random(seed)
    countries = random.Random(seed + 1)  # its own stream: the other columns stay as they were
    pairs = valid_exchanges()
    # distinct valid US numbers: a sample of (pair, line) without replacement
    us_codes = rng.sample(range(len(pairs) * 10000), rows)
    n_intl = max(1, rows // 200)
    intl = intl_numbers(rng, n_intl)
    ids = rng.sample(range(10_000_000, 10_000_000 + rows * 5), rows)
    kinds = {"rows": rows, "dup_key_rows": 0, "bad_phone": 0, "no_phone": 0, "intl_phone": 0,
             "bad_email": 0, "idn_email": 0, "no_email": 0, "messy_name": 0}
    intl_i = 0
    sample_us: list[str] = []
    sample_intl: list[str] = []
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        keys: list[str] = []
        for i in range(rows):
            if i > 10 and rng.random() < 0.001:
                key = keys[rng.randrange(len(keys))]
                kinds["dup_key_rows"] += 1
            else:
                key = f"CRM-{ids[i]:08d}"
            keys.append(key)
            first, last = rng.choice(FIRST), rng.choice(LAST)
            mf, ml = _messy(rng, first), _messy(rng, last)
            kinds["messy_name"] += (mf != first) or (ml != last)
            r = rng.random()
            if r < 0.010:
                phone = rng.choice(BAD_PHONES)
                kinds["bad_phone"] += 1
            elif r < 0.013:
                phone = ""
                kinds["no_phone"] += 1
            elif r < 0.018 and intl_i < len(intl):
                phone = intl[intl_i]
                intl_i += 1
                kinds["intl_phone"] += 1
                if len(sample_intl) < 500:
                    sample_intl.append(phone)
            else:
                code = us_codes[i]
                a, e = pairs[code // 10000]
                phone = rng.choice(US_STYLES).format(a=a, e=e, l=f"{code % 10000:04d}")
                if len(sample_us) < 2000:
                    sample_us.append(phone)
            if rng.random() < 0.03 and phone:
                phone = f" {phone} "
            # coalesce: the mobile column when filled, else the phone column
            if rng.random() < 0.6:
                mobile, landline = phone, ""
            else:
                mobile, landline = "", phone
            u = f"{first.split()[0].lower()}.{last.split()[-1].lower()}{i % 9973}"
            u = _ascii(u.replace("'", ""))
            r = rng.random()
            if r < 0.05:
                email = ""
                kinds["no_email"] += 1
            elif r < 0.06:
                email = rng.choice(BAD_EMAILS).format(u=u)
                kinds["bad_email"] += 1
            elif r < 0.063:
                email = rng.choice(IDN_EMAILS).format(u=u)
                kinds["idn_email"] += 1
            else:
                local = u if rng.random() < 0.7 else u.title()
                email = f"{local}@{rng.choice(DOMAINS)}"
            created = f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            country = (INTL_COUNTRY.get(phone.strip()[:3]) if phone.strip().startswith("+")
                       and not phone.strip().startswith("+1") else None)
            w.writerow([key, mf, ml, email, landline, mobile, rng.choice(COMPANIES),
                        rng.choice(CITIES), created, country or countries.choice(US_COUNTRY)])
    kinds["distinct_keys"] = len(set(keys))
    us_ok = sum(phonenumbers.is_valid_number(phonenumbers.parse(p, "US")) for p in sample_us)
    intl_ok = sum(phonenumbers.is_valid_number(phonenumbers.parse(p, "US"))
                  for p in sample_intl)
    kinds["sample_check"] = {"us_checked": len(sample_us), "us_valid": us_ok,
                             "intl_checked": len(sample_intl), "intl_valid": intl_ok}
    if us_ok != len(sample_us):
        raise SystemExit(f"generator: {len(sample_us) - us_ok} of {len(sample_us)} sampled "
                         "US numbers are not valid for phonenumbers")
    return kinds


def prefix_copy(src: Path, dst: Path, rows: int) -> None:
    """The header and the first `rows` data rows of `src` (no quoted newlines in it)."""
    with open(src, encoding="utf-8") as fin, open(dst, "w", encoding="utf-8") as fout:
        for n, line in enumerate(fin):
            if n > rows:
                break
            fout.write(line)


# ------------------------------------------------------------------ the two runs


def run_campaign_sync(csv_path: str, mapping_path: str, out_csv: str) -> dict:
    """The `validate` command's path: read, map, normalize, validate, write valid rows."""
    t0 = time.perf_counter()
    v = validate_source(csv_path, mapping_path)
    t1 = time.perf_counter()
    written = write_valid(v.result, out_csv)
    t2 = time.perf_counter()
    return {"rows": int(v.result.rows), "valid": int(len(v.result.valid)),
            "rejected_rows": int(v.result.rejected_count), "written": int(written),
            "reasons": dict(v.result.rejected_rows_by_reason),
            "validate_seconds": t1 - t0, "write_seconds": t2 - t1}


def run_baseline(csv_path: str, out_csv: str) -> dict:
    """The naive way: read everything as str, then one Python iteration per row."""
    df = pd.read_csv(csv_path, dtype=str)
    cols = list(df.columns)
    i_key, i_first, i_last = (cols.index(c) for c in ("Record ID", "First Name", "Last Name"))
    i_email, i_phone, i_mobile = (cols.index(c) for c in
                                  ("Email", "Phone Number", "Mobile Phone Number"))
    E164 = phonenumbers.PhoneNumberFormat.E164

    def text(x: object) -> str:
        return x.strip() if isinstance(x, str) else ""

    valid: list[tuple[int, str, str, str, str]] = []
    rejects: list[tuple[int, str, str]] = []
    seen: set[str] = set()
    dup_keys: set[str] = set()
    for n, row in enumerate(df.itertuples(index=False, name=None)):
        line = n + 2
        problems = []
        key = text(row[i_key])
        if not key:
            problems.append("missing_key")
        elif key in seen:
            dup_keys.add(key)
        else:
            seen.add(key)
        first = row[i_first] if isinstance(row[i_first], str) else ""
        last = row[i_last] if isinstance(row[i_last], str) else ""
        name = " ".join(f"{first} {last}".split())
        if not name:
            problems.append("missing_name")
        phone = text(row[i_mobile]) or text(row[i_phone])
        e164 = ""
        if not phone:
            problems.append("missing_phone")
        else:
            try:
                num = phonenumbers.parse(phone, "US")
                if phonenumbers.is_valid_number(num):
                    e164 = phonenumbers.format_number(num, E164)
                else:
                    problems.append("invalid_phone")
            except phonenumbers.NumberParseException:
                problems.append("invalid_phone")
        email = text(row[i_email])
        if email:
            try:
                email = email_validator.validate_email(
                    email, check_deliverability=False).normalized
            except email_validator.EmailNotValidError:
                problems.append("invalid_email")
        if problems:
            rejects.append((line, key, ",".join(problems)))
        else:
            valid.append((line, key, name, email, e164))
    # a key written twice rejects every row with it; then the first clean row keeps a phone
    kept: list[tuple[int, str, str, str, str]] = []
    phones: set[str] = set()
    for rec in valid:
        if rec[1] in dup_keys:
            rejects.append((rec[0], rec[1], "duplicate_key"))
        elif rec[4] in phones:
            rejects.append((rec[0], rec[1], "duplicate_phone"))
        else:
            phones.add(rec[4])
            kept.append(rec)
    with open(out_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["external_unique_id", "name", "email", "phone_number", "outbound_number"])
        for _, key, name, email, e164 in kept:
            w.writerow([key, name, email, e164, ""])
    return {"rows": len(df), "valid": len(kept), "rejected_rows": len({r[0] for r in rejects}),
            "written": len(kept)}


# ------------------------------------------------------------------ main


def profile_campaign_sync(csv_path: Path, mapping_path: Path, out_csv: Path,
                          top: int = 15) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run_campaign_sync(str(csv_path), str(mapping_path), str(out_csv))
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=None,
                    help="rows for the naive baseline (a prefix of the file; "
                         "default: --rows)")
    ap.add_argument("--out-dir", type=Path, default=None,
                    help="where the CSV, mapping and outputs go (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--profile", action="store_true",
                    help="also profile campaign-sync in this process on the baseline "
                         "rows (top 15 cumulative)")
    args = ap.parse_args(argv)
    rows = args.rows
    brows = min(args.baseline_rows or rows, rows)

    tmp = None
    if args.out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-validate-")
        out_dir = Path(tmp.name)
    else:
        out_dir = args.out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
    here = Path(__file__)
    mach = machine()
    print(f"machine: {machine_line(mach)}")

    csv_path = out_dir / f"contacts_{rows}.csv"
    mapping_path = out_dir / "contacts.yaml"
    mapping_path.write_text(MAPPING_YAML, encoding="utf-8")
    country_mapping = out_dir / "contacts-country.yaml"
    country_mapping.write_text(MAPPING_COUNTRY_YAML, encoding="utf-8")
    t0 = time.perf_counter()
    gen = generate(csv_path, rows, args.seed)
    print(f"generated {rows:,} rows in {time.perf_counter() - t0:.1f} s -> {csv_path} "
          f"({csv_path.stat().st_size / 2**20:.0f} MiB)")
    print("  " + ", ".join(f"{k} {v}" for k, v in gen.items() if k != "sample_check"))
    sc = gen["sample_check"]
    print(f"  phonenumbers sample check: US {sc['us_valid']}/{sc['us_checked']} valid, "
          f"international {sc['intl_valid']}/{sc['intl_checked']} valid")

    base_csv = csv_path
    if brows < rows:
        base_csv = out_dir / f"contacts_{brows}.csv"
        prefix_copy(csv_path, base_csv, brows)

    crashed = []
    print(f"campaign-sync on {rows:,} rows ...", flush=True)
    cs = run_in_subprocess(here, "run_campaign_sync", {
        "csv_path": str(csv_path), "mapping_path": str(mapping_path),
        "out_csv": str(out_dir / "valid_campaign_sync.csv")})
    if not cs.ok:
        crashed.append(("campaign-sync", cs.error))
    print(f"campaign-sync on {rows:,} rows, national numbers read in each row's Country ...",
          flush=True)
    cc = run_in_subprocess(here, "run_campaign_sync", {
        "csv_path": str(csv_path), "mapping_path": str(country_mapping),
        "out_csv": str(out_dir / "valid_campaign_sync_country.csv")})
    if not cc.ok:
        crashed.append(("campaign-sync (country column)", cc.error))
    cs_same = cs
    if brows < rows:
        print(f"campaign-sync on the baseline's {brows:,} rows ...", flush=True)
        cs_same = run_in_subprocess(here, "run_campaign_sync", {
            "csv_path": str(base_csv), "mapping_path": str(mapping_path),
            "out_csv": str(out_dir / "valid_campaign_sync_prefix.csv")})
        if not cs_same.ok:
            crashed.append(("campaign-sync (prefix)", cs_same.error))
    print(f"baseline on {brows:,} rows ...", flush=True)
    bl = run_in_subprocess(here, "run_baseline", {
        "csv_path": str(base_csv), "out_csv": str(out_dir / "valid_baseline.csv")})
    if not bl.ok:
        crashed.append(("baseline", bl.error))
    for who, err in crashed:
        print(f"{who} crashed:\n{err}", file=sys.stderr)
    if crashed:
        return 1

    cs_rps = rows / cs.seconds
    bl_rps = brows / bl.seconds
    ratio = cs_rps / bl_rps
    same_valid = (cs_same.result["valid"] == bl.result["valid"]
                  and cc.result["valid"] == cs.result["valid"])
    country_ratio = cc.seconds / cs.seconds
    speed_met = ratio >= SPEED_TARGET
    rss_met = cs.peak_rss_mib < RSS_TARGET_MIB
    table = format_table(
        ["figure", "campaign-sync", "baseline", "ratio", "target", "met"],
        [figure("rows", fmt_num(rows), fmt_num(brows)),
         figure("seconds", fmt_num(cs.seconds, 1), fmt_num(bl.seconds, 1)),
         figure("rows/s", fmt_num(cs_rps), fmt_num(bl_rps), f"{ratio:.1f}x",
                f">= {SPEED_TARGET:.0f}x", speed_met),
         figure("peak RSS MiB", fmt_num(cs.peak_rss_mib), fmt_num(bl.peak_rss_mib),
                f"{cs.peak_rss_mib / bl.peak_rss_mib:.2f}x", f"< {RSS_TARGET_MIB:.0f}", rss_met),
         figure(f"valid rows (of {brows:,})", fmt_num(cs_same.result["valid"]),
                fmt_num(bl.result["valid"]), "", "equal", same_valid),
         figure("with a Country column: seconds", fmt_num(cc.seconds, 1), "",
                f"{country_ratio:.2f}x of campaign-sync", "<= 1.10x",
                country_ratio <= COUNTRY_TARGET)])
    print()
    print(table)
    print()
    if brows < rows:
        print(f"note: the baseline ran on the first {brows:,} of the {rows:,} rows; "
              "rows/s compares throughput. campaign-sync on those same rows: "
              f"{cs_same.result['valid']:,} valid, {brows / cs_same.seconds:,.0f} rows/s.")
    print(f"campaign-sync on {rows:,} rows: {cs.result['valid']:,} valid, "
          f"{cs.result['rejected_rows']:,} rejected ({cs.result['reasons']}); "
          f"validate {cs.result['validate_seconds']:.1f} s + write "
          f"{cs.result['write_seconds']:.1f} s; RSS after imports "
          f"{cs.rss_before_call_mib:.0f} MiB")

    results = {
        "benchmark": "validate", "machine": mach, "rows": rows, "baseline_rows": brows,
        "seed": args.seed, "generated": gen,
        "campaign_sync": cs.to_dict(), "campaign_sync_on_baseline_rows": cs_same.to_dict(),
        "campaign_sync_country_column": cc.to_dict(),
        "baseline": bl.to_dict(),
        "figures": {"campaign_sync_rows_per_s": cs_rps, "baseline_rows_per_s": bl_rps,
                    "ratio": ratio, "campaign_sync_peak_rss_mib": cs.peak_rss_mib,
                    "baseline_peak_rss_mib": bl.peak_rss_mib,
                    "valid_campaign_sync": cs_same.result["valid"],
                    "valid_baseline": bl.result["valid"],
                    "country_column_ratio": country_ratio},
        "targets": {"speed_ratio": SPEED_TARGET, "speed_met": speed_met,
                    "rss_mib": RSS_TARGET_MIB, "rss_met": rss_met,
                    "valid_counts_equal": same_valid},
    }
    if args.json:
        write_json(args.json, results)
        print(f"results -> {args.json}")
    if args.profile:
        print(f"\ncProfile of campaign-sync on {brows:,} rows (top 15 cumulative):")
        print(profile_campaign_sync(base_csv, mapping_path, out_dir / "valid_profile.csv"))
    if tmp is not None:
        tmp.cleanup()
    if not same_valid:
        print("ERROR: the two runs disagree on the number of valid rows", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
