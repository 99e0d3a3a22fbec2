"""Real exports read without a false reject: the first callable number of several
phone columns, each row's own country, every phone notation phonenumbers reads, and
CRM API dumps in JSON (wrapped records, nested fields, values nobody maps).

Schema-level cases first, then whole files through validate, plan and sync against
the sandbox (counts that agree whatever notation the phones are written in; a second
night that moves a contact to its repaired first phone)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import phonenumbers
import pytest
from click.testing import CliRunner

from connector.cli import cli
from connector.errors import MappingError
from connector.extract.mapping import apply_mapping, parse_mapping
from connector.normalize import normalize_phone, stray_letters
from connector.pipeline import validate_source
from connector.validate.countries import region_of
from connector.validate.schema import LINE_COLUMN, normalize_contacts

TOKEN = "s3cret-token-value"


def frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    cols = sorted({k for r in rows for k in r})
    return pd.DataFrame({c: [r.get(c, "") for r in rows] for c in cols})


def validate_rows(mapping_text: str, rows: list[dict[str, str]]):
    mapping = parse_mapping(mapping_text)
    source = frame(rows)
    source[LINE_COLUMN] = range(2, len(rows) + 2)
    mapped = apply_mapping(mapping, source)
    return normalize_contacts(mapped, region=mapping.region, required=mapping.required,
                              candidates=mapping.phone_candidates(),
                              region_label=mapping.region_column or "Country")


TWO = """
region: US
columns:
  external_unique_id: id
  name: name
  phone_number: {coalesce: [Mobile, Phone]}
"""
THREE = """
region: US
columns:
  external_unique_id: id
  name: name
  phone_number: {coalesce: [Mobile, Phone, Other]}
"""


# ------------------------------------------------------------------ the first callable number


def test_the_first_valid_of_two_columns_is_used_and_noted():
    r = validate_rows(TWO, [
        {"id": "a", "name": "A", "Mobile": "n/a", "Phone": "(201) 471-6992"},
        {"id": "b", "name": "B", "Mobile": "0", "Phone": "201.471.6993"},
        {"id": "c", "name": "C", "Mobile": "229.077.5154", "Phone": "201-471-6994"},
        {"id": "d", "name": "D", "Mobile": "", "Phone": "201-471-6995"},      # plain coalesce
        {"id": "e", "name": "E", "Mobile": "201-471-6996", "Phone": "201-471-6997"},
        {"id": "f", "name": "F", "Mobile": "201-471-699", "Phone": "201-471-6998 x7"},
    ])
    assert r.rejects.empty
    assert dict(zip(r.valid["external_unique_id"], r.valid["phone_number"])) == {
        "a": "+12014716992", "b": "+12014716993", "c": "+12014716994", "d": "+12014716995",
        "e": "+12014716996", "f": "+12014716998"}
    assert r.notes[["line", "note"]].values.tolist() == [
        [2, "Mobile invalid (n/a); used Phone"],
        [3, "Mobile invalid (0); used Phone"],
        [4, "Mobile invalid (229.077.5154); used Phone"],
        [7, "Mobile invalid (201-471-699); used Phone; extension 7 dropped"]]
    # the note's value is the number that was used
    assert r.notes["value"].tolist()[0] == "(201) 471-6992"


def test_the_first_valid_of_three_columns():
    r = validate_rows(THREE, [
        {"id": "a", "name": "A", "Mobile": "x", "Phone": "12", "Other": "201-471-6992"},
        {"id": "b", "name": "B", "Mobile": "", "Phone": "", "Other": "201-471-6993"},
        {"id": "c", "name": "C", "Mobile": "", "Phone": "201-471-6994", "Other": "junk"},
    ])
    assert r.rejects.empty
    assert r.valid["phone_number"].tolist() == ["+12014716992", "+12014716993", "+12014716994"]
    assert r.notes["note"].tolist() == [
        "Mobile invalid (x); Phone invalid (12); used Other"]


def test_a_row_is_rejected_only_when_no_column_is_valid_naming_each():
    r = validate_rows(THREE, [
        {"id": "a", "name": "A", "Mobile": "201-471-699", "Phone": "", "Other": "n/a"},
        {"id": "b", "name": "B", "Mobile": "", "Phone": "", "Other": ""},
    ])
    assert r.valid.empty
    rejects = r.rejects.set_index("line")
    assert rejects.at[2, "reason"] == "invalid_phone"
    assert rejects.at[2, "hint"].startswith(
        "Mobile: too short (9 digits); Phone: blank; Other: contains letters (n/a)")
    assert rejects.at[2, "value"] == "201-471-699"   # the first filled column, as written
    assert rejects.at[3, "reason"] == "missing_phone"


def test_duplicates_and_ownership_use_the_chosen_number():
    r = validate_rows(TWO, [
        {"id": "a", "name": "A", "Mobile": "bad", "Phone": "(201) 471-6992"},
        {"id": "b", "name": "B", "Mobile": "201-471-6992", "Phone": ""},
    ])
    assert r.valid["external_unique_id"].tolist() == ["a"]
    assert r.rejects[["line", "reason"]].values.tolist() == [[3, "duplicate_phone"]]


# ------------------------------------------------------------------ each row's country


COUNTRIES = """
region: {column: Country, default: US}
columns:
  external_unique_id: id
  name: name
  phone_number: phone
