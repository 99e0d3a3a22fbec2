"""build_plan: every rule of "Sync modes" and "Rules that protect data", on small
frames whose outcome is written out row by row."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.plan import (
    REMOTE_ACTIONS,
    SOURCE_ACTIONS,
    Plan,
    PlanOptions,
    build_plan,
    remote_frame,
)
from connector.validate.schema import normalize_contacts

FIELDS = ["external_unique_id", "name", "email", "phone_number", "outbound_number"]


def source(*rows: tuple) -> pd.DataFrame:
    """rows of (key, name, email, phone[, outbound]) from line 2 on."""
    data = {f: [] for f in FIELDS}
    for r in rows:
        r = tuple(r) + ("",) * (5 - len(r))
        for f, v in zip(FIELDS, r):
            data[f].append(v)
    data["__line__"] = list(range(2, len(rows) + 2))
    return pd.DataFrame(data)


def remote(*contacts: dict) -> pd.DataFrame:
    out = []
    for i, c in enumerate(contacts, start=1):
        out.append({"id": c.get("id", 100 + i), "status": "Upcoming", **c})
    return remote_frame(out)


def plan_of(src: pd.DataFrame, rem: pd.DataFrame, mode: str = "upsert", **kw) -> Plan:
    v = normalize_contacts(src, region="US")
    return build_plan(v.valid, v.rejects, rem, PlanOptions(mode=mode, region="US", **kw))


def fate(plan: Plan) -> dict[str, tuple[str, str]]:
    return {r.external_unique_id or f"line{r.line}": (r.action, r.reason)
            for r in plan.rows.itertuples()}


def remote_fate(plan: Plan) -> dict[int, tuple[str, str]]:
    return {int(r.remote_id): (r.action, r.reason) for r in plan.remote.itertuples()}


def test_same_data_formatted_differently_is_unchanged():
    src = source(("a", "Ann  Lee", "Ann@Example.COM", "(201) 471-6992"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann Lee",
                  "email": "Ann@example.com", "phone_number": "+1-(201)-471-6992"})
    plan = plan_of(src, rem)
    assert fate(plan) == {"a": ("unchanged", "same")}
    assert remote_fate(plan) == {1: ("kept", "same")}
    assert not plan.has_writes()


def test_update_lists_changed_fields_with_before_and_after():
    src = source(("a", "Ann Lee", "ann@new.org", "201-471-6993"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann Lee",
                  "email": "ann@old.org", "phone_number": "+12014716992"})
    plan = plan_of(src, rem)
    row = plan.updates.iloc[0]
    assert row["changed"] == "email,phone_number"
    assert (row["before_email"], row["email"]) == ("ann@old.org", "ann@new.org")
    assert (row["before_phone_number"], row["phone_number"]) == ("+12014716992", "+12014716993")
    assert int(row["remote_id"]) == 1
    assert remote_fate(plan) == {1: ("updated", "changed")}


def test_blank_source_value_does_not_clear_the_campaign_value():
    src = source(("a", "Ann Lee", "", "201-471-6992"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann Lee",
                  "email": "ann@old.org", "phone_number": "+12014716992"})
    assert fate(plan_of(src, rem)) == {"a": ("unchanged", "same")}


@pytest.mark.parametrize("mode, expected_rows, expected_remote", [
    ("add-only", {"a": ("unchanged", "add_only"), "new": ("add", "new")},
     {1: ("kept", "same"), 2: ("kept", "kept_not_in_source")}),
    ("upsert", {"a": ("update", "changed"), "new": ("add", "new")},
     {1: ("updated", "changed"), 2: ("kept", "kept_not_in_source")}),
    ("mirror", {"a": ("update", "changed"), "new": ("add", "new")},
     {1: ("updated", "changed"), 2: ("deleted", "not_in_source")}),
])
def test_modes(mode, expected_rows, expected_remote):
    src = source(("a", "Ann Changed", "", "201-471-6992"), ("new", "Neo", "", "201-471-6993"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+12014716992"},
                 {"id": 2, "external_unique_id": "gone", "name": "Gone",
                  "phone_number": "+12014716994"})
    plan = plan_of(src, rem, mode, force=True)
    assert fate(plan) == expected_rows
    assert remote_fate(plan) == expected_remote


def test_unmanaged_contacts_are_never_touched():
    src = source(("a", "Ann", "", "201-471-6992"))
    rem = remote({"id": 1, "external_unique_id": "", "name": "By hand",
                  "phone_number": "+12014716999"},
                 {"id": 2, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+12014716992"})
    plan = plan_of(src, rem, "mirror")
    assert remote_fate(plan) == {1: ("unmanaged", "no_key"), 2: ("kept", "same")}


def test_rejected_row_protects_its_remote_contact_in_mirror():
    src = source(("a", "Ann New", "", "not a phone"), ("b", "Bob", "", "201-471-6993"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+12014716992"},
                 {"id": 2, "external_unique_id": "b", "name": "Bob",
                  "phone_number": "+12014716993"})
    plan = plan_of(src, rem, "mirror")
    assert fate(plan)["a"] == ("rejected", "invalid_phone")
    assert remote_fate(plan) == {1: ("deferred", "source_row_rejected"), 2: ("kept", "same")}
    assert plan.refused is None


@pytest.mark.parametrize("status", ["Dialing", "Queued", "Connected", "Transferred"])
def test_active_contacts_are_deferred(status):
    src = source(("a", "Ann New", "", "201-471-6992"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+12014716992", "status": status},
                 {"id": 2, "external_unique_id": "gone", "name": "Gone",
                  "phone_number": "+12014716994", "status": status})
    plan = plan_of(src, rem, "mirror", force=True)
    assert fate(plan) == {"a": ("deferred", "active_status")}
    assert remote_fate(plan) == {1: ("deferred", "active_status"),
                                 2: ("deferred", "active_status")}
    assert not plan.has_writes()


def test_unknown_status_is_not_active_and_listed():
    src = source(("a", "Ann New", "", "201-471-6992"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+12014716992", "status": "Ringing Somewhere"})
    plan = plan_of(src, rem)
    assert fate(plan) == {"a": ("update", "changed")}
    assert plan.unknown_statuses == {"Ringing Somewhere": 1}
    assert any("Ringing Somewhere" in line for line in plan.summary_lines())


def test_deletes_before_updates_before_adds():
    src = source(("u", "U New", "", "201-471-6992"), ("n", "New", "", "201-471-6993"))
    rem = remote({"id": 1, "external_unique_id": "u", "name": "U",
                  "phone_number": "+12014716992"},
                 {"id": 2, "external_unique_id": "d", "name": "D",
                  "phone_number": "+12014716993"})
    plan = plan_of(src, rem, "mirror", force=True)
    assert [kind for kind, _ in plan.operations()] == ["delete", "update", "add"]
    # the add reuses the deleted contact's phone: fine, the delete goes first
    assert fate(plan)["n"] == ("add", "new")


def test_delete_fraction_refuses_unless_forced():
    src = source(*[(f"k{i}", f"N{i}", "", f"201-471-{6900 + i}") for i in range(8)])
    rem = remote(*[{"id": i, "external_unique_id": f"k{i}", "name": f"N{i}",
                    "phone_number": f"+1201471{6900 + i}"} for i in range(10)])
    plan = plan_of(src, rem, "mirror")             # 2 of 10 = 20% > 10%
    assert plan.refused and "2 of 10" in plan.refused
    assert plan_of(src, rem, "mirror", max_delete_fraction=0.2).refused is None
    assert plan_of(src, rem, "mirror", force=True).refused is None
    assert plan_of(src, rem, "upsert").refused is None


def test_all_rejected_source_deletes_nothing():
    src = source(("", "No key", "", "201-471-6992"))
    rem = remote({"id": 1, "external_unique_id": "x", "name": "X",
                  "phone_number": "+12014716999"})
    plan = plan_of(src, rem, "mirror", max_delete_fraction=1.0)
    assert plan.refused and "no valid rows" in plan.refused


def test_phone_in_use_by_a_kept_contact_rejects_the_add_and_the_update():
    rem = remote({"id": 1, "external_unique_id": "", "name": "By hand",
                  "phone_number": "+1 201 471 6993"},
                 {"id": 2, "external_unique_id": "b", "name": "Bob",
                  "phone_number": "+12014716994"},
                 {"id": 3, "external_unique_id": "keeper", "name": "K",
                  "phone_number": "+12014716995"})
    # "new" wants keeper's phone (keeper is not in the source: upsert keeps it);
    # "b" wants the unmanaged contact's phone
    src = source(("new", "New", "", "201-471-6995"), ("b", "Bob", "", "201-471-6993"))
    plan = plan_of(src, rem)
    assert fate(plan) == {"new": ("rejected", "phone_in_use"), "b": ("rejected", "phone_in_use")}
    assert set(plan.rejects["reason"]) == {"phone_in_use"}
    assert "'keeper'" in plan.rejects.set_index("key").loc["new", "hint"]
    assert remote_fate(plan) == {1: ("unmanaged", "no_key"), 2: ("deferred", "source_row_rejected"),
                                 3: ("kept", "kept_not_in_source")}
    assert not plan.has_writes()


def test_phone_freed_by_a_delete_is_not_in_use():
    src = source(("new", "New", "", "201-471-6995"), *[
        (f"k{i}", "K", "", f"201-471-{6900 + i}") for i in range(20)])
    rem = remote({"id": 1, "external_unique_id": "old", "name": "Old",
                  "phone_number": "+12014716995"}, *[
        {"id": 10 + i, "external_unique_id": f"k{i}", "name": "K",
         "phone_number": f"+1201471{6900 + i}"} for i in range(20)])
    plan = plan_of(src, rem, "mirror")
    assert fate(plan)["new"] == ("add", "new")
    assert remote_fate(plan)[1] == ("deleted", "not_in_source")


def test_duplicate_remote_keys_are_a_conflict_and_neither_is_touched():
    src = source(("dup", "New name", "", "201-471-6992"))
    rem = remote({"id": 1, "external_unique_id": "dup", "name": "One",
                  "phone_number": "+12014716992"},
                 {"id": 2, "external_unique_id": "dup", "name": "Two",
                  "phone_number": "+12014716993"})
    plan = plan_of(src, rem, "mirror", force=True)
    assert fate(plan) == {"dup": ("deferred", "remote_conflict")}
    assert remote_fate(plan) == {1: ("kept", "remote_conflict"), 2: ("kept", "remote_conflict")}
    assert plan.counts()["conflicts"] == 1
    assert len(plan.conflicts) == 2


def test_remote_contact_without_id_is_not_patched():
    src = source(("a", "Ann New", "", "201-471-6992"))
    rem = remote_frame([{"id": None, "external_unique_id": "a", "name": "Ann",
                         "phone_number": "+12014716992", "status": "Upcoming"}])
    plan = plan_of(src, rem)
    assert fate(plan) == {"a": ("deferred", "no_remote_id")}
    assert plan.remote["action"].tolist() == ["deferred"]


def test_outbound_difference_is_reported_not_patched():
    src = source(("a", "Ann", "", "201-471-6992", "+1 760-867-5309"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+12014716992", "outbound_number": "+17608675300"})
    plan = plan_of(src, rem)
    assert fate(plan) == {"a": ("unchanged", "same")}
    assert plan.outbound_differences == 1
    assert "outbound_number" in plan.rows.iloc[0]["detail"]


def test_plan_json_round_trip(tmp_path):
    src = source(("a", "Ann New", "", "201-471-6992"), ("", "x", "", "1"),
                 ("n", "New", "n@x.org", "201-471-6993"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+12014716992"},
                 {"id": 2, "external_unique_id": "", "name": "Hand",
                  "phone_number": "+12014716999", "status": "Weird"})
    plan = plan_of(src, rem, "mirror")
    again = Plan.from_json(plan.to_json())
    assert again.counts() == plan.counts()
    assert again.options == plan.options
    assert list(again.operations()) == list(plan.operations())
    pd.testing.assert_frame_equal(again.rows.astype(str), plan.rows.astype(str))
    pd.testing.assert_frame_equal(again.remote.astype(str), plan.remote.astype(str))


keys = st.sampled_from([f"k{i}" for i in range(8)] + [""])
phones = st.sampled_from([f"201-471-{6990 + i}" for i in range(6)] + ["bad"])
names = st.sampled_from(["Ann", "Bob", "Cy"])
statuses = st.sampled_from(["Upcoming", "Dialing", "Finished", "Odd"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(keys, names, phones), max_size=10),
       st.lists(st.tuples(keys, names, phones, statuses), max_size=10),
       st.sampled_from(["add-only", "upsert", "mirror"]))
def test_every_row_and_every_contact_has_exactly_one_fate(src_rows, rem_rows, mode):
    src = source(*[(k, n, "", p) for k, n, p in src_rows])
    rem = remote(*[{"id": i, "external_unique_id": k, "name": n,
                    "phone_number": p.replace("bad", "+12014710000"), "status": s}
                   for i, (k, n, p, s) in enumerate(rem_rows)])
    plan = plan_of(src, rem, mode, force=True)
    assert sorted(plan.rows["line"].tolist()) == list(range(2, len(src_rows) + 2))
    assert set(plan.rows["action"]) <= set(SOURCE_ACTIONS)
    assert sorted(plan.remote["remote_id"].tolist()) == list(range(len(rem_rows)))
    assert set(plan.remote["action"]) <= set(REMOTE_ACTIONS)
    assert plan.rows["reason"].ne("").all() and plan.remote["reason"].ne("").all()
    if mode != "mirror":
        assert not plan.remote["action"].eq("deleted").any()
    # an updated contact is updated once and by the row with its key
    updated = set(plan.remote.loc[plan.remote["action"].eq("updated"), "external_unique_id"])
    assert updated == set(plan.updates["external_unique_id"])
    # no write touches an active contact
    active = plan.remote["status"].isin(["Dialing"])
    assert not plan.remote.loc[active, "action"].isin(["updated", "deleted"]).any()


def test_update_taking_a_phone_another_update_frees_goes_in_a_later_wave():
    src = source(("a", "A", "", "201-471-6992"), ("b", "B", "", "201-471-6993"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "A",
                  "phone_number": "+12014716991"},
                 {"id": 2, "external_unique_id": "b", "name": "B",
                  "phone_number": "+12014716992"})
    plan = plan_of(src, rem)
    # a takes b's old phone, so b's update (wave 0) goes before a's (wave 1)
    assert fate(plan) == {"a": ("update", "changed"), "b": ("update", "changed")}
    order = [(r["external_unique_id"], int(r["wave"])) for k, r in plan.operations()]
    assert order == [("b", 0), ("a", 1)]


def test_phone_swap_is_refused():
    src = source(("a", "A", "", "201-471-6992"), ("b", "B", "", "201-471-6991"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "A",
                  "phone_number": "+12014716991"},
                 {"id": 2, "external_unique_id": "b", "name": "B",
                  "phone_number": "+12014716992"})
    plan = plan_of(src, rem)
    assert fate(plan) == {"a": ("rejected", "phone_in_use"), "b": ("rejected", "phone_in_use")}


def test_add_may_take_a_phone_an_update_frees():
    src = source(("a", "A", "", "201-471-6995"), ("new", "N", "", "201-471-6991"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "A",
                  "phone_number": "+12014716991"})
    assert fate(plan_of(src, rem)) == {"a": ("update", "changed"), "new": ("add", "new")}


def apply(plan: Plan, rem: pd.DataFrame) -> pd.DataFrame:
    """What the campaign holds after the plan's writes, in the order they go out;
    the platform's own rule (one phone per campaign) is enforced as it would be."""
    contacts = {int(r["remote_id"]): dict(r) for r in rem.to_dict("records")}
    next_id = max(contacts, default=0) + 1

    def phone_taken(phone, me=None):
        return any(c["phone_number"] == phone and i != me for i, c in contacts.items())

    for kind, op in plan.operations():
        if kind == "delete":
            del contacts[int(op["remote_id"])]
        elif kind == "update":
            rid = int(op["remote_id"])
            for f in op["changed"].split(","):
                if f == "phone_number":
                    assert not phone_taken(op[f], rid), op
                contacts[rid][f] = op[f]
        else:
            assert not phone_taken(op["phone_number"]), op
            contacts[next_id] = {"remote_id": next_id, "status": "Upcoming",
                                 **{f: op[f] for f in FIELDS}}
            next_id += 1
    return remote_frame(list(contacts.values()))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(keys, names, phones), max_size=10),
       st.lists(st.tuples(keys, names, phones, statuses), max_size=10, unique_by=lambda t: t[2]),
       st.sampled_from(["add-only", "upsert", "mirror"]))
