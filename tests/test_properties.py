"""Properties of normalization, checked on generated inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import phonenumbers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connector.normalize import (
    _email_fast,
    _nanp_fast,
    email_slow,
    nanp_is_valid,
    normalize_email,
    normalize_emails,
    normalize_phone,
    normalize_phones,
    phone_slow,
)
from connector.validate.schema import LINE_COLUMN, normalize_contacts

FIELDS = ["external_unique_id", "name", "email", "phone_number", "outbound_number"]
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
# whole frames through pandera cost ~50 ms each: fewer examples keep the suite short
FRAME_SETTINGS = settings(SETTINGS, max_examples=80)

digits = st.text("0123456789", min_size=1, max_size=1)
npa = st.tuples(st.sampled_from("23456789"), digits, digits).map("".join)
nxx = st.tuples(st.sampled_from("0123456789"), digits, digits).map("".join)
line4 = st.text("0123456789", min_size=4, max_size=4)
nanp = st.tuples(npa, nxx, line4)

STYLES = [
    lambda a, b, c: f"({a}) {b}-{c}", lambda a, b, c: f"{a}.{b}.{c}",
    lambda a, b, c: f"1-{a}-{b}-{c}", lambda a, b, c: f"+1 {a} {b} {c}",
    lambda a, b, c: f"{a}{b}{c}", lambda a, b, c: f"+1-({a})-{b}-{c}",
    lambda a, b, c: f"{a}-{b}-{c}", lambda a, b, c: f"+1{a}{b}{c}",
    lambda a, b, c: f"1 ({a}) {b} {c}", lambda a, b, c: f"{a}{b}{c}.0",
]


def library(text: str, region: str | None) -> str | None:
    """What phonenumbers alone says: E.164 when valid, else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@SETTINGS
@given(nanp, st.sampled_from(["US", "CA", None, "GB"]))
def test_every_style_gives_the_same_e164_as_phonenumbers(parts, region):
    a, b, c = parts
    plain = f"+1{a}{b}{c}"
    expected = library(plain, None)
    for style in STYLES:
        text = style(a, b, c)
        got = normalize_phone(text, region).e164
        national = not text.startswith("+")
        if national and region not in ("US", "CA"):
            # a national number outside NANP regions: phonenumbers decides, and we agree
            assert got == library(text.removesuffix(".0"), region)
        else:
            assert got == expected, (text, region)


@SETTINGS
@given(st.text("0123456789", min_size=10, max_size=10))
def test_nanp_fast_validity_equals_phonenumbers(nsn):
    number = phonenumbers.parse("+1" + nsn, None)
    assert nanp_is_valid(nsn) == phonenumbers.is_valid_number(number)


@SETTINGS
@given(st.text(" ()+-.0123456789x", min_size=1, max_size=20), st.sampled_from(["US", "CA"]))
def test_fast_path_agrees_with_the_slow_path_on_messy_inputs(text, region):
    if _nanp_fast(text.strip(), region) is None:
        return
    fast = normalize_phone(text, region)
    slow = phone_slow(text.strip(), region)
    assert fast.e164 == slow.e164


local = st.from_regex(r"[A-Za-z0-9_+\-]{1,12}(\.[A-Za-z0-9_+\-]{1,8})?", fullmatch=True)
label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9\-]{0,10}[A-Za-z0-9])?", fullmatch=True)
tld = st.from_regex(r"[A-Za-z]{2,6}", fullmatch=True)


@SETTINGS
@given(local, st.lists(label, min_size=1, max_size=3), tld)
def test_email_fast_path_equals_email_validator(loc, labels, top):
    text = f"{loc}@{'.'.join(labels)}.{top}"
    fast = _email_fast(text)
    slow = email_slow(text)
    if fast is not None:
        assert fast == slow.email, text
    assert normalize_email(text) == slow


