"""Validation of a mapped source: every row normalized and checked (mapped frame ->
valid + rejects), for a large source while a thread reads the campaign; Excel cells
repaired by the reader become notes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from ..contact import API_FIELDS, LINE_COLUMN
from ..errors import UsageError
from ..extract.mapping import Mapping
from ..fileio import atomic_write, write_frame_csv
from ..normalize import stripped_text
from .schema import ValidationResult, normalize_contacts

T = TypeVar("T")
log = logging.getLogger("campaign_sync")


@dataclass
class Validated:
    """A validated source: what the reader saw, the source rows and the verdict.

    `carried` lists the rows an incremental run did not normalize again (line, key,
    row hash): identical to the last applied run, with the campaign contact
    unchanged since. `mapped` keeps the mapped (raw) fields and the row hashes."""

    info: Any
    source: pd.DataFrame
    mapping: Mapping
    result: ValidationResult
    mapped: pd.DataFrame | None = None
    carried: pd.DataFrame | None = None


def validate_prepared(info: Any, df: pd.DataFrame, mapping: Mapping, mapped: pd.DataFrame,
                      skip: pd.Series | None = None) -> Validated:
    """Normalize and validate the mapped rows, all of them or those not in `skip` (a
    boolean mask of rows carried over unchanged from the last run)."""

    carried = None
    if skip is not None and skip.any():
        carried = pd.DataFrame({"line": mapped.loc[skip, LINE_COLUMN].astype("int64"),
                                "external_unique_id":
                                    stripped_text(mapped.loc[skip, "external_unique_id"])})
        todo = mapped[~skip]
    else:
        todo = mapped
    result = normalize_contacts(todo, region=mapping.region, required=mapping.required,
                                candidates=mapping.phone_candidates(),
                                region_label=mapping.region_column or "Country",
                                structured=_structured_fields(info, mapping, todo))
    if carried is not None:
        result.rows = len(mapped)
    _note_repairs(result, info, mapping, df, mapped)
    return Validated(info=info, source=df, mapping=mapping, result=result, mapped=mapped,
                     carried=carried)


def _structured_fields(info: Any, mapping: Mapping, mapped: pd.DataFrame
                       ) -> dict[str, pd.Series] | None:
    """Per contact field, the rows whose value came from a cell holding a JSON object
    or array (what it held, and under which key), None elsewhere."""
    cells = getattr(info, "structured", None)
    if not cells:
        return None
    lines = mapped[LINE_COLUMN].to_numpy()
    out: dict[str, pd.Series] = {}
    for fld, spec in mapping.columns.items():
        whys = pd.Series(None, index=mapped.index, dtype=object)
        for column in spec.columns:
            hits = {line: kind for (line, col), kind in cells.items() if col == column}
            if hits:
                found = pd.Series([hits.get(int(x)) for x in lines], index=mapped.index,
                                  dtype=object)
                take = whys.isna() & found.notna()
                whys[take] = f"{column!r} holds " + found[take]
        if whys.notna().any():
            out[fld] = whys
    return out or None


#: below this many rows, validating beside the campaign read is not worth a thread
PARALLEL_MIN_ROWS = 50_000

#: the name of the thread that reads the campaign while the source is validated
READ_THREAD = "campaign-sync-read"


def validate_while(info: Any, df: pd.DataFrame, mapping: Mapping, mapped: pd.DataFrame,
                   work: Callable[[], T], *, min_rows: int | None = None
                   ) -> tuple[Validated, T]:
    """Validate the mapped rows while `work()` (the campaign read) runs.

    For a large source the read runs in a thread of this process while the rows are
    validated here: the read mostly waits on the platform (a socket wait lets the
    other thread run), so the two overlap, and nothing is copied into a second
    process (whose memory would count on top of this one's). Smaller sources validate
    first, then read. Either side's error is raised once both have ended, as in
    sequence (the validation's first)."""
    if min_rows is None:
        min_rows = PARALLEL_MIN_ROWS
    if len(mapped) < min_rows:
        validated = validate_prepared(info, df, mapping, mapped)
        return validated, work()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=READ_THREAD) as pool:
        reading = pool.submit(work)
        try:
            validated = validate_prepared(info, df, mapping, mapped)
        finally:
            wait([reading])  # a thread cannot be stopped: the read ends on its own
    return validated, reading.result()


REPAIRED_NOTE = "repaired from a number: the cell held a number, read back as its digits"


def _note_repairs(result: ValidationResult, info: Any, mapping: Mapping,
                  source: pd.DataFrame, mapped: pd.DataFrame) -> None:
    """Excel numeric cells the reader turned back into digits become notes on the
    fields built from them (valid rows only: a rejected row's problem says enough)."""
    repaired = getattr(info, "repaired", None)
    if not repaired:
        return
    valid_lines = set(result.valid[LINE_COLUMN].tolist())
    by_line = source.set_index(LINE_COLUMN) if LINE_COLUMN in source.columns else None
    rows = []
    fields_by_line = mapped.set_index(LINE_COLUMN) if LINE_COLUMN in mapped.columns else None
    for line, column in sorted(repaired):
        if line not in valid_lines:
            continue
        for fld, spec in mapping.columns.items():
            if column in spec.columns:
                value = "" if by_line is None else str(by_line.at[line, column])
                used = "" if fields_by_line is None else str(fields_by_line.at[line, fld])
                if value and value not in used:
                    continue  # e.g. the other column of a coalesce was used
                rows.append({"line": int(line), "field": fld, "value": value,
                             "note": REPAIRED_NOTE})
    if rows:
        notes = pd.concat([result.notes, pd.DataFrame(rows)], ignore_index=True)
        result.notes = notes.sort_values(["line", "field"], kind="stable").reset_index(drop=True)


def write_valid(result: ValidationResult, output: str | Path) -> int:
    """The normalized contacts as .csv or .json (an array of objects, the import shape)."""
    target = Path(output)
    rows = result.valid[list(API_FIELDS)]
    if target.suffix.lower() == ".json":
        records = [{k: v for k, v in rec.items() if v != "" or k == "external_unique_id"}
                   for rec in rows.to_dict("records")]
        with atomic_write(target) as handle:
            json.dump(records, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        return len(records)
    if target.suffix.lower() != ".csv":
        raise UsageError(f"cannot write {target}: the file name must end in .csv or .json")
    # the bytes write_csv writes (tests/report/test_frame_csv.py), by whole columns
    return write_frame_csv(target, rows)
