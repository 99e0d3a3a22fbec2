"""Normalize and validate mapped contacts: a pandera schema and the normalizers it uses.

`normalize_contacts` takes the frame `mapping.apply_mapping` returns and splits it
into valid, normalized contacts and one reject record per problem. Every input row
ends up in exactly one of ``valid`` and ``rejected_lines``.

Speed: phones and emails are normalized once per distinct raw value; the common
shapes (NANP numbers written as ``(201) 471-6992``, ``+1 201...``; plain ASCII
addresses) go through a fast path that gives exactly what ``phonenumbers`` and
``email-validator`` give (the tests compare them), everything else through the
libraries themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import email_validator
import numpy as np
import pandas as pd
import pandera.pandas as pa
import phonenumbers
from email_validator import EmailNotValidError
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from phonenumbers import PhoneMetadata

API_FIELDS: tuple[str, ...] = (
    "external_unique_id", "name", "email", "phone_number", "outbound_number")
DEFAULT_REQUIRED: tuple[str, ...] = ("external_unique_id", "name", "phone_number")
LINE_COLUMN = "__line__"
NAME_MAX_LENGTH = 255
KEY_STRIP = " \t\r\n\v\f\xa0\ufeff\u200b\u200c\u200d\u2060\u180e"

#: reason code -> how to fix it
REASON_HINTS: dict[str, str] = {
    "missing_key": "give the row its record ID (the sync key); rows without one cannot be synced",
    "duplicate_key": "each record ID may appear once; merge or remove the duplicate rows",
    "missing_name": "fill in the contact's name",
    "name_too_long": f"shorten the name to at most {NAME_MAX_LENGTH} characters",
    "missing_phone": "fill in the contact's phone number",
    "invalid_phone": "write a full phone number, e.g. +1 201-471-6992, or set the mapping's "
                     "region for national numbers",
    "missing_email": "fill in the contact's email address",
    "invalid_email": "fix the email address (name@example.com) or leave it empty",
    "missing_outbound_number": "fill in the outbound (caller ID) number or set a default "
                               "in the mapping with {value: ...}",
    "invalid_outbound_number": "write a full outbound number, e.g. +1 760-867-5309",
    "duplicate_phone": "each contact needs its own phone number; the campaign rejects a whole "
                       "import when two contacts share one",
}
REASONS: tuple[str, ...] = tuple(REASON_HINTS)

_MISSING = {"external_unique_id": "missing_key", "name": "missing_name",
            "email": "missing_email", "phone_number": "missing_phone",
            "outbound_number": "missing_outbound_number"}


# ------------------------------------------------------------------ phones


class PhoneResult(NamedTuple):
    """`e164` when valid; else `reason` (missing_phone or invalid_phone). `note` says
    what was changed (an extension dropped) or, for an invalid number, why."""

    e164: str | None
    reason: str | None
    note: str | None


_NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
# NANP shapes: optional +1/1 prefix, (NPA) or NPA, exchange (3 digits), line number (4 digits), separated by one of " .-"
_NANP_RE = re.compile(
    r"(?:(\+1|1)[ .\-]?)?(?:\(([0-9]{3})\)|([0-9]{3}))[ .\-]?([0-9]{3})[ .\-]?([0-9]{4})")
_EXT_RE = re.compile(
    r"[ ,;]*(?:ext\.?|extension|x|#)[ .:]*([0-9]{1,7})\Z", re.IGNORECASE)
_EXCEL_FLOAT_RE = re.compile(r"([0-9]+)\.0+\Z")
_EXCEL_SCI_RE = re.compile(r"([0-9])(?:\.([0-9]+))?[eE]\+?([0-9]{1,2})\Z")


class _RegionRule(NamedTuple):
    region: str
    leading: re.Pattern[str] | None
    general: re.Pattern[str] | None
    general_lengths: frozenset[int]
    types: tuple[tuple[re.Pattern[str], frozenset[int]], ...]


def _desc(desc: object) -> tuple[re.Pattern[str], frozenset[int]] | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if desc is None or not pattern:
        return None
    return re.compile(pattern), frozenset(getattr(desc, "possible_length", ()) or ())


def _nanp_rules() -> tuple[_RegionRule, ...]:
    """phonenumbers' own metadata for country code 1, in the order it tries regions."""
    rules = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        md = PhoneMetadata.metadata_for_region(region, None)
        if md is None:
            continue
        general = _desc(md.general_desc)
        # only "some type matches" counts, so the common types are tried first
        types = tuple(d for d in (_desc(getattr(md, name)) for name in (
            "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip",
            "personal_number", "pager", "uan", "voicemail")) if d is not None)
        rules.append(_RegionRule(
            region, re.compile(md.leading_digits) if md.leading_digits else None,
            general[0] if general else None, general[1] if general else frozenset(), types))
    return tuple(rules)


