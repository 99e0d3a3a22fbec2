"""The campaign's contacts read into columns (GET requests only): a frame of
`contact.REMOTE_COLUMNS`, built page by page so a million contacts never stay
around as objects."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from ..contact import REMOTE_COLUMNS
from ..errors import ProtocolError
from ..normalize import joined_arrays, text_array
from .client import METADATA_KEYS, ListedContact


def listed_text(value: Any) -> str:
    """A contact field as the campaign lists it, as text: "" when missing or blank."""
    text = "" if value is None else str(value)
    return text if text.strip() else ""


_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
#: contacts turned into Arrow columns at a time: the Python strings of one batch are
#: all that is ever held as objects
BATCH = 50_000


def fetch_remote(client: Any, campaign_id: int, *,
                 progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Every contact of the campaign as a `plan.remote_frame` (GET requests only), its
    text columns held as Arrow strings (`normalize.TEXT`).

    Pages are turned into columns as they arrive (the same reading as
    `RemoteContact.from_api`: top-level fields first, then the metadata keys), so a
    million contacts never stay around as objects. Pages in the usual shape arrive
    as `ListedContact`s, decoded from the bytes with only these fields; any other
    page as JSON objects, read field by field with the same rules."""

    fields = REMOTE_COLUMNS[1:]
    cols: dict[str, list[Any]] = {c: [] for c in REMOTE_COLUMNS}
    raw_ids: list[Any] = []
    done: dict[str, list[Any]] = {c: [] for c in fields}
    ids: list[Any] = []
    seen = 0

    def flush() -> None:  # the batch's columns as Arrow text; its objects freed
        if not raw_ids:
            return
        for name in fields:
            done[name].append(text_array(cols[name]))
            cols[name].clear()
        ids.append(_remote_ids(raw_ids))
        raw_ids.clear()

    def plain(value: Any) -> bool:  # the common case: a non-blank string, kept as is
        return type(value) is str and value != "" and not value.isspace()

    for page in client.contacts.iter_pages(campaign_id, listed=True):
        if page and type(page[0]) is ListedContact:
            _listed_columns(page, fields, cols, raw_ids)
            seen += len(page)
            if len(raw_ids) >= BATCH:
                flush()
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
        if len(raw_ids) >= BATCH:
            flush()
        if progress is not None:
            progress(seen)
    flush()
    frame = pd.DataFrame({k: joined_arrays(done[k]) for k in fields}, columns=list(fields))
    frame.insert(0, "remote_id", joined_arrays(ids, "Int64"))
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