def test_applying_a_plan_then_planning_again_gives_an_empty_plan(src_rows, rem_rows, mode):
    src = source(*[(k, n, "", p) for k, n, p in src_rows])
    rem = remote(*[{"id": i + 1, "external_unique_id": k, "name": n,
                    "phone_number": p.replace("bad", "+12014710000"), "status": s}
                   for i, (k, n, p, s) in enumerate(rem_rows)])
    first = plan_of(src, rem, mode, force=True)
    after = apply(first, rem)
    second = plan_of(src, after, mode, force=True)
    assert not second.has_writes(), second.rows[["external_unique_id", "action", "reason"]]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(keys, names, phones), max_size=10),
       st.lists(st.tuples(keys, names, phones, statuses), max_size=10),
       st.sampled_from(["add-only", "upsert", "mirror"]),
       st.lists(st.booleans(), min_size=10, max_size=10),
       st.lists(st.booleans(), min_size=10, max_size=10))
def test_carried_phones_known_by_their_hash_plan_as_normalized_ones(
        src_rows, rem_rows, mode, carry, hashed):
    """A nightly plan matches the phones of carried contacts by the hash the last run
    recorded instead of normalizing them: the plan must be the same either way."""
    from connector.normalize import norm_phones, phone_hashes

    src = source(*[(k, n, "", p) for k, n, p in src_rows])
    rem = remote(*[{"id": i, "external_unique_id": k, "name": n,
                    "phone_number": p.replace("bad", "+12014710000"), "status": s}
                   for i, (k, n, p, s) in enumerate(rem_rows)])
    v = normalize_contacts(src, region="US")
    valid = v.valid.reset_index(drop=True)
    once_src = valid["external_unique_id"].ne("") & ~valid["external_unique_id"].duplicated(
        keep=False)
    rem_keys = rem["external_unique_id"]
    once_rem = set(rem_keys[rem_keys.ne("") & ~rem_keys.duplicated(keep=False)])
    take = [bool(carry[i]) and once_src[i] and valid.at[i, "external_unique_id"] in once_rem
            for i in range(len(valid))]
    take = pd.Series(take, index=valid.index, dtype=bool)
    carried = pd.DataFrame({"line": valid.loc[take, "__line__"].astype("int64"),
                            "external_unique_id": valid.loc[take, "external_unique_id"]})
    phone_of = dict(zip(rem_keys, norm_phones(rem["phone_number"], "US")))
    hashes = [int(phone_hashes([phone_of[k]])[0]) if phone_of[k] and hashed[i] else None
              for i, k in enumerate(carried["external_unique_id"])]
    with_hashes = carried.assign(phone_hash=pd.array(hashes, dtype="Int64"))
    options = PlanOptions(mode=mode, region="US", force=True)
    plain = build_plan(valid[~take], v.rejects, rem, options, carried=carried)
    fast = build_plan(valid[~take], v.rejects, rem, options, carried=with_hashes)
    for part in ("rows", "remote", "rejects"):
        pd.testing.assert_frame_equal(getattr(fast, part), getattr(plain, part))
    assert list(fast.operations()) == list(plain.operations())


