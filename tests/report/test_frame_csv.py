"""write_frame_csv writes exactly what the csv module would (UTF-8 BOM, CRLF, quoting
only where a cell needs it, formula-like cells neutralized), fast path or not."""
from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import fileio
from connector.fileio import neutralize_cell, write_frame_csv

cells = st.one_of(
    st.sampled_from(["", "a", "Ann Lee", "=1+2", "-3", "@x", "a,b", 'say "hi"', "l1\nl2",
                     "cr\r", " lead", "é€", "+33 1", "\t"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6))


def reference(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([neutralize_cell(c) for c in frame.columns])
    for rec in frame.itertuples(index=False, name=None):
        # numbers of an integer column are written as they are (never a formula)
        writer.writerow(["" if pd.isna(v) else int(v) if pd.api.types.is_integer(v) else
                         neutralize_cell(v) for v in rec])
    return buf.getvalue().encode("utf-8-sig")


blank_cells = st.sampled_from(["", None, pd.NA])


@settings(max_examples=200, deadline=None)
@given(width=st.integers(1, 4), data=st.data(), chunk=st.sampled_from([1, 2, 3, 50_000]),
       blank_after=st.one_of(st.none(), st.integers(0, 5)))
def test_frame_csv_is_what_the_csv_module_writes(tmp_path_factory, width, data, chunk,
                                                 blank_after):
    n = data.draw(st.integers(0, 7))
    # mostly blank cells after the first two columns, as actions.csv's carried rows
    frame = pd.DataFrame({f"c{i}": data.draw(st.lists(
        st.one_of(blank_cells, blank_cells, cells) if i >= 2 else cells,
        min_size=n, max_size=n)) for i in range(width)}, dtype=object)
    if width > 1 and n:
        frame["count"] = pd.array(data.draw(st.lists(st.one_of(st.none(), st.integers(-5, 5)),
                                                     min_size=n, max_size=n)), dtype="Int64")
        frame.loc[0, "c0"] = None  # a missing cell: written empty
    path = tmp_path_factory.mktemp("csv") / "out.csv"
    old, fileio.CSV_CHUNK_ROWS = fileio.CSV_CHUNK_ROWS, chunk
    try:
        assert write_frame_csv(path, frame, blank_after=blank_after) == n
    finally:
        fileio.CSV_CHUNK_ROWS = old
    assert path.read_bytes() == reference(frame)


@pytest.mark.parametrize("rows", [0, 1, 120_001])
def test_frame_csv_reads_back_whole(tmp_path, rows):
    frame = pd.DataFrame({"key": [f"k{i}" for i in range(rows)],
                          "note": ["x,y" if i == 70_000 else "" for i in range(rows)]})
    path = tmp_path / "big.csv"
    write_frame_csv(path, frame)
    back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(back.columns) == ["key", "note"]
    assert back["key"].tolist() == frame["key"].tolist()
    assert back["note"].tolist() == frame["note"].tolist()


@pytest.mark.parametrize("short_rows", [0, 3, 8, 10])
def test_rows_blank_after_k_cells_are_written_the_same(tmp_path, short_rows):
    """Mostly carried rows (blank after their first two cells) take the short path,
    mostly full rows the column path: the same bytes either way."""
    frame = pd.DataFrame({
        "action": ["unchanged"] * 10, "key": [f"=k{i}" if i % 4 == 0 else f"k,{i}"
                                               for i in range(10)],
        "name": ["" if i < short_rows else f'Ann "{i}"' for i in range(10)],
        "id": pd.array([None if i < short_rows else i for i in range(10)], dtype="Int64"),
        "note": [None if i < short_rows else "-x" for i in range(10)]}, dtype=object)
    frame["id"] = frame["id"].astype("Int64")
    path = tmp_path / "out.csv"
    assert write_frame_csv(path, frame, blank_after=2) == 10
    assert path.read_bytes() == reference(frame)
    assert fileio._blank_from(frame, 2).sum() == short_rows
