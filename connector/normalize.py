"""The comparison rules: how a phone, an email, a name or a key is read and compared.

One place for what "the same value" means, used by validation (`schema`), the plan,
the loader's verification and the rollback, so a value is never compared two ways.

Phones go to E.164 exactly as ``phonenumbers`` reads them (every notation it knows;
letters outside a notation are refused), emails through ``email-validator`` (syntax
only). The common shapes (NANP numbers written as ``(201) 471-6992``, plain ASCII
addresses) take a fast path that gives exactly what the libraries give (property
tests compare them); everything else goes through the libraries themselves. Each
distinct value is normalized once (`map_unique`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import email_validator
import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from phonenumbers import PhoneMetadata
from phonenumbers import phonenumberutil as _pnu

# ------------------------------------------------------------------ phones


class PhoneResult(NamedTuple):
    """`e164` when valid; else `reason` (missing_phone or invalid_phone). `note` says
    what was changed (an extension dropped) or, for an invalid number, why."""

    e164: str | None
    reason: str | None
    note: str | None


_NANP_REGIONS = frozenset(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])
# NANP shapes: optional +1/1 prefix, (NPA) or NPA, exchange (3 digits), line number (4 digits), separated by one of " .-"
_NANP_PATTERN = (r"(?:(?P<p>\+1|1)[ .\-]?)?(?:\((?P<a>[0-9]{3})\)|(?P<b>[0-9]{3}))[ .\-]?"
                 r"(?P<e>[0-9]{3})[ .\-]?(?P<l>[0-9]{4})")
_NANP_RE = re.compile(_NANP_PATTERN)
_EXCEL_FLOAT = r"([0-9]+)\.0+"
_EXCEL_FLOAT_RE = re.compile(_EXCEL_FLOAT + r"\Z")
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

# phonenumbers' own grammar of extensions (every marker it knows: ext, extn, x, #, ~,
# int, anexo, доб, ;ext=, ",,", their full-width forms), so that the letters of a
# marker are never taken for words; `test_phones` checks that it is still there
_LIB_EXTENSION = _pnu._EXTN_PATTERN
_LIB_UNWANTED_END = _pnu._UNWANTED_END_CHAR_PATTERN  # what it drops after the last digit
_TEL_SCHEME = re.compile(r"[^\w+]*tel:", re.IGNORECASE)  # after blanks or punctuation
_PHONE_CONTEXT = ";phone-context="
_ISDN_SUBADDRESS = ";isub="


def stray_letters(text: str) -> str:
    """The letters of `text` that no phone notation explains: what is left once a
    ``tel:`` scheme, the RFC 3966 parameters ``;phone-context=`` and ``;isub=`` and a
    trailing extension (as phonenumbers finds it) are set aside. ``""`` for every
    notation phonenumbers reads; words (``call me``, ``n/a``) and vanity letters
    (``1-800-FLOWERS``) stay."""
    if text.isascii() and not any(c.isalpha() for c in text):
        return ""
    rest = text
    m = _TEL_SCHEME.match(rest)
    if m:
        rest = rest[m.end():]
    at = rest.find(_PHONE_CONTEXT)
    if at >= 0:  # the context may be a domain name: letters that belong to the notation
        end = rest.find(";", at + len(_PHONE_CONTEXT))
        rest = rest[:at] + ("" if end < 0 else rest[end:])
    at = rest.find(_ISDN_SUBADDRESS)
    if at >= 0:
        rest = rest[:at]
    m = _LIB_UNWANTED_END.search(rest)
    if m:
        rest = rest[:m.start()]
    m = _LIB_EXTENSION.search(rest)
    if m:
        rest = rest[:m.start()]
    return " ".join(_WORDS.findall(rest))


_WORDS = re.compile(r"[^\W\d_]+(?:[/.'][^\W\d_]+)*")


def _keypad_word(word: str, text: str) -> bool:
    """A word written as part of the number (``800-FLOWERS``, ``CALL4``): it touches a
    digit, directly or through a dash or a dot, as vanity letters do."""
    w = re.escape(word)
    return re.search(rf"[0-9][-.]?{w}|{w}[-.]?[0-9]", text) is not None


def _library_e164(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _letters_reason(text: str, stray: str, region: str | None) -> str:
    """Why a value with stray letters is refused; for a vanity number (letters that
    phonenumbers would dial as keypad digits) the digits, so the fix is one paste."""
    vanity = _library_e164(text, region)
    if (vanity is not None and vanity != _library_e164(_WORDS.sub("", text), region)
            and all(_keypad_word(word, text) for word in stray.split())):
        return (f"a vanity number ({stray}): letters are not dialed; write its digits, "
                f"{vanity}")
    return f"contains letters ({stray}): keep only the number in this column"


def phone_slow(text: str, region: str | None) -> PhoneResult:
    """phonenumbers' verdict on a string, in any notation it reads (an extension is
    dropped and noted)."""
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
    note = f"extension {number.extension} dropped" if number.extension else None
    return PhoneResult(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                       None, note)


def normalize_phone(raw: str | None, region: str | None) -> PhoneResult:
    """One phone value to E.164, exactly as ``phonenumbers.parse`` reads it for `region`.

    Returns ``(e164, None, note)`` when valid (`note` e.g. "extension 123 dropped"),
    ``(None, "missing_phone", None)`` when blank and ``(None, "invalid_phone", why)``
    otherwise. Every notation the library reads is accepted (``tel:`` URIs, RFC 3966
    parameters, every extension marker, full-width digits, its own formats); letters
    outside such a notation are refused (phonenumbers would read 1-800-FLOWERS as
    digits, and ``call me 201-471-6992`` as a number), see `stray_letters`.
    """
    text = (raw or "").strip()
    if text.startswith("'"):  # a cell neutralized by our own rejects.csv, fed back
        text = text[1:].strip()
    if not text:
        return PhoneResult(None, "missing_phone", None)
    text, lossy = _excel_digits(text)
    if lossy:
        return PhoneResult(None, "invalid_phone", "digits lost in scientific notation: "
                           "export the column as text")
    nsn = _nanp_fast(text, region)
    if nsn is not None:
        if nanp_is_valid(nsn):
            return PhoneResult("+1" + nsn, None, None)
        return PhoneResult(None, "invalid_phone", "not a valid number for its country")
    stray = stray_letters(text)
    if stray:
        return PhoneResult(None, "invalid_phone", _letters_reason(text, stray, region))
    return phone_slow(text, region)


def normalize_phones(values: Sequence[str], region: str | None
                     ) -> tuple[list[str | None], list[str | None], list[str | None]]:
    """`normalize_phone` over many values, as three columns (e164, reason, note) equal
    to its results (a property test checks it).

    The bulk of a contact list is plain NANP shapes (``(201) 471-6992``) of the main
    +1 region: those whose national number the region's own pattern and its
    fixed-line or mobile pattern accept are valid, decided for the whole batch by
    Arrow kernels (`_nanp_valid_e164`: the same patterns, run by RE2 in C++). Every
    other value takes `normalize_phone`."""
    fast = _nanp_valid_e164(values, region)
    if fast is None:
        return _columns([normalize_phone(v, region) for v in values])
    e164: list[str | None] = fast.to_pylist()
    reasons: list[str | None] = [None] * len(values)
    notes: list[str | None] = [None] * len(values)
    for i in np.flatnonzero(fast.is_null().to_numpy(zero_copy_only=False)).tolist():
        result = normalize_phone(values[i], region)
        e164[i], reasons[i], notes[i] = result.e164, result.reason, result.note
    return e164, reasons, notes


_LARGE = pa.large_string()
_EMPTY = pa.scalar("", _LARGE)
#: what str.strip() removes (every character str.isspace() holds, as this Python's
#: Unicode tables give them; a test checks), for Arrow's utf8_trim: the same strip
PY_WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003"
                 "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


def _py_stripped(values: Any) -> pa.Array:
    """Text values (a list, an array, a Series) as Arrow text, stripped as str.strip()
    strips them (missing: null)."""
    return pc.utf8_trim(_arrow_text(values), PY_WHITESPACE)


def _fullmatch(arr: pa.Array, pattern: str) -> pa.Array:
    """`re.fullmatch(pattern, value)` of each value (ASCII digit patterns), by RE2."""
    return pc.match_substring_regex(arr, f"^(?:{pattern})$")


def _nanp_valid_e164(values: Sequence[Any], region: str | None) -> pa.Array | None:
    """Per value, its E.164 form when it is a plain NANP shape (`_NANP_RE`, read as +1
    for `region`, no Excel float) whose national number the main +1 region's general
    pattern and its fixed-line or mobile pattern accept, as `normalize_phone` would
    find it valid; null for every other value. None when the main region's metadata
    is not of that simple form (then every value takes the per-value path)."""
    main = _NANP_RULES[0]
    if not (main.leading is None and main.general is not None and len(main.types) >= 2
            and main.types[0][1] == main.general_lengths == main.types[1][1] == {10}):
        return None
    text = _py_stripped(values)
    parts = pc.extract_regex(text, f"^(?:{_NANP_PATTERN})$")
    field = parts.field
    nsn = pc.binary_join_element_wise(field("a"), field("b"), field("e"), field("l"), _EMPTY)
    shaped = pc.is_valid(parts)
    if region not in _NANP_REGIONS:
        shaped = pc.and_(shaped, pc.equal(field("p"), "+1"))
    shaped = pc.and_not(shaped, _fullmatch(text, _EXCEL_FLOAT))
    valid = pc.and_(_fullmatch(nsn, main.general.pattern),
                    pc.or_(_fullmatch(nsn, main.types[0][0].pattern),
                           _fullmatch(nsn, main.types[1][0].pattern)))
    keep = pc.fill_null(pc.and_(shaped, valid), False)
    return pc.if_else(keep, pc.binary_join_element_wise(pa.scalar("+1", _LARGE), nsn, _EMPTY),
                      pa.scalar(None, _LARGE))


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
SPECIAL_DOMAINS = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)


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
    for special in SPECIAL_DOMAINS:
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
    to its results (a property test checks it): `_email_fast`'s steps run for the
    whole batch by Arrow kernels (`_plain_emails`); every other value takes
    `normalize_email`."""
    fast = _plain_emails(values)
    emails: list[str | None] = fast.to_pylist()
    reasons: list[str | None] = [None] * len(values)
    notes: list[str | None] = [None] * len(values)
    for i in np.flatnonzero(fast.is_null().to_numpy(zero_copy_only=False)).tolist():
        result = normalize_email(values[i])
        emails[i], reasons[i], notes[i] = result.email, result.reason, result.note
    return emails, reasons, notes


