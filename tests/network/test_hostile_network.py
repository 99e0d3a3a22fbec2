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
import os
import re
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from netfaults import (  # the helpers and the faults, shared with tests/test_token_leaks.py
    CAMPAIGN_COMMANDS,
    CID,
    CONNECT_FAULTS,
    FAKE_FAULTS,
    HTML_ERROR_PAGE,
    JSON_TYPE,
    NEW_TOKEN,
    NOT_THE_PLATFORM,
    ROOT,
    SANDBOX_FAULTS,
    SSO_LOGIN,
    TOKEN,
    TRUNCATED,
    VERBOSITIES,
    WITH_CA_BUNDLE,
    FakePlatform,
    Run,
    always,
    assert_campaign,
    assert_no_token_on_disk,
    conn,
    converge,
    export,
    failed,
    invoke,
    make_cert,
    playing,
    quick_backoff,  # noqa: F401  (autouse)
    reads,
    rows_for,
    seed,
    sync,
    trickled_contacts,
    write_source,
    writes,
)

from connector.api.http import RetryPolicy
from connector.cli import cli
from connector.sandbox import SandboxServer

# ------------------------------------------------------------------ certificates


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_sandbox(tls_files):
    cert, key = tls_files
    with SandboxServer(user="acme", token=TOKEN, campaigns=[CID], job_seconds=0,
                       certfile=str(cert), keyfile=str(key)) as server:
        yield server


# ------------------------------------------------------------------ connecting


@pytest.mark.parametrize("opts", VERBOSITIES)
def test_connection_refused_names_the_host(tmp_path, opts):
    url = CONNECT_FAULTS["connection-refused"]()
    message = failed(export(url, tmp_path, opts=opts))
    assert url.removeprefix("http://") in message
    assert "could not connect" in message
    assert not (tmp_path / "out.csv").exists()


def test_dns_failure_is_exit_1_naming_the_host(tmp_path):
    message = failed(export(CONNECT_FAULTS["dns-failure"](), tmp_path))
    assert "no-such-host.invalid" in message
    assert "could not connect" in message


@pytest.mark.parametrize("opts", VERBOSITIES)
def test_self_signed_certificate_is_refused_by_default(tls_sandbox, tmp_path, opts):
    assert tls_sandbox.url.startswith("https://")
    url = CONNECT_FAULTS["self-signed-certificate"](tls_url=tls_sandbox.url)
    message = failed(export(url, tmp_path, opts=opts))
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
    name = "certificate-for-another-name"
    assert name in WITH_CA_BUNDLE
    url = CONNECT_FAULTS[name](tls_url=tls_sandbox.url)
    message = failed(export(url, tmp_path, extra=["--ca-bundle", str(tls_files[0])]))
    assert re.search(r"certificate verif(y|ication) failed", message, re.I), message
    assert "localhost" in message
    assert tls_sandbox.counts["list"] == 0


def test_https_to_a_plain_http_server_does_not_blame_the_certificate(sandbox, tmp_path):
    url = CONNECT_FAULTS["https-to-plain-http"](plain_url=sandbox.url)
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
    port = int(CONNECT_FAULTS["connection-refused"]().rsplit(":", 1)[1])  # a free port
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
    fault = SANDBOX_FAULTS["slow-answers"]
    for name, value in fault.env.items():
        monkeypatch.setenv(name, value)
    start = time.monotonic()
    with fault.playing(sandbox):
        message = failed(export(sandbox.url, tmp_path, opts=opts))
    took = time.monotonic() - start
    assert "no answer" in message and "timed out" in message.lower(), message
    # one try and RetryPolicy.max_retries more, each cut at the read timeout
    assert took < 10, took


def test_server_that_never_answers_is_exit_1_after_bounded_retries(tmp_path, monkeypatch):
    with playing(FAKE_FAULTS["never-answers"], monkeypatch) as fake:
        message = failed(export(fake.url, tmp_path))
        assert "timed out" in message.lower(), message
        assert reads(fake.hits) == RetryPolicy().max_retries + 1


