"""A steward's decisions on a plan's writes, read from a CSV file: the decisions.csv the
report page downloads (key, action, decision, comment), or the plan's actions.csv
with its `decision` column filled in a spreadsheet.

Each row names a write by its action (add, update or delete) and its key
(external_unique_id); `decision` is approve or reject (blank: approve, as the page
checks every write by default); `comment` and `reviewer` are optional. A row with
another decision, a write named twice, or a file without the columns is refused
with its line named."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

WRITE_ACTIONS = ("add", "update", "delete")
APPROVE = frozenset({"approve", "approved", "yes", "y", "ok", ""})
REJECT = frozenset({"reject", "rejected", "no", "n"})


class DecisionsError(UsageError):
    """A decisions file that cannot be used as it is (exit 2, nothing sent)."""


@dataclass(frozen=True)
class Decision:
    line: int
    action: str        # add, update or delete
    key: str
    approve: bool
    comment: str = ""
    reviewer: str = ""


@dataclass(frozen=True)
class Decisions:
    path: Path
    sha256: str
    rows: tuple[Decision, ...]

    def counts(self) -> dict[str, dict[str, int]]:
        """Per reviewer ("" when the file names none), approved and rejected."""
        out: dict[str, dict[str, int]] = {}
        for d in self.rows:
            mine = out.setdefault(d.reviewer, {"approved": 0, "rejected": 0})
            mine["approved" if d.approve else "rejected"] += 1
        return out


def read_decisions(path: str | Path) -> Decisions:
    """The decisions in `path`; DecisionsError naming the file and line otherwise."""
    target = Path(path)
    hint = ("a decisions file has the columns key (or external_unique_id), action and "
            "decision (approve or reject), and optionally comment and reviewer")
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise DecisionsError(f"cannot read the decisions file {target}: {exc.strerror or exc}",
                             hint=hint) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DecisionsError(f"{target}: not UTF-8 text (byte {exc.start})",
                             hint="save it as CSV UTF-8") from None
    reader = csv.reader(text.splitlines())
    header = [h.strip().lower() for h in next(reader, [])]
    column = {name: header.index(name) for name in header if name}
    key_at = column.get("key", column.get("external_unique_id"))
    missing = [name for name, at in (("key", key_at), ("action", column.get("action")),
                                      ("decision", column.get("decision"))) if at is None]
    if missing:
        raise DecisionsError(f"{target}, line 1: no {' or '.join(missing)} column "
                             f"(found: {', '.join(header) or 'nothing'})", hint=hint)

    def cell(values: list[str], name: str | int | None) -> str:
        at = column.get(name) if isinstance(name, str) else name
        return values[at].strip() if at is not None and at < len(values) else ""

    rows: list[Decision] = []
    seen: dict[tuple[str, str], int] = {}
    for line, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        action = cell(values, "action").lower()
        decision = cell(values, "decision").lower()
        if action not in WRITE_ACTIONS:
            if decision:
                raise DecisionsError(f"{target}, line {line}: a decision on a row whose "
                                     f"action is {action or 'blank'!r}, which sends nothing",
                                     hint="decide only on add, update and delete rows")
            continue  # actions.csv's other rows (unchanged, deferred, rejected)
        if decision not in APPROVE | REJECT:
            raise DecisionsError(f"{target}, line {line}, column decision: {decision!r} is "
                                 "neither approve nor reject", hint=hint)
        key = cell(values, key_at)
        if not key:
            raise DecisionsError(f"{target}, line {line}: no key", hint=hint)
        first = seen.setdefault((action, key), line)
        if first != line:
            raise DecisionsError(f"{target}, line {line}: the {action} of {key!r} is decided "
                                 f"twice (also on line {first})",
                                 hint="keep one row per write")
        rows.append(Decision(line=line, action=action, key=key, approve=decision in APPROVE,
                             comment=cell(values, "comment"),
                             reviewer=cell(values, "reviewer")))
    return Decisions(path=target, sha256=hashlib.sha256(raw).hexdigest(), rows=tuple(rows))
