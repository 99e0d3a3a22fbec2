"""Rows read again for the reports (`extract.read.source_rows`, `source_chunks`): a CSV
whose first pass is known takes only the wanted rows (`csv.rows_at`); what it gives
equals the full re-read (every chunk of `iter_source` with all columns), filtered."""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.extract import (
    LINE_COLUMN,
    SourceHints,
    iter_source,
    prepare_source,
    source_chunks,
    source_rows,
)
from connector.extract.mapping import parse_mapping

MAPPING = "region: US\ncolumns:\n  external_unique_id: id\n  name: name\n  phone_number: phone\n"

cells = st.text(alphabet=st.sampled_from(list('ab ,;"\n\r\tÉ€\'=')), max_size=6)
records = st.lists(st.lists(cells, min_size=0, max_size=6), min_size=1, max_size=12)


def _quoted(cell: str, delim: str) -> str:
    if any(c in cell for c in (delim, '"', "\n", "\r")) or cell != cell.strip():
        return '"' + cell.replace('"', '""') + '"'
    return cell


def _write(path: Path, body: list[list[str]], *, delim: str, newline: str, bom: bool,
           encoding: str, title: bool) -> None:
    head = ["id", "name", "phone", "notes"]
    # a title above the header (the sniffer reads the delimiter off the first record,
    # so a title goes with the comma)
    lines = (["Contacts export", ""] if title and delim == "," else []) + [delim.join(head)]
    for rec in [["k1", "Ann"], *body]:
        lines.append(delim.join(_quoted(c, delim) for c in rec[:4]))
    text = newline.join(lines) + newline
    data = text.encode(encoding)
    path.write_bytes((codecs.BOM_UTF8 if bom and encoding == "utf-8" else b"") + data)


def _all_again(info, mapping) -> dict[int, list[str]]:
    """Every row again through the full reader, every column: the reference."""
    chunks, again = iter_source(info.path, SourceHints(header_row=info.header_line),
                                all_columns=True)
    out: dict[int, list[str]] = {}
    for chunk in chunks:
        for rec in chunk.to_dict("records"):
            out[int(rec[LINE_COLUMN])] = ["" if pd.isna(rec.get(c)) else str(rec[c])
                                          for c in again.columns]
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=records, delim=st.sampled_from([",", ";", "\t"]),
       newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans(),
       encoding=st.sampled_from(["utf-8", "cp1252"]), title=st.booleans(),
       pick=st.data())
def test_rows_read_again_equal_the_full_read(tmp_path: Path, body, delim, newline, bom,
                                             encoding, title, pick) -> None:
    path = tmp_path / "s.csv"
    _write(path, body, delim=delim, newline=newline, bom=bom, encoding=encoding, title=title)
    mapping = parse_mapping(MAPPING)
    info, source, mapping, _ = prepare_source(path, mapping)
    assert info.text is not None  # the lean path is the one under test
    every = _all_again(info, mapping)
    lines = sorted(every)
    wanted = pick.draw(st.lists(st.sampled_from(lines), unique=True)) if lines else []
    wanted += pick.draw(st.lists(st.integers(0, 40), max_size=3))  # lines no row starts on

    columns, rows = source_rows(info, source, mapping, wanted)
    assert columns == info.columns
    assert rows == {line: every[line] for line in wanted if line in every}

    columns, again = source_chunks(info, source, mapping)
    got = {int(r[LINE_COLUMN]): [r[c] for c in columns]
           for chunk in again(sorted(set(wanted))) for r in chunk.to_dict("records")}
    assert got == {line: every[line] for line in wanted if line in every}
    full = {int(r[LINE_COLUMN]): [r[c] for c in columns]
            for chunk in again(None) for r in chunk.to_dict("records")}
    assert full == every


def test_rejects_csv_of_a_file_with_a_title_line(tmp_path: Path) -> None:
    """The rows read again for rejects.csv start below the title, as the first pass
    read them (a re-read that looked for the header again took the title for it)."""
    from connector.pipeline import validate_source, write_rejects

    path = tmp_path / "titled.csv"
    path.write_text("Contacts export 2026-12-08\n\nid,name,phone,notes\n"
                    "k1,Ann,(201) 471-6992,first\nk2,Bob,12345,second\n", encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    validated = validate_source(path, mapping)
    assert write_rejects(validated, tmp_path / "rejects.csv") == 1
    text = (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig")
    header, row = text.splitlines()[:2]
    assert header.startswith("id,name,phone,notes,")
    assert row.startswith("k2,Bob,12345,second,5,")
