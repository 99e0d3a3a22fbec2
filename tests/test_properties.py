"""Properties of normalization, checked on generated inputs."""

from __future__ import annotations

import pandas as pd
import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.schema import (
    LINE_COLUMN,
    _email_fast,
    _nanp_fast,
    email_slow,
    nanp_is_valid,
    normalize_contacts,
    normalize_email,
    normalize_emails,
    normalize_phone,
    normalize_phones,
    phone_slow,
)

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
                     "1-800-FLOWERS", "+1 684 622 1234", "(416) 555-0199"]))


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
                     "a@b--c.com", "a@münchen.de", "a..b@c.com", "x@y", "abuse@x.org"]),
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
    st.just("+44 20 7946 0958"), st.just(""))
remote_email = st.one_of(st.builds(lambda a, b, c: f"{a}@{b}.{c}", local, label, tld),
                         st.text(max_size=15), st.just("Postmaster@Example.COM"),
                         st.just("x@bücher.DE"))


@SETTINGS
@given(st.lists(remote_phone, max_size=30), st.lists(remote_email, max_size=30))
def test_vectorized_remote_normalization_equals_the_per_value_one(phones, emails):
    from connector.plan import _norm_emails, _norm_phones

    got = _norm_phones(pd.Series(phones, dtype=object), "US").tolist()
    for phone, key in zip(phones, got):
        e164 = normalize_phone(phone, "US").e164
        if e164 is not None:
            assert key == e164, phone          # a valid number: exactly its E.164
        else:                                  # an invalid one: a key no valid number has
            assert normalize_phone(key, "US").e164 is None, (phone, key)
    got = _norm_emails(pd.Series(emails, dtype=object)).tolist()
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