_MAILBOXES = pa.array(sorted(CASE_INSENSITIVE_MAILBOX_NAMES), type=pa.large_string())
_SPECIALS = pa.array(sorted(SPECIAL_DOMAINS), type=pa.large_string())


def _plain_emails(values: Sequence[Any]) -> pa.Array:
    """Per value, the address `_email_fast` gives for it (a plain ASCII address, its
    domain lower-cased), null where it gives None or the value is blank: the same
    tests, in C++ (RE2 runs the same ASCII patterns)."""
    text = _py_stripped(values)
    parts = pc.extract_regex(text, r"^(?P<local>(?s:.)*)@(?P<domain>[^@]*)$")  # rpartition
    local, domain = parts.field("local"), parts.field("domain")
    ok = pc.and_(pc.less_equal(pc.utf8_length(text), 254),
                 pc.less_equal(pc.utf8_length(domain), 253))
    ok = pc.and_not(ok, pc.match_substring(domain, "--"))
    ok = pc.and_(ok, _fullmatch(local, _FAST_LOCAL.pattern))
    ok = pc.and_(ok, _fullmatch(domain, _FAST_DOMAIN.pattern))
    ok = pc.and_not(ok, pc.is_in(pc.utf8_lower(local), value_set=_MAILBOXES))
    lower = pc.utf8_lower(domain)  # ASCII, by the pattern
    ok = pc.and_not(ok, pc.is_in(lower, value_set=_SPECIALS))
    for special in SPECIAL_DOMAINS:
        ok = pc.and_not(ok, pc.ends_with(lower, "." + special))
    keep = pc.fill_null(ok, False)
    return pc.if_else(keep, pc.binary_join_element_wise(local, pa.scalar("@", _LARGE), lower,
                                                        _EMPTY),
                      pa.scalar(None, _LARGE))


