"""What the hostile-network tests are made of, importable by other suites (the token
leak test plays every fault below): the command-line runner and its checks, a tiny
fake platform, certificates, and the catalogue of faults.

A fault is named once here and used by name: `FAKE_FAULTS` are answers of a
`FakePlatform`, `SANDBOX_FAULTS` are what the sandbox does during a run,
`CONNECT_FAULTS` are connections that never reach the API.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import functools
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.api.http import RetryPolicy
from connector.cli import cli
from connector.sandbox import SandboxServer

TOKEN = "s3cret-token-value"
CID = 6
ROOT = Path(__file__).resolve().parents[2]
WRITES = ("add", "import", "patch", "delete")

# (global options, what the output must look like)
VERBOSITIES = [pytest.param([], id="text"), pytest.param(["-v", "-v"], id="debug"),
               pytest.param(["--log-format", "json"], id="json"),
               pytest.param(["--log-format", "json", "-v", "-v"], id="json-debug")]

# commands that read a campaign
CAMPAIGN_COMMANDS = ["export", "plan", "sync"]


# ------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Keep the retry counts as they are but wait only a few milliseconds between
    attempts (and between looks at a campaign after an unanswered import), so the
    bounded-retry cases stay fast. Autouse in every module that imports it."""
    import connector.load

    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt, rng: 0.01)
    monkeypatch.setattr(connector.load, "LoadOptions", functools.partial(
        connector.load.LoadOptions, first_poll=0.02, max_poll=0.1))


class Run:
    def __init__(self, result: Any, args: list[str]) -> None:
        self.result = result
        self.args = args
        self.code = result.exit_code
        self.out = result.stdout
        self.err = result.stderr

    @property
    def text(self) -> str:
        return self.out + self.err

    def error_line(self) -> str:
        """The one error message: the `error:` line, or the JSON error event's message."""
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("error: ")]
        if errors:
            assert len(errors) == 1, self.err
            return errors[0][len("error: "):]
        events = []
        for ln in lines:
            if ln.startswith("{"):
                event = json.loads(ln)
                if event.get("event") == "error":
                    events.append(event)
        assert len(events) == 1, f"no single error message in stderr:\n{self.err}"
        assert events[0]["exit_code"] == self.code
        return events[0]["message"]

    def __repr__(self) -> str:
        return f"exit {self.code}\nargs {self.args}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def invoke(args: list[str], *, opts: list[str] | None = None,
           env: dict[str, str] | None = None, token: str = TOKEN) -> Run:
    full = list(opts or []) + args
    result = CliRunner().invoke(cli, full, env=env, catch_exceptions=True)
    run = Run(result, full)
    # the process ended through sys.exit (or normally), never through an exception
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(run), result.exc_info)
    assert "Traceback" not in run.text, run
    assert "internal error" not in run.text.lower(), run
    assert token not in run.text, run
    if opts and "json" in opts:
        for line in run.err.splitlines():
            if line.strip():
                json.loads(line)  # every stderr line is one JSON event
    return run


def failed(run: Run, code: int = 1) -> str:
    """Assert a failure with exit `code` and one message; return the message."""
    assert run.code == code, run
    message = run.error_line()
    assert "\n" not in message
    assert TOKEN not in message
    return message


def conn(url: str, *, token: str = TOKEN, rate: float = 1000) -> list[str]:
    return ["--base-url", url, "--api-user", "acme", "--api-token", token,
            "--rate-limit", str(rate)]


def export(url: str, tmp: Path, *, cid: int = CID, opts: list[str] | None = None,
           extra: list[str] | None = None, token: str = TOKEN) -> Run:
    return invoke(["export", "--campaign-id", str(cid), "--output", str(tmp / "out.csv")]
                  + conn(url, token=token) + list(extra or []), opts=opts, token=token)


def phone(n: int) -> str:
    return f"+1201471{n:04d}"


def rows_for(ns: list[int], *, suffix: str = "") -> list[tuple[str, str, str, str]]:
    return [(f"C-{n}", f"Person {n}{suffix}", f"p{n}@example.com", phone(n)) for n in ns]


def write_source(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["external_unique_id", "name", "email", "phone_number"])
        out.writerows(rows)
    return path


