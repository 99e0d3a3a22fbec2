"""fetch_remote reads contacts as RemoteContact.from_api does: top-level fields, then
the metadata keys where a field is blank; ids as integers or missing."""

from __future__ import annotations

import pytest

from connector.api.client import RemoteContact
from connector.errors import ProtocolError
from connector.pipeline import fetch_remote

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

    def iter_pages(self, campaign_id):
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