_NANP_RULES = _nanp_rules()


def _matches(rule: _RegionRule, nsn: str) -> bool:
    # phonenumbers' _number_type_helper(...) != UNKNOWN
    n = len(nsn)
    if rule.general is None or (rule.general_lengths and n not in rule.general_lengths):
        return False
    if not rule.general.fullmatch(nsn):
        return False
    return any((not lengths or n in lengths) and pattern.fullmatch(nsn)
               for pattern, lengths in rule.types)


def nanp_is_valid(nsn: str) -> bool:
    """phonenumbers.is_valid_number for +1 `nsn` without building a PhoneNumber."""
    for rule in _NANP_RULES:
        if rule.leading is not None:
            if rule.leading.match(nsn):
                return _matches(rule, nsn)
        elif _matches(rule, nsn):
            return True
    return False


def _nanp_fast(text: str, region: str | None) -> str | None:
    """The 10-digit national number if `text` is a plain NANP shape phonenumbers would
    read as +1, else None (the caller then asks phonenumbers)."""
    m = _NANP_RE.fullmatch(text)
    if m is None:
        return None
    if m.group(1) != "+1" and region not in _NANP_REGIONS:
        return None
    return (m.group(2) or m.group(3)) + m.group(4) + m.group(5)


def _excel_digits(text: str) -> tuple[str, str | None]:
    """Excel numeric cells (2014716992.0, 2.014716992E9) as digits; `note` when lossy."""
    m = _EXCEL_FLOAT_RE.fullmatch(text)
    if m:
        return m.group(1), None
    m = _EXCEL_SCI_RE.fullmatch(text)
    if m:
        mantissa = m.group(1) + (m.group(2) or "")
        exponent = int(m.group(3))
        try:
            value = Decimal(text)
        except InvalidOperation:
            return text, None
        if value != value.to_integral_value():
            return text, None
        digits = str(int(value))
        if len(mantissa.rstrip("0")) < len(digits.rstrip("0")) or exponent + 1 != len(digits):
            return text, "lossy"
        if len(mantissa) < len(digits):
            # trailing digits were implied by the exponent: Excel dropped them
            return text, "lossy"
        return digits, None
    return text, None


_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        "no country code: write it as +CC ... or set the mapping's region",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}


