"""The command line against a hostile network: closed ports, unknown hosts, untrusted
certificates, servers that never answer, answers that are not JSON, HTML error pages,
truncated bodies, credentials revoked in the middle of a run, unknown campaigns, bursts
of 5xx and 429, and import jobs that never finish.

Every case must end in one clear line on stderr (no traceback, no "internal error"),
the documented exit code, and the API token nowhere in the output, also with -v -v
and with --log-format json. Every sync case then runs again and the campaign is
checked contact by contact.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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


# ------------------------------------------------------------------ helpers


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Keep the retry counts as they are but wait only a few milliseconds between
    attempts (and between looks at a campaign after an unanswered import), so the
    bounded-retry cases stay fast."""
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
           env: dict[str, str] | None = None) -> Run:
    full = list(opts or []) + args
    result = CliRunner().invoke(cli, full, env=env, catch_exceptions=True)
    run = Run(result, full)
    # the process ended through sys.exit (or normally), never through an exception
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        repr(run), result.exc_info)
    assert "Traceback" not in run.text, run
    assert "internal error" not in run.text.lower(), run
    assert TOKEN not in run.text, run
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
                  + conn(url, token=token) + list(extra or []), opts=opts)


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
                  + conn(sandbox.url, token=token) + list(extra or []), opts=opts)


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


