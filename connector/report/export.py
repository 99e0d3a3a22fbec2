"""Write a campaign's contacts to CSV or JSON (the `export` command)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..fileio import atomic_write, write_csv

LEADING = ("id", "external_unique_id", "name", "email", "phone_number", "outbound_number",
           "status", "campaign_id", "priority", "assigned_call_id",
           "assigned_participant_id", "created_at", "updated_at")


def _flatten(obj: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(value, Mapping):
            for sub, inner in value.items():
                flat[f"{key}.{sub}"] = inner if not isinstance(inner, (dict, list)) \
                    else json.dumps(inner, ensure_ascii=False)
        elif isinstance(value, list):
            flat[key] = json.dumps(value, ensure_ascii=False)
        else:
            flat[key] = value
    return flat


def write_contacts(contacts: Iterable[Any], output: str | Path) -> int:
    """Write every field of every contact; .csv (one column per field, metadata as
    `user_custom_metadata.KEY`) or .json (the objects as the platform gave them)."""
    path = Path(output)
    suffix = path.suffix.lower()
    items = list(contacts)
    if suffix == ".json":
        with atomic_write(path) as handle:
            json.dump([dict(c.raw) for c in items], handle, ensure_ascii=False, indent=2)
        return len(items)
    if suffix != ".csv":
        raise UsageError(f"cannot export to {path}: the file name must end in .csv or .json")
    flat = [_flatten(c.raw) for c in items]
    columns = [c for c in LEADING if any(c in row for row in flat)]
    for row in flat:
        for key in row:
            if key not in columns:
                columns.append(key)
    return write_csv(path, columns, ([("" if row.get(c) is None else row.get(c))
                                      for c in columns] for row in flat))