def sync(sandbox: SandboxServer, tmp: Path, source: Path, *, report: str = "report",
         opts: list[str] | None = None, extra: list[str] | None = None,
         token: str = TOKEN) -> Run:
    return invoke(["sync", str(source), "--campaign-id", str(CID), "-m", "generic",
                   "--state", str(tmp / "state.db"), "--report", str(tmp / report),
                   "--mode", "mirror", "--force"]
                  + conn(sandbox.url, token=token) + list(extra or []), opts=opts,
                  token=token)


def assert_no_token_on_disk(tmp: Path, *tokens: str) -> None:
    """Neither the state store nor any report file holds an API token."""
    for path in tmp.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for token in tokens or (TOKEN,):
                assert token.encode() not in data, f"{token} written to {path}"


def assert_campaign(sandbox: SandboxServer, rows: list[tuple[str, str, str, str]]) -> None:
    """The campaign holds exactly these contacts, field by field, no duplicates."""
    contacts = sandbox.contacts(CID)
    keys = [c["external_unique_id"] for c in contacts]
    assert len(keys) == len(set(keys)), f"duplicate contacts: {sorted(keys)}"
    phones = [c["phone_number"] for c in contacts]
    assert len(phones) == len(set(phones)), f"duplicate phones: {sorted(phones)}"
    have = {c["external_unique_id"]: (c["name"], c["email"], c["phone_number"])
            for c in contacts}
    want = {key: (name, email, ph) for key, name, email, ph in rows}
    assert have == want


def writes(sandbox: SandboxServer) -> int:
    counts = sandbox.counts
    return sum(counts[k] for k in WRITES)


def converge(sandbox: SandboxServer, tmp: Path, source: Path,
             rows: list[tuple[str, str, str, str]], tag: str) -> None:
    """A clean run reaches the wanted contents; one more run writes nothing."""
    sandbox.set_faults(latency_ms=0, error_rate=0, rate_limit=None, job_seconds=0)
    again = sync(sandbox, tmp, source, report=f"{tag}-again")
    assert again.code == 0, again
    assert_campaign(sandbox, rows)
    before = writes(sandbox)
    idle = sync(sandbox, tmp, source, report=f"{tag}-idle")
    assert idle.code == 0, idle
    assert writes(sandbox) == before, "a converged campaign was written to again"
    assert_campaign(sandbox, rows)
    assert_no_token_on_disk(tmp)


def seed(sandbox: SandboxServer, rows: list[tuple[str, str, str, str]]) -> None:
    sandbox.seed(CID, [{"external_unique_id": k, "name": n, "email": e, "phone_number": p}
                       for k, n, e, p in rows])


# ------------------------------------------------------------------ a fake platform

Answer = Callable[[str, str], tuple[int, dict[str, str], bytes, int | None]]

#: in an answer's body or header values, replaced by the password of the request's
#: Basic credentials (the API token) and by its whole Authorization header: a server
#: that echoes the credentials back
ECHO_TOKEN = "{echo-token}"
ECHO_AUTHORIZATION = "{echo-authorization}"


def _credentials(authorization: str) -> str:
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(value).decode("utf-8").partition(":")[2]
    except ValueError:
        return ""


class FakePlatform:
    """A tiny stdlib HTTP server on 127.0.0.1 that answers whatever `answer` says:
    answer(method, path) -> (status, headers, body bytes, declared length or None).
    A declared length above len(body) sends the body and closes the connection.
    With `trickle` the body goes out one byte every `trickle` seconds (to the requests
    of `trickle_methods` only, when given). ECHO_TOKEN and ECHO_AUTHORIZATION in the
    body or a header value echo the request's credentials."""

    def __init__(self, answer: Answer, *, trickle: float | None = None,
                 trickle_methods: tuple[str, ...] | None = None) -> None:
        self.answer = answer
        self.trickle = trickle
        self.trickle_methods = trickle_methods
        self.hits: list[tuple[str, str]] = []
        self.authorized: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.hits.append((self.command, self.path))
                authorization = self.headers.get("Authorization", "")
                outer.authorized.append(authorization)
                status, headers, body, declared = outer.answer(self.command, self.path)
                if status == 0:  # never answer: hold the connection open
                    time.sleep(30)
                    return
                echoes = {ECHO_TOKEN: _credentials(authorization),
                          ECHO_AUTHORIZATION: authorization}
                for placeholder, value in echoes.items():
                    body = body.replace(placeholder.encode(), value.encode())
                    headers = {k: v.replace(placeholder, value) for k, v in headers.items()}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(declared if declared is not None
                                                       else len(body)))
                if declared is not None:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if outer.trickle is None or self.command not in (
                        outer.trickle_methods or (self.command,)):
                    self.wfile.write(body)
                    self.wfile.flush()
                    return
                try:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(outer.trickle)
                except OSError:  # the client gave up and closed the connection
                    self.close_connection = True

            do_POST = do_PATCH = do_DELETE = do_GET

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakePlatform:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def reads(hits: list[tuple[str, str]]) -> int:
    return sum(1 for method, _ in hits if method == "GET")


