"""Plain CSV files read by Arrow's CSV reader: the same frames as the csv module's
path (`csv._chunks`), several times faster, for the files where the two cannot
differ.

A file is plain when, past its BOM: it decodes as UTF-8, its header is on line 1,
it holds no quote character and no carriage return outside a CRLF line end, no blank
line and no line of delimiters only, and every line has exactly the header's number of
fields. Then each physical line is one record, the record on line k is data row k-1,
and a field is the bytes between two delimiters, however either reader splits it.
`plain_shape` checks this in one vectorized pass over the bytes; any other file takes
the csv module's path, which knows quoting, quoted line breaks, blank lines and short
rows (tests/sources/test_plain_csv.py compares the two on generated files).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from ..normalize import TEXT
from .base import LINE_COLUMN, SourceInfo, TextEncoding

#: bytes looked at (and parsed) at a time: memory stays bounded whatever the file's size
BLOCK = 1 << 20
_NL, _CR = 10, 13


def plain_shape(path: Path, enc: TextEncoding, delimiter: str, width: int,
                header_line: int) -> bool:
    """Whether `path` is plain (see the module) with `width` fields per line."""
    if (enc.codec.replace("_", "-").lower() not in ("utf-8", "utf-8-sig", "utf8")
            or header_line != 1 or width < 2 or len(delimiter.encode("utf-8")) != 1):
        return False
    delim = delimiter.encode("utf-8")[0]
    want = width - 1  # delimiters per line
    in_line = 0       # delimiters seen on the line that runs across blocks
    length = 0        # its bytes (without a CR before the line end)
    last = _NL        # the byte before this block: a line starts after a LF
    pending_cr = False  # the last block ended with a CR: this one must start with LF
    with open(path, "rb") as handle:
        handle.seek(enc.skip)
        for block in iter(lambda: handle.read(BLOCK), b""):
            if b'"' in block:
                return False
            data = np.frombuffer(block, dtype=np.uint8)
            if pending_cr and data[0] != _NL:
                return False
            cr = np.flatnonzero(data == _CR)
            if len(cr):
                # a CR must be followed by a LF (a block may end between the two)
                after = cr + 1
                inside = after < len(data)
                if not (data[after[inside]] == _NL).all():
                    return False
            ends = np.flatnonzero(data == _NL)
            at = np.flatnonzero(data == delim)
            if len(ends):
                # delimiters before each line end, so per line: the difference
                before = np.searchsorted(at, ends)
                count = np.diff(before, prepend=0)
                starts = np.concatenate(([-1], ends[:-1]))
                size = ends - starts - 1
                size = size - (data[np.maximum(ends - 1, 0)] == _CR) * (ends > 0)
                count[0] += in_line
                size[0] += length - pending_cr  # the CR before this LF was counted there
                if (count != want).any() or (size <= count).any():
                    return False  # a short or long line, a blank one, delimiters only
                in_line = int(len(at) - before[-1])
                length = len(data) - int(ends[-1]) - 1
            else:
                in_line += len(at)
                length += len(data)
            last = int(data[-1])
            pending_cr = last == _CR
    if pending_cr:
        return False  # a CR ends the file
    if last != _NL:  # the last line has no line end
        if in_line != want or length <= in_line:
            return False
    return True


def arrow_chunks(path: Path, info: SourceInfo, width: int, keep: Sequence[int],
                 names: Sequence[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The kept columns of a plain file as `base.make_frame` builds them (Arrow text,
    the line column, an index running on across chunks), `chunk_rows` rows at a time."""
    generated = [f"f{i}" for i in range(width)]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(skip_rows=1, column_names=generated,
                                       block_size=BLOCK),
        parse_options=pacsv.ParseOptions(delimiter=info.delimiter or ",", quote_char=False,
                                         double_quote=False, escape_char=False,
                                         newlines_in_values=False, ignore_empty_lines=True),
        convert_options=pacsv.ConvertOptions(
            column_types={g: pa.large_string() for g in generated},
            include_columns=[generated[i] for i in keep], null_values=[],
            strings_can_be_null=False, quoted_strings_can_be_null=False, check_utf8=True))
    held: list[pa.RecordBatch] = []
    count = 0
    line = 2  # the header is line 1 and every line is one record
    with reader:
        for batch in reader:
            held.append(batch)
            count += batch.num_rows
            while count >= chunk_rows:
                table = pa.Table.from_batches(held)
                yield _frame(table.slice(0, chunk_rows), names, line, info)
                line += chunk_rows
                rest = table.slice(chunk_rows)
                held, count = rest.to_batches(), rest.num_rows
        if count:
            yield _frame(pa.Table.from_batches(held), names, line, info)


def _frame(table: pa.Table, names: Sequence[str], line: int, info: SourceInfo
           ) -> pd.DataFrame:
    n = table.num_rows
    if names:
        frame = pd.DataFrame({name: pd.array(table.column(j).combine_chunks(), dtype=TEXT)
                              for j, name in enumerate(names)}, copy=False)
    else:
        frame = pd.DataFrame(index=range(n))
    frame[LINE_COLUMN] = np.arange(line, line + n, dtype=np.int64)
    frame.index = pd.RangeIndex(info.rows, info.rows + n)
    info.rows += n
    return frame
