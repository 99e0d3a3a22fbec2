"""Phone ownership: which campaign contact holds each phone after the plan, which
adds and updates would take a phone another contact keeps (phone_in_use), and the
waves that let an update take a phone another update frees."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..normalize import phone_hashes


def carried_phone_hashes(carried: pd.DataFrame | None, carried_at: np.ndarray
                          ) -> pd.Series | None:
    """Per campaign contact, the phone hash recorded for it when it is a carried row's
    contact (`carried` has a ``phone_hash`` column: see `incremental.validate_incremental`),
    else NA; None when no carried row has one. carried_at: `carried_positions`."""
    if carried is None or "phone_hash" not in carried or not len(carried):
        return None
    hashes = carried["phone_hash"]
    known = hashes.notna().to_numpy()
    if not known.any():
        return None
    values = hashes.to_numpy(dtype="int64", na_value=0)
    found = carried_at >= 0
    found[found] = known[carried_at[found]]
    return pd.Series(pd.arrays.IntegerArray(np.where(found, values[carried_at], 0), ~found))


def phone_holders(rem: pd.DataFrame, held: pd.Series | None
                   ) -> tuple[pd.Series, Callable[[pd.Series], pd.Series]]:
    """The first campaign contact holding each phone (deleted ones hold none), as a
    Series key by phone, and how to turn source phones into that Series' index: the
    E.164 text itself, or (with `held`, the carried contacts' recorded phone hashes)
    the phone's hash, which carried and normalized phones alike have."""
    live = ~rem["action"].eq("deleted").to_numpy()
    phones = rem["n_phone_number"].to_numpy(dtype=object)
    as_index: Callable[[pd.Series], pd.Series] = lambda phone: phone  # noqa: E731
    if held is None:
        ident, has = phones, phones != ""
    else:
        ident = held.to_numpy(dtype="int64", na_value=0).copy()
        has = held.notna().to_numpy().copy()
        other = ~has & (phones != "")
        if other.any():
            ident[other] = phone_hashes(phones[other]).to_numpy()
        has |= other

        def as_index(phone: pd.Series) -> pd.Series:
            return pd.Series(phone_hashes(phone.to_numpy(dtype=object)).to_numpy(),
                             index=phone.index)
    has &= live
    holders = pd.DataFrame({"phone": ident[has], "key": rem["key"].to_numpy(dtype=object)[has]})
    holders = holders.drop_duplicates("phone")
    return pd.Series(holders["key"].to_numpy(), index=holders["phone"].to_numpy()), as_index


def phone_conflicts(rows: pd.DataFrame, rem: pd.DataFrame, held: pd.Series | None = None
                     ) -> tuple[pd.Series, dict[int, int]]:
    """Reject (phone_in_use) each add or update whose phone another campaign contact
    keeps after this plan. A phone is free when its holder is deleted (deletes go
    first) or, for adds, updated to another phone (updates go before adds). An
    update may take a phone that another update frees: it then goes in a later
    wave, after that one; updates that would swap phones (a cycle) are rejected.
    Returns the rejected rows' mask and the wave of every update taking a freed phone.
    `held`: see `carried_phone_hashes` (phones are then matched by their hashes).
    """
    holder_key, as_index = phone_holders(rem, held)
    keys = rows["external_unique_id"]
    phone = rows["phone_number"]
    owner = as_index(phone).map(holder_key).where(phone.ne(""))
    foreign = owner.notna() & owner.ne(keys) & phone.ne("")
    clash = pd.Series(False, index=rows.index)
    waves: dict[int, int] = {}
    if not foreign.any():
        return clash, waves
    while True:
        is_add = rows["action"].eq("add")
        is_move = rows["action"].eq("update") & rows["changed"].str.contains("phone_number")
        movers = dict(zip(keys[is_move], rows.index[is_move]))  # key -> row moving away
        candidates = foreign & (is_add | is_move)
        freed = owner.isin(movers.keys())
        bad = candidates & ~freed
        # updates that take a phone another update frees: order them, refuse cycles
        deps = {i: movers[owner.at[i]] for i in rows.index[candidates & freed & is_move]}
        waves = {}
        for start in deps:
            chain, node = [], start
            on_chain: set[int] = set()
            while node in deps and node not in waves and node not in on_chain:
                chain.append(node)
                on_chain.add(node)
                node = deps[node]
            if node in on_chain:  # a cycle: every update on it is refused
                cycle = chain[chain.index(node):]
                bad.loc[cycle] = True
                for i in cycle:
                    waves[i] = -1
                chain = chain[:chain.index(node)]
                base = -1
            else:
                base = waves.get(node, 0)
            for i in reversed(chain):
                base = -1 if base < 0 else base + 1
                waves[i] = base
        bad |= pd.Series({i: True for i, w in waves.items() if w < 0}, dtype=bool).reindex(
            rows.index, fill_value=False)
        if not bad.any():
            break
        rows.loc[bad, ["action", "reason"]] = ("rejected", "phone_in_use")
        rows.loc[bad, "detail"] = ("the campaign contact with key " + owner[bad].map(
            lambda k: repr(k) if k else "(none, unmanaged)") + " has " + phone[bad])
        rows.loc[bad, "changed"] = ""
        clash |= bad
        foreign &= ~bad
    return clash, {i: w for i, w in waves.items() if w >= 0}
