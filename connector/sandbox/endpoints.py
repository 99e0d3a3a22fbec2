"""The campaign contact endpoints: routing, request checks and the answers' shapes.
Each handler takes the store (lock held) and a parsed request and returns a Reply."""

from __future__ import annotations

import io
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.formparser import parse_form_data

from .phones import display_dashed, display_metadata, loose_e164, valid_e164
from .store import JOB_TYPE, Campaign, Store, now_iso

API_PREFIX = "/apps/api/v1"
MAX_IMPORT_CONTACTS = 10_000
DEFAULT_PER = 25
MAX_PER = 100
JOB_ID_STYLES = ("body", "id", "header", "location", "none")


@dataclass
class Request:
    """What the handlers need of an HTTP request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # scheme://host[:port] as the client addressed us

    def args(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able; None means an empty body
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Options:
    """The behaviour switches the handlers read (set by SandboxServer.set_faults)."""

    job_seconds: float = 0.5
    fail_jobs: int = 0
    job_id_style: str = "body"
    ignore_paging: bool = False


class BadRequest(Exception):
    """Answered as {"message": ...} with the given status (400 unless told)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"message": message}, headers or {})


# ------------------------------------------------------------------ routing

Handler = Callable[[Store, Options, Request, re.Match[str]], Reply]

_ROUTES: list[tuple[re.Pattern[str], dict[str, tuple[str, str]]]] = [
    (re.compile(r"^/outbound_dialer/campaigns/(?P<cid>\d+)/contacts/?$"),
     {"GET": ("list", "list_contacts"), "POST": ("add", "add_contact")}),
    (re.compile(r"^/outbound_dialer/campaigns/(?P<cid>\d+)/contacts/import/?$"),
     {"POST": ("import", "import_contacts")}),
    (re.compile(r"^/outbound_dialer/campaigns/(?P<cid>\d+)/contacts/jobs/(?P<jid>\d+)/?$"),
     {"GET": ("job", "get_job")}),
    (re.compile(r"^/outbound_dialer/campaigns/(?P<cid>\d+)/contact/?$"),
     {"PATCH": ("patch", "patch_contact"), "DELETE": ("delete", "delete_contact")}),
    (re.compile(r"^/outbound_dialer/dnc/?$"),
     {"POST": ("dnc_add", "dnc_add"), "DELETE": ("dnc_remove", "dnc_remove")}),
    (re.compile(r"^/outbound_dialer/dnc/check/?$"), {"POST": ("dnc_check", "dnc_check")}),
]
#: the most numbers one company-DNC request may carry (413 above)
MAX_DNC_NUMBERS = 1000
#: numbers the list refuses: emergency services
EMERGENCY_NUMBERS = frozenset({"911", "112", "999", "000", "110", "119", "933"})


def route(method: str, path: str) -> tuple[str | None, Callable[..., Reply]]:
    """(kind, handler) for a request; kind is None for unknown paths and methods."""
    if path.startswith(API_PREFIX):
        rest = path[len(API_PREFIX):]
        for pattern, methods in _ROUTES:
            m = pattern.match(rest)
            if m is None:
                continue
            if method not in methods:
                allowed = ", ".join(sorted(methods))
                answer = error(405, f"{method} is not allowed on {path}; use {allowed}",
                               {"Allow": allowed})
                return None, lambda *a, _answer=answer: _answer
            kind, name = methods[method]
            func = globals()[name]
            return kind, lambda store, opts, req, _m=m, _f=func: _f(store, opts, req, _m)
    return None, lambda *a: error(404, f"no such endpoint: {method} {path}")


# ------------------------------------------------------------------ shapes


