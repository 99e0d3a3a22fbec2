"""A saved plan: the plan's JSON document sealed with the SHA-256 of its text, so a plan
edited after it was written (by hand or by a tool) is recognised and refused.

The seal is the last key of the document, ``"checksum": "sha256:<hex>"``, the digest
of the document's text without it: `seal` adds it, `unseal` checks it and returns
the document. Pure: text in, text out."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

_SEAL = re.compile(r', "checksum": "sha256:([0-9a-f]{64})"\}\s*$')


class PlanFileError(ValueError):
    """Why a text is not a sealed plan, in words for a person."""


def seal(body: str) -> str:
    """`body` (a JSON object's text) with its checksum as the last key."""
    body = body.rstrip()
    if not body.endswith("}"):
        raise ValueError("a plan document is a JSON object")
    digest = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return f'{body[:-1]}, "checksum": "sha256:{digest}"}}'


def sealed(parts: Iterable[str]) -> Iterator[str]:
    """`seal` of the text the parts make, in parts: the same text, never held whole
    (the digest is taken as the parts go by). The last part must end the object."""
    digest = hashlib.sha256()
    held = ""
    for part in parts:
        if held:
            yield held
        digest.update(part.encode("utf-8"))
        held = part
    body = held.rstrip()
    if not body.endswith("}"):
        raise ValueError("a plan document is a JSON object")
    if body != held:  # whitespace after the object is not part of the sealed text
        raise ValueError("a plan document's parts must end with the object's brace")
    yield f'{body[:-1]}, "checksum": "sha256:{digest.hexdigest()}"}}'


def checksum_of(text: str) -> str:
    """The checksum a sealed text carries ("" when none)."""
    found = _SEAL.search(text)
    return found.group(1) if found else ""


def unseal(text: str) -> dict[str, Any]:
    """The document of a sealed plan; PlanFileError when the seal is missing or does
    not match the text."""
    found = _SEAL.search(text)
    if not found:
        raise PlanFileError("it carries no checksum, so it is not a plan written by "
                            "`campaign-sync plan` (or its last line was edited)")
    body = text[:found.start()] + "}"
    if hashlib.sha256(body.encode("utf-8")).hexdigest() != found.group(1):
        raise PlanFileError("its content does not match its checksum: it was edited after "
                            "`campaign-sync plan` wrote it")
    try:
        doc = json.loads(text)
    except ValueError as exc:  # pragma: no cover - a sealed text is the JSON we wrote
        raise PlanFileError(f"it is not JSON ({exc})") from None
    if not isinstance(doc, dict) or "rows" not in doc or "remote" not in doc:
        raise PlanFileError("it is not a plan document")
    return doc