class FakePlatform:
    """A tiny stdlib HTTP server on 127.0.0.1 that answers whatever `answer` says:
    answer(method, path) -> (status, headers, body bytes, declared length or None).
    A declared length above len(body) sends the body and closes the connection.
    With `trickle` the body goes out one byte every `trickle` seconds (to the requests
    of `trickle_methods` only, when given)."""

    def __init__(self, answer: Callable[[str, str], tuple[int, dict[str, str], bytes,
                                                          int | None]],
                 *, trickle: float | None = None,
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
                outer.authorized.append(self.headers.get("Authorization", ""))
                status, headers, body, declared = outer.answer(self.command, self.path)
                if status == 0:  # never answer: hold the connection open
                    time.sleep(30)
                    return
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


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_sandbox(tls_files):
    cert, key = tls_files
    with SandboxServer(user="acme", token=TOKEN, campaigns=[CID], job_seconds=0,
                       certfile=str(cert), keyfile=str(key)) as server:
        yield server


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ connecting


@pytest.mark.parametrize("opts", VERBOSITIES)
def test_connection_refused_names_the_host(tmp_path, opts):
    port = closed_port()
    message = failed(export(f"http://127.0.0.1:{port}", tmp_path, opts=opts))
    assert f"127.0.0.1:{port}" in message
    assert "could not connect" in message
    assert not (tmp_path / "out.csv").exists()


def test_dns_failure_is_exit_1_naming_the_host(tmp_path):
    message = failed(export("https://no-such-host.invalid", tmp_path))
    assert "no-such-host.invalid" in message
    assert "could not connect" in message


@pytest.mark.parametrize("opts", VERBOSITIES)
def test_self_signed_certificate_is_refused_by_default(tls_sandbox, tmp_path, opts):
    assert tls_sandbox.url.startswith("https://")
    message = failed(export(tls_sandbox.url, tmp_path, opts=opts))
    assert re.search(r"certificate verif(y|ication) failed", message, re.I), message
    assert "--ca-bundle" in message
    assert tls_sandbox.counts["list"] == 0  # nothing got through
    assert not (tmp_path / "out.csv").exists()


def test_self_signed_certificate_is_accepted_with_ca_bundle(tls_sandbox, tls_files,
                                                            tmp_path):
    rows = rows_for([1, 2, 3])
    seed(tls_sandbox, rows)
    run = export(tls_sandbox.url, tmp_path, extra=["--ca-bundle", str(tls_files[0])])
    assert run.code == 0, run
    with open(tmp_path / "out.csv", encoding="utf-8") as handle:
        got = {r["external_unique_id"]: r["name"] for r in csv.DictReader(handle)}
    assert got == {k: n for k, n, _, _ in rows}


def test_a_client_that_never_completes_the_handshake_does_not_block_the_sandbox(
        tls_sandbox, tls_files, tmp_path):
    with socket.create_connection(("127.0.0.1", tls_sandbox.port)) as idle:
        idle.sendall(b"\x16\x03")  # the start of a ClientHello, and then nothing
        run = export(tls_sandbox.url, tmp_path, extra=["--ca-bundle", str(tls_files[0])])
    assert run.code == 0, run


def test_ca_bundle_from_the_environment_is_used_too(tls_sandbox, tls_files, tmp_path):
    result = CliRunner().invoke(
        cli, ["export", "--campaign-id", str(CID), "--output", str(tmp_path / "o.csv")],
        env={"CAMPAIGN_SYNC_BASE_URL": tls_sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
             "CAMPAIGN_SYNC_API_TOKEN": TOKEN, "CAMPAIGN_SYNC_CA_BUNDLE": str(tls_files[0])})
    assert result.exit_code == 0, result.stderr
    # a stray REQUESTS_CA_BUNDLE does not switch verification off or replace the bundle
    result = CliRunner().invoke(
        cli, ["export", "--campaign-id", str(CID), "--output", str(tmp_path / "o.csv")],
        env={"CAMPAIGN_SYNC_BASE_URL": tls_sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
             "CAMPAIGN_SYNC_API_TOKEN": TOKEN, "REQUESTS_CA_BUNDLE": str(tls_files[0]),
             "CURL_CA_BUNDLE": ""})
    assert result.exit_code == 1, result.stderr


def test_certificate_for_another_name_is_refused_even_with_ca_bundle(tls_sandbox,
                                                                    tls_files, tmp_path):
    """The certificate names 127.0.0.1 only: reaching the same server as localhost fails
    the hostname check, --ca-bundle or not."""
    url = tls_sandbox.url.replace("127.0.0.1", "localhost")
    message = failed(export(url, tmp_path, extra=["--ca-bundle", str(tls_files[0])]))
    assert re.search(r"certificate verif(y|ication) failed", message, re.I), message
    assert "localhost" in message
    assert tls_sandbox.counts["list"] == 0


def test_https_to_a_plain_http_server_does_not_blame_the_certificate(sandbox, tmp_path):
    url = sandbox.url.replace("http://", "https://")
    message = failed(export(url, tmp_path))
    assert "127.0.0.1" in message
    # the server answered in plain HTTP: the hint should be about the URL's scheme,
    # not about trusting a CA
    assert "TLS verification failed" not in message, message
    assert "--ca-bundle" not in message, message
    assert "--base-url" in message, message


def test_no_option_turns_tls_verification_off():
    commands = sorted(cli.commands)
    assert {"export", "jobs", "plan", "sync"} <= set(commands)
    for args in [["--help"]] + [[name, "--help"] for name in commands]:
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        text = result.output.lower()
        for word in ("insecure", "no-verify", "no_verify", "noverify", "verify=false",
                     "skip-verify", "--no-tls", "--no-ssl"):
            assert word not in text, (args, word)


def test_sandbox_command_serves_https(tls_files, tmp_path):
    """`campaign-sync sandbox --tls-cert --tls-key` listens with TLS: export through it
    works with --ca-bundle and is refused without."""
    cert, key = tls_files
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "sandbox", "--port", str(port), "--user",
         "acme", "--token", TOKEN, "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"sandbox at https://127.0.0.1:{port}"), (
            line, proc.stderr.read() if proc.poll() is not None else "")
        url = f"https://127.0.0.1:{port}"
        failed(export(url, tmp_path))
        ok = export(url, tmp_path, extra=["--ca-bundle", str(cert)])
        assert ok.code == 0, ok
        assert "wrote 0 contacts" in ok.out
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sandbox_command_refuses_a_key_without_certificate(tls_files):
    result = CliRunner().invoke(cli, ["sandbox", "--port", "0", "--tls-key",
                                      str(tls_files[1])])
    assert result.exit_code == 2
    assert "--tls-cert" in result.output


# ------------------------------------------------------------------ timeouts


@pytest.mark.parametrize("opts", [[], ["--log-format", "json", "-v", "-v"]])
def test_read_timeout_on_a_slow_sandbox_is_exit_1_after_bounded_retries(sandbox, tmp_path,
                                                                       monkeypatch, opts):
    monkeypatch.setenv("CAMPAIGN_SYNC_READ_TIMEOUT", "0.2")
    sandbox.set_faults(latency_ms=600)
    start = time.monotonic()
    message = failed(export(sandbox.url, tmp_path, opts=opts))
    took = time.monotonic() - start
    assert "no answer" in message and "timed out" in message.lower(), message
    # one try and RetryPolicy.max_retries more, each cut at the read timeout
    assert took < 10, took


