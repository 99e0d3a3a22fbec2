"""JSON array and JSON Lines reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import SourceError
from connector.extract import LINE_COLUMN, SourceHints, read_source


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


def test_nested_values_kept_as_json_text_and_marked(tmp_path: Path) -> None:
    p = tmp_path / "n.json"
    p.write_text('[{"id": "a"}, {"id": "b", "meta": {"k": 1, "s": "é"}, "tags": [1, "x"]}]',
                 encoding="utf-8")
    frame, info = read_source(p)
    assert frame["meta"].tolist() == ["", '{"k": 1, "s": "é"}']
    assert frame["tags"].tolist() == ["", '[1, "x"]']
    assert info.structured == {(2, "meta"): "an object", (2, "tags"): "an array"}
    assert info.paths == ["meta.k", "meta.s"]
    q = tmp_path / "n.jsonl"
    q.write_text('{"id": "a"}\n{"id": "b", "tags": [1]}\n', encoding="utf-8")
    frame, info = read_source(q)
    assert frame["tags"].tolist() == ["", "[1]"] and info.structured == {(2, "tags"): "an array"}


def test_dotted_paths_name_nested_fields(tmp_path: Path) -> None:
    p = tmp_path / "sf.json"
    p.write_text('{"totalSize": 2, "done": true, "records": ['
                 '{"attributes": {"type": "Contact"}, "Id": "003A", "Account": {"Name": "Acme",'
                 ' "attributes": {"type": "Account"}}, "a.b": "literal", "a": {"b": "nested"}},'
                 '{"attributes": {"type": "Contact"}, "Id": "003B", "Account": null,'
                 ' "x.y": {"z": "deep"}}]}', encoding="utf-8")
    frame, info = read_source(p, wanted_columns=["Id", "Account.Name", "a.b", "x.y.z",
                                                 "Account.attributes"])
    assert info.notes == ["records read from the key 'records'"]
    assert frame["Account.Name"].tolist() == ["Acme", ""]
    assert frame["a.b"].tolist() == ["literal", ""]      # the key as written wins
    assert frame["x.y.z"].tolist() == ["", "deep"]       # a key holding a dot, then a path
    assert info.structured == {(1, "Account.attributes"): "an object"}
    assert "Account.Name" in info.paths and "attributes.type" in info.paths
    assert frame[LINE_COLUMN].tolist() == [1, 2]


@pytest.mark.parametrize("document, key", [
    ('{"results": [{"id": "1"}], "paging": {"next": {"after": "2"}}}', "results"),
    ('{"data": [{"id": "1"}], "info": {"more_records": false}}', "data"),
    ('{"items": [{"id": "1"}], "errors": []}', "items"),         # two arrays, one known name
    ('{"contacts": [{"id": "1"}]}', "contacts"),                # any single array
])
def test_wrapped_records_are_found(tmp_path: Path, document: str, key: str) -> None:
    p = tmp_path / "w.json"
    p.write_text(document, encoding="utf-8")
    frame, info = read_source(p)
    assert frame["id"].tolist() == ["1"] and f"records read from the key {key!r}" in info.notes


def test_records_key_names_the_array(tmp_path: Path) -> None:
    p = tmp_path / "w.json"
    p.write_text('{"people": [{"id": "1"}], "others": [{"id": "2"}],'
                 ' "page": {"rows": [{"id": "3"}]}}', encoding="utf-8")
    with pytest.raises(SourceError) as err:
        read_source(p)
    assert "several arrays ('people', 'others')" in str(err.value)
    assert "source: {records: KEY}" in str(err.value)
    assert read_source(p, SourceHints(records="others"))[0]["id"].tolist() == ["2"]
    assert read_source(p, SourceHints(records="page.rows"))[0]["id"].tolist() == ["3"]
    with pytest.raises(SourceError) as err:
        read_source(p, SourceHints(records="nope"))
    assert "'nope', but no such key" in str(err.value) and "'people'" in str(err.value)


@pytest.mark.parametrize("name, content, message", [
    ("e.json", "", "empty (0 bytes)"),
    ("a.json", "[]", "no data rows"),
    ("o.json", '{"contacts": []}', "no data rows"),
    ("p.json", '{"count": 1, "next": null}', "and no array"),
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
