"""Readers of contact exports: CSV/TSV, Excel, JSON and JSON Lines.

Every reader returns str-valued DataFrames (no type guessing: `00123` stays
`00123`, empty cells are "") with the column LINE_COLUMN, the line or row number
a person would see in the file, plus a SourceInfo describing what was found.
Rows whose cells are all empty are skipped (their line numbers are not reused).
When `wanted_columns` is given, frames hold only those of them the source has
(SourceInfo.columns still lists every column); for Excel it also chooses the
default sheet and the header row."""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path

import pandas as pd

from ..errors import SourceError
from .base import LINE_COLUMN, SourceHints, SourceInfo
from .csv import open_csv
from .excel import open_excel
from .json import open_json

__all__ = ["LINE_COLUMN", "SourceHints", "SourceInfo", "detect_format", "iter_source",
           "read_source"]

EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".tab": "csv", ".xlsx": "excel",
              ".xlsm": "excel", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def detect_format(path: str | os.PathLike[str]) -> str:
    """csv, excel, json or jsonl: by extension, else by the first bytes of the file."""
    p = Path(path)
    if p.suffix.lower() in EXTENSIONS:
        return EXTENSIONS[p.suffix.lower()]
    if p.suffix.lower() == ".xls":
        return "excel"  # the Excel reader explains that legacy .xls must be re-saved
    with open(p, "rb") as handle:
        head = handle.read(4096)
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        return "excel"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        return "jsonl"
    return "csv"


def _check_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise SourceError("no such file", path=str(p),
                          hint="check the path (relative paths start in the working directory)")
    if p.is_dir():
        raise SourceError("is a directory, not a file", path=str(p),
                          hint="name one export file inside it")
    try:
        with open(p, "rb"):
            pass
    except OSError as exc:
        raise SourceError(f"cannot be opened: {exc.strerror}", path=str(p),
                          hint="check the file's permissions") from None
    return p


def iter_source(path: str | os.PathLike[str], hints: SourceHints | None = None, *,
                wanted_columns: Collection[str] | None = None,
                chunk_rows: int = 100_000,
                all_columns: bool = False) -> tuple[Iterator[pd.DataFrame], SourceInfo]:
    """Open a source and check it (format, encoding, header, at least one row) now;
    the iterator yields frames of at most `chunk_rows` rows, so memory stays bounded.
    SourceInfo.rows (and, for Excel, `repaired`) fill in as the iterator is consumed.
    With `all_columns`, `wanted_columns` only guides the choice of sheet and header
    and every column is kept. Raises SourceError for an unreadable source."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    p = _check_path(path)
    hints = hints or SourceHints()
    fmt = detect_format(p)
    if fmt == "csv":
        return open_csv(p, hints, wanted_columns, chunk_rows, all_columns=all_columns)
    if fmt == "excel":
        return open_excel(p, hints, wanted_columns, chunk_rows, trim=not all_columns)
    return open_json(p, hints, None if all_columns else wanted_columns, chunk_rows,
                     lines_format=fmt == "jsonl")


def read_source(path: str | os.PathLike[str], hints: SourceHints | None = None, *,
                wanted_columns: Collection[str] | None = None
                ) -> tuple[pd.DataFrame, SourceInfo]:
    """Read a whole source into one str-valued DataFrame (see iter_source)."""
    chunks, info = iter_source(path, hints, wanted_columns=wanted_columns)
    frames = list(chunks)
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame, info
