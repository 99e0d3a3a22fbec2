"""A source read and mapped (file -> mapped frame with line numbers), and read again
for the rows a report shows as the user wrote them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..contact import LINE_COLUMN
from ..errors import MappingError
from .mapping import Mapping, apply_mapping, better_shipped_mapping, check_columns, load_mapping
from .readers import SourceHints, iter_source, read_source


def prepare_source(path: str | Path, mapping: Mapping | str | Path
                   ) -> tuple[Any, pd.DataFrame, Mapping, pd.DataFrame]:
    """Read `path` with the mapping's reader hints and map it: (info, source, mapping,
    mapped). Raises SourceError / MappingError (exit 2) before anything is sent."""

    if not isinstance(mapping, Mapping):
        mapping = load_mapping(mapping)
    hints = SourceHints(**mapping.source) if mapping.source else None
    df, info = read_source(str(path), hints, wanted_columns=mapping.source_columns())
    found = (list(getattr(info, "columns", None) or df.columns)
             + list(getattr(info, "paths", None) or []))
    mapping = mapping.matched_to(found)  # `record id` reads `Record ID`
    try:
        check_columns(mapping, found)
    except MappingError as exc:
        better = better_shipped_mapping(mapping, found)
        if better:
            exc.hint = (f"did you mean --mapping {better}? This file has every column that "
                        "shipped mapping reads")
        raise
    return info, df, mapping, apply_mapping(mapping, df)


def source_columns(info: Any, source: pd.DataFrame) -> list[str]:
    """Every column of the source as the reader found it (the frame may hold only the
    mapped ones)."""
    return list(getattr(info, "columns", None) or
                [c for c in source.columns if c != LINE_COLUMN])


def source_rows(info: Any, source: pd.DataFrame, mapping: Mapping, lines: Iterable[int]
                ) -> tuple[list[str], dict[int, list[str]]]:
    """Every column of the source's rows at `lines`, by line: the file is read again in
    chunks (the validation pass kept only the mapped columns), so memory stays
    bounded."""

    wanted = {int(x) for x in lines}
    columns = source_columns(info, source)
    rows: dict[int, list[str]] = {}
    if not wanted:
        return columns, rows
    hints = SourceHints(**mapping.source) if mapping.source else None
    chunks, _ = iter_source(info.path, hints, wanted_columns=mapping.source_columns(),
                            all_columns=True)
    for chunk in chunks:
        hit = chunk[chunk[LINE_COLUMN].isin(wanted)]
        for rec in hit.itertuples(index=False, name=None):
            values = dict(zip(hit.columns, rec))
            rows[int(values[LINE_COLUMN])] = ["" if pd.isna(values.get(c)) else
                                              str(values.get(c, "")) for c in columns]
    return columns, rows


def source_chunks(info: Any, source: pd.DataFrame, mapping: Mapping
                  ) -> tuple[list[str], Iterator[pd.DataFrame]]:
    """The source's column names and its rows again, every column, a chunk at a time
    (the validation pass kept only the mapped columns): for files that show each row
    as the user wrote it (success.csv, errors.csv). The file is opened only when the
    chunks are first asked for, so a run with nothing to show does not read it again."""
    columns = source_columns(info, source)
    hints = SourceHints(**mapping.source) if mapping.source else None

    def chunks() -> Iterator[pd.DataFrame]:
        rows, _ = iter_source(info.path, hints, wanted_columns=mapping.source_columns(),
                              all_columns=True)
        yield from rows

    return columns, chunks()