def test_carried_positions_find_each_contacts_carried_row_even_with_repeated_keys():
    import numpy as np

    from connector.plan.match import carried_positions as _carried_positions

    rem = pd.Series(["a", "b", "c", "", "a"])
    assert _carried_positions(np.array([], dtype=object), rem).tolist() == [-1] * 5
    assert _carried_positions(np.array(["c", "a"], dtype=object), rem).tolist() == \
        [1, -1, 0, -1, 1]
    # a repeated carried key: its first row is the one found
    assert _carried_positions(np.array(["b", "a", "b"], dtype=object), rem).tolist() == \
        [1, 0, -1, -1, 1]


def test_counts_are_counted_once_and_follow_frames_that_are_replaced():
    src = source(("a", "Ann", "", "(201) 471-6992"), ("b", "Bo", "", "(201) 471-6993"))
    rem = remote({"id": 1, "external_unique_id": "a", "name": "Ann",
                  "phone_number": "+1-(201)-471-6992"})
    plan = plan_of(src, rem)
    first = plan.counts()
    assert first["source"]["add"] == 1 and first["source"]["unchanged"] == 1
    first["source"]["add"] = 99  # a caller's copy: changing it changes nothing
    assert plan.counts()["source"]["add"] == 1
    plan.rows = plan.rows[plan.rows["action"].ne("add")].reset_index(drop=True)
    plan.outbound_differences = 3
    again = plan.counts()
    assert again["source"]["add"] == 0 and again["source_rows"] == 1
    assert again["outbound_differences"] == 3
    assert again == Plan.from_json(plan.to_json()).counts()