def test_server_that_never_answers_is_exit_1_after_bounded_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_SYNC_READ_TIMEOUT", "0.2")
    with FakePlatform(lambda method, path: (0, {}, b"", None)) as fake:
        message = failed(export(fake.url, tmp_path))
        assert "timed out" in message.lower(), message
        assert reads(fake.hits) == RetryPolicy().max_retries + 1


def trickled_contacts(n: int = 200) -> bytes:
    """A valid page of contacts, long enough to outlast a short deadline byte by byte."""
    return json.dumps([{"id": i, "external_unique_id": f"C-{i}", "name": f"Person {i}",
                        "phone_number": phone(i)} for i in range(1, n + 1)]).encode()


@pytest.mark.parametrize("opts", [[], ["--log-format", "json", "-v", "-v"]])
def test_a_body_trickled_past_the_request_deadline_is_a_read_timeout(tmp_path, monkeypatch,
                                                                     opts):
    """One byte every 20 ms never trips the 60 s read timeout (it bounds the gap between
    packets); the request deadline cuts each attempt at 0.4 s, and the run ends as after
    a read timeout: bounded retries, one line, exit 1."""
    monkeypatch.setenv("CAMPAIGN_SYNC_REQUEST_DEADLINE", "0.4")
    body = trickled_contacts()
    start = time.monotonic()
    with FakePlatform(lambda m, p: (200, {"Content-Type": "application/json"}, body, None),
                      trickle=0.02) as fake:
        message = failed(export(fake.url, tmp_path, opts=opts))
        assert reads(fake.hits) == RetryPolicy().max_retries + 1
    took = time.monotonic() - start
    assert message.startswith("no answer from the platform (ReadTimeout: "), message
    assert "timed out" in message.lower() and "0.4 s request deadline" in message, message
    assert "run again; nothing was changed by this read" in message
    assert took < 8, took
    assert not (tmp_path / "out.csv").exists()


def test_a_trickled_body_within_the_deadline_is_read_whole(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_SYNC_REQUEST_DEADLINE", "10")
    body = trickled_contacts(1)
    with FakePlatform(lambda m, p: (200, {"Content-Type": "application/json"}, body, None),
                      trickle=0.001) as fake:
        run = export(fake.url, tmp_path)
    assert run.code == 0, run
    assert "wrote 1 contacts" in run.out


def test_a_request_deadline_that_is_not_above_zero_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_SYNC_REQUEST_DEADLINE", "0")
    message = failed(export("http://127.0.0.1:9", tmp_path), code=2)
    assert "request deadline must be above 0" in message, message


def test_a_write_answered_past_the_deadline_is_handled_as_a_write_timed_out(tmp_path,
                                                                           monkeypatch):
    """An import whose answer trickles past the deadline may have taken effect: the run
    goes on exactly as when the same import gets no answer within the read timeout (an
    ambiguous write, looked for before it is sent again): same requests, operations and
    exit code."""
    monkeypatch.setenv("CAMPAIGN_SYNC_READ_TIMEOUT", "0.3")
    monkeypatch.setenv("CAMPAIGN_SYNC_REQUEST_DEADLINE", "0.3")
    accepted = json.dumps({"job_id": 1, "status": "queued", "padding": "x" * 400}).encode()
    source = write_source(tmp_path / "s.csv", rows_for([1, 2]))

    def run_against(write_status: int, trickle: float | None, tag: str
                    ) -> tuple[Run, list[tuple[str, str]], list[dict[str, str]]]:
        def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes, int | None]:
            if method == "GET":
                return 200, {"Content-Type": "application/json"}, b"[]", None
            return write_status, {"Content-Type": "application/json"}, accepted, None

        # the reads come whole, only the write's answer trickles
        with FakePlatform(answer, trickle=trickle, trickle_methods=("POST",)) as fake:
            run = invoke(["sync", str(source), "--campaign-id", str(CID), "-m", "generic",
                          "--state", str(tmp_path / f"{tag}.db"), "--report",
                          str(tmp_path / tag), "--concurrency", "1"] + conn(fake.url))
            hits = list(fake.hits)
        with open(tmp_path / tag / "operations.csv", encoding="utf-8-sig") as handle:
            ops = list(csv.DictReader(handle))
        return run, hits, ops

    timed_out, timeout_hits, timeout_ops = run_against(0, None, "timeout")
    trickled, trickle_hits, trickle_ops = run_against(200, 0.02, "trickle")
    assert trickled.code == timed_out.code, (trickled, timed_out)
    # the same requests in the same order: a fresh read of the campaign before each
    # import is sent again, then in halves, as after any ambiguous import
    assert trickle_hits == timeout_hits
    assert [m for m, _ in trickle_hits].count("POST") > 1
    assert trickle_ops == timeout_ops
    assert trickled.text.replace("trickle", "timeout") == timed_out.text


