"""Resources of the campaign contact endpoints, over one HttpSession.

Parsing follows api.md's open points: unknown keys are ignored; a listed
contact's fields are read at the top level first and from
``user_custom_metadata`` otherwise; pagination copes with servers that page
with ``Link`` headers, that page without them, and that ignore paging.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..config import Settings
from ..contact import ACTIVE_STATUSES, KNOWN_STATUSES  # re-exported: the client reads statuses
from ..errors import NotFoundError, ProtocolError
from .http import HttpSession, RetryPolicy, json_of

log = logging.getLogger("campaign_sync.api")

CONTACT_FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number")
PATCH_FIELDS = ("name", "email", "phone_number", "external_unique_id")
METADATA_KEYS = {"name": "NAME (REQUIRED)", "phone_number": "PHONE (REQUIRED)",
                 "email": "EMAIL (REQUIRED)"}
MAX_PER_PAGE = 100
READ_WORKERS = 4  # pages of the contact list in flight at once (under the rate limit)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


@dataclass(frozen=True)
class RemoteContact:
    """A contact as the platform lists it, with only the fields the sync uses."""

    id: int | None
    external_unique_id: str | None
    name: str | None
    email: str | None
    phone_number: str | None
    outbound_number: str | None
    status: str | None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, obj: Mapping[str, Any]) -> RemoteContact:
        """Read a contact object, falling back to the metadata keys for missing fields."""
        if not isinstance(obj, Mapping):
            raise ProtocolError(f"expected a contact object, got {type(obj).__name__}")
        meta = obj.get("user_custom_metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        values: dict[str, str | None] = {}
        for name in CONTACT_FIELDS:
            value = _text(obj.get(name))
            if value is None and name in METADATA_KEYS:
                value = _text(meta.get(METADATA_KEYS[name]))
            values[name] = value
        raw_id = obj.get("id")
        try:
            contact_id = int(raw_id) if raw_id is not None and str(raw_id).strip() else None
        except (TypeError, ValueError):
            contact_id = None
        status = _text(obj.get("status"))
        return cls(id=contact_id, status=status, raw=dict(obj), **values)

    @property
    def is_active(self) -> bool:
        """Being dialed or on a call: must not be patched or deleted now."""
        return self.status in ACTIVE_STATUSES

    @property
    def status_known(self) -> bool:
        """False for a status string api.md does not list (treated as not active)."""
        return self.status is None or self.status in KNOWN_STATUSES


@dataclass(frozen=True)
class Job:
    """An import job."""

    id: int
    status: str
    type: str | None = None
    error_message: str | None = None
    error_details: str | None = None
    timed_out: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_api(cls, obj: Any, job_id: int) -> Job:
        """Read a job object; a missing id falls back to the one asked for."""
        if not isinstance(obj, Mapping) or "status" not in obj:
            raise ProtocolError(f"job {job_id}: expected a job object with a status, got "
                                f"{json.dumps(obj)[:200]}")
        details = obj.get("error_details")
        if details is not None and not isinstance(details, str):
            details = json.dumps(details)
        return cls(id=int(obj.get("id") or job_id), status=str(obj["status"]),
                   type=_text(obj.get("type")), error_message=_text(obj.get("error_message")),
                   error_details=details, raw=dict(obj))

    @property
    def finished(self) -> bool:
        """Completed or failed (anything but in progress)."""
        return self.status in ("completed", "failed")


@dataclass(frozen=True)
class ImportResult:
    """What the import endpoint answered. ``job_id`` is None when the answer named
    no job: the caller must then confirm the import by re-reading the contacts."""

    job_id: int | None
    found_in: str | None
    status_code: int
    body: Any = None


@dataclass(frozen=True)
class AddResult:
    """The single-add answer."""

    valid: list[RemoteContact]
    invalid: list[Mapping[str, Any]]


class _ListedMetadata(msgspec.Struct, gc=False):
    """The metadata keys a listed contact's fields fall back to (others are skipped)."""

    name: str | None = msgspec.field(default=None, name=METADATA_KEYS["name"])
    phone_number: str | None = msgspec.field(default=None, name=METADATA_KEYS["phone_number"])
    email: str | None = msgspec.field(default=None, name=METADATA_KEYS["email"])