messy_phone = st.one_of(
    st.tuples(nanp, st.sampled_from(STYLES)).map(lambda t: t[1](*t[0])),
    st.tuples(nanp, st.sampled_from(STYLES), st.sampled_from([" ", "  ", "'", " x12", ".0"]))
    .map(lambda t: t[1](*t[0]) + t[2] if t[2] != "'" else "'" + t[1](*t[0])),
    st.text(" ()+-.0123456789xe#", max_size=20), st.text(max_size=8),
    st.sampled_from(["", "  ", "+44 20 7946 0958", "2.014716992E9", "1201471.0000",
                     "1-800-FLOWERS", "+1 684 622 1234", "(416) 555-0199",
                     # whitespace str.strip() removes, and the batch path must too
                     "\u2003(201) 471-6992\x1c", "\x85 201-471-6992", "\u205f2014716992\u3000",
                     "\u200b(201) 471-6992", "2014716992\ufeff"]))


@SETTINGS
@given(st.lists(messy_phone, max_size=30), st.sampled_from(["US", "CA", None, "GB", "FR"]))
def test_batch_phones_equal_the_per_value_path(values, region):
    e164, reasons, notes = normalize_phones(values, region)
    assert list(zip(e164, reasons, notes)) == [tuple(normalize_phone(v, region))
                                               for v in values]


messy_email = st.one_of(
    st.builds(lambda a, b, c: f"{a}@{b}.{c}", local, label, tld),
    st.builds(lambda a, b: f" {a}@{b.upper()}.COM ", local, label),
    st.sampled_from(["", "  ", "postmaster@Example.com", "a@b.test", "a@x.localhost",
                     "a@b--c.com", "a@münchen.de", "a..b@c.com", "x@y", "abuse@x.org",
                     "a@xn--mnchen-3ya.de", "\u2009a@b.com\x1f", "\x1ea@b.com", "\u200ba@b.com"]),
    st.text(max_size=16))


@SETTINGS
@given(st.lists(messy_email, max_size=30))
def test_batch_emails_equal_the_per_value_path(values):
    emails, reasons, notes = normalize_emails(values)
    assert list(zip(emails, reasons, notes)) == [tuple(normalize_email(v)) for v in values]


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)
any_phone = st.one_of(nanp.map(lambda p: f"({p[0]}) {p[1]}-{p[2]}"),
                      st.text("0123456789 -()+x", max_size=16), st.just(""))
any_email = st.one_of(st.just(""), st.builds(lambda a, b: f"{a}@{b}.com", local, label),
                      st.text(max_size=12))
rows = st.lists(st.fixed_dictionaries({
    "external_unique_id": st.one_of(st.just(""), st.text("abc123 ", max_size=4)),
    "name": names, "email": any_email, "phone_number": any_phone,
    "outbound_number": st.one_of(st.just(""), st.just("+1 760-867-5309"), st.just("12")),
}), max_size=25)


def to_frame(records: list[dict]) -> pd.DataFrame:
    data = {f: [r[f] for r in records] for f in FIELDS}
    data[LINE_COLUMN] = list(range(2, len(records) + 2))
    return pd.DataFrame(data)


@FRAME_SETTINGS
@given(rows)
def test_every_row_lands_in_exactly_one_bucket(records):
    result = normalize_contacts(to_frame(records), region="US")
    valid_lines = result.valid[LINE_COLUMN].tolist()
    assert len(valid_lines) == len(set(valid_lines))
    assert not set(valid_lines) & set(result.rejected_lines)
    assert sorted(valid_lines + result.rejected_lines) == list(range(2, len(records) + 2))
    assert set(result.rejects["line"]) == set(result.rejected_lines)


@FRAME_SETTINGS
@given(rows)
def test_normalizing_a_normalized_contact_changes_nothing(records):
    first = normalize_contacts(to_frame(records), region="US")
    again = normalize_contacts(first.valid, region="US")
    assert again.rejects.empty
    pd.testing.assert_frame_equal(again.valid, first.valid)
    assert again.notes.empty