# ------------------------------------------------------------------ certificates


def make_cert(tmp: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography if installed, else the
    openssl command line)."""
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    try:
        import datetime as dt
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
    except ImportError:
        openssl = shutil.which("openssl")
        if openssl is None:
            pytest.skip("neither the cryptography package nor the openssl command")
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-days", "2", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True, timeout=60)
        return cert, key
    pkey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(pkey.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName(
                       [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                  critical=True)
                   .sign(pkey, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(pkey.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    return cert, key


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ the faults

JSON_TYPE = {"Content-Type": "application/json"}
NOT_THE_PLATFORM = b"Welcome to nginx! This is not the platform."
WRONG_SHAPE = json.dumps({"hello": "world"}).encode()
HTML_ERROR_PAGE = (b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway"
                   b"</h1><hr>nginx</body></html>")
TRUNCATED = b'[{"id": 1, "name": "Trunc'
MULTILINE_MESSAGE = json.dumps({"message": "Internal failure\nTraceback (most recent call "
                                           "last):\n  File \"app.rb\", line 1"}).encode()
HUGE_MESSAGE = json.dumps({"message": "invalid contact " + "x" * 100_000}).encode()
SSO_LOGIN = "https://login.example.com/sso"
IMPORT_ACCEPTED = json.dumps({"job_id": 1, "status": "queued", "padding": "x" * 400}).encode()


def always(status: int, headers: Mapping[str, str] | None = None, body: bytes = b"",
           declared: int | None = None) -> Answer:
    """The same answer to every request."""
    def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes, int | None]:
        return status, dict(headers or {}), body, declared
    return answer


def empty_campaign_then(write: Answer) -> Answer:
    """Reads find an empty campaign (and job 1 completed); writes get `write`'s answer."""
    def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes, int | None]:
        if method == "GET":
            if "/jobs/" in path:
                return 200, dict(JSON_TYPE), b'{"id": 1, "status": "completed"}', None
            return 200, dict(JSON_TYPE), b"[]", None
        return write(method, path)
    return answer


def trickled_contacts(n: int = 200) -> bytes:
    """A valid page of contacts, long enough to outlast a short deadline byte by byte."""
    return json.dumps([{"id": i, "external_unique_id": f"C-{i}", "name": f"Person {i}",
                        "phone_number": phone(i)} for i in range(1, n + 1)]).encode()


def _failed_job(method: str, path: str) -> tuple[int, dict[str, str], bytes, int | None]:
    if method == "POST":
        return 201, dict(JSON_TYPE), b'{"job_id": 1}', None
    if "/jobs/" in path:
        body = json.dumps({"id": 1, "status": "failed",
                           "error_message": f"import rejected for acme:{ECHO_TOKEN}",
                           "error_details": [{"row": 1, "error": f"auth {ECHO_AUTHORIZATION}"}]})
        return 200, dict(JSON_TYPE), body.encode(), None
    return 200, dict(JSON_TYPE), b"[]", None


@dataclass(frozen=True)
class Misbehaviour:
    """What a FakePlatform does, and the settings under which a run against it ends
    quickly (`env`: CAMPAIGN_SYNC_* variables)."""

    answer: Answer
    trickle: float | None = None
    trickle_methods: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    def platform(self) -> FakePlatform:
        return FakePlatform(self.answer, trickle=self.trickle,
                            trickle_methods=self.trickle_methods)


