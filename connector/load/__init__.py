"""Load: a plan carried out through `api/` (deletes, then updates wave by wave, then
adds through import jobs), every step recorded in the state store before it is
sent; then verified against the campaign. `rollback` works out what undoes a run."""

from .loader import (
    Loader,
    LoadOptions,
    LoadResult,
    Progress,
    record_plan,
    wait_for_pending_jobs,
)
from .rollback import plan_rollback, rollback_plan
from .verify import after_answers, answers_show_patches, verification_text, verify

__all__ = ["LoadOptions", "LoadResult", "Loader", "Progress", "after_answers",
           "answers_show_patches", "plan_rollback", "record_plan", "rollback_plan",
           "verification_text", "verify", "wait_for_pending_jobs"]
