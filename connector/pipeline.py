"""The only module that runs the stages in order: read -> map -> normalize + validate."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .api.client import METADATA_KEYS, ListedContact
from .errors import MappingError, ProtocolError, UsageError
from .fileio import atomic_write, write_csv
from .mapping import (
    API_FIELDS,
    LINE_COLUMN,
    Mapping,
    apply_mapping,
    better_shipped_mapping,
    check_columns,
    load_mapping,
)
from .normalize import stripped_text
from .plan import REMOTE_COLUMNS, PlanOptions, build_plan
from .report import write_rejects_table
from .schema import ValidationResult, normalize_contacts
from .sources import SourceHints, iter_source, read_source

T = TypeVar("T")


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


def prepare_source(path: str | Path, mapping: Mapping | str | Path
                   ) -> tuple[Any, pd.DataFrame, Mapping, pd.DataFrame]:
    """Read `path` with the mapping's reader hints and map it: (info, source, mapping,
    mapped). Raises SourceError / MappingError (exit 2) before anything is sent."""

    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    hints = SourceHints(**mapping.source) if mapping.source else None
    df, info = read_source(str(path), hints, wanted_columns=mapping.source_columns())
    found = (list(getattr(info, "columns", None) or df.columns)
             + list(getattr(info, "paths", None) or []))
    mapping = mapping.matched_to(found)  # `record id` reads `Record ID`
    try:
        check_columns(mapping, found)
    except MappingError as exc:
        better = better_shipped_mapping(mapping, found)
        if better:
            exc.hint = (f"did you mean --mapping {better}? This file has every column that "
                        "shipped mapping reads")
        raise
    return info, df, mapping, apply_mapping(mapping, df)


def validate_source(path: str | Path, mapping: Mapping | str | Path) -> Validated:
    """Read `path` with the mapping's reader hints, map it, normalize and validate it."""
    info, df, mapping, mapped = prepare_source(path, mapping)
    return validate_prepared(info, df, mapping, mapped)


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


#: below this many rows, validating beside the campaign read is not worth a process
PARALLEL_MIN_ROWS = 50_000


def validate_while(info: Any, df: pd.DataFrame, mapping: Mapping, mapped: pd.DataFrame,
                   work: Callable[[], T], *, min_rows: int | None = None
                   ) -> tuple[Validated, T]:
    """Validate the mapped rows while `work()` (the campaign read) runs.

    Both are CPU work in one interpreter, so for a large source the validation runs
    in a forked child process (it inherits the rows; only its verdict comes back
    through a pipe) and the two use a core each. Smaller sources, or a platform
    other than Linux, validate first and then run `work`. An error of either side is
    raised here as it would be in sequence; a child that dies (killed, out of
    memory) is replaced by validating in this process."""
    import multiprocessing as mp

    # fork only on Linux: elsewhere it is either missing or unsafe with system libraries
    if min_rows is None:
        min_rows = PARALLEL_MIN_ROWS
    if len(mapped) < min_rows or not sys.platform.startswith("linux"):
        validated = validate_prepared(info, df, mapping, mapped)
        return validated, work()
    ctx = mp.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_validate_in_child, args=(send, info, df, mapping, mapped),
                        name="campaign-sync-validate", daemon=True)
    child.start()
    send.close()
    try:
        out = work()
        try:
            status, payload = receive.recv()
        except EOFError:  # the child died without an answer
            status, payload = "lost", None
    except BaseException:
        child.kill()
        raise
    finally:
        receive.close()
        child.join()
    if status == "error":
        raise payload
    if status == "lost":
        import logging

        logging.getLogger("campaign_sync").warning(
            "the validation process stopped (exit code %s); validating again here",
            child.exitcode, extra={"event": "validate_retry"})
        return validate_prepared(info, df, mapping, mapped), out
    return Validated(info=info, source=df, mapping=mapping, result=payload,
                     mapped=mapped), out


