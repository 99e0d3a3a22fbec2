"""Builds the corpus files that are binary or large, so they are not committed raw.

`build(name, directory)` writes one of them (a name from GENERATORS) and returns its
path; test_corpus.py calls it into tmp_path. Run as a script to write them all into a
directory for a look by hand:

    python tests/corpus/make_corpus.py /tmp/corpus
"""

from __future__ import annotations

import io
import random
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

HEADER = ["external_unique_id", "name", "email", "phone_number"]
ROWS = [["k1", "Ann Lee", "ann@example.com", "201-471-6992"],
        ["k2", "Bob Stone", "bob@example.com", "201-471-6993"]]
TEN_MB = 10 * 1024 * 1024


def _random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(1234).randbytes(64 * 1024))


def _random_bytes_no_nul(path: Path) -> None:
    rng = random.Random(99)
    path.write_bytes(bytes(rng.randrange(1, 256) for _ in range(16 * 1024)))


def _png(path: Path) -> None:
    # signature, IHDR chunk (1x1, 8-bit RGBA), IDAT, IEND
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01"
                     b"\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" + b"\x00\x00\x00\nIDATx\x9cc\x00"
                     b"\x01\x00\x00\x05\x00\x01\r\n-\xb4" + b"\x00\x00\x00\x00IEND\xaeB`\x82")


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a workbook\n")
        zf.writestr("contacts.csv", ",".join(HEADER) + "\n" + ",".join(ROWS[0]) + "\n")


def _cfb(path: Path) -> None:
    # the OLE/CFB signature Excel gives an encrypted (password-protected) workbook
    rng = random.Random(7)
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(rng.randrange(256)
                                                                  for _ in range(4096)))


def _workbook(rows: list[list[object]]):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Contacts"
    for row in rows:
        ws.append(row)
    return wb, ws


def _xlsx_bytes(rows: list[list[object]]) -> bytes:
    wb, _ = _workbook(rows)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _header_only_xlsx(path: Path) -> None:
    path.write_bytes(_xlsx_bytes([HEADER]))


def _valid_xlsx(path: Path) -> None:
    path.write_bytes(_xlsx_bytes([HEADER, *ROWS]))