"""


@pytest.mark.parametrize("country, national, e164", [
    ("United Kingdom", "020 7946 0958", "+442079460958"),
    ("UK", "020 7946 0958", "+442079460958"),
    ("gb", "020 7946 0958", "+442079460958"),
    ("Great Britain", "020 7946 0958", "+442079460958"),
    ("France", "06 12 34 56 78", "+33612345678"),
    ("FRA", "06 12 34 56 78", "+33612345678"),
    ("Deutschland", "030 12345678", "+493012345678"),
    ("Germany", "030 12345678", "+493012345678"),
    ("Japan", "03-1234-5678", "+81312345678"),
    ("AU", "(02) 9374 4000", "+61293744000"),
    ("Mexico", "55 1234 5678", "+525512345678"),
    ("United States of America", "(201) 471-6992", "+12014716992"),
    ("USA", "(201) 471-6992", "+12014716992"),
    ("", "(201) 471-6992", "+12014716992"),                  # blank: the default
    ("Germany", "+1 201 471 6992", "+12014716992"),         # +code: read as written
])
def test_national_numbers_are_read_in_the_rows_country(country, national, e164):
    r = validate_rows(COUNTRIES, [{"id": "a", "name": "A", "phone": national,
                                   "Country": country}])
    assert r.rejects.empty, r.rejects.to_dict("records")
    assert r.valid["phone_number"].tolist() == [e164]
    assert r.notes.empty


def test_an_unknown_country_is_a_note_not_a_reject():
    r = validate_rows(COUNTRIES, [
        {"id": "a", "name": "A", "phone": "(201) 471-6992", "Country": "Narnia"},
        {"id": "b", "name": "B", "phone": "020 7946 0958", "Country": "Narnia"}])
    assert r.valid["phone_number"].tolist() == ["+12014716992"]
    assert r.notes[["line", "value", "note"]].values.tolist() == [
        [2, "Narnia", "Country 'Narnia' unknown; read as US"]]
    # the London number read as US is not valid: rejected for its phone, not its country
    assert r.rejects[["line", "reason"]].values.tolist() == [[3, "invalid_phone"]]


def test_the_same_number_in_two_countries_is_two_numbers():
    r = validate_rows(COUNTRIES, [
        {"id": "a", "name": "A", "phone": "06 12 34 56 78", "Country": "FR"},
        {"id": "b", "name": "B", "phone": "06 12 34 56 78", "Country": "NL"}])
    assert r.valid["phone_number"].tolist() == ["+33612345678", "+31612345678"]


def test_a_region_column_is_optional():
    mapping = parse_mapping(COUNTRIES)
    source = pd.DataFrame({"id": ["a"], "name": ["A"], "phone": ["(201) 471-6992"],
                           LINE_COLUMN: [2]})
    mapped = apply_mapping(mapping, source)                  # no "Country" column: no error
    r = normalize_contacts(mapped, region=mapping.region, required=mapping.required)
    assert r.valid["phone_number"].tolist() == ["+12014716992"]


@pytest.mark.parametrize("text, message", [
    ("region: {default: US}\ncolumns: {external_unique_id: id}", "needs its column"),
    ("region: {column: C, default: Narnia}\ncolumns: {external_unique_id: id}",
     "'Narnia' is not a country code"),
    ("region: {column: C, fallback: US}\ncolumns: {external_unique_id: id}",
     "region.fallback"),
])
def test_a_bad_region_mapping_is_named(text, message):
    with pytest.raises(MappingError) as err:
        parse_mapping(text, path="m.yaml")
    assert message in str(err.value) and "m.yaml" in str(err.value)


def test_country_names_are_looked_up_in_the_libraries_tables():
    # ISO codes (2 and 3 letters), English, official and other languages' names
    for text, region in [("CH", "CH"), ("che", "CH"), ("Switzerland", "CH"),
                         ("Schweiz", "CH"), ("Suisse", "CH"), ("Russian Federation", "RU"),
                         ("Russia", "RU"), ("Korea, Republic of", "KR"),
                         ("South Korea", "KR"), ("Côte d'Ivoire", "CI"),
                         ("Cote d'Ivoire", "CI"), ("The Netherlands", "NL")]:
        assert region_of(text) == region, text
    assert region_of("Narnia") is None and region_of("  ") is None


# ------------------------------------------------------------------ phone notations


@pytest.mark.parametrize("text", [
    "+1-410-230-5418;ext=43", "tel:+1-410-230-5418;ext=43", "TEL:+1-410-230-5418",
    "tel:4102305418;phone-context=+1", "tel:+1-410-230-5418;isub=12",
    "tel:4102305418;phone-context=example.com", "+1 410-230-5418 ext. 43",
    "(410) 230-5418 x43", "410-230-5418 #43", "410 230 5418 int 43", "410 230 5418 anexo 43",
    "410 230 5418 доб 43", "410 230 5418 ｅｘｔ 43", "410-230-5418,,43", "410-230-5418;43",
    "＋１ ４１０ ２３０ ５４１８", "Tel: 410-230-5418", "(tel:+1-410-230-5418)",
])
def test_notations_phonenumbers_reads_are_accepted(text):
    got = normalize_phone(text, "US")
    assert got.e164 == "+14102305418", (text, got)
    number = phonenumbers.parse(text, "US")
    assert got.note == (f"extension {number.extension} dropped" if number.extension else None)


@pytest.mark.parametrize("text, why", [
    ("call me", "contains letters (call me)"),
    ("n/a", "contains letters (n/a)"),
    ("call me 410-230-5418", "contains letters (call me)"),
    ("410-230-5418 (home)", "contains letters (home)"),
    ("1-800-FLOWERS", "a vanity number (FLOWERS): letters are not dialed; write its "
                      "digits, +18003569377"),
])
def test_words_and_vanity_letters_stay_refused_with_the_reason(text, why):
    got = normalize_phone(text, "US")
    assert got.e164 is None and got.reason == "invalid_phone"
    assert got.note.startswith(why), got


def test_stray_letters_uses_the_librarys_extension_grammar():
    assert stray_letters("+44 20 7946 0958 extensión 9") == ""
    assert stray_letters("tel:+44-20-7946-0958;phone-context=example.com") == ""
    assert stray_letters("201 FLOWERS") == "FLOWERS"


# ------------------------------------------------------------------ JSON fields nobody maps


def test_a_mapped_field_holding_an_array_rejects_the_row_not_the_file(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps([
        {"external_unique_id": "a", "name": "A", "email": "", "phone_number": "201-471-6992",
         "tags": ["vip"], "attributes": {"type": "Contact"}},
        {"external_unique_id": "b", "name": ["B", "C"], "phone_number": "201-471-6993"},
    ]), encoding="utf-8")
    v = validate_source(p, "generic")
    assert v.result.valid["external_unique_id"].tolist() == ["a"]
    assert v.result.rejects[["line", "field", "reason"]].values.tolist() == [
        [2, "name", "structured_value"]]
    assert v.result.rejects["hint"].iat[0].startswith("'name' holds an array")


def test_a_dotted_path_that_names_no_field_is_a_mapping_error(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{"results": [{"id": "1", "properties": {"firstname": "A"}}]}',
                 encoding="utf-8")
    m = tmp_path / "m.yaml"
    m.write_text("columns:\n  external_unique_id: id\n  name: properties.firstnam\n"
                 "required: [external_unique_id, name]\n", encoding="utf-8")
    with pytest.raises(MappingError) as err:
        validate_source(p, m)
    assert "did you mean 'properties.firstname'?" in str(err.value)


# ------------------------------------------------------------------ whole files, end to end

ROWS = [  # key, name, phone as E.164, country, the same phone as a CRM might write it
    ("k1", "Ann Lee", "+12014716992", "US", "tel:+1-201-471-6992"),
    ("k2", "Bo Chen", "+12014716993", "USA", "(201) 471-6993 ext. 12"),
    ("k3", "Cy Dunn", "+442079460958", "United Kingdom", "020 7946 0958"),
    ("k4", "Di Evans", "+33612345678", "France", "06 12 34 56 78"),
    ("k5", "Ed Fox", "+493012345678", "DE", "tel:03012345678;phone-context=+49"),
    ("k6", "Flo Gray", "+81312345678", "Japan", "＋８１ ３ １２３４ ５６７８"),
    ("k7", "Gus Hale", "+61293744000", "Australia", "(02) 9374 4000 #44"),
    ("k8", "Hal Ives", "+525512345678", "Mexico", "+52 55 1234 5678;ext=9"),
    ("k9", "Ivy Jones", "not a number", "US", "not a number"),
    ("k10", "Jo Kim", "", "US", ""),
]
NOTATION_MAPPING = """
region: {column: Country, default: US}
columns:
  external_unique_id: id
  name: name
  phone_number: {coalesce: [Mobile, Phone]}
