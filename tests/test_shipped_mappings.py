"""The shipped mappings and the sample exports in sample_data/, end to end.

Every sample file has an entry in SAMPLES with its exact outcome: how many rows
are valid and which (line, field, reason) problems are found. A new sample
without an entry fails `test_every_sample_file_is_covered`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.extract.mapping import SHIPPED_DIR, load_mapping, shipped_mappings
from connector.pipeline import validate_source
from connector.validate.schema import REASONS

ROOT = Path(__file__).resolve().parent.parent
SAMPLES_DIR = ROOT / "sample_data"
NOT_SAMPLES = {"README.md", "make_xlsx.py", "customers.mapping.yaml"}
CUSTOMERS_MAPPING = str(SAMPLES_DIR / "customers.mapping.yaml")

# file -> (mapping, rows, valid count, {(line, field, reason)})
SAMPLES: dict[str, tuple[str, int, int, set[tuple[int, str, str]]]] = {
    "generic.csv": ("generic", 18, 11, {
        (6, "external_unique_id", "missing_key"),
        (7, "external_unique_id", "duplicate_key"),
        (8, "external_unique_id", "duplicate_key"),
        (9, "phone_number", "invalid_phone"),
        (10, "email", "invalid_email"),
        (11, "name", "name_too_long"),
        (12, "phone_number", "missing_phone"),
    }),
    "hubspot-contacts.csv": ("hubspot", 22, 14, {
        (10, "external_unique_id", "missing_key"),
        (11, "email", "invalid_email"),
        (12, "phone_number", "invalid_phone"),
        (13, "phone_number", "invalid_phone"),
        (14, "name", "missing_name"),
        (15, "phone_number", "duplicate_phone"),
        (17, "phone_number", "missing_phone"),
        (23, "external_unique_id", "invalid_key"),  # a Record ID Excel showed as 5.12346E+10
    }),
    "salesforce-contacts.csv": ("salesforce", 16, 11, {
        (7, "phone_number", "missing_phone"),
        (8, "email", "invalid_email"),
        (9, "external_unique_id", "duplicate_key"),
        (10, "external_unique_id", "duplicate_key"),
        # line 10 repeats line 9 whole: both are duplicate_key, neither claims the phone
        (11, "phone_number", "duplicate_phone"),
    }),
    "zoho-contacts.csv": ("zoho", 16, 10, {
        (6, "phone_number", "invalid_phone"),
        (7, "phone_number", "missing_phone"),
        (8, "name", "name_too_long"),
        (10, "email", "invalid_email"),
        (11, "external_unique_id", "duplicate_key"),
        (12, "external_unique_id", "duplicate_key"),
    }),
    "contacts.xlsx": ("hubspot", 17, 12, {
        (9, "phone_number", "invalid_phone"),
        (10, "phone_number", "missing_phone"),
        (11, "phone_number", "duplicate_phone"),
        (12, "email", "invalid_email"),
        (18, "external_unique_id", "missing_key"),
    }),
    # CRM API dumps: records wrapped in an object, fields nested (dotted paths)
    "hubspot-api.json": ("hubspot-api", 8, 6, {
        (6, "email", "structured_value"),           # two addresses, as an array
        (7, "phone_number", "invalid_phone"),       # a German mobile with digits missing
    }),
    "salesforce-api.json": ("salesforce-api", 7, 5, {
        (5, "external_unique_id", "missing_key"),   # "Id": null
        (7, "email", "invalid_email"),
    }),
    # two phone columns and a country column (the first valid phone wins)
    "customers.csv": (CUSTOMERS_MAPPING, 14, 12, {
        (11, "phone_number", "invalid_phone"),      # 123 and n/a
        (12, "phone_number", "missing_phone"),      # both blank
    }),
}

# file -> {line: (external_unique_id, name, email, phone_number)} of some valid rows
EXPECTED_ROWS: dict[str, dict[int, tuple[str, str, str, str]]] = {
    "generic.csv": {
        2: ("C-1001", "Jordan Lee", "jordan.lee@example.com", "+12014716901"),
        3: ("C-1002", "Morgan Blake", "morgan.blake@example.com", "+12014716902"),
        4: ("C-1003", "Riley Chen", "RILEY.CHEN@example.net", "+12014716903"),
        5: ("C-1004", "Alex Romero", "alex.romero@example.org", "+12014716904"),
        14: ("C-1013", "Drew Hassan", "drew.hassan@example.com", "+12014716913"),
        16: ("C-1015", "Skyler Adams", "", "+12014716915"),
    },
    "hubspot-contacts.csv": {
        2: ("51234567801", "Maria Gonzalez", "maria.gonzalez@northwind-traders.com",
            "+12014716992"),
        3: ("51234567802", "James O'Brien", "jobrien@example.com", "+12014716993"),
        4: ("51234567803", "Priya Natarajan", "priya.natarajan@example.com", "+12014716994"),
        5: ("51234567804", "Oliver Bennett", "oliver.bennett@example.co.uk", "+442079460958"),
        6: ("51234567805", "Chen Wei", "chen.wei@example.com", "+12014716995"),
        7: ("51234567806", "Aisha Mohammed", "aisha.mohammed@example.com", "+16462927731"),
        8: ("51234567807", "Lukas Schneider", "lukas.schneider@example.de", "+4930901820"),
        21: ("51234567820", "Isabella Martinez", "Isabella.Martinez@example.com",
             "+12014716972"),
        22: ("51234567821", "Mateo García", "mateo.garcia@example.es", "+12014716998"),
    },
    "salesforce-contacts.csv": {
        2: ("0035g00000Qx1A1", "Robert Chang", "robert.chang@globex.example.com",
            "+12014716920"),
        3: ("0035g00000Qx1A2", "Linda Fischer", "linda.fischer@initech.example.com",
            "+12014716922"),
        5: ("0035g00000Qx1A4", "Sarah Lindqvist", "sarah.lindqvist@example.ca", "+14164716924"),
        6: ("0035g00000Qx1A5", "Kevin Murphy", "kevin.murphy@example.com", "+12014716925"),
        13: ("0035g00000Qx1B2", "Carlos Mendoza", "carlos.mendoza@example.mx", "+12014716928"),
        17: ("0035g00000Qx1B6", "Patel", "patel.r@example.com", "+12014716932"),
    },
    "zoho-contacts.csv": {
        2: ("zcrm_5725767000000412001", "Anna Kowalski", "anna.kowalski@example.com",
            "+12014716940"),
        3: ("zcrm_5725767000000412002", "Marco Silva", "marco.silva@example.com",
            "+12014716941"),
        4: ("zcrm_5725767000000412003", "Ingrid Larsen", "ingrid.larsen@example.no",
            "+4722123456"),
        9: ("zcrm_5725767000000412008", "Rahul Mehta", "rahul.mehta@example.in",
            "+12014716943"),
        15: ("zcrm_5725767000000412013", "Lucía Fernández", "lucia.fernandez@example.es",
             "+12014716948"),
        16: ("zcrm_5725767000000412014", "Peter Novak", "Peter.Novak@example.org",
             "+12014716949"),
    },
    "contacts.xlsx": {
        5: ("51234567901", "Rosa Delgado", "rosa.delgado@example.com", "+12014716960"),
        6: ("51234567902", "Henry Zhou", "henry.zhou@example.com", "+12014716961"),
        7: ("51234567903", "Amara Obi", "amara.obi@example.com", "+12014716962"),
        8: ("51234567904", "Felix Wagner", "felix.wagner@example.de", "+12014716963"),
        13: ("51234567909", "Paul Meyer", "paul.meyer@example.com", "+12014716967"),
        14: ("51234567910", "Leah Goldberg", "Leah.Goldberg@example.org", "+12014716968"),
    },
    "hubspot-api.json": {
        1: ("51234567801", "Maria Gonzalez", "maria.gonzalez@example.com", "+12014716992"),
        2: ("51234567802", "James O'Brien", "jobrien@example.com", "+12014716993"),
        3: ("51234567803", "Oliver Bennett", "oliver.bennett@example.co.uk", "+442079460958"),
        4: ("51234567804", "Sophie Martin", "sophie.martin@example.fr", "+33612345678"),
        5: ("51234567805", "Kenji Watanabe", "kenji.watanabe@example.jp", "+81312345678"),
        8: ("51234567808", "Liam Walsh", "liam.walsh@example.com", "+12014716998"),
    },
    "salesforce-api.json": {
        1: ("0035g00000AbC01AAA", "Harper Lewis", "harper.lewis@example.com", "+12014716971"),
        2: ("0035g00000AbC02AAA", "Lukas Becker", "lukas.becker@example.de", "+493012345678"),
        3: ("0035g00000AbC03AAA", "Sofía Hernández", "sofia.hernandez@example.mx",
            "+525512345678"),
        4: ("0035g00000AbC04AAA", "Ethan Clarke", "ethan.clarke@example.com.au",
            "+61293744000"),
        6: ("0035g00000AbC06AAA", "Mateo Rossi", "mateo.rossi@example.it", "+12014716976"),
    },
    "customers.csv": {
        2: ("DD37Cf93aecA6Dc", "Sheryl Baxter", "sheryl.baxter@example.com", "+12014716981"),
        3: ("1Ef7b82A4CAAD10", "Preston Lozano", "preston.lozano@example.co.uk",
            "+442079460959"),
        4: ("6F94879bDAfE5a6", "Roy Berry", "roy.berry@example.de", "+493012345679"),
        5: ("5Cef8BFA16c5e3c", "Linda Olsen", "linda.olsen@example.fr", "+33612345679"),
        6: ("053d585Ab6b3159", "Joanna Bender", "joanna.bender@example.jp", "+81312345679"),
        7: ("2d08FB17EE273F4", "Aimee Downs", "aimee.downs@example.mx", "+525512345679"),
        8: ("EA4d384DfDbBf77", "Darren Peck", "darren.peck@example.com.au", "+61412345679"),
        9: ("0e04AFde9f225dE", "Brett Mullen", "brett.mullen@example.co.uk", "+442079460960"),
        10: ("C2dE4dEEc489ae0", "Sheryl Meyers", "sheryl.meyers@example.com", "+12014716982"),
        13: ("CEDec94deE6d69B", "Jenna Dodson", "jenna.dodson@example.de", "+493012345670"),
        14: ("e35426EbDEceaFF", "Tracey Mata", "tracey.mata@example.com", "+12014716983"),
        15: ("A08A8aF8BE9FaD4", "Kristine Cox", "kristine.cox@example.com.br",
             "+551123456780"),
    },
}

# file -> {(line, field, note)}
EXPECTED_NOTES: dict[str, set[tuple[int, str, str]]] = {
    "generic.csv": {(14, "phone_number", "extension 204 dropped")},
    "hubspot-contacts.csv": {(6, "phone_number", "extension 12 dropped")},
    "salesforce-contacts.csv": set(),
    "zoho-contacts.csv": {(9, "phone_number", "extension 7 dropped")},
    "hubspot-api.json": {
        (2, "phone_number", "extension 43 dropped"),    # tel:+1-201-471-6993;ext=43
        (5, "phone_number", "properties.mobilephone invalid (n/a); used properties.phone"),
        (8, "phone_number", "properties.country 'Narnia' unknown; read as US"),
    },
    "salesforce-api.json": {
        (4, "phone_number", "MobilePhone invalid (0); used Phone"),
        (6, "phone_number", "extension 204 dropped"),
    },
    "customers.csv": {
        (2, "phone_number", "Phone 1 invalid (229.077.5154); used Phone 2"),
        (7, "phone_number", "Phone 1 invalid (n/a); used Phone 2"),
        (10, "phone_number", "Country 'Narnia' unknown; read as US"),
        (14, "phone_number", "extension 12 dropped"),
    },
}


def _validate(filename: str):
    mapping = SAMPLES[filename][0]
    return validate_source(SAMPLES_DIR / filename, mapping)


# ------------------------------------------------------------------ mappings


def test_the_expected_mappings_are_shipped():
    assert {"generic", "hubspot", "salesforce", "zoho", "hubspot-api",
            "salesforce-api"} <= set(shipped_mappings())


@pytest.mark.parametrize("name", shipped_mappings())
def test_shipped_mapping_loads(name):
    mapping = load_mapping(name)
    assert mapping.region == "US"
    assert "external_unique_id" in mapping.columns
    assert set(mapping.required) == {"external_unique_id", "name", "phone_number"}
    assert load_mapping(SHIPPED_DIR / f"{name}.yaml") == mapping


@pytest.mark.parametrize("name", shipped_mappings())
def test_shipped_mapping_says_which_export_it_reads(name):
    text = (SHIPPED_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    assert text.startswith("#")
    for column in load_mapping(name).source_columns():
        assert f'"{column}"' in text or column in text.split("columns:")[0]


def test_generic_maps_the_api_field_names_to_themselves():
    mapping = load_mapping("generic")
    for fld, spec in mapping.columns.items():
        assert spec.kind == "column" and spec.columns == [fld]
    assert "outbound_number" not in mapping.columns  # a file without one still reads


def test_every_shipped_mapping_reads_a_sample():
    # (a sample may also bring a mapping file of its own: customers.csv)
    assert set(shipped_mappings()) <= {m for m, *_ in SAMPLES.values()}


# ------------------------------------------------------------------ samples


def test_every_sample_file_is_covered():
    files = {p.name for p in SAMPLES_DIR.iterdir() if p.is_file()} - NOT_SAMPLES
    assert files == set(SAMPLES)
    assert set(EXPECTED_ROWS) == set(SAMPLES)


def test_the_samples_cover_every_source_reason():
    found = {reason for *_, rejects in SAMPLES.values() for _, _, reason in rejects}
    expected = set(REASONS) - {"missing_email", "missing_outbound_number",
                               "invalid_outbound_number"}
    assert found == expected


@pytest.mark.parametrize("filename", sorted(SAMPLES))
def test_sample_outcome(filename):
    _, rows, valid, rejects = SAMPLES[filename]
    v = _validate(filename)
    r = v.result
    assert r.rows == rows
    assert r.valid_count == valid
    got = {(int(line), fld, reason) for line, fld, reason in
           r.rejects[["line", "field", "reason"]].itertuples(index=False, name=None)}
    assert got == rejects
    assert len(r.rejects) == len(rejects)
    assert r.rejected_lines == sorted({line for line, _, _ in rejects})
    assert r.valid_count + r.rejected_count == rows
    assert not set(r.valid["__line__"]) & set(r.rejected_lines)
    # every valid row is normalized
    assert r.valid["phone_number"].str.fullmatch(r"\+[1-9][0-9]{6,14}").all()
    assert (r.valid["outbound_number"] == "").all()
    assert (r.valid["name"] == r.valid["name"].str.split().str.join(" ")).all()
    domains = r.valid.loc[r.valid["email"] != "", "email"].str.rpartition("@")[2]
    assert (domains == domains.str.lower()).all()


@pytest.mark.parametrize("filename", sorted(EXPECTED_ROWS))
def test_sample_normalized_rows(filename):
    valid = _validate(filename).result.valid.set_index("__line__")
    for line, expected in EXPECTED_ROWS[filename].items():
        row = valid.loc[line]
        assert (row["external_unique_id"], row["name"], row["email"],
                row["phone_number"]) == expected, line


@pytest.mark.parametrize("filename", sorted(EXPECTED_NOTES))
def test_sample_notes(filename):
    notes = _validate(filename).result.notes
    got = {(int(line), fld, note) for line, fld, note in
           notes[["line", "field", "note"]].itertuples(index=False, name=None)}
    assert got == EXPECTED_NOTES[filename]


def test_rejects_explain_themselves():
    v = _validate("customers.csv")
    hints = dict(zip(v.result.rejects["line"], v.result.rejects["hint"]))
    assert hints[11].startswith("Phone 1: too short (3 digits); Phone 2: contains letters "
                                "(n/a)")
    assert hints[12] == "fill in the contact's phone number"
    v = _validate("hubspot-contacts.csv")
    hints = dict(zip(v.result.rejects["line"], v.result.rejects["hint"]))
    # every phone column tried is named, with what was wrong with it
    assert hints[12].startswith("Mobile Phone Number: blank; Phone Number: contains letters")
    assert hints[13].startswith("Mobile Phone Number: blank; Phone Number: too short (6 digits)")
    assert hints[15].startswith("line 2 (key '51234567801') has the same phone +12014716992")
    v = _validate("zoho-contacts.csv")
    hints = dict(zip(v.result.rejects["line"], v.result.rejects["hint"]))
    assert hints[6].startswith("Mobile: blank; Phone: a local number")


def test_csv_samples_are_read_as_plain_csv():
    for filename in sorted(SAMPLES):
        if not filename.endswith(".csv"):
            continue
        info = _validate(filename).info
        assert (info.format, info.delimiter, info.header_line) == ("csv", ",", 1), filename
        assert info.encoding.replace("-", "").lower().startswith("utf8"), filename
        assert info.rows == SAMPLES[filename][1]


def test_vendor_samples_carry_the_vendors_other_columns():
    columns = {f: _validate(f).info.columns for f in SAMPLES}
    assert {"Contact owner", "Lifecycle Stage", "Create Date"} <= set(
        columns["hubspot-contacts.csv"])
    assert {"Account Name", "Title", "Contact Owner", "Mailing City"} <= set(
        columns["salesforce-contacts.csv"])
    assert {"Contact Owner", "Account Name", "Created Time"} <= set(
        columns["zoho-contacts.csv"])


# ------------------------------------------------------------------ xlsx


def test_xlsx_header_found_on_the_contacts_sheet():
    info = _validate("contacts.xlsx").info
    assert info.format == "excel"
    assert info.sheet == "Contacts"  # not the "Summary" sheet in front of it
    assert info.header_line == 4     # two title lines and a blank row above it
    assert info.rows == 17


def test_xlsx_numeric_phone_cells_come_back_as_digits():
    v = _validate("contacts.xlsx")
    source = v.source.set_index("__line__")
    assert source.at[5, "Phone Number"] == "2014716960"        # int cell
    assert source.at[6, "Phone Number"] == "2014716961"        # float cell 2014716961.0
    assert source.at[8, "Mobile Phone Number"] == "12014716963"
    assert source.at[9, "Phone Number"] == "4716964"
    assert source.at[5, "Record ID"] == "51234567901"
    assert source.at[7, "Phone Number"] == "(201) 471-6962"     # a text cell as it is
    repaired = v.info.repaired
    assert repaired
    assert {(5, "Phone Number"), (6, "Phone Number"), (8, "Mobile Phone Number"),
            (5, "Record ID")} <= repaired
    assert (7, "Phone Number") not in repaired
    notes = v.result.notes
    phone_notes = notes[(notes["field"] == "phone_number") & (notes["line"] == 6)]
    assert list(phone_notes["value"]) == ["2014716961"]
    assert phone_notes["note"].str.startswith("repaired from a number").all()


def test_make_xlsx_builds_the_committed_workbook(tmp_path):
    import importlib.util

    import openpyxl

    spec = importlib.util.spec_from_file_location("make_xlsx", SAMPLES_DIR / "make_xlsx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    built = module.build(tmp_path / "contacts.xlsx")

    def cells(path):
        wb = openpyxl.load_workbook(path, read_only=True)
        try:
            return {name: [tuple(row) for row in wb[name].iter_rows(values_only=True)]
                    for name in wb.sheetnames}
        finally:
            wb.close()

    assert cells(built) == cells(SAMPLES_DIR / "contacts.xlsx")


# ------------------------------------------------------------------ regressions


def test_repeated_row_is_not_told_that_a_rejected_line_is_kept():
    r = _validate("salesforce-contacts.csv").result
    rejected = set(r.rejected_lines)
    dup = r.rejects[r.rejects["reason"] == "duplicate_phone"]
    for hint in dup["hint"]:
        kept_line = int(hint.split()[1])
        assert kept_line not in rejected, hint
