"""JSON (an array of objects, the import file's own format) and JSON Lines.

Values become text as written (numbers keep their digits, null becomes ""); a
nested object or array is refused, since no contact field can hold one. The line
number is the record's 1-based index in an array, the physical line in JSON Lines."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from connector.errors import SourceError

from .base import (
    SourceHints,
    SourceInfo,
    batch_frames,
    clean_header,
    detect_text,
    kept_positions,
    open_text,
)

NESTED_HINT = ("flatten the data so that each field is a plain value (one key per field), "
               "or export it as CSV")


class _DuplicateKeyError(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


DECODER = json.JSONDecoder(parse_float=str, parse_int=str, parse_constant=str,
                           object_pairs_hook=_pairs)


def _text(value: Any, spath: str, line: int, key: str, what: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    kind = "an object" if isinstance(value, dict) else "an array"
    raise SourceError(f"{what} holds {kind} under key {key!r}", path=spath, line=line,
                      column=key, hint=NESTED_HINT)


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


def _kind(value: Any, raw: str | None = None) -> str:
    """What a JSON value is, as a person would say it. Numbers are decoded as text (so
    their digits survive), so the raw text tells a number from a string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str) and raw is not None:
        first = raw.lstrip()[:1]
        if first in ("t", "f"):
            return "a boolean"
        if first and first != '"':
            return "a number"
    return "a string"


def _check(record: Any, spath: str, line: int, what: str, raw: str | None = None
           ) -> dict[str, str]:
    if not isinstance(record, dict):
        kind = _kind(record, raw).removeprefix("a ").removeprefix("an ")
        article = "" if kind == "null" else ("an " if kind[0] in "aeiou" else "a ")
        raise SourceError(f"{what} is {article}{kind}, not an object", path=spath, line=line,
                          hint="each record must be an object: {\"name\": ..., ...}")
    return {str(k).strip(): _text(v, spath, line, str(k), what) for k, v in record.items()}


def _jsonl_records(path: Path, enc: Any, spath: str) -> Iterator[tuple[int, dict[str, str]]]:
    with open_text(path, enc) as handle:
        for number, raw in enumerate(handle, 1):
            if raw.strip():
                record = _decode(raw, spath, number)
                yield number, _check(record, spath, number, f"the record on line {number}",
                                     raw)


def _array_records(items: list[Any], spath: str) -> Iterator[tuple[int, dict[str, str]]]:
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
        def records() -> Iterator[tuple[int, dict[str, str]]]:
            return _jsonl_records(path, enc, spath)
    else:
        with open_text(path, enc) as handle:
            text = handle.read()
        if not text.strip():
            raise SourceError("the file holds only whitespace", path=spath,
                              hint="export the contacts again as a JSON array of objects")
        data = _decode(text, spath, None)
        if not isinstance(data, list):
            found = (f"an object with keys {', '.join(map(repr, list(data)[:8]))}"
                     if isinstance(data, dict) else _kind(data, text))
            raise SourceError(f"expected a JSON array of contacts, found {found}", path=spath,
                              hint="the file must be an array: [{\"name\": ...}, ...]")
        items = data

        def records() -> Iterator[tuple[int, dict[str, str]]]:
            return _array_records(items, spath)

    keys: dict[str, None] = {}
    count = 0
    for _, record in records():
        count += 1
        for key in record:
            keys.setdefault(key, None)
    if not count:
        raise SourceError("no data rows: the file holds no records", path=spath,
                          hint="the file must hold at least one contact")
    info.columns = clean_header(list(keys), spath, None, info.notes)
    keep = kept_positions(info.columns, wanted)
    names = [info.columns[i] for i in keep]

    numbered = ((number, [record.get(name, "") for name in names])
                for number, record in records())
    return batch_frames(numbered, names, info, chunk_rows), info
