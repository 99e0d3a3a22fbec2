"""Normalization and validation: every reason code, line numbers, phone styles."""

from __future__ import annotations

import pandas as pd
import pytest

from connector.normalize import normalize_email, normalize_phone
from connector.validate.schema import LINE_COLUMN, REASON_HINTS, normalize_contacts

FIELDS = ["external_unique_id", "name", "email", "phone_number", "outbound_number"]


def frame(rows: list[dict], first_line: int = 2) -> pd.DataFrame:
    data = {f: [r.get(f, "") for r in rows] for f in FIELDS}
    data[LINE_COLUMN] = list(range(first_line, first_line + len(rows)))
    return pd.DataFrame(data)


def row(key: str, phone: str = "(201) 471-6992", name: str = "Ann Lee", email: str = "",
        outbound: str = "") -> dict:
    return {"external_unique_id": key, "name": name, "email": email, "phone_number": phone,
            "outbound_number": outbound}


def rejects_of(result) -> set[tuple[int, str, str]]:
    return {(int(line), fld, reason) for line, fld, reason in
            result.rejects[["line", "field", "reason"]].itertuples(index=False, name=None)}


@pytest.mark.parametrize("raw", [
    "(201) 471-6992", "201.471.6992", "1-201-471-6992", "+1 201 471 6992", "2014716992",
    "+1-(201)-471-6992", "201-471-6992", " 201 471 6992 ", "2014716992.0", "2.014716992E9",
    "'+12014716992",
])
def test_us_phone_styles_give_one_e164(raw):
    assert normalize_phone(raw, "US") == ("+12014716992", None, None)


def test_international_number_keeps_its_country():
    assert normalize_phone("+44 20 7946 0958", "US").e164 == "+442079460958"
    assert normalize_phone("020 7946 0958", "GB").e164 == "+442079460958"


@pytest.mark.parametrize("raw, ext", [("201-471-6992 x123", "123"),
                                      ("(201) 471-6992 ext. 45", "45"),
                                      ("201.471.6992 extension 7", "7"),
                                      ("+1 201 471 6992 #9", "9")])
def test_extension_is_dropped_and_noted(raw, ext):
    assert normalize_phone(raw, "US") == ("+12014716992", None, f"extension {ext} dropped")


@pytest.mark.parametrize("raw, why", [
    ("555-CALL-NOW", "contains letters"), ("12345", "too short"),
    ("+1 201 471 69921234", "too long"), ("(000) 471-6992", "not a valid number"),
    ("2.01E9", "digits lost"), ("hello", "contains letters"),
])
def test_bad_phones_are_invalid_with_a_reason(raw, why):
    result = normalize_phone(raw, "US")
    assert result.e164 is None and result.reason == "invalid_phone"
    assert why in result.note


def test_national_number_without_region_is_invalid():
    result = normalize_phone("201 471 6992", None)
    assert result.reason == "invalid_phone"
    assert "region" in result.note


def test_blank_phone_is_missing():
    assert normalize_phone("  ", "US") == (None, "missing_phone", None)


@pytest.mark.parametrize("raw, out", [
    ("  Bob@EXAMPLE.com ", "Bob@example.com"),
    ("ann.lee+tag@Mail.Example.ORG", "ann.lee+tag@mail.example.org"),
    ("user@bücher.de", "user@bücher.de"),
    ("user@BÜCHER.de", "user@bücher.de"),
    ("", ""),
])
def test_email_normalization(raw, out):
    assert normalize_email(raw) == (out, None, None)


@pytest.mark.parametrize("raw", ["bob@x", "no-at-sign", "a@@b.com", "a b@c.com", "@example.com"])
def test_invalid_emails(raw):
    assert normalize_email(raw).reason == "invalid_email"


