"""A steward's decisions laid on a saved plan's writes: approved writes go out; each
refused one is reported `refused by reviewer` with the steward's comment. A decision
naming a write the plan does not hold is refused with its line; a write the file
does not name was not reviewed, so it is not sent either.

The report's CSV files (actions.csv, and the page's decisions.csv) give a key that
starts like a spreadsheet formula (= + - @) a leading apostrophe; such a key names the
write of the key without it when the plan holds no key with the apostrophe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import UsageError
from ..extract.decisions import Decision, Decisions
from ..fileio import FORMULA_PREFIXES
from ..plan import Write


@dataclass
class Reviewed:
    approved: list[Write] = field(default_factory=list)
    refused: list[tuple[Write, str]] = field(default_factory=list)


def review(writes: Sequence[Write], decisions: Decisions) -> Reviewed:
    """Sort `writes` by `decisions`; UsageError (exit 2) naming the line of a decision
    on a write the plan does not hold."""
    planned = {(w.kind, w.key): w for w in writes}
    by_write: dict[tuple[str, str], Decision] = {}
    for d in decisions.rows:
        named = _planned_write(planned, d)
        if named is None:
            raise UsageError(f"{decisions.path}, line {d.line}: the plan holds no {d.action} "
                             f"of {d.key!r}",
                             hint="use the decisions file of this plan's report (or its "
                                  "actions.csv)")
        first = by_write.setdefault(named, d)
        if first is not d:  # 'x and x, one of them as a CSV file neutralized it
            raise UsageError(f"{decisions.path}, line {d.line}: the {d.action} of "
                             f"{named[1]!r} is decided twice (also on line {first.line})",
                             hint="keep one row per write")
    out = Reviewed()
    for w in writes:
        d = by_write.get((w.kind, w.key))
        if d is None:
            out.refused.append((w, f"not reviewed: {decisions.path.name} does not name it"))
        elif d.approve:
            out.approved.append(w)
        else:
            who = f" ({d.reviewer})" if d.reviewer else ""
            out.refused.append((w, f"refused by reviewer{who}" +
                                (f": {d.comment}" if d.comment else "")))
    return out


def _planned_write(planned: dict[tuple[str, str], Write], d: Decision
                  ) -> tuple[str, str] | None:
    """The (action, key) of the planned write decision `d` names: its key as it is, or
    without the apostrophe a CSV file put before a key that starts like a formula."""
    if (d.action, d.key) in planned:
        return (d.action, d.key)
    bare = d.key[1:]
    if d.key.startswith("'") and bare.startswith(FORMULA_PREFIXES) and (d.action, bare) in planned:
        return (d.action, bare)
    return None