@pytest.mark.parametrize("opts", [[], ["--log-format", "json", "-v", "-v"]])
def test_a_body_trickled_past_the_request_deadline_is_a_read_timeout(tmp_path, monkeypatch,
                                                                     opts):
    """One byte every 20 ms never trips the 60 s read timeout (it bounds the gap between
    packets); the request deadline cuts each attempt at 0.4 s, and the run ends as after
    a read timeout: bounded retries, one line, exit 1."""
    start = time.monotonic()
    with playing(FAKE_FAULTS["trickled-body"], monkeypatch) as fake:
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
    with FakePlatform(always(200, JSON_TYPE, trickled_contacts(1)), trickle=0.001) as fake:
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
    source = write_source(tmp_path / "s.csv", rows_for([1, 2]))

    def run_against(tag: str) -> tuple[Run, list[tuple[str, str]], list[dict[str, str]]]:
        # the reads come whole, only the import's answer trickles (or never comes)
        with playing(FAKE_FAULTS[tag], monkeypatch) as fake:
            run = invoke(["sync", str(source), "--campaign-id", str(CID), "-m", "generic",
                          "--state", str(tmp_path / f"{tag}.db"), "--report",
                          str(tmp_path / tag), "--concurrency", "1"] + conn(fake.url))
            hits = list(fake.hits)
        with open(tmp_path / tag / "operations.csv", encoding="utf-8-sig") as handle:
            ops = list(csv.DictReader(handle))
        return run, hits, ops

    timed_out, timeout_hits, timeout_ops = run_against("unanswered-import")
    trickled, trickle_hits, trickle_ops = run_against("trickled-import-answer")
    assert trickled.code == timed_out.code, (trickled, timed_out)
    # the same requests in the same order: a fresh read of the campaign before each
    # import is sent again, then in halves, as after any ambiguous import
    assert trickle_hits == timeout_hits
    assert [m for m, _ in trickle_hits].count("POST") > 1
    assert trickle_ops == timeout_ops
    assert trickled.text.replace("trickled-import-answer", "unanswered-import") == \
        timed_out.text


# ------------------------------------------------------------------ strange answers


def test_answer_that_is_not_json_says_what_came_back(tmp_path, monkeypatch):
    with playing(FAKE_FAULTS["not-json"], monkeypatch) as fake:
        message = failed(export(fake.url, tmp_path))
    assert "expected JSON" in message and "text/plain" in message, message
    assert f"{len(NOT_THE_PLATFORM)} bytes" in message


def test_json_of_the_wrong_shape_says_what_came_back(tmp_path, monkeypatch):
    with playing(FAKE_FAULTS["json-of-the-wrong-shape"], monkeypatch) as fake:
        message = failed(export(fake.url, tmp_path))
    assert "expected a list of contacts" in message, message


@pytest.mark.parametrize("status", [500, 502])
@pytest.mark.parametrize("opts", [[], ["--log-format", "json"]])
def test_html_error_page_is_exit_1_after_retries(tmp_path, monkeypatch, status, opts):
    with playing(FAKE_FAULTS[f"html-error-page-{status}"], monkeypatch) as fake:
        message = failed(export(fake.url, tmp_path, opts=opts))
        assert reads(fake.hits) == RetryPolicy().max_retries + 1
    assert f"-> {status}" in message, message
    assert "text/html" in message and "non-JSON" in message, message
    assert f"{len(HTML_ERROR_PAGE)} bytes" in message, message
    assert "<html" not in message


def test_truncated_body_is_exit_1_and_says_so(tmp_path, monkeypatch):
    with playing(FAKE_FAULTS["truncated-body"], monkeypatch) as fake:
        message = failed(export(fake.url, tmp_path))
        assert reads(fake.hits) == RetryPolicy().max_retries + 1
    assert "no answer from the platform" in message
    assert f"{len(TRUNCATED)} bytes read" in message, message
    assert re.search(r"IncompleteRead|incomplete|truncat|bytes read", message, re.I), message


@pytest.mark.parametrize("status", [404, 422, 503])
def test_a_multiline_server_message_still_gives_one_line(tmp_path, monkeypatch, status):
    with playing(FAKE_FAULTS[f"multiline-message-{status}"], monkeypatch) as fake:
        result = CliRunner().invoke(cli, ["export", "--campaign-id", str(CID), "--output",
                                          str(tmp_path / "o.csv")] + conn(fake.url))
    assert result.exit_code == 1, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Internal failure" in lines[0]


def test_a_huge_server_message_is_cut_short(tmp_path, monkeypatch):
    with playing(FAKE_FAULTS["huge-message"], monkeypatch) as fake:
        message = failed(export(fake.url, tmp_path))
    assert "invalid contact" in message
    assert len(message) < 2000, len(message)


def test_a_redirect_is_not_followed_and_is_named(tmp_path, monkeypatch):
    with playing(FAKE_FAULTS["redirect"], monkeypatch) as fake:
        message = failed(export(fake.url, tmp_path))
        assert len(fake.hits) == 1
    assert f"redirect to {SSO_LOGIN}" in message
    assert "--base-url" in message


def test_401_on_the_first_request_says_the_credentials_were_refused(sandbox, tmp_path):
    message = failed(export(sandbox.url, tmp_path, token="wrong-token"))
    assert "refused the user name and API token" in message
    assert "--api-token" in message
    assert "wrong-token" not in message
    with SANDBOX_FAULTS["credentials-refused"].playing(sandbox):
        assert failed(export(sandbox.url, tmp_path)) == message.replace("wrong-token",
                                                                        TOKEN)


def test_429_with_a_huge_retry_after_does_not_hang_the_run(tmp_path, monkeypatch):
    with playing(FAKE_FAULTS["retry-after-an-hour"], monkeypatch) as fake:
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


@pytest.mark.parametrize("command", CAMPAIGN_COMMANDS)
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