def map_unique(raw: pd.Series, func=None, *, batch=None
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




def collapse_spaces(s: pd.Series) -> pd.Series:
    """Text with runs of whitespace made one space, trimmed ("" for missing)."""
    s = s.fillna("").astype(str)
    # most names have no runs of whitespace; only those pay for the regex
    messy = s.str.contains(r"\s\s|[^\S ]", regex=True)
    if messy.any():
        s = s.copy()
        s[messy] = s[messy].str.replace(r"\s+", " ", regex=True)
    return s.str.strip()



def as_text(series: pd.Series) -> pd.Series:
    """``series.fillna("").astype(str)`` as plain str objects, in one pass over the
    values (pandas' string conversion costs ~3x more, and this runs over whole
    campaigns)."""
    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) != "string":  # a C pass
        values = [v if type(v) is str else str(v)
                  for v in series.to_numpy(dtype=object, na_value="")]
    return pd.Series(values, index=series.index, dtype=object)


def stripped_text(series: pd.Series) -> pd.Series:
    """``series.fillna("").astype(str).str.strip()``, in one pass (see `as_text`)."""
    values = series.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":  # a C pass, no NA
        return pd.Series(list(map(str.strip, values)), index=series.index, dtype=object)
    return pd.Series([v.strip() if type(v) is str else str(v).strip()
                      for v in series.to_numpy(dtype=object, na_value="")],
                     index=series.index, dtype=object)


