"""The corpus of hostile and broken sources and mappings (cases.yaml): each one ends in
its expected outcome, rows rejected with exact reasons or exit 2 with a message that
names the file and the problem; never a traceback, never a file left behind on exit 2,
never a request to the campaign.

Small text files live in files/ and mappings/; binary and large ones are written by
make_corpus.py into tmp_path."""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from connector.cli import cli

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_corpus  # noqa: E402  (the generator script next to this file)

FILES = HERE / "files"
MAPPINGS = HERE / "mappings"
CASES = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))
FORMULA_START = ("=", "+", "-", "@")
TOKEN = "s3cret-token-value"


def _params(cases):
    out = []
    for case in cases:
        marks = ([pytest.mark.xfail(strict=True, reason=" ".join(case["xfail"].split()))]
                 if case.get("xfail") else [])
        out.append(pytest.param(case, id=case["name"], marks=marks))
    return out


def _source(case, tmp_path: Path) -> Path:
    name = case["file"]
    if case.get("generate"):
        return make_corpus.build(name, tmp_path)
    if case.get("directory"):
        path = tmp_path / name
        path.mkdir()
        (path / "inside.csv").write_text("external_unique_id,name,email,phone_number\n"
                                         "k1,Ann,,201-471-6992\n", encoding="utf-8")
        return path
    if case.get("absent"):
        return tmp_path / name
    path = FILES / name
    assert path.is_file(), f"corpus file missing: {path}"
    return path


def _mapping(case, tmp_path: Path) -> str:
    name = case["mapping"]
    if case.get("generate_mapping"):
        return str(make_corpus.build(name, tmp_path))
    path = MAPPINGS / name
    return str(path) if path.is_file() else name


@contextlib.contextmanager
def _big_fields():
    old = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        yield
    finally:
        csv.field_size_limit(old)


def _read_rejects(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "rejects.csv must start with a UTF-8 BOM"
    with _big_fields():
        rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(keepends=True)))
    header, body = rows[0], rows[1:]
    cells = [c for row in rows for c in row]
    risky = [c[:60] for c in cells if c.startswith(FORMULA_START)]
    assert not risky, f"cells a spreadsheet would run as formulas: {risky}"
    return [dict(zip(header, row)) for row in body]


def _triples(rows: list[dict[str, str]]) -> set[tuple[int, str, str]]:
    """(line, field, reason) of every problem; a row with several joins them with ' | '."""
    found = set()
    for row in rows:
        fields, reasons = row["field"].split(" | "), row["reason"].split(" | ")
        assert len(fields) == len(reasons), row
        for fld, reason in zip(fields, reasons):
            found.add((int(row["line"]), fld, reason))
    return found


def _no_crash(result) -> None:
    text = result.output
    assert "Traceback" not in text, text
    assert "internal error" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)


def _expect_message(case, text: str) -> None:
    missing = [m for m in case["message_contains"] if m not in text]
    assert not missing, f"message lacks {missing}: {text!r}"


def _left_behind(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob("*")) if directory.exists() else []


def test_manifest_is_sound():
    names = [c["name"] for c in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    assert len(CASES) >= 40
    for case in CASES:
        assert case["exit"] in (0, 2, 3), case["name"]
        if case["exit"] == 2:
            assert case.get("message_contains"), case["name"]
        else:
            assert "valid" in case and "rejects" in case, case["name"]
        if case.get("generate"):
            assert case["file"] in make_corpus.GENERATORS, case["name"]
        elif not (case.get("absent") or case.get("directory")):
            assert (FILES / case["file"]).is_file(), case["name"]
    used = {c["file"] for c in CASES}
    unused = sorted(p.name for p in FILES.iterdir() if p.name not in used)
    assert not unused, f"corpus files no case uses: {unused}"
    used = {c["mapping"] for c in CASES}
    unused = sorted(p.name for p in MAPPINGS.iterdir() if p.name not in used)
    assert not unused, f"corpus mappings no case uses: {unused}"


@pytest.mark.parametrize("case", _params(CASES))
def test_validate(case, tmp_path):
    source = _source(case, tmp_path)
    out_dir = tmp_path / "out"
    output, rejects = out_dir / "valid.json", out_dir / "rejects.csv"
    result = CliRunner().invoke(cli, ["validate", str(source), "--mapping", _mapping(case, tmp_path),
                                      "--rejects", str(rejects), "--output", str(output)])
    _no_crash(result)
    assert result.exit_code == case["exit"], result.output
    if case["exit"] == 2:
        _expect_message(case, result.output)
        assert _left_behind(out_dir) == [], "files written on exit 2"
        return
    rows = _read_rejects(rejects)
    expected = {(int(line), fld, reason) for line, fld, reason in case["rejects"]}
    assert _triples(rows) == expected
    assert f"valid     {case['valid']:>9,}" in result.output, result.output
    valid = json.loads(output.read_text(encoding="utf-8"))
    assert len(valid) == case["valid"]
    if "valid_keys" in case:
        assert [v["external_unique_id"] for v in valid] == [str(k) for k in case["valid_keys"]]
    text = output.read_text(encoding="utf-8")
    for needle in case.get("output_contains", []):
        assert needle in text
    cells = {c for row in rows for c in row.values()}
    missing = [c for c in case.get("rejects_cells", []) if c not in cells]
    assert not missing, f"rejects.csv lacks the neutralized cells {missing}"


def test_rejects_csv_output_neutralized_too(tmp_path):
    """--output .csv of the formula case: valid rows whose name looks like a formula."""
    source = make_corpus.build("formulas.xlsx", tmp_path)
    output = tmp_path / "valid.csv"
    result = CliRunner().invoke(cli, ["validate", str(source), "-m", "generic",
                                      "-o", str(output)])
    _no_crash(result)
    assert result.exit_code == 3
    rows = list(csv.reader(output.read_text(encoding="utf-8-sig").splitlines()))
    cells = [c for row in rows for c in row]
    assert "'+SUM(A1:A3)" in cells
    assert not [c for c in cells if c.startswith(FORMULA_START)]


@pytest.mark.parametrize("case", _params([c for c in CASES if c.get("plan")]))
def test_plan_refuses_before_any_request(case, tmp_path, sandbox):
    source = _source(case, tmp_path)
    report = tmp_path / "report"
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": TOKEN}
    sandbox.reset_counts()
    result = CliRunner().invoke(cli, ["plan", str(source), "--campaign-id", "6",
                                      "--mapping", _mapping(case, tmp_path), "--report", str(report)],
                                env=env)
    _no_crash(result)
    assert result.exit_code == 2, result.output
    _expect_message(case, result.output)
    assert sum(sandbox.counts.values()) == 0, dict(sandbox.counts)
    assert _left_behind(report) == [], "report files written on exit 2"
