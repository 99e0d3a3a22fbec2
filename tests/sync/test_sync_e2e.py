"""`sync` end to end against the sandbox, over real HTTP: the campaign's final contents
checked contact by contact (upsert, mirror, a second run that writes nothing), the
loader under faults (injected 5xx, a strict rate limit, slow and failing jobs, a
duplicate phone hidden in an import), the per-campaign lock, and resuming after the
process was killed with SIGKILL."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
from cli_helpers import MAPPING, TOKEN, env_for
from click.testing import CliRunner
from killing import kill_when

from connector.api.client import ApiClient
from connector.api.http import RetryPolicy
from connector.cli import cli
from connector.config import Settings
from connector.load import Loader, LoadOptions
from connector.pipeline import sync_run
from connector.plan import PlanOptions
from connector.sandbox import SandboxServer
from connector.state import StateStore

CID = 6
WRITES = ("add", "import", "patch", "delete")
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ helpers


def phone(exchange: int, n: int) -> str:
    return f"+1201{exchange}{n:04d}"


def national(e164: str) -> str:
    """+12014710005 -> (201) 471-0005, the way a CRM export writes it."""
    d = e164[2:]
    return f"({d[:3]}) {d[3:6]}-{d[6:]}"


def settings(sandbox: SandboxServer, rate: float = 1000.0) -> Settings:
    return Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN, rate_limit=rate)



def write_source(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name", "email", "phone"])
        out.writerows(rows)
    return path


def sync(sandbox: SandboxServer, tmp: Path, source: Path, mode: str, report: Path, *,
         client: ApiClient | None = None, chunk_size: int = 1000, concurrency: int = 4,
         rate: float = 1000.0, force: bool = False, max_delete_fraction: float = 0.10,
         poll: tuple[float, float] = (0.05, 0.25), settle_reads: int = 6):
    return sync_run(
        source=str(source), campaign_id=CID, mapping=str(tmp / "m.yaml"),
        plan_options=PlanOptions(mode=mode, max_delete_fraction=max_delete_fraction,
                                 force=force),
        load_options=LoadOptions(chunk_size=chunk_size, concurrency=concurrency,
                                 job_timeout=60, first_poll=poll[0], max_poll=poll[1],
                                 settle_reads=settle_reads),
        settings=settings(sandbox, rate), state_path=str(tmp / "state.db"),
        report_dir=str(report), client=client)


def write_count(sandbox: SandboxServer) -> dict[str, int]:
    counts = sandbox.counts
    return {k: counts[k] for k in WRITES}


def check_contents(sandbox: SandboxServer, expected: dict[str, tuple[str, str, str]],
                   unmanaged: list[dict]) -> None:
    """Every expected keyed contact exactly once with its values, no other keyed
    contact, the unmanaged contacts untouched, no phone twice."""
    contacts = sandbox.contacts(CID)
    keyed = [c for c in contacts if c.get("external_unique_id")]
    keys = [c["external_unique_id"] for c in keyed]
    assert len(keys) == len(set(keys)), "a key is held by two contacts"
    phones = [c["phone_number"] for c in contacts]
    assert len(phones) == len(set(phones)), "a phone is held by two contacts"
    got = {c["external_unique_id"]: (c["name"], c["email"] or "", c["phone_number"])
           for c in keyed}
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
    assert not missing, f"{len(missing)} contacts missing, e.g. {missing[:5]}"
    assert not extra, f"{len(extra)} contacts not in the source, e.g. {extra[:5]}"
    assert not wrong, ("wrong values, e.g. "
                       + "; ".join(f"{k}: {got[k]} != {expected[k]}" for k in wrong[:5]))
    hand = sorted((c for c in contacts if not c.get("external_unique_id")),
                  key=lambda c: c["id"])
    assert hand == sorted(unmanaged, key=lambda c: c["id"])


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_bytes().decode("utf-8-sig").splitlines()))


def content_set(sandbox: SandboxServer) -> list[tuple[str, str, str, str]]:
    return sorted((c.get("external_unique_id") or "", c.get("name") or "",
                   c.get("email") or "", c.get("phone_number") or "")
                  for c in sandbox.contacts(CID))


# ------------------------------------------------------------------ 1. upsert, mirror


N = 3000
REMOVED = range(2850, 3000)          # 150 contacts no longer in the source
DIALING_CHANGED = (0, 1, 2)         # changed in the source, but being dialed
DIALING_REMOVED = (2850, 2851)      # removed from the source, but being dialed
FREED_BY = (5, 8, 11, 14, 17)       # their phone changes; an add takes the old one


def seeded_row(i: int) -> dict:
    return {"external_unique_id": f"k{i}", "name": f"Name {i}",
            "email": f"user{i}@example.com", "phone_number": phone(471, i)}


def big_world(sandbox: SandboxServer, tmp: Path):
    """3,000 keyed contacts and 20 unmanaged; a source with 200 adds, 300 changes and
    150 removals. Returns (source, final values in upsert, in mirror, unmanaged)."""
    seeded = sandbox.seed(CID, [seeded_row(i) for i in range(N)]
                          + [{"name": f"By Hand {j}", "phone_number": phone(473, j)}
                             for j in range(20)], check=False)
    unmanaged = [c for c in seeded if not c.get("external_unique_id")]
    ids = {c["external_unique_id"]: c["id"] for c in seeded if c.get("external_unique_id")}
    for i in DIALING_CHANGED + DIALING_REMOVED:
        sandbox.set_status(CID, ids[f"k{i}"], "Dialing")
    unmanaged = sandbox.contacts(CID)
    unmanaged = [c for c in unmanaged if not c.get("external_unique_id")]

    rows: list[tuple[str, str, str, str]] = []
    final: dict[str, tuple[str, str, str]] = {}
    for i in range(N):
        name, email, ph = f"Name {i}", f"user{i}@example.com", phone(471, i)
        if i in REMOVED:
            final[f"k{i}"] = (name, email, ph)      # upsert keeps it
            continue
        src_name, src_email, src_phone = name, email, national(ph) if i % 2 else ph
        if i < 300:
            if i % 3 == 0:
                name = f"Renamed {i}"
                src_name = f"  Renamed   {i} "
            elif i % 3 == 1:
                email = f"New.{i}@example.org"
                src_email = f"New.{i}@Example.ORG"
            else:
                ph = phone(474, i)
                src_phone = national(ph)
        rows.append((f"k{i}", src_name, src_email, src_phone))
        final[f"k{i}"] = ((f"Name {i}", f"user{i}@example.com", phone(471, i))
                          if i in DIALING_CHANGED else (name, email, ph))
    for j in range(200):
        ph = phone(471, FREED_BY[j]) if j < len(FREED_BY) else phone(475, j)
        rows.append((f"a{j}", f"Added {j}", f"added{j}@example.net", national(ph)))
        final[f"a{j}"] = (f"Added {j}", f"added{j}@example.net", ph)
    source = write_source(tmp / "s.csv", rows)
    mirror = {k: v for k, v in final.items()
              if not (k.startswith("k") and int(k[1:]) in REMOVED)
              or int(k[1:]) in DIALING_REMOVED}
    return source, final, mirror, unmanaged


def test_upsert_then_mirror_of_3000_contacts_exact_and_idempotent(sandbox, tmp_path):
    (tmp_path / "m.yaml").write_text(MAPPING, encoding="utf-8")
    source, final, mirror, unmanaged = big_world(sandbox, tmp_path)
    sandbox.reset_counts()

    # upsert: 200 adds, 297 updates (3 deferred: being dialed), nothing deleted
    out = sync(sandbox, tmp_path, source, "upsert", tmp_path / "r1")
    assert out.exit_code == 0, out.messages
    check_contents(sandbox, final, unmanaged)
    assert write_count(sandbox)["delete"] == 0
    assert write_count(sandbox)["patch"] == 297
    load = out.counts["load"]
    assert (load["added"], load["updated"], load["deleted"], load["failed"]) == (200, 297, 0, 0)
    assert out.counts["unconfirmed"] == 0

    actions = read_csv(tmp_path / "r1" / "actions.csv")
    by_key = {a["external_unique_id"]: a for a in actions if a.get("line")}
    src_actions = {}
    for a in by_key.values():
        src_actions[a["action"]] = src_actions.get(a["action"], 0) + 1
    assert src_actions == {"add": 200, "update": 297, "unchanged": 2850 - 300,
                           "deferred": 3}
    assert all(by_key[f"k{i}"]["action"] == "deferred" for i in DIALING_CHANGED)
    assert by_key["k3"]["changed"] == "name" and by_key["k4"]["changed"] == "email"
    assert by_key["k5"]["changed"] == "phone_number"
    ops = read_csv(tmp_path / "r1" / "operations.csv")
    kinds = {}
    for op in ops:
        kinds[op["kind"]] = kinds.get(op["kind"], 0) + 1
        assert (op["status"], op["confirmed"], op["error"]) == ("done", "yes", ""), op
    assert kinds == {"update": 297, "add": 200}
    added = {op["external_unique_id"]: op["remote_id"] for op in ops if op["kind"] == "add"}
    ids = {c["external_unique_id"]: str(c["id"]) for c in sandbox.contacts(CID)
           if c.get("external_unique_id")}
    assert all(ids[k] == rid for k, rid in added.items())

    # the same source again: not one write
    sandbox.reset_counts()
    out = sync(sandbox, tmp_path, source, "upsert", tmp_path / "r2")
    assert out.exit_code == 0
    assert write_count(sandbox) == dict.fromkeys(WRITES, 0)
    check_contents(sandbox, final, unmanaged)

    # mirror: the 148 removed contacts not being dialed are deleted
    sandbox.reset_counts()
    out = sync(sandbox, tmp_path, source, "mirror", tmp_path / "r3")
    assert out.exit_code == 0, out.messages
    assert write_count(sandbox) == {"add": 0, "import": 0, "patch": 0, "delete": 148}
    check_contents(sandbox, mirror, unmanaged)
    ops = read_csv(tmp_path / "r3" / "operations.csv")
    assert len(ops) == 148 and {op["kind"] for op in ops} == {"delete"}
    assert all(op["status"] == "done" and op["confirmed"] == "yes" for op in ops)
    remote_actions = [a for a in read_csv(tmp_path / "r3" / "actions.csv")
                      if a["action"] == "delete"]
    assert sorted(a["external_unique_id"] for a in remote_actions) == sorted(
        f"k{i}" for i in REMOVED if i not in DIALING_REMOVED)

    # the dialer is done with them: the deferred writes go out now, and only they
    for c in sandbox.contacts(CID):
        if c["status"] == "Dialing":
            sandbox.set_status(CID, c["id"], "Finished")
    sandbox.reset_counts()
    out = sync(sandbox, tmp_path, source, "mirror", tmp_path / "r5")
    assert out.exit_code == 0
    assert write_count(sandbox) == {"add": 0, "import": 0, "patch": 3, "delete": 2}
    exact = {k: v for k, v in mirror.items() if k not in {f"k{i}" for i in DIALING_REMOVED}}
    exact["k0"] = ("Renamed 0", "user0@example.com", phone(471, 0))
    exact["k1"] = ("Name 1", "New.1@example.org", phone(471, 1))
    exact["k2"] = ("Name 2", "user2@example.com", phone(474, 2))
    check_contents(sandbox, exact, unmanaged)


# ------------------------------------------------------------------ 2. faults


def small_world(sandbox: SandboxServer, tmp: Path, *, n: int = 300, adds: int = 100,
                changed: int = 20, removed: int = 10):
    """n keyed contacts and 3 unmanaged; the source changes `changed` names, drops the
    last `removed` and adds `adds`. Returns (source, final mirror values, unmanaged)."""
    (tmp / "m.yaml").write_text(MAPPING, encoding="utf-8")
    seeded = sandbox.seed(CID, [seeded_row(i) for i in range(n)]
                          + [{"name": f"By Hand {j}", "phone_number": phone(473, j)}
                             for j in range(3)], check=False)
    unmanaged = [c for c in seeded if not c.get("external_unique_id")]
    rows, final = [], {}
    for i in range(n - removed):
        name = f"Changed {i}" if i < changed else f"Name {i}"
        rows.append((f"k{i}", name, f"user{i}@example.com", national(phone(471, i))))
        final[f"k{i}"] = (name, f"user{i}@example.com", phone(471, i))
    for j in range(adds):
        rows.append((f"a{j}", f"Added {j}", f"added{j}@example.net", phone(475, j)))
        final[f"a{j}"] = (f"Added {j}", f"added{j}@example.net", phone(475, j))
    return write_source(tmp / "s.csv", rows), final, unmanaged


def test_faults_errors_rate_limit_failing_jobs_and_a_hidden_duplicate(tmp_path, monkeypatch):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[CID], error_rate=0.1, seed=11,
                       rate_limit=5, job_seconds=1.0, fail_jobs=2) as sandbox:
        source, final, unmanaged = small_world(sandbox, tmp_path, n=150, adds=52, changed=8,
                                               removed=4)
        dup_key = "a51"                 # in the second import file (of 2)
        dup_phone = final.pop(dup_key)[2]
        hidden = []
        real_adds = Loader.adds

        def adds_after_someone_took_a_phone(self):
            # between the plan and the imports, a contact with the phone of one of
            # the adds appears in the campaign (typed in by hand in the platform)
            hidden.extend(sandbox.seed(CID, [{"name": "Typed In", "phone_number": dup_phone}]))
            return real_adds(self)

        monkeypatch.setattr(Loader, "adds", adds_after_someone_took_a_phone)
        # 3 requests/s: well under the sandbox's 5, so no import is answered 429 (see
        # test_an_import_retried_after_429_sends_its_file_again)
        client = ApiClient(settings(sandbox, rate=3),
                           retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.05), seed=3)
        try:
            out = sync(sandbox, tmp_path, source, "mirror", tmp_path / "r", client=client,
                       chunk_size=50, poll=(0.5, 0.5), settle_reads=2)
        finally:
            client.close()
        assert sandbox.counts["error_injected"] > 0
        jobs = sandbox.jobs
        assert sum(1 for j in jobs if j["status"] == "failed") >= 2   # forced, the dup
        check_contents(sandbox, final, unmanaged + hidden)
        assert out.exit_code == 3                        # one row refused by the platform
        load = out.counts["load"]
        assert load["rejected_by_platform"] == 1 and load["pending"] == 0
        assert (load["added"], load["updated"], load["deleted"]) == (51, 8, 4)

        rejects = read_csv(tmp_path / "r" / "rejects.csv")
        refused = [r for r in rejects if r["reason"] == "platform_rejected"]
        assert len(refused) == 1, rejects
        assert refused[0]["id"] == dup_key
        assert "DuplicateContactPhoneOnCampaign" in refused[0]["hint"]
        ops = read_csv(tmp_path / "r" / "operations.csv")
        failed = [op for op in ops if op["status"] != "done"]
        assert [(op["kind"], op["external_unique_id"]) for op in failed] == [("add", dup_key)]
        assert "DuplicateContactPhoneOnCampaign" in failed[0]["error"]


def test_an_import_retried_after_429_sends_its_file_again(sandbox):
    sandbox.fail_next(1, status=429, retry_after="0", kinds=["import"])
    with ApiClient(settings(sandbox), retry=RetryPolicy(backoff_base=0.01,
                                                        backoff_cap=0.05)) as client:
        answer = client.contacts.import_file(CID, [
            {"external_unique_id": "r1", "name": "Retried", "phone_number": phone(476, 1)}])
        assert client.jobs.wait(CID, answer.job_id, timeout=5).status == "completed"
    assert [c["external_unique_id"] for c in sandbox.contacts(CID)] == ["r1"]


# ------------------------------------------------------------------ 3. lock


def test_a_held_lock_stops_a_second_run_and_a_stale_one_is_taken_over(sandbox, tmp_path):
    source, final, unmanaged = small_world(sandbox, tmp_path, n=40, adds=5, changed=3,
                                           removed=0)
    state = tmp_path / "state.db"
    holder = subprocess.Popen(["sleep", "30"])
    try:
        with StateStore(state) as other:
            run_id = other.start_run(CID, "sync", source=str(source), mode="upsert")
            other.acquire_lock(CID, run_id)
            other.db.execute("UPDATE locks SET pid=? WHERE campaign_id=?", (holder.pid, CID))
        sandbox.reset_counts()
        args = ["sync", str(source), "--campaign-id", str(CID), "-m",
                str(tmp_path / "m.yaml"), "--state", str(state), "--report",
                str(tmp_path / "r1"), "--rate-limit", "1000"]
        result = CliRunner().invoke(cli, args, env=env_for(sandbox))
        assert result.exit_code == 1, result.output
        assert f"run {run_id}" in result.output and str(holder.pid) in result.output
        assert write_count(sandbox) == dict.fromkeys(WRITES, 0)
        with StateStore(state) as other:
            assert [r.status for r in other.runs(CID)] == ["running"]   # no run started
            lock = other.db.execute("SELECT pid, run_id FROM locks").fetchall()
            assert [tuple(r) for r in lock] == [(holder.pid, run_id)]
    finally:
        holder.kill()
        holder.wait()

    # the holder is gone: its lock is stale and taken over; its run is interrupted
    args[args.index(str(tmp_path / "r1"))] = str(tmp_path / "r2")
    result = CliRunner().invoke(cli, args, env=env_for(sandbox))
    assert result.exit_code == 0, result.output
    check_contents(sandbox, {k: v for k, v in final.items()}, unmanaged)
    with StateStore(state) as store:
        runs = {r.id: r for r in store.runs(CID)}
        assert runs[run_id].status == "interrupted"
        assert [r.status for r in runs.values() if r.id != run_id] == ["done"]
        assert store.db.execute("SELECT COUNT(*) FROM locks").fetchone()[0] == 0


# ------------------------------------------------------------------ 4. resume after SIGKILL


def kill_world(sandbox: SandboxServer, tmp: Path):
    return small_world(sandbox, tmp, n=400, adds=150, changed=60, removed=20)


def cli_args(tmp: Path, source: Path, report: str, rate: str = "100") -> list[str]:
    return ["-q", "sync", str(source), "--campaign-id", str(CID), "-m",
            str(tmp / "m.yaml"), "--mode", "mirror", "--state", str(tmp / "state.db"),
            "--report", str(tmp / report), "--chunk-size", "50", "--rate-limit", rate]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The campaign after an uninterrupted run, on a fresh sandbox with the same data."""
    tmp = tmp_path_factory.mktemp("reference")
    with SandboxServer(user="acme", token=TOKEN, campaigns=[CID], job_seconds=0) as sandbox:
        source, final, unmanaged = kill_world(sandbox, tmp)
        result = CliRunner().invoke(cli, cli_args(tmp, source, "r", rate="1000"), env=env_for(sandbox))
        assert result.exit_code == 0, result.output
        check_contents(sandbox, final, unmanaged)
        return content_set(sandbox)


@pytest.mark.parametrize("kind,after", [("delete", 8), ("patch", 25), ("import", 1)])
def test_a_run_killed_with_sigkill_is_finished_by_the_next(reference, tmp_path, kind, after):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[CID], latency_ms=5,
                       job_seconds=0.3) as sandbox:
        source, final, unmanaged = kill_world(sandbox, tmp_path)
        seen = kill_when(sandbox, kind, after, cli_args(tmp_path, source, "r1"),
                         env_for(sandbox), tmp_path)
        assert seen[kind] >= after

        result = CliRunner().invoke(cli, cli_args(tmp_path, source, "r2"),
                                    env=env_for(sandbox))
        assert result.exit_code == 0, result.output
        check_contents(sandbox, final, unmanaged)
        assert content_set(sandbox) == reference
        with StateStore(tmp_path / "state.db") as store:
            runs = store.runs(CID)
            assert [r.status for r in runs] == ["done", "interrupted"]
        # and a third run finds nothing to do
        sandbox.reset_counts()
        result = CliRunner().invoke(cli, cli_args(tmp_path, source, "r3"),
                                    env=env_for(sandbox))
        assert result.exit_code == 0, result.output
        assert write_count(sandbox) == dict.fromkeys(WRITES, 0)
