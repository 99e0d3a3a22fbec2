"""validate_while: the source validated in a forked child while the campaign is read.
The forked path (forced here with min_rows=0) must give exactly what validating in
this process gives, and every failure must come back as it would in sequence."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from connector.errors import UsageError
from connector.extract import prepare_source
from connector.validate import run as validation
from connector.validate import validate_prepared, validate_while

ROWS = [
    "external_unique_id,name,email,phone_number",
    "k1,Ann Lee,ann@Example.COM,(201) 471-6992",
    "k2,Bob,bob@example,201.471.6993",
    "k3,  Cy   Po ,,+1 201 471 6994",
    "k3,Dup,dup@example.com,201-471-6995",
    "k5,Eve,eve@example.com,12345",
    ",No Key,nokey@example.com,201 471 6996",
]


@pytest.fixture()
def prepared(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    return prepare_source(path, "generic")


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.result.valid, b.result.valid)
    pd.testing.assert_frame_equal(a.result.rejects, b.result.rejects)
    pd.testing.assert_frame_equal(a.result.notes, b.result.notes)
    assert a.result.rows == b.result.rows


def test_forked_validation_equals_validating_here(prepared):
    here = validate_prepared(*prepared)
    seen_pid = []
    validated, out = validate_while(*prepared, lambda: seen_pid.append(os.getpid()) or "read",
                                    min_rows=0)
    assert out == "read" and seen_pid == [os.getpid()]  # the work ran in this process
    _same(validated, here)
    assert validated.mapped is prepared[3] and validated.source is prepared[1]
    assert validated.result.rejected_count == 5 and validated.result.valid_count == 1


def test_small_sources_validate_in_this_process(prepared, monkeypatch):
    def no_child(*args, **kwargs):
        raise AssertionError("no child process below min_rows")

    monkeypatch.setattr(validation, "_validate_in_child", no_child)
    validated, out = validate_while(*prepared, lambda: 7)
    assert out == 7
    _same(validated, validate_prepared(*prepared))


def test_an_error_of_the_read_stops_the_child_and_is_raised(prepared):
    def failing_read():
        raise UsageError("campaign 6 was not found")

    with pytest.raises(UsageError, match="campaign 6 was not found"):
        validate_while(*prepared, failing_read, min_rows=0)
    assert not [c for c in __import__("multiprocessing").active_children()
                if c.name == "campaign-sync-validate"]


def test_an_error_of_the_validation_is_raised_as_in_sequence(prepared, monkeypatch):
    def broken(*args, **kwargs):
        raise UsageError("cannot validate: the mapping's region is unknown")

    monkeypatch.setattr(validation, "validate_prepared", broken)
    with pytest.raises(UsageError, match="region is unknown"):
        validate_while(*prepared, lambda: None, min_rows=0)


def test_a_child_that_dies_is_replaced_by_validating_here(prepared, monkeypatch, caplog):
    def killed(send, *args):
        os._exit(9)  # as if killed, or out of memory

    monkeypatch.setattr(validation, "_validate_in_child", killed)
    validated, out = validate_while(*prepared, lambda: "read", min_rows=0)
    assert out == "read"
    _same(validated, validate_prepared(*prepared))
    assert "validating again here" in caplog.text