def public_contact(campaign_id: int, c: dict[str, Any]) -> dict[str, Any]:
    """A stored contact as the platform answers it (phones in display style)."""
    phone = c.get("phone_number")
    return {
        "id": c["id"],
        "name": c.get("name"),
        "campaign_id": campaign_id,
        "assigned_call_id": c.get("assigned_call_id"),
        "assigned_participant_id": c.get("assigned_participant_id"),
        "outbound_number": display_dashed(c.get("outbound_number")),
        "priority": c.get("priority"),
        "created_at": c.get("created_at"),
        "updated_at": c.get("updated_at"),
        "status": c.get("status"),
        "user_custom_metadata": {
            "NAME (REQUIRED)": c.get("name"),
            "PHONE (REQUIRED)": display_metadata(phone),
            "EMAIL (REQUIRED)": c.get("email"),
        },
        "phone_number": display_dashed(phone),
        "email": c.get("email"),
        "external_unique_id": c.get("external_unique_id"),
    }


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    out = {"id": job["id"], "status": job["status"], "type": JOB_TYPE}
    if job["status"] == "failed":
        out["error_message"] = job.get("error_message")
        out["error_details"] = job.get("error_details")
    return out


# ------------------------------------------------------------------ request checks


def _campaign(store: Store, m: re.Match[str]) -> Campaign:
    cid = int(m.group("cid"))
    camp = store.campaigns.get(cid)
    if camp is None:
        raise BadRequest(f"campaign {cid} not found", 404)
    return camp


def _json_object(req: Request) -> dict[str, Any]:
    ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise BadRequest(f"Content-Type must be application/json (got {ctype or 'none'!r})")
    try:
        data = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, where: str = "") -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise BadRequest(f"{where}{key} must be a string, not {type(value).__name__}")