def _validate_in_child(send: Any, info: Any, df: pd.DataFrame, mapping: Mapping,
                       mapped: pd.DataFrame) -> None:
    """validate_while's child: ("ok", ValidationResult) or ("error", exception)."""
    try:
        payload: tuple[str, Any] = ("ok", validate_prepared(info, df, mapping, mapped).result)
    except Exception as exc:  # raised again by the parent
        payload = ("error", exc)
    try:
        send.send(payload)
    except Exception as exc:  # an exception that cannot be pickled
        send.send(("error", RuntimeError(f"validation failed: {type(exc).__name__}: {exc}")))
    finally:
        send.close()


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
    return write_csv(target, list(API_FIELDS), rows.itertuples(index=False, name=None))


def rejected_source_rows(validated: Validated, lines: Iterable[int] | None = None
                         ) -> tuple[list[str], dict[int, list[str]]]:
    """Every column of the source's rejected rows (or of `lines`), by line: the file is
    read again in chunks (the validation pass kept only the mapped columns), so memory
    stays bounded."""

    wanted = set(validated.result.rejected_lines if lines is None else (int(x) for x in lines))
    columns = list(getattr(validated.info, "columns", None) or
                   [c for c in validated.source.columns if c != LINE_COLUMN])
    rows: dict[int, list[str]] = {}
    if not wanted:
        return columns, rows
    hints = SourceHints(**validated.mapping.source) if validated.mapping.source else None
    chunks, _ = iter_source(validated.info.path, hints,
                            wanted_columns=validated.mapping.source_columns(), all_columns=True)
    for chunk in chunks:
        hit = chunk[chunk[LINE_COLUMN].isin(wanted)]
        for rec in hit.itertuples(index=False, name=None):
            values = dict(zip(hit.columns, rec))
            rows[int(values[LINE_COLUMN])] = ["" if pd.isna(values.get(c)) else
                                              str(values.get(c, "")) for c in columns]
    return columns, rows


def source_chunks(validated: Validated) -> tuple[list[str], Iterator[pd.DataFrame]]:
    """The source's column names and its rows again, every column, a chunk at a time
    (the validation pass kept only the mapped columns): for files that show each row
    as the user wrote it (success.csv, errors.csv). The file is opened only when the
    chunks are first asked for, so a run with nothing to show does not read it again."""
    columns = list(getattr(validated.info, "columns", None) or
                   [c for c in validated.source.columns if c != LINE_COLUMN])
    hints = SourceHints(**validated.mapping.source) if validated.mapping.source else None

    def chunks() -> Iterator[pd.DataFrame]:
        rows, _ = iter_source(validated.info.path, hints,
                              wanted_columns=validated.mapping.source_columns(),
                              all_columns=True)
        yield from rows

    return columns, chunks()


def write_rejects(validated: Validated, output: str | Path) -> int:
    """rejects.csv: one line per rejected row, in file order: the original row's
    columns (all of them), then its line and, joined by " | " when the row has several
    problems, the fields, values, reasons and hints. UTF-8 with BOM, formula-like cells
    neutralized, so it can be fixed in a spreadsheet and fed back as a source.
    Returns the number of rows written."""

    return write_rejects_table(validated.result.rejects, output,
                               originals=rejected_source_rows(validated))


def listed_text(value: Any) -> str:
    """A contact field as the campaign lists it, as text: "" when missing or blank."""
    text = "" if value is None else str(value)
    return text if text.strip() else ""