def _truncated_xlsx(path: Path) -> None:
    data = _xlsx_bytes([HEADER, *ROWS])
    path.write_bytes(data[: len(data) // 2])


def _empty_xlsx(path: Path) -> None:
    path.write_bytes(b"")


def _formulas_xlsx(path: Path) -> None:
    """Row 2: real formulas (openpyxl stores no cached value, so a data_only read sees
    nothing). Rows 3-5: text cells that look like formulas (type forced to string)."""
    wb, ws = _workbook([HEADER])
    ws.append(["k1", "=1+1", "a@example.com", "=2014716992+0"])
    texts = [["k2", "=HYPERLINK(\"http://evil.example\",\"x\")", "b@example.com", "=1+1"],
             ["k3", "+SUM(A1:A3)", "c@example.com", "-2014716993"],
             ["k4", "@cmd", "@evil", "201-471-6994"]]
    for r, row in enumerate(texts, 3):
        for c, value in enumerate(row, 1):
            cell = ws.cell(row=r, column=c)
            cell.value = value
            cell.data_type = "s"
    ws.append(["k5", "Ok Person", "e@example.com", "201-471-6995"])
    wb.save(path)


def _merged_xlsx(path: Path) -> None:
    """The key of rows 2-3 and the phone of rows 4-5 are merged cells: only the top-left
    cell holds the value, the others read as empty."""
    wb, ws = _workbook([HEADER,
                        ["k1", "Ann", "a@example.com", "201-471-6992"],
                        [None, "Bob", "b@example.com", "201-471-6993"],
                        ["k3", "Cy", "c@example.com", "201-471-6994"],
                        ["k4", "Di", "d@example.com", None]])
    ws.merge_cells("A2:A3")
    ws.merge_cells("D4:D5")
    wb.save(path)


def _merged_header_xlsx(path: Path) -> None:
    """A merged header cell over name and email: the email header cell reads as empty."""
    wb, ws = _workbook([HEADER, ["k1", "Ann", "a@example.com", "201-471-6992"]])
    ws.merge_cells("B1:C1")
    wb.save(path)


def _huge_field_csv(path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(HEADER) + "\n")
        handle.write(",".join(ROWS[0]) + "\n")
        handle.write("k2,\"" + "x" * TEN_MB + "\",b@example.com,201-471-6993\n")
        handle.write("k3,Cy,c@example.com,201-471-6994\n")


def _huge_field_json(path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write('[{"external_unique_id": "k1", "name": "Ann", "email": "", '
                     '"phone_number": "201-471-6992"},\n')
        handle.write('{"external_unique_id": "k2", "name": "' + "x" * TEN_MB +
                     '", "email": "", "phone_number": "201-471-6993"}]\n')


def _utf16_no_bom(path: Path) -> None:
    text = "\n".join(",".join(r) for r in [HEADER, *ROWS]) + "\n"
    path.write_bytes(text.encode("utf-16-le"))


def _xlsx_part_broken(part: str, how: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """A valid workbook with one part inside the zip damaged (the zip itself is sound)."""
    def write(path: Path) -> None:
        with zipfile.ZipFile(io.BytesIO(_xlsx_bytes([HEADER, *ROWS]))) as zin:
            parts = {name: zin.read(name) for name in zin.namelist()}
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
            for name, data in parts.items():
                zout.writestr(name, how(data) if name == part else data)
    return write


def _chart_only_xlsx(path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.create_chartsheet("Chart")
    wb.remove(wb.active)
    wb.save(path)


def _deep_json(path: Path) -> None:
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")


def _deep_jsonl(path: Path) -> None:
    path.write_text('{"external_unique_id": "k1", "name": "Ann", "email": "", '
                    '"phone_number": "201-471-6992"}\n' + '{"a": ' * 100_000 + "1" +
                    "}" * 100_000 + "\n", encoding="utf-8")


def _long_unmapped_column(path: Path) -> None:
    """A 200 KB notes column the mapping does not read."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(HEADER) + ",notes\n")
        handle.write(",".join(ROWS[0]) + ',"' + "n" * 200_000 + '"\n')
        handle.write(",".join(ROWS[1]) + ",short\n")


def _big_mapping(path: Path) -> None:
    path.write_text("region: US\ncolumns:\n  external_unique_id: external_unique_id\n"
                    "  name: name\n  phone_number: phone_number\n" +
                    "# padding\n" * 8_000, encoding="utf-8")


GENERATORS: dict[str, Callable[[Path], None]] = {
    "random_bytes.csv": _random_bytes,
    "random_bytes_no_nul.csv": _random_bytes_no_nul,
    "png_header.csv": _png,
    "image.png": _png,
    "zip_not_xlsx.xlsx": _zip,
    "zip_as.csv": _zip,
    "encrypted.xlsx": _cfb,
    "header_only.xlsx": _header_only_xlsx,
    "valid.xlsx": _valid_xlsx,
    "truncated.xlsx": _truncated_xlsx,
    "empty.xlsx": _empty_xlsx,
    "formulas.xlsx": _formulas_xlsx,
    "merged_cells.xlsx": _merged_xlsx,
    "merged_header.xlsx": _merged_header_xlsx,
    "huge_field.csv": _huge_field_csv,
    "huge_field.json": _huge_field_json,
    "utf16_no_bom.csv": _utf16_no_bom,
    "legacy.xls": _cfb,
    "zip_named.xls": _valid_xlsx,
    "sheet_xml_truncated.xlsx": _xlsx_part_broken("xl/worksheets/sheet1.xml",
                                                  lambda d: d[: len(d) // 2]),
    "sheet_xml_truncated.xlsm": _xlsx_part_broken("xl/worksheets/sheet1.xml",
                                                  lambda d: d[: len(d) // 2]),
    "workbook_xml_garbage.xlsx": _xlsx_part_broken("xl/workbook.xml",
                                                   lambda d: b"\x00\xff not xml"),
    "chart_only.xlsx": _chart_only_xlsx,
    "deeply_nested.json": _deep_json,
    "deeply_nested.jsonl": _deep_jsonl,
    "long_unmapped_column.csv": _long_unmapped_column,
    "big_mapping.yaml": _big_mapping,
}


def build(name: str, directory: Path) -> Path:
    """Write the generated corpus file `name` into `directory`; its path."""
    path = Path(directory) / name
    GENERATORS[name](path)
    return path


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus-generated")
    out.mkdir(parents=True, exist_ok=True)
    for name in GENERATORS:
        print(build(name, out))
