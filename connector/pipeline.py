"""The only module that runs the stages in order: read -> map -> normalize + validate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import UsageError
from .fileio import atomic_write, write_csv
from .mapping import API_FIELDS, LINE_COLUMN, Mapping, apply_mapping, check_columns, load_mapping
from .schema import ValidationResult, normalize_contacts


@dataclass
class Validated:
    """A validated source: what the reader saw, the source rows and the verdict."""

    info: Any
    source: pd.DataFrame
    mapping: Mapping
    result: ValidationResult


def validate_source(path: str | Path, mapping: Mapping | str | Path) -> Validated:
    """Read `path` with the mapping's reader hints, map it, normalize and validate it."""
    from .sources import SourceHints, read_source

    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    hints = SourceHints(**mapping.source) if mapping.source else None
    df, info = read_source(str(path), hints, wanted_columns=mapping.source_columns())
    check_columns(mapping, list(getattr(info, "columns", None) or df.columns))
    mapped = apply_mapping(mapping, df)
    result = normalize_contacts(mapped, region=mapping.region, required=mapping.required)
    return Validated(info=info, source=df, mapping=mapping, result=result)


def write_valid(result: ValidationResult, output: str | Path) -> int:
    """The normalized contacts as .csv or .json (an array of objects, the import shape)."""
    target = Path(output)
    rows = result.valid[list(API_FIELDS)]
    if target.suffix.lower() == ".json":
        records = [{k: v for k, v in rec.items() if v != "" or k == "external_unique_id"}
                   for rec in rows.to_dict("records")]
        with atomic_write(target) as handle:
            json.dump(records, handle, ensure_ascii=False, indent=1)
            handle.write("\n")
        return len(records)
    if target.suffix.lower() != ".csv":
        raise UsageError(f"cannot write {target}: the file name must end in .csv or .json")
    return write_csv(target, list(API_FIELDS), rows.itertuples(index=False, name=None))


def write_rejects(validated: Validated, output: str | Path) -> int:
    """rejects.csv: each rejected problem with the original row's columns, its line,
    field, reason and hint; UTF-8 with BOM, formula-like cells neutralized."""
    src = validated.source
    columns = [c for c in src.columns if c != LINE_COLUMN]
    by_line = src.set_index(LINE_COLUMN) if LINE_COLUMN in src.columns else src
    rej = validated.result.rejects
    rows = []
    for line, fld, reason, hint in rej[["line", "field", "reason", "hint"]].itertuples(
            index=False, name=None):
        original = by_line.loc[line] if line in by_line.index else None
        cells = ["" if original is None or pd.isna(original[c]) else original[c]
                 for c in columns]
        rows.append([*cells, int(line), fld, reason, hint])
    return write_csv(output, [*columns, "line", "field", "reason", "hint"], rows)
