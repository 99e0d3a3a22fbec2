"""A local server that behaves like the platform's campaign contact endpoints
(docs/api.md), for rehearsals and for end-to-end tests of the client. It shares no
code with the client, so that it catches the client's mistakes.

Endpoints, all under /apps/api/v1, all behind HTTP Basic auth (401 otherwise):

- ``POST   /outbound_dialer/campaigns/{cid}/contacts``: one contact (JSON object).
  200 ``{"valid_contacts": [...], "invalid_contacts": [...]}``. A missing or invalid
  phone (phonenumbers; ``+`` international form, or a US national number), or a phone
  already in the campaign, lands in ``invalid_contacts`` (the fields as sent plus an
  ``error`` string) and nothing is stored.
- ``GET    /outbound_dialer/campaigns/{cid}/contacts``: without ``page``, every contact
  in one array. With ``page`` (1-based) and ``per`` (default 25, larger than 100 is
  capped to 100): that page, with ``Link`` (next, last, first, prev as they apply),
  ``Total`` and ``Per-Page`` headers. A page past the end is an empty array. A
  non-positive or non-numeric page/per is 400. With ``ignore_paging`` every request
  gets everything and no paging headers.
- ``POST   /outbound_dialer/campaigns/{cid}/contacts/import``: multipart/form-data,
  file field ``file`` holding a JSON array of contacts; over 10,000 contacts is 413.
  202, and the job id is given as ``job_id_style`` says: ``body`` (default)
  ``{"job_id": N}`` and a ``Location`` header (absolute URL of the job); ``id``
  ``{"id": N}`` only; ``header`` ``X-Job-Id`` only; ``location`` ``Location`` only;
  ``none`` nothing at all (empty body). Rows with a missing or invalid phone are
  skipped: never stored, and they do not fail the job (``jobs`` reports them as
  ``skipped``). The job stays ``in_progress`` for ``job_seconds`` (0: done at the
  first look), then ``completed`` with its contacts stored, or ``failed`` with
  ``error_message`` "Internal Error" and ``error_details``
  "NativePowerDial::ContactService::DuplicateContactPhoneOnCampaign" when a phone of
  the file is already in the campaign (checked when the job finishes) or is twice in
  the file. ``fail_jobs=N`` fails the next N jobs with ``error_details`` "Internal
  Error". A failed job stores nothing.
- ``GET    /outbound_dialer/campaigns/{cid}/contacts/jobs/{job_id}``: the job
  ``{"id", "status", "type": "Jobs::Bulk::Campaign::ParentJob"}`` (+ error keys).
- ``PATCH  /outbound_dialer/campaigns/{cid}/contact``: ``{"contact_id", "name",
  "email", "phone_number", "external_unique_id"}`` (any subset besides contact_id);
  200 the full contact. An invalid phone, or one used by another contact of the
  campaign, is 422. ``outbound_number`` and unknown keys are ignored.
- ``DELETE /outbound_dialer/campaigns/{cid}/contact``: ``{"contact_id"}``, else
  ``{"phone_number"}``, else ``{"external_unique_id"}`` (first present wins; several
  contacts with one external id: the lowest id goes); 200 the deleted contact.

JSON bodies need ``Content-Type: application/json``; malformed bodies, missing
contact_id and wrongly typed fields are 400; unknown campaign, contact or job 404;
unknown paths 404 and wrong methods 405. Every error body is ``{"message": "..."}``.

Contacts are answered with every top-level field of the platform's example (id,
name, campaign_id, assigned_call_id, assigned_participant_id, outbound_number,
priority, created_at, updated_at, status, user_custom_metadata with "NAME
(REQUIRED)", "PHONE (REQUIRED)", "EMAIL (REQUIRED)") plus phone_number, email and
external_unique_id. Phones are stored as E.164 and answered as ``+1-(201)-471-6992``
(``+44-20-7946-0958`` outside North America; ``+1 201-471-6992`` in the metadata).
New contacts are "Upcoming"; timestamps are UTC with milliseconds and ``Z``. An
outbound_number is not checked: stored as E.164 when valid, else as sent.

Faults, in the order a request meets them: ``latency_ms`` (sleep first),
``fail_next`` (answer a status, no effect), ``drop_next`` (close the connection with
no answer; with ``after_effect`` the request is carried out first), auth (401; does
not use rate quota), ``rate_limit`` (N requests let through per sliding second, then
429 with ``Retry-After`` in whole seconds, at least "1", unless
``retry_after_header=False``), ``error_rate`` (500 with that probability, from a
RNG seeded by ``seed``). Only then does the endpoint run; ``counts`` counts it by
kind (list, add, import, job, patch, delete) whatever its answer.

State lives in memory, or in ``data_file`` (JSON, loaded at start, rewritten through a
temporary file and os.replace after each change).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

from .server import LoggedRequest, SandboxServer

__all__ = ["LoggedRequest", "SandboxServer", "fake_contacts", "is_loopback"]


def fake_contacts(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    """n made-up contacts with distinct valid US phones (+1 201 2xx-xxxx and up)."""
    for i in range(start, start + n):
        exchange, line = divmod(i, 10_000)
        yield {
            "name": f"Contact {i + 1}",
            "email": f"contact{i + 1}@example.com",
            "phone_number": f"+1201{200 + exchange:03d}{line:04d}",
            "external_unique_id": f"seed-{i + 1}",
        }


def is_loopback(host: str) -> bool:
    """True if `host` names only loopback addresses (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