def playing(fault: Misbehaviour, monkeypatch: pytest.MonkeyPatch) -> FakePlatform:
    """A FakePlatform playing `fault`, with the settings the fault needs."""
    for name, value in fault.env.items():
        monkeypatch.setenv(name, value)
    return fault.platform()


READ_TIMEOUT = "CAMPAIGN_SYNC_READ_TIMEOUT"
DEADLINE = "CAMPAIGN_SYNC_REQUEST_DEADLINE"

FAKE_FAULTS: dict[str, Misbehaviour] = {
    "never-answers": Misbehaviour(always(0), env={READ_TIMEOUT: "0.2"}),
    "not-json": Misbehaviour(always(200, {"Content-Type": "text/plain"}, NOT_THE_PLATFORM)),
    "json-of-the-wrong-shape": Misbehaviour(always(200, JSON_TYPE, WRONG_SHAPE)),
    "html-error-page-500": Misbehaviour(always(500, {"Content-Type": "text/html"},
                                               HTML_ERROR_PAGE)),
    "html-error-page-502": Misbehaviour(always(502, {"Content-Type": "text/html"},
                                               HTML_ERROR_PAGE)),
    "truncated-body": Misbehaviour(always(200, JSON_TYPE, TRUNCATED, len(TRUNCATED) + 500)),
    "multiline-message-404": Misbehaviour(always(404, JSON_TYPE, MULTILINE_MESSAGE)),
    "multiline-message-422": Misbehaviour(always(422, JSON_TYPE, MULTILINE_MESSAGE)),
    "multiline-message-503": Misbehaviour(always(503, JSON_TYPE, MULTILINE_MESSAGE)),
    "huge-message": Misbehaviour(always(400, JSON_TYPE, HUGE_MESSAGE)),
    "redirect": Misbehaviour(always(302, {"Location": SSO_LOGIN})),
    "retry-after-an-hour": Misbehaviour(always(429, {**JSON_TYPE, "Retry-After": "3600"},
                                               b'{"message": "rate limit exceeded"}')),
    "trickled-body": Misbehaviour(always(200, JSON_TYPE, trickled_contacts()), trickle=0.02,
                                  env={DEADLINE: "0.4"}),
    "unanswered-import": Misbehaviour(empty_campaign_then(always(0)),
                                      env={READ_TIMEOUT: "0.3", DEADLINE: "0.3"}),
    "trickled-import-answer": Misbehaviour(
        empty_campaign_then(always(200, JSON_TYPE, IMPORT_ACCEPTED)), trickle=0.02,
        trickle_methods=("POST",), env={READ_TIMEOUT: "0.3", DEADLINE: "0.3"}),
    # servers that echo the credentials back, in the body and in headers
    "token-echoed-in-5xx-to-writes": Misbehaviour(empty_campaign_then(always(
        503, {**JSON_TYPE, "X-Debug-Authorization": ECHO_AUTHORIZATION},
        json.dumps({"message": f"upstream failed for acme:{ECHO_TOKEN}"}).encode()))),
    "token-echoed-in-401": Misbehaviour(always(
        401, {**JSON_TYPE, "WWW-Authenticate": f'Basic realm="acme:{ECHO_TOKEN}"',
              "X-Debug-Authorization": ECHO_AUTHORIZATION},
        json.dumps({"error": f"bad credentials acme:{ECHO_TOKEN} "
                             f"({ECHO_AUTHORIZATION})"}).encode())),
    "token-echoed-in-a-redirect": Misbehaviour(always(
        302, {"Location": f"{SSO_LOGIN}?user=acme&token={ECHO_TOKEN}"})),
    "token-echoed-in-a-redirect-of-writes": Misbehaviour(empty_campaign_then(always(
        302, {"Location": f"{SSO_LOGIN}?token={ECHO_TOKEN}"}))),
    "token-echoed-in-the-content-type": Misbehaviour(always(
        200, {"Content-Type": f"text/{ECHO_TOKEN}"}, b"not json")),
    "token-echoed-in-a-failed-job": Misbehaviour(_failed_job),
}


