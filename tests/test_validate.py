"""`validate` end to end: real files of every kind through reader, mapping and schema,
and the command's summary, output files and exit codes."""

from __future__ import annotations

import csv
import json

import openpyxl
import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.pipeline import validate_source

MAPPING = """
region: US
columns:
  external_unique_id: Record ID
  name: {template: "{First Name} {Last Name}"}
  email: Email
  phone_number: {coalesce: [Mobile Phone Number, Phone Number]}
required: [external_unique_id, name, phone_number]
"""
HEADER = ["Record ID", "First Name", "Last Name", "Email", "Mobile Phone Number", "Phone Number"]
ROWS = [
    ["1001", "Zoë", "Durand", "zoe@EXAMPLE.fr", "", "(201) 471-6992"],
    ["1002", "Ann", "Lee", "ann@example.com", "201.471.6993 x12", ""],
    ["", "No", "Key", "", "", "1-201-471-6994"],
    ["1004", "Bad", "Phone", "", "555-CALL-NOW", ""],
    ["1005", "Bad", "Mail", "bob@x", "", "+1 201 471 6995"],
    ["1006", "Same", "Phone", "", "2014716992", ""],
]
# (line, field, reason) when the header is line 1 and each row one line
EXPECTED_REJECTS = {(4, "external_unique_id", "missing_key"),
                    (5, "phone_number", "invalid_phone"), (6, "email", "invalid_email"),
                    (7, "phone_number", "duplicate_phone")}
EXPECTED_VALID = [
    {"external_unique_id": "1001", "name": "Zoë Durand", "email": "zoe@example.fr",
     "phone_number": "+12014716992", "outbound_number": "", "__line__": 2},
    {"external_unique_id": "1002", "name": "Ann Lee", "email": "ann@example.com",
     "phone_number": "+12014716993", "outbound_number": "", "__line__": 3},
]


@pytest.fixture
def mapping(tmp_path):
    path = tmp_path / "crm.yaml"
    path.write_text(MAPPING, encoding="utf-8")
    return path


