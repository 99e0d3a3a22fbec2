"""Excel .xlsx/.xlsm through openpyxl in read-only mode (rows streamed, cached formula
values). Numbers that lost their digits to a float come back as digits."""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import SourceError
from ..normalize import fold_name
from .base import (
    SourceHints,
    SourceInfo,
    batch_frames,
    clean_header,
    file_sha256,
    kept_positions,
)

SCAN_ROWS = 30          # rows searched for the header when title rows sit above it
REPAIR_FROM = 1_000_000  # a number of 7+ digits held in a numeric cell: a phone number or id


def cell_text(value: Any) -> tuple[str, bool]:
    """The cell as text, and whether it was a long whole number turned back into digits."""
    if value is None:
        return "", False
    if isinstance(value, str):
        return value, False
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), False
    if isinstance(value, int):
        return str(value), abs(value) >= REPAIR_FROM
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value)), abs(value) >= REPAIR_FROM
        return repr(value), False
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat(), False
        return value.isoformat(timespec="seconds" if not value.microsecond else "auto"), False
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat(), False
    return str(value), False


def _load(path: Path) -> Any:
    import openpyxl  # imported here: only Excel sources pay for it

    spath = str(path)
    try:
        with open(path, "rb") as handle:
            magic = handle.read(8)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror}", path=spath) from None
    if not magic:
        raise SourceError("the file is empty (0 bytes)", path=spath,
                          hint="export the workbook again; the file holds nothing")
    if magic.startswith(b"\xd0\xcf\x11\xe0") or path.suffix.lower() == ".xls":
        raise SourceError("a legacy .xls workbook (or an encrypted one), which cannot be read",
                          path=spath, hint="open it in Excel and save it as .xlsx, or as CSV")
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        raise SourceError(f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                          path=spath, hint="open it in Excel and save it again as .xlsx, "
                          "or export the sheet as CSV") from None
    except Exception as exc:  # openpyxl raises many kinds on corrupt parts
        raise SourceError(f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                          path=spath, hint="open it in Excel and save it again as .xlsx, "
                          "or export the sheet as CSV") from None


def _unreadable(spath: str, exc: BaseException) -> SourceError:
    return SourceError(f"not a readable .xlsx workbook ({type(exc).__name__}: {exc})",
                       path=spath, hint="open it in Excel and save it again as .xlsx, "
                       "or export the sheet as CSV")


def _header_candidates(ws: Any) -> list[tuple[int, list[str]]]:
    found = []
    for number, row in enumerate(ws.iter_rows(max_row=SCAN_ROWS, values_only=True), 1):
        texts = [cell_text(v)[0].strip() for v in row]
        if any(texts):
            found.append((number, texts))
    return found


def _choose(wb: Any, hints: SourceHints, wanted: Collection[str] | None,
            spath: str) -> tuple[str, int, list[str]]:
    """The sheet, its header row number and the raw header cells."""
    names = list(wb.sheetnames)
    listing = ", ".join(repr(n) for n in names)
    sheet = hints.sheet
    if isinstance(sheet, str) and sheet not in names and sheet.strip().isdigit():
        sheet = int(sheet)  # the mapping's `sheet: 0` arrives as text
    if sheet is not None:
        if str(sheet) in names:
            chosen = [str(sheet)]
        elif isinstance(sheet, int) and not isinstance(sheet, bool):
            if not 0 <= sheet < len(names):
                raise SourceError(f"no sheet at index {sheet} (0-based); the workbook has "
                                  f"{len(names)}: {listing}", path=spath,
                                  hint="set source.sheet to one of these names or indexes")
            chosen = [names[sheet]]
        else:
            raise SourceError(f"no sheet named {hints.sheet!r}; sheets found: {listing}",
                              path=spath, hint="set source.sheet to one of these names")
    else:
        chosen = names
    wanted_set = {fold_name(w) for w in wanted} if wanted else set()
    best: tuple[int, str, int, list[str]] | None = None
    first: tuple[str, int, list[str]] | None = None
    for name in chosen:
        for number, texts in _header_candidates(wb[name]):
            if first is None:
                first = (name, number, texts)
            if not wanted_set:
                break
            hits = len(wanted_set.intersection(fold_name(t) for t in texts))
            if hits == len(wanted_set):
                return name, number, texts
            if hits and (best is None or hits > best[0]):
                best = (hits, name, number, texts)
        if first is not None and not wanted_set:
            break
    if best is not None:
        return best[1], best[2], best[3]
    if first is None:
        where = f"sheet {chosen[0]!r}" if hints.sheet is not None else f"sheets {listing}"
        raise SourceError(f"no rows in {where} (first {SCAN_ROWS} rows are blank)", path=spath,
                          hint="put the header row and the contacts on the first sheet, "
                          "or set source.sheet")
    return first


def _chunks(path: Path, info: SourceInfo, keep: list[int], names: list[str],
            chunk_rows: int) -> Iterator[pd.DataFrame]:
    wb = _load(path)
    try:
        ws = wb[info.sheet]
        width = len(info.columns)
        repaired = info.repaired
        ignored_at: int | None = None

        def numbered() -> Iterator[tuple[int, list[str]]]:
            nonlocal ignored_at
            rows = ws.iter_rows(min_row=info.header_line + 1, values_only=True)
            for number, row in enumerate(rows, info.header_line + 1):
                texts = []
                for i in keep:
                    if i < len(row):
                        text, fixed = cell_text(row[i])
                        if fixed:
                            repaired.add((number, info.columns[i]))
                    else:
                        text = ""
                    texts.append(text)
                if not any(texts) and all(cell_text(v)[0] == "" for v in row):
                    continue
                if ignored_at is None and any(v is not None and v != "" for v in row[width:]):
                    ignored_at = number
                yield number, texts

        try:
            yield from batch_frames(numbered(), names, info, chunk_rows)
        except SourceError:
            raise
        except Exception as exc:  # a sheet damaged further down
            raise _unreadable(str(path), exc) from None
        if ignored_at is not None:
            info.notes.append(f"cells right of the header's last column were ignored "
                              f"(first at row {ignored_at})")
    finally:
        wb.close()


def open_excel(path: Path, hints: SourceHints, wanted: Collection[str] | None,
               chunk_rows: int, *, trim: bool = True
               ) -> tuple[Iterator[pd.DataFrame], SourceInfo]:
    """Choose the sheet and header row now; the returned iterator reads the rows
    (only the wanted columns when `trim`, else all of them)."""
    spath = str(path)
    wb = _load(path)
    try:
        sheet, header_line, raw = _choose(wb, hints, wanted, spath)
        has_rows = any(any(v is not None and v != "" for v in row)
                       for row in wb[sheet].iter_rows(min_row=header_line + 1, values_only=True))
    except SourceError:
        raise
    except Exception as exc:  # a damaged sheet part: openpyxl's XML parser gives up
        raise _unreadable(spath, exc) from None
    finally:
        wb.close()
    info = SourceInfo(path=spath, format="excel", sheet=sheet, header_line=header_line,
                      sha256=file_sha256(path))
    info.columns = clean_header(raw, spath, header_line, info.notes)
    if header_line > 1:
        info.notes.append(f"header found at row {header_line} of sheet {sheet!r}")
    if not has_rows:
        raise SourceError(f"no data rows in sheet {sheet!r}: only a header "
                          f"({', '.join(info.columns)})", path=spath, line=header_line,
                          hint="the sheet must hold at least one contact below its header")
    keep = kept_positions(info.columns, wanted if trim else None)
    names = [info.columns[i] for i in keep]
    return _chunks(path, info, keep, names, chunk_rows), info
