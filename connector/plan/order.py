"""The plan's rows in source line order: the compared rows, the rejected rows (one
line per source row, reasons joined) and the rows carried from the last run."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .model import CARRIED_REASON, ROW_COLUMNS, empty_frame, object_cells

#: the carried rows' cells besides line and key (the Int64 columns: missing)
CARRIED_CELLS = {"action": "unchanged", "reason": CARRIED_REASON}


def in_line_order(parts: list[pd.DataFrame], carried_lines: pd.Series | None,
                   carried_keys: np.ndarray) -> pd.DataFrame:
    """The plan's rows: `parts` (frames of ROW_COLUMNS) and the rows carried from the
    last run (unchanged, known by line and key), in line order; stable, so the rows
    of one line keep their order. Built column by column: a carried row's cells are
    all alike but its line and key, so only the parts' rows are placed one by one."""
    if carried_lines is None or not len(carried_keys):
        table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        line = table["line"]
        if line.isna().any():
            return table.sort_values("line", kind="stable").reset_index(drop=True)
        values = line.to_numpy(dtype="int64")
        if len(values) and (values[1:] < values[:-1]).any():
            # numpy's argsort on the plain ints: much cheaper than sort_values on
            # the nullable column
            table = table.take(np.argsort(values, kind="stable"))
        return table.reset_index(drop=True)
    lines = [p["line"] for p in parts] + [pd.Series(pd.array(carried_lines.to_numpy(),
                                                             dtype="Int64"))]
    if any(line.isna().any() for line in lines):
        n_same = len(carried_keys)
        same = pd.DataFrame({
            c: (lines[-1].array if c == "line" else carried_keys
                if c == "external_unique_id"
                else pd.array([None] * n_same, dtype="Int64") if c in ("remote_id", "wave")
                else object_cells(n_same, CARRIED_CELLS.get(c, "")))
            for c in ROW_COLUMNS})
        return in_line_order([*parts, same], None, carried_keys)
    all_lines = np.concatenate([line.to_numpy(dtype="int64") for line in lines])
    order = np.argsort(all_lines, kind="stable")
    n = len(order)
    n_other = n - len(carried_keys)
    where = np.empty(n, dtype=np.intp)
    where[order] = np.arange(n)
    other_at = where[:n_other]  # where the parts' rows go
    columns: dict[str, Any] = {}
    for c in ROW_COLUMNS:
        if c == "line":
            columns[c] = pd.array(all_lines[order], dtype="Int64")
        elif c == "external_unique_id":
            columns[c] = np.concatenate([p[c].to_numpy(dtype=object) for p in parts]
                                        + [carried_keys])[order]
        elif c in ("remote_id", "wave"):
            values = np.zeros(n, dtype="int64")
            missing = np.ones(n, dtype=bool)
            if n_other:
                values[other_at] = np.concatenate(
                    [p[c].to_numpy(dtype="int64", na_value=0) for p in parts])
                missing[other_at] = np.concatenate([p[c].isna().to_numpy() for p in parts])
            columns[c] = pd.arrays.IntegerArray(values, missing)
        else:
            cells = object_cells(n, CARRIED_CELLS.get(c, ""))
            if n_other:
                cells[other_at] = np.concatenate([p[c].to_numpy(dtype=object) for p in parts])
            columns[c] = cells
    return pd.DataFrame(columns)


def rejected_rows_table(rejects: pd.DataFrame) -> pd.DataFrame:
    if rejects is None or rejects.empty:
        return empty_frame(ROW_COLUMNS)
    grouped = rejects.groupby("line", sort=True)
    reasons = grouped["reason"].agg(lambda s: ";".join(dict.fromkeys(s)))
    detail = grouped.apply(lambda g: " | ".join(
        f"{f}: {h}" for f, h in zip(g["field"], g["hint"])), include_groups=False)
    key = grouped["key"].first() if "key" in rejects.columns else pd.Series("", index=reasons.index)
    out = pd.DataFrame({"line": pd.array(reasons.index.astype("int64"), dtype="Int64"),
                        "external_unique_id": key.to_numpy(), "action": "rejected",
                        "reason": reasons.to_numpy(), "detail": detail.to_numpy()})
    for c in ROW_COLUMNS:
        if c not in out:
            out[c] = pd.array([None] * len(out), dtype="Int64") if c in ("remote_id",
                                                                          "wave") else ""
    return out[list(ROW_COLUMNS)]
