"""Plain CSV files read by Arrow (`extract.plaincsv`) give the frames the csv module's
path gives; files where the two could differ are not plain."""

from __future__ import annotations

import codecs
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import SourceError
from connector.extract import csv as csv_reader
from connector.extract import iter_source
from connector.extract.base import detect_text
from connector.extract.plaincsv import plain_shape

clean = st.text(alphabet=st.sampled_from(list("ab é\t'=")), min_size=1, max_size=4)
field = st.one_of(clean, st.just(""), st.text(alphabet=st.sampled_from(list('a,;"\r')),
                                              max_size=3))
# half the files plain (three fields a line, not all blank), half anything
plain_line = st.lists(st.one_of(clean, st.just("")), min_size=3, max_size=3).filter(any)
odd_line = st.one_of(st.lists(field, max_size=5), st.just(["", "", ""]))
body_of = st.one_of(st.lists(plain_line, min_size=1, max_size=8),
                    st.lists(st.one_of(plain_line, odd_line), min_size=1, max_size=8))


def _read(path: Path, wanted=None, chunk_rows=3):
    try:
        chunks, info = iter_source(path, wanted_columns=wanted, chunk_rows=chunk_rows)
        frames = list(chunks)
    except SourceError as exc:
        return ("error", str(exc))
    return ([f.to_dict("split") for f in frames], info.rows, info.columns)


def _slow(monkeypatch, path: Path, wanted=None, chunk_rows=3):
    with monkeypatch.context() as m:
        m.setattr(csv_reader, "plain_shape", lambda *a: False)
        return _read(path, wanted, chunk_rows)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=body_of, newline=st.sampled_from(["\n", "\r\n"]),
       bom=st.booleans(), end=st.booleans(), delim=st.sampled_from([",", ";"]),
       wanted=st.sampled_from([None, ["id", "b"], ["c"]]), chunk_rows=st.integers(1, 4),
       twist=st.sampled_from([None, None, "quote", "cr", "blank", "spaces", "delims"]), at=st.integers(0, 7))
def test_arrow_frames_equal_the_csv_modules(tmp_path: Path, monkeypatch, body, newline, bom,
                                            end, delim, wanted, chunk_rows, twist, at) -> None:
    lines = [delim.join(["id", "b", "c"])] + [delim.join(r) for r in body]
    # one thing that makes a file not plain, in an otherwise plain file
    k = 1 + at % len(body)
    if twist == "quote":
        lines[k] = '"' + lines[k].replace(delim, '"' + delim + '"') + '"'
    elif twist == "cr":
        lines[k] = lines[k][:1] + "\r" + lines[k][1:]
    elif twist == "blank":
        lines.insert(k, "")
    elif twist == "spaces":
        lines.insert(k, "   ")
    elif twist == "delims":
        lines.insert(k, delim * 2)
    text = newline.join(lines)
    path = tmp_path / "s.csv"
    path.write_bytes((codecs.BOM_UTF8 if bom else b"") + (text + (newline if end else ""))
                     .encode("utf-8"))
    assert _read(path, wanted, chunk_rows) == _slow(monkeypatch, path, wanted, chunk_rows)
    PLAIN.append(_plain(path, 3, delim))


PLAIN: list[bool] = []


def test_the_generated_files_were_often_plain() -> None:
    """The comparison above means something only if the fast path ran."""
    assert sum(PLAIN) >= 30, PLAIN


def _plain(path: Path, width: int, delim: str = ",") -> bool:
    return plain_shape(path, detect_text(path, None), delim, width, 1)


@pytest.mark.parametrize("body, plain", [
    (b"id,name\n1,Ann\n2,Bob\n", True),
    (b"\xef\xbb\xbfid,name\r\n1,Ann\r\n2,Bob", True),          # BOM, CRLF, no last line end
    (b"id,name\n1, \n", True),                                 # a space is a value
    (b'id,name\n1,"Ann"\n', False),                            # quoting
    (b"id,name\n1,Ann\n\n2,Bob\n", False),                     # a blank line
    (b"id,name\n1,Ann\n,\n", False),                           # delimiters only
    (b"id,name\n1,Ann,x\n", False),                            # a long line
    (b"id,name\n1\n", False),                                  # a short line
    (b"id,name\n1,A\rnn\n", False),                            # a CR inside a line
    (b"id,name\n1,Ann\r", False),                              # a CR line end
])
def test_plain_shape(tmp_path: Path, body: bytes, plain: bool) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(body)
    assert _plain(path, 2) is plain


def test_plain_shape_across_blocks(tmp_path: Path, monkeypatch) -> None:
    """Lines that run across the blocks the bytes are looked at in."""
    from connector.extract import plaincsv

    monkeypatch.setattr(plaincsv, "BLOCK", 7)
    path = tmp_path / "p.csv"
    path.write_bytes(b"id,name\r\n" + b"".join(b"%d,Name %d\r\n" % (i, i) for i in range(50)))
    assert _plain(path, 2)
    path.write_bytes(b"id,name\n" + b"".join(b"%d,Name %d\n" % (i, i) for i in range(50))
                     + b"7,x,y\n")
    assert not _plain(path, 2)
    path.write_bytes(b"id,name\n" + b"".join(b"%d,Name %d\n" % (i, i) for i in range(50))
                     + b"\n1,x\n")
    assert not _plain(path, 2)


def test_a_plain_file_is_read_by_arrow(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "p.csv"
    path.write_text("Record ID,Name,Phone\nk1,Ann,(201) 471-6992\nk2,Bob,\n", encoding="utf-8")
    called = []
    real = csv_reader.arrow_chunks
    monkeypatch.setattr(csv_reader, "arrow_chunks", lambda *a: called.append(1) or real(*a))
    frames, rows, columns = _read(path, ["Record ID", "Phone"], 100)
    assert called and rows == 2 and columns == ["Record ID", "Name", "Phone"]
    frame = pd.DataFrame(**frames[0])
    assert frame.to_dict("records") == [
        {"Record ID": "k1", "Phone": "(201) 471-6992", "__line__": 2},
        {"Record ID": "k2", "Phone": "", "__line__": 3}]
