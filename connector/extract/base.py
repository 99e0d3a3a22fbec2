"""Shared types and helpers of the readers: the contract every format honours."""

from __future__ import annotations

import codecs
import hashlib
import io
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import pandas as pd

from ..contact import LINE_COLUMN
from ..errors import SourceError
from ..normalize import TEXT, fold_name

BLOCK = 1 << 20

TEXT_HINT = "export the contacts as CSV (UTF-8), .xlsx or JSON"


@dataclass
class SourceHints:
    """Reader hints from the mapping's `source:` block."""

    sheet: str | int | None = None
    encoding: str | None = None
    delimiter: str | None = None
    #: JSON: the key of the array of records in a wrapping object (``results``)
    records: str | None = None
    #: CSV: the line of the column names, when title lines stand above them
    header_row: str | int | None = None


@dataclass
class SourceInfo:
    """What a reader found: format, encoding, header, row count, repairs made."""

    path: str
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    header_line: int = 1
    columns: list[str] = field(default_factory=list)
    rows: int = 0
    notes: list[str] = field(default_factory=list)
    repaired: set[tuple[int, str]] = field(default_factory=set)
    sha256: str = ""
    #: JSON: dotted paths into nested objects a mapping may name (``properties.email``)
    paths: list[str] = field(default_factory=list)
    #: JSON: (line, column) of the cells that held an object or an array (kept as
    #: JSON text; a contact field built from one rejects its row)
    structured: dict[tuple[int, str], str] = field(default_factory=dict)
    #: CSV: how the text was decoded (codec, BOM), so rows can be read again without
    #: deciding it again (`csv.rows_at`)
    text: TextEncoding | None = field(default=None, repr=False, compare=False)