def write_text_csv(path, rows, *, encoding="utf-8", delimiter=",", newline="\n"):
    with open(path, "w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=newline)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def verdict(path, mapping):
    v = validate_source(path, mapping)
    rejects = {(int(a), b, c) for a, b, c in
               v.result.rejects[["line", "field", "reason"]].itertuples(index=False, name=None)}
    return v, rejects, v.result.valid.to_dict("records")


@pytest.mark.parametrize("encoding, delimiter, newline", [
    ("utf-8", ",", "\n"), ("utf-8-sig", ",", "\r\n"), ("utf-16", "\t", "\n"),
    ("cp1252", ";", "\r\n"), ("utf-8", "|", "\n"),
])
def test_csv_variants_give_the_same_verdict(tmp_path, mapping, encoding, delimiter, newline):
    path = write_text_csv(tmp_path / "contacts.csv", ROWS, encoding=encoding,
                          delimiter=delimiter, newline=newline)
    v, rejects, valid = verdict(path, mapping)
    assert rejects == EXPECTED_REJECTS
    assert valid == EXPECTED_VALID
    assert v.info.columns == HEADER  # no BOM stuck to "Record ID"
    assert v.info.delimiter == delimiter
    if encoding == "cp1252":
        assert any("cp1252" in note for note in v.info.notes)
    assert v.result.notes.to_dict("records") == [
        {"line": 3, "field": "phone_number", "value": "201.471.6993 x12",
         "note": "extension 12 dropped"}]


def test_quoted_newlines_keep_line_numbers_of_the_row_start(tmp_path, mapping):
    rows = [["1001", "Zoë", "Du\nrand", "zoe@example.fr", "", "(201) 471-6992"],
            ["1002", "Ann", "Lee, Jr.", "", "", "12345"],
            ["1003", "Cy", "Bo", "", "", "201-471-6994"]]
    path = write_text_csv(tmp_path / "q.csv", rows)
    v, rejects, valid = verdict(path, mapping)
    assert rejects == {(4, "phone_number", "invalid_phone")}  # line 2-3 is one record
    assert [r["__line__"] for r in valid] == [2, 5]
    assert valid[0]["name"] == "Zoë Du rand"


def test_excel_numeric_phones_decoy_sheet_and_title_rows(tmp_path, mapping):
    wb = openpyxl.Workbook()
    decoy = wb.active
    decoy.title = "Read me"
    decoy.append(["Exported from the CRM on 2026-11-30"])
    sheet = wb.create_sheet("Contacts")
    sheet.append(["Contacts export"])
    sheet.append([])
    sheet.append(HEADER)
    sheet.append([1001, "Zoë", "Durand", "zoe@EXAMPLE.fr", None, 2014716992])
    sheet.append(["1002", "Ann", "Lee", "ann@example.com", 2014716993.0, None])
    sheet.append(["1003", "Big", "Float", "", 2.014716994e9, None])
    sheet.append(["1004", "Too", "Short", "", 12345, None])
    path = tmp_path / "contacts.xlsx"
    wb.save(path)
    v, rejects, valid = verdict(path, mapping)
    assert v.info.sheet == "Contacts" and v.info.header_line == 3
    assert rejects == {(7, "phone_number", "invalid_phone")}
    assert [(r["external_unique_id"], r["phone_number"], r["__line__"]) for r in valid] == [
        ("1001", "+12014716992", 4), ("1002", "+12014716993", 5), ("1003", "+12014716994", 6)]
    repaired = v.result.notes[v.result.notes["note"].str.startswith("repaired from a number")]
    assert set(zip(repaired["line"], repaired["field"])) >= {(4, "phone_number"),
                                                             (5, "phone_number"),
                                                             (6, "phone_number")}


def test_json_and_jsonl(tmp_path, mapping):
    records = [dict(zip(HEADER, r)) for r in ROWS]
    (tmp_path / "c.json").write_text(json.dumps(records, indent=1), encoding="utf-8")
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n",
                                      encoding="utf-8")
    _, rejects, valid = verdict(tmp_path / "c.jsonl", mapping)
    # JSON Lines: line 1 is the first record
    assert rejects == {(line - 1, fld, reason) for line, fld, reason in EXPECTED_REJECTS}
    assert valid == [{**r, "__line__": r["__line__"] - 1} for r in EXPECTED_VALID]
    # a JSON array: the record's 1-based index in the array
    _, rejects, valid = verdict(tmp_path / "c.json", mapping)
    assert rejects == {(line - 1, fld, reason) for line, fld, reason in EXPECTED_REJECTS}
    assert valid == [{**r, "__line__": r["__line__"] - 1} for r in EXPECTED_VALID]


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_command_exit_3_summary_and_files(tmp_path, mapping):
    src = write_text_csv(tmp_path / "contacts.csv", ROWS)
    out, rej = tmp_path / "out" / "valid.json", tmp_path / "rejects.csv"
    result = run("validate", src, "--mapping", mapping, "--output", out, "--rejects", rej)
    assert result.exit_code == 3, result.output
    assert "rows read         6" in result.output
    assert "valid             2" in result.output
    assert "rejected          4" in result.output
    for reason in ("missing_key", "invalid_phone", "invalid_email", "duplicate_phone"):
        assert reason in result.output
    assert json.loads(out.read_text(encoding="utf-8")) == [
        {"external_unique_id": "1001", "name": "Zoë Durand", "email": "zoe@example.fr",
         "phone_number": "+12014716992"},
        {"external_unique_id": "1002", "name": "Ann Lee", "email": "ann@example.com",
         "phone_number": "+12014716993"}]
    text = rej.read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(text.decode("utf-8-sig").splitlines()))
    assert [(r["line"], r["reason"]) for r in rows] == [
        ("4", "missing_key"), ("5", "invalid_phone"), ("6", "invalid_email"),
        ("7", "duplicate_phone")]
    assert rows[1]["Mobile Phone Number"] == "555-CALL-NOW"
    assert rows[1]["value"] == "555-CALL-NOW"
    assert "contains letters" in rows[1]["hint"]
    assert "line 2 (key '1001')" in rows[3]["hint"]


