"""One HTTP session for the platform: Basic auth, timeouts, a shared rate limit,
safe retries, and typed errors that never carry the token.

Retry policy (conventions: "retry what is safe to retry"):

* 429 means the request was not processed: always retried, honouring
  ``Retry-After`` (seconds or an HTTP date) or backing off when it is absent.
  A 429 also pauses the shared limiter, so every thread slows down.
* A connection that could not be opened (refused, DNS, connect timeout) was
  never sent: retried for every method.
* 5xx, read timeouts and dropped connections are retried with jittered
  backoff only for requests that are safe to repeat (GET, and writes the
  caller marks idempotent). For any other write they raise
  :class:`AmbiguousWriteError`: the caller must look at the campaign before
  writing again.
* Every attempt has an overall deadline (``Settings.request_deadline``): the read
  timeout only bounds the gap between two packets, so a server that trickles its
  body a byte at a time would otherwise hold a request for hours. An answer still
  arriving at the deadline is a read timeout, retried or reported as one.
"""

from __future__ import annotations

import base64
import collections
import email.utils
import json
import logging
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import certifi
import requests.exceptions
import urllib3
import urllib3.exceptions

from .. import __version__
from ..config import Settings
from ..errors import (
    AmbiguousWriteError,
    ApiError,
    AuthError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ProtocolError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from ..privacy import scrub_secrets

log = logging.getLogger("campaign_sync.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RateLimiter:
    """Spaces requests at least ``1/rate`` seconds apart, across all threads.

    Requests are spaced ``1/rate`` apart from their actual release, and the last
    ``rate`` release times are kept: no one-second window (with a small margin for
    the network) ever holds more than ``rate`` requests, so a burst cannot exceed the
    platform's per-instance limit.
    ``pause`` pushes every future slot back (used on 429).
    """

    #: slack on the one-second window: thread wake-ups and the network can bring
    #: requests released 1.000 s apart closer together by a few milliseconds
    MARGIN = 0.03

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be above 0")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0
        # the actual release times of the last `rate` requests: a new one goes only
        # when the oldest of them is more than a second (plus MARGIN) old
        self._window: collections.deque[float] = collections.deque(
            maxlen=max(1, int(rate)))

    def acquire(self) -> None:
        """Block until this caller may send one request."""
        while True:
            with self._lock:
                now = self._clock()
                earliest = self._next
                if len(self._window) == self._window.maxlen:
                    earliest = max(earliest, self._window[0] + 1.0 + self.MARGIN)
                if now >= earliest:
                    self._window.append(now)
                    self._next = now + self.interval
                    return
                wait = earliest - now
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """No request goes out for ``seconds`` from now."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


@dataclass
class RetryPolicy:
    """How many times, and how long, to retry."""

    max_retries: int = 5            # 5xx and transport failures of safe requests
    max_rate_limited: int = 10      # 429s in a row for one request
    max_connect_retries: int = 3    # connections that could not be opened
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0  # a longer Retry-After ends the run (exit 1) instead

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter exponential backoff for attempt 1, 2, ..."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return rng.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


MESSAGE_LIMIT = 300
BODY_CHUNK = 64 * 1024
MIN_SCRUBBED = 8  # characters: shorter forms of the token are not taken out of answers


def server_message(response: Response) -> str | None:
    """The body's ``message``/``error``/``errors``, or a short description of it."""
    text = response.text or ""
    if not text.strip():
        return None
    try:
        body = response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "unknown type").split(";")[0]
        return f"a non-JSON body ({kind}, {len(response.content)} bytes)"
    if isinstance(body, Mapping):
        for key in ("message", "error", "errors", "error_message"):
            if body.get(key):
                value = body[key]
                text = value if isinstance(value, str) else json.dumps(value)
                # one short line: a server's traceback or essay stays on the server
                text = " ".join(text.split())
                return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT] + "..."
    return None


def _secret_forms(user: str, token: str) -> tuple[str, ...]:
    """The token as it may come back from a server: itself, inside the Basic
    credentials it is sent in (base64 of ``user:token``), and JSON-escaped (also with
    ``\\/`` for ``/``), longest first."""
    if not token:
        return ()
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    forms: set[str] = set()
    for secret in (token, basic):
        escaped = json.dumps(secret)[1:-1]
        forms.update({secret, escaped, escaped.replace("/", "\\/")})
    return tuple(sorted(forms, key=len, reverse=True))