_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def fetch_remote(client: Any, campaign_id: int, *,
                 progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Every contact of the campaign as a `plan.remote_frame` (GET requests only).

    Pages are turned into columns as they arrive (the same reading as
    `RemoteContact.from_api`: top-level fields first, then the metadata keys), so a
    million contacts never stay around as objects. Pages in the usual shape arrive
    as `ListedContact`s, decoded from the bytes with only these fields; any other
    page as JSON objects, read field by field with the same rules."""

    fields = REMOTE_COLUMNS[1:]
    cols: dict[str, list[Any]] = {c: [] for c in REMOTE_COLUMNS}
    raw_ids: list[Any] = []
    seen = 0

    def plain(value: Any) -> bool:  # the common case: a non-blank string, kept as is
        return type(value) is str and value != "" and not value.isspace()

    for page in client.contacts.iter_pages(campaign_id, listed=True):
        if page and type(page[0]) is ListedContact:
            _listed_columns(page, fields, cols, raw_ids)
            seen += len(page)
            if progress is not None:
                progress(seen)
            continue
        if not all(type(obj) is dict for obj in page):

            bad = next(obj for obj in page if not isinstance(obj, dict))
            raise ProtocolError(f"campaign {campaign_id}: expected contact objects, got "
                                f"{type(bad).__name__}")
        # one pass per field over the page; only odd values take the slow path, and the
        # metadata is looked at (on this page only) where a top-level field is blank
        raw_ids.extend([obj.get("id") for obj in page])
        for name in fields:
            values = [obj.get(name) for obj in page]
            fallback = METADATA_KEYS.get(name)
            for i, value in enumerate(values):
                if plain(value):
                    continue
                text = listed_text(value)
                if not text and fallback:
                    meta = page[i].get("user_custom_metadata")
                    if isinstance(meta, dict):
                        text = listed_text(meta.get(fallback))
                values[i] = text
            cols[name].extend(values)
        seen += len(page)
        if progress is not None:
            progress(seen)
    frame = pd.DataFrame({k: cols[k] for k in fields}, columns=list(fields), dtype=object)
    frame.insert(0, "remote_id", _remote_ids(raw_ids))
    return frame


def _remote_ids(raw_ids: list[Any]) -> pd.api.extensions.ExtensionArray:
    """The listed ids as a nullable Int64 array: ints as they are, digit strings read,
    anything else (missing, blank, not a number, past 64 bits) missing. When every id
    is a plain int, as the campaign lists them, numpy converts them in one C pass."""
    if set(map(type, raw_ids)) <= {int}:
        try:
            return pd.array(np.array(raw_ids, dtype=np.int64), dtype="Int64")
        except OverflowError:
            pass
    ids: list[int | None] = []
    for raw_id in raw_ids:
        if type(raw_id) is not int:
            try:
                raw_id = int(raw_id) if raw_id is not None and str(raw_id).strip() else None
            except (TypeError, ValueError):
                raw_id = None
        # an id past 64 bits cannot name a contact in a request either: unusable, as a
        # missing one is (it used to stop the read)
        ids.append(raw_id if raw_id is None or _INT64_MIN <= raw_id <= _INT64_MAX else None)
    return pd.array(ids, dtype="Int64")


def _listed_columns(page: list[Any], fields: Iterable[str], cols: dict[str, list[Any]],
                    raw_ids: list[Any]) -> None:
    """Append a page of `ListedContact`s to the columns (transposed in C: one tuple per
    contact, then one per field). Their text fields are strings or None, so a column
    is kept as is when every value is a non-blank string (two C-level checks);
    otherwise blanks become "" and fall back to the metadata."""
    import msgspec

    columns = dict(zip(ListedContact.__struct_fields__,
                       zip(*map(msgspec.structs.astuple, page))))
    raw_ids.extend(columns["id"])
    metadata = columns["user_custom_metadata"]
    for name in fields:
        values = columns[name]
        if all(values) and not any(map(str.isspace, values)):
            cols[name].extend(values)
            continue
        values = list(values)
        fallback = name in METADATA_KEYS
        for i, value in enumerate(values):
            if value and not value.isspace():
                continue
            meta = metadata[i] if fallback else None
            values[i] = listed_text(getattr(meta, name)) if meta is not None else ""
        cols[name].extend(values)


def make_plan(validated: Validated, remote: pd.DataFrame, options: Any, *,
              meta: dict[str, Any] | None = None) -> Any:
    """The plan of a validated source against the campaign's contacts."""

    if options.region is None and validated.mapping.region:
        options = PlanOptions(mode=options.mode, max_delete_fraction=options.max_delete_fraction,
                              force=options.force, region=validated.mapping.region)
    info = validated.info
    full_meta = {"source": str(info.path), "source_sha256": getattr(info, "sha256", ""),
                 "source_format": getattr(info, "format", ""),
                 "mapping": str(validated.mapping.path), **(meta or {})}
    plan = build_plan(validated.result.valid, validated.result.rejects, remote, options,
                      meta=full_meta, carried=validated.carried,
                      protect=validated.result.rejected_rows)
    notes = validated.result.notes
    if len(notes):
        plan.notes = notes[["line", "field", "value", "note"]].reset_index(drop=True)
    return plan
