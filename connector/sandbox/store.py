"""The sandbox's state: campaigns, their contacts, import jobs; optionally kept in a JSON
file. Every method expects the caller to hold `Store.lock` (the server does)."""

from __future__ import annotations

import bisect
import json
import os
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

JOB_TYPE = "Jobs::Bulk::Campaign::ParentJob"
DUPLICATE_DETAILS = "NativePowerDial::ContactService::DuplicateContactPhoneOnCampaign"
FORCED_FAILURE_DETAILS = "Internal Error"
STORED_FIELDS = ("name", "email", "phone_number", "outbound_number", "external_unique_id")


def now_iso() -> str:
    """UTC now as the platform writes it: 2024-08-05T14:51:49.123Z."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


# An index maps a key (phone, external id) to one contact id, or to an ascending list of
# ids when several contacts share it (possible through `seed(check=False)` or external ids).
def _idx_add(index: dict[str, Any], key: str, cid: int) -> None:
    cur = index.get(key)
    if cur is None:
        index[key] = cid
    elif isinstance(cur, int):
        index[key] = sorted((cur, cid))
    else:
        bisect.insort(cur, cid)


def _idx_remove(index: dict[str, Any], key: str, cid: int) -> None:
    cur = index.get(key)
    if cur is None:
        return
    if isinstance(cur, int):
        if cur == cid:
            del index[key]
        return
    if cid in cur:
        cur.remove(cid)
    if len(cur) == 1:
        index[key] = cur[0]


def _idx_ids(index: dict[str, Any], key: str) -> list[int]:
    cur = index.get(key)
    if cur is None:
        return []
    return [cur] if isinstance(cur, int) else list(cur)


class Campaign:
    """One campaign's contacts: by id, ids ascending (so a page is a slice), and indexes."""

    def __init__(self, campaign_id: int) -> None:
        self.id = campaign_id
        self.ids: list[int] = []
        self.by_id: dict[int, dict[str, Any]] = {}
        self.phones: dict[str, Any] = {}
        self.externals: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def insert(self, contact: dict[str, Any]) -> None:
        cid = contact["id"]
        if not self.ids or cid > self.ids[-1]:
            self.ids.append(cid)
        else:
            bisect.insort(self.ids, cid)
        self.by_id[cid] = contact
        self._index(contact)

    def remove(self, cid: int) -> dict[str, Any]:
        contact = self.by_id.pop(cid)
        i = bisect.bisect_left(self.ids, cid)
        del self.ids[i]
        self._unindex(contact)
        return contact

    def update(self, contact: dict[str, Any], changes: dict[str, Any]) -> None:
        self._unindex(contact)
        contact.update(changes)
        self._index(contact)

    def _index(self, contact: dict[str, Any]) -> None:
        if contact.get("phone_number"):
            _idx_add(self.phones, contact["phone_number"], contact["id"])
        if contact.get("external_unique_id") is not None:
            _idx_add(self.externals, contact["external_unique_id"], contact["id"])

    def _unindex(self, contact: dict[str, Any]) -> None:
        if contact.get("phone_number"):
            _idx_remove(self.phones, contact["phone_number"], contact["id"])
        if contact.get("external_unique_id") is not None:
            _idx_remove(self.externals, contact["external_unique_id"], contact["id"])

    def ids_with_phone(self, e164: str) -> list[int]:
        return _idx_ids(self.phones, e164)

    def ids_with_external(self, external_id: str) -> list[int]:
        return _idx_ids(self.externals, external_id)

    def page(self, start: int, stop: int) -> list[dict[str, Any]]:
        return [self.by_id[i] for i in self.ids[start:stop]]

    def all(self) -> list[dict[str, Any]]:
        by_id = self.by_id
        return [by_id[i] for i in self.ids]