class ListedContact(msgspec.Struct, gc=False):
    """A listed contact decoded straight from the page's bytes, keeping only the fields
    the sync reads (every other key is skipped without being built). Only pages in
    the usual shape decode this way (a bare array of objects whose text fields are
    strings or null, an integer or string id, a metadata object or null); any other
    page is read as plain JSON, exactly as before."""

    id: int | str | None = None
    external_unique_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    outbound_number: str | None = None
    status: str | None = None
    user_custom_metadata: _ListedMetadata | None = None


_LISTED_PAGE = msgspec.json.Decoder(list[ListedContact])


def _listed_page(response: Any) -> list[ListedContact] | None:
    """The page as ListedContacts, or None when it is not in the usual shape (or not
    UTF-8 JSON, which is all this decoder reads): the caller then parses it as JSON."""
    charset = response.headers.get("Content-Type", "").partition("charset=")[2]
    if charset.strip(' "\'').lower() not in ("", "utf-8", "utf8"):
        return None
    try:
        return _LISTED_PAGE.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


_LINK_RE = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')
_JOB_IN_PATH = re.compile(r"/jobs/(\d+)/?(?:[?#].*)?$")


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<url>; rel="next", <url>; rel="last"`` -> {"next": url, "last": url}."""
    links: dict[str, str] = {}
    if not value:
        return links
    for match in _LINK_RE.finditer(value):
        url, params = match.group(1), match.group(2)
        for rel in re.findall(r'rel\s*=\s*"?([^";]+)"?', params):
            for name in rel.split():
                links.setdefault(name.lower(), url)
    return links


def find_job_id(body: Any, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
    """Look for an import's job id where api.md says callers find one."""
    if isinstance(body, Mapping):
        for key in ("job_id", "id"):
            value = body.get(key)
            if value is not None and str(value).strip().isdigit():
                return int(str(value).strip()), f"body.{key}"
        job = body.get("job")
        if isinstance(job, Mapping) and str(job.get("id", "")).strip().isdigit():
            return int(str(job["id"]).strip()), "body.job.id"
    header = headers.get("X-Job-Id")
    if header and header.strip().isdigit():
        return int(header.strip()), "X-Job-Id"
    location = headers.get("Location")
    if location:
        match = _JOB_IN_PATH.search(location)
        if match:
            return int(match.group(1)), "Location"
    return None, None


