"""Excel reader: numeric phone cells, sheet choice, title rows, errors."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest

from connector.errors import SourceError
from connector.extract import LINE_COLUMN, SourceHints, read_source


def rewrite_values(path: Path, replacements: dict[str, str]) -> None:
    """Store numbers the way other writers do (2014716992.0, 2.014716992E9)."""
    with zipfile.ZipFile(path) as src:
        parts = {name: src.read(name) for name in src.namelist()}
    for name, data in parts.items():
        if name.startswith("xl/worksheets/"):
            text = data.decode()
            for old, new in replacements.items():
                text = text.replace(f"<v>{old}</v>", f"<v>{new}</v>")
            parts[name] = text.encode()
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in parts.items():
            dst.writestr(name, data)


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    wb = openpyxl.Workbook()
    decoy = wb.active
    decoy.title = "Summary"
    decoy.append(["Total", 3])
    sheet = wb.create_sheet("Contacts")
    sheet.append(["Contact export"])
    sheet.append(["generated 2024-08-05"])
    sheet.append([])
    sheet.append(["Record ID", "Name", "Phone", "Joined", "Score"])
    sheet.append(["00123", "Ann", 2014716992, dt.datetime(2024, 8, 5), 1.5])
    sheet.append([None, None, None, None, None])
    sheet.append([7, "Bo", 3105550000, dt.datetime(2024, 8, 5, 14, 30), 2])
    path = tmp_path / "c.xlsx"
    wb.save(path)
    rewrite_values(path, {"2014716992": "2014716992.0", "3105550000": "3.10555E9"})
    return path


def test_numeric_phones_title_rows_and_decoy_sheet(workbook: Path) -> None:
    frame, info = read_source(workbook, wanted_columns=["Record ID", "Name", "Phone"])
    assert info.sheet == "Contacts" and info.header_line == 4 and info.format == "excel"
    assert info.columns == ["Record ID", "Name", "Phone", "Joined", "Score"]
    assert frame.to_dict("records") == [
        {"Record ID": "00123", "Name": "Ann", "Phone": "2014716992", LINE_COLUMN: 5},
        {"Record ID": "7", "Name": "Bo", "Phone": "3105550000", LINE_COLUMN: 7},
    ]
    assert info.repaired == {(5, "Phone"), (7, "Phone")}
    assert info.rows == 2


def test_dates_and_numbers_as_text(workbook: Path) -> None:
    frame, _ = read_source(workbook, SourceHints(sheet="Contacts"),
                           wanted_columns=["Record ID", "Joined", "Score"])
    assert list(frame["Joined"]) == ["2024-08-05", "2024-08-05T14:30:00"]
    assert list(frame["Score"]) == ["1.5", "2"]


def test_sheet_by_index_and_default_first_sheet(workbook: Path) -> None:
    frame, info = read_source(workbook, SourceHints(sheet=1), wanted_columns=["Name"])
    assert info.sheet == "Contacts" and list(frame["Name"]) == ["Ann", "Bo"]
    with pytest.raises(SourceError, match="no data rows in sheet 'Summary'"):
        read_source(workbook)  # no wanted columns: the first sheet, a decoy here


def test_missing_sheet_lists_sheets(workbook: Path) -> None:
    with pytest.raises(SourceError) as err:
        read_source(workbook, SourceHints(sheet="People"))
    assert "'Summary', 'Contacts'" in str(err.value) and err.value.exit_code == 2
    with pytest.raises(SourceError, match="no sheet at index 5"):
        read_source(workbook, SourceHints(sheet=5))


def test_header_only_and_corrupt(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    wb.active.append(["id", "name"])
    path = tmp_path / "h.xlsx"
    wb.save(path)
    with pytest.raises(SourceError, match="no data rows"):
        read_source(path)
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SourceError, match="not a readable .xlsx"):
        read_source(bad)
    legacy = tmp_path / "old.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(SourceError, match="legacy .xls"):
        read_source(legacy)
