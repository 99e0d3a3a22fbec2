"""The HTTP side of the sandbox: a threaded stdlib server, Basic auth, the fault gates
(latency, injected errors, rate limiting, dropped connections) and the test-facing
SandboxServer object."""

from __future__ import annotations

import base64
import binascii
import collections
import json
import logging
import math
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

from .endpoints import JOB_ID_STYLES, BadRequest, Options, Reply, Request, error, public_job, route
from .phones import loose_e164, valid_e164
from .store import Store, now_iso

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024 * 1024
_UNSET: Any = object()


class LoggedRequest(NamedTuple):
    method: str
    path: str  # without the query string
    kind: str | None
    status: int  # 0 when the connection was dropped without an answer


class _Drop(Exception):
    """Close the connection without any HTTP answer."""


class _Fault:
    def __init__(self, n: int, kinds: Iterable[str] | None, **extra: Any) -> None:
        self.left = n
        self.kinds = set(kinds) if kinds is not None else None
        self.extra = extra

    def matches(self, kind: str | None) -> bool:
        return self.kinds is None or kind in self.kinds


def _take(queue: list[_Fault], kind: str | None) -> _Fault | None:
    for fault in queue:
        if fault.matches(kind):
            fault.left -= 1
            if fault.left <= 0:
                queue.remove(fault)
            return fault
    return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], handler: type, sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        with self.sockets_lock:
            self.open_sockets.add(sock)
        return sock, addr

    def shutdown_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_sockets(self) -> None:
        with self.sockets_lock:
            socks = list(self.open_sockets)
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that vanish mid-answer are expected here: no traceback on stderr.
        log.debug("connection error from %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: without TCP_NODELAY, Nagle's
    # algorithm and the client's delayed ACK hold every answer back ~40 ms
    disable_nagle_algorithm = True
    server_version = "campaign-sync-sandbox"
    timeout = 60  # idle keep-alive connections are closed after this
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        sandbox = self.server.sandbox
        with sandbox._gate:
            sandbox._in_flight += 1
            sandbox._peak_in_flight = max(sandbox._peak_in_flight, sandbox._in_flight)
        try:
            self._serve_one()
        finally:
            with sandbox._gate:
                sandbox._in_flight -= 1

    def _serve_one(self) -> None:
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if body is None:
            self.close_connection = True
            self._send(error(413, f"request body over {MAX_BODY_BYTES} bytes"), path, None)
            return
        address = self.server.server_address
        host = self.headers.get("Host") or f"{address[0]}:{address[1]}"
        req = Request(self.command, path, query,
                      {k.lower(): v for k, v in self.headers.items()}, body,
                      f"{self.server.sandbox.scheme}://{host}")
        try:
            reply, kind = self.server.sandbox._answer(req)
        except _Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(reply, path, kind)

    def _send(self, reply: Reply, path: str, kind: str | None) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode("utf-8")
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class SandboxServer:
    """A local server that behaves like the platform's campaign contact endpoints.

    See the package docstring for the behaviour; every fault option can be changed
    while running with set_faults().
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, user: str = "sandbox",
                 token: str = "sandbox-token", campaigns: Iterable[int] = (6,),
                 data_file: str | None = None, latency_ms: float = 0, error_rate: float = 0.0,
                 seed: int | None = None, rate_limit: int | None = None,
                 retry_after_header: bool = True, job_seconds: float = 0.5,
                 fail_jobs: int = 0, job_id_style: str = "body",
                 ignore_paging: bool = False, certfile: str | None = None,
                 keyfile: str | None = None) -> None:
        if keyfile is not None and certfile is None:
            raise ValueError("keyfile needs certfile")
        self.host = host
        self.certfile = certfile
        self.keyfile = keyfile
        self.port = port
        self.user = user
        self.token = token
        self._lock = threading.RLock()  # the state
        self._gate = threading.Lock()  # counters, fault queues, rate window
        self._store = Store(campaigns, data_file)
        self._opts = Options()
        self._latency_ms = 0.0
        self._error_rate = 0.0
        self._rng = random.Random(seed)
        self._rate_limit: int | None = None
        self._retry_after_header = True
        self._window: collections.deque[float] = collections.deque()
        self._fail_queue: list[_Fault] = []
        self._drop_queue: list[_Fault] = []
        self._counts: collections.Counter[str] = collections.Counter()
        self._requests: collections.deque[LoggedRequest] = collections.deque(maxlen=100_000)
        self._in_flight = self._peak_in_flight = 0  # requests being answered at once
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.set_faults(latency_ms=latency_ms, error_rate=error_rate, rate_limit=rate_limit,
                        retry_after_header=retry_after_header, job_seconds=job_seconds,
                        fail_jobs=fail_jobs, job_id_style=job_id_style,
                        ignore_paging=ignore_paging)

    # ------------------------------------------------------------- lifecycle

    def start(self) -> SandboxServer:
        """Listen (port 0 picks a free port) and serve from a background thread."""
        if self._httpd is not None:
            return self
        httpd = _HTTPServer((self.host, self.port), _Handler, self)
        if self.certfile is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                context.load_cert_chain(self.certfile, self.keyfile)
            except BaseException:
                httpd.server_close()
                raise
            # the handshake happens in the connection's own thread (at its first read),
            # so a client that never completes it cannot stall the accept loop
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True,
                                               do_handshake_on_connect=False)
        self._httpd = httpd
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name=f"sandbox-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every open connection, free the port."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_open_sockets()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def wait(self) -> None:
        """Block until stop() (used by the CLI; Ctrl-C interrupts it)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def scheme(self) -> str:
        """https when the sandbox was given a certificate, else http."""
        return "https" if self.certfile is not None else "http"

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8080 (https://... with certfile; the API is
        under url + /apps/api/v1)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/apps/api/v1"

    # ------------------------------------------------------------- faults

    def set_faults(self, *, latency_ms: float = _UNSET, error_rate: float = _UNSET,
                   seed: int | None = _UNSET, rate_limit: int | None = _UNSET,
                   retry_after_header: bool = _UNSET, job_seconds: float = _UNSET,
                   fail_jobs: int = _UNSET, job_id_style: str = _UNSET,
                   ignore_paging: bool = _UNSET) -> None:
        """Change any fault or behaviour option; the others keep their value."""
        with self._gate, self._lock:
            if latency_ms is not _UNSET:
                if latency_ms < 0:
                    raise ValueError("latency_ms must be >= 0")
                self._latency_ms = float(latency_ms)
            if error_rate is not _UNSET:
                if not 0.0 <= error_rate <= 1.0:
                    raise ValueError("error_rate must be between 0 and 1")
                self._error_rate = float(error_rate)
            if seed is not _UNSET:
                self._rng = random.Random(seed)
            if rate_limit is not _UNSET:
                if rate_limit is not None and rate_limit < 0:
                    raise ValueError("rate_limit must be >= 0 (0 or None: no limit)")
                self._rate_limit = int(rate_limit) if rate_limit else None
                self._window.clear()
            if retry_after_header is not _UNSET:
                self._retry_after_header = bool(retry_after_header)
            if job_seconds is not _UNSET:
                if job_seconds < 0:
                    raise ValueError("job_seconds must be >= 0")
                self._opts.job_seconds = float(job_seconds)
            if fail_jobs is not _UNSET:
                if fail_jobs < 0:
                    raise ValueError("fail_jobs must be >= 0")
                self._opts.fail_jobs = int(fail_jobs)
            if job_id_style is not _UNSET:
                if job_id_style not in JOB_ID_STYLES:
                    raise ValueError(f"job_id_style must be one of {', '.join(JOB_ID_STYLES)}")
                self._opts.job_id_style = job_id_style
            if ignore_paging is not _UNSET:
                self._opts.ignore_paging = bool(ignore_paging)

    @property
    def faults(self) -> dict[str, Any]:
        """The current option values."""
        return {"latency_ms": self._latency_ms, "error_rate": self._error_rate,
                "rate_limit": self._rate_limit, "retry_after_header": self._retry_after_header,
                "job_seconds": self._opts.job_seconds, "fail_jobs": self._opts.fail_jobs,
                "job_id_style": self._opts.job_id_style,
                "ignore_paging": self._opts.ignore_paging}

    def fail_next(self, n: int = 1, status: int = 500, retry_after: str | None = None,
                  kinds: Iterable[str] | None = None) -> None:
        """Answer the next n requests (of these kinds) with `status`, before any effect."""
        if not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        with self._gate:
            self._fail_queue.append(_Fault(n, kinds, status=status, retry_after=retry_after))

    def drop_next(self, n: int = 1, kinds: Iterable[str] | None = None,
                  after_effect: bool = False) -> None:
        """Close the connection with no answer for the next n requests (of these kinds);
        with after_effect the request is carried out first (an ambiguous write)."""
        with self._gate:
            self._drop_queue.append(_Fault(n, kinds, after_effect=after_effect))

    def set_token(self, token: str, user: str | None = None) -> None:
        """Change the accepted credentials (a regenerated or disabled token)."""
        with self._gate:
            self.token = token
            if user is not None:
                self.user = user

    # ------------------------------------------------------------- observation

    @property
    def counts(self) -> collections.Counter[str]:
        """Requests by kind (a copy): list, add, import, job, patch, delete, and
        auth_failed, rate_limited, error_injected, dropped."""
        with self._gate:
            return collections.Counter(self._counts)

    def reset_counts(self) -> None:
        with self._gate:
            self._counts.clear()
            self._requests.clear()
            self._peak_in_flight = self._in_flight

    @property
    def peak_in_flight(self) -> int:
        """The most requests answered at the same time since the last reset_counts."""
        with self._gate:
            return self._peak_in_flight

    @property
    def requests(self) -> list[LoggedRequest]:
        """The last 100,000 requests: (method, path, kind, status)."""
        with self._gate:
            return list(self._requests)

    @property
    def jobs(self) -> list[dict[str, Any]]:
        """Every import job as GET answers it, plus campaign_id, submitted (rows in the
        file), skipped (invalid phones) and stored (contacts added)."""
        with self._lock:
            self._store.finish_due_jobs()
            return [dict(public_job(j), campaign_id=j["campaign_id"], submitted=j["submitted"],
                         skipped=j["skipped"], stored=j["stored"])
                    for j in self._store.jobs.values()]

    def contacts(self, campaign_id: int) -> list[dict[str, Any]]:
        """The stored contacts of a campaign, ids ascending (copies, E.164 phones)."""
        with self._lock:
            self._store.finish_due_jobs()
            camp = self._store.campaigns.get(campaign_id)
            if camp is None:
                raise KeyError(f"no campaign {campaign_id}")
            return [dict(c) for c in camp.all()]

    def dnc_list(self) -> dict[str, str | None]:
        """The company Do-Not-Call list: E.164 -> expires_at (None: never), expired
        entries dropped."""
        with self._lock:
            for number in list(self._store.dnc):
                self._store.dnc_listed(number)
            return dict(self._store.dnc)

    @property
    def campaigns(self) -> list[int]:
        with self._lock:
            return sorted(self._store.campaigns)

    # ------------------------------------------------------------- state changes

    def add_campaign(self, campaign_id: int) -> None:
        with self._lock:
            self._store.add_campaign(int(campaign_id))

    def seed(self, campaign_id: int, contacts: Iterable[dict[str, Any]],
             check: bool = True) -> list[dict[str, Any]]:
        """Store contacts directly (the campaign is created if needed); returns them with
        their ids. check=True refuses (ValueError, nothing stored) an invalid or duplicate
        phone; check=False stores as given, only normalizing phones, and is fast."""
        rows = list(contacts)
        with self._lock:
            camp = self._store.add_campaign(int(campaign_id), save=False)
            prepared = []
            seen: set[str] = set()
            for n, row in enumerate(rows):
                fields = dict(row)
                raw = fields.get("phone_number") or ""
                if check:
                    phone = valid_e164(raw)
                    if phone is None:
                        raise ValueError(f"seed row {n}: phone_number {raw!r} is not valid")
                    if phone in seen or camp.ids_with_phone(phone):
                        raise ValueError(f"seed row {n}: phone_number {raw!r} is already used")
                    seen.add(phone)
                else:
                    phone = loose_e164(raw) if raw else None
                fields["phone_number"] = phone
                if fields.get("outbound_number"):
                    out = fields["outbound_number"]
                    fields["outbound_number"] = valid_e164(out) or out
                ext = fields.get("external_unique_id")
                if ext is not None and not isinstance(ext, str):
                    fields["external_unique_id"] = str(ext)
                prepared.append(fields)
            stamp = now_iso()
            stored = [self._store.new_contact(camp, f, stamp) for f in prepared]
            self._store.save()
            return [dict(c) for c in stored]

    def finish_jobs(self) -> int:
        """Let every import job still in progress finish now (completed or failed as it
        would have been at its time); returns how many there were."""
        with self._lock:
            pending = list(self._store.pending_jobs)
            for job_id in pending:
                self._store.jobs[job_id]["ready_at"] = 0.0
            self._store.finish_due_jobs()
            return len(pending)

    def set_status(self, campaign_id: int, contact_id: int, status: str) -> None:
        """Set a contact's status (as the dialer would)."""
        with self._lock:
            camp = self._store.campaigns[campaign_id]
            camp.by_id[contact_id]["status"] = status
            self._store.save()

    # ------------------------------------------------------------- one request

    def _count(self, req: Request, kind: str | None, status: int, *keys: str) -> None:
        for key in keys:
            self._counts[key] += 1
        self._requests.append(LoggedRequest(req.method, req.path, kind, status))

    def _answer(self, req: Request) -> tuple[Reply, str | None]:
        """Gates in order: latency, fail_next, drop_next, auth, rate limit, error_rate;
        then the endpoint. Raises _Drop to close the connection without answering."""
        kind, handler = route(req.method, req.path)
        if self._latency_ms:
            time.sleep(self._latency_ms / 1000.0)
        drop_after = False
        with self._gate:
            fault = _take(self._fail_queue, kind)
            if fault is not None:
                status = fault.extra["status"]
                headers = {}
                if fault.extra["retry_after"] is not None:
                    headers["Retry-After"] = str(fault.extra["retry_after"])
                self._count(req, kind, status, "error_injected")
                return error(status, f"injected failure ({status})", headers), kind
            drop = _take(self._drop_queue, kind)
            if drop is not None:
                if not drop.extra["after_effect"]:
                    self._count(req, kind, 0, "dropped")
                    raise _Drop()
                drop_after = True
            if not self._authorized(req.headers.get("authorization", "")):
                self._count(req, kind, 401, "auth_failed")
                message = ("missing HTTP Basic credentials" if "authorization" not in req.headers
                           else "invalid API credentials: the token may have been disabled "
                                "or regenerated")
                return error(401, message, {"WWW-Authenticate": 'Basic realm="api"'}), kind
            limited = self._rate_limited()
            if limited is not None:
                self._count(req, kind, 429, "rate_limited")
                headers = {"Retry-After": limited} if self._retry_after_header else {}
                return error(429, "rate limit exceeded", headers), kind
            if self._error_rate and self._rng.random() < self._error_rate:
                self._count(req, kind, 500, "error_injected")
                return error(500, "Internal Server Error (injected)"), kind
        with self._lock:
            self._store.finish_due_jobs()
            try:
                reply = handler(self._store, self._opts, req)
            except BadRequest as exc:
                reply = error(exc.status, str(exc))
            except Exception as exc:  # noqa: BLE001 - answer 500 rather than kill the thread
                log.debug("sandbox handler error", exc_info=True)
                reply = error(500, f"sandbox error: {type(exc).__name__}: {exc}")
        with self._gate:
            if drop_after:
                self._count(req, kind, 0, *(k for k in (kind, "dropped") if k))
                raise _Drop()
            self._count(req, kind, reply.status, *(k for k in (kind,) if k))
        return reply, kind

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, token = decoded.partition(":")
        return bool(sep) and user == self.user and token == self.token

    def _rate_limited(self) -> str | None:
        """None if the request may go on, else the Retry-After value (whole seconds).
        The window holds the requests let through during the last second."""
        if not self._rate_limit:
            return None
        now = time.monotonic()
        window = self._window
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self._rate_limit:
            return str(max(1, math.ceil(window[0] + 1.0 - now)))
        window.append(now)
        return None