def phone_slow(text: str, region: str | None) -> PhoneResult:
    """phonenumbers' verdict on an already cleaned string (no extension, no letters)."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        return PhoneResult(None, "invalid_phone", _PARSE_ERRORS.get(exc.error_type,
                                                                     "not a phone number"))
    if not phonenumbers.is_valid_number(number):
        digits = len(phonenumbers.national_significant_number(number))
        why = "not a valid number for its country"
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible == phonenumbers.ValidationResult.TOO_SHORT:
            why = f"too short ({digits} digits)"
        elif possible == phonenumbers.ValidationResult.TOO_LONG:
            why = f"too long ({digits} digits)"
        elif possible == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
            why = "a local number: add the area code"
        return PhoneResult(None, "invalid_phone", why)
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                       None, None)


def normalize_phone(raw: str | None, region: str | None) -> PhoneResult:
    """One phone value to E.164.

    Returns ``(e164, None, note)`` when valid (`note` e.g. "extension 123 dropped"),
    ``(None, "missing_phone", None)`` when blank and ``(None, "invalid_phone", why)``
    otherwise. Letters are refused (phonenumbers would read 1-800-FLOWERS as digits).
    """
    text = (raw or "").strip()
    if text.startswith("'"):  # a cell neutralized by our own rejects.csv, fed back
        text = text[1:].strip()
    if not text:
        return PhoneResult(None, "missing_phone", None)
    note = None
    m = _EXT_RE.search(text)
    if m and m.start() > 0:
        note = f"extension {m.group(1)} dropped"
        text = text[:m.start()].strip()
    text, lossy = _excel_digits(text)
    if lossy:
        return PhoneResult(None, "invalid_phone", "digits lost in scientific notation: "
                           "export the column as text")
    nsn = _nanp_fast(text, region)
    if nsn is not None:
        if nanp_is_valid(nsn):
            return PhoneResult("+1" + nsn, None, note)
        return PhoneResult(None, "invalid_phone", "not a valid number for its country")
    if any(c.isalpha() for c in text):
        return PhoneResult(None, "invalid_phone", "contains letters")
    result = phone_slow(text, region)
    return result._replace(note=note) if result.e164 else result


def normalize_phones(values: Sequence[str], region: str | None
                     ) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """`normalize_phone` over many values, as three columns (e164, reason, note) equal
    to its results (a property test checks it).

    The bulk of a contact list is plain NANP shapes (``(201) 471-6992``) of the main
    +1 region: those whose national number the region's own pattern and its
    fixed-line or mobile pattern accept are valid, decided in one lean pass without
    the per-value steps that cannot apply to them (no extension, no letters, no Excel
    number can match the shape). Every other value takes `normalize_phone`."""
    main = _NANP_RULES[0]
    lean = (main.leading is None and main.general is not None and len(main.types) >= 2
            and main.types[0][1] == main.general_lengths == main.types[1][1] == {10})
    if not lean:
        return _columns([normalize_phone(v, region) for v in values])
    nanp = _NANP_RE.fullmatch
    excel = _EXCEL_FLOAT_RE.fullmatch
    general = main.general.fullmatch
    fixed, mobile = main.types[0][0].fullmatch, main.types[1][0].fullmatch
    any_prefix = region in _NANP_REGIONS
    e164: list[str | None] = []
    reasons: list[str | None] = [None] * len(values)
    notes: list[str | None] = [None] * len(values)
    for i, raw in enumerate(values):
        text = raw.strip() if raw else ""
        m = nanp(text)
        if m is not None and (any_prefix or m[1] == "+1") and excel(text) is None:
            nsn = (m[2] or m[3]) + m[4] + m[5]
            if general(nsn) and (fixed(nsn) or mobile(nsn)):
                e164.append("+1" + nsn)
                continue
        result = normalize_phone(raw, region)
        e164.append(result.e164)
        reasons[i], notes[i] = result.reason, result.note
    return e164, reasons, notes


def _columns(results: Sequence[tuple[Any, Any, Any]]
             ) -> tuple[list[Any], list[Any], list[Any]]:
    """[(a, b, c), ...] -> ([a, ...], [b, ...], [c, ...])."""
    if not results:
        return [], [], []
    a, b, c = zip(*results)
    return list(a), list(b), list(c)


# ------------------------------------------------------------------ emails


class EmailResult(NamedTuple):
    """`email` normalized when valid ("" when blank); else None and `reason` + `note`."""

    email: str | None
    reason: str | None
    note: str | None


_FAST_LOCAL = re.compile(r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*")
_FAST_DOMAIN = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_SPECIAL_DOMAINS = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)


def _email_fast(text: str) -> str | None:
    """The normalized address for plain ASCII addresses, or None to ask email-validator."""
    local, at, domain = text.rpartition("@")
    if not at or len(text) > 254 or len(domain) > 253 or "--" in domain:
        return None
    if not _FAST_LOCAL.fullmatch(local) or not _FAST_DOMAIN.fullmatch(domain):
        return None
    if local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    domain = domain.lower()
    for special in _SPECIAL_DOMAINS:
        if domain == special or domain.endswith("." + special):
            return None
    return f"{local}@{domain}"


def email_slow(text: str) -> EmailResult:
    """email-validator's verdict (syntax only, no DNS)."""
    try:
        checked = email_validator.validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return EmailResult(None, "invalid_email", str(exc))
    return EmailResult(checked.normalized, None, None)


