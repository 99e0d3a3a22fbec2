"""What is carried from the last applied run: the hashes the state store keeps of each
source row, campaign contact and phone, and which rows a night need not normalize
or compare again because both sides are as the last run left them.

The state store keeps hashes only (no values); these functions make them and match
them. Pure: frames in, frames and arrays out.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd

from .mapping import PHONE_FIELDS, REGION_COLUMN, Mapping
from .normalize import KeyCodes, phone_hashes, stripped_text
from .schema import phones_column, row_regions

__all__ = ["HASH_FIELDS", "candidate_phones", "carried_match", "hashed_columns",
           "keys_against_state", "phone_hashes", "remote_hashes", "source_hashes"]


HASH_FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number")


def _hash_key(mapping: Mapping) -> str:
    """16 characters that change with the mapping (its columns, region, required), so a
    changed mapping never matches an earlier run's row hashes."""
    text = repr((sorted((k, v.kind, v.parts) for k, v in mapping.columns.items()),
                 mapping.region, mapping.required, mapping.region_column))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def hashed_columns(mapped: pd.DataFrame) -> list[str]:
    """What a row's hash covers: the five raw fields, every column of a phone field
    built from several (the first valid one is chosen anew when any changes) and the
    row's country."""
    return list(HASH_FIELDS) + [c for c in mapped.columns
                                if c == REGION_COLUMN or c.split(":")[0] in PHONE_FIELDS
                                and c not in HASH_FIELDS]


def source_hashes(mapped: pd.DataFrame, mapping: Mapping) -> pd.Series:
    """One int64 per mapped row: a hash of its raw fields (vectorized)."""
    frame = mapped[hashed_columns(mapped)].fillna("").astype(str)
    # categorize=False: the same hashes, without factorizing mostly distinct columns first
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=_hash_key(mapping),
                                        categorize=False)
    return pd.Series(hashed.to_numpy().view("int64"), index=mapped.index)


def remote_hashes(remote: pd.DataFrame) -> pd.Series:
    """One int64 per campaign contact: a hash of its five fields as listed (not its
    status, which the dialer changes all day)."""
    frame = remote[list(HASH_FIELDS)]
    if not all(pd.api.types.infer_dtype(frame[c].to_numpy(dtype=object), skipna=False)
               == "string" for c in HASH_FIELDS):  # as the campaign is read: all text
        frame = frame.fillna("").astype(str)
    hashed = pd.util.hash_pandas_object(frame, index=False, categorize=False)
    return pd.Series(hashed.to_numpy().view("int64"), index=remote.index)


def candidate_phones(mapped: pd.DataFrame, mapping: Mapping) -> set[str]:
    """Every valid phone (E.164) the mapped rows could claim: each column of a phone
    field built from several, each read in its row's region."""
    regions = (row_regions(mapped[REGION_COLUMN].fillna("").astype(str), mapping.region)[0]
               if REGION_COLUMN in mapped else None)
    columns = [c for c in mapped.columns if c == "phone_number" or c.startswith("phone_number:")]
    found: set[str] = set()
    for column in columns:
        value, _, _ = phones_column(mapped[column].fillna("").astype(str), regions,
                                    mapping.region)
        found.update(value[value.notna()].tolist())
    return found - {""}


def keys_against_state(keys: Any, applied: pd.DataFrame, *others: Any) -> tuple[Any, Any, Any]:
    """The source keys, the state's keys and `others` as one `KeyCodes`; per source
    key, the position of the first state row holding it (-1: none); and whether the
    key is filled and appears once in the source (only such a row can be carried)."""
    codes = KeyCodes(keys, applied["key"].to_numpy(dtype=object), *others)
    s_codes, a_codes = codes.parts[:2]
    at = codes.first_of(a_codes)[s_codes]
    once = (keys != "") & (codes.count(s_codes) == 1)[s_codes]
    return codes, at, once


def carried_match(mapped: pd.DataFrame, mapping: Mapping, remote: pd.DataFrame,
                  applied: pd.DataFrame, hashes: pd.Series | None = None
                  ) -> tuple[pd.Series, pd.DataFrame | None, Any]:
    """Rows that need no normalization or comparison: the same key and row hash as
    the last applied run, a campaign contact with that key whose listed fields hash as
    they did after that run, and a key that appears once in the source and once in
    the campaign. Everything else goes the full way.

    Also returns what it looked up, so the caller need not join again: the applied
    rows, and each mapped row's position among them (the first with its key; -1:
    none). Every key (source, applied, campaign) is hashed once, in one factorization."""
    if applied is None or applied.empty or mapped.empty:
        return pd.Series(False, index=mapped.index), None, None

    keys = stripped_text(mapped["external_unique_id"]).to_numpy(dtype=object)
    if hashes is None:
        hashes = source_hashes(mapped, mapping)
    rkeys = stripped_text(remote["external_unique_id"]).to_numpy(dtype=object)
    codes, at, once = keys_against_state(keys, applied, rkeys)
    s_codes, _a_codes, r_codes = codes.parts
    # the campaign contact of each key held by exactly one contact
    rat = codes.only_of(r_codes, rkeys != "")[s_codes]
    found = (at >= 0) & (rat >= 0)
    stored_row = applied["row_hash"].to_numpy(dtype="int64")
    stored_remote = applied["remote_hash"].fillna(0).to_numpy(dtype="int64")
    has_remote = applied["remote_hash"].notna().to_numpy()
    now_remote = remote_hashes(remote).to_numpy(dtype="int64")
    same = np.zeros(len(keys), dtype=bool)
    i = np.flatnonzero(found)
    same[i] = ((stored_row[at[i]] == hashes.to_numpy()[i]) & has_remote[at[i]]
               & (stored_remote[at[i]] == now_remote[rat[i]]))
    same &= once
    return pd.Series(same, index=mapped.index), applied, at