class Store:
    """Campaigns, contacts and jobs. Saved to `data_file` (atomically) after each change."""

    def __init__(self, campaigns: Iterable[int], data_file: str | None = None) -> None:
        self.data_file = data_file
        self.campaigns: dict[int, Campaign] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.pending_jobs: list[int] = []
        self.next_contact_id = 1
        self.next_job_id = 1
        #: the company Do-Not-Call list: E.164 -> expires_at (ISO text, None: never)
        self.dnc: dict[str, str | None] = {}
        if data_file and os.path.exists(data_file):
            self._load(data_file)
        for cid in campaigns:
            self.add_campaign(int(cid), save=False)

    # ------------------------------------------------------------- contacts

    def add_campaign(self, campaign_id: int, save: bool = True) -> Campaign:
        camp = self.campaigns.get(campaign_id)
        if camp is None:
            camp = self.campaigns[campaign_id] = Campaign(campaign_id)
            if save:
                self.save()
        return camp

    def new_contact(self, campaign: Campaign, fields: dict[str, Any],
                    stamp: str | None = None) -> dict[str, Any]:
        """Store a contact (fields already normalized) under the next id and return it."""
        stamp = stamp or now_iso()
        contact: dict[str, Any] = {
            "id": self.next_contact_id,
            "name": fields.get("name"),
            "email": fields.get("email"),
            "phone_number": fields.get("phone_number"),
            "outbound_number": fields.get("outbound_number"),
            "external_unique_id": fields.get("external_unique_id"),
            "status": fields.get("status") or "Upcoming",
            "created_at": fields.get("created_at") or stamp,
            "updated_at": fields.get("updated_at") or stamp,
        }
        for extra in ("priority", "assigned_call_id", "assigned_participant_id"):
            if fields.get(extra) is not None:
                contact[extra] = fields[extra]
        self.next_contact_id += 1
        campaign.insert(contact)
        return contact

    # ------------------------------------------------------------- company DNC list

    def dnc_listed(self, e164: str, now: str | None = None) -> str | None | bool:
        """The entry's expires_at (None: never) when the number is on the list and not
        expired; False otherwise. An expired entry is dropped."""
        if e164 not in self.dnc:
            return False
        expires = self.dnc[e164]
        if expires is not None and expires <= (now or now_iso()):
            del self.dnc[e164]
            return False
        return expires

    def mark_do_not_call(self, e164: str) -> None:
        """The platform skips a listed number: its contacts show status Do Not Call."""
        for campaign in self.campaigns.values():
            for cid in campaign.ids_with_phone(e164):
                contact = campaign.by_id[cid]
                if contact.get("status") not in ("Dialing", "Queued", "Connected",
                                                 "Transferred"):
                    contact["status"] = "Do Not Call"

    # ------------------------------------------------------------- jobs

    def create_job(self, campaign_id: int, contacts: list[dict[str, Any]], skipped: int,
                   seconds: float, forced_failure: bool) -> dict[str, Any]:
        job = {
            "id": self.next_job_id,
            "campaign_id": campaign_id,
            "status": "in_progress",
            "ready_at": time.time() + max(0.0, seconds),
            "contacts": contacts,
            "submitted": len(contacts) + skipped,
            "skipped": skipped,
            "stored": 0,
            "forced_failure": forced_failure,
        }
        self.next_job_id += 1
        self.jobs[job["id"]] = job
        self.pending_jobs.append(job["id"])
        self.save()
        return job

    def finish_due_jobs(self, now: float | None = None) -> None:
        """Complete or fail every job whose time has come (jobs finish in submission order)."""
        if not self.pending_jobs:
            return
        now = time.time() if now is None else now
        done = False
        while self.pending_jobs and self.jobs[self.pending_jobs[0]]["ready_at"] <= now:
            self._finish(self.jobs[self.pending_jobs.pop(0)])
            done = True
        if done:
            self.save()

    def _finish(self, job: dict[str, Any]) -> None:
        contacts = job.pop("contacts") or []
        job["contacts"] = None
        if job["forced_failure"]:
            self._fail(job, FORCED_FAILURE_DETAILS)
            return
        camp = self.add_campaign(job["campaign_id"], save=False)
        seen: set[str] = set()
        for c in contacts:
            phone = c["phone_number"]
            if phone in seen or camp.ids_with_phone(phone):
                self._fail(job, DUPLICATE_DETAILS)
                return
            seen.add(phone)
        stamp = now_iso()
        for c in contacts:
            self.new_contact(camp, c, stamp)
        job["stored"] = len(contacts)
        job["status"] = "completed"

    @staticmethod
    def _fail(job: dict[str, Any], details: str) -> None:
        job["status"] = "failed"
        job["error_message"] = "Internal Error"
        job["error_details"] = details

    # ------------------------------------------------------------- persistence

    def save(self) -> None:
        """Write the whole state to data_file: a temporary file, then os.replace."""
        if not self.data_file:
            return
        state = {
            "version": 1,
            "next_contact_id": self.next_contact_id,
            "next_job_id": self.next_job_id,
            "campaigns": {str(cid): camp.all() for cid, camp in self.campaigns.items()},
            "jobs": list(self.jobs.values()),
            "dnc": self.dnc,
        }
        directory = os.path.dirname(os.path.abspath(self.data_file))
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", suffix=".json", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh, separators=(",", ":"))
            os.replace(tmp, self.data_file)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def _load(self, path: str) -> None:
        with open(path, encoding="utf-8") as fh:
            state = json.load(fh)
        for key, contacts in state.get("campaigns", {}).items():
            camp = self.add_campaign(int(key), save=False)
            for c in contacts:
                camp.insert(c)
        self.dnc = dict(state.get("dnc") or {})
        for job in state.get("jobs", []):
            self.jobs[int(job["id"])] = job
            if job.get("status") == "in_progress":
                self.pending_jobs.append(int(job["id"]))
        self.pending_jobs.sort()
        top_contact = max((c.ids[-1] for c in self.campaigns.values() if c.ids), default=0)
        self.next_contact_id = max(int(state.get("next_contact_id", 1)), top_contact + 1)
        self.next_job_id = max(int(state.get("next_job_id", 1)), max(self.jobs, default=0) + 1)