def normalize_email(raw: str | None) -> EmailResult:
    """One email address: trimmed, checked by email-validator (no DNS look-up), domain
    lower-cased (internationalized domains accepted). Blank gives ``("", None, None)``."""
    text = (raw or "").strip()
    if not text:
        return EmailResult("", None, None)
    fast = _email_fast(text)
    if fast is not None:
        return EmailResult(fast, None, None)
    return email_slow(text)


def normalize_emails(values: Sequence[str]
                     ) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """`normalize_email` over many values, as three columns (email, reason, note) equal
    to its results (a property test checks it): `_email_fast`'s steps inlined for the
    plain ASCII addresses; every other value takes `normalize_email`."""
    local_ok, domain_ok = _FAST_LOCAL.fullmatch, _FAST_DOMAIN.fullmatch
    specials = frozenset(_SPECIAL_DOMAINS)
    suffixes = tuple("." + d for d in _SPECIAL_DOMAINS)
    mailboxes = CASE_INSENSITIVE_MAILBOX_NAMES
    emails: list[str | None] = []
    reasons: list[str | None] = [None] * len(values)
    notes: list[str | None] = [None] * len(values)
    for i, raw in enumerate(values):
        text = raw.strip() if raw else ""
        local, at, domain = text.rpartition("@")
        if (at and len(text) <= 254 and len(domain) <= 253 and "--" not in domain
                and local_ok(local) and domain_ok(domain)
                and local.lower() not in mailboxes):
            lower = domain.lower()
            if lower not in specials and not lower.endswith(suffixes):
                emails.append(f"{local}@{lower}")
                continue
        result = normalize_email(raw)
        emails.append(result.email)
        reasons[i], notes[i] = result.reason, result.note
    return emails, reasons, notes


# ------------------------------------------------------------------ frames


@dataclass
class ValidationResult:
    """What `normalize_contacts` found.

    valid: the five normalized fields + ``__line__``, one row per accepted contact.
    rejects: one row per problem: line, key (trimmed, "" when missing), field, value
        (as in the source), reason, hint.
    rejected_lines: the source lines of the rejected rows (each once).
    notes: changes worth telling: line, field, value, note (e.g. extension dropped).
    reason_counts: problems per reason code.
    """

    valid: pd.DataFrame
    rejects: pd.DataFrame
    rejected_lines: list[int]
    notes: pd.DataFrame
    reason_counts: dict[str, int] = field(default_factory=dict)
    rows: int = 0

    @property
    def valid_count(self) -> int:
        return len(self.valid)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected_lines)

    @property
    def rejected_rows_by_reason(self) -> dict[str, int]:
        """Rows (not problems) per reason; a row with two reasons counts under each."""
        if self.rejects.empty:
            return {}
        counts = self.rejects.drop_duplicates(["line", "reason"])["reason"].value_counts()
        return {str(k): int(v) for k, v in counts.items()}


