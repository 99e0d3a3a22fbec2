"""Writing output files safely: atomically, and with spreadsheet-safe CSV cells."""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def cell_text(value: Any) -> str:
    """A table cell as text: "" for None/NA/NaN, integral floats without ".0"."""
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def neutralize_cell(value: Any) -> str:
    """A cell a spreadsheet would run as a formula gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], *, mode: str = "w", encoding: str | None = "utf-8",
                 newline: str | None = None, perms: int = 0o600) -> Iterator[IO[Any]]:
    """Write to a temporary file beside `path` and move it into place only on success,
    so a crash or bad input never leaves a half-written file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, perms)
        kwargs: dict[str, Any] = {} if "b" in mode else {"encoding": encoding, "newline": newline}
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_csv(path: str | os.PathLike[str], header: Sequence[str],
              rows: Iterable[Sequence[Any]]) -> int:
    """A CSV that opens cleanly in a spreadsheet: UTF-8 with BOM, neutralized cells.
    Returns the number of data rows written."""
    count = 0
    with atomic_write(path, encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([neutralize_cell(h) for h in header])
        for row in rows:
            writer.writerow([neutralize_cell(v) for v in row])
            count += 1
    return count


def neutralize_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`neutralize_cell` over a whole frame, vectorized: text, "" for missing values."""
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        col = frame[column]
        if pd.api.types.is_integer_dtype(col.dtype):  # counts and ids: never a formula
            out[column] = col.astype(object).where(col.notna(), "")
            continue
        text = col.astype(object).where(col.notna(), "").astype(str)
        filled = text.ne("")  # compared in C; only non-empty cells pay the prefix test
        if filled.any():
            risky = text[filled].str.startswith(FORMULA_PREFIXES)
            if risky.any():
                hit = risky[risky].index
                text = text.copy()
                text[hit] = "'" + text[hit]
        out[column] = text
    return out


def write_frame_csv(path: str | os.PathLike[str], frame: pd.DataFrame) -> int:
    """`write_csv` for a DataFrame, vectorized (a million rows in seconds): UTF-8 with
    BOM, formula-like cells neutralized, written atomically. Returns the row count."""
    safe = neutralize_frame(frame)
    safe.columns = [neutralize_cell(c) for c in frame.columns]
    with atomic_write(path, encoding="utf-8-sig", newline="") as handle:
        safe.to_csv(handle, index=False, lineterminator="\r\n")
    return len(frame)
