"""The sync: validate, lock, finish what an interrupted run left, plan against the live
campaign, load, verify, record, report. The one place where the stages run in order
for a real sync; `plan` is the same thing without the writes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .api.client import ApiClient
from .errors import ExitCode, RejectPolicy
from .fileio import write_csv
from .incremental import (
    candidate_phones,
    carried_match,
    keys_against_state,
    remote_hashes,
    source_hashes,
)
from .load import Loader, LoadOptions, Progress, record_plan, wait_for_pending_jobs
from .normalize import as_text, comparison_frame, norm_phones, phone_hashes, stripped_text
from .outcome import attach_outcomes, outcome_counts
from .pipeline import (
    fetch_remote,
    listed_text,
    make_plan,
    prepare_source,
    rejected_source_rows,
    source_chunks,
    validate_prepared,
    validate_while,
)
from .plan import REMOTE_COLUMNS, Plan, PlanOptions
from .privacy import mask_text
from .report import write_outcome_files, write_report
from .runtime import batch_gc
from .state import StateStore, utcnow

log = logging.getLogger("campaign_sync.sync")

@dataclass
class SyncOutcome:
    exit_code: int
    plan: Plan | None = None
    run_id: int | None = None
    report_dir: Path | None = None
    report_html: Path | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    unconfirmed: int = 0
    messages: list[str] = field(default_factory=list)


def verify(store: StateStore, run_id: int, remote: pd.DataFrame, region: str | None
           ) -> tuple[int, int]:
    """Check every operation of the run against a fresh read of the campaign; returns
    (confirmed, not confirmed). Operations that failed stay failed.

    Only the contacts the operations name (by id or key, every copy of a key) are
    normalized for the comparison, so checking 1% of a campaign costs 1%."""
    ops = [op for op in store.operations(run_id) if op["status"] != "failed"]
    want_ids = {int(op["remote_id"]) for op in ops if op["remote_id"] is not None}
    want_keys = {op["key"] for op in ops if op["key"]}
    keys = stripped_text(remote["external_unique_id"])
    named = (remote["remote_id"].isin(want_ids).fillna(False).to_numpy(dtype=bool)
             | keys.isin(want_keys).to_numpy(dtype=bool))
    rem = comparison_frame(remote[named].reset_index(drop=True), region)
    ids = set(int(x) for x in rem["remote_id"].dropna())
    # the named contacts as plain dicts, by id (the first with it) and by key (a key
    # one contact holds): a look-up per operation, not a pandas row each
    compared = ["n_name", "n_email", "n_phone_number"]
    with_id = rem.dropna(subset=["remote_id"]).drop_duplicates("remote_id")
    by_id = dict(zip(with_id["remote_id"].astype(int).tolist(),
                     with_id[compared].to_dict("records")))
    keyed = rem[rem["key"].ne("")].drop_duplicates("key", keep=False)
    by_key = dict(zip(keyed["key"].tolist(),
                      keyed[[*compared, "remote_id"]].to_dict("records")))

    def same(row: Mapping[str, Any], payload: dict[str, Any]) -> bool:
        for f, v in payload.items():
            if f == "external_unique_id" or f == "outbound_number" or not v:
                continue
            if row[f"n_{f}"] != v:
                return False
        return True

    results = []
    for op in ops:
        if op["kind"] == "delete":
            results.append((op["id"], op["remote_id"] not in ids, None))
        elif op["kind"] == "update":
            ok = op["remote_id"] in ids and same(by_id[op["remote_id"]], op["payload"])
            results.append((op["id"], bool(ok), None))
        else:
            if op["key"] in by_key:
                row = by_key[op["key"]]
                rid = row["remote_id"]
                results.append((op["id"], same(row, op["payload"]),
                                None if pd.isna(rid) else int(rid)))
            else:
                results.append((op["id"], False, None))
    store.confirm(results)
    confirmed = sum(1 for _i, ok, _r in results if ok)
    return confirmed, len(results) - confirmed


def _answers_show_patches(answers: Mapping[int, Any], store: StateStore, run_id: int
                          ) -> bool:
    """True when every done PATCH of the run has an answer showing each field it sent
    (with any value: a different one is then reported unconfirmed)."""
    for op in store.operations(run_id, "update", ["done"]):
        contact = answers.get(int(op["remote_id"])) if op["remote_id"] is not None else None
        if contact is None:
            return False
        if any(getattr(contact, f, None) is None for f in op["payload"]):
            return False
    return True


def after_answers(remote: pd.DataFrame, answers: Mapping[int, Any], store: StateStore,
                  run_id: int) -> pd.DataFrame:
    """The campaign after a run of patches and deletes, without reading it again: the
    read the plan was made from, less the contacts a DELETE answered for, with every
    patched contact as its PATCH answer showed it (the platform's own word on what it
    now holds). `verify` checks the operations against it as against a re-read."""

    gone = {int(op["remote_id"]) for op in store.operations(run_id, "delete")
            if op["status"] == "done" and op["remote_id"] is not None}
    ids = remote["remote_id"]
    after = remote[~ids.isin(gone | set(answers)).fillna(False).to_numpy(dtype=bool)]
    if not answers:
        return after.reset_index(drop=True)
    patched = pd.DataFrame([[c.id] + [listed_text(getattr(c, f)) for f in REMOTE_COLUMNS[1:]]
                            for c in answers.values()], columns=list(REMOTE_COLUMNS),
                           dtype=object)
    patched["remote_id"] = pd.array(patched["remote_id"].to_numpy(), dtype="Int64")
    return pd.concat([after, patched], ignore_index=True)


def write_operations(store: StateStore, run_id: int, path: Path, *, mask_pii: bool) -> int:
    """operations.csv: the outcome of every write: kind, key, remote id, line, status,
    confirmed, error."""

    def lines():
        for op in store.operations(run_id):
            error = op["error"] or ""
            yield [op["kind"], op["key"] or "", op["remote_id"] or "", op["line"] or "",
                   op["status"], {1: "yes", 0: "no"}.get(op["confirmed"], ""),
                   mask_text(error) if mask_pii else error]

    return write_csv(path, ["kind", "external_unique_id", "remote_id", "line", "status",
                            "confirmed", "error"], lines())


@batch_gc()
def run_sync(*, source: str, campaign_id: int, mapping: str, plan_options: PlanOptions,
             load_options: LoadOptions, settings: Any, state_path: str | None,
             report_dir: str, mask_pii: bool = False, progress: Progress | None = None,
             echo: Callable[[str], None] = lambda s: None, client: Any = None,
             full_check: bool = False, full_check_every: int = 0,
             trust_state: bool = False, reject_policy: RejectPolicy | None = None
             ) -> SyncOutcome:
    """A real sync. Raises CampaignSyncError subclasses for unusable input (before any
    request), a held lock, and network failures (after recording the run as failed)."""

    info, source_frame, mapping_obj, mapped = prepare_source(source, mapping)
    echo(f"read {len(mapped):,} rows from {source}")
    region = mapping_obj.region
    own_client = client is None
    client = client or ApiClient(settings)
    store = StateStore(state_path)
    run_id: int | None = None
    try:
        store.acquire_lock(campaign_id)
        for old in store.unfinished_runs(campaign_id):
            store.finish_run(old.id, "interrupted", int(ExitCode.FAILED), counts=old.counts,
                             message="the process stopped before the end; finished by a "
                                     "later run")
            echo(f"run {old.id} was interrupted; waiting for its import jobs, then planning "
                 "against the campaign as it is now")
        left = wait_for_pending_jobs(client, store, campaign_id,
                                     timeout=load_options.job_timeout,
                                     first_poll=load_options.first_poll,
                                     max_poll=load_options.max_poll)
        for job in left:
            echo(f"warning: job {job['job_id']} of run {job['run_id']} is still running")
        if not full_check and full_check_every > 0:
            full_check = _full_check_due(store, campaign_id, full_check_every)
        applied = store.applied(campaign_id)
        trusting = trust_state and not full_check and not applied.empty
        if trust_state and not trusting:
            echo("--trust-state: " + ("a full check is due" if full_check else
                                      "no applied state yet") + "; reading the campaign")
        if trusting:
            echo("warning: --trust-state: planning against the state store, not the "
                 "campaign; changes made in the platform since the last run are not seen, "
                 "active contacts are not deferred, and the result is not verified by a "
                 "second read (run without --trust-state, or with --full-check-every N, "
                 "to check)")
            log.warning("planning against the state store (--trust-state)",
                        extra={"event": "trust_state", "campaign_id": campaign_id})
        run_id = store.start_run(
            campaign_id, "sync", source=str(source), source_sha256=info.sha256,
            mapping=str(mapping_obj.path), mode=plan_options.mode,
            options={"max_delete_fraction": plan_options.max_delete_fraction,
                     "force": plan_options.force, "chunk_size": load_options.chunk_size,
                     "concurrency": load_options.concurrency,
                     "job_timeout": load_options.job_timeout, "full_check": full_check,
                     "trust_state": trusting},
            report_dir=str(report_dir))
        store.set_lock_run(campaign_id, run_id)
        log.info("run %s started: sync of %s into campaign %s (%s)", run_id, source,
                 campaign_id, plan_options.mode,
                 extra={"event": "run_started", "run_id": run_id, "campaign_id": campaign_id,
                        "mode": plan_options.mode, "source_sha256": info.sha256,
                        "rows": len(mapped)})
        row_hashes = source_hashes(mapped, mapping_obj)  # once: compared, then recorded
        validated = None
        if trusting:
            remote = _remote_from_state(applied)
        elif full_check or applied.empty:
            # every row is compared: validate them while the campaign is read
            validated, remote = validate_while(info, source_frame, mapping_obj, mapped,
                                               lambda: fetch_remote(client, campaign_id))
        else:
            remote = fetch_remote(client, campaign_id)
        if not trusting:
            log.info("campaign %s read: %d contacts", campaign_id, len(remote),
                     extra={"event": "campaign_read", "run_id": run_id,
                            "contacts": len(remote)})
        if validated is None:
            validated = _validate_incremental(store, campaign_id, info, source_frame,
                                              mapping_obj, mapped, remote, full=full_check,
                                              trusting=trusting, applied=applied,
                                              hashes=row_hashes)
        carried_n = 0 if validated.carried is None else len(validated.carried)
        # a run that carried nothing compared every row: it counts as a full check
        store.update_run_options(run_id, full_check=carried_n == 0)
        echo(f"{validated.result.valid_count + carried_n:,} valid, "
             f"{validated.result.rejected_count:,} rejected"
             + (f" ({carried_n:,} rows as the last run left them: not compared again)"
                if carried_n else ""))
        log.info("validated: %d rows, %d carried from the last run", len(mapped), carried_n,
                 extra={"event": "validated", "run_id": run_id, "rows": len(mapped),
                        "valid": validated.result.valid_count + carried_n,
                        "rejected": validated.result.rejected_count, "carried": carried_n})
        plan = make_plan(validated, remote, plan_options,
                         meta={"campaign_id": campaign_id, "command": "sync", "run_id": run_id,
                               "created_at": utcnow(),
                               "reject_policy": (reject_policy or RejectPolicy()).describe()})
        lines = plan.rejects["line"].dropna().astype(int).unique().tolist() if len(
            plan.rejects) else []
        originals = rejected_source_rows(validated, lines)
        outcome = SyncOutcome(exit_code=0, plan=plan, run_id=run_id)
        pc = plan.counts()
        log.info("plan: %s", ", ".join(f"{k} {v}" for k, v in pc["source"].items()),
                 extra={"event": "planned", "run_id": run_id, "source": pc["source"],
                        "remote": pc["remote"], "reject_reasons": pc["reject_reasons"],
                        "refused": plan.refused})
        if plan.refused:
            files = write_report(plan, report_dir, mask_pii=mask_pii, originals=originals)
            store.finish_run(run_id, "refused", int(ExitCode.REFUSED), counts=plan.counts(),
                             message=plan.refused)
            outcome.exit_code = int(ExitCode.REFUSED)
            outcome.report_dir, outcome.report_html = files.directory, files.report_html
            outcome.messages.append(f"REFUSED: {plan.refused}")
            return outcome

        record_plan(store, run_id, plan)
        loader = Loader(client, store, run_id, campaign_id, load_options, progress=progress,
                        read_campaign=lambda: fetch_remote(client, campaign_id))
        result = loader.run()

        result.reads += 1
        after = remote
        sent = store.op_counts(run_id)
        failed_n = sum(c.get("failed", 0) for c in sent.values())
        attempted = sum(sum(c.values()) for c in sent.values())
        if trusting:  # no second read: the writes' own answers are the outcome
            confirmed = unconfirmed = 0
            method = "trust-state"
        elif plan.has_writes() and attempted > failed_n:
            if (full_check or store.has_operations(run_id, "add")
                    or not _answers_show_patches(loader.answers, store, run_id)):
                # imports answer with a job, not the contacts (and an answer without
                # a patched field says nothing of it): read the campaign again
                after = fetch_remote(client, campaign_id)
                result.reads += 1
                method = "re-read"
            else:  # patches and deletes only: the platform's answers say what it holds
                after = after_answers(remote, loader.answers, store, run_id)
                method = "answers"
            confirmed, unconfirmed = verify(store, run_id, after, region)
        else:  # nothing was sent, or all of it failed: nothing to confirm, no second read
            confirmed = unconfirmed = 0
            method = "none"
        verification = verification_text(method, attempted, failed_n, confirmed, unconfirmed,
                                         len(after))
        log.info("verified: %d confirmed, %d not confirmed", confirmed, unconfirmed,
                 extra={"event": "verified", "run_id": run_id, "confirmed": confirmed,
                        "unconfirmed": unconfirmed})
        _record_applied(store, campaign_id, run_id, plan, validated,
                        None if trusting else after, row_hashes)

        if result.rejected:
            extra = pd.DataFrame([{
                "line": r["line"], "key": r["key"], "field": "phone_number",
                "value": r["payload"].get("phone_number", ""), "reason": "platform_rejected",
                "hint": f"the platform refused this contact: {r['reason']}"}
                for r in result.rejected])
            plan.rejects = pd.concat([plan.rejects, extra], ignore_index=True)
            lines = sorted(set(lines) | {int(r["line"]) for r in result.rejected if r["line"]})
            originals = rejected_source_rows(validated, lines)
        plan.rows, plan.remote = attach_outcomes(plan.rows, plan.remote,
                                                 store.operation_table(run_id))
        counts = {**plan.counts(), "load": result.counts(), "confirmed": confirmed,
                  "unconfirmed": unconfirmed, "operations": store.op_counts(run_id),
                  "outcome": outcome_counts(plan.rows, plan.remote),
                  "verification": verification}
        plan.meta["outcome"] = counts
        files = write_report(plan, report_dir, mask_pii=mask_pii, originals=originals)
        write_operations(store, run_id, files.directory / "operations.csv", mask_pii=mask_pii)
        columns, chunks = source_chunks(validated)
        write_outcome_files(plan, files.directory, source_columns=columns,
                            source_chunks=chunks, mask_pii=mask_pii)
        rejected_rows = int(plan.rows["action"].eq("rejected").sum())
        problems = unconfirmed + result.failed + result.pending + len(result.rejected)
        code = (reject_policy or RejectPolicy()).exit_code(rejected_rows, len(plan.rows),
                                                            problems)
        status = ("partial" if code != ExitCode.OK else
                  "done_with_rejects" if rejected_rows else "done")
        store.finish_run(run_id, status, int(code), counts=counts)
        log.info("run %s finished: %s, exit %d", run_id, status, int(code),
                 extra={"event": "run_finished", "run_id": run_id, "status": status,
                        "exit_code": int(code), "load": result.counts()})
        outcome.exit_code = int(code)
        outcome.counts = counts
        outcome.unconfirmed = unconfirmed
        outcome.report_dir, outcome.report_html = files.directory, files.report_html
        return outcome
    except BaseException as exc:
        if run_id is not None:
            try:
                code = getattr(exc, "exit_code", ExitCode.FAILED)
                store.finish_run(run_id, "failed", int(code), message=str(exc)[:500])
                log.error("run %s failed: %s", run_id, type(exc).__name__,
                          extra={"event": "run_failed", "run_id": run_id,
                                 "exit_code": int(code)})
            except Exception:  # noqa: BLE001 - the original error matters more
                log.debug("could not record the failure", exc_info=True)
        raise
    finally:
        try:
            store.release_lock(campaign_id)
        finally:
            store.close()
            if own_client:
                client.close()


def verification_text(method: str, attempted: int, failed: int, confirmed: int,
                      unconfirmed: int, contacts: int) -> str:
    """What the run checked after its writes, and how, in one line."""
    if method == "trust-state":
        return ("not verified (--trust-state): the platform's answers to the writes are "
                "taken as the outcome, the campaign is not read again")
    if not attempted:
        return "nothing was sent, so nothing to verify"
    if method == "none":
        return (f"nothing to verify: all {attempted:,} writes failed (see errors.csv)"
                if failed == attempted else "nothing to verify")
    checked = confirmed + unconfirmed
    how = (f"a fresh read of the campaign ({contacts:,} contacts)" if method == "re-read"
           else "the platform's answers to them (a PATCH answers with the contact as "
                "stored, a DELETE with the contact deleted)")
    text = (f"checked {checked:,} of {attempted:,} writes against {how}: {confirmed:,} "
            f"confirmed, {unconfirmed:,} not confirmed")
    return text + (f"; {failed:,} failed and were not checked" if failed else "")


def _full_check_due(store: StateStore, campaign_id: int, every: int) -> bool:
    """True when the last `every - 1` finished syncs were all incremental."""
    recent = [r for r in store.runs(campaign_id, limit=every * 3)
              if r.command == "sync"
              and r.status in ("done", "done_with_rejects", "partial")][:max(0, every - 1)]
    if len(recent) < every - 1:
        return not recent and every == 1
    return not any(r.options.get("full_check") for r in recent)


def _remote_from_state(applied: pd.DataFrame) -> pd.DataFrame:
    """The campaign as the state store knows it (--trust-state): keys and ids only.
    Rows whose source changed are compared against blanks, so every field they have
    is patched (idempotent). Phones are unknown, so phone_in_use is left to the
    platform (a refused patch is reported failed; an import is bisected)."""
    n = len(applied)
    return pd.DataFrame({
        "remote_id": pd.array(applied["remote_id"].to_numpy(), dtype="Int64"),
        "external_unique_id": applied["key"].to_numpy(), "name": [""] * n, "email": [""] * n,
        "phone_number": [""] * n,
        "outbound_number": [""] * n, "status": [""] * n})


def _validate_incremental(store: StateStore, campaign_id: int, info: Any, source: pd.DataFrame,
                          mapping: Any, mapped: pd.DataFrame, remote: pd.DataFrame, *,
                          full: bool, trusting: bool = False,
                          applied: pd.DataFrame | None = None,
                          hashes: pd.Series | None = None) -> Any:
    """Validate, skipping the rows that are exactly as the last applied run left them
    on both sides. Falls back to the full path when a re-checked row's phone is one a
    skipped row holds (duplicate_phone must then be decided over every row)."""
    import numpy as np

    if applied is None:
        applied = store.applied(campaign_id)
    if hashes is None:
        hashes = source_hashes(mapped, mapping)
    if trusting:  # a row as last applied (the first state row with its key), key once
        keys = stripped_text(mapped["external_unique_id"]).to_numpy(dtype=object)
        _codes, at, once = keys_against_state(keys, applied)
        stored = applied["row_hash"].to_numpy(dtype="int64")
        same = np.zeros(len(keys), dtype=bool)
        hit = np.flatnonzero(at >= 0)
        same[hit] = stored[at[hit]] == hashes.to_numpy()[hit]
        same &= once
        return validate_prepared(info, source, mapping, mapped,
                                 pd.Series(same, index=mapped.index))
    if full:
        return validate_prepared(info, source, mapping, mapped)
    skip, last, positions = carried_match(mapped, mapping, remote, applied, hashes)
    if not skip.any():
        return validate_prepared(info, source, mapping, mapped)
    validated = validate_prepared(info, source, mapping, mapped, skip)
    # the carried rows' phones: their hash as recorded by the last run (the campaign
    # contact is unchanged since), else normalized from the campaign (older stores);
    # carried rows are the skipped ones in order, each found in `last` by carried_match
    carried_keys = validated.carried["external_unique_id"].to_numpy(dtype=object)
    at = positions[skip.to_numpy()]
    recorded = pd.array(last["phone_hash"], dtype="Int64")[at]
    known = ~recorded.isna()
    # the plan matches phones of carried contacts by these hashes instead of
    # normalizing every campaign phone again
    validated.carried["phone_hash"] = recorded
    held = recorded[known].to_numpy(dtype="int64")
    if not known.all():
        unknown = set(carried_keys[~known])
        rkeys = stripped_text(remote["external_unique_id"])
        phones = set(norm_phones(remote.loc[rkeys.isin(unknown), "phone_number"],
                                  mapping.region)) - {""}
        held = np.concatenate([held, phone_hashes(sorted(phones)).to_numpy()])
    fresh = (set(validated.result.valid["phone_number"])
             | candidate_phones(mapped.loc[~skip], mapping)) - {""}
    # (pandas' isin hashes the few fresh phones; np.isin would sort a million)
    if pd.Series(held).isin(phone_hashes(sorted(fresh)).to_numpy()).any():
        log.info("a re-checked row's phone is held by a carried one: validating every row")
        return validate_prepared(info, source, mapping, mapped)
    return validated


def _record_applied(store: StateStore, campaign_id: int, run_id: int, plan: Plan,
                    validated: Any, after: pd.DataFrame | None,
                    hashes: pd.Series | None = None) -> None:
    """The last applied state of every contact this run added, updated or found equal
    (confirmed only): the source row's hash and the campaign contact's hash as read
    after the run; and forget the ones it deleted. Rows carried over are left as
    they are (their hashes did not change), and only the recorded rows are hashed
    and looked up, so a night that changed 1% records 1%."""

    done = {(op["kind"], op["key"]): op for op in store.operations(run_id, statuses=["done"])}
    rows = plan.rows
    keep = rows["action"].isin(["add", "update", "unchanged"]) & rows["reason"].ne(
        "same_as_last_run")
    mapped = validated.mapped
    removed = [op["key"] for (kind, _k), op in done.items() if kind == "delete" and op["key"]]
    if mapped is None:
        return
    wanted = set(rows.loc[keep, "external_unique_id"])
    mkeys = stripped_text(mapped["external_unique_id"])
    mine = mkeys.isin(wanted).to_numpy()
    if hashes is None:
        hashes = source_hashes(mapped[mine], validated.mapping)
    else:
        hashes = hashes[mine]
    src_hash = dict(zip(mkeys[mine].to_numpy(), hashes.to_numpy()))
    if after is None:  # --trust-state: no read after the run; ids from the operations
        rem_hash: dict[str, Any] = {}
        rem_id = {op["key"]: op["remote_id"] for op in done.values()}
        for key, rid in zip(rows.loc[keep, "external_unique_id"], rows.loc[keep, "remote_id"]):
            rem_id.setdefault(key, rid)
    else:
        akeys = stripped_text(after["external_unique_id"])
        # contacts with a wanted key that no other contact holds: duplicates of a
        # wanted key are all among the wanted ones, so only those are looked at
        single = (akeys.isin(wanted) & akeys.ne("")).to_numpy(copy=True)
        single[single] = ~akeys[single].duplicated(keep=False).to_numpy()
        rem_hash = dict(zip(akeys[single].to_numpy(), remote_hashes(after[single]).to_numpy()))
        rem_id = dict(zip(akeys[single].to_numpy(), after.loc[single, "remote_id"].to_numpy()))
    # the phone the contact holds after the run: the source's E.164 (added, patched or
    # found equal); unknown when the source left it blank
    kept = rows.loc[keep, ["external_unique_id", "action", "phone_number"]]
    # ... but not for a row add-only mode left alone: its contact may hold another phone
    phone = as_text(kept["phone_number"].where(rows.loc[keep, "reason"].ne("add_only"),
                                               "")).to_numpy(dtype=object)
    hashes_of = phone_hashes(phone).to_numpy() if len(phone) else []
    applied = []
    for (key, action), ph, phash in zip(
            zip(kept["external_unique_id"], kept["action"]), phone, hashes_of):
        if action in ("add", "update") and (action, key) not in done:
            continue
        if key not in src_hash or (after is not None and key not in rem_hash):
            continue
        rid = rem_id.get(key)
        rh = rem_hash.get(key)
        applied.append((key, int(src_hash[key]), None if rh is None else int(rh),
                        None if rid is None or pd.isna(rid) else int(rid),
                        int(phash) if ph else None))
    store.record_applied(campaign_id, run_id, applied, removed)
