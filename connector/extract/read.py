"""A source read and mapped (file -> mapped frame with line numbers), and read again
for the rows a report shows as the user wrote them."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from ..contact import LINE_COLUMN
from ..errors import MappingError
from .csv import rows_at
from .mapping import Mapping, apply_mapping, better_shipped_mapping, check_columns, load_mapping
from .readers import SourceHints, iter_source, read_source

#: rows per frame when a source is read again
CHUNK_ROWS = 100_000


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
    for chunk in _read_again(info, mapping, wanted):
        hit = chunk[chunk[LINE_COLUMN].isin(wanted)]
        for rec in hit.itertuples(index=False, name=None):
            values = dict(zip(hit.columns, rec))
            rows[int(values[LINE_COLUMN])] = ["" if pd.isna(values.get(c)) else
                                              str(values.get(c, "")) for c in columns]
    return columns, rows


def _read_again(info: Any, mapping: Mapping, lines: Collection[int] | None
                ) -> Iterator[pd.DataFrame]:
    """The source's rows again, every column, in chunks: those at `lines` (when
    given; a chunk may hold others) or all. A CSV whose first pass is known is read
    again with what that pass decided (`csv.rows_at`: encoding, delimiter, the header
    line below any title) and builds only the wanted rows."""
    if getattr(info, "text", None) is not None:
        yield from rows_at(info, lines, CHUNK_ROWS)
        return
    hints = SourceHints(**mapping.source) if mapping.source else None
    chunks, _ = iter_source(info.path, hints, wanted_columns=mapping.source_columns(),
                            all_columns=True, chunk_rows=CHUNK_ROWS)
    yield from chunks


def source_chunks(info: Any, source: pd.DataFrame, mapping: Mapping
                  ) -> tuple[list[str], Callable[[Collection[int] | None], Iterator[pd.DataFrame]]]:
    """The source's column names, and a function giving its rows again, every column, a
    chunk at a time (the validation pass kept only the mapped columns): those at the
    lines it is given (a chunk may hold others too), or all. For the files that show
    each row as the user wrote it (success.csv, errors.csv). Nothing is read until the
    function is called, so a run with nothing to show does not read the file again."""
    columns = source_columns(info, source)

    def chunks(lines: Collection[int] | None = None) -> Iterator[pd.DataFrame]:
        return _read_again(info, mapping, lines)

    return columns, chunks
