"""Masking of personal data for reports and logs (--mask-pii)."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[^\s@<>\"',;]+@[^\s@<>\"',;]+")
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{6,}[0-9]")


def mask_phone(value: str | None) -> str:
    """Keep the country code's first digit(s) and the last four digits:
    ``+12014716992`` -> ``+1******6992``."""
    text = "" if value is None else str(value)
    digits = [c for c in text if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(text)
    head = ("+" if text.strip().startswith("+") else "") + (digits[0] if text.strip().startswith(
        "+") else "")
    tail = "".join(digits[-4:])
    hidden = len(digits) - 4 - (1 if head.startswith("+") else 0)
    return f"{head}{'*' * max(hidden, 0)}{tail}"


def mask_email(value: str | None) -> str:
    """First character of the mailbox and the domain: ``bob@example.com`` ->
    ``b***@example.com``."""
    text = "" if value is None else str(value)
    local, at, domain = text.rpartition("@")
    if not at:
        return "***" if text else ""
    return f"{local[:1]}***@{domain}"


def mask_text(text: str) -> str:
    """Mask every email address and phone-like number inside free text (hints, log
    messages)."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