# ------------------------------------------------------------------ strange answers


def test_answer_that_is_not_json_says_what_came_back(tmp_path):
    body = b"Welcome to nginx! This is not the platform."
    with FakePlatform(lambda m, p: (200, {"Content-Type": "text/plain"}, body, None)) as fake:
        message = failed(export(fake.url, tmp_path))
    assert "expected JSON" in message and "text/plain" in message, message
    assert f"{len(body)} bytes" in message


def test_json_of_the_wrong_shape_says_what_came_back(tmp_path):
    body = json.dumps({"hello": "world"}).encode()
    with FakePlatform(lambda m, p: (200, {"Content-Type": "application/json"}, body,
                                    None)) as fake:
        message = failed(export(fake.url, tmp_path))
    assert "expected a list of contacts" in message, message


@pytest.mark.parametrize("status", [500, 502])
@pytest.mark.parametrize("opts", [[], ["--log-format", "json"]])
def test_html_error_page_is_exit_1_after_retries(tmp_path, status, opts):
    page = (b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway"
            b"</h1><hr>nginx</body></html>")
    with FakePlatform(lambda m, p: (status, {"Content-Type": "text/html"}, page,
                                    None)) as fake:
        message = failed(export(fake.url, tmp_path, opts=opts))
        assert reads(fake.hits) == RetryPolicy().max_retries + 1
    assert f"-> {status}" in message, message
    assert "text/html" in message and "non-JSON" in message, message
    assert "<html" not in message


def test_truncated_body_is_exit_1_and_says_so(tmp_path):
    body = b'[{"id": 1, "name": "Trunc'
    with FakePlatform(lambda m, p: (200, {"Content-Type": "application/json"}, body,
                                    len(body) + 500)) as fake:
        message = failed(export(fake.url, tmp_path))
        assert reads(fake.hits) == RetryPolicy().max_retries + 1
    assert "no answer from the platform" in message
    assert re.search(r"IncompleteRead|incomplete|truncat|bytes read", message, re.I), message


@pytest.mark.parametrize("status", [404, 422, 503])
def test_a_multiline_server_message_still_gives_one_line(tmp_path, status):
    body = json.dumps({"message": "Internal failure\nTraceback (most recent call last):\n"
                                  "  File \"app.rb\", line 1"}).encode()
    with FakePlatform(lambda m, p: (status, {"Content-Type": "application/json"}, body,
                                    None)) as fake:
        result = CliRunner().invoke(cli, ["export", "--campaign-id", str(CID), "--output",
                                          str(tmp_path / "o.csv")] + conn(fake.url))
    assert result.exit_code == 1, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Internal failure" in lines[0]


def test_a_huge_server_message_is_cut_short(tmp_path):
    body = json.dumps({"message": "invalid contact " + "x" * 100_000}).encode()
    with FakePlatform(lambda m, p: (400, {"Content-Type": "application/json"}, body,
                                    None)) as fake:
        message = failed(export(fake.url, tmp_path))
    assert "invalid contact" in message
    assert len(message) < 2000, len(message)


def test_a_redirect_is_not_followed_and_is_named(tmp_path):
    with FakePlatform(lambda m, p: (302, {"Location": "https://login.example.com/sso"},
                                    b"", None)) as fake:
        message = failed(export(fake.url, tmp_path))
        assert len(fake.hits) == 1
    assert "redirect to https://login.example.com/sso" in message
    assert "--base-url" in message


def test_401_on_the_first_request_says_the_credentials_were_refused(sandbox, tmp_path):
    message = failed(export(sandbox.url, tmp_path, token="wrong-token"))
    assert "refused the credentials" in message
    assert "--api-token" in message
    assert "wrong-token" not in message