def _never_sent(exc: requests.exceptions.RequestException) -> bool:
    """True when the request provably did not reach the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        return True
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (urllib3.exceptions.NewConnectionError,
                            urllib3.exceptions.NameResolutionError,
                            ConnectionRefusedError)):
            return True
        if isinstance(cur, urllib3.exceptions.MaxRetryError) and cur.reason is not None:
            cur = cur.reason
            continue
        cur = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else (
            cur.__cause__ or cur.__context__)
    return False


class Response:
    """An answer as the resources see it: status, reason, headers (case-insensitive,
    as urllib3 keeps them) and the whole body, read and scrubbed. ``text`` and
    ``json()`` decode it as requests did: the charset the Content-Type names, UTF-8
    for JSON, ISO-8859-1 for other text."""

    __slots__ = ("status_code", "reason", "headers", "content", "url")

    def __init__(self, status_code: int, reason: str | None, headers: Any, content: bytes,
                 url: str) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers
        self.content = content
        self.url = url

    @property
    def encoding(self) -> str | None:
        kind, _, params = (self.headers.get("Content-Type") or "").partition(";")
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "charset":
                return value.strip(" '\"") or None
        kind = kind.strip().lower()
        if "text" in kind:
            return "ISO-8859-1"
        if "application/json" in kind:
            return "utf-8"
        return None

    @property
    def text(self) -> str:
        try:
            return str(self.content, self.encoding or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return str(self.content, "utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        if self.encoding is None and len(self.content) > 3:
            return json.loads(self.content)  # detects UTF-8, -16 and -32
        return json.loads(self.text)


def _default_bundle() -> str | None:
    """certifi's CA bundle (the one requests verified against), else the system's."""
    return certifi.where()


def _as_request_error(exc: Exception) -> requests.exceptions.RequestException:
    """A urllib3 failure of an attempt in the vocabulary the rest of this module (and
    every message) uses, as requests' adapter maps it: a connection that could not be
    opened or was dropped is a ConnectionError, a connect timeout a ConnectTimeout, a
    read timeout a ReadTimeout, a TLS failure an SSLError."""
    errors = urllib3.exceptions
    if isinstance(exc, errors.SSLError):
        return requests.exceptions.SSLError(exc)
    if isinstance(exc, errors.ConnectTimeoutError) and not isinstance(
            exc, errors.NewConnectionError):
        return requests.exceptions.ConnectTimeout(exc)
    if isinstance(exc, errors.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(exc)
    if isinstance(exc, errors.LocationValueError):
        return requests.exceptions.InvalidURL(exc)
    return requests.exceptions.ConnectionError(exc)


class HttpSession:
    """The one connection pool every resource shares (urllib3, keep-alive, TLS
    verified against ``ca_bundle`` or certifi's bundle).

    Requests go straight to urllib3: requests' own per-request machinery (settings
    merging, cookies, hooks) cost more CPU than the rest of a page read."""

    def __init__(self, settings: Settings, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 seed: int | None = None) -> None:
        self.settings = settings
        self.root = settings.api_root
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = random.Random(seed)
        self.limiter = RateLimiter(settings.rate_limit, clock=clock, sleep=sleep)
        self.deadline = settings.request_deadline
        self._secrets = _secret_forms(settings.api_user, settings.api_token)
        # only a form long enough to tell from data is taken out of answers: replacing a
        # one-letter test token in a page of contacts would rewrite the contacts
        self._answer_secrets = tuple(f for f in self._secrets if len(f) >= MIN_SCRUBBED)
        self.headers = {
            "User-Agent": f"campaign-sync/{__version__}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
            **urllib3.make_headers(basic_auth=f"{settings.api_user}:{settings.api_token}"),
        }
        # no proxy or .netrc from the environment (they must not change auth or TLS);
        # retries are ours: urllib3 must not repeat a write behind our back
        tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        bundle = settings.ca_bundle
        if bundle and os.path.isdir(bundle):
            tls["ca_cert_dir"] = bundle
        else:
            tls["ca_certs"] = bundle or _default_bundle()
        self.pool = urllib3.PoolManager(num_pools=4, maxsize=32, retries=False, **tls)
        root = urllib.parse.urlsplit(self.root)
        self._origin = f"{root.scheme}://{root.netloc}"
        self._origin_slash = self._origin + "/"
        self._origin_pool: urllib3.HTTPConnectionPool | None = None
        self._urllib3_timeout = urllib3.Timeout(connect=settings.connect_timeout,
                                                read=settings.read_timeout)
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "rate_limited": 0}
        self._stats_lock = threading.Lock()

    def close(self) -> None:
        """Release the connection pool."""
        self.pool.clear()
        self._origin_pool = None

    def url(self, path: str) -> str:
        """Absolute URL for a path under the API root (absolute URLs pass through)."""
        if path.startswith(("http://", "https://")):
            return path
        return self.root + "/" + path.lstrip("/")

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self.stats[key] += 1

    def _scrub(self, text: str) -> str:
        return scrub_secrets(text, self._secrets)

    def _scrub_answer(self, response: Response, body: bytes) -> bytes:
        """The answer as the rest of the code may see it: the token (and the Basic
        credentials it is sent in) taken out of the body, the headers and the reason
        phrase, so that no message, job error, report or state row built from the
        answer can carry them, whatever field a server echoes them in."""
        forms = self._answer_secrets
        for form in forms:
            body = body.replace(form.encode(), b"***")
        for name, value in list(response.headers.items()):
            clean = value
            for form in forms:
                clean = clean.replace(form, "***")
            if clean != value:
                response.headers[name] = clean
        if response.reason:
            for form in forms:
                response.reason = response.reason.replace(form, "***")
        return body

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None, files: Mapping[str, Any] | None = None,
                idempotent: bool | None = None,
                ok: Iterable[int] = (200, 201, 202, 204)) -> Response:
        """Send one logical request, retrying what is safe; return a 2xx response or raise."""
        method = method.upper()
        url = self.url(path)
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        ok = set(ok)
        failures = 0
        limited = 0
        while True:
            self.limiter.acquire()
            self._count("requests")
            try:
                response = self._send(method, url, params, json_body, files)
            except requests.exceptions.RequestException as exc:
                failures += 1
                never_sent = _never_sent(exc)
                error = self._transport_error(exc, method, url, never_sent)
                if isinstance(exc, requests.exceptions.SSLError):
                    raise error from None
                if not (never_sent or safe):
                    raise error from None
                limit = self.retry.max_connect_retries if never_sent else self.retry.max_retries
                if failures > limit:
                    raise error from None
                self._wait(self.retry.backoff(failures, self._rng), f"{error}")
                continue
            status = response.status_code
            if status in ok:
                return response
            if status == 429:
                limited += 1
                self._count("rate_limited")
                if limited > self.retry.max_rate_limited:
                    raise RateLimitedError(
                        "the platform kept answering 429 Too Many Requests", status=status,
                        method=method, url=url,
                        server_message=self._scrub(server_message(response) or "") or None,
                        hint="lower --rate-limit (other clients share the instance's "
                             "10 requests/s) and run again") from None
                delay = parse_retry_after(response.headers.get("Retry-After"))
                if delay is None:
                    delay = self.retry.backoff(limited, self._rng)
                if delay > self.retry.max_retry_after:
                    raise RateLimitedError(
                        f"the platform asked to wait {delay:.0f} s before the next request "
                        f"(Retry-After), more than {self.retry.max_retry_after:.0f} s",
                        status=status, method=method, url=url,
                        server_message=self._scrub(server_message(response) or "") or None,
                        hint="run again later; the run can be resumed") from None
                self.limiter.pause(delay)
                self._count("retries")
                log.info("rate limited (429) on %s %s; waiting %.2fs", method, url, delay)
                continue
            if status >= 500:
                failures += 1
                error = self._status_error(response, method, url)
                if not safe:
                    raise AmbiguousWriteError(
                        f"the platform answered {status} to a write that may have taken "
                        "effect", status=status, method=method, url=url,
                        server_message=self._scrub(server_message(response) or "") or None,
                        hint="the campaign is checked before this write is tried again")
                if failures > self.retry.max_retries:
                    raise error
                self._wait(self.retry.backoff(failures, self._rng), str(error))
                continue
            raise self._status_error(response, method, url)

    def _send(self, method: str, url: str, params: Mapping[str, Any] | None, json_body: Any,
              files: Mapping[str, Any] | None) -> Response:
        """One attempt: send, then read the whole body by the request deadline.
        Raises requests' exception types (see `_as_request_error`)."""
        headers = dict(self.headers)
        body: bytes | None = None
        if params:
            url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(
                params, doseq=True)
        if files is not None:
            body, headers["Content-Type"] = urllib3.encode_multipart_formdata(dict(files))
        elif json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + self.deadline
        try:
            # the API's own origin goes straight to its connection pool (the manager
            # would parse the URL and look the pool up on every request)
            if url.startswith(self._origin_slash):
                pool: Any = self._origin_pool
                if pool is None:
                    pool = self._origin_pool = self.pool.connection_from_url(self._origin)
                target = url[len(self._origin):]
            else:
                pool, target = self.pool, url
            raw = pool.urlopen(method, target, body=body, headers=headers, redirect=False,
                               retries=False, timeout=self._urllib3_timeout,
                               preload_content=False, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _as_request_error(exc) from None
        content = self._read_body(raw, deadline)
        response = Response(raw.status, raw.reason, raw.headers, b"", url)
        response.content = self._scrub_answer(response, content)
        return response

    def _read_body(self, raw: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        """The whole body of a response by ``deadline`` (monotonic), or ``ReadTimeout``.

        ``read1`` returns after a single receive, so the deadline is looked at
        between the packets however slowly they come. urllib3's errors are turned
        into requests' as ``Response.iter_content`` did, so a body cut short or
        stalled fails exactly as it did when requests read it. A connection goes
        back to the pool only after a whole body.
        """
        parts: list[bytes] = []
        try:
            while True:
                chunk = raw.read1(BODY_CHUNK, decode_content=True)
                if not chunk:
                    break
                parts.append(chunk)
                if time.monotonic() >= deadline and not raw.closed:
                    raise requests.exceptions.ReadTimeout(
                        f"Read timed out: the answer was still arriving after the "
                        f"{self.deadline:g} s request deadline (request_deadline)")
        except BaseException as exc:
            raw.close()  # a half-read connection must not go back to the pool
            raw.release_conn()
            if isinstance(exc, urllib3.exceptions.SSLError):
                raise requests.exceptions.SSLError(exc) from None
            if isinstance(exc, urllib3.exceptions.ProtocolError):
                raise requests.exceptions.ChunkedEncodingError(exc) from None
            if isinstance(exc, urllib3.exceptions.DecodeError):
                raise requests.exceptions.ContentDecodingError(exc) from None
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
                raise requests.exceptions.ConnectionError(exc) from None
            raise
        raw.release_conn()
        return b"".join(parts)

    def _wait(self, seconds: float, why: str) -> None:
        self._count("retries")
        log.info("retrying in %.2fs after: %s", seconds, why)
        self._sleep(seconds)

    def _transport_error(self, exc: requests.exceptions.RequestException, method: str,
                         url: str, never_sent: bool) -> ApiError:
        detail = self._scrub(f"{type(exc).__name__}: {exc}")[:300]
        if isinstance(exc, requests.exceptions.SSLError) and "WRONG_VERSION_NUMBER" in detail:
            return TransportError(
                f"{self.settings.base_url} did not answer in TLS ({detail})", method=method,
                url=url, hint="the server may speak plain HTTP on this port: check --base-url")
        if isinstance(exc, requests.exceptions.SSLError):
            return TransportError(
                f"TLS verification failed for {self.settings.base_url} ({detail})",
                method=method, url=url,
                hint="if the server uses a private CA, pass its certificate with "
                     "--ca-bundle FILE (verification cannot be turned off)")
        if never_sent:
            return TransportError(
                f"could not connect to {self.settings.base_url} ({detail})", method=method,
                url=url, hint="check --base-url and the network, then run again")
        if method in IDEMPOTENT_METHODS:
            return TransportError(f"no answer from the platform ({detail})", method=method,
                                  url=url, hint="run again; nothing was changed by this read")
        return AmbiguousWriteError(
            f"the connection failed after the request was sent ({detail})", method=method,
            url=url, hint="the write may or may not have taken effect; the campaign is "
                          "checked before it is tried again")

    def _status_error(self, response: Response, method: str, url: str) -> ApiError:
        status = response.status_code
        msg = server_message(response)
        if msg:
            msg = self._scrub(msg)
        kw: dict[str, Any] = {"status": status, "method": method, "url": url,
                              "server_message": msg}
        if status == 401:
            # said once: the server's own words about the token would repeat ours
            kw["server_message"] = None
            return AuthError(
                f"the platform refused the user name and API token, which it checks "
                f"together (user name sent: {self.settings.api_user!r})", **kw,
                hint="check both: the user name is --api-user or CAMPAIGN_SYNC_API_USER "
                     "(default: the subdomain of the base URL; `campaign-sync sandbox` "
                     "prints the sandbox's), and the token may be wrong, disabled or "
                     "regenerated (create one under Settings > Developer Settings > API "
                     "Credentials; pass it with --api-token or CAMPAIGN_SYNC_API_TOKEN)")
        if status == 403:
            return AuthError("the API user may not do this", **kw,
                             hint="ask an administrator to give the API user access to "
                                  "the campaign endpoints")
        if status == 404:
            return NotFoundError("not found", **kw,
                                 hint="check --campaign-id and the contact or job id")
        if status == 413:
            return PayloadTooLargeError("the platform refused the request as too large", **kw)
        if status in (400, 409, 422):
            return BadRequestError("the platform refused the request", **kw)
        if status >= 500:
            return ServerError("the platform kept failing", **kw,
                               hint="run again later; the run can be resumed")
        if 300 <= status < 400:
            return ProtocolError(f"unexpected redirect to {response.headers.get('Location')}",
                                 **kw, hint="check --base-url (use https://SUBDOMAIN.DOMAIN)")
        return ApiError("unexpected answer", **kw)


def json_of(response: Response, method: str, url: str) -> Any:
    """The JSON body of a response, or ProtocolError naming what came instead."""
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("Content-Type", "unknown type").split(";")[0]
        raise ProtocolError(
            f"expected JSON, got {kind} ({len(response.content)} bytes)",
            status=response.status_code, method=method, url=url,
            hint="check --base-url: it should be the platform's https://SUBDOMAIN.DOMAIN") \
            from None
