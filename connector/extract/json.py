"""JSON (an array of objects, the import file's own format, or the array of records
a CRM's API wraps in an object) and JSON Lines.

Values become text as written (numbers keep their digits, null becomes ""). A
nested object is a set of fields a mapping names by a dotted path
(``properties.firstname``, ``Account.Name``); a key that itself holds a dot is
found as written first. An object or array in a cell stays as its JSON text
(so ``rejects.csv`` loses nothing); a contact field built from one rejects the row,
not the file (`SourceInfo.structured`). The line number is the record's 1-based
index in its array, the physical line in JSON Lines."""

from __future__ import annotations

import json
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
    detect_text,
    open_text,
)

#: the keys CRM APIs put their records under, tried when an object holds several arrays
RECORD_KEYS = ("results", "records", "data", "items")
#: nested paths listed per file (a property bag of a few hundred fields is common)
MAX_PATHS = 10_000
MAX_DEPTH = 8


class _DuplicateKeyError(ValueError):
    pass


class _Number(str):
    """A JSON number, kept as its text (so its digits survive) but known as a number."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


DECODER = json.JSONDecoder(parse_float=_Number, parse_int=_Number, parse_constant=_Number,
                           object_pairs_hook=_pairs)
_MISSING = object()


def json_text(value: Any) -> str:
    """A decoded value as compact JSON text again, numbers as they were written."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {json_text(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(json_text(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str.__str__(value)
    return json.dumps(value, ensure_ascii=False)


def _cell(value: Any) -> tuple[str, str | None]:
    """A value as cell text, and "an object" / "an array" when it is one."""
    if type(value) is str:
        return value, None
    if isinstance(value, _Number):
        return str.__str__(value), None
    if value is None:
        return "", None
    if value is True or value is False:
        return ("true" if value else "false"), None
    return json_text(value), ("an object" if isinstance(value, dict) else "an array")


def resolve(record: dict[str, Any], name: str) -> Any:
    """The value `name` names in `record`: the key as written, else a dotted path into
    nested objects (``Account.Name``), where any part may itself hold dots."""
    if name in record:
        return record[name]
    dot = name.find(".")
    while dot > 0:
        inner = record.get(name[:dot])
        if isinstance(inner, dict):
            found = resolve(inner, name[dot + 1:])
            if found is not _MISSING:
                return found
        dot = name.find(".", dot + 1)
    return _MISSING


def _add_paths(prefix: str, obj: dict[str, Any], paths: dict[str, None], depth: int) -> None:
    for key, value in obj.items():
        if len(paths) >= MAX_PATHS:
            return
        path = f"{prefix}.{str(key).strip()}"
        paths.setdefault(path, None)
        if isinstance(value, dict) and depth < MAX_DEPTH:
            _add_paths(path, value, paths, depth + 1)


def _decode(text: str, spath: str, line: int | None) -> Any:
    try:
        return DECODER.decode(text)
    except _DuplicateKeyError as exc:
        raise SourceError(f"the key {exc.args[0]!r} appears twice in one object", path=spath,
                          line=line, hint="keep one value per key") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"not valid JSON: {exc.msg} (column {exc.colno})", path=spath,
                          line=(line or 1) + exc.lineno - 1 if line else exc.lineno,
                          hint="fix the JSON syntax, or export the contacts again") from None
    except RecursionError:
        raise SourceError("JSON nested too deeply to be contacts", path=spath, line=line,
                          hint="each contact is one flat object of fields") from None