def test_429_with_a_huge_retry_after_does_not_hang_the_run(tmp_path):
    with FakePlatform(lambda m, p: (429, {"Content-Type": "application/json",
                                          "Retry-After": "3600"},
                                    b'{"message": "rate limit exceeded"}', None)) as fake:
        cmd = [sys.executable, "-m", "connector.cli", "export", "--campaign-id", str(CID),
               "--output", str(tmp_path / "o.csv")] + conn(fake.url)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=5, cwd=ROOT)
        except subprocess.TimeoutExpired:
            pytest.fail("export still waiting 5 s after a 429 with Retry-After: 3600 "
                        "(no cap, no message)")
    assert proc.returncode == 1, proc.stderr
    assert "429" in proc.stderr and "Traceback" not in proc.stderr
    assert TOKEN not in proc.stdout + proc.stderr


# ------------------------------------------------------------------ 404


@pytest.mark.parametrize("command", ["export", "plan", "sync"])
def test_unknown_campaign_is_exit_1_naming_it(sandbox, tmp_path, command):
    source = write_source(tmp_path / "s.csv", rows_for([1]))
    base = conn(sandbox.url)
    if command == "export":
        args = ["export", "--campaign-id", "999", "--output", str(tmp_path / "o.csv")]
    elif command == "plan":
        args = ["plan", str(source), "--campaign-id", "999", "-m", "generic",
                "--report", str(tmp_path / "r")]
    else:
        args = ["sync", str(source), "--campaign-id", "999", "-m", "generic",
                "--state", str(tmp_path / "state.db"), "--report", str(tmp_path / "r")]
    message = failed(invoke(args + base))
    assert "999" in message and "not found" in message, message
    assert "--campaign-id" in message
    assert writes(sandbox) == 0


def test_unknown_job_is_exit_1_naming_it(sandbox):
    message = failed(invoke(["jobs", "--campaign-id", str(CID), "4242"] + conn(sandbox.url)))
    assert "4242" in message and "not found" in message


# ------------------------------------------------------------------ 5xx and 429


def test_5xx_burst_on_reads_is_retried_and_export_succeeds(sandbox, tmp_path):
    rows = rows_for(range(1, 6))
    seed(sandbox, rows)
    sandbox.fail_next(3, status=503, kinds=["list"])
    run = export(sandbox.url, tmp_path)
    assert run.code == 0, run
    assert sandbox.counts["error_injected"] == 3
    assert "wrote 5 contacts" in run.out


@pytest.mark.parametrize("kind", ["patch", "delete", "import"])
def test_5xx_burst_on_writes_makes_no_duplicate(sandbox, tmp_path, kind):
    old = rows_for(range(1, 9))
    seed(sandbox, old)
    # 1-2 deleted, 3-4 renamed, 5-8 kept, 20-23 added
    want = rows_for([3, 4], suffix=" renamed") + rows_for(range(5, 9)) + rows_for(range(20, 24))
    source = write_source(tmp_path / "s.csv", want)
    sandbox.fail_next(3, status=503, kinds=[kind])
    first = sync(sandbox, tmp_path, source)
    assert first.code in (0, 3), first
    assert "Traceback" not in first.text
    assert sandbox.counts["error_injected"] == 3
    contacts = sandbox.contacts(CID)
    assert len({c["phone_number"] for c in contacts}) == len(contacts)
    if first.code == 0:
        assert_campaign(sandbox, want)
    converge(sandbox, tmp_path, source, want, "5xx")


def test_5xx_burst_on_reads_during_sync_is_retried(sandbox, tmp_path):
    old = rows_for(range(1, 5))
    seed(sandbox, old)
    want = rows_for(range(2, 7))
    source = write_source(tmp_path / "s.csv", want)
    sandbox.fail_next(3, status=503, kinds=["list"])
    run = sync(sandbox, tmp_path, source)
    assert run.code == 0, run
    assert sandbox.counts["error_injected"] == 3
    assert_campaign(sandbox, want)
    converge(sandbox, tmp_path, source, want, "5xx-read")


def test_429_storm_is_retried_and_succeeds(sandbox, tmp_path):
    rows = rows_for(range(1, 4))
    seed(sandbox, rows)
    sandbox.fail_next(8, status=429, retry_after="0")
    run = export(sandbox.url, tmp_path)
    assert run.code == 0, run
    assert sandbox.counts["error_injected"] == 8
    assert "wrote 3 contacts" in run.out


