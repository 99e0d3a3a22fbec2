"""The API token never leaks: not in any output, log line (text or JSON, at any
verbosity), exception, report file or the state store.

With a distinctive token, every fault of the hostile-network suite
(tests/network/netfaults.py: fake-platform answers, sandbox faults, connections that
never reach the API, unknown campaigns and jobs) and a selection of the corpus of
broken sources (tests/corpus/) is run through the command line against servers on
127.0.0.1, and afterwards everything a run left is searched for the token, its
Basic credentials in base64 and the token in base64:

* stdout and stderr (also what reached the file descriptors directly), at -v -v and
  --log-format json -v -v (supersets of -v and of plain json, which the servers that
  echo the credentials back are run at too);
* every exception campaign-sync created during the run, also those it caught and
  recorded, and the one the command line reports;
* every file under the run's directory (the working directory, reports, the state
  store, the log file of a run whose stderr went to a file), as bytes, and the state
  store once more table by table through sqlite3.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import connector.cli
from connector.errors import CampaignSyncError
from connector.sandbox import SandboxServer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "network"))
sys.path.insert(0, str(HERE / "corpus"))
import netfaults  # noqa: E402  (the hostile-network suite's faults and helpers)
import test_corpus as corpus  # noqa: E402  (the corpus cases and how they are set up)
from netfaults import quick_backoff  # noqa: E402, F401  (autouse: short backoffs)

CANARY = "TOKEN-LEAK-CANARY-5d1f0c9a77e2"
USER = "acme"
CID = netfaults.CID
#: what must never appear, by name
FORMS = {
    "token": CANARY,
    "Basic credentials in base64": base64.b64encode(f"{USER}:{CANARY}".encode()).decode(),
    "token in base64": base64.b64encode(CANARY.encode()).decode().rstrip("="),
}

DEEP = [pytest.param(["-v", "-v"], id="text-vv"),
        pytest.param(["--log-format", "json", "-v", "-v"], id="json-vv")]
EVERY = [pytest.param(["-v"], id="text-v"), *DEEP[:1],
         pytest.param(["--log-format", "json"], id="json"), *DEEP[1:]]
ECHOING = sorted(name for name in netfaults.FAKE_FAULTS if name.startswith("token-echoed"))
#: faults that take seconds of real waiting (timeouts, deadlines, Retry-After): played
#: at one of the two verbosities each, which take the same paths through the code
SLOW = {"never-answers", "trickled-body", "unanswered-import", "trickled-import-answer",
        "slow-answers", "sandbox-rate-limit", "job-never-ends"}


def played(names: object) -> list[Any]:
    """(name, opts) for every fault: both verbosities, or one for a slow fault."""
    params, turn = [], 0
    for name in sorted(names):  # type: ignore[call-overload]
        if name in SLOW:
            opts = DEEP[turn % 2]
            turn += 1
            params.append(pytest.param(name, opts.values[0], id=f"{name}-{opts.id}"))
        else:
            params += [pytest.param(name, o.values[0], id=f"{name}-{o.id}") for o in DEEP]
    return params


# corpus cases: unusable sources and mappings (exit 2) and rows rejected (exit 3)
CORPUS_REFUSED = ["csv_truncated_inside_open_quote", "json_truncated", "xlsx_truncated_zip",
                  "mapping_column_not_in_source", "mapping_alias_bomb",
                  "source_does_not_exist"]
CORPUS_REJECTED = ["every_reject_reason", "formula_injection_csv", "xlsx_formulas",
                   "mixed_crlf_lf_cr", "name_255_256_chars"]
CASES = {case["name"]: case for case in corpus.CASES}


# ------------------------------------------------------------------ finding the token


def found_in(data: str | bytes) -> list[str]:
    """The names of the forms of the token in `data`."""
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return [name for name, form in FORMS.items() if form.encode() in raw]


class Exceptions:
    """Every CampaignSyncError created while installed, and what the CLI reported."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.texts: list[str] = []
        original_init = CampaignSyncError.__init__
        original_fail = connector.cli._fail
        texts = self.texts

        def init(self: CampaignSyncError, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            texts.append(f"{type(self).__name__}: {self} {args!r} {kwargs!r}")

        def fail(exc: BaseException, code: int) -> None:
            seen: set[int] = set()
            cur: BaseException | None = exc
            while cur is not None and id(cur) not in seen:
                seen.add(id(cur))
                texts.append(f"{type(cur).__name__}: {cur} {cur.args!r} {vars(cur)!r}")
                cur = cur.__cause__ or cur.__context__
            original_fail(exc, code)

        monkeypatch.setattr(CampaignSyncError, "__init__", init)
        monkeypatch.setattr(connector.cli, "_fail", fail)


def sqlite_dump(path: Path) -> str:
    """Every table of a SQLite file, row by row (empty when the file is no database)."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return "\n".join(db.iterdump())
    except sqlite3.DatabaseError:
        return ""


def everything_left(root: Path) -> Iterator[tuple[str, bytes]]:
    """(where, content) of every file under root, and of every SQLite table."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            yield str(path), data
            if data.startswith(b"SQLite format 3\x00"):
                yield f"{path} (tables)", sqlite_dump(path).encode()


def assert_no_leak(root: Path, outputs: dict[str, str], exceptions: list[str]) -> None:
    """Neither the outputs nor the exceptions nor any file under root hold the token."""
    leaks = []
    sources: list[tuple[str, str | bytes]] = list(outputs.items())
    sources += [("an exception", text) for text in exceptions]
    sources += list(everything_left(root))
    for where, data in sources:
        for form in found_in(data):
            leaks.append(f"the {form} in {where}")
    assert not leaks, "\n".join(leaks)


# ------------------------------------------------------------------ running


class Runner:
    """Runs the command line in a directory of its own and checks what it left."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, capfd: Any) -> None:
        self.root = root
        self.capfd = capfd
        self.exceptions = Exceptions(monkeypatch)
        self.outputs: dict[str, str] = {}
        self.monkeypatch = monkeypatch
        self.count = 0
        monkeypatch.chdir(root)  # anything written to a default place lands here too

    def settings(self, env: dict[str, str] | Any) -> None:
        for name, value in dict(env).items():
            self.monkeypatch.setenv(name, value)

    def conn(self, url: str, *extra: str) -> list[str]:
        return ["--base-url", url, "--api-user", USER, "--api-token", CANARY,
                "--rate-limit", "1000", *extra]

    def __call__(self, opts: list[str], args: list[str]) -> netfaults.Run:
        self.count += 1
        result = CliRunner().invoke(connector.cli.cli, opts + args, catch_exceptions=True)
        run = netfaults.Run(result, opts + args)
        tag = f"run {self.count} ({' '.join(opts + args[:1])})"
        self.outputs[f"stdout of {tag}"] = run.out
        self.outputs[f"stderr of {tag}"] = run.err
        fd = self.capfd.readouterr()
        self.outputs[f"fd output of {tag}"] = fd.out + fd.err
        assert not re.search(r"(?m)^Traceback \(most recent call last\)", run.text), run
        assert result.exception is None or isinstance(result.exception, SystemExit), run
        if "json" in opts:
            for line in run.err.splitlines():
                if line.strip():
                    json.loads(line)
        return run

    def sync(self, opts: list[str], url: str, source: Path, *extra: str,
             report: str = "report") -> netfaults.Run:
        return self(opts, ["sync", str(source), "--campaign-id", str(CID), "-m", "generic",
                           "--state", str(self.root / "state" / "state.db"),
                           "--report", str(self.root / report), "--mode", "mirror",
                           "--force", *self.conn(url, *extra)])

    def check(self) -> None:
        assert self.count, "nothing was run"
        assert_no_leak(self.root, self.outputs, self.exceptions.texts)


@pytest.fixture
def runner(tmp_path, monkeypatch, capfd):
    root = tmp_path / "run"
    root.mkdir()
    return Runner(root, monkeypatch, capfd)


@pytest.fixture
def sandbox():
    with SandboxServer(user=USER, token=CANARY, campaigns=[CID], job_seconds=0) as server:
        yield server


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory):
    cert, key = netfaults.make_cert(tmp_path_factory.mktemp("tls"))
    with SandboxServer(user=USER, token=CANARY, campaigns=[CID], job_seconds=0,
                       certfile=str(cert), keyfile=str(key)) as server:
        yield server, cert


def seeded_source(sandbox: SandboxServer, root: Path) -> Path:
    """Campaign 1-20; source: 1-5 renamed, 6-18 kept, 40-44 new (19 and 20 deleted)."""
    netfaults.seed(sandbox, netfaults.rows_for(list(range(1, 21))))
    want = (netfaults.rows_for(list(range(1, 6)), suffix=" renamed")
            + netfaults.rows_for(list(range(6, 19))) + netfaults.rows_for(list(range(40, 45))))
    return netfaults.write_source(root / "source.csv", want)


# ------------------------------------------------------------------ the faults


def test_every_fault_of_the_network_suite_is_played():
    """The lists below are the network suite's own: a fault added there is played here."""
    assert len(netfaults.FAKE_FAULTS) >= 20 and len(netfaults.SANDBOX_FAULTS) >= 14
    assert ECHOING and set(netfaults.CONNECT_FAULTS) >= {"connection-refused", "dns-failure"}
    assert all(name in CASES for name in CORPUS_REFUSED + CORPUS_REJECTED)


@pytest.mark.parametrize(("name", "opts"), played(set(netfaults.FAKE_FAULTS) - set(ECHOING)))
def test_a_misbehaving_platform(runner, name, opts):
    fault = netfaults.FAKE_FAULTS[name]
    runner.settings(fault.env)
    source = netfaults.write_source(runner.root / "source.csv", netfaults.rows_for([1]))
    with fault.platform() as fake:
        run = runner.sync(opts, fake.url, source, "--concurrency", "1")
    assert run.code in (1, 3), run
    runner.check()


@pytest.mark.parametrize("opts", EVERY)
@pytest.mark.parametrize("name", ECHOING)
def test_a_platform_that_echoes_the_credentials(runner, name, opts):
    """The server puts the token (and the Authorization header) in its error bodies and
    headers: sync, export and jobs leave them nowhere."""
    fault = netfaults.FAKE_FAULTS[name]
    runner.settings(fault.env)
    source = netfaults.write_source(runner.root / "source.csv", netfaults.rows_for([1, 2]))
    with fault.platform() as fake:
        run = runner.sync(opts, fake.url, source, "--concurrency", "1")
        assert run.code in (1, 3), run
        runner(opts, ["export", "--campaign-id", str(CID), "--output",
                      str(runner.root / "out.csv"), *runner.conn(fake.url)])
        runner(opts, ["jobs", "--campaign-id", str(CID), "1", *runner.conn(fake.url)])
        runner(opts, ["runs", "--show", "1", "--state",
                      str(runner.root / "state" / "state.db")])
        echoed = [h for h in fake.authorized if h]
    assert echoed and all(FORMS["Basic credentials in base64"] in h for h in echoed)
    runner.check()


@pytest.mark.parametrize(("name", "opts"), played(netfaults.SANDBOX_FAULTS))
def test_a_faulty_sandbox_then_a_run_that_resumes(runner, sandbox, name, opts):
    fault = netfaults.SANDBOX_FAULTS[name]
    runner.settings(fault.env)
    source = seeded_source(sandbox, runner.root)
    with fault.playing(sandbox):
        runner.sync(opts, sandbox.url, source, *fault.extra, "--job-timeout", "1")
    runner(opts, ["runs", "--show", "1", "--state", str(runner.root / "state" / "state.db")])
    if "json" in opts or name in SLOW:  # the next run, which finishes what was left, once
        # the platform is back, with the token it had (a revoked one stays revoked)
        sandbox.start()
        sandbox.set_faults(latency_ms=0, rate_limit=None, job_seconds=0)
        sandbox.finish_jobs()
        runner.sync(opts, sandbox.url, source, report="again")
    runner.check()


@pytest.mark.parametrize("opts", DEEP)
@pytest.mark.parametrize("name", sorted(netfaults.CONNECT_FAULTS))
def test_a_connection_that_never_reaches_the_api(runner, sandbox, tls_sandbox, name, opts):
    tls, cert = tls_sandbox
    url = netfaults.CONNECT_FAULTS[name](tls_url=tls.url, plain_url=sandbox.url)
    extra = ["--ca-bundle", str(cert)] if name in netfaults.WITH_CA_BUNDLE else []
    source = netfaults.write_source(runner.root / "source.csv", netfaults.rows_for([1]))
    assert runner.sync(opts, url, source, *extra).code == 1
    assert runner(opts, ["export", "--campaign-id", str(CID), "--output",
                         str(runner.root / "out.csv"), *runner.conn(url, *extra)]).code == 1
    runner.check()


@pytest.mark.parametrize("opts", DEEP)
def test_unknown_campaigns_and_jobs(runner, sandbox, opts):
    source = netfaults.write_source(runner.root / "source.csv", netfaults.rows_for([1]))
    assert netfaults.CAMPAIGN_COMMANDS == ["export", "plan", "sync"]
    runs = [
        runner(opts, ["export", "--campaign-id", "999", "--output",
                      str(runner.root / "o.csv"), *runner.conn(sandbox.url)]),
        runner(opts, ["plan", str(source), "--campaign-id", "999", "-m", "generic",
                      "--report", str(runner.root / "plan"), *runner.conn(sandbox.url)]),
        runner(opts, ["sync", str(source), "--campaign-id", "999", "-m", "generic",
                      "--state", str(runner.root / "state.db"), "--report",
                      str(runner.root / "sync"), *runner.conn(sandbox.url)]),
        runner(opts, ["jobs", "--campaign-id", str(CID), "4242", *runner.conn(sandbox.url)]),
    ]
    # an unknown job is reported with the others (exit 3), not a failure of the command
    assert [run.code for run in runs] == [1, 1, 1, 3], runs
    runner.check()


# ------------------------------------------------------------------ the corpus


def corpus_params() -> list[Any]:
    """Rejected rows at both verbosities; refused files (nothing is sent, nothing is
    written) at one each, in turn."""
    params = [pytest.param(name, DEEP[i % 2].values[0], id=f"{name}-{DEEP[i % 2].id}")
              for i, name in enumerate(CORPUS_REFUSED)]
    params += [pytest.param(name, o.values[0], id=f"{name}-{o.id}")
               for name in CORPUS_REJECTED for o in DEEP]
    return params


@pytest.mark.parametrize(("name", "opts"), corpus_params())
def test_a_corpus_case_through_plan_and_sync(runner, sandbox, name, opts):
    case = CASES[name]
    source = corpus._source(case, runner.root)
    mapping = corpus._mapping(case, runner.root)
    common = ["--campaign-id", str(CID), "--mapping", mapping, *runner.conn(sandbox.url)]
    planned = runner(opts, ["plan", str(source), "--report", str(runner.root / "plan"),
                            *common])
    synced = runner(opts, ["sync", str(source), "--report", str(runner.root / "sync"),
                           "--state", str(runner.root / "state" / "state.db"), *common])
    assert planned.code == synced.code == case["exit"], (planned, synced)
    runner.check()


# ------------------------------------------------------------------ a log file


@pytest.mark.parametrize(("name", "opts"), [
    ("token-echoed-in-401", ["--log-format", "json", "-v", "-v"]),
    ("token-echoed-in-a-failed-job", ["-v", "-v"]),
])
def test_a_log_file_of_a_real_process(tmp_path, name, opts):
    """The installed command in a process of its own, stderr going to a log file, the
    token in the environment as a scheduler would pass it."""
    fault = netfaults.FAKE_FAULTS[name]
    root = tmp_path / "run"
    (root / "logs").mkdir(parents=True)
    source = netfaults.write_source(root / "source.csv", netfaults.rows_for([1]))
    env = {**os.environ, **fault.env, "CAMPAIGN_SYNC_API_TOKEN": CANARY,
           "CAMPAIGN_SYNC_API_USER": USER, "PYTHONUNBUFFERED": "1"}
    with fault.platform() as fake, open(root / "logs" / "sync.log", "wb") as log, \
            open(root / "logs" / "sync.out", "wb") as out:
        env["CAMPAIGN_SYNC_BASE_URL"] = fake.url
        done = subprocess.run(
            [sys.executable, "-m", "connector.cli", *opts, "sync", str(source),
             "--campaign-id", str(CID), "-m", "generic", "--state",
             str(root / "state" / "state.db"), "--report", str(root / "report")],
            stdout=out, stderr=log, env=env, cwd=root, timeout=60)
    assert done.returncode in (1, 3)
    assert (root / "logs" / "sync.log").stat().st_size > 0
    assert_no_leak(root, {}, [])