remote_phone = st.one_of(
    nanp.map(lambda p: f"+1-({p[0]})-{p[1]}-{p[2]}"), nanp.map(lambda p: f"+1{p[0]}{p[1]}{p[2]}"),
    nanp.map(lambda p: f"+1 {p[0]} {p[1]} {p[2]}"), st.text(" +-().0123456789", max_size=18),
    st.just("+44 20 7946 0958"), st.just(""),
    # a display shape followed by more: an extension the number keeps
    nanp.map(lambda p: f"+1 ({p[0]}) {p[1]}-{p[2]} ext. 12"),
    nanp.map(lambda p: f" +1-{p[0]}-{p[1]}-{p[2]}x7\u3000"))
remote_email = st.one_of(st.builds(lambda a, b, c: f"{a}@{b}.{c}", local, label, tld),
                         st.text(max_size=15), st.just("Postmaster@Example.COM"),
                         st.just("x@bücher.DE"))


@SETTINGS
@given(st.lists(remote_phone, max_size=30), st.lists(remote_email, max_size=30))
def test_vectorized_remote_normalization_equals_the_per_value_one(phones, emails):
    from connector.normalize import norm_emails, norm_phones

    got = norm_phones(pd.Series(phones, dtype=object), "US").tolist()
    for phone, key in zip(phones, got):
        e164 = normalize_phone(phone, "US").e164
        if e164 is not None:
            assert key == e164, phone          # a valid number: exactly its E.164
        else:                                  # an invalid one: a key no valid number has
            assert normalize_phone(key, "US").e164 is None, (phone, key)
    got = norm_emails(pd.Series(emails, dtype=object)).tolist()
    want = []
    for e in emails:
        r = normalize_email(e)
        want.append(r.email if r.email is not None else e.strip())
    assert got == want


@SETTINGS
@given(st.lists(st.one_of(st.none(), st.text(max_size=6),
                          st.sampled_from(["=1+1", "+1", "-2", "@x", "\tx", "\rx", "'a"])),
                max_size=30))
def test_vectorized_csv_neutralization_equals_the_per_cell_one(values):
    from connector.fileio import neutralize_cell, neutralize_frame

    got = neutralize_frame(pd.DataFrame({"v": pd.Series(values, dtype=object)}))["v"].tolist()
    assert got == [neutralize_cell(v) for v in values]


# ------------------------------------------------------------------ every notation
# Valid numbers of several regions, rendered in every notation phonenumbers reads
# (its own formats, RFC 3966 URIs and parameters, every extension marker it knows,
# full-width digits), with surrounding blanks and punctuation: each is accepted and
# normalized exactly as phonenumbers.parse + E.164 gives, the batch path agrees with
# the per-value one, and a check that refuses letters up front would fail here.

NOTATION_REGIONS = ["US", "CA", "GB", "FR", "DE", "JP", "AU", "BR", "IN", "MX", "IT", "ES",
                    "CH"]
NUMBER_TYPES = [phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE]
EXTENSION_MARKERS = ["ext", "ext.", "Ext. ", "EXT:", "extn", "extension ", "extensión ",
                     "x", "X", " x ", "#", "~", "int ", "anexo ", "доб ", "ｅｘｔ", "ｘ", "＃",
                     "～", ";ext=", ";", ",,", ","]
FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")
PE = phonenumbers.PhoneNumberFormat


@st.composite
def valid_numbers(draw):
    """A valid number of one of NOTATION_REGIONS: the region's example number with
    its last digits drawn (kept only when still valid)."""
    region = draw(st.sampled_from(NOTATION_REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(NUMBER_TYPES)))
    nsn = str(example.national_number)
    tail = draw(st.text("0123456789", min_size=3, max_size=3))
    number = phonenumbers.parse(f"+{example.country_code}{nsn[:-3]}{tail}", None)
    assume(phonenumbers.is_valid_number(number))
    return region, number