def file_sha256(path: Path) -> str:
    """Checksum of the file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"), (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32"),
        (codecs.BOM_UTF8, "utf-8", "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"))


@dataclass
class TextEncoding:
    """How to decode a text file: the codec, the BOM bytes to skip, the name to report."""

    codec: str
    skip: int
    name: str
    note: str | None = None
    sha256: str = ""


def detect_text(path: Path, hinted: str | None) -> TextEncoding:
    """Decode the whole file once (bounded memory) to choose its encoding, refuse binary
    data (NUL bytes) and compute its checksum.

    A BOM wins; else the hinted encoding; else UTF-8, falling back to cp1252 (noted)."""
    spath = str(path)
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head:
        raise SourceError("the file is empty (0 bytes)", path=spath,
                          hint="export the contacts again; the file holds nothing")
    if head.startswith(b"PK\x03\x04"):
        raise SourceError("this is a zip archive (an Excel workbook?), not a text file",
                          path=spath, hint="name it .xlsx, or export the sheet as CSV")
    for bom, codec, name in BOMS:
        if head.startswith(bom):
            enc = TextEncoding(codec, len(bom), name)
            break
    else:
        enc = TextEncoding(hinted or "utf-8", 0, hinted or "utf-8")
    try:
        info = codecs.lookup(enc.codec)
    except LookupError:
        raise SourceError(f"unknown encoding {hinted!r}", path=spath,
                          hint="set source.encoding to a Python codec name such as utf-8 or cp1252"
                          ) from None
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib...
        raise SourceError(f"{hinted!r} is not a text encoding", path=spath,
                          hint="set source.encoding to a text encoding such as utf-8 or cp1252")
    candidates = [enc.codec] if (hinted or enc.skip) else ["utf-8", "cp1252"]
    first_failure: tuple[str, int] | None = None
    for codec in candidates:
        digest = hashlib.sha256()
        decoder = codecs.getincrementaldecoder(codec)()
        eight_bit = not codec.startswith(("utf-16", "utf-32"))
        offset, lines = 0, 1
        try:
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(BLOCK), b""):
                    digest.update(block)
                    if eight_bit and b"\x00" in block:
                        _binary(spath, offset + block.index(b"\x00"))
                    start = enc.skip if offset == 0 else 0
                    try:
                        text = decoder.decode(block[start:])
                    except UnicodeDecodeError as exc:
                        bad_line = lines + block.count(b"\n", 0, start + exc.start)
                        raise _Undecodable(bad_line) from None
                    except UnicodeError:  # e.g. utf-16 without a byte order mark
                        raise _Undecodable(lines) from None
                    if "\x00" in text:
                        _binary(spath, offset)
                    lines += block.count(b"\n")
                    offset += len(block)
                decoder.decode(b"", final=True)
        except _Undecodable as bad:
            first_failure = first_failure or (codec, bad.line)
            continue
        except UnicodeDecodeError:
            first_failure = first_failure or (codec, lines)
            continue
        enc.codec, enc.sha256 = codec, digest.hexdigest()
        if codec != candidates[0] and first_failure:
            enc.name = codec
            enc.note = (f"decoded as {codec} (not valid {first_failure[0].upper()}"
                        f" at line {first_failure[1]})")
        return enc
    codec, line = first_failure or (candidates[0], 1)
    raise SourceError(f"cannot be decoded as {' or '.join(candidates)}", path=spath, line=line,
                      hint="set source.encoding in the mapping (e.g. latin-1), or save the "
                      "file as UTF-8")


class _Undecodable(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


def _binary(path: str, offset: int) -> None:
    raise SourceError(f"not a text file: binary data (a NUL byte at offset {offset})",
                      path=path, hint=TEXT_HINT)


def open_text(path: Path, enc: TextEncoding) -> TextIO:
    """The file as text, past its BOM, with newlines left as they are (for csv)."""
    raw = open(path, "rb")  # noqa: SIM115 - handed to the wrapper, closed with it
    raw.seek(enc.skip)
    return io.TextIOWrapper(raw, encoding=enc.codec, newline="")


def clean_header(names: Iterable[object], path: str, line: int | None,
                 notes: list[str]) -> list[str]:
    """Strip header names (and a stray BOM); drop trailing blank names; name interior
    blank ones `column_N`; refuse duplicates, since a mapping naming one would be ambiguous."""
    cleaned = ["" if n is None else str(n).replace("\ufeff", "").strip() for n in names]
    while cleaned and not cleaned[-1]:
        cleaned.pop()
    blanks = [i for i, name in enumerate(cleaned, 1) if not name]
    for i in blanks:
        cleaned[i - 1] = f"column_{i}"
    if blanks:
        notes.append("header cells without a name were named " +
                     ", ".join(f"column_{i}" for i in blanks))
    seen: dict[str, int] = {}
    for name in cleaned:
        seen[name] = seen.get(name, 0) + 1
    dups = [name for name, count in seen.items() if count > 1]
    if dups:
        raise SourceError("duplicate column names in the header: " +
                          ", ".join(repr(d) for d in dups), path=path, line=line,
                          hint="rename the columns so that each name is unique")
    if LINE_COLUMN in seen:
        raise SourceError(f"a column is named {LINE_COLUMN!r}, a name reserved for line numbers",
                          path=path, line=line, hint="rename that column")
    if not cleaned:
        raise SourceError("the header row holds no column names", path=path, line=line,
                          hint="the first non-blank row must hold the column names")
    return cleaned


def kept_positions(columns: list[str], wanted: Collection[str] | None) -> list[int]:
    """Positions of the columns the frame keeps: the wanted ones present (in any case,
    with any surrounding spaces: `record id` keeps `Record ID`), or all."""
    if not wanted:
        return list(range(len(columns)))
    wanted_set = {fold_name(w) for w in wanted}
    return [i for i, name in enumerate(columns) if fold_name(name) in wanted_set]


def make_frame(records: Sequence[Sequence[str]], lines: list[int], names: list[str],
               start: int) -> pd.DataFrame:
    """A str-valued frame plus the line column; index continues across chunks. The
    cells are held as Arrow text (`normalize.TEXT`): a quarter of the memory of a
    Python object each, for the whole file's life in a run."""
    if names:
        frame = pd.DataFrame(records, columns=names, dtype=object).astype(TEXT)
    else:
        frame = pd.DataFrame(index=range(len(lines)))
    frame[LINE_COLUMN] = pd.Series(lines, dtype="int64")
    frame.index = pd.RangeIndex(start, start + len(lines))
    return frame


def batch_frames(numbered: Iterable[tuple[int, list[str]]], names: list[str], info: SourceInfo,
                 chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Group (line, values) records into frames of at most `chunk_rows` rows, counting
    them into `info.rows` as they are yielded."""
    records: list[list[str]] = []
    lines: list[int] = []
    for number, values in numbered:
        records.append(values)
        lines.append(number)
        if len(lines) >= chunk_rows:
            yield make_frame(records, lines, names, info.rows)
            info.rows += len(lines)
            records, lines = [], []
    if lines:
        frame = make_frame(records, lines, names, info.rows)
        info.rows += len(lines)
        yield frame
