"""Phone numbers as the sandbox sees them: checked and stored as E.164, answered in
the platform's display styles. Independent of the client's own normalizer on purpose."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "US"
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NANP = re.compile(r"^\+1(\d{3})(\d{3})(\d{4})$")


@lru_cache(maxsize=200_000)
def valid_e164(raw: str) -> str | None:
    """E.164 form of `raw` if it is a valid number (+ international, or US national), else None."""
    if not raw or not raw.strip():
        return None
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def loose_e164(raw: str) -> str:
    """E.164 form of `raw` without a validity check (fast path for seeding); `raw` if unparsable."""
    if _E164.match(raw):
        return raw
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return raw
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=100_000)
def _international(e164: str) -> str | None:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def display_dashed(e164: str | None) -> str | None:
    """The platform's top-level style: +1-(201)-471-6992, or +44-20-7946-0958 outside NANP."""
    if not e164:
        return e164
    m = _NANP.match(e164)
    if m:
        return f"+1-({m.group(1)})-{m.group(2)}-{m.group(3)}"
    text = _international(e164)
    return text.replace(" ", "-") if text else e164


def display_metadata(e164: str | None) -> str | None:
    """The style of user_custom_metadata's PHONE (REQUIRED): +1 201-471-6992."""
    if not e164:
        return e164
    m = _NANP.match(e164)
    if m:
        return f"+1 {m.group(1)}-{m.group(2)}-{m.group(3)}"
    return _international(e164) or e164