"""


def write_csv(path: Path, rows: list[tuple[str, ...]]) -> Path:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name", "Mobile", "Phone", "Country"])
        out.writerows(rows)
    return path


@pytest.fixture
def two_campaigns():
    from connector.sandbox import SandboxServer

    with SandboxServer(user="acme", token=TOKEN, campaigns=[6, 7], job_seconds=0) as server:
        yield server


def run(env, *args):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def test_validate_plan_and_sync_agree_whatever_the_notation(two_campaigns, tmp_path):
    sandbox = two_campaigns
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN, "CAMPAIGN_SYNC_STATE": str(tmp_path / "s.db")}
    (tmp_path / "m.yaml").write_text(NOTATION_MAPPING, encoding="utf-8")
    # E.164 in the second column; the notations in the second (the first one blank or
    # holding junk the first-valid rule skips)
    plain = write_csv(tmp_path / "plain.csv",
                      [(k, n, "", e164, c) for k, n, e164, c, _ in ROWS])
    noted = write_csv(tmp_path / "noted.csv",
                      [(k, n, "n/a" if i % 2 and i < 8 else "", written, c)
                       for i, (k, n, _, c, written) in enumerate(ROWS)])
    outcomes = []
    for campaign, source in ((6, plain), (7, noted)):
        v = validate_source(source, tmp_path / "m.yaml")
        validated = (v.result.valid_count, v.result.rejected_count)
        report = tmp_path / f"plan-{campaign}"
        result = run(env, "plan", source, "--campaign-id", campaign, "-m",
                     tmp_path / "m.yaml", "--report", report)
        assert result.exit_code == 3, result.output         # two rows rejected
        planned = json.loads((report / "plan.json").read_text(encoding="utf-8"))["counts"]
        result = run(env, "sync", source, "--campaign-id", campaign, "-m",
                     tmp_path / "m.yaml", "--report", tmp_path / f"sync-{campaign}",
                     "--state", tmp_path / f"state-{campaign}.db")
        assert result.exit_code == 3, result.output
        phones = sorted(c["phone_number"] for c in sandbox.contacts(campaign))
        outcomes.append((validated, planned["source"], planned["reject_reasons"], phones))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == (8, 2)
    assert outcomes[0][3] == sorted(e164 for _, _, e164, _, _ in ROWS[:8])


def test_the_second_night_moves_a_contact_to_its_repaired_first_phone(sandbox, tmp_path):
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    (tmp_path / "m.yaml").write_text(NOTATION_MAPPING, encoding="utf-8")
    state = tmp_path / "state.db"
    night1 = write_csv(tmp_path / "n1.csv", [
        ("k1", "Ann Lee", "201-471-699", "(201) 471-6993", "US"),   # mobile: a digit short
        ("k2", "Bo Chen", "(201) 471-6994", "(201) 471-6995", "US")])
    result = run(env, "sync", night1, "--campaign-id", 6, "-m", tmp_path / "m.yaml",
                 "--state", state, "--report", tmp_path / "r1")
    assert result.exit_code == 0, result.output
    got = {c["external_unique_id"]: c["phone_number"] for c in sandbox.contacts(6)}
    assert got == {"k1": "+12014716993", "k2": "+12014716994"}
    night2 = write_csv(tmp_path / "n2.csv", [
        ("k1", "Ann Lee", "(201) 471-6992", "(201) 471-6993", "US"),  # mobile repaired
        ("k2", "Bo Chen", "(201) 471-6994", "(201) 471-6995", "US")])
    sandbox.reset_counts()
    result = run(env, "sync", night2, "--campaign-id", 6, "-m", tmp_path / "m.yaml",
                 "--state", state, "--report", tmp_path / "r2")
    assert result.exit_code == 0, result.output
    assert sandbox.counts["patch"] == 1 and sandbox.counts["import"] == 0
    got = {c["external_unique_id"]: c["phone_number"] for c in sandbox.contacts(6)}
    assert got == {"k1": "+12014716992", "k2": "+12014716994"}
    # and a third night with the same file writes nothing
    sandbox.reset_counts()
    result = run(env, "sync", night2, "--campaign-id", 6, "-m", tmp_path / "m.yaml",
                 "--state", state, "--report", tmp_path / "r3")
    assert result.exit_code == 0, result.output
    assert sum(sandbox.counts[k] for k in ("add", "import", "patch", "delete")) == 0