def comparison_frame(remote: pd.DataFrame, region: str | None) -> pd.DataFrame:
    """The campaign's contacts with their comparison keys: ``key`` (the trimmed
    external_unique_id) and ``n_name``, ``n_email``, ``n_phone_number``, as the plan
    compares them (used again by verify and rollback)."""
    rem = remote.copy()
    rem["key"] = stripped_text(rem["external_unique_id"])
    rem["n_name"] = collapse_spaces(rem["name"])
    rem["n_email"] = norm_emails(rem["email"])
    rem["n_phone_number"] = norm_phones(rem["phone_number"], region)
    return rem


_NANP_DISPLAY = r"\+1[ .\-]?\(?[2-9][0-9]{2}\)?[ .\-]?[0-9]{3}[ .\-]?[0-9]{4}"


def norm_phones(series: pd.Series, region: str | None) -> pd.Series:
    """The comparison key of each phone: its E.164 form where it parses, else the
    value stripped ("" stays "").

    The campaign lists phones in a display format (``+1-(201)-471-6992``); those +1
    shapes are read by removing the separators, without asking phonenumbers whether
    the number is valid: a valid number gets exactly its E.164 form, and an invalid
    one a key no valid number has, so comparisons and phone ownership come out as
    with the per-value path. Every other value goes through `normalize_phone`."""
    text = pc.fill_null(_py_stripped(
        series if isinstance(series.dtype, pd.StringDtype) else as_text(series)), _EMPTY)
    # the shape leaves only "+", "-", "(", ")", "." and spaces besides the digits
    shaped = pc.match_substring_regex(text, f"^(?:{_NANP_DISPLAY})$")
    digits = pc.binary_join_element_wise(pa.scalar("+", _LARGE),
                                         pc.replace_substring_regex(text, "[^0-9]", ""), _EMPTY)
    values = pc.if_else(shaped, digits, text).to_numpy(zero_copy_only=False)
    out = pd.Series(values, index=series.index, dtype=object)
    rest = pc.and_not(pc.not_equal(text, _EMPTY), shaped).to_numpy(zero_copy_only=False)
    if rest.any():  # blanks stay "" (--trust-state compares a million of them)
        some = out[rest]
        value, _, _ = map_unique(some, lambda u: normalize_phone(u, region))
        out[rest] = value.where(value.notna(), some).to_numpy()
    return out


_SIMPLE_EMAIL = r"[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}" \
    r"[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"


