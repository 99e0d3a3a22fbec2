"""Writing output files safely: atomically, and with spreadsheet-safe CSV cells."""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# a line break followed by one of them (each is one character)
_FORMULA_AFTER_BREAK = re.compile("\n[" + re.escape("".join(FORMULA_PREFIXES)) + "]")


def cell_text(value: Any) -> str:
    """A table cell as text: "" for None/NA/NaN, integral floats without ".0"."""
    if type(value) is str:  # most cells: no pandas look-up
        return value
    if value is None:
        return ""
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def neutralize_cell(value: Any) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None, perms: int = 0o600) -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path` and move it into place only on success,
    so a crash or bad input never leaves a half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, perms)
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_csv(path: str | os.PathLike[str], header: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> int:
    """A CSV that opens cleanly in a spreadsheet: UTF-8 with BOM, neutralized cells.
    Returns the number of data rows written."""
    count = 0
    with atomic_write(path, encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralize_cell(h) for h in header])
        for row in rows:
            writer.writerow([neutralize_cell(v) for v in row])
            count += 1
    return count


def neutralized_columns(frame: pd.DataFrame) -> list[Any]:
    """`neutralize_cell` over every column of `frame`, vectorized: one object array of
    cells per column (text, "" for missing values; integer columns keep their ints,
    never a formula)."""
    out = []
    for column in frame.columns:
        col = frame[column]
        arr = col.to_numpy(dtype=object, copy=True)
        text = pd.api.types.infer_dtype(arr, skipna=False) == "string"  # a C pass
        if not text:  # only then can a value be missing
            missing = pd.isna(arr)
            if missing.any():
                arr[missing] = ""
        if pd.api.types.is_integer_dtype(col.dtype):
            out.append(arr)
            continue
        if not text and pd.api.types.infer_dtype(arr, skipna=False) != "string":
            arr = np.array([v if type(v) is str else str(v) for v in arr], dtype=object)
        if not _any_formula_like(arr):  # the usual case, found in C
            out.append(arr)
            continue
        # each distinct value is tested once (actions, reasons and blanks repeat a lot)
        codes, uniques = pd.factorize(arr)
        bad = np.fromiter((u.startswith(FORMULA_PREFIXES) for u in uniques), dtype=bool,
                          count=len(uniques))
        if bad.any():
            for i in np.flatnonzero(bad[codes]):
                arr[i] = "'" + arr[i]
        out.append(arr)
    return out


def _any_formula_like(cells: Any) -> bool:
    """Whether some cell (str) may start like a formula, looked for in the column joined
    by line breaks: a prefix at the very start or after a break. A cell holding a line
    break can only make this answer yes (then each value is tested), never miss one.
    Cheaper than testing each distinct value when most values are distinct (keys)."""
    if not len(cells):
        return False
    text = "\n".join(cells)
    return text.startswith(FORMULA_PREFIXES) or _FORMULA_AFTER_BREAK.search(text) is not None


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`neutralize_cell` over a whole frame, vectorized: text, "" for missing values."""
    return pd.DataFrame(dict(zip(frame.columns, neutralized_columns(frame))),
                        index=frame.index, columns=frame.columns)


def write_frame_csv(path: str | os.PathLike[str], frame: pd.DataFrame, *,
                    blank_after: int | None = None) -> int:
    """`write_csv` for a DataFrame, vectorized (a million rows in seconds): UTF-8 with
    BOM, formula-like cells neutralized, written atomically. Returns the row count.

    With `blank_after=k`, the rows whose cells after the first k are all blank
    (missing or "") are made from their first k cells and a comma for each blank one:
    the same bytes, for a fraction of the work when most rows are so (actions.csv's
    rows carried from the last run hold an action, a reason, a line and a key)."""
    return write_frames_csv(path, list(frame.columns), [frame], blank_after=blank_after)


def write_frames_csv(path: str | os.PathLike[str], columns: Sequence[str],
                     frames: Iterable[pd.DataFrame], *, blank_after: int | None = None) -> int:
    """`write_frame_csv` of the frames one under the other (each with `columns`),
    written as they come: the file of a million rows is never one table of objects.
    The bytes are those of `write_frame_csv` of the frames joined.

    A frame of several columns is written by Arrow kernels (`_arrow_lines`): each
    column neutralized and quoted as a whole, the rows joined in C, their UTF-8 bytes
    written at once; `blank_after` changes nothing there (a blank cell costs nothing).
    One column, or a column of values other than text and integers, takes the
    csv-module path."""
    width = len(columns)
    count = 0
    with atomic_write(path, encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow([neutralize_cell(c) for c in columns])
        for frame in frames:
            count += len(frame)
            for start in range(0, len(frame), CSV_CHUNK_ROWS) if width > 1 else ():
                part = frame.iloc[start:start + CSV_CHUNK_ROWS]
                lines = _arrow_lines(part)
                if lines is not None:
                    handle.flush()  # the header (and the BOM) before the bytes
                    handle.buffer.write(lines)
                    continue
                handle.write("\r\n".join(_frame_rows(part, blank_after)))
                handle.write("\r\n")
            if width == 1:  # a lone empty cell is quoted: the csv module writes these rows
                rows = _frame_rows(frame, blank_after)
                while chunk := list(itertools.islice(rows, CSV_CHUNK_ROWS)):
                    writer.writerows(chunk)
    return count


_LARGE = pa.large_string()
_EMPTY = pa.scalar("", _LARGE)
_FORMULA_START = "^[" + re.escape("".join(FORMULA_PREFIXES)) + "]"
_NEEDS_QUOTES = '[,"\r\n]'


def csv_lines(frame: pd.DataFrame) -> memoryview | None:
    """The rows of `frame` (several columns) as the UTF-8 bytes csv.writer writes for
    them, neutralized (see `_arrow_lines`); None when a column holds values other than
    text and integers."""
    return _arrow_lines(frame) if len(frame.columns) > 1 else None


def _arrow_lines(frame: pd.DataFrame) -> memoryview | None:
    """The rows of `frame` (several columns) as the UTF-8 bytes csv.writer writes for
    them, each ending in CRLF: cells neutralized (`neutralize_cell`; integers as they
    are), missing values empty, quoted only where a cell holds a comma, a quote or a
    line break. None when a column holds values other than text and integers (the
    caller takes the csv-module path)."""
    cells = []
    for column in frame.columns:
        text = _arrow_cells(frame[column])
        if text is None:
            return None
        cells.append(text)
    cells[-1] = pc.binary_join_element_wise(cells[-1], pa.scalar("\r\n", _LARGE), _EMPTY)
    lines = pc.binary_join_element_wise(*cells, pa.scalar(",", _LARGE))
    if not len(lines):
        return memoryview(b"")
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return memoryview(lines.buffers()[2])[start:end]


def _arrow_cells(col: pd.Series) -> pa.Array | None:
    """One column's cells as csv.writer writes them in a row of several, as Arrow text;
    None for a column of other values."""
    if pd.api.types.is_integer_dtype(col.dtype):
        ints = pa.array(col, from_pandas=True)
        return pc.fill_null(pc.cast(ints, _LARGE), _EMPTY)  # never a formula, never quoted
    if isinstance(col.dtype, pd.StringDtype):
        arr = pa.array(col.array, from_pandas=True)
    elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in ("string",
                                                                                   "empty"):
        arr = pa.array(col.to_numpy(dtype=object), type=_LARGE, from_pandas=True)
    else:
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != _LARGE:
        arr = arr.cast(_LARGE)
    arr = pc.fill_null(arr, _EMPTY)
    formula = pc.match_substring_regex(arr, _FORMULA_START)
    if pc.any(formula).as_py():
        arr = pc.if_else(formula, pc.binary_join_element_wise(pa.scalar("'", _LARGE), arr,
                                                              _EMPTY), arr)
    quote = pc.match_substring_regex(arr, _NEEDS_QUOTES)
    if pc.any(quote).as_py():
        mark = pa.scalar('"', _LARGE)
        quoted = pc.binary_join_element_wise(mark, pc.replace_substring(arr, '"', '""'), mark,
                                             _EMPTY)
        arr = pc.if_else(quote, quoted, arr)
    return arr


def _frame_rows(frame: pd.DataFrame, blank_after: int | None) -> Iterator[Any]:
    """The rows of `frame`: text lines (no line end) for a frame of several columns,
    one-cell rows for the csv module otherwise."""
    width = len(frame.columns)
    short = None
    if width > 1 and blank_after is not None and 0 < blank_after < width and len(frame):
        short = _blank_from(frame, blank_after)
        if short.sum() * 2 < len(frame):  # mostly full rows: not worth a second pass
            short = None
    if width == 1:
        return zip(*(_as_cells(col) for col in neutralized_columns(frame)))
    if short is not None:
        texts = np.empty(len(frame), dtype=object)
        if not short.all():
            texts[~short] = _row_texts(frame[~short])
        tail = "," * (width - blank_after)
        texts[short] = [head + tail for head in
                        _row_texts(frame.iloc[np.flatnonzero(short), :blank_after])]
        return iter(texts)
    # the rows joined a chunk at a time
    return map(",".join, zip(*_quoted_columns(frame)))


def _row_texts(frame: pd.DataFrame) -> list[str]:
    """The rows of `frame` as CSV text (no line end), as cells of a row of several
    columns: each quoted as the csv module quotes it (only where it must be), then
    joined by commas."""
    return list(map(",".join, zip(*_quoted_columns(frame))))


def _quoted_columns(frame: pd.DataFrame) -> list[Any]:
    """Each column's cells neutralized, as text, and quoted as in a row of several."""
    return [_csv_quoted(_as_cells(col)) for col in neutralized_columns(frame)]


def _blank_from(frame: pd.DataFrame, k: int) -> Any:
    """Per row, whether every cell after the first `k` is missing or ""."""
    blank = np.ones(len(frame), dtype=bool)
    for column in frame.columns[k:]:
        col = frame[column]
        if pd.api.types.is_numeric_dtype(col.dtype):
            blank &= col.isna().to_numpy()
            continue
        values = col.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=False) != "string":  # some missing
            values = values.copy()
            values[col.isna().to_numpy()] = ""  # a missing value (pd.NA) cannot be compared
        blank &= values == ""
    return blank


CSV_CHUNK_ROWS = 50_000

_CSV_SPECIAL = (",", '"', "\r", "\n")  # what makes the csv module quote a cell


def _csv_quoted(cells: Any) -> Any:
    """The cells (str) as csv.writer writes them in a row of several (QUOTE_MINIMAL,
    delimiter ",", lineterminator CRLF): a cell holding a comma, a quote or a line
    break quoted, its quotes doubled. Whether any cell needs it is found on the joined
    column in C; then each distinct value is tested once."""
    text = ",".join(cells)
    if ('"' not in text and "\n" not in text and "\r" not in text
            and text.count(",") == max(len(cells) - 1, 0)):
        return cells
    codes, uniques = pd.factorize(np.asarray(cells, dtype=object))
    quoted = np.array(['"' + u.replace('"', '""') + '"' if any(c in u for c in _CSV_SPECIAL)
                       else u for u in uniques], dtype=object)
    return quoted[codes]


def _as_cells(values: Any) -> Any:
    """A neutralized column's values as str, for joining (numbers by str())."""
    if pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty"):
        return values
    return list(map(str, values))  # str() of a str is that str