def _map_unique(raw: pd.Series, func=None, *, batch=None
                ) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Apply `func` once per distinct value of `raw` (strings), or `batch` once to the
    list of them (three columns back); three Series (value, reason, note)."""
    codes, uniques = pd.factorize(raw.to_numpy(dtype=object), use_na_sentinel=False)
    cols = (batch(list(uniques)) if batch is not None
            else _columns([func(u) for u in uniques]))
    out = []
    for col in cols:
        arr = np.empty(len(col), dtype=object)
        arr[:] = col
        out.append(pd.Series(arr.take(codes), index=raw.index, dtype=object))
    return out[0], out[1], out[2]


def _not_blank(s: pd.Series) -> pd.Series:
    return s.notna() & s.ne("")


def build_schema(required: Iterable[str]) -> pa.DataFrameSchema:
    """The pandera schema over the normalized work frame.

    In the work frame a field is "" when the source was blank and NA when the
    source value could not be normalized, so each check is a plain column check
    named by its reason code.
    """
    required = set(required)

    def present(reason: str) -> list[pa.Check]:
        return [pa.Check(lambda s: s.fillna("?").ne(""), name=reason, ignore_na=False)]

    def parsed(reason: str) -> pa.Check:
        return pa.Check(lambda s: s.notna(), name=reason, ignore_na=False)

    key_checks = [
        pa.Check(lambda s: s.ne(""), name="missing_key", ignore_na=False),
        pa.Check(lambda s: s.eq("") | ~s.duplicated(keep=False), name="duplicate_key",
                 ignore_na=False),
    ]
    name_checks = (present("missing_name") if "name" in required else []) + [
        pa.Check(lambda s: s.str.len().le(NAME_MAX_LENGTH), name="name_too_long",
                 ignore_na=False)]
    phone_checks = (present("missing_phone") if "phone_number" in required else []) + [
        parsed("invalid_phone")]
    email_checks = (present("missing_email") if "email" in required else []) + [
        parsed("invalid_email")]
    outbound_checks = (present("missing_outbound_number")
                       if "outbound_number" in required else []) + [
        parsed("invalid_outbound_number")]
    return pa.DataFrameSchema(
        {
            "external_unique_id": pa.Column(checks=key_checks, nullable=True),
            "name": pa.Column(checks=name_checks, nullable=True),
            "email": pa.Column(checks=email_checks, nullable=True),
            "phone_number": pa.Column(checks=phone_checks, nullable=True),
            "outbound_number": pa.Column(checks=outbound_checks, nullable=True),
        },
        strict=False, coerce=False, name="contacts")


def build_row_schema() -> pa.DataFrameSchema:
    """The row rule: two keys with one phone. Run on rows ordered so that the ones
    without other problems come first (file order kept within), so the first of those
    keeps the phone and every later row with it fails `duplicate_phone`."""
    return pa.DataFrameSchema({"phone_number": pa.Column(checks=[
        pa.Check(lambda s: s.isna() | s.eq("") | ~s.duplicated(keep="first"),
                 name="duplicate_phone", ignore_na=False)], nullable=True)},
        strict=False, coerce=False, name="contacts-rows")


def _failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """(index, field, reason) of every failed check."""
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        fc = fc[fc["index"].notna()]
        return pd.DataFrame({"index": fc["index"].astype("int64").to_numpy(),
                             "field": fc["column"].astype(str).to_numpy(),
                             "reason": fc["check"].astype(str).to_numpy()})
    return pd.DataFrame({"index": pd.Series([], dtype="int64"),
                         "field": pd.Series([], dtype=str), "reason": pd.Series([], dtype=str)})


def _collapse(s: pd.Series) -> pd.Series:
    s = s.fillna("").astype(str)
    # most names have no runs of whitespace; only those pay for the regex
    messy = s.str.contains(r"\s\s|[^\S ]", regex=True)
    if messy.any():
        s = s.copy()
        s[messy] = s[messy].str.replace(r"\s+", " ", regex=True)
    return s.str.strip()


def normalize_contacts(mapped: pd.DataFrame, *, region: str | None,
                       required: Sequence[str] = DEFAULT_REQUIRED) -> ValidationResult:
    """Normalize and validate mapped contacts (the five fields + ``__line__``).

    Every problem becomes one reject record; a row with any problem is rejected
    once. Valid rows come back normalized: key trimmed, name's whitespace collapsed,
    phones in E.164, email normalized.
    """
    frame = mapped.reset_index(drop=True)
    n = len(frame)
    lines = (frame[LINE_COLUMN].astype("int64") if LINE_COLUMN in frame
             else pd.Series(range(2, n + 2), dtype="int64"))
    raw = {f: (frame[f].fillna("").astype(str) if f in frame else
               pd.Series([""] * n, dtype=str)) for f in API_FIELDS}

    work = pd.DataFrame(index=frame.index)
    # keys: surrounding whitespace and invisible characters (a stray BOM, zero-width
    # spaces pasted from the web) go, so "k2\u200b" is the contact "k2"
    work["external_unique_id"] = raw["external_unique_id"].str.strip(KEY_STRIP)
    work["name"] = _collapse(raw["name"])

    note_frames = []
    phones: dict[str, pd.Series] = {}
    for fld in ("phone_number", "outbound_number"):
        value, reason, note = _map_unique(
            raw[fld], batch=lambda values: normalize_phones(values, region))
        blank = reason.eq("missing_phone")
        value = value.where(~blank, "")  # "" blank, NA invalid
        work[fld] = value
        phones[fld] = reason
        has_note = note.notna() & value.notna() & value.ne("")
        if has_note.any():
            note_frames.append(pd.DataFrame({
                "line": lines[has_note].to_numpy(), "field": fld,
                "value": raw[fld][has_note].to_numpy(), "note": note[has_note].to_numpy()}))
        phones[fld + ".note"] = note
    evalue, ereason, enote = _map_unique(raw["email"], batch=normalize_emails)
    work["email"] = evalue

    first = _failures(build_schema(required), work)
    order = pd.Series(range(n), index=frame.index)
    order[pd.Index(first["index"].unique())] += n
    reordered = work.loc[order.sort_values(kind="stable").index, ["phone_number"]]
    dup = _failures(build_row_schema(), reordered)
    if len(dup):
        # a phone only counts as taken by a row that is otherwise clean: rows that are
        # all rejected (e.g. one key written twice) do not claim it from each other
        clean_phones = set(work.loc[~work.index.isin(first["index"]), "phone_number"])
        dup_phones = work["phone_number"].to_numpy()[dup["index"].to_numpy()]
        dup = dup[[p in clean_phones for p in dup_phones]].reset_index(drop=True)
    fails = pd.concat([first, dup], ignore_index=True) if len(dup) else first
    keepers: dict[str, int] = {}
    if len(dup):
        claimed = reordered["phone_number"]
        claimed = claimed[claimed.notna() & claimed.ne("")]
        kept = claimed[~claimed.duplicated(keep="first")]
        keepers = dict(zip(kept.to_numpy(), kept.index))

    fails = fails.sort_values(["index"], kind="stable").reset_index(drop=True)
    idx = fails["index"].to_numpy()
    reasons = fails["reason"].to_numpy()
    fields = fails["field"].to_numpy()
    hints = [REASON_HINTS.get(r, "") for r in reasons]
    detail = {"phone_number": phones["phone_number.note"],
              "outbound_number": phones["outbound_number.note"], "email": enote}
    values = []
    for i, (row, fld, reason) in enumerate(zip(idx, fields, reasons)):
        values.append(raw[fld].iat[row] if fld in raw else "")
        why = detail[fld].iat[row] if fld in detail and reason.startswith("invalid") else None
        if why:
            hints[i] = f"{why}; {hints[i]}"
        if reason == "duplicate_phone":
            phone = work["phone_number"].iat[row]
            keeper = keepers[phone]
            hints[i] = (f"line {int(lines.iat[keeper])} (key "
                        f"{work['external_unique_id'].iat[keeper]!r}) has the same phone "
                        f"{phone} and is kept; " + hints[i])
    rejects = pd.DataFrame({
        "line": lines.to_numpy()[idx] if len(idx) else pd.Series([], dtype="int64"),
        "key": pd.Series(work["external_unique_id"].to_numpy()[idx] if len(idx) else [],
                         dtype=str),
        "field": pd.Series(fields, dtype=str), "value": pd.Series(values, dtype=str),
        "reason": pd.Series(reasons, dtype=str), "hint": pd.Series(hints, dtype=str)})
    rejects = rejects.sort_values(["line", "field"], kind="stable").reset_index(drop=True)

    bad = pd.Series(False, index=frame.index)
    bad[fails["index"].unique()] = True
    valid = work.loc[~bad, list(API_FIELDS)].copy()
    for fld in API_FIELDS:
        valid[fld] = valid[fld].fillna("").astype(str)
    valid[LINE_COLUMN] = lines[~bad].to_numpy()
    valid = valid.reset_index(drop=True)

    notes = (pd.concat(note_frames, ignore_index=True) if note_frames else
             pd.DataFrame({"line": pd.Series([], dtype="int64"), "field": pd.Series([], dtype=str),
                           "value": pd.Series([], dtype=str), "note": pd.Series([], dtype=str)}))
    if len(notes):
        notes = notes[notes["line"].isin(valid[LINE_COLUMN])].sort_values(
            ["line", "field"], kind="stable").reset_index(drop=True)
    counts = {str(k): int(v) for k, v in rejects["reason"].value_counts().items()}
    return ValidationResult(valid=valid, rejects=rejects,
                            rejected_lines=sorted(int(x) for x in lines[bad].tolist()),
                            notes=notes, reason_counts=counts, rows=n)