def render(number, how: str, ext: str, marker: str) -> str:
    """One notation of `number` (a PhoneNumber without extension)."""
    cc, nsn = number.country_code, phonenumbers.national_significant_number(number)
    if how in ("E164", "INTERNATIONAL", "NATIONAL", "RFC3966"):
        n = phonenumbers.PhoneNumber()
        n.merge_from(number)
        if ext:
            n.extension = ext
        return phonenumbers.format_number(n, getattr(PE, how))
    if how == "tel-context":        # a national number in the context of its country
        return f"tel:{nsn};phone-context=+{cc}" + (f";ext={ext}" if ext else "")
    if how == "tel-isub":
        return phonenumbers.format_number(number, PE.RFC3966) + ";isub=" + (ext or "1234")
    if how == "TEL":                # the URI scheme in capitals
        return "TEL:" + phonenumbers.format_number(number, PE.RFC3966)[4:]
    if how == "marker":             # every extension marker the library knows
        return phonenumbers.format_number(number, PE.INTERNATIONAL) + " " + marker + (
            ext or "7")
    if how == "fullwidth":
        return phonenumbers.format_number(number, PE.INTERNATIONAL).translate(FULL_WIDTH)
    if how == "fullwidth-national":
        return phonenumbers.format_number(number, PE.NATIONAL).translate(FULL_WIDTH)
    raise AssertionError(how)


NOTATIONS = ["E164", "INTERNATIONAL", "NATIONAL", "RFC3966", "tel-context", "tel-isub",
             "TEL", "marker", "fullwidth", "fullwidth-national"]
around = st.sampled_from(["", " ", "  ", "\t", "\u00a0"])
before = st.sampled_from(["", "(", "[", '"', "*", "-", ":"])
after = st.sampled_from(["", ".", ",", ")", "]", ";", '"', " -", "!"])


@st.composite
def notated(draw):
    region, number = draw(valid_numbers())
    how = draw(st.sampled_from(NOTATIONS))
    ext = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=5)))
    marker = draw(st.sampled_from(EXTENSION_MARKERS))
    text = render(number, how, ext, marker)
    decorated = draw(around) + draw(before) + text + draw(after) + draw(around)
    # blanks and punctuation around it, where the library still reads the same number
    # (it refuses "phone-context=+1)", say: that is no notation it reads)
    if library(decorated.strip(), region) == library(text, region):
        text = decorated
    return region, number, text


@SETTINGS
@given(notated())
def test_every_notation_phonenumbers_reads_is_accepted_exactly_as_it_reads_it(case):
    region, number, text = case
    parsed = phonenumbers.parse(text.strip(), region)
    expected = phonenumbers.format_number(number, PE.E164)
    assert phonenumbers.is_valid_number(parsed), text       # the library reads it...
    assert library(text.strip(), region) == expected, text
    got = normalize_phone(text, region)
    assert got.e164 == expected, (text, got)                # ...and so do we, the same
    assert got.reason is None
    assert got.note == (f"extension {parsed.extension} dropped" if parsed.extension
                        else None), text


@SETTINGS
@given(st.lists(notated(), min_size=1, max_size=20))
def test_batch_phones_equal_the_per_value_path_in_every_notation(cases):
    region = cases[0][0]
    values = [text for _, _, text in cases]
    e164, reasons, notes = normalize_phones(values, region)
    assert list(zip(e164, reasons, notes)) == [tuple(normalize_phone(v, region))
                                               for v in values]


@SETTINGS
@given(valid_numbers(), st.sampled_from(["call me ", "n/a ", "mobile: ", "ask for Bob "]),
       st.sampled_from(["", " (home)", " evenings", " FLOWERS"]))
def test_words_beside_a_valid_number_are_refused_with_the_reason(case, lead, tail):
    region, number = case
    text = lead + phonenumbers.format_number(number, PE.NATIONAL) + tail
    got = normalize_phone(text, region)
    assert got.e164 is None and got.reason == "invalid_phone", text
    assert got.note.startswith("contains letters ("), got


# ------------------------------------------------------------------ each row's country