def test_unknown_job_is_reported_per_id_with_exit_3(sandbox):
    run = invoke(["jobs", "--campaign-id", str(CID), "4242"] + conn(sandbox.url))
    assert run.code == 3, run
    assert "4242\tnot found" in run.text and TOKEN not in run.text


# ------------------------------------------------------------------ 5xx and 429


def test_5xx_burst_on_reads_is_retried_and_export_succeeds(sandbox, tmp_path):
    rows = rows_for(range(1, 6))
    seed(sandbox, rows)
    SANDBOX_FAULTS["5xx-burst-on-list"].start(sandbox)
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
    SANDBOX_FAULTS[f"5xx-burst-on-{kind}"].start(sandbox)
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
    SANDBOX_FAULTS["5xx-burst-on-list"].start(sandbox)
    run = sync(sandbox, tmp_path, source)
    assert run.code == 0, run
    assert sandbox.counts["error_injected"] == 3
    assert_campaign(sandbox, want)
    converge(sandbox, tmp_path, source, want, "5xx-read")


def test_429_storm_is_retried_and_succeeds(sandbox, tmp_path):
    rows = rows_for(range(1, 4))
    seed(sandbox, rows)
    SANDBOX_FAULTS["429-storm"].start(sandbox)
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
    SANDBOX_FAULTS["429-storm-on-patch-and-list"].start(sandbox)
    run = sync(sandbox, tmp_path, source)
    assert run.code == 0, run
    assert sandbox.counts["error_injected"] == 8
    assert_campaign(sandbox, want)
    converge(sandbox, tmp_path, source, want, "429")


def test_sandbox_rate_limit_429s_are_counted_and_waited_out(sandbox, tmp_path):
    rows = rows_for(range(1, 4))
    seed(sandbox, rows)
    SANDBOX_FAULTS["sandbox-rate-limit"].start(sandbox)  # 2 requests/s
    # --rate-limit far above the sandbox's 2/s: the sandbox answers 429 (Retry-After 1)
    source = write_source(tmp_path / "s.csv", rows + rows_for([50, 51, 52]))
    run = sync(sandbox, tmp_path, source)
    limited = sandbox.counts["rate_limited"]
    assert run.code == 0, run
    assert limited >= 1
    assert_campaign(sandbox, rows + rows_for([50, 51, 52]))


def test_a_server_echoing_the_token_in_a_5xx_to_a_write_does_not_put_it_on_disk(
        tmp_path, monkeypatch):
    source = write_source(tmp_path / "s.csv", rows_for([1, 2]))
    with playing(FAKE_FAULTS["token-echoed-in-5xx-to-writes"], monkeypatch) as fake:
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
    fault = SANDBOX_FAULTS["platform-gone-mid-run"]  # stopped after 4 PATCHes
    with fault.playing(sandbox):
        run = sync(sandbox, tmp_path, source, extra=list(fault.extra))
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
    fault = SANDBOX_FAULTS["401-mid-run"]
    fault.start(sandbox)
    run = sync(sandbox, tmp_path, source, opts=opts, extra=list(fault.extra))
    message = failed(run)
    assert "refused the user name and API token" in message, message
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
    fault = SANDBOX_FAULTS["token-revoked-mid-run"]  # NEW_TOKEN after 3 PATCHes
    with fault.playing(sandbox):
        run = sync(sandbox, tmp_path, source, extra=list(fault.extra))
    message = failed(run)
    assert "refused the user name and API token" in message, message
    assert sandbox.counts["auth_failed"] >= 1
    assert 3 <= sandbox.counts["patch"] < 20
    again = sync(sandbox, tmp_path, source, report="new-token", token=NEW_TOKEN)
    assert again.code == 0, again
    assert NEW_TOKEN not in again.text
    assert_campaign(sandbox, want)
    idle = sync(sandbox, tmp_path, source, report="new-token-idle", token=NEW_TOKEN)
    assert idle.code == 0
    assert_campaign(sandbox, want)


# ------------------------------------------------------------------ jobs that never end


def test_job_that_never_finishes_is_left_pending_then_the_next_run_converges(sandbox,
                                                                            tmp_path):
    old = rows_for(range(1, 4))
    seed(sandbox, old)
    want = old + rows_for(range(60, 66))
    source = write_source(tmp_path / "s.csv", want)
    fault = SANDBOX_FAULTS["job-never-ends"]
    fault.start(sandbox)
    run = sync(sandbox, tmp_path, source, extra=list(fault.extra))
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
    SANDBOX_FAULTS["5xx-and-429-polling-a-job"].start(sandbox)  # 2 x 503, 2 x 429
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
    SANDBOX_FAULTS["502-polling-a-job-for-good"].start(sandbox)
    run = sync(sandbox, tmp_path, source, opts=opts)
    message = failed(run)
    assert "502" in message, message
    assert sandbox.counts["import"] == 1
    converge(sandbox, tmp_path, source, want, "job-502")
    assert sandbox.counts["import"] == 1, "the rows of the unfollowed job were imported again"