def test_429_storm_during_sync_is_retried_and_counted(sandbox, tmp_path):
    """The sandbox's own rate limiter answers the 429s (counts["rate_limited"]); the
    client waits them out and converges without a duplicate."""
    old = rows_for(range(1, 6))
    seed(sandbox, old)
    want = rows_for([1, 2], suffix=" x") + rows_for(range(3, 6)) + rows_for(range(30, 36))
    source = write_source(tmp_path / "s.csv", want)
    sandbox.fail_next(8, status=429, retry_after="0", kinds=["patch", "list"])
    run = sync(sandbox, tmp_path, source)
    assert run.code == 0, run
    assert sandbox.counts["error_injected"] == 8
    assert_campaign(sandbox, want)
    converge(sandbox, tmp_path, source, want, "429")


def test_sandbox_rate_limit_429s_are_counted_and_waited_out(sandbox, tmp_path):
    rows = rows_for(range(1, 4))
    seed(sandbox, rows)
    sandbox.set_faults(rate_limit=2)
    # --rate-limit far above the sandbox's 2/s: the sandbox answers 429 (Retry-After 1)
    source = write_source(tmp_path / "s.csv", rows + rows_for([50, 51, 52]))
    run = sync(sandbox, tmp_path, source)
    limited = sandbox.counts["rate_limited"]
    assert run.code == 0, run
    assert limited >= 1
    assert_campaign(sandbox, rows + rows_for([50, 51, 52]))


def test_a_server_echoing_the_token_in_a_5xx_to_a_write_does_not_put_it_on_disk(tmp_path):
    echo = json.dumps({"message": f"upstream failed for acme:{TOKEN}"}).encode()

    def answer(method: str, path: str) -> tuple[int, dict[str, str], bytes, int | None]:
        if method == "GET":
            return 200, {"Content-Type": "application/json"}, b"[]", None
        return 503, {"Content-Type": "application/json"}, echo, None

    source = write_source(tmp_path / "s.csv", rows_for([1, 2]))
    with FakePlatform(answer) as fake:
        run = invoke(["-v", "-v", "sync", str(source), "--campaign-id", str(CID), "-m",
                      "generic", "--state", str(tmp_path / "state.db"), "--report",
                      str(tmp_path / "report")] + conn(fake.url))
    assert run.code == 3, run  # nothing arrived: every row rejected, output clean
    assert_no_token_on_disk(tmp_path)


def test_platform_gone_in_the_middle_of_a_sync_then_back(sandbox, tmp_path):
    """The server stops answering (connections refused) after a few writes: exit 1,
    message names the host; once it is back a run converges without duplicates."""
    old = rows_for(range(1, 21))
    seed(sandbox, old)
    want = rows_for(range(1, 21), suffix=" moved") + rows_for(range(70, 75))
    source = write_source(tmp_path / "s.csv", want)
    stop = threading.Event()

    def outage() -> None:
        while not stop.is_set():
            if sandbox.counts["patch"] >= 4:
                sandbox.stop()
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=outage, daemon=True)
    watcher.start()
    try:
        run = sync(sandbox, tmp_path, source, extra=["--concurrency", "1", "--rate-limit",
                                                     "20"])
    finally:
        stop.set()
        watcher.join(5)
    message = failed(run)
    assert f"127.0.0.1:{sandbox.port}" in message, message
    assert 4 <= sandbox.counts["patch"] < 20
    sandbox.start()  # same port, same contents
    converge(sandbox, tmp_path, source, want, "outage")


# ------------------------------------------------------------------ 401 mid-run


@pytest.mark.parametrize("opts", [[], ["-v", "-v"], ["--log-format", "json", "-v", "-v"]])
def test_401_in_the_middle_of_a_sync_then_a_clean_run_converges(sandbox, tmp_path, opts):
    old = rows_for(range(1, 11))
    seed(sandbox, old)
    want = (rows_for(range(1, 6), suffix=" renamed") + rows_for(range(6, 11))
            + rows_for(range(40, 45)))
    source = write_source(tmp_path / "s.csv", want)
    sandbox.fail_next(1, status=401, kinds=["patch"])
    run = sync(sandbox, tmp_path, source, opts=opts,
               extra=["--concurrency", "1"])
    message = failed(run)
    assert "refused the credentials" in message, message
    contacts = sandbox.contacts(CID)
    assert len({c["phone_number"] for c in contacts}) == len(contacts)
    converge(sandbox, tmp_path, source, want, "401")