def norm_emails(series: pd.Series) -> pd.Series:
    """Normalized addresses where valid, else the value stripped ("" stays "").

    Plain ASCII addresses (the bulk) get their domain lower-cased in one vectorized
    pass, exactly as `normalize_email`'s fast path does; the rest go through it."""
    text = stripped_text(series)
    out = pd.Series("", index=series.index, dtype=object)
    simple = text.str.fullmatch(_SIMPLE_EMAIL) & text.str.len().le(254)
    if simple.any():
        parts = text[simple].str.rpartition("@")
        local, domain = parts[0], parts[2].str.lower()
        special = "|".join(re.escape(d) for d in SPECIAL_DOMAINS)
        plain = (~domain.str.contains("--", regex=False)
                 & ~local.str.lower().isin(CASE_INSENSITIVE_MAILBOX_NAMES)
                 & domain.str.len().le(253)
                 & ~domain.str.contains(rf"(?:^|\.)(?:{special})$", regex=True))
        out[plain[plain].index] = (local[plain] + "@" + domain[plain]).to_numpy()
        simple = simple.copy()
        simple[plain[~plain].index] = False
    rest = ~simple & text.ne("")
    if rest.any():
        value, _, _ = map_unique(text[rest], normalize_email)
        out[rest[rest].index] = value.where(value.notna(), text[rest]).to_numpy()
    return out


#: how large tables hold text: Arrow strings (one buffer per column, pandas' own
#: ``str`` dtype), about a quarter of the memory of a Python object per cell. A table
#: of a million contacts is held this way between stages; a stage turns the slice it
#: works on into objects and back
TEXT = pd.StringDtype("pyarrow", na_value=np.nan)


