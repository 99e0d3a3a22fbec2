"""CSV/TSV reader: encodings, delimiters, quoting, line numbers, chunks, bounded memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from connector.errors import SourceError
from connector.extract import LINE_COLUMN, SourceHints, iter_source, read_source


def rows(frame):
    return frame.to_dict("records")


def test_utf8_bom_never_sticks_to_first_header(tmp_path: Path) -> None:
    p = tmp_path / "bom.csv"
    p.write_bytes(b"\xef\xbb\xbfid,name\n1,Ann\n")
    frame, info = read_source(p)
    assert info.columns == ["id", "name"]
    assert info.encoding == "utf-8-sig"
    assert rows(frame) == [{"id": "1", "name": "Ann", LINE_COLUMN: 2}]


def test_cp1252_with_semicolons_is_noted(tmp_path: Path) -> None:
    p = tmp_path / "win.csv"
    p.write_bytes("id;name\n1;José Müller\n2;Zoë\n".encode("cp1252"))
    frame, info = read_source(p)
    assert info.delimiter == ";" and info.encoding == "cp1252"
    assert info.notes[0].startswith("decoded as cp1252 (not valid UTF-8")
    assert list(frame["name"]) == ["José Müller", "Zoë"]
    assert list(frame[LINE_COLUMN]) == [2, 3]


def test_utf16_with_bom(tmp_path: Path) -> None:
    p = tmp_path / "u16.csv"
    p.write_bytes("id\tname\r\n7\tÅsa\r\n".encode("utf-16"))
    frame, info = read_source(p)
    assert info.encoding == "utf-16" and info.delimiter == "\t"
    assert rows(frame) == [{"id": "7", "name": "Åsa", LINE_COLUMN: 2}]


def test_quoted_newlines_report_the_start_line(tmp_path: Path) -> None:
    p = tmp_path / "q.csv"
    p.write_bytes(b'id,note,phone\r\n1,"two\r\nlines, with comma",555\r\n2,plain,556\r\n'
                  b'\r\n3,"a\nb\nc",557\r\n4,x,558\r\n')
    frame, _ = read_source(p)
    assert list(frame[LINE_COLUMN]) == [2, 4, 6, 9]
    assert frame.loc[0, "note"] == "two\r\nlines, with comma"
    assert frame.loc[2, "note"] == "a\nb\nc"
    assert list(frame["phone"]) == ["555", "556", "557", "558"]


def test_crlf_and_leading_zeros_kept(tmp_path: Path) -> None:
    p = tmp_path / "z.csv"
    p.write_bytes(b"id,zip,phone\r\n00123,02134,0044 20 7946 0000\r\n007,,1.50\r\n")
    frame, _ = read_source(p)
    assert rows(frame) == [
        {"id": "00123", "zip": "02134", "phone": "0044 20 7946 0000", LINE_COLUMN: 2},
        {"id": "007", "zip": "", "phone": "1.50", LINE_COLUMN: 3},
    ]
    assert all(isinstance(v, str) for v in frame["zip"])


@pytest.mark.parametrize("delim", ["|", "\t", ";", ","])
def test_delimiters_sniffed(tmp_path: Path, delim: str) -> None:
    p = tmp_path / "d.txt"
    p.write_text(delim.join(["id", "name", "email"]) + "\n" +
                 delim.join(["1", "Bo, Jr", "b@x.io"]) + "\n", encoding="utf-8")
    if delim == ",":
        p.write_text('id,name,email\n1,"Bo, Jr",b@x.io\n', encoding="utf-8")
    frame, info = read_source(p)
    assert info.delimiter == delim
    assert rows(frame) == [{"id": "1", "name": "Bo, Jr", "email": "b@x.io", LINE_COLUMN: 2}]


def test_delimiter_and_encoding_hints(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_bytes("a|b\n1;2|é\n".encode("latin-1"))
    frame, info = read_source(p, SourceHints(delimiter="|", encoding="latin-1"))
    assert info.delimiter == "|" and info.encoding == "latin-1"
    assert rows(frame) == [{"a": "1;2", "b": "é", LINE_COLUMN: 2}]


def test_short_rows_padded_long_rows_refused(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_text("a,b,c\n1,2\n3,4,5,\n", encoding="utf-8")
    frame, _ = read_source(p)
    assert rows(frame) == [{"a": "1", "b": "2", "c": "", LINE_COLUMN: 2},
                           {"a": "3", "b": "4", "c": "5", LINE_COLUMN: 3}]
    p.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    with pytest.raises(SourceError) as err:
        read_source(p)
    assert err.value.line == 3 and "3 fields where the header has 2" in str(err.value)


def test_wanted_columns_restrict_the_frame(tmp_path: Path) -> None:
    p = tmp_path / "w.csv"
    p.write_text("a,b,c\n1,2,3\n", encoding="utf-8")
    frame, info = read_source(p, wanted_columns=["c", "a", "zz"])
    assert list(frame.columns) == ["a", "c", LINE_COLUMN]
    assert info.columns == ["a", "b", "c"]


@pytest.mark.parametrize("wanted", [["b"], ["c", "a"], ["zz"], ["a", "b", "c"]])
def test_wanted_columns_keep_each_records_values(tmp_path: Path, wanted) -> None:
    p = tmp_path / "w.csv"
    # short and long records are padded / cut before the columns are picked
    p.write_text("a,b,c\n1,2,3\n4,5\n\n7,8,9,\n", encoding="utf-8")
    frame, _ = read_source(p, wanted_columns=wanted)
    kept = [c for c in "abc" if c in wanted]
    full = {"a": ["1", "4", "7"], "b": ["2", "5", "8"], "c": ["3", "", "9"]}
    assert list(frame.columns) == [*kept, LINE_COLUMN]
    assert {c: frame[c].tolist() for c in kept} == {c: full[c] for c in kept}
    assert frame[LINE_COLUMN].tolist() == [2, 3, 5]


def test_unclosed_quote_is_an_error_with_line(tmp_path: Path) -> None:
    p = tmp_path / "u.csv"
    p.write_text('a,b\n1,2\n3,"never closed\n4,5\n', encoding="utf-8")
    with pytest.raises(SourceError) as err:
        read_source(p)
    assert err.value.line == 3 and err.value.exit_code == 2


@pytest.mark.parametrize("content, message", [
    (b"", "empty (0 bytes)"),
    (b"id,name\r\n", "no data rows"),
    (b"id,name\n\n,\n", "no data rows"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
    (b"id,name\n1,a\x00b\n", "binary data"),
    (b"PK\x03\x04rest", "zip archive"),
    (b"id,id\n1,2\n", "duplicate column names"),
])
def test_unreadable_inputs(tmp_path: Path, content: bytes, message: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(SourceError) as err:
        read_source(p)
    assert message in str(err.value)
    assert str(p) in str(err.value) and err.value.hint


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        read_source(tmp_path / "nope.csv")
    with pytest.raises(SourceError, match="directory"):
        read_source(tmp_path)


def test_sha256(tmp_path: Path) -> None:
    import hashlib
    p = tmp_path / "s.csv"
    p.write_bytes(b"a\n1\n")
    assert read_source(p)[1].sha256 == hashlib.sha256(b"a\n1\n").hexdigest()


def test_iter_source_chunks_250k(tmp_path: Path) -> None:
    p = tmp_path / "big.csv"
    with open(p, "w", encoding="utf-8", newline="") as handle:
        handle.write("id,phone\n")
        handle.writelines(f"{i:06d},+1201{i:07d}\n" for i in range(250_000))
    chunks, info = iter_source(p, chunk_rows=60_000)
    sizes, expected_line = [], 2
    for frame in chunks:
        sizes.append(len(frame))
        assert list(frame[LINE_COLUMN]) == list(range(expected_line, expected_line + len(frame)))
        expected_line += len(frame)
    assert sizes == [60_000, 60_000, 60_000, 60_000, 10_000]
    assert info.rows == 250_000
    assert frame.iloc[-1]["id"] == "249999"


def test_memory_stays_bounded(tmp_path: Path) -> None:
    p = tmp_path / "50mb.csv"
    line = "{i},Firstname Lastname {i},someone.{i}@example.com,+12014716992,note text here\n"
    with open(p, "w", encoding="utf-8", newline="") as handle:
        handle.write("id,name,email,phone,note\n")
        handle.writelines(line.format(i=i) for i in range(600_000))
    size = p.stat().st_size
    assert size > 45_000_000
    tracemalloc.start()
    chunks, _ = iter_source(p, chunk_rows=20_000)
    total = sum(len(frame) for frame in chunks)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert total == 600_000
    # read whole, its 3,000,000 cells as str objects would take about 4x the file's size;
    # iterating holds one chunk (1/30 of the rows) at a time
    assert peak < size / 2, (peak, size)
