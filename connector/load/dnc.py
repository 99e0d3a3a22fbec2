"""The company Do-Not-Call list: numbers pushed, removed and checked in batches, each
answered by the platform with a status of its own. A push is idempotent: the state
store remembers what was pushed and until when, so a second push of the same numbers
sends nothing; a number the platform refuses (invalid, an emergency number) is
reported and recorded, not retried."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..state import StateStore


@dataclass
class DncResult:
    done: list[str] = field(default_factory=list)          # added or removed now
    already: list[str] = field(default_factory=list)       # nothing to send for them
    refused: list[tuple[str, str]] = field(default_factory=list)  # (number, status) now
    #: refused by an earlier push: listed again, not sent, not a failure of this one
    refused_before: list[tuple[str, str]] = field(default_factory=list)


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def answers_for(batch: Sequence[str], results: list[dict[str, Any]]
                ) -> list[tuple[str, dict[str, Any]]]:
    """Each number sent with the platform's answer for it: in order when there is one
    answer a number, else by the number the answer names; a number without an answer
    gets the status "no answer" (a failure, not a success)."""
    if len(results) == len(batch):
        return list(zip(batch, results))
    by_number = {str(r.get("phone_number")): r for r in results}
    return [(n, by_number.get(n, {"phone_number": n, "status": "no answer"})) for n in batch]


def push(client: Any, store: StateStore, numbers: Sequence[tuple[str, str | None]],
         expires_at: str | None, *, run_id: int | None = None,
         campaign_id: int | None = None) -> DncResult:
    """Put `numbers` ((as written, E.164 or None)) on the company list until `expires_at`
    (None: no expiry). Numbers this store already pushed with the same expiry, not
    removed and not expired, are not sent again; nor are numbers the platform refused
    before (reported again as refused)."""
    out = DncResult()
    listed = store.dnc_listed()
    refused_before = store.dnc_refused()
    todo: dict[str, None] = {}  # in order, without repeats
    for text, e164 in numbers:
        number = e164 or text
        if e164 and e164 in listed and listed[e164] == (expires_at or ""):
            out.already.append(e164)
        elif number in refused_before:  # the platform said why before: not sent again
            out.refused_before.append((number, refused_before[number]))
        elif not any(ch.isdigit() for ch in number):  # no number at all: not sent
            out.refused.append((number, "not a phone number"))
            store.record_dnc([(number, "refused", expires_at or "", "not a phone number")],
                             run_id=run_id, campaign_id=campaign_id)
        else:
            todo[number] = None
    for batch in _batches(list(todo), client.dnc.MAX_NUMBERS):
        results = client.dnc.add([(n, expires_at) for n in batch])
        events = []
        for sent, answer in answers_for(batch, results):
            status = str(answer.get("status", ""))
            number = str(answer.get("phone_number") or sent)
            if status == "added":
                out.done.append(number)
                events.append((number, "pushed_to_dnc", expires_at or "", ""))
            else:
                out.refused.append((sent, status or "no status"))
                events.append((sent, "refused", expires_at or "", status))
        store.record_dnc(events, run_id=run_id, campaign_id=campaign_id)
    return out


def remove(client: Any, store: StateStore, numbers: Sequence[tuple[str, str | None]]
           ) -> DncResult:
    """Take `numbers` off the company list (a number not on it is reported as such)."""
    out = DncResult()
    todo = list(dict.fromkeys(e164 or text for text, e164 in numbers))
    for batch in _batches(todo, client.dnc.MAX_NUMBERS):
        events = []
        for sent, answer in answers_for(batch, client.dnc.remove(batch)):
            status = str(answer.get("status", ""))
            number = str(answer.get("phone_number") or sent)
            if status == "removed":
                out.done.append(number)
                events.append((number, "removed_from_dnc", "", ""))
            elif status == "not_listed":
                out.already.append(number)
                events.append((number, "removed_from_dnc", "", "was not listed"))
            else:
                out.refused.append((sent, status or "no status"))
        store.record_dnc(events)
    return out


def check(client: Any, numbers: Sequence[str]) -> list[dict[str, Any]]:
    """The platform's answer for each number: listed or not, until when."""
    out: list[dict[str, Any]] = []
    for batch in _batches(list(numbers), client.dnc.MAX_NUMBERS):
        out.extend(client.dnc.check(batch))
    return out