def _kind(value: Any) -> str:
    """What a JSON value is, as a person would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, _Number):
        return "a number"
    return "a string"


def _check(record: Any, spath: str, line: int, what: str) -> dict[str, Any]:
    if not isinstance(record, dict):
        kind = _kind(record).removeprefix("a ").removeprefix("an ")
        article = "" if kind == "null" else ("an " if kind[0] in "aeiou" else "a ")
        raise SourceError(f"{what} is {article}{kind}, not an object", path=spath, line=line,
                          hint="each record must be an object: {\"name\": ..., ...}")
    return {str(k).strip(): v for k, v in record.items()}


def _jsonl_records(path: Path, enc: Any, spath: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with open_text(path, enc) as handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                record = _decode(raw, spath, number)
                yield number, _check(record, spath, number, f"the record on line {number}")


def _array_records(items: list[Any], spath: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, item in enumerate(items, 1):
        yield number, _check(item, spath, number, f"record {number}")


def open_json(path: Path, hints: SourceHints, wanted: Collection[str] | None, chunk_rows: int,
              *, lines_format: bool) -> tuple[Iterator[pd.DataFrame], SourceInfo]:
    """Check every record and gather the keys now; the returned iterator builds the frames.

    JSON Lines is streamed (two passes, bounded memory); an array is parsed whole."""
    spath = str(path)
    enc = detect_text(path, hints.encoding)
    info = SourceInfo(path=spath, format="jsonl" if lines_format else "json",
                      encoding=enc.name, sha256=enc.sha256)
    if enc.note:
        info.notes.append(enc.note)
    items: list[Any] = []
    if lines_format:
        def records() -> Iterator[tuple[int, dict[str, Any]]]:
            return _jsonl_records(path, enc, spath)
    else:
        with open_text(path, enc) as handle:
            text = handle.read()
        if not text.strip():
            raise SourceError("the file holds only whitespace", path=spath,
                              hint="export the contacts again as a JSON array of objects")
        data = _decode(text, spath, None)
        items = _unwrap(data, text, hints.records, spath, info)

        def records() -> Iterator[tuple[int, dict[str, Any]]]:
            return _array_records(items, spath)

    keys: dict[str, None] = {}
    paths: dict[str, None] = {}
    count = 0
    for _, record in records():
        count += 1
        for key, value in record.items():
            keys.setdefault(key, None)
            if isinstance(value, dict) and len(paths) < MAX_PATHS:
                _add_paths(key, value, paths, 1)
    if not count:
        raise SourceError("no data rows: the file holds no records", path=spath,
                          hint="the file must hold at least one contact")
    info.columns = clean_header(list(keys), spath, None, info.notes)
    info.paths = [p for p in paths if p not in keys]
    if wanted:
        folded = {fold_name(w) for w in wanted}
        names = [c for c in info.columns if fold_name(c) in folded] + [
            w for w in dict.fromkeys(wanted) if w in set(info.paths) and w not in keys]
    else:
        names = list(info.columns)
    structured = info.structured

    def numbered() -> Iterator[tuple[int, list[str]]]:
        for number, record in records():
            row = []
            for name in names:
                value = record.get(name, "") if name in keys else resolve(record, name)
                text, kind = _cell("" if value is _MISSING else value)
                if kind is not None:
                    structured[(number, name)] = kind
                row.append(text)
            yield number, row

    return batch_frames(numbered(), names, info, chunk_rows), info


def _unwrap(data: Any, text: str, key: str | None, spath: str, info: SourceInfo) -> list[Any]:
    """The array of records: the document itself, or the array a wrapping object holds
    (its only array, else one of RECORD_KEYS, else the one `source.records` names)."""
    if isinstance(data, list):
        if key:
            raise SourceError(f"source.records names {key!r}, but the file is an array of "
                              "records", path=spath, hint="remove source.records from the "
                              "mapping")
        return data
    if not isinstance(data, dict):
        raise SourceError(f"expected a JSON array of contacts, found {_kind(data)}",
                          path=spath, hint="the file must be an array: [{\"name\": ...}, ...]")
    arrays = [k for k, v in data.items() if isinstance(v, list)]
    listing = ", ".join(map(repr, list(data)[:12]))
    if key:
        found = resolve(data, key)
        if not isinstance(found, list):
            what = "no such key" if found is _MISSING else f"it holds {_kind(found)}"
            raise SourceError(f"source.records names {key!r}, but {what}; the top-level keys "
                              f"are {listing}", path=spath,
                              hint="set source.records to the key of the array of records")
        info.notes.append(f"records read from the key {key!r}")
        return found
    if len(arrays) != 1:
        known = [k for k in arrays if k in RECORD_KEYS]
        if len(known) == 1:
            arrays = known
    if len(arrays) != 1:
        what = ("no array" if not arrays else
                f"several arrays ({', '.join(map(repr, arrays))})")
        raise SourceError(f"expected a JSON array of contacts, found an object with keys "
                          f"{listing} and {what}", path=spath,
                          hint="set source: {records: KEY} in the mapping to the key of the "
                          "array of records" if arrays else
                          "the file must be an array: [{\"name\": ...}, ...], or an object "
                          "holding one")
    info.notes.append(f"records read from the key {arrays[0]!r}")
    return data[arrays[0]]
