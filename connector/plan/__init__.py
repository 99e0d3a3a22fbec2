"""The plan: what a sync must add, patch and delete, worked out from the validated
source and the campaign's live contacts. Pure: no I/O, no clock.

Its rooms: `model` (the value), `match` (build_plan), `phones` (ownership and
waves), `order` (the rows in line order), `safety` (what protects contacts, the
delete rule), `parts` (a large plan worked out in parts of about 100,000 rows, its
tables held as Arrow text: `build_plan_parts`, the same plan as `build_plan`).

`build_plan(valid, rejects, remote, mode, options)` returns a `Plan`, a value that
can be printed (`summary_lines`), saved (`to_json`), loaded back (`Plan.from_json`)
and tested. Its two tables account for everything:

* ``rows``: one line per source row, ``action`` one of add, update, unchanged,
  deferred, rejected, with ``reason``; the new values and, when the key matched a
  remote contact, that contact's values before (``before_*``); ``changed`` lists the
  fields an update patches.
* ``remote``: one line per remote contact, ``action`` one of kept, updated, deleted,
  deferred, unmanaged, with ``reason`` and the contact's values as listed.

The rules are product.md's "Sync modes" and "Rules that protect data"; the
comparisons normalize both sides, so the same data never yields an update.
"""

from .match import build_plan
from .model import (
    CARRIED_REASON,
    COMPARED,
    FIELDS,
    FINGERPRINT_FIELDS,
    MODES,
    NOTE_COLUMNS,
    PLAN_VERSION,
    REASONS,
    REJECT_COLUMNS,
    REMOTE_ACTIONS,
    REMOTE_COLUMNS,
    REMOTE_PLAN_COLUMNS,
    ROW_COLUMNS,
    SOURCE_ACTIONS,
    Plan,
    PlanOptions,
    Write,
    contact_fingerprints,
    empty_frame,
    remote_frame,
)
from .parts import build_plan_parts

__all__ = ["CARRIED_REASON", "COMPARED", "FIELDS", "MODES", "NOTE_COLUMNS", "PLAN_VERSION",
           "REASONS", "REJECT_COLUMNS", "REMOTE_ACTIONS", "REMOTE_COLUMNS",
           "REMOTE_PLAN_COLUMNS", "ROW_COLUMNS", "SOURCE_ACTIONS", "FINGERPRINT_FIELDS", "Plan", "PlanOptions", "Write",
           "contact_fingerprints",
           "build_plan", "build_plan_parts", "empty_frame", "remote_frame"]