def test_blank_phones_keep_a_blank_key_beside_filled_ones():
    """--trust-state compares a campaign of blank phones: every blank (None, "", spaces)
    keys as "", and filled phones among them keep their keys."""
    from connector.normalize import norm_phones

    assert norm_phones(pd.Series(["", None, "  "], dtype=object), "US").tolist() == ["", "", ""]
    got = norm_phones(pd.Series(["", "+1-(201)-471-6992", None, "(201) 471-6993", " x "],
                                 dtype=object), "US").tolist()
    assert got == ["", "+12014716992", "", "+12014716993", "x"]


@given(st.lists(st.integers(2, 40), max_size=12), st.lists(st.integers(2, 40), max_size=6),
       st.lists(st.integers(2, 40), max_size=25))
@settings(max_examples=150, deadline=None)
def test_rows_in_line_order_equal_the_concatenated_sort(row_lines, rej_lines, carried_lines):
    """The rows table built column by column (carried rows only placed by their
    line) equals the plain way: every part concatenated, then a stable sort."""
    import numpy as np

    from connector.plan import CARRIED_REASON, ROW_COLUMNS
    from connector.plan.order import in_line_order as _in_line_order

    def part(lines: list[int], tag: str) -> pd.DataFrame:
        n = len(lines)
        frame = pd.DataFrame({c: [f"{tag}{c[:2]}{i}" for i in range(n)] for c in ROW_COLUMNS})
        frame["line"] = pd.array(lines, dtype="Int64")
        frame["remote_id"] = pd.array([i if i % 2 else None for i in range(n)], dtype="Int64")
        frame["wave"] = pd.array([0 if i % 3 else None for i in range(n)], dtype="Int64")
        return frame[list(ROW_COLUMNS)]

    parts = [part(row_lines, "r")] + ([part(rej_lines, "j")] if rej_lines else [])
    keys = np.array([f"k{i}" for i in range(len(carried_lines))], dtype=object)
    carried = pd.Series(carried_lines, dtype="int64")
    got = _in_line_order(parts, carried if len(keys) else None, keys)

    same = pd.DataFrame({c: [""] * len(keys) for c in ROW_COLUMNS})
    same["line"] = pd.array(carried_lines, dtype="Int64")
    same["external_unique_id"] = keys
    same["action"], same["reason"] = "unchanged", CARRIED_REASON
    same["remote_id"] = same["wave"] = pd.array([None] * len(keys), dtype="Int64")
    expected = pd.concat(parts + [same[list(ROW_COLUMNS)]], ignore_index=True).sort_values(
        "line", kind="stable").reset_index(drop=True)
    assert got["line"].tolist() == expected["line"].tolist()
    for c in ROW_COLUMNS:
        assert got[c].tolist() == expected[c].tolist(), c


def test_has_writes_for_each_kind_of_write_alone():
    """has_writes reads the counts: an add, an update or a delete alone is a write."""
    ann = ("a", "Ann Lee", "ann@x.org", "201-471-6992")
    ann_remote = {"id": 1, "external_unique_id": "a", "name": "Ann Lee", "email": "ann@x.org",
                  "phone_number": "+12014716992"}
    add = plan_of(source(ann), remote())
    update = plan_of(source(("a", "Ann Lea", "ann@x.org", "201-471-6992")), remote(ann_remote))
    delete = plan_of(source(("b", "Bo", "bo@x.org", "201-471-6993")),
                     remote(ann_remote, {"id": 2, "external_unique_id": "b", "name": "Bo",
                                         "email": "bo@x.org", "phone_number": "+12014716993"}),
                     mode="mirror", force=True)
    assert [len(add.adds), len(update.updates), len(delete.deletes)] == [1, 1, 1]
    assert len(delete.adds) == len(delete.updates) == 0
    assert add.has_writes() and update.has_writes() and delete.has_writes()
