"""CSV and TSV: encoding and delimiter detection, quoted newlines, exact line numbers.

The stdlib csv reader (C) parses the records; its `line_num` gives the physical
line where each record starts, even when quoted fields hold newlines."""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Callable, Collection, Iterator, Sequence
from itertools import islice
from pathlib import Path

import pandas as pd

from ..errors import SourceError
from ..normalize import fold_name
from .base import (
    SourceHints,
    SourceInfo,
    TextEncoding,
    clean_header,
    detect_text,
    kept_positions,
    make_frame,
    open_text,
)
from .plaincsv import arrow_chunks, plain_shape

DELIMITERS = (",", ";", "\t", "|")
NAMED = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
SAMPLE_CHARS = 1 << 16
QUOTE_HINT = ("check the quoting: a field that starts with a double quote must end with one, "
              'and quotes inside it are doubled ("")')


def sniff_delimiter(sample: str, truncated: bool) -> str | None:
    """The candidate that splits the header into most fields consistently with the
    records below it; None when no candidate splits the header."""
    best: tuple[float, int] | None = None
    choice = None
    for delim in DELIMITERS:
        try:
            records = [r for r in islice(csv.reader(io.StringIO(sample), delimiter=delim), 200)
                       if r]
        except csv.Error:
            continue
        if truncated and len(records) > 1:
            records.pop()
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        score = (sum(len(r) == width for r in records) / len(records), width)
        if best is None or score > best:
            best, choice = score, delim
    return choice


FIELD_LIMIT = 64 * 1024 * 1024


class _Reader:
    """One pass over a CSV file: header, then records with their start lines."""

    def __init__(self, path: Path, enc: TextEncoding, delimiter: str) -> None:
        self.path = str(path)
        self.handle = open_text(path, enc)
        self.reader = csv.reader(self.handle, delimiter=delimiter, strict=True)
        # the csv module refuses fields over 128 KiB; exports carry long notes in
        # columns no mapping reads, and a long name is the schema's to reject
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        self.last = 0

    def next_record(self) -> tuple[int, list[str]] | None:
        """The next non-blank record and the line where it starts, or None at the end."""
        try:
            for record in self.reader:
                start, self.last = self.last + 1, self.reader.line_num
                if any(f.strip() for f in record):
                    return start, record
        except csv.Error as exc:
            raise SourceError(f"malformed CSV: {exc}", path=self.path, line=self.last + 1,
                              hint=QUOTE_HINT) from None
        return None

    def skip_to(self, line: int) -> None:
        """Read up to and including the record that starts on `line` (the header)."""
        while True:
            got = self.next_record()
            if got is None or got[0] >= line:
                return

    def close(self) -> None:
        self.handle.close()


def _picker(keep: list[int]) -> Callable[[list[str]], Sequence[str]]:
    """The fields at `keep` (none or one: itemgetter would not give a tuple)."""
    at = tuple(keep)

    def pick(record: list[str]) -> Sequence[str]:
        return tuple(record[i] for i in at)
    return pick


