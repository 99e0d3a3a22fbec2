"""Mapping files: parsing, the errors a person gets, and applying a mapping to a frame."""

from __future__ import annotations

import pandas as pd
import pytest

from connector.errors import ExitCode, MappingError
from connector.extract.mapping import (
    LINE_COLUMN,
    apply_mapping,
    check_columns,
    load_mapping,
    parse_mapping,
)

EXAMPLE = """
region: us
columns:
  external_unique_id: Record ID
  name: {template: "{First Name} {Last Name}"}
  email: Email
  phone_number: {coalesce: [Mobile Phone Number, Phone Number]}
  outbound_number: {value: "+1 760-867-5309"}
required: [external_unique_id, name, phone_number]
source: {sheet: Contacts, delimiter: ";", encoding: cp1252}
"""


def test_the_product_example_parses():
    m = parse_mapping(EXAMPLE, path="/x/example.yaml")
    assert m.region == "US"
    assert m.name == "example.yaml"
    assert m.required == ("external_unique_id", "name", "phone_number")
    assert m.source == {"sheet": "Contacts", "delimiter": ";", "encoding": "cp1252"}
    assert m.source_columns() == ["Record ID", "First Name", "Last Name", "Email",
                                  "Mobile Phone Number", "Phone Number"]
    assert m.columns["outbound_number"].kind == "value"


def source_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "Record ID": ["1", "2", "3"], "First Name": ["Ann", "  ", "Cy"],
        "Last Name": ["Lee", "Bo", ""], "Email": ["a@x.org", "", "c@x.org"],
        "Mobile Phone Number": ["", "201-471-6993", " "],
        "Phone Number": ["201-471-6992", "201-471-0000", "201-471-6994"],
        LINE_COLUMN: [2, 3, 5]})


def test_apply_mapping_template_coalesce_value():
    out = apply_mapping(parse_mapping(EXAMPLE), source_frame())
    # a phone field of several columns also keeps each of them: the first valid is used
    assert list(out.columns) == ["external_unique_id", "name", "email", "phone_number",
                                 "outbound_number", "phone_number:0", "phone_number:1",
                                 LINE_COLUMN]
    assert out["name"].tolist() == ["Ann Lee", "Bo", "Cy"]   # blank parts dropped
    assert out["phone_number"].tolist() == ["201-471-6992", "201-471-6993", "201-471-6994"]
    assert out["outbound_number"].tolist() == ["+1 760-867-5309"] * 3
    assert out[LINE_COLUMN].tolist() == [2, 3, 5]


def test_coalesce_with_a_constant_fallback():
    m = parse_mapping("columns:\n  external_unique_id: id\n  name: n\n"
                      "  phone_number: {coalesce: [p, {value: '+1 201 471 6999'}]}\n")
    out = apply_mapping(m, pd.DataFrame({"id": ["a", "b"], "n": ["A", "B"], "p": ["1", ""]}))
    assert out["phone_number"].tolist() == ["1", "+1 201 471 6999"]


def test_missing_column_error_names_file_key_columns_and_guess():
    m = parse_mapping(EXAMPLE, path="hubspot.yaml")
    with pytest.raises(MappingError) as err:
        check_columns(m, ["Record ID", "First Name", "Last Name", "Email", "Phone Numbr",
                          "Mobile Phone Number"])
    text = str(err.value)
    assert "hubspot.yaml" in text and "columns.phone_number" in text
    assert "did you mean 'Phone Numbr'?" in text
    assert "'Record ID', 'First Name'" in text
    assert err.value.exit_code == ExitCode.USAGE


BASE = "columns:\n  external_unique_id: a\n  name: n\n  phone_number: p\n"


@pytest.mark.parametrize("text, needle", [
    ("colums:\n  external_unique_id: a\n", "'colums': unknown key"),
    ("columns:\n  external_unique_id: a\n  nmae: b\n", "'columns.nmae': not a contact field"),
    ("columns:\n  name: b\n", "sync key must be mapped"),
    ("columns:\n  external_unique_id: [a, b]\n", "expected a column name"),
    ("columns:\n  external_unique_id: a\n  name: {templte: x}\n", "unknown or extra key"),
    ("columns:\n  external_unique_id: a\n  name: {template: '{a'}\n", "template"),
    ("columns:\n  external_unique_id: a\n  name: {coalesce: []}\n", "non-empty list"),
    ("region: XX\ncolumns:\n  external_unique_id: a\n", "'region'"),
    ("columns:\n  external_unique_id: a\nrequired: [phone]\n", "'phone' is not a contact field"),
    ("columns:\n  external_unique_id: a\nrequired: [email]\n", "required but not mapped"),
    (BASE + "source: {sheets: 1}\n", "'source.sheets': unknown"),
    (BASE + "source: {delimiter: ';;'}\n", "single character"),
    (BASE + "source: {encoding: klingon}\n", "unknown encoding"),
    ("columns: [1, 2]\n", "'columns'"),
    ("- a\n- b\n", "expected a YAML mapping"),
    ("columns: {external_unique_id: a\n", "not valid YAML"),
    ("columns:\n  external_unique_id: true\n", "expected a column name"),
])
def test_bad_mappings_say_which_key(text, needle):
    with pytest.raises(MappingError) as err:
        parse_mapping(text, path="bad.yaml")
    assert "bad.yaml" in str(err.value)
    assert needle in str(err.value)


def test_yaml_alias_bomb_is_refused_before_expansion():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n" \
           "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\ncolumns: {external_unique_id: *c}\n"
    with pytest.raises(MappingError, match="anchors and aliases"):
        parse_mapping(bomb)


def test_load_mapping_by_path_and_errors(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert load_mapping(path).region == "US"
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "nope.yaml")
    with pytest.raises(MappingError, match="not found"):
        load_mapping("no-such-shipped-mapping")
