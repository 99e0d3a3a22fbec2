"""A plan worked out in parts equals the whole plan (plan.parts), on generated data where
every rule that looks across keys is in play: phones shared between keys (phone in
use, waves, swaps), keys differing only in case or spacing, rejected rows protecting a
contact by phone or email, carried rows known by their phone's hash, holds, suppression
lists and opt-outs, duplicate campaign keys, unmanaged contacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.normalize import TEXT, phone_hashes
from connector.plan import Plan, PlanOptions, build_plan, remote_frame
from connector.plan.compliance import Compliance
from connector.plan.parts import build_plan_parts, by_part, parts_for
from connector.validate.schema import normalize_contacts

FIELDS = ["external_unique_id", "name", "email", "phone_number", "outbound_number"]
KEYS = [f"k{i}" for i in range(10)] + ["K1", " k2 ", "k 3", ""]
PHONES = [f"201-471-{6990 + i}" for i in range(7)] + ["bad", ""]
EMAILS = ["a@x.com", "B@x.com", "b@x.com", "", "not-an-email"]

keys = st.sampled_from(KEYS)
phones = st.sampled_from(PHONES)
emails = st.sampled_from(EMAILS)
names = st.sampled_from(["Ann", "Bob", "Cy", ""])
statuses = st.sampled_from(["Upcoming", "Dialing", "Finished", "Do Not Call", "Odd"])


def source(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    data: dict[str, list] = {f: [] for f in FIELDS}
    for key, name, email, phone in rows:
        for f, v in zip(FIELDS, (key, name, email, phone, "")):
            data[f].append(v)
    data["__line__"] = list(range(2, len(rows) + 2))
    return pd.DataFrame(data)


def e164(text: str) -> str:
    digits = "".join(c for c in text if c.isdigit())
    return f"+1{digits}" if len(digits) == 10 else text


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A plan table compared as text (parts hold Arrow strings, the whole objects)."""
    out = frame.reset_index(drop=True).copy()
    for c in out.columns:
        out[c] = out[c].astype(object).where(out[c].notna(), None).astype(str)
    return out


def same(parts: Plan, whole: Plan) -> None:
    for name in ("rows", "remote", "conflicts", "rejects"):
        pd.testing.assert_frame_equal(as_text(getattr(parts, name)),
                                      as_text(getattr(whole, name)), obj=name)
    assert parts.unknown_statuses == whole.unknown_statuses
    assert parts.outbound_differences == whole.outbound_differences
    assert parts.refused == whole.refused
    assert parts.counts() == whole.counts()
    assert [w[:7] for w in parts.writes()] == [w[:7] for w in whole.writes()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(keys, names, emails, phones), max_size=14),
       st.lists(st.tuples(keys, names, emails, phones, statuses, st.booleans()), max_size=14),
       st.sampled_from(["add-only", "upsert", "mirror"]),
       st.integers(1, 4),
       st.lists(st.sampled_from(KEYS[:10]), max_size=3),
       st.lists(st.sampled_from(PHONES[:7]), max_size=2),
       st.lists(st.sampled_from(PHONES[:7]), max_size=2),
       st.lists(st.tuples(st.sampled_from(KEYS[:10]), phones), max_size=3, unique_by=lambda t: t[0]),
       st.booleans())
def test_parts_equal_the_whole_plan(src_rows, rem_rows, mode, part_rows, hold, suppressed,
                                    opted_out, carried_rows, text_columns):
    v = normalize_contacts(source(src_rows), region="US")
    rem = remote_frame([{"id": i, "external_unique_id": k, "name": n, "email": e,
                         "phone_number": p, "status": s}
                        for i, (k, n, e, p, s, _) in enumerate(rem_rows)])
    # a contact without an id now and then
    no_id = [i for i, r in enumerate(rem_rows) if r[5] and i % 3 == 0]
    if no_id:
        rem.loc[no_id, "remote_id"] = pd.NA
    carried = None
    if carried_rows:
        valid_keys = set(v.valid["external_unique_id"])
        kept = [(k, p) for k, p in carried_rows if k not in valid_keys]
        if kept:
            hashes = phone_hashes([e164(p) for _, p in kept]).to_numpy()
            carried = pd.DataFrame({
                "line": np.arange(100, 100 + len(kept), dtype="int64"),
                "external_unique_id": [k for k, _ in kept],
                "phone_hash": pd.array([h if p not in ("", "bad") else None
                                        for h, (_, p) in zip(hashes, kept)], dtype="Int64")})
    compliance = Compliance(phones={e164(p): "list.csv" for p in suppressed},
                            opted_out={e164(p): "opted out" for p in opted_out})
    options = PlanOptions(mode=mode, region="US", max_delete_fraction=0.5)
    kwargs = dict(carried=carried, protect=v.rejected_rows, hold=hold, compliance=compliance,
                  meta={"source": "s.csv"})
    whole = build_plan(v.valid, v.rejects, rem, options, **kwargs)
    valid, remote = v.valid, rem
    if text_columns:  # the parts take Arrow text as the pipeline holds it
        valid = valid.astype({c: TEXT for c in FIELDS})
        remote = remote.astype({c: TEXT for c in remote.columns if c != "remote_id"})
    parts = build_plan_parts(valid, v.rejects, remote, options, part_rows=part_rows, **kwargs)
    same(parts, whole)


def test_parts_for():
    assert parts_for(0) == 1 and parts_for(10, 10) == 1 and parts_for(11, 10) == 2


def test_a_phone_chain_across_parts_keeps_its_waves():
    """Updates that take the phone another update frees, over many keys: whatever part
    each key hashes to, the chain is planned in one and keeps its waves."""
    n = 12
    phone = [f"+1201471{7000 + i}" for i in range(n + 1)]
    src = source([(f"c{i}", "Ann", "", phone[i + 1]) for i in range(n)])
    rem = remote_frame([{"id": i, "external_unique_id": f"c{i}", "name": "Ann",
                         "phone_number": phone[i], "status": "Upcoming"} for i in range(n)])
    v = normalize_contacts(src, region="US")
    options = PlanOptions(mode="upsert", region="US")
    whole = build_plan(v.valid, v.rejects, rem, options)
    assert sorted(whole.rows["wave"].dropna().astype(int).tolist()) == list(range(n))
    same(build_plan_parts(v.valid, v.rejects, rem, options, part_rows=1), whole)


@given(st.integers(1, 6).flatmap(lambda parts: st.tuples(
    st.just(parts), st.lists(st.integers(0, parts - 1), max_size=40))))
def test_by_part_is_each_parts_positions(case):
    parts, ids = case
    part = np.array(ids, dtype=np.int64)
    got = by_part(part, parts)
    assert len(got) == parts
    for p in range(parts):
        assert got[p].tolist() == np.flatnonzero(part == p).tolist()
