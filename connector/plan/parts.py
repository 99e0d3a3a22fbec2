"""A large plan worked out in parts: the source rows and the campaign's contacts split
by a hash of their key, each part planned by `build_plan` as Python objects, its
tables turned back into Arrow text, the parts joined. Memory then grows with the
Arrow tables (a quarter of Python objects), not with the objects of the whole.

What makes a part's plan equal the whole plan: everything `build_plan` decides about
a row or a contact depends on the rows and contacts that share its key, but for a few
rules that look across keys. Each of those puts what it links in one part:

- keys that differ only in case or spacing (mirror's ``key_differs``): the part is
  chosen by the folded key;
- a phone (``phone_in_use``, the waves of updates that take a freed phone): every
  source row and campaign contact with one phone, whatever their keys, are linked;
- a rejected row protects a contact by its phone or email: linked to every contact
  with that phone or email.

Linked keys form groups (a union-find over the few keys that share a phone with
another key); a group goes to the part of its first member. Linking more than needed
is safe (a hash collision only puts two groups in one part), linking less is not.
The property test (tests/plan/test_parts.py) checks parts == whole on generated data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..normalize import (
    TEXT,
    as_text,
    compact_text,
    folded_keys,
    joined_arrays,
    norm_phones,
    one_chunk,
    phone_hashes,
    stripped_text,
)
from .compliance import Compliance
from .match import build_plan
from .model import REJECT_COLUMNS, Plan, PlanOptions, empty_frame
from .safety import delete_refusal, protect_from

#: rows (source rows or campaign contacts, the larger side) per part: small enough
#: that a part's objects stay small, large enough that the parts' fixed costs vanish.
#: A 1M x 1M plan in a probe of the process: 100,000 rows, peak 1,211 MiB in 45.9 s;
#: 200,000 rows, 1,346 MiB in 53.7 s (same run, one after the other)
PART_ROWS = 100_000
#: rows turned into objects at a time while the keys and phones are hashed
CHUNK = 100_000


def parts_for(rows: int, part_rows: int | None = None) -> int:
    """How many parts a plan of `rows` (the larger side) is worked out in."""
    return max(1, math.ceil(rows / (part_rows or PART_ROWS)))


def build_plan_parts(valid: pd.DataFrame, rejects: pd.DataFrame, remote: pd.DataFrame,
                     options: PlanOptions, *, meta: Mapping[str, Any] | None = None,
                     carried: pd.DataFrame | None = None,
                     protect: pd.DataFrame | None = None, hold: Collection[str] = (),
                     compliance: Compliance | None = None,
                     part_rows: int | None = None,
                     between_parts: Callable[[], None] | None = None) -> Plan:
    """`build_plan` (same arguments, same plan), worked out in parts of about
    `part_rows` rows when the source or the campaign is larger; the plan's text
    columns are then held as Arrow strings. `between_parts` is called after each
    part (the caller's way to hand the part's freed memory back)."""
    n_carried = 0 if carried is None else len(carried)
    n = max(len(valid) + n_carried, len(remote))
    parts = parts_for(n, part_rows)
    if parts == 1:
        return build_plan(objects(valid), rejects, objects(remote), options, meta=meta,
                          carried=carried, protect=protect, hold=hold,
                          compliance=compliance)
    if protect is None:
        protect = protect_from(rejects)
    if rejects is None:
        rejects = empty_frame(REJECT_COLUMNS)
    region = options.region
    carried_keys = (set(carried.loc[carried["phone_hash"].notna(), "external_unique_id"])
                    if carried is not None and "phone_hash" in carried else set())
    links = Links()
    # -- every entity's node (its folded key) and what links it to others
    v_node = key_nodes(valid["external_unique_id"])
    links.add("phone", text_ids(valid["phone_number"]), v_node)
    r_node, n_phone, r_phone = remote_nodes(remote, region, carried_keys)
    links.add("phone", r_phone, r_node)
    c_node = (key_nodes(carried["external_unique_id"]) if n_carried
              else np.zeros(0, dtype=np.int64))
    if n_carried and "phone_hash" in carried:
        known = carried["phone_hash"].notna().to_numpy()
        ids = np.zeros(n_carried, dtype=np.int64)
        ids[known] = carried["phone_hash"].to_numpy(dtype="int64", na_value=0)[known]
        links.add("phone", np.where(known, ids, 0), c_node, known)
    p_node = line_nodes(protect["key"], protect["line"])
    if len(protect):
        links.add("phone", text_ids(protect["phone_number"].fillna("").astype(str)), p_node)
        emails = protect["email"].fillna("").astype(str).str.lower()
        if emails.ne("").any():
            wanted = set(emails[emails.ne("")])
            links.add("email", text_ids(emails), p_node)
            links.add("email", remote_email_ids(remote, wanted), r_node)
    rej_node = line_nodes(rejects["key"], rejects["line"]) if len(rejects) else np.zeros(
        0, dtype=np.int64)
    group = links.groups()

    def part_of(nodes: np.ndarray) -> np.ndarray:
        reps = group(nodes)
        return (reps.view(np.uint64) % np.uint64(parts)).astype(np.int64)

    v_part, r_part, p_part = part_of(v_node), part_of(r_node), part_of(p_node)
    c_part, rej_part = part_of(c_node), part_of(rej_node)
    remote = remote.assign(n_phone_number=n_phone)
    # each side's positions by part, found once (a mask per part over every row would
    # cost parts x rows)
    v_at, r_ats, p_at = by_part(v_part, parts), by_part(r_part, parts), by_part(p_part, parts)
    c_at, rej_at = by_part(c_part, parts), by_part(rej_part, parts)
    done: list[Plan] = []
    positions: list[np.ndarray] = []
    for p in range(parts):
        r_at = r_ats[p]
        positions.append(r_at)
        plan = build_plan(objects(valid.iloc[v_at[p]]), rejects.iloc[rej_at[p]],
                          objects(remote.iloc[r_at]), options, carried=(
                              carried.iloc[c_at[p]] if n_carried else carried),
                          protect=protect.iloc[p_at[p]], hold=hold, compliance=compliance)
        compact_text(plan.rows)  # the part's tables as Arrow text
        compact_text(plan.remote)
        done.append(plan)
        del plan
        if between_parts is not None:
            between_parts()
    return joined(done, positions, options, meta,
                  has_valid=len(valid) > 0 or n_carried > 0, between=between_parts)


def by_part(part: np.ndarray, parts: int) -> list[np.ndarray]:
    """For each part, the positions whose `part` it is, in ascending order (what
    ``np.flatnonzero(part == p)`` gives), found with one stable sort."""
    order = np.argsort(part, kind="stable")
    ends = np.cumsum(np.bincount(part, minlength=parts))
    return np.split(order, ends[:-1])


def joined(done: list[Plan], positions: list[np.ndarray], options: PlanOptions,
           meta: Mapping[str, Any] | None, *, has_valid: bool,
           between: Callable[[], None] | None = None) -> Plan:
    """The parts' plans as one: rows in line order, contacts in the campaign's order."""
    lines = np.concatenate([d.rows["line"].to_numpy(dtype="int64",
                                                     na_value=np.iinfo(np.int64).max)
                            for d in done])
    rows = stacked([d.rows for d in done], np.argsort(lines, kind="stable"), between)
    remote = stacked([d.remote for d in done],
                     np.argsort(np.concatenate(positions), kind="stable"), between)
    conflicts = pd.concat([d.conflicts for d in done], ignore_index=True).sort_values(
        ["external_unique_id", "remote_id"], kind="stable").reset_index(drop=True)
    problems = pd.concat([d.rejects for d in done], ignore_index=True).sort_values(
        ["line", "field"], kind="stable").reset_index(drop=True)
    unknown: dict[str, int] = {}
    for d in done:
        for status, count in d.unknown_statuses.items():
            unknown[status] = unknown.get(status, 0) + count
    plan = Plan(options=options, rows=rows, remote=remote, conflicts=conflicts,
                rejects=problems,
                unknown_statuses=dict(sorted(unknown.items(), key=lambda kv: -kv[1])),
                outbound_differences=sum(d.outbound_differences for d in done),
                meta=dict(meta or {}))
    plan.refused = delete_refusal(plan, has_valid=has_valid)
    return plan


def stacked(frames: list[pd.DataFrame], order: np.ndarray,
            between: Callable[[], None] | None = None) -> pd.DataFrame:
    """The frames one under the other, rows taken in `order`: a column at a time, so
    only one column is ever held twice (`between` is called after each column: the
    caller's way to hand the freed one back)."""
    columns = {}
    for c in frames[0].columns:
        joined = one_chunk(pd.concat([f[c] for f in frames], ignore_index=True))
        for f in frames:
            del f[c]
        columns[c] = joined.take(order).reset_index(drop=True)
        del joined
        if between is not None:
            between()
    return pd.DataFrame(columns)


def objects(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its Arrow text columns as Python objects (what `build_plan`
    works on); object frames are returned as they are."""
    text = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    if not text:
        return frame
    out = frame.copy(deep=False)
    for c in text:
        out[c] = frame[c].to_numpy(dtype=object, na_value="")
    return out


# ------------------------------------------------------------------ nodes and links


def fold_hashes(keys: Any) -> np.ndarray:
    """Per key, a hash of it folded as `safety.fold_key` folds it (no whitespace,
    case-folded, `normalize.folded_keys`): keys equal but for case or spacing hash
    alike."""
    return pd.util.hash_array(folded_keys(keys), categorize=False).view(np.int64)


def chunks(n: int) -> list[slice]:
    return [slice(i, min(n, i + CHUNK)) for i in range(0, n, CHUNK)] or [slice(0, 0)]


def key_nodes(keys: pd.Series) -> np.ndarray:
    """The node of each key: the hash of its folded form."""
    out = np.zeros(len(keys), dtype=np.int64)
    for s in chunks(len(keys)):
        out[s] = fold_hashes(keys.iloc[s])  # folding removes the spaces strip() would
    return out


def line_nodes(keys: pd.Series, lines: pd.Series) -> np.ndarray:
    """A rejected row's node: its key's, or (no key) one of its own, by its line."""
    key = stripped_text(keys).to_numpy(dtype=object)
    out = fold_hashes(key) if len(key) else np.zeros(0, dtype=np.int64)
    blank = key == ""
    if blank.any():
        own = np.array([f"\x00line {int(x)}" for x in np.asarray(lines)[blank]], dtype=object)
        out[blank] = pd.util.hash_array(own, categorize=False).view(np.int64)
    return out


def text_ids(values: pd.Series) -> np.ndarray:
    """The hash of each text (a phone in E.164, an email), the one the state store
    keeps of a phone (`normalize.phone_hashes`); 0 for none."""
    cells = values.to_numpy(dtype=object, na_value="")
    out = np.zeros(len(cells), dtype=np.int64)
    has = cells != ""
    if has.any():
        out[has] = phone_hashes(cells[has]).to_numpy()
    return out


def remote_nodes(remote: pd.DataFrame, region: str | None, carried_keys: set[str]
                 ) -> tuple[np.ndarray, Any, np.ndarray]:
    """Per campaign contact: its node (folded key; a node of its own when it has no
    key), its phone as `build_plan` compares it (E.164; "" for a contact whose phone
    the last run recorded, which `build_plan` knows by that hash), and that phone's
    hash (0: none). Done a chunk of objects at a time."""
    n = len(remote)
    node = np.zeros(n, dtype=np.int64)
    phone = np.zeros(n, dtype=np.int64)
    n_phone: list[Any] = []
    for s in chunks(n):
        part = remote.iloc[s]
        keys = stripped_text(part["external_unique_id"]).to_numpy(dtype=object)
        node[s] = fold_hashes(keys)
        blank = keys == ""
        if blank.any():
            own = np.array([f"\x00contact {i}" for i in np.flatnonzero(blank) + s.start],
                           dtype=object)
            node[s][blank] = pd.util.hash_array(own, categorize=False).view(np.int64)
        # a contact whose phone the last run recorded is not normalized again (as in
        # build_plan): on a night, that is all but the changed ones
        held = (np.fromiter((k in carried_keys for k in keys), bool, len(keys))
                if carried_keys else np.zeros(len(keys), dtype=bool))
        values = np.full(len(keys), "", dtype=object)
        if not held.all():
            phones = as_text(part["phone_number"])[~held]
            values[~held] = norm_phones(phones, region).to_numpy(dtype=object)
        phone[s] = text_ids(pd.Series(values, dtype=object))
        n_phone.append(pd.array(values, dtype=TEXT))
    return node, joined_arrays(n_phone), phone


def remote_email_ids(remote: pd.DataFrame, wanted: set[str]) -> np.ndarray:
    """The hash of each contact's email (as `safety.protected_contacts` compares it)
    when a rejected row has it; 0 elsewhere."""
    out = np.zeros(len(remote), dtype=np.int64)
    for s in chunks(len(remote)):
        emails = as_text(remote["email"].iloc[s]).str.strip().str.lower()
        hit = emails.isin(wanted).to_numpy()
        if hit.any():
            ids = text_ids(emails[hit])
            out[np.flatnonzero(hit) + s.start] = ids
    return out


SALTS = {"phone": 0x5A17_0001, "email": 0x5A17_0002}


class Links:
    """Nodes that share a phone or an email, joined into groups."""

    def __init__(self) -> None:
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, kind: str, ids: np.ndarray, nodes: np.ndarray,
            where: np.ndarray | None = None) -> None:
        """Link the `nodes` with equal `ids` (0: no id) of one kind."""
        has = ids != 0
        if where is not None:
            has &= where
        if not has.any():
            return
        salt = np.int64(SALTS[kind])  # phones and emails apart
        self.pairs.append((ids[has] ^ salt, nodes[has]))

    def groups(self) -> Any:
        """A function: nodes -> the node standing for each one's group."""
        if not self.pairs:
            return lambda nodes: nodes
        ids = np.concatenate([p[0] for p in self.pairs])
        nodes = np.concatenate([p[1] for p in self.pairs])
        self.pairs = []
        order = np.lexsort((nodes, ids))
        ids, nodes = ids[order], nodes[order]
        # (id, node) pairs once each; then the ids held by more than one node
        fresh = np.ones(len(ids), dtype=bool)
        fresh[1:] = (ids[1:] != ids[:-1]) | (nodes[1:] != nodes[:-1])
        ids, nodes = ids[fresh], nodes[fresh]
        shared = np.zeros(len(ids), dtype=bool)
        same = ids[1:] == ids[:-1]
        shared[1:] |= same
        shared[:-1] |= same
        if not shared.any():
            return lambda nodes: nodes
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(x, x) != root:
                parent[x], x = root, parent[x]
            return root

        last_id, first = None, 0
        for i, node in zip(ids[shared].tolist(), nodes[shared].tolist()):
            if i != last_id:
                last_id, first = i, node
                continue
            a, b = find(first), find(node)
            if a != b:
                parent[max(a, b)] = min(a, b)
        members = np.fromiter(parent.keys(), dtype=np.int64, count=len(parent))
        reps = np.fromiter((find(x) for x in parent), dtype=np.int64, count=len(parent))
        sort = np.argsort(members)
        members, reps = members[sort], reps[sort]

        def group(values: np.ndarray) -> np.ndarray:
            if not len(values):
                return values
            at = np.searchsorted(members, values)
            at = np.minimum(at, len(members) - 1)
            hit = members[at] == values
            return np.where(hit, reps[at], values)

        return group

