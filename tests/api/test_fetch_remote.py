"""fetch_remote reads contacts as RemoteContact.from_api does: top-level fields, then
the metadata keys where a field is blank; ids as integers or missing."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.api.client import RemoteContact
from connector.api.frame import fetch_remote
from connector.errors import ProtocolError

PAGE = [
    {"id": 1, "external_unique_id": "k1", "name": "Ann", "email": "a@x.org",
     "phone_number": "+12014716992", "status": "Upcoming"},
    {"id": "2", "external_unique_id": " ", "user_custom_metadata": {
        "NAME (REQUIRED)": "Bob", "PHONE (REQUIRED)": "+1-(201)-471-6993",
        "EMAIL (REQUIRED)": "b@x.org"}, "status": "Dialing"},
    {"id": None, "external_unique_id": 12345, "name": "  Spaced  ", "phone_number": None,
     "user_custom_metadata": "not a dict"},
    {"external_unique_id": "k4", "name": "", "outbound_number": "+17608675309",
     "user_custom_metadata": {"NAME (REQUIRED)": "   "}},
]


class FakeContacts:
    def __init__(self, pages):
        self.pages = pages

    def iter_pages(self, campaign_id, listed=False):
        yield from self.pages


class FakeClient:
    def __init__(self, pages):
        self.contacts = FakeContacts(pages)


def test_fetch_remote_equals_remote_contact_reading():
    frame = fetch_remote(FakeClient([PAGE[:2], PAGE[2:]]), 6)
    expected = [RemoteContact.from_api(obj) for obj in PAGE]
    assert frame["remote_id"].tolist()[:2] == [1, 2]
    assert frame["remote_id"].isna().tolist() == [False, False, True, True]
    for row, want in zip(frame.to_dict("records"), expected):
        for field in ("external_unique_id", "name", "email", "phone_number",
                      "outbound_number", "status"):
            assert row[field] == (getattr(want, field) or ""), (field, row, want)


def test_fetch_remote_refuses_a_page_of_non_objects():
    with pytest.raises(ProtocolError, match="expected contact objects"):
        fetch_remote(FakeClient([[{"id": 1}, "oops"]]), 6)


texts = st.one_of(st.none(), st.sampled_from(["", " ", "\t", "Ann", " Ann ", "+12014716992",
                                              "a@x.org", "Ünïcode", "\u00a0"]))
contacts = st.fixed_dictionaries(
    {"id": st.one_of(st.none(), st.integers(-5, 10**20), st.sampled_from(["7", " ", "x"]))},
    optional={**{f: texts for f in ("external_unique_id", "name", "email", "phone_number",
                                    "outbound_number", "status")},
              "user_custom_metadata": st.one_of(st.none(), st.fixed_dictionaries(
                  {}, optional={k: texts for k in ("NAME (REQUIRED)", "PHONE (REQUIRED)",
                                                   "EMAIL (REQUIRED)", "OTHER")})),
              "priority": st.one_of(st.none(), st.integers(), st.lists(st.integers()))})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(contacts, min_size=1, max_size=6), min_size=1, max_size=3))
def test_pages_decoded_as_listed_contacts_read_as_the_json_objects_do(pages):
    """The fast decoding (only the fields the sync reads, straight from the bytes) gives
    the same frame as reading the same page as JSON objects."""
    import json

    from connector.api.client import _LISTED_PAGE

    listed = [_LISTED_PAGE.decode(json.dumps(page).encode()) for page in pages]
    fast = fetch_remote(FakeClient(listed), 6)
    slow = fetch_remote(FakeClient(pages), 6)
    assert fast.equals(slow), (fast.to_dict("records"), slow.to_dict("records"))


class Answer:
    def __init__(self, body: bytes, content_type: str = "application/json") -> None:
        self.content = body
        self.headers = {"Content-Type": content_type}


@pytest.mark.parametrize("body, content_type", [
    (b'{"contacts": []}', "application/json"),                 # an envelope
    (b'[{"id": 1, "name": 5}]', "application/json"),           # a number for a text field
    (b'[{"id": 1.5}]', "application/json"),                     # a float id
    (b'[{"id": 1, "user_custom_metadata": "x"}]', "application/json"),
    (b'[{"id": 1, "name": NaN}]', "application/json"),          # not strict JSON
    (b'[{"id": 1, "name": "\\ud800"}]', "application/json"),   # a lone surrogate
    ('[{"id": 1, "name": "Ã©"}]'.encode("latin-1"), "application/json; charset=iso-8859-1"),
])
def test_pages_in_any_other_shape_are_left_to_the_json_reading(body, content_type):
    from connector.api.client import _listed_page

    assert _listed_page(Answer(body, content_type)) is None


def test_a_usual_page_decodes_as_listed_contacts():
    from connector.api.client import ListedContact, _listed_page

    page = _listed_page(Answer(b'[{"id": 1, "name": "Ann", "priority": [1], "campaign_id": 6,'
                               b' "user_custom_metadata": {"NAME (REQUIRED)": "A", "X": {}}}]',
                               "application/json; charset=utf-8"))
    assert page == [ListedContact(id=1, name="Ann", user_custom_metadata=page[0]
                                  .user_custom_metadata)]
    assert page[0].user_custom_metadata.name == "A"


@pytest.mark.parametrize("raw, expected", [
    ([], []),
    ([1, 2, 2**63 - 1], [1, 2, 2**63 - 1]),
    # all ints, one past 64 bits: the one-pass conversion overflows, the rest stand
    ([5, 2**63, -(2**63) - 1, 7], [5, None, None, 7]),
    ([3, "4", " 12 ", None, "", "x", 1.5, True], [3, 4, 12, None, None, None, 1, 1]),
])
def test_listed_ids_become_nullable_ints_whatever_their_shape(raw, expected):
    from connector.api.frame import _remote_ids

    ids = _remote_ids(raw)
    assert str(ids.dtype) == "Int64"
    assert [None if v is pd.NA else int(v) for v in ids] == expected
