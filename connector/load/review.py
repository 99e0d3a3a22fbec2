"""A steward's decisions laid on a saved plan's writes: approved writes go out; each
refused one is reported `refused by reviewer` with the steward's comment. A decision
naming a write the plan does not hold is refused with its line; a write the file
does not name was not reviewed, so it is not sent either."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import UsageError
from ..extract.decisions import Decisions
from ..plan import Write


@dataclass
class Reviewed:
    approved: list[Write] = field(default_factory=list)
    refused: list[tuple[Write, str]] = field(default_factory=list)


def review(writes: Sequence[Write], decisions: Decisions) -> Reviewed:
    """Sort `writes` by `decisions`; UsageError (exit 2) naming the line of a decision
    on a write the plan does not hold."""
    planned = {(w.kind, w.key): w for w in writes}
    by_write = {}
    for d in decisions.rows:
        if (d.action, d.key) not in planned:
            raise UsageError(f"{decisions.path}, line {d.line}: the plan holds no {d.action} "
                             f"of {d.key!r}",
                             hint="use the decisions file of this plan's report (or its "
                                  "actions.csv)")
        by_write[(d.action, d.key)] = d
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
