"""validate_while: the source validated while a thread of the same process reads the
campaign. The threaded path (forced here with min_rows=0) must give exactly what
validating in sequence gives, and every failure must come back as it would in
sequence."""

from __future__ import annotations

import os
import threading

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


def test_threaded_validation_equals_validating_here(prepared):
    here = validate_prepared(*prepared)
    seen = []

    def read():
        seen.append((os.getpid(), threading.current_thread().name))
        return "read"

    validated, out = validate_while(*prepared, read, min_rows=0)
    assert out == "read"
    # the read ran in this process, in its own thread
    assert seen[0][0] == os.getpid() and seen[0][1].startswith(validation.READ_THREAD)
    _same(validated, here)
    assert validated.mapped is prepared[3] and validated.source is prepared[1]
    assert validated.result.rejected_count == 5 and validated.result.valid_count == 1


def test_small_sources_validate_then_read(prepared):
    seen = []
    validated, out = validate_while(
        *prepared, lambda: seen.append(threading.current_thread().name) or 7)
    assert out == 7 and seen == [threading.current_thread().name]
    _same(validated, validate_prepared(*prepared))


def test_an_error_of_the_read_is_raised_once_validation_ends(prepared):
    def failing_read():
        raise UsageError("campaign 6 was not found")

    with pytest.raises(UsageError, match="campaign 6 was not found"):
        validate_while(*prepared, failing_read, min_rows=0)
    assert not [t for t in threading.enumerate()
                if t.name.startswith(validation.READ_THREAD)]


def test_an_error_of_the_validation_is_raised_after_the_read_ends(prepared, monkeypatch):
    def broken(*args, **kwargs):
        raise UsageError("cannot validate: the mapping's region is unknown")

    ended = []
    monkeypatch.setattr(validation, "validate_prepared", broken)
    with pytest.raises(UsageError, match="region is unknown"):
        validate_while(*prepared, lambda: ended.append(True), min_rows=0)
    assert ended == [True]
