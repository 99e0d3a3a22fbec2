"""Masking of personal data for reports and logs (--mask-pii)."""

from __future__ import annotations

import re
from collections.abc import Iterable

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


#: a token at least this long is taken out of any text it appears in; a shorter one
#: (a test token, a word) only where it stands as a credential, so that the ordinary
#: words of a message are not rewritten when the token happens to be one of them
WORD_SECRET_LENGTH = 8
_CREDENTIAL_CONTEXT = (r"(?i)((?:api[_-]?token|token|password|secret|authorization)"
                       r"[\"']?\s*[:=]\s*[\"']?(?:basic\s+)?){0}(?![\w])"
                       r"|(://[^\s/@:]*:){0}(?=@)")


def scrub_secrets(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret replaced by ``***``: a long one wherever it appears, a
    short one only as a credential (``token=...``, ``user:...@`` in a URL)."""
    for secret in secrets:
        if not secret or secret not in text:
            continue
        if len(secret) >= WORD_SECRET_LENGTH:
            text = text.replace(secret, "***")
        else:
            pattern = _CREDENTIAL_CONTEXT.format(re.escape(secret))
            text = re.sub(pattern, lambda m: (m.group(1) or m.group(2)) + "***", text)
    return text