class ContactsResource:
    """`/outbound_dialer/campaigns/{id}/contacts` and `/contact`."""

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    @staticmethod
    def _base(campaign_id: int) -> str:
        return f"outbound_dialer/campaigns/{int(campaign_id)}"

    def _page(self, campaign_id: int, url: str, params: dict[str, Any] | None,
              listed: bool = False
              ) -> tuple[list[Any], list[Any], dict[str, str], int | None]:
        """One GET of the contact list: (contacts, their ids, Link rels, Total or None).

        With `listed`, a page in the usual shape comes back as `ListedContact`s (its
        other keys never decoded); any other page as the JSON objects it holds."""
        response = self.http.request("GET", url, params=params)
        raw_total = (response.headers.get("Total") or "").strip()
        total = int(raw_total) if raw_total.isdigit() else None
        links = parse_link_header(response.headers.get("Link"))
        fast = _listed_page(response) if listed else None
        if fast is not None:
            return fast, [c.id for c in fast], links, total
        body = json_of(response, "GET", url)
        if isinstance(body, Mapping):
            # tolerate an envelope such as {"contacts": [...]} or {"data": [...]}
            body = next((body[k] for k in ("contacts", "data", "items")
                         if isinstance(body.get(k), list)), body)
        if not isinstance(body, list):
            raise ProtocolError(
                f"campaign {campaign_id}: expected a list of contacts, got "
                f"{type(body).__name__}", method="GET", url=url)
        # dict first: isinstance against typing.Mapping costs ~4 us a contact
        ids = [c.get("id") if type(c) is dict or isinstance(c, Mapping) else c for c in body]
        return body, ids, links, total

    def iter_pages(self, campaign_id: int, *, per: int = MAX_PER_PAGE,
                   workers: int = READ_WORKERS, listed: bool = False
                   ) -> Iterator[list[Any]]:
        """Yield the campaign's contacts page by page, in order, as raw objects (with
        `listed`, pages in the usual shape as `ListedContact`s: see `_page`).

        Sends ``page``/``per``; follows ``Link: rel="next"`` when present; stops
        on a short or empty page; detects a server that ignores paging (a page
        longer than asked, or a page equal to the previous one) and reads it once.

        When the first page says how many pages there are (``Total``, or a ``last``
        link numbered like ours) and its ``next`` link, if any, is our page 2, the
        pages after it are read with up to `workers` requests in flight (the rate
        limit is shared) and still yielded in order; the same stopping rules apply,
        and requests sent ahead of a stop are discarded."""
        per = max(1, min(int(per), MAX_PER_PAGE))
        path = self._base(campaign_id) + "/contacts"
        url: str = self.http.url(path)
        params: dict[str, Any] | None = {"page": 1, "per": per}
        page_no = 1
        previous_ids: list[Any] | None = None
        seen = 0
        ahead: Iterator[tuple[list[Any], list[Any], dict[str, str], int | None]] | None = None
        pool: ThreadPoolExecutor | None = None
        first = True
        try:
            while True:
                got = next(ahead, None) if ahead is not None else None
                if got is None:  # one by one (or the numbered pages are all read)
                    ahead = None
                    got = self._page(campaign_id, url, params, listed)
                body, ids, links, total = got
                if previous_ids is not None and body and ids == previous_ids:
                    log.info("campaign %s: the server ignores paging; read once", campaign_id)
                    return
                if body:
                    yield body
                seen += len(body)
                if not body or len(body) > per:
                    return
                if ahead is None:  # where the next page is
                    if "next" in links:
                        url, params = self.http.url(links["next"]), None
                    elif len(body) < per:
                        return
                    else:
                        page_no += 1
                        url, params = self.http.url(path), {"page": page_no, "per": per}
                elif len(body) < per:
                    return
                if total is not None and seen >= total and "next" not in links:
                    return
                previous_ids = ids
                if first and workers > 1:
                    last = self._last_page(links, total, per, path)
                    if last is not None and last > 2:
                        pool = ThreadPoolExecutor(max_workers=workers,
                                                  thread_name_prefix="page")
                        ahead = self._read_ahead(pool, campaign_id, path, per, 2, last,
                                                 workers * 2, listed)
                        # after the numbered pages, if the campaign grew meanwhile
                        page_no = last + 1
                        url, params = self.http.url(path), {"page": page_no, "per": per}
                first = False
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _last_page(self, links: Mapping[str, str], total: int | None, per: int,
                   path: str) -> int | None:
        """The number of the last page, when page 1's answer says it in our numbering."""
        base = self.http.url(path)

        def numbered(link: str) -> int | None:
            parts = urllib.parse.urlsplit(self.http.url(link))
            query = urllib.parse.parse_qs(parts.query)
            if urllib.parse.urlunsplit(parts._replace(query="", fragment="")) != base:
                return None
            if query.get("per", [str(per)])[-1] != str(per):
                return None
            page = query.get("page", [""])[-1]
            return int(page) if page.isdigit() else None

        if "next" in links and numbered(links["next"]) != 2:
            return None
        if "last" in links:
            return numbered(links["last"])
        if total is not None:
            return max(1, -(-total // per))
        return None

    def _read_ahead(self, pool: ThreadPoolExecutor, campaign_id: int, path: str, per: int,
                    first: int, last: int, window: int, listed: bool = False
                    ) -> Iterator[tuple[list[Any], list[Any], dict[str, str], int | None]]:
        """Pages `first`..`last` through `pool`, at most `window` asked ahead, in order."""
        url = self.http.url(path)
        pending: collections.deque[Future[Any]] = collections.deque()
        next_page = first
        while next_page <= last or pending:
            while next_page <= last and len(pending) < window:
                pending.append(pool.submit(self._page, campaign_id, url,
                                           {"page": next_page, "per": per}, listed))
                next_page += 1
            yield pending.popleft().result()

    def list(self, campaign_id: int, *, per: int = MAX_PER_PAGE) -> list[RemoteContact]:
        """Every contact of the campaign."""
        return [RemoteContact.from_api(obj) for page in self.iter_pages(campaign_id, per=per)
                for obj in page]

    def add(self, campaign_id: int, contact: Mapping[str, Any]) -> AddResult:
        """Add one contact (not idempotent: an ambiguous failure raises)."""
        url = self._base(campaign_id) + "/contacts"
        body = {k: v for k, v in contact.items() if k in CONTACT_FIELDS and v not in (None, "")}
        response = self.http.request("POST", url, json_body=body, idempotent=False)
        data = json_of(response, "POST", url)
        if not isinstance(data, Mapping):
            raise ProtocolError("single add: expected an object", method="POST", url=url)
        valid = [RemoteContact.from_api(c) for c in data.get("valid_contacts") or []]
        invalid = [c for c in data.get("invalid_contacts") or []]
        return AddResult(valid=valid, invalid=invalid)

    def import_file(self, campaign_id: int, contacts: list[Mapping[str, Any]]) -> ImportResult:
        """Upload contacts as one JSON file to the import endpoint (answered 202)."""
        url = self._base(campaign_id) + "/contacts/import"
        payload = [{k: v for k, v in c.items() if k in CONTACT_FIELDS and v not in (None, "")}
                   for c in contacts]
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        # bytes, not a file object: a retried request (after a 429) must send the
        # whole file again, and a file object would be read to its end already
        files = {"file": ("contacts.json", data, "application/json")}
        response = self.http.request("POST", url, files=files, idempotent=False)
        body: Any = None
        if response.content and response.content.strip():
            try:
                body = response.json()
            except ValueError:
                body = None
        job_id, where = find_job_id(body, response.headers)
        if job_id is None:
            log.warning("campaign %s: the import answer named no job; it will be confirmed by "
                        "re-reading the contacts", campaign_id)
        return ImportResult(job_id=job_id, found_in=where, status_code=response.status_code,
                            body=body)

    def patch(self, campaign_id: int, contact_id: int, fields: Mapping[str, Any]
              ) -> RemoteContact:
        """Change name, email, phone_number or external_unique_id of one contact.

        Sending the same fields again gives the same result, so it is retried.
        """
        url = self._base(campaign_id) + "/contact"
        body: dict[str, Any] = {"contact_id": int(contact_id)}
        body.update({k: v for k, v in fields.items() if k in PATCH_FIELDS})
        response = self.http.request("PATCH", url, json_body=body, idempotent=True)
        return RemoteContact.from_api(json_of(response, "PATCH", url))

    def delete(self, campaign_id: int, *, contact_id: int | None = None,
               phone_number: str | None = None, external_unique_id: str | None = None
               ) -> RemoteContact | None:
        """Delete one contact, named by id (preferred), phone or key.

        Not retried blindly: after an ambiguous failure the caller checks whether
        the contact is still there. Returns None when the platform answers 404.
        """
        url = self._base(campaign_id) + "/contact"
        if contact_id is not None:
            body: dict[str, Any] = {"contact_id": int(contact_id)}
        elif external_unique_id is not None:
            body = {"external_unique_id": external_unique_id}
        elif phone_number is not None:
            body = {"phone_number": phone_number}
        else:
            raise ValueError("delete needs contact_id, external_unique_id or phone_number")
        try:
            response = self.http.request("DELETE", url, json_body=body, idempotent=False)
        except NotFoundError:
            return None
        return RemoteContact.from_api(json_of(response, "DELETE", url))


class JobsResource:
    """`/outbound_dialer/campaigns/{id}/contacts/jobs/{job_id}`."""

    def __init__(self, http: HttpSession, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.http = http
        self._sleep = sleep
        self._clock = clock

    def get(self, campaign_id: int, job_id: int) -> Job:
        """The job's current state."""
        url = f"outbound_dialer/campaigns/{int(campaign_id)}/contacts/jobs/{int(job_id)}"
        response = self.http.request("GET", url)
        return Job.from_api(json_of(response, "GET", url), int(job_id))

    def wait(self, campaign_id: int, job_id: int, *, timeout: float = 600.0,
             first_delay: float = 0.5, max_delay: float = 10.0) -> Job:
        """Poll until the job is completed or failed, with capped exponential backoff.

        A job still running at ``timeout`` comes back with ``timed_out=True``
        and its last status (in_progress): it is pending, not failed.
        """
        deadline = self._clock() + timeout
        delay = first_delay
        # a job is never done the instant its import is accepted: the first look waits
        self._sleep(min(first_delay, max(0.0, timeout)))
        delay = min(max_delay, delay * 2)
        while True:
            job = self.get(campaign_id, job_id)
            if job.finished:
                return job
            remaining = deadline - self._clock()
            if remaining <= 0:
                return Job(id=job.id, status=job.status, type=job.type, timed_out=True,
                           raw=job.raw)
            self._sleep(min(delay, remaining))
            delay = min(max_delay, delay * 2)


class DncResource:
    """The company Do-Not-Call list: `/outbound_dialer/dnc` (add, remove) and
    `/outbound_dialer/dnc/check`. Each answers a status per number; a request carries
    at most `MAX_NUMBERS` of them (the caller batches)."""

    MAX_NUMBERS = 1000
    URL = "outbound_dialer/dnc"

    def __init__(self, http: HttpSession) -> None:
        self.http = http

    def _results(self, method: str, url: str, body: dict[str, Any], *, idempotent: bool
                 ) -> list[dict[str, Any]]:
        response = self.http.request(method, url, json_body=body, idempotent=idempotent)
        answer = json_of(response, method, url)
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            raise ProtocolError(f"{method} {url}: expected {{\"results\": [...]}} with a "
                                "status per number")
        return results

    def add(self, entries: Sequence[tuple[str, str | None]]) -> list[dict[str, Any]]:
        """Put (phone, expires_at or None) on the list; adding a listed number again
        only sets its expiry, so the request is retried."""
        body = {"contacts": [{"phone_number": p, "expires_at": x} for p, x in entries]}
        return self._results("POST", self.URL, body, idempotent=True)

    def remove(self, phones: Sequence[str]) -> list[dict[str, Any]]:
        return self._results("DELETE", self.URL, {"phone_numbers": list(phones)},
                             idempotent=True)

    def check(self, phones: Sequence[str]) -> list[dict[str, Any]]:
        return self._results("POST", self.URL + "/check", {"phone_numbers": list(phones)},
                             idempotent=True)


class ApiClient:
    """Entry point: ``with ApiClient(settings) as client: client.contacts.list(6)``."""

    def __init__(self, settings: Settings, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic, seed: int | None = None) -> None:
        self.http = HttpSession(settings, retry=retry, sleep=sleep, clock=clock, seed=seed)
        self.contacts = ContactsResource(self.http)
        self.jobs = JobsResource(self.http, sleep=sleep, clock=clock)
        self.dnc = DncResource(self.http)

    def close(self) -> None:
        """Release connections."""
        self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