@dataclass(frozen=True)
class SandboxFault:
    """What the sandbox does during a run: `start(sandbox)` sets it up and returns what
    stops it (a watcher thread) or None. `env` (CAMPAIGN_SYNC_* variables) and
    `extra` (sync options) make the run end quickly."""

    start: Callable[[SandboxServer], Callable[[], None] | None]
    env: Mapping[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()

    @contextlib.contextmanager
    def playing(self, sandbox: SandboxServer) -> Iterator[SandboxServer]:
        stop = self.start(sandbox)
        try:
            yield sandbox
        finally:
            if stop is not None:
                stop()


def _fail_next(n: int, status: int, kinds: list[str] | None = None,
               retry_after: str | None = None) -> Callable[[SandboxServer], None]:
    def start(sandbox: SandboxServer) -> None:
        sandbox.fail_next(n, status=status, kinds=kinds, retry_after=retry_after)
    return start


def _once(kind: str, count: int, action: Callable[[SandboxServer], None]
          ) -> Callable[[SandboxServer], Callable[[], None]]:
    """A thread that does `action` once the sandbox has answered `count` requests of
    `kind`."""
    def start(sandbox: SandboxServer) -> Callable[[], None]:
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                if sandbox.counts[kind] >= count:
                    action(sandbox)
                    return
                time.sleep(0.001)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()

        def halt() -> None:
            stop.set()
            watcher.join(5)
        return halt
    return start


def _job_polls_failing(sandbox: SandboxServer) -> None:
    sandbox.set_faults(job_seconds=0.3)
    sandbox.fail_next(2, status=503, kinds=["job"])
    sandbox.fail_next(2, status=429, retry_after="0", kinds=["job"])


NEW_TOKEN = "other-token-value"

SANDBOX_FAULTS: dict[str, SandboxFault] = {
    "credentials-refused": SandboxFault(lambda s: s.set_token("rotated-token-value")),
    "slow-answers": SandboxFault(lambda s: s.set_faults(latency_ms=600),
                                 env={READ_TIMEOUT: "0.2"}),
    "5xx-burst-on-list": SandboxFault(_fail_next(3, 503, ["list"])),
    "5xx-burst-on-patch": SandboxFault(_fail_next(3, 503, ["patch"])),
    "5xx-burst-on-delete": SandboxFault(_fail_next(3, 503, ["delete"])),
    "5xx-burst-on-import": SandboxFault(_fail_next(3, 503, ["import"])),
    "429-storm": SandboxFault(_fail_next(8, 429, retry_after="0")),
    "429-storm-on-patch-and-list": SandboxFault(_fail_next(8, 429, ["patch", "list"], "0")),
    "sandbox-rate-limit": SandboxFault(lambda s: s.set_faults(rate_limit=2)),
    "401-mid-run": SandboxFault(_fail_next(1, 401, ["patch"]), extra=("--concurrency", "1")),
    "token-revoked-mid-run": SandboxFault(
        _once("patch", 3, lambda s: s.set_token(NEW_TOKEN)),
        extra=("--concurrency", "1", "--rate-limit", "200")),
    "platform-gone-mid-run": SandboxFault(
        _once("patch", 4, lambda s: s.stop()),
        extra=("--concurrency", "1", "--rate-limit", "20")),
    "job-never-ends": SandboxFault(lambda s: s.set_faults(job_seconds=3600),
                                   extra=("--job-timeout", "2")),
    "5xx-and-429-polling-a-job": SandboxFault(_job_polls_failing),
    "502-polling-a-job-for-good": SandboxFault(
        _fail_next(RetryPolicy().max_retries + 1, 502, ["job"])),
}

#: connections that never reach the API: each gives the base URL to use, from the
#: URLs of an HTTPS sandbox (`tls_url`) and of a plain one (`plain_url`) where it needs
#: them; the ones in WITH_CA_BUNDLE are tried with --ca-bundle (the sandbox's own CA)
CONNECT_FAULTS: dict[str, Callable[..., str]] = {
    "connection-refused": lambda **urls: f"http://127.0.0.1:{closed_port()}",
    "dns-failure": lambda **urls: "https://no-such-host.invalid",
    "self-signed-certificate": lambda *, tls_url, **urls: tls_url,
    "certificate-for-another-name": lambda *, tls_url, **urls: tls_url.replace(
        "127.0.0.1", "localhost"),
    "https-to-plain-http": lambda *, plain_url, **urls: plain_url.replace("http://",
                                                                          "https://"),
}
WITH_CA_BUNDLE = frozenset({"certificate-for-another-name"})
