"""What is carried from the last applied run: the hashes the state store keeps of each
source row, campaign contact and phone, and which rows a night need not normalize
or compare again because both sides are as the last run left them.

The state store keeps hashes only (no values); these functions make them, match
them, validate only the rows that changed (`validate_incremental`) and record what a
run applied (`record_applied`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from .extract.mapping import PHONE_FIELDS, REGION_COLUMN, Mapping
from .normalize import (
    TEXT,
    KeyCodes,
    norm_phones,
    phone_hashes,
    positions_in,
    stripped_text,
    taken_at,
)
from .plan import Plan
from .state import StateStore
from .validate import validate_prepared
from .validate.schema import phones_column, row_regions

log = logging.getLogger("campaign_sync.sync")

__all__ = ["HASH_FIELDS", "candidate_phones", "carried_match", "hashed_columns",
           "keys_against_state", "phone_hashes", "remote_hashes", "source_hashes"]


HASH_FIELDS = ("external_unique_id", "name", "email", "phone_number", "outbound_number")

#: rows hashed at a time: their text is turned into Python objects a chunk at a time
HASH_CHUNK = 100_000


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
    columns, key = hashed_columns(mapped), _hash_key(mapping)
    out = np.empty(len(mapped), dtype="int64")
    for start in range(0, len(mapped), HASH_CHUNK):  # a row's hash is its own: chunks agree
        frame = mapped.iloc[start:start + HASH_CHUNK][columns].fillna("").astype(str)
        # categorize=False: the same hashes, without factorizing mostly distinct columns
        out[start:start + len(frame)] = pd.util.hash_pandas_object(
            frame, index=False, hash_key=key, categorize=False).to_numpy().view("int64")
    return pd.Series(out, index=mapped.index)


def remote_hashes(remote: pd.DataFrame) -> pd.Series:
    """One int64 per campaign contact: a hash of its five fields as listed (not its
    status, which the dialer changes all day)."""
    out = np.empty(len(remote), dtype="int64")
    for start in range(0, len(remote), HASH_CHUNK):
        frame = remote.iloc[start:start + HASH_CHUNK][list(HASH_FIELDS)]
        if not all(pd.api.types.infer_dtype(frame[c].to_numpy(dtype=object), skipna=False)
                   == "string" for c in HASH_FIELDS):  # as the campaign is read: all text
            frame = frame.fillna("").astype(str)
        out[start:start + len(frame)] = pd.util.hash_pandas_object(
            frame, index=False, categorize=False).to_numpy().view("int64")
    return pd.Series(out, index=remote.index)


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


def full_check_due(store: StateStore, campaign_id: int, every: int) -> bool:
    """True when the last `every - 1` finished syncs were all incremental."""
    recent = [r for r in store.runs(campaign_id, limit=every * 3)
              if r.command == "sync"
              and r.status in ("done", "done_with_rejects", "partial")][:max(0, every - 1)]
    if len(recent) < every - 1:
        return not recent and every == 1
    return not any(r.options.get("full_check") for r in recent)


def remote_from_state(applied: pd.DataFrame) -> pd.DataFrame:
    """The campaign as the state store knows it (--trust-state): keys and ids only.
    Rows whose source changed are compared against blanks, so every field they have
    is patched (idempotent). Phones are unknown, so phone_in_use is left to the
    platform (a refused patch is reported failed; an import is bisected)."""
    n = len(applied)
    return pd.DataFrame({
        "remote_id": pd.array(applied["remote_id"].to_numpy(), dtype="Int64"),
        "external_unique_id": applied["key"].to_numpy(), "name": [""] * n, "email": [""] * n,
        "phone_number": [""] * n,
        "outbound_number": [""] * n, "status": [""] * n})


def validate_incremental(store: StateStore, campaign_id: int, info: Any, source: pd.DataFrame,
                          mapping: Any, mapped: pd.DataFrame, remote: pd.DataFrame, *,
                          full: bool, trusting: bool = False,
                          applied: pd.DataFrame | None = None,
                          hashes: pd.Series | None = None) -> Any:
    """Validate, skipping the rows that are exactly as the last applied run left them
    on both sides. Falls back to the full path when a re-checked row's phone is one a
    skipped row holds (duplicate_phone must then be decided over every row)."""
    if applied is None:
        applied = store.applied(campaign_id)
    if hashes is None:
        hashes = source_hashes(mapped, mapping)
    if trusting:  # a row as last applied (the first state row with its key), key once
        keys = stripped_text(mapped["external_unique_id"]).to_numpy(dtype=object)
        _codes, at, once = keys_against_state(keys, applied)
        stored = applied["row_hash"].to_numpy(dtype="int64")
        same = np.zeros(len(keys), dtype=bool)
        hit = np.flatnonzero(at >= 0)
        same[hit] = stored[at[hit]] == hashes.to_numpy()[hit]
        same &= once
        return validate_prepared(info, source, mapping, mapped,
                                 pd.Series(same, index=mapped.index))
    if full:
        return validate_prepared(info, source, mapping, mapped)
    skip, last, positions = carried_match(mapped, mapping, remote, applied, hashes)
    if not skip.any():
        return validate_prepared(info, source, mapping, mapped)
    validated = validate_prepared(info, source, mapping, mapped, skip)
    # the carried rows' phones: their hash as recorded by the last run (the campaign
    # contact is unchanged since), else normalized from the campaign (older stores);
    # carried rows are the skipped ones in order, each found in `last` by carried_match
    carried_keys = validated.carried["external_unique_id"].to_numpy(dtype=object)
    at = positions[skip.to_numpy()]
    recorded = pd.array(last["phone_hash"], dtype="Int64")[at]
    known = ~recorded.isna()
    # the plan matches phones of carried contacts by these hashes instead of
    # normalizing every campaign phone again
    validated.carried["phone_hash"] = recorded
    held = recorded[known].to_numpy(dtype="int64")
    if not known.all():
        unknown = set(carried_keys[~known])
        rkeys = stripped_text(remote["external_unique_id"])
        phones = set(norm_phones(remote.loc[rkeys.isin(unknown), "phone_number"],
                                  mapping.region)) - {""}
        held = np.concatenate([held, phone_hashes(sorted(phones)).to_numpy()])
    fresh = (set(validated.result.valid["phone_number"])
             | candidate_phones(mapped.loc[~skip], mapping)) - {""}
    # (pandas' isin hashes the few fresh phones; np.isin would sort a million)
    if pd.Series(held).isin(phone_hashes(sorted(fresh)).to_numpy()).any():
        log.info("a re-checked row's phone is held by a carried one: validating every row")
        return validate_prepared(info, source, mapping, mapped)
    return validated


def record_applied(store: StateStore, campaign_id: int, run_id: int, plan: Plan,
                   validated: Any, after: pd.DataFrame | None,
                   hashes: pd.Series | None = None) -> None:
    """The last applied state of every contact this run added, updated or found equal
    (confirmed only): the source row's hash and the campaign contact's hash as read
    after the run; and forget the ones it deleted. Rows carried over are left as
    they are (their hashes did not change), and only the recorded rows are hashed
    and looked up, so a night that changed 1% records 1%.

    The rows are matched as tables (joins by key, not dicts of a million keys) and
    handed to the store `RECORD_BATCH` at a time, in one transaction."""
    if validated.mapped is None:
        return
    done = store.done_frame(run_id)
    removed = done.loc[done["kind"].eq("delete") & done["key"].ne(""), "key"]
    rows = plan.rows
    keep = (rows["action"].isin(["add", "update", "unchanged"])
            & rows["reason"].ne("same_as_last_run")).to_numpy()
    kept = pd.DataFrame({
        "key": pd.array(rows.loc[keep, "external_unique_id"], dtype=TEXT),
        "action": rows.loc[keep, "action"].astype("category"),
        # the phone the contact holds after the run: the source's E.164 (added, patched
        # or found equal); unknown when the source left it blank ... but not for a row
        # add-only mode left alone: its contact may hold another phone
        "phone": pd.array(rows.loc[keep, "phone_number"].where(
            rows.loc[keep, "reason"].ne("add_only"), "").fillna(""), dtype=TEXT),
        "plan_id": pd.array(rows.loc[keep, "remote_id"], dtype="Int64")})
    # adds and updates count only when the store says they were done
    unsent = np.zeros(len(kept), dtype=bool)
    for action in ("add", "update"):
        mine = kept["action"].eq(action).to_numpy(dtype=bool)
        if mine.any():
            unsent[mine] = positions_in(kept.loc[mine, "key"],
                                        done.loc[done["kind"].eq(action), "key"]) < 0
    kept = kept[~unsent].reset_index(drop=True)
    src = _source_table(validated, kept["key"], hashes)
    at = positions_in(kept["key"], src["key"])
    kept = kept[at >= 0].reset_index(drop=True)
    kept["row_hash"] = src["row_hash"].to_numpy()[at[at >= 0]]
    if after is None:  # --trust-state: no read after the run; ids from the operations
        ids = _done_ids(done)
        at = positions_in(kept["key"], ids["key"])
        kept["remote_hash"] = pd.array([None] * len(kept), dtype="Int64")
        kept["remote_id"] = pd.array(taken_at(ids["remote_id"].to_numpy(dtype=object), at,
                                              kept["plan_id"].to_numpy(dtype=object)),
                                     dtype="Int64")
    else:
        table = _after_table(after, kept["key"])
        at = positions_in(kept["key"], table["key"])
        kept = kept[at >= 0].reset_index(drop=True)
        found = at[at >= 0]
        kept["remote_hash"] = table["remote_hash"].to_numpy()[found]
        kept["remote_id"] = table["remote_id"].array[found]
    store.record_applied(campaign_id, run_id, _applied_rows(kept),
                         removed.to_numpy(dtype=object))


#: applied rows handed to the state store at a time
RECORD_BATCH = 50_000


def _source_table(validated: Any, wanted: Any, hashes: pd.Series | None) -> pd.DataFrame:
    """(key, row_hash) of the mapped rows whose key is wanted (the last row of a key)."""
    mapped = validated.mapped
    mkeys = stripped_text(mapped["external_unique_id"])
    mine = positions_in(mkeys, wanted) >= 0
    values = (source_hashes(mapped[mine], validated.mapping) if hashes is None
              else hashes[mine])
    return pd.DataFrame({"key": pd.array(mkeys[mine], dtype=TEXT),
                         "row_hash": values.to_numpy()}).drop_duplicates("key", keep="last")


def _after_table(after: pd.DataFrame, wanted: Any) -> pd.DataFrame:
    """(key, remote_hash, remote_id) of the contacts read after the run with a wanted
    key that no other contact holds: duplicates of a wanted key are all among the
    wanted ones, so only those are looked at."""
    akeys = stripped_text(after["external_unique_id"])
    single = (positions_in(akeys, wanted) >= 0) & akeys.ne("").to_numpy(dtype=bool)
    single[single] = ~akeys[single].duplicated(keep=False).to_numpy()
    return pd.DataFrame({"key": pd.array(akeys[single], dtype=TEXT),
                         "remote_hash": remote_hashes(after[single]).to_numpy(),
                         "remote_id": pd.array(after.loc[single, "remote_id"], dtype="Int64")})


def _done_ids(done: pd.DataFrame) -> pd.DataFrame:
    """key -> the remote id of its done operation (of the kind first done, the last id
    given), as a --trust-state night records it."""
    first = done.drop_duplicates(["kind", "key"], keep="first").reset_index()
    last = done.drop_duplicates(["kind", "key"], keep="last")[["kind", "key", "remote_id"]]
    ids = first[["index", "kind", "key"]].merge(last, on=["kind", "key"], how="left")
    ids = ids.sort_values("index", kind="stable").drop_duplicates("key", keep="last")
    return pd.DataFrame({"key": ids["key"].to_numpy(), "remote_id": ids["remote_id"].to_numpy()})


def _applied_rows(kept: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """(key, row hash, remote hash, remote id, phone hash) per kept row, made a batch
    at a time as the store consumes them."""
    for start in range(0, len(kept), RECORD_BATCH):
        part = kept.iloc[start:start + RECORD_BATCH]
        phones = part["phone"].to_numpy(dtype=object)
        for key, rhash, remhash, rid, phone, phash in zip(
                part["key"].to_numpy(dtype=object), part["row_hash"].to_numpy(),
                part["remote_hash"].to_numpy(dtype=object),
                part["remote_id"].to_numpy(dtype=object), phones,
                phone_hashes(phones).to_numpy() if len(phones) else ()):
            yield (key, int(rhash), None if remhash is None or pd.isna(remhash) else int(remhash),
                   None if rid is None or pd.isna(rid) else int(rid),
                   int(phash) if phone else None)