def _external_id(data: dict[str, Any], where: str = "") -> str | None:
    value = data.get("external_unique_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text(data, "external_unique_id", where)


def _contact_id(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise BadRequest(f"contact_id must be an integer, not {value!r}")


def _input_contact(data: dict[str, Any], where: str = "") -> dict[str, Any]:
    """The five input fields, type-checked (phones not yet checked)."""
    return {
        "name": _text(data, "name", where),
        "email": _text(data, "email", where),
        "phone_number": _text(data, "phone_number", where),
        "outbound_number": _text(data, "outbound_number", where),
        "external_unique_id": _external_id(data, where),
    }


def _outbound(raw: str | None) -> str | None:
    # Caller ids are not checked on input (the platform reports a bad one later, as the
    # status "Invalid outbound number"): stored as E.164 when valid, else as sent.
    if not raw:
        return raw
    return valid_e164(raw) or raw


# ------------------------------------------------------------------ handlers


def list_contacts(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    camp = _campaign(store, m)
    args = req.args()
    if opts.ignore_paging or "page" not in args:
        return Reply(200, [public_contact(camp.id, c) for c in camp.all()])
    page = _positive_int(args["page"][-1], "page")
    per = _positive_int(args["per"][-1], "per") if "per" in args else DEFAULT_PER
    per = min(per, MAX_PER)
    total = len(camp)
    start = (page - 1) * per
    rows = camp.page(start, start + per)
    last = max(1, math.ceil(total / per))
    url = f"{req.base_url}{req.path}"
    links = []
    if page < last:
        links.append(f'<{url}?page={page + 1}&per={per}>; rel="next"')
    links.append(f'<{url}?page={last}&per={per}>; rel="last"')
    links.append(f'<{url}?page=1&per={per}>; rel="first"')
    if page > 1:
        links.append(f'<{url}?page={min(page - 1, last)}&per={per}>; rel="prev"')
    headers = {"Link": ", ".join(links), "Total": str(total), "Per-Page": str(per)}
    return Reply(200, [public_contact(camp.id, c) for c in rows], headers)


def _positive_int(raw: str, name: str) -> int:
    if not raw.strip().isdigit() or int(raw) < 1:
        raise BadRequest(f"{name} must be a positive integer, not {raw!r}")
    return int(raw)


def add_contact(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    camp = _campaign(store, m)
    fields = _input_contact(_json_object(req))
    raw_phone = fields["phone_number"]
    phone = valid_e164(raw_phone) if raw_phone else None
    reason = None
    if not raw_phone:
        reason = "phone_number is missing"
    elif phone is None:
        reason = f"phone_number {raw_phone!r} is not a valid phone number"
    elif camp.ids_with_phone(phone):
        reason = f"phone_number {raw_phone!r} is already used in campaign {camp.id}"
    if reason:
        rejected = dict(fields, error=reason)
        return Reply(200, {"valid_contacts": [], "invalid_contacts": [rejected]})
    fields["phone_number"] = phone
    fields["outbound_number"] = _outbound(fields["outbound_number"])
    contact = store.new_contact(camp, fields)
    store.save()
    return Reply(200, {"valid_contacts": [public_contact(camp.id, contact)],
                       "invalid_contacts": []})


def import_contacts(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    camp = _campaign(store, m)
    ctype = req.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise BadRequest("the import takes multipart/form-data with a field 'file'")
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": ctype,
        "CONTENT_LENGTH": str(len(req.body)),
        "wsgi.input": io.BytesIO(req.body),
    }
    _, form, files = parse_form_data(environ, silent=True)
    upload = files.get("file")
    if upload is None:
        extra = " (it came as a plain form field, not a file)" if "file" in form else ""
        raise BadRequest(f"multipart field 'file' (a JSON file) is missing{extra}")
    try:
        rows = json.loads(upload.read().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"the file is not valid JSON: {exc}") from None
    if not isinstance(rows, list):
        raise BadRequest("the file must hold a JSON array of contacts")
    if len(rows) > MAX_IMPORT_CONTACTS:
        raise BadRequest(f"the file holds {len(rows)} contacts; at most "
                         f"{MAX_IMPORT_CONTACTS} per import", 413)
    contacts: list[dict[str, Any]] = []
    skipped = 0
    for n, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadRequest(f"contact #{n} of the file is not a JSON object")
        fields = _input_contact(row, f"contact #{n}: ")
        phone = valid_e164(fields["phone_number"] or "")
        if phone is None:
            skipped += 1  # invalid or missing phone: skipped, never stored
            continue
        fields["phone_number"] = phone
        fields["outbound_number"] = _outbound(fields["outbound_number"])
        contacts.append(fields)
    forced = opts.fail_jobs > 0
    if forced:
        opts.fail_jobs -= 1
    job = store.create_job(camp.id, contacts, skipped, opts.job_seconds, forced)
    jid = job["id"]
    location = f"{req.base_url}{API_PREFIX}/outbound_dialer/campaigns/{camp.id}/contacts/jobs/{jid}"
    style = opts.job_id_style
    if style == "body":
        return Reply(202, {"job_id": jid}, {"Location": location})
    if style == "id":
        return Reply(202, {"id": jid})
    if style == "header":
        return Reply(202, None, {"X-Job-Id": str(jid)})
    if style == "location":
        return Reply(202, None, {"Location": location})
    return Reply(202, None)


def get_job(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    camp = _campaign(store, m)
    jid = int(m.group("jid"))
    job = store.jobs.get(jid)
    if job is None or job["campaign_id"] != camp.id:
        raise BadRequest(f"job {jid} not found in campaign {camp.id}", 404)
    return Reply(200, public_job(job))


def patch_contact(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    camp = _campaign(store, m)
    data = _json_object(req)
    if "contact_id" not in data:
        raise BadRequest("contact_id is missing")
    cid = _contact_id(data["contact_id"])
    contact = camp.by_id.get(cid)
    if contact is None:
        raise BadRequest(f"contact {cid} not found in campaign {camp.id}", 404)
    changes: dict[str, Any] = {}
    for key in ("name", "email"):
        if key in data:
            changes[key] = _text(data, key)
    if "external_unique_id" in data:
        changes["external_unique_id"] = _external_id(data)
    if "phone_number" in data:
        raw = _text(data, "phone_number")
        phone = valid_e164(raw or "")
        if phone is None:
            raise BadRequest(f"phone_number {raw!r} is not a valid phone number", 422)
        others = [i for i in camp.ids_with_phone(phone) if i != cid]
        if others:
            raise BadRequest(f"phone_number {raw!r} is already used by contact {others[0]} "
                             f"in campaign {camp.id}", 422)
        changes["phone_number"] = phone
    # outbound_number and any other key are not updatable here and are ignored.
    changes["updated_at"] = now_iso()
    camp.update(contact, changes)
    store.save()
    return Reply(200, public_contact(camp.id, contact))


def delete_contact(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    camp = _campaign(store, m)
    data = _json_object(req)
    if data.get("contact_id") is not None:
        cid = _contact_id(data["contact_id"])
        ids = [cid] if cid in camp.by_id else []
        what = f"contact {cid}"
    elif data.get("phone_number") is not None:
        raw = _text(data, "phone_number") or ""
        ids = camp.ids_with_phone(valid_e164(raw) or loose_e164(raw))
        what = f"a contact with phone_number {raw!r}"
    elif data.get("external_unique_id") is not None:
        ext = _external_id(data) or ""
        ids = camp.ids_with_external(ext)
        what = f"a contact with external_unique_id {ext!r}"
    else:
        raise BadRequest("name the contact with contact_id, phone_number or external_unique_id")
    if not ids:
        raise BadRequest(f"{what} not found in campaign {camp.id}", 404)
    contact = camp.remove(ids[0])  # several match (external id): the oldest goes
    store.save()
    return Reply(200, public_contact(camp.id, contact))


# ------------------------------------------------------------------ company DNC list


def _dnc_numbers(req: Request, key: str) -> list[Any]:
    data = _json_object(req)
    items = data.get(key)
    if not isinstance(items, list):
        raise BadRequest(f"expected {{\"{key}\": [...]}}")
    if len(items) > MAX_DNC_NUMBERS:
        raise BadRequest(f"at most {MAX_DNC_NUMBERS} numbers a request, got {len(items)}",
                         status=413)
    return items


def _dnc_number(raw: Any) -> tuple[str | None, str | None]:
    """(E.164, None) or (None, status) for a number of a DNC request."""
    text = raw if isinstance(raw, str) else ""
    digits = re.sub(r"\D", "", text)
    if digits in EMERGENCY_NUMBERS or digits[-3:] in EMERGENCY_NUMBERS and len(digits) <= 4:
        return None, "emergency_number"
    e164 = valid_e164(text)
    return (e164, None) if e164 else (None, "invalid")


def dnc_add(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    """POST /outbound_dialer/dnc {"contacts": [{"phone_number", "expires_at"}]}: a status
    per number (added, invalid, emergency_number)."""
    results = []
    for item in _dnc_numbers(req, "contacts"):
        raw = item.get("phone_number") if isinstance(item, dict) else None
        expires = item.get("expires_at") if isinstance(item, dict) else None
        e164, problem = _dnc_number(raw)
        if problem is None and expires is not None and not isinstance(expires, str):
            problem = "invalid_expires_at"
        if problem:
            results.append({"phone_number": raw, "status": problem})
            continue
        store.dnc[e164] = expires or None
        store.mark_do_not_call(e164)
        results.append({"phone_number": e164, "status": "added", "expires_at": expires})
    store.save()
    return Reply(200, {"results": results})


def dnc_remove(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    """DELETE /outbound_dialer/dnc {"phone_numbers": [...]}: removed, not_listed, invalid."""
    results = []
    for raw in _dnc_numbers(req, "phone_numbers"):
        e164, problem = _dnc_number(raw)
        if problem:
            results.append({"phone_number": raw, "status": problem})
        elif store.dnc_listed(e164) is False:
            results.append({"phone_number": e164, "status": "not_listed"})
        else:
            del store.dnc[e164]
            results.append({"phone_number": e164, "status": "removed"})
    store.save()
    return Reply(200, {"results": results})


def dnc_check(store: Store, opts: Options, req: Request, m: re.Match[str]) -> Reply:
    """POST /outbound_dialer/dnc/check {"phone_numbers": [...]}: listed (and until when)."""
    results = []
    for raw in _dnc_numbers(req, "phone_numbers"):
        e164, problem = _dnc_number(raw)
        if problem:
            results.append({"phone_number": raw, "status": problem})
            continue
        listed = store.dnc_listed(e164)
        results.append({"phone_number": e164, "status": "ok", "listed": listed is not False,
                        "expires_at": None if listed is False else listed})
    return Reply(200, {"results": results})