def test_rejects_file_fed_back_after_fixing(tmp_path, mapping):
    src = write_text_csv(tmp_path / "contacts.csv", ROWS)
    rej = tmp_path / "rejects.csv"
    assert run("validate", src, "-m", mapping, "--rejects", rej).exit_code == 3
    rows = list(csv.DictReader(rej.read_text(encoding="utf-8-sig").splitlines()))
    rows[0]["Record ID"] = "1003"
    rows[1]["Mobile Phone Number"] = "201-471-6996"
    rows[2]["Email"] = "bob@example.com"
    rows[3]["Mobile Phone Number"] = "201-471-6997"
    fixed = tmp_path / "fixed.csv"
    with open(fixed, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run("validate", fixed, "-m", mapping, "-o", tmp_path / "fixed-valid.csv")
    assert result.exit_code == 0, result.output
    assert "valid             4" in result.output


def test_command_exit_0_when_all_valid(tmp_path, mapping):
    src = write_text_csv(tmp_path / "ok.csv", ROWS[:2])
    result = run("validate", src, "--mapping", mapping, "--output", tmp_path / "v.csv")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "v.csv").read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "external_unique_id,name,email,phone_number,outbound_number"
    assert lines[1] == "1001,Zoë Durand,zoe@example.fr,'+12014716992,"


@pytest.mark.parametrize("content, needle", [
    (b"", "empty"),
    (",".join(HEADER).encode() + b"\n", "header"),
    (b"\x00\x01\x02\xff\xfe\x00binary\x00", ""),
])
def test_unusable_sources_exit_2_and_write_nothing(tmp_path, mapping, content, needle):
    src = tmp_path / "bad.csv"
    src.write_bytes(content)
    out = tmp_path / "v.json"
    result = run("validate", src, "-m", mapping, "-o", out)
    assert result.exit_code == 2, result.output
    assert "bad.csv" in result.output and needle in result.output.lower()
    assert "Traceback" not in result.output
    assert not out.exists()


def test_missing_mapped_column_exit_2_with_did_you_mean(tmp_path, mapping):
    header = ["Record ID", "First Name", "Last Name", "Email", "Mobile Phone Number",
              "Phone Numbr"]
    src = tmp_path / "c.csv"
    src.write_text(",".join(header) + "\n1,A,B,,,2014716992\n", encoding="utf-8")
    result = run("validate", src, "-m", mapping)
    assert result.exit_code == 2
    assert "crm.yaml" in result.output and "columns.phone_number" in result.output
    assert "did you mean 'Phone Numbr'?" in result.output


def test_missing_file_and_bad_output_name_exit_2(tmp_path, mapping):
    result = run("validate", tmp_path / "nope.csv", "-m", mapping)
    assert result.exit_code == 2 and "nope.csv: no such file" in result.output
    src = write_text_csv(tmp_path / "ok.csv", ROWS[:1])
    result = run("validate", src, "-m", mapping, "-o", tmp_path / "out.xlsx")
    assert result.exit_code == 2 and ".csv or .json" in result.output


def test_help_explains_every_option():
    result = run("validate", "--help")
    assert result.exit_code == 0
    for option in ("--mapping", "--rejects", "--output"):
        assert option in result.output


def test_valid_csv_is_what_the_csv_module_writes(tmp_path) -> None:
    """validate --output .csv: UTF-8 with BOM, CRLF, quoted where needed, formula-like
    cells neutralized; the same bytes as csv.writer of the rows."""
    import csv
    import io

    import pandas as pd

    from connector.contact import API_FIELDS
    from connector.fileio import neutralize_cell
    from connector.validate import write_valid
    from connector.validate.schema import normalize_contacts

    frame = pd.DataFrame({
        "external_unique_id": ["k1", "=k2", "k,3"], "name": ['Ann "A" Lee', "Bob", "-Cy"],
        "email": ["a@b.com", "", "c@d.org"],
        "phone_number": ["(201) 471-6992", "+1 201 471 6993", "201.471.6994"],
        "outbound_number": ["", "", ""], "__line__": [2, 3, 4]}, dtype=object)
    result = normalize_contacts(frame, region="US")
    assert write_valid(result, tmp_path / "v.csv") == 3
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(API_FIELDS)
    for rec in result.valid[list(API_FIELDS)].itertuples(index=False, name=None):
        writer.writerow([neutralize_cell(v) for v in rec])
    assert (tmp_path / "v.csv").read_bytes() == buf.getvalue().encode("utf-8-sig")
