"""JSON array and JSON Lines reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import SourceError
from connector.sources import LINE_COLUMN, read_source


def test_json_array_values_as_written(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text('[{"id": "00123", "n": 2014716992, "x": 1.50, "ok": true, "e": null},'
                 ' {"id": "2", "n": 5}]', encoding="utf-8")
    frame, info = read_source(p)
    assert info.format == "json" and info.columns == ["id", "n", "x", "ok", "e"]
    assert frame.to_dict("records") == [
        {"id": "00123", "n": "2014716992", "x": "1.50", "ok": "true", "e": "", LINE_COLUMN: 1},
        {"id": "2", "n": "5", "x": "", "ok": "", "e": "", LINE_COLUMN: 2},
    ]


def test_jsonl_physical_lines(tmp_path: Path) -> None:
    p = tmp_path / "c.jsonl"
    p.write_bytes(b'{"id": "a", "phone": "+12014716992"}\r\n\r\n{"id": "b"}\n')
    frame, info = read_source(p)
    assert info.format == "jsonl"
    assert frame.to_dict("records") == [
        {"id": "a", "phone": "+12014716992", LINE_COLUMN: 1},
        {"id": "b", "phone": "", LINE_COLUMN: 3},
    ]


def test_nested_values_refused(tmp_path: Path) -> None:
    p = tmp_path / "n.json"
    p.write_text('[{"id": "a"}, {"id": "b", "meta": {"k": 1}}]', encoding="utf-8")
    with pytest.raises(SourceError) as err:
        read_source(p)
    assert err.value.line == 2 and err.value.column == "meta" and "an object" in str(err.value)
    q = tmp_path / "n.jsonl"
    q.write_text('{"id": "a"}\n{"id": "b", "tags": [1]}\n', encoding="utf-8")
    with pytest.raises(SourceError) as err:
        read_source(q)
    assert err.value.line == 2 and "an array" in str(err.value)


@pytest.mark.parametrize("name, content, message", [
    ("e.json", "", "empty (0 bytes)"),
    ("a.json", "[]", "no data rows"),
    ("o.json", '{"contacts": []}', "expected a JSON array"),
    ("s.json", '[{"id": 1},', "not valid JSON"),
    ("r.json", '[1, 2]', "not an object"),
    ("d.json", '[{"id": 1, "id": 2}]', "appears twice"),
    ("b.jsonl", '{"id": 1}\nnot json\n', "not valid JSON"),
])
def test_unreadable_json(tmp_path: Path, name: str, content: str, message: str) -> None:
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError) as err:
        read_source(p)
    assert message in str(err.value) and str(p) in str(err.value)


def test_format_sniffed_without_extension(tmp_path: Path) -> None:
    p = tmp_path / "export"
    p.write_text('[{"id": "x"}]', encoding="utf-8")
    assert read_source(p)[1].format == "json"