def test_every_reason_code_with_its_line():
    long_name = "N" * 256
    rows = [
        row("k1"),                                          # 2 valid
        row("", phone="201-471-6993"),                      # 3 missing_key
        row("k3", phone="201-471-6994", name="   "),        # 4 missing_name
        row("k4", phone="201-471-6995", name=long_name),    # 5 name_too_long
        row("k5", phone=""),                                # 6 missing_phone
        row("k6", phone="12345"),                           # 7 invalid_phone
        row("k7", phone="201-471-6996", email="bob@x"),     # 8 invalid_email
        row("k8", phone="201-471-6997", outbound="999"),    # 9 invalid_outbound_number
        row("k9", phone="201.471.6992"),                    # 10 duplicate_phone (line 2 keeps it)
        row("dup", phone="201-471-6998"),                   # 11 duplicate_key
        row("dup", phone="201-471-6999"),                   # 12 duplicate_key
    ]
    result = normalize_contacts(frame(rows), region="US",
                                required=["external_unique_id", "name", "phone_number"])
    assert rejects_of(result) == {
        (3, "external_unique_id", "missing_key"), (4, "name", "missing_name"),
        (5, "name", "name_too_long"), (6, "phone_number", "missing_phone"),
        (7, "phone_number", "invalid_phone"), (8, "email", "invalid_email"),
        (9, "outbound_number", "invalid_outbound_number"),
        (10, "phone_number", "duplicate_phone"),
        (11, "external_unique_id", "duplicate_key"), (12, "external_unique_id", "duplicate_key"),
    }
    assert result.valid[LINE_COLUMN].tolist() == [2]
    assert result.rejected_lines == list(range(3, 13))
    assert result.rows == 11 and result.valid_count == 1 and result.rejected_count == 10
    assert set(result.reason_counts) <= set(REASON_HINTS)
    hint = result.rejects.set_index("line").loc[10, "hint"]
    assert "line 2 (key 'k1')" in hint and "+12014716992" in hint
    assert result.rejects.set_index("line").loc[7, "value"] == "12345"


def test_required_email_and_outbound():
    rows = [row("a", phone="201-471-6992"), row("b", phone="201-471-6993", email="b@x.org",
                                                outbound="+1 760-867-5309")]
    result = normalize_contacts(frame(rows), region="US",
                                required=["external_unique_id", "name", "phone_number", "email",
                                          "outbound_number"])
    assert rejects_of(result) == {(2, "email", "missing_email"),
                                  (2, "outbound_number", "missing_outbound_number")}
    assert result.valid.iloc[0]["outbound_number"] == "+17608675309"


def test_empty_email_allowed_unless_required():
    result = normalize_contacts(frame([row("a")]), region="US",
                                required=["external_unique_id", "name", "phone_number"])
    assert result.valid_count == 1 and result.valid.iloc[0]["email"] == ""


def test_duplicate_key_rejects_every_occurrence_even_if_otherwise_valid():
    rows = [row(" k ", phone="201-471-6992"), row("k", phone="201-471-6993"),
            row("k", phone="201-471-6994"), row("other", phone="201-471-6995")]
    result = normalize_contacts(frame(rows), region="US")
    assert rejects_of(result) == {(line, "external_unique_id", "duplicate_key")
                                  for line in (2, 3, 4)}
    assert result.valid["external_unique_id"].tolist() == ["other"]


def test_duplicate_phone_first_clean_row_keeps_it():
    # line 2 has the phone but an invalid email: it is rejected for that, so line 3,
    # the first clean row with the phone, keeps it; line 4 is a duplicate, and line 2
    # is told too (fixing its email alone would not be enough)
    rows = [row("a", email="bad@", phone="201-471-6992"), row("b", phone="2014716992"),
            row("c", phone="+1 201 471 6992"), row("d", phone="201-471-6993")]
    result = normalize_contacts(frame(rows), region="US")
    assert rejects_of(result) == {(2, "email", "invalid_email"),
                                  (2, "phone_number", "duplicate_phone"),
                                  (4, "phone_number", "duplicate_phone")}
    assert result.valid["external_unique_id"].tolist() == ["b", "d"]


def test_a_row_with_two_problems_is_rejected_once():
    result = normalize_contacts(frame([row("", phone="x", email="y")]), region="US")
    assert result.rejected_lines == [2]
    assert len(result.rejects) == 3
    assert result.rejected_rows_by_reason == {"missing_key": 1, "invalid_phone": 1,
                                              "invalid_email": 1}


def test_valid_values_are_normalized():
    rows = [row("  key-1  ", name="  Ann \t  Marie\n Lee ", email=" Ann@EXAMPLE.COM ",
                phone="(201) 471-6992 ext. 12", outbound="+1 760-867-5309")]
    result = normalize_contacts(frame(rows, first_line=7), region="US")
    got = result.valid.iloc[0].to_dict()
    assert got == {"external_unique_id": "key-1", "name": "Ann Marie Lee",
                   "email": "Ann@example.com", "phone_number": "+12014716992",
                   "outbound_number": "+17608675309", LINE_COLUMN: 7}
    assert result.notes.to_dict("records") == [
        {"line": 7, "field": "phone_number", "value": "(201) 471-6992 ext. 12",
         "note": "extension 12 dropped"}]


def test_name_of_exactly_255_characters_is_fine():
    result = normalize_contacts(frame([row("a", name="x" * 255)]), region="US")
    assert result.valid_count == 1


def test_empty_frame():
    result = normalize_contacts(frame([]), region="US")
    assert result.rows == 0 and result.valid_count == 0 and result.rejects.empty
