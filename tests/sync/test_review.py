"""load/review.py: a steward's decisions laid on a plan's writes. A key that starts
like a spreadsheet formula comes back from the report's CSV files (actions.csv, the
page's decisions.csv) with a leading apostrophe, and still names its write."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import UsageError
from connector.extract.decisions import read_decisions
from connector.load.review import review
from connector.plan import Write


def write(kind: str, key: str) -> Write:
    return Write(kind, key, None, None, None, {}, None, "")


def decisions(tmp_path: Path, *lines: str):
    path = tmp_path / "decisions.csv"
    path.write_text("\n".join(["key,action,decision,comment", *lines]) + "\n",
                    encoding="utf-8")
    return read_decisions(path)


WRITES = [write("delete", "-7"), write("update", "=x"), write("add", "+4471"),
          write("add", "'+1"), write("add", "+1")]


def test_a_neutralized_key_names_the_write_of_the_key_without_the_apostrophe(tmp_path):
    got = review(WRITES, decisions(tmp_path, "'-7,delete,reject,gone", "'=x,update,approve,",
                                   "'+4471,add,reject,", "'+1,add,approve,", "+1,add,reject,"))
    assert [w.key for w in got.approved] == ["=x", "'+1"]   # a key with the apostrophe wins
    assert [(w.key, why) for w, why in got.refused] == [
        ("-7", "refused by reviewer: gone"), ("+4471", "refused by reviewer"),
        ("+1", "refused by reviewer")]


def test_a_write_named_in_both_forms_is_decided_twice(tmp_path):
    with pytest.raises(UsageError, match=r"line 3: the delete of '-7' is decided twice "
                                         r"\(also on line 2\)"):
        review(WRITES, decisions(tmp_path, "'-7,delete,approve,", "-7,delete,reject,"))


def test_an_apostrophe_before_an_ordinary_key_names_nothing(tmp_path):
    with pytest.raises(UsageError, match="the plan holds no add of \"'k1\""):
        review([write("add", "k1")], decisions(tmp_path, "'k1,add,approve,"))