def compact_text(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its object (text) columns held as `TEXT` (in place; returned)."""
    for c in frame.columns:
        if frame[c].dtype == object:
            frame[c] = frame[c].astype(TEXT)
    return frame


def text_array(values: Sequence[Any]) -> pd.api.extensions.ExtensionArray:
    """A list of str as a `TEXT` array."""
    return pd.array(values, dtype=TEXT)


def joined_arrays(parts: Sequence[Any], dtype: Any = TEXT) -> Any:
    """Arrays of one dtype (built a batch at a time) as one array; empty when none.
    Text comes back as one contiguous Arrow array (`one_chunk`)."""
    if not parts:
        return pd.array([], dtype=dtype)
    if len(parts) == 1:
        return one_chunk(parts[0])
    return one_chunk(pd.concat([pd.Series(a, copy=False) for a in parts],
                               ignore_index=True).array)


def one_chunk(values: Any) -> Any:
    """A `TEXT` array (or Series) held in several Arrow chunks as one contiguous chunk
    (anything else as it is). Joined batches are chunked, and taking rows from a
    chunked array costs about ten times more than from one chunk (100,000 of 10M rows:
    47 ms against 4.6 ms), which the plan does once per part and column."""
    array = values.array if isinstance(values, pd.Series) else values
    if not (isinstance(array, pd.api.extensions.ExtensionArray) and array.dtype == TEXT):
        return values
    chunked = pa.array(array)
    if not isinstance(chunked, pa.ChunkedArray) or chunked.num_chunks <= 1:
        return values
    single = pd.array(chunked.combine_chunks(), dtype=TEXT)
    if isinstance(values, pd.Series):
        return pd.Series(single, index=values.index, name=values.name, copy=False)
    return single


def _arrow_text(values: Any) -> pa.Array:
    """Text values (a Series, an array, a list; missing as NaN or None) as one Arrow
    large_string array, nulls where missing."""
    if isinstance(values, pd.Series):
        values = values.array
    if isinstance(values, pd.api.extensions.ExtensionArray) and isinstance(
            values.dtype, pd.StringDtype | pd.ArrowDtype):
        out = pa.array(values)
    else:
        out = pa.array(np.asarray(values, dtype=object), from_pandas=True,
                       type=pa.large_string())
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return out.cast(pa.large_string())


_WHITESPACE_RUN = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PY_WHITESPACE) + "]+"


def folded_keys(values: Any) -> np.ndarray:
    """Each key as `plan.safety.fold_key` folds it (``"".join(key.split()).casefold()``:
    no whitespace, case-folded), as an object array of str: the whitespace removed and
    ASCII lower-cased by Arrow kernels; keys that are not ASCII case-folded by Python
    (casefold is not lower outside ASCII). Missing values fold to ""."""
    text = pc.fill_null(_arrow_text(values), _EMPTY)
    bare = pc.replace_substring_regex(text, _WHITESPACE_RUN, "")
    out = pc.utf8_lower(bare).to_numpy(zero_copy_only=False)
    ascii_ = pc.string_is_ascii(bare).to_numpy(zero_copy_only=False)
    if not ascii_.all():
        at = np.flatnonzero(~ascii_)
        out[at] = [v.casefold() for v in bare.take(pa.array(at)).to_pylist()]
    return out


def positions_in(values: Any, lookup: Any) -> np.ndarray:
    """For each of `values`, the position of the same text in `lookup` (its first
    occurrence), -1 where it has none; missing values match nothing. A hash join of
    Arrow strings (pyarrow.compute.index_in): no Python string is made, and a million
    keys cost a fraction of a pandas merge or isin of the same text (+56 MiB and 0.16 s
    against +251 MiB and 0.36 s, or +383 MiB and 3.7 s; benchmarks/README.md)."""
    found = pc.index_in(_arrow_text(values), value_set=_arrow_text(lookup), skip_nulls=True)
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def taken_at(values: Any, at: np.ndarray, missing: Any) -> np.ndarray:
    """`values` at the positions `at` (as `positions_in` gives them), as objects;
    `missing` (one value, or an array as long as `at`) where a position is -1."""
    if len(values):
        picked = np.asarray(values, dtype=object)[np.where(at < 0, 0, at)]
    else:
        picked = np.full(len(at), None, dtype=object)
    return np.where(at < 0, missing, picked)


def phone_hashes(phones: Iterable[str]) -> pd.Series:
    """One int64 per phone (E.164 text): what the state store keeps instead of the
    number, so a carried row's phone can be compared without normalizing it again."""
    values = np.asarray(list(phones), dtype=object)
    if not len(values):
        return pd.Series([], dtype="int64")
    hashed = pd.util.hash_array(values, categorize=False)
    return pd.Series(hashed.view("int64"))


class KeyCodes:
    """Several arrays of keys as codes 0..size-1 of one factorization (equal keys,
    equal codes): a join of a million keys is then an array look-up, and each key
    is hashed once however many joins use it. `parts[i]`: the codes of array i."""

    def __init__(self, *arrays: np.ndarray) -> None:
        codes, uniques = pd.factorize(np.concatenate([np.asarray(a, dtype=object)
                                                      for a in arrays]))
        self.size = len(uniques)
        ends = np.cumsum([len(a) for a in arrays])
        self.parts = np.split(codes, ends[:-1])

    def first_of(self, codes: np.ndarray) -> np.ndarray:
        """Per code, the first position in `codes` holding it, else -1."""
        first = np.full(self.size, -1, dtype=np.intp)
        if len(codes):
            if np.bincount(codes, minlength=self.size).max() <= 1:
                first[codes] = np.arange(len(codes))
            else:
                uniq, pos = np.unique(codes, return_index=True)
                first[uniq] = pos
        return first

    def only_of(self, codes: np.ndarray, among: np.ndarray) -> np.ndarray:
        """Per code, the position in `codes` of the one entry (of those where `among`)
        holding it; -1 when none or several do."""
        once = among & (self.count(codes[among]) == 1)[codes]
        at = np.full(self.size, -1, dtype=np.intp)
        at[codes[once]] = np.flatnonzero(once)
        return at

    def count(self, codes: np.ndarray) -> np.ndarray:
        """Per code, how many times `codes` holds it."""
        return np.bincount(codes, minlength=self.size)

    def among(self, codes: np.ndarray, within: np.ndarray) -> np.ndarray:
        """Per entry of `codes`, whether it is among `within`."""
        there = np.zeros(self.size, dtype=bool)
        there[within] = True
        return there[codes]


def fold_name(name: object) -> str:
    """A column name as a mapping matches it: case, a stray BOM and surrounding spaces
    ignored (`record id` matches `Record ID`)."""
    return str(name).replace("\ufeff", "").strip().casefold()