def _chunks(path: Path, enc: TextEncoding, info: SourceInfo, width: int, keep: list[int],
            names: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    reader = _Reader(path, enc, info.delimiter or ",")
    spath = str(path)
    try:
        reader.skip_to(info.header_line)  # title lines may stand above the header
        # the kept columns of a record, picked in C (a list comprehension per record
        # cost as much as parsing it)
        pick: Callable[[list[str]], Sequence[str]] | None
        if keep == list(range(width)):
            pick = None
        elif len(keep) > 1:
            pick = operator.itemgetter(*keep)
        else:
            pick = _picker(keep)
        csv_reader = reader.reader
        while True:
            records: list[Sequence[str]] = []
            lines: list[int] = []
            try:
                for record in csv_reader:
                    start, reader.last = reader.last + 1, csv_reader.line_num
                    size = len(record)
                    if size != width:
                        if not any(f.strip() for f in record):  # blank or spaces only
                            continue
                        if size < width:
                            record = record + [""] * (width - size)
                        elif any(record[width:]):
                            raise SourceError(
                                f"{size} fields where the header has {width}", path=spath,
                                line=start, hint=f"{QUOTE_HINT}; or set source.delimiter if "
                                f"{info.delimiter!r} is not the delimiter")
                        else:
                            record = record[:width]
                    elif not any(record):
                        continue
                    records.append(record if pick is None else pick(record))
                    lines.append(start)
                    if len(lines) >= chunk_rows:
                        break
            except csv.Error as exc:
                raise SourceError(f"malformed CSV: {exc}", path=spath, line=reader.last + 1,
                                  hint=QUOTE_HINT) from None
            if not lines:
                return
            frame = make_frame(records, lines, names, info.rows)
            info.rows += len(lines)
            yield frame
    finally:
        reader.close()


def rows_at(info: SourceInfo, lines: Collection[int] | None, chunk_rows: int
            ) -> Iterator[pd.DataFrame]:
    """The records that start on `lines` (or all), every column, as frames of at most
    `chunk_rows` rows in file order: the file read again with what the first pass
    decided (encoding, delimiter, header, width), in one lean pass of the csv module
    that builds only the wanted rows (no checksum, no frame of the others). A record is
    padded or cut to the header's width as `_chunks` does; the pass stops after the
    last wanted line."""
    if info.text is None:
        raise ValueError("rows_at needs the SourceInfo of a CSV read (open_csv)")
    every = lines is None
    wanted = set() if lines is None else {int(x) for x in lines}
    if not every and not wanted:
        return
    last_wanted = max(wanted) if wanted else 0
    width = len(info.columns)
    reader = _Reader(Path(info.path), info.text, info.delimiter or ",")
    try:
        reader.skip_to(info.header_line)
        csv_reader = reader.reader
        records: list[list[str]] = []
        found: list[int] = []
        try:
            for record in csv_reader:
                start, reader.last = reader.last + 1, csv_reader.line_num
                if not every and start not in wanted:
                    if start >= last_wanted:
                        break
                    continue
                size = len(record)
                if not any(record) or (size != width  # a blank record, as in _chunks
                                       and not any(f.strip() for f in record)):
                    continue
                if size < width:
                    record = record + [""] * (width - size)
                elif size > width:
                    record = record[:width]
                records.append(record)
                found.append(start)
                if len(found) >= chunk_rows:
                    yield make_frame(records, found, info.columns, 0)
                    records, found = [], []
                if not every and start >= last_wanted:
                    break
        except csv.Error as exc:
            raise SourceError(f"malformed CSV: {exc}", path=info.path, line=reader.last + 1,
                              hint=QUOTE_HINT) from None
        if found:
            yield make_frame(records, found, info.columns, 0)
    finally:
        reader.close()


#: how many records from the top may stand above the header (title lines, a date...)
HEADER_SCAN = 30


def _find_header(reader: _Reader, hints: SourceHints, wanted: Collection[str] | None,
                 spath: str) -> tuple[int, list[str]]:
    """The header record: on `source.header_row` when the mapping names it; else the
    first non-blank record, unless it holds none of the wanted columns and a record
    within the first HEADER_SCAN does (a title line above the header, as spreadsheets
    export them): then the one holding the most."""
    first = reader.next_record()
    if first is None:
        raise SourceError("the file holds only blank lines", path=spath,
                          hint="export the contacts again, with a header row")
    if hints.header_row:
        row = int(hints.header_row)
        record: tuple[int, list[str]] | None = first
        while record is not None and record[0] < row:
            record = reader.next_record()
        if record is None or record[0] != row:
            raise SourceError(f"source.header_row is {row}, but line {row} is blank or "
                              "past the end", path=spath, hint="set it to the line number "
                              "of the column names (the first line is 1)")
        return record
    folded = {fold_name(w) for w in wanted or ()}
    if not folded or folded & {fold_name(c) for c in first[1]}:
        return first
    best, hits = first, 0
    for _ in range(HEADER_SCAN - 1):
        record = reader.next_record()
        if record is None:
            break
        n = len(folded & {fold_name(c) for c in record[1]})
        if n > hits:
            best, hits = record, n
        if n == len(folded):
            break
    return best


def open_csv(path: Path, hints: SourceHints, wanted: Collection[str] | None,
             chunk_rows: int, *, all_columns: bool = False
             ) -> tuple[Iterator[pd.DataFrame], SourceInfo]:
    """Check the file and read its header now; the returned iterator reads the rows
    (the `wanted` columns, or every column with `all_columns`: the wanted ones still
    find the header below a title line)."""
    spath = str(path)
    enc = detect_text(path, hints.encoding)
    info = SourceInfo(path=spath, format="csv", encoding=enc.name, sha256=enc.sha256, text=enc)
    if enc.note:
        info.notes.append(enc.note)
    if hints.delimiter:
        delimiter = NAMED.get(hints.delimiter.lower(), hints.delimiter)
        if len(delimiter) != 1:
            raise SourceError(f"the delimiter {hints.delimiter!r} is not one character",
                              path=spath, hint="set source.delimiter to one of , ; | or tab")
    else:
        with open_text(path, enc) as handle:
            sample = handle.read(SAMPLE_CHARS)
            truncated = bool(handle.read(1))
        delimiter = sniff_delimiter(sample, truncated) or ","
    info.delimiter = delimiter
    reader = _Reader(path, enc, delimiter)
    try:
        info.header_line, raw_names = _find_header(reader, hints, wanted, spath)
    finally:
        reader.close()
    reader = _Reader(path, enc, delimiter)
    try:
        reader.skip_to(info.header_line)
        first = reader.next_record()
    finally:
        reader.close()
    if info.header_line > 1 and (hints.header_row or wanted):
        info.notes.append(f"header found on line {info.header_line}; the lines above it "
                          "were skipped")
    info.columns = clean_header(raw_names, spath, info.header_line, info.notes)
    if len(info.columns) == 1 and not hints.delimiter:
        info.notes.append("one column found; set source.delimiter if the file has several")
    if first is None:
        raise SourceError(f"no data rows: only a header ({', '.join(info.columns)})", path=spath,
                          line=info.header_line, hint="the file must hold at least one contact")
    # trailing blank header cells were dropped; their fields must stay blank (checked per row)
    width = len(info.columns)
    keep = kept_positions(info.columns, None if all_columns else wanted)
    names = [info.columns[i] for i in keep]

    def chunks() -> Iterator[pd.DataFrame]:
        # a plain file (no quotes, one record per line...) is read by Arrow; the same frames
        if plain_shape(path, enc, delimiter, width, info.header_line):
            yield from arrow_chunks(path, info, width, keep, names, chunk_rows)
        else:
            yield from _chunks(path, enc, info, width, keep, names, chunk_rows)

    return chunks(), info