COUNTRY_FORMS = {
    "US": ["US", "us", "United States", "United States of America", "USA", "U.S.A."],
    "CA": ["CA", "Canada", "CAN"],
    "GB": ["GB", "gb", "United Kingdom", "UK", "Great Britain", " united  kingdom "],
    "FR": ["FR", "France", "FRA", "france"],
    "DE": ["DE", "Germany", "Deutschland", "DEU"],
    "JP": ["JP", "Japan", "JPN"],
    "AU": ["AU", "Australia", "AUS"],
    "BR": ["BR", "Brazil", "Brasil"],
    "IN": ["IN", "India"],
    "MX": ["MX", "Mexico", "México"],
    "IT": ["IT", "Italy", "Italia"],
    "ES": ["ES", "Spain", "España"],
    "CH": ["CH", "Switzerland"],
}


@st.composite
def national_rows(draw):
    region, number = draw(valid_numbers())
    country = draw(st.sampled_from(COUNTRY_FORMS[region]))
    text = phonenumbers.format_number(number, draw(st.sampled_from([PE.NATIONAL, PE.E164,
                                                                     PE.INTERNATIONAL])))
    return region, country, text, phonenumbers.format_number(number, PE.E164)


@FRAME_SETTINGS
@given(st.lists(national_rows(), min_size=1, max_size=20))
def test_national_numbers_read_in_each_rows_country(rows_):
    frame = pd.DataFrame({
        "external_unique_id": [f"k{i}" for i in range(len(rows_))],
        "name": ["N"] * len(rows_), "email": [""] * len(rows_),
        "phone_number": [text for _, _, text, _ in rows_],
        "outbound_number": [""] * len(rows_), "__region__": [c for _, c, _, _ in rows_],
        LINE_COLUMN: range(2, len(rows_) + 2)})
    result = normalize_contacts(frame, region="US")
    # each row as the per-value path reads it in its own region (the batch path agrees)
    want = [normalize_phone(text, region).e164 for region, _, text, _ in rows_]
    assert want == [e164 for *_, e164 in rows_]
    dup = {e for e in want if want.count(e) > 1}
    got = dict(zip(result.valid[LINE_COLUMN], result.valid["phone_number"]))
    for line, (_, _, _, e164) in enumerate(rows_, 2):
        if e164 not in dup:
            assert got[line] == e164
    assert result.notes.empty


few_rows = st.lists(st.fixed_dictionaries({
    "external_unique_id": st.sampled_from(["", "a", "b", " a", "c", "1.2E+10"]),
    "name": st.sampled_from(["", "Ann", "Bo  b"]),
    "email": st.sampled_from(["", "a@x.com", "bad"]),
    "phone_number": st.sampled_from(["", "(201) 471-6990", "201.471.6990", "201-471-6991",
                                     "12"]),
    "outbound_number": st.sampled_from(["", "12"]),
}), max_size=25)


@FRAME_SETTINGS
@given(few_rows, st.integers(1, 5))
def test_chunks_give_the_same_result_as_one_chunk(records, chunk_rows):
    """The rows are normalized a chunk at a time and the rules across rows (a key or a
    phone on two rows) run over all of them: any chunk size gives the same result."""
    frame = to_frame(records)
    one = normalize_contacts(frame, region="US")
    chunked = normalize_contacts(frame, region="US", chunk_rows=chunk_rows)
    for name in ("valid", "rejects", "notes", "rejected_rows"):
        pd.testing.assert_frame_equal(getattr(chunked, name), getattr(one, name), obj=name)
    assert chunked.rejected_lines == one.rejected_lines
    assert chunked.reason_counts == one.reason_counts


def test_py_whitespace_is_what_str_strip_removes():
    from connector.normalize import PY_WHITESPACE

    assert PY_WHITESPACE == "".join(chr(c) for c in range(0x110000) if chr(c).isspace())


@SETTINGS
@given(st.lists(st.one_of(st.text(max_size=8), st.sampled_from(
    ["Straße", "ǅa", "ﬁx", "K\u200bX", " a\u2003B ", "İ", "ΣΑΣ", "\u1680k"])), max_size=20))
def test_folded_keys_equal_fold_key(keys):
    from connector.normalize import folded_keys
    from connector.plan.safety import fold_key

    assert list(folded_keys(np.array(keys, dtype=object))) == [fold_key(k) for k in keys]