def test_token_revoked_while_running_then_the_new_token_converges(sandbox, tmp_path):
    """The token is regenerated on the platform after a few writes (a thread watches
    the request counts): the run stops with exit 1, and a run with the new token
    finishes the job."""
    old = rows_for(range(1, 21))
    seed(sandbox, old)
    want = rows_for(range(1, 21), suffix=" v2")
    source = write_source(tmp_path / "s.csv", want)
    stop = threading.Event()

    def revoke() -> None:
        while not stop.is_set():
            if sandbox.counts["patch"] >= 3:
                sandbox.set_token("other-token-value")
                return
            time.sleep(0.001)

    watcher = threading.Thread(target=revoke, daemon=True)
    watcher.start()
    try:
        run = sync(sandbox, tmp_path, source, extra=["--concurrency", "1", "--rate-limit",
                                                     "200"])
    finally:
        stop.set()
        watcher.join(5)
    message = failed(run)
    assert "refused the credentials" in message, message
    assert sandbox.counts["auth_failed"] >= 1
    assert 3 <= sandbox.counts["patch"] < 20
    again = sync(sandbox, tmp_path, source, report="new-token", token="other-token-value")
    assert again.code == 0, again
    assert "other-token-value" not in again.text
    assert_campaign(sandbox, want)
    idle = sync(sandbox, tmp_path, source, report="new-token-idle", token="other-token-value")
    assert idle.code == 0
    assert_campaign(sandbox, want)


# ------------------------------------------------------------------ jobs that never end


def test_job_that_never_finishes_is_left_pending_then_the_next_run_converges(sandbox,
                                                                            tmp_path):
    old = rows_for(range(1, 4))
    seed(sandbox, old)
    want = old + rows_for(range(60, 66))
    source = write_source(tmp_path / "s.csv", want)
    sandbox.set_faults(job_seconds=3600)
    run = sync(sandbox, tmp_path, source, extra=["--job-timeout", "2"])
    assert run.code == 3, run
    assert re.search(r"pending\s+[1-9]", run.out), run
    assert sandbox.counts["import"] == 1
    # nothing stored yet: the job is still in progress, its rows recorded pending
    assert_campaign(sandbox, old)
    shown = invoke(["runs", "--show", "1", "--state", str(tmp_path / "state.db")])
    assert shown.code == 0, shown
    assert re.search(r"add\s.*pending 6", shown.out), shown
    assert re.search(r"jobs\s.*pending 1", shown.out), shown
    # the job is allowed to finish: jobs already submitted are done at the next look
    sandbox.set_faults(job_seconds=0)
    assert sandbox.finish_jobs() == 1
    converge(sandbox, tmp_path, source, want, "job")
    assert sandbox.counts["import"] == 1, "the pending rows were imported a second time"


def test_5xx_and_429_while_polling_a_job_are_retried(sandbox, tmp_path):
    old = rows_for(range(1, 3))
    seed(sandbox, old)
    want = old + rows_for(range(80, 84))
    source = write_source(tmp_path / "s.csv", want)
    sandbox.set_faults(job_seconds=0.3)
    sandbox.fail_next(2, status=503, kinds=["job"])
    sandbox.fail_next(2, status=429, retry_after="0", kinds=["job"])
    run = sync(sandbox, tmp_path, source)
    assert run.code == 0, run
    assert sandbox.counts["error_injected"] == 4
    assert sandbox.counts["import"] == 1
    assert_campaign(sandbox, want)
    converge(sandbox, tmp_path, source, want, "job-5xx")


@pytest.mark.parametrize("opts", [[], ["--log-format", "json", "-v", "-v"]])
def test_job_polls_failing_for_good_then_the_next_run_waits_for_the_job(sandbox, tmp_path,
                                                                        opts):
    """Every look at the import job fails (502 beyond the retry budget): exit 1 with the
    status named; the next run follows the job left behind instead of importing again."""
    old = rows_for(range(1, 3))
    seed(sandbox, old)
    want = old + rows_for(range(90, 95))
    source = write_source(tmp_path / "s.csv", want)
    sandbox.fail_next(RetryPolicy().max_retries + 1, status=502, kinds=["job"])
    run = sync(sandbox, tmp_path, source, opts=opts)
    message = failed(run)
    assert "502" in message, message
    assert sandbox.counts["import"] == 1
    converge(sandbox, tmp_path, source, want, "job-502")
    assert sandbox.counts["import"] == 1, "the rows of the unfollowed job were imported again"
