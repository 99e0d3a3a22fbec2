"""The one orchestrator: the stages run in order, and nowhere else.

Each command is a short sequence of named steps, each step a call into the room
that owns it (extract, validate, incremental, plan, load, state, report):

* `validate_source`: read and map the source, then validate every row;
* `plan_run`: the same while the campaign is read (GET only), then plan and report;
* `sync_run`: lock, finish what an interrupted run left, read and validate, plan,
  load, verify, record what was applied, report (see `Sync`);
* `rollback_run`: work out what undoes a run, carry it out, verify, report.

Only the command line (and the demo) call this module; the rooms never do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from collections.abc import Mapping as Lookup
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .api.client import ApiClient
from .api.frame import fetch_remote
from .errors import ApiError, ExitCode, RejectPolicy, SafetyRefusedError, UsageError
from .extract import Mapping, load_mapping, prepare_source, source_chunks, source_rows
from .extract.decisions import Decisions, read_decisions
from .extract.suppress import Suppression, read_numbers, read_suppressions
from .fileio import write_csv
from .incremental import (
    full_check_due,
    record_applied,
    remote_from_state,
    source_hashes,
    validate_incremental,
)
from .load import (
    Loader,
    LoadOptions,
    Progress,
    after_answers,
    answers_show_patches,
    plan_rollback,
    record_plan,
    rollback_plan,
    verification_text,
    verify,
    wait_for_pending_jobs,
)
from .load.dnc import DncResult
from .load.dnc import check as dnc_check
from .load.dnc import push as dnc_push
from .load.dnc import remove as dnc_remove
from .load.review import review
from .load.stale import check_writes as check_writes_against
from .load.stale import earlier_key
from .normalize import TEXT, norm_phones, normalize_phone, stripped_text
from .plan import Plan, PlanOptions, Write, build_plan_parts
from .plan.compliance import DO_NOT_CALL, Compliance, why_suppressed
from .plan.safety import delete_rule
from .plan.saved import PlanFileError, checksum_of, unseal
from .report import (
    ReportFiles,
    attach_outcomes,
    operations_frame,
    outcome_counts,
    write_operations,
    write_outcome_files,
    write_plan_file,
    write_rejects_table,
    write_report,
)
from .report.ledger import ledger_events
from .runtime import batch_gc, give_back_memory
from .state import StateStore, default_state_path, utcnow
from .validate import Validated, validate_prepared, validate_while

log = logging.getLogger("campaign_sync.sync")


# ------------------------------------------------------------------ validate


def validate_source(path: str | Path, mapping: Mapping | str | Path) -> Validated:
    """Read `path` with the mapping's reader hints, map it, normalize and validate it."""
    info, df, mapping, mapped = prepare_source(path, mapping)
    return validate_prepared(info, df, mapping, mapped)


def suppressed_rows(validated: Validated, suppress: Sequence[str | Path]
                    ) -> tuple[int, list[str]]:
    """How many valid rows the suppression lists hold (by phone, email or key)."""
    s = read_suppressions(list(suppress), validated.mapping, validated.mapping.region)
    valid = validated.result.valid
    hit = (valid["phone_number"].isin(list(s.phones))
           | valid["email"].astype(str).str.lower().isin(list(s.emails))
           | valid["external_unique_id"].astype(str).str.strip().isin(list(s.keys)))
    return int(hit.sum()), s.files


def rejected_source_rows(validated: Validated, lines: Iterable[int] | None = None
                         ) -> tuple[list[str], dict[int, list[str]]]:
    """Every column of the source's rejected rows (or of `lines`), by line, read again
    from the file."""
    wanted = validated.result.rejected_lines if lines is None else lines
    return source_rows(validated.info, validated.source, validated.mapping, wanted)


def write_rejects(validated: Validated, output: str | Path) -> int:
    """rejects.csv: one line per rejected row, in file order: the original row's
    columns (all of them), then its line and, joined by " | " when the row has several
    problems, the fields, values, reasons and hints. UTF-8 with BOM, formula-like cells
    neutralized, so it can be fixed in a spreadsheet and fed back as a source.
    Returns the number of rows written."""

    return write_rejects_table(validated.result.rejects, output,
                               originals=rejected_source_rows(validated))


# ------------------------------------------------------------------ plan


def make_plan(validated: Validated, remote: pd.DataFrame, options: PlanOptions, *,
              meta: dict[str, Any] | None = None, held: Collection[str] = (),
              compliance: Compliance | None = None) -> Plan:
    """The plan of a validated source against the campaign's contacts (the `held` keys
    left alone)."""

    if options.region is None and validated.mapping.region:
        options = PlanOptions(mode=options.mode, max_delete_fraction=options.max_delete_fraction,
                              force=options.force, region=validated.mapping.region)
    info = validated.info
    full_meta = {"source": str(info.path), "source_sha256": getattr(info, "sha256", ""),
                 "source_format": getattr(info, "format", ""),
                 "mapping": str(validated.mapping.path), **(meta or {})}
    plan = build_plan_parts(validated.result.valid, validated.result.rejects, remote, options,
                            meta=full_meta, carried=validated.carried,
                            protect=validated.result.rejected_rows, hold=held,
                            compliance=compliance, between_parts=give_back_memory)
    notes = validated.result.notes
    if len(notes):
        plan.notes = notes[["line", "field", "value", "note"]].reset_index(drop=True)
    return plan


def plan_rejects(plan: Plan, validated: Validated, extra_lines: Iterable[int] = ()
                 ) -> tuple[list[str], dict[int, list[str]]]:
    """The source rows behind the plan's rejects (and `extra_lines`), as written."""
    lines = set(plan.rejects["line"].dropna().astype(int).unique().tolist()) if len(
        plan.rejects) else set()
    return rejected_source_rows(validated, sorted(lines | {int(x) for x in extra_lines}))


def do_not_call_phones(remote: pd.DataFrame, region: str | None) -> dict[str, str]:
    """The numbers of the campaign's contacts in status Do Not Call (normalized) -> why."""
    dnc = remote["status"].eq(DO_NOT_CALL).to_numpy()
    if not dnc.any():
        return {}
    phones = norm_phones(remote.loc[dnc, "phone_number"], region)
    return {p: "a campaign contact with it is in status Do Not Call" for p in phones if p}


def compliance_for(suppression: Suppression | None, opted_out: Lookup[str, str],
                   remote: pd.DataFrame, region: str | None) -> Compliance:
    """What keeps numbers out of this plan: the suppression lists, the opt-outs the state
    store holds, and the campaign's Do Not Call contacts as read now."""
    s = suppression or Suppression()
    return Compliance(phones=s.phones, emails=s.emails, keys=s.keys,
                      opted_out={**do_not_call_phones(remote, region), **opted_out})


def stored_optouts(state_path: str | Path | None, campaign_id: int) -> dict[str, str]:
    """The opt-outs in force in the state store (none when there is no store yet)."""
    if state_path is None or not Path(state_path).exists():
        return {}
    with StateStore(state_path) as store:
        return store.optout_phones(campaign_id)


def held_keys(state_path: str | Path | None, campaign_id: int, hold: Collection[str] = ()
              ) -> list[str]:
    """The keys the steward holds for the campaign, after holding `hold` too (kept in
    the state store; a store is created only to keep new holds)."""
    if not hold and (state_path is None or not Path(state_path).exists()):
        return []
    with StateStore(state_path) as store:
        if hold:
            store.add_holds(campaign_id, hold)
        return store.held_keys(campaign_id)


def limits_of(policy: RejectPolicy) -> dict[str, Any]:
    """A reject policy as a plan records it (an apply takes it back with `policy_of`)."""
    return {"max_reject_fraction": policy.max_reject_fraction,
            "max_rejects": policy.max_rejects}


def policy_of(plan: Plan) -> RejectPolicy:
    """The reject policy the plan was made with (none: any rejected row exits 3)."""
    limits = plan.meta.get("reject_limits") or {}
    return RejectPolicy(max_reject_fraction=limits.get("max_reject_fraction"),
                        max_rejects=limits.get("max_rejects"))


@dataclass
class PlanRun:
    """What `plan_run` made: the validated source, the plan and its report files."""

    validated: Validated
    plan: Plan
    files: ReportFiles


@batch_gc()
def plan_run(*, source: str, campaign_id: int, mapping: str, options: PlanOptions,
             settings: Any, report_dir: str, mask_pii: bool = False, command: str = "plan",
             policy: RejectPolicy | None = None, out: str | Path | None = None,
             state_path: str | Path | None = None, hold: Collection[str] = (),
             suppress: Sequence[str | Path] = (),
             reading: Callable[[int], None] | None = None,
             echo: Callable[[str], None] = lambda s: None) -> PlanRun:
    """The dry run: nothing is written to the campaign.

    1. read and map the source (an unusable file or mapping stops here, before any
       request);
    2. validate the rows while the campaign is read (GET only; `reading` is told
       how many contacts have arrived);
    3. plan against the campaign, leaving alone the keys held in the state store
       (with `hold` added to them);
    4. write the report directory (its plan.json is the plan to apply, unless masked)
       and, with `out`, the plan to apply there too."""
    info, frame, mapping_obj, mapped = prepare_source(source, mapping)
    suppression = (read_suppressions(list(suppress), mapping_obj, mapping_obj.region)
                   if suppress else None)
    for line in suppression.lines() if suppression is not None else ():
        echo(line)

    def read_campaign() -> pd.DataFrame:
        with ApiClient(settings) as client:
            return fetch_remote(client, campaign_id, progress=reading)

    validated, remote = validate_while(info, frame, mapping_obj, mapped, read_campaign)
    # the source's cells are not needed again (the report reads the rows it shows from
    # the file): only its columns are kept
    validated.source, validated.mapped = frame.iloc[:0], None
    del frame, mapped
    give_back_memory()
    echo(f"read {validated.result.rows:,} rows from {source}: "
         f"{validated.result.valid_count:,} valid, {validated.result.rejected_count:,} rejected")
    echo(f"campaign {campaign_id}: {len(remote):,} contacts")
    held = held_keys(state_path, campaign_id, hold)
    compliance = compliance_for(suppression, stored_optouts(state_path, campaign_id), remote,
                                options.region or mapping_obj.region)
    policy = policy or RejectPolicy()
    plan = make_plan(validated, remote, options, held=held, compliance=compliance, meta={
        "campaign_id": campaign_id, "command": command, "created_at": utcnow(),
        "reject_policy": policy.describe(), "reject_limits": limits_of(policy)})
    files = write_report(plan, report_dir, mask_pii=mask_pii,
                         originals=plan_rejects(plan, validated))
    if out is not None:
        write_plan_file(plan, out)
    return PlanRun(validated=validated, plan=plan, files=files)


# ------------------------------------------------------------------ sync


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


@batch_gc()
def sync_run(*, source: str, campaign_id: int, mapping: str, plan_options: PlanOptions,
             load_options: LoadOptions, settings: Any, state_path: str | None,
             report_dir: str, mask_pii: bool = False, progress: Progress | None = None,
             echo: Callable[[str], None] = lambda s: None, client: Any = None,
             full_check: bool = False, full_check_every: int = 0,
             trust_state: bool = False, reject_policy: RejectPolicy | None = None,
             hold: Collection[str] = (), suppress: Sequence[str | Path] = (),
             push_suppressed: bool = False, dnc_expires_at: str | None = None
             ) -> SyncOutcome:
    """A real sync, step by step (each step is a method of `Sync`). Raises
    CampaignSyncError subclasses for unusable input (before any request), a held
    lock, and network failures (after recording the run as failed)."""
    dnc_expiry = expiry(dnc_expires_at, "--dnc-expires-at")  # checked before anything
    sync = Sync(source=source, campaign_id=campaign_id, plan_options=plan_options,
                load_options=load_options, report_dir=report_dir, mask_pii=mask_pii,
                echo=echo, full_check=full_check, trust_state=trust_state,
                reject_policy=reject_policy or RejectPolicy(), suppress=list(suppress))
    sync.read_source(mapping)
    with sync.session(settings, state_path, client):
        sync.finish_interrupted_runs()
        sync.read_holds(hold)
        sync.choose_check(full_check_every)
        sync.start_run()
        sync.read_and_validate()
        sync.make_plan()
        if sync.plan.refused:
            return sync.refuse()
        sync.load(progress)
        sync.verify()
        sync.record_applied()
        sync.record_optouts()
        if push_suppressed:
            try:
                sync.push_suppressed(dnc_expiry)
            except ApiError as exc:  # the writes are done: report them, exit 3
                sync.dnc_failure = str(exc)
                sync.echo(f"warning: the push to the company Do-Not-Call list failed: {exc}")
        return sync.report()


@dataclass
class Sync:
    """The state of one sync as its steps go (see `sync_run`)."""

    source: str
    campaign_id: int
    plan_options: PlanOptions
    load_options: LoadOptions
    report_dir: str
    mask_pii: bool
    echo: Callable[[str], None]
    full_check: bool
    trust_state: bool
    reject_policy: RejectPolicy
    client: Any = None
    store: StateStore = None  # type: ignore[assignment]
    run_id: int | None = None
    trusting: bool = False
    applied: pd.DataFrame | None = None
    # 1. the source
    info: Any = None
    frame: pd.DataFrame | None = None
    mapping: Mapping | None = None
    mapped: pd.DataFrame | None = None
    row_hashes: pd.Series | None = None
    # 2. the campaign, the verdict and the plan
    remote: pd.DataFrame | None = None
    validated: Validated | None = None
    plan: Plan = None  # type: ignore[assignment]
    # 3. the writes and their check
    loader: Loader | None = None
    # a saved plan's: its checksum, the writes to record, those found stale or done
    plan_sha256: str = ""
    writes: list[Write] | None = None
    stale: list[tuple[Write, str]] = field(default_factory=list)
    done_before: list[Write] = field(default_factory=list)
    refused_by_reviewer: list[tuple[Write, str]] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    # suppression lists (files), what they hold, and the opt-outs in force
    suppress: list[str | Path] = field(default_factory=list)
    suppression: Suppression | None = None
    compliance: Compliance | None = None
    dnc: DncResult | None = None
    dnc_failure: str = ""
    result: Any = None
    after: pd.DataFrame | None = None
    confirmed: int = 0
    unconfirmed: int = 0
    verification: str = ""

    @property
    def region(self) -> str | None:
        """The region national phone numbers are read in."""
        return self.mapping.region if self.mapping is not None else self.plan.options.region

    def originals(self, extra_lines: Iterable[int] = ()) -> Any:
        """The source rows behind the plan's rejects, as written (none for an apply)."""
        if self.validated is None:
            return None
        return plan_rejects(self.plan, self.validated, extra_lines)

    def read_source(self, mapping: str) -> None:
        """Read and map the source: an unusable file or mapping stops here."""
        self.info, self.frame, self.mapping, self.mapped = prepare_source(self.source, mapping)
        self.echo(f"read {len(self.mapped):,} rows from {self.source}")
        self.read_suppressions()

    def read_suppressions(self) -> None:
        """The suppression lists (a file that cannot be used stops here, before any
        request)."""
        if self.suppress:
            self.suppression = read_suppressions(self.suppress, self.mapping, self.region)
            s = self.suppression
            self.echo(f"suppression lists {', '.join(s.files)}: {len(s.phones):,} numbers, "
                      f"{len(s.emails):,} emails, {len(s.keys):,} keys")
            for line in s.lines():
                self.echo(line)

    def reconcile(self) -> None:
        """Deletes a killed run sent without an answer: done when the contact is gone
        (so the removal ledger counts each removal once), else failed."""
        present = {int(x) for x in self.remote["remote_id"].dropna().tolist()}
        self.store.reconcile_interrupted(self.campaign_id, present)
        self.compliance = compliance_for(self.suppression,
                                         self.store.optout_phones(self.campaign_id),
                                         self.remote, self.region)

    @contextmanager
    def session(self, settings: Any, state_path: str | None, client: Any) -> Iterator[None]:
        """The campaign's lock in the state store, held for the whole run; a failure
        is recorded against the run before it is raised again."""
        own_client = client is None
        self.client = client or ApiClient(settings)
        self.store = StateStore(state_path)
        try:
            self.store.acquire_lock(self.campaign_id)
            yield
        except BaseException as exc:
            self._record_failure(exc)
            raise
        finally:
            try:
                self.store.release_lock(self.campaign_id)
            finally:
                self.store.close()
                if own_client:
                    self.client.close()

    def _record_failure(self, exc: BaseException) -> None:
        if self.run_id is None:
            return
        try:
            code = getattr(exc, "exit_code", ExitCode.FAILED)
            self.store.finish_run(self.run_id, "failed", int(code), message=str(exc)[:500])
            log.error("run %s failed: %s", self.run_id, type(exc).__name__,
                      extra={"event": "run_failed", "run_id": self.run_id,
                             "exit_code": int(code)})
        except Exception:  # noqa: BLE001 - the original error matters more
            log.debug("could not record the failure", exc_info=True)

    def finish_interrupted_runs(self) -> None:
        """Close the runs a stopped process left open, and wait for their import jobs."""
        store, echo = self.store, self.echo
        for old in store.unfinished_runs(self.campaign_id):
            store.finish_run(old.id, "interrupted", int(ExitCode.FAILED), counts=old.counts,
                             message="the process stopped before the end; finished by a "
                                     "later run")
            echo(f"run {old.id} was interrupted; waiting for its import jobs, then planning "
                 "against the campaign as it is now")
        opts = self.load_options
        left = wait_for_pending_jobs(self.client, store, self.campaign_id,
                                     timeout=opts.job_timeout, first_poll=opts.first_poll,
                                     max_poll=opts.max_poll)
        for job in left:
            echo(f"warning: job {job['job_id']} of run {job['run_id']} is still running")

    def read_holds(self, hold: Collection[str] = ()) -> None:
        """The keys the steward holds (with `hold` added): left alone by this run."""
        if hold:
            self.store.add_holds(self.campaign_id, hold)
        self.held = self.store.held_keys(self.campaign_id)

    def choose_check(self, full_check_every: int) -> None:
        """Full check (every row compared) or incremental; trust the state or read
        the campaign."""
        if not self.full_check and full_check_every > 0:
            self.full_check = full_check_due(self.store, self.campaign_id, full_check_every)
        self.applied = self.store.applied(self.campaign_id)
        self.trusting = self.trust_state and not self.full_check and not self.applied.empty
        why_not = ("a full check is due" if self.full_check else
                   "no applied state yet" if self.applied.empty else "")
        if self.trusting and self.suppress:  # their contacts are known by the campaign's
            self.trusting, why_not = False, "suppression lists are given"  # phones only
        if self.trusting and self.last_was_apply():  # an apply records no applied rows
            self.trusting, why_not = False, "the last run was an apply"
        if self.trust_state and not self.trusting:
            self.echo(f"--trust-state: {why_not}; reading the campaign")
        if self.trusting:
            self.echo("warning: --trust-state: planning against the state store, not the "
                      "campaign; changes made in the platform since the last run are not "
                      "seen, active contacts are not deferred, and the result is not verified "
                      "by a second read (run without --trust-state, or with "
                      "--full-check-every N, to check)")
            log.warning("planning against the state store (--trust-state)",
                        extra={"event": "trust_state", "campaign_id": self.campaign_id})

    def last_was_apply(self) -> bool:
        """Whether the campaign's last finished run was an apply."""
        for run in self.store.runs(self.campaign_id, limit=20):
            if run.status in ("done", "done_with_rejects", "partial"):
                return run.command == "apply"
        return False

    def start_run(self, command: str = "sync", **extra: Any) -> None:
        """The run's record in the state store (before anything is read or sent)."""
        opts, lopts = self.plan_options, self.load_options
        sha256 = self.plan_sha256 or self.info.sha256
        self.run_id = self.store.start_run(
            self.campaign_id, command, source=str(self.source), source_sha256=sha256,
            mapping=None if self.mapping is None else str(self.mapping.path), mode=opts.mode,
            options={"max_delete_fraction": opts.max_delete_fraction, "force": opts.force,
                     "chunk_size": lopts.chunk_size, "concurrency": lopts.concurrency,
                     "job_timeout": lopts.job_timeout, "full_check": self.full_check,
                     "trust_state": self.trusting, **extra},
            report_dir=str(self.report_dir))
        self.store.set_lock_run(self.campaign_id, self.run_id)
        log.info("run %s started: %s of %s into campaign %s (%s)", self.run_id, command,
                 self.source, self.campaign_id, opts.mode,
                 extra={"event": "run_started", "run_id": self.run_id,
                        "campaign_id": self.campaign_id, "mode": opts.mode,
                        "source_sha256": sha256,
                        "rows": None if self.mapped is None else len(self.mapped)})

    def read_and_validate(self) -> None:
        """Read the campaign (or take it from the state store) and validate the rows:
        beside the read when every row is compared, else only the rows that changed
        since the last applied run."""
        self.row_hashes = source_hashes(self.mapped, self.mapping)  # compared, then recorded
        validated = None
        if self.trusting:
            self.remote = remote_from_state(self.applied)
        elif self.full_check or self.applied.empty:
            validated, self.remote = validate_while(
                self.info, self.frame, self.mapping, self.mapped,
                lambda: fetch_remote(self.client, self.campaign_id))
        else:
            self.remote = fetch_remote(self.client, self.campaign_id)
        if not self.trusting:
            log.info("campaign %s read: %d contacts", self.campaign_id, len(self.remote),
                     extra={"event": "campaign_read", "run_id": self.run_id,
                            "contacts": len(self.remote)})
            self.reconcile()
        else:
            self.compliance = compliance_for(self.suppression,
                                             self.store.optout_phones(self.campaign_id),
                                             self.remote, self.region)
        if validated is None:
            validated = validate_incremental(
                self.store, self.campaign_id, self.info, self.frame, self.mapping, self.mapped,
                self.remote, full=self.full_check, trusting=self.trusting,
                applied=self.applied, hashes=self.row_hashes)
        self.validated = validated
        carried = 0 if validated.carried is None else len(validated.carried)
        # a run that carried nothing compared every row: it counts as a full check
        self.store.update_run_options(self.run_id, full_check=carried == 0)
        result = validated.result
        self.echo(f"{result.valid_count + carried:,} valid, {result.rejected_count:,} rejected"
                  + (f" ({carried:,} rows as the last run left them: not compared again)"
                     if carried else ""))
        log.info("validated: %d rows, %d carried from the last run", len(self.mapped), carried,
                 extra={"event": "validated", "run_id": self.run_id, "rows": len(self.mapped),
                        "valid": result.valid_count + carried,
                        "rejected": result.rejected_count, "carried": carried})

    def make_plan(self) -> None:
        """The plan against the campaign as read."""
        meta = {"campaign_id": self.campaign_id, "command": "sync", "run_id": self.run_id,
                "created_at": utcnow(), "reject_policy": self.reject_policy.describe(),
                "reject_limits": limits_of(self.reject_policy)}
        self.plan = make_plan(self.validated, self.remote, self.plan_options, held=self.held,
                              compliance=self.compliance, meta=meta)
        self.release_source()
        counts = self.plan.counts()
        log.info("plan: %s", ", ".join(f"{k} {v}" for k, v in counts["source"].items()),
                 extra={"event": "planned", "run_id": self.run_id, "source": counts["source"],
                        "remote": counts["remote"], "reject_reasons": counts["reject_reasons"],
                        "refused": self.plan.refused})

    def release_source(self) -> None:
        """Once planned, the source's cells are not needed again: the report reads the
        rows it shows from the file, and recording what was applied needs only the keys
        (the rows' hashes are taken). Only the source's columns and keys are kept."""
        if self.mapped is None or self.validated is None or self.row_hashes is None:
            return
        keys = pd.DataFrame({"external_unique_id": pd.array(
            self.mapped["external_unique_id"], dtype=TEXT)}, index=self.mapped.index)
        self.frame = self.frame.iloc[:0]
        self.mapped = keys
        self.validated.source, self.validated.mapped = self.frame, keys
        give_back_memory()

    # the steps of an apply (a saved plan): see apply_run
    def already_applied(self) -> SyncOutcome | None:
        """A plan applied before (to the end) is not applied again: exit 0, nothing sent.
        (One refused, or killed, may be applied again.)"""
        for run in self.store.runs_of_plan(self.campaign_id, self.plan_sha256):
            if run.status in ("done", "done_with_rejects", "partial"):
                message = (f"this plan was already applied by run {run.id} "
                           f"({run.started_at}); nothing sent"
                           + (f" (its report: {run.report_dir})" if run.report_dir else ""))
                return SyncOutcome(exit_code=int(ExitCode.OK), plan=None, run_id=run.id,
                                   report_dir=Path(run.report_dir) if run.report_dir else None,
                                   messages=[message])
        return None

    def earlier_attempts(self) -> dict[tuple[str, Any], str]:
        """What earlier, unfinished attempts of this plan left of each write (its status)."""
        found: dict[tuple[str, Any], str] = {}
        for run in self.store.runs_of_plan(self.campaign_id, self.plan_sha256):
            for op in self.store.operations(run.id):
                if op["status"] != "planned":
                    found[earlier_key(op["kind"], op["key"] or "", op["remote_id"])] = op["status"]
        return found

    def read_campaign(self) -> None:
        """The campaign as it is now."""
        self.remote = fetch_remote(self.client, self.campaign_id)
        log.info("campaign %s read: %d contacts", self.campaign_id, len(self.remote),
                 extra={"event": "campaign_read", "run_id": self.run_id,
                        "contacts": len(self.remote)})
        self.reconcile()

    def check_writes(self, earlier: dict[tuple[str, Any], str], refuse_if_stale: bool,
                     decisions: Decisions | None = None) -> None:
        """Sort the plan's writes (send, stale, done before) and lay the steward's
        decisions on them; mark the stale and the refused ones in the plan (deferred,
        reason `stale` or `refused_by_reviewer`); refuse when asked to on any stale
        write, or when the delete rule refuses the deletes still to send."""
        writes = all_writes = self.plan.writes()
        if self.held:  # held since the plan was made: left alone too
            held = set(self.held)
            self.plan = mark_deferred(self.plan, [(w, "its key is held (campaign-sync "
                                                      "holds release KEY to send it)")
                                                  for w in writes if w.key in held], "held")
            writes = [w for w in writes if w.key not in held]
        if self.compliance:  # suppressed or opted out since the plan: not sent
            kept_out = [(w, why) for w, why in ((w, compliance_why(w, self.compliance))
                                                for w in writes) if why]
            if kept_out:
                self.plan = mark_deferred(self.plan, kept_out, "suppressed")
                out = {(w.kind, w.key) for w, _ in kept_out}
                writes = [w for w in writes if (w.kind, w.key) not in out]
        if decisions is not None:  # before the freshness check: a refused write frees
            reviewed = review(all_writes, decisions)  # no phone for another
            no = {(w.kind, w.key) for w, _why in reviewed.refused}
            writes = [w for w in writes if (w.kind, w.key) not in no]
            self.refused_by_reviewer = [(w, why) for w, why in reviewed.refused
                                        if w.key not in self.held]
            self.plan = mark_deferred(self.plan, self.refused_by_reviewer,
                                      "refused_by_reviewer")
            unnamed = sum(1 for _w, why in reviewed.refused if why.startswith("not reviewed"))
            self.echo(f"decisions {decisions.path}: {len(reviewed.approved):,} writes "
                      f"approved, {len(reviewed.refused) - unnamed:,} refused by the reviewer"
                      + (f", {unnamed:,} not in the file (not sent)" if unnamed else ""))
        fresh = check_writes_against(writes, self.remote, self.region, earlier)
        self.writes = fresh.send + fresh.done
        self.stale, self.done_before = fresh.stale, fresh.done
        self.plan = mark_deferred(self.plan, fresh.stale, "stale")
        if fresh.stale:
            self.echo(f"{writes_text(len(fresh.stale))} stale (the campaign changed since the "
                      "plan): listed in the report, not sent")
        if fresh.done:
            self.echo(f"{writes_text(len(fresh.done), 'was', 'were')} carried out by an "
                      "earlier attempt of this plan: not sent again")
        if refuse_if_stale and fresh.stale:
            self.plan.refused = (f"{writes_text(len(fresh.stale))} stale and "
                                 "--refuse-if-stale is set; nothing is sent (plan again)")
            return
        deletes = sum(1 for w in fresh.send if w.kind == "delete")
        managed = int(stripped_text(self.remote["external_unique_id"]).ne("").sum())
        self.plan.refused = delete_rule(self.plan.options, deletes, managed)

    def refuse(self) -> SyncOutcome:
        """The delete rule refused the plan: its report, and nothing sent."""
        plan = self.plan
        files = write_report(plan, self.report_dir, mask_pii=self.mask_pii,
                             originals=self.originals())
        self.store.finish_run(self.run_id, "refused", int(ExitCode.REFUSED),
                              counts=plan.counts(), message=plan.refused)
        return SyncOutcome(exit_code=int(ExitCode.REFUSED), plan=plan, run_id=self.run_id,
                           report_dir=files.directory, report_html=files.report_html,
                           messages=[f"REFUSED: {plan.refused}"])

    def load(self, progress: Progress | None) -> None:
        """Record the plan's writes, then carry them out."""
        record_plan(self.store, self.run_id, self.plan if self.writes is None else self.writes)
        if self.done_before:  # carried out by an earlier attempt of this plan: not sent
            done = {earlier_key(w.kind, w.key, w.remote_id) for w in self.done_before}
            self.store.mark([op["id"] for op in self.store.operations(self.run_id)
                             if earlier_key(op["kind"], op["key"], op["remote_id"]) in done],
                            "done")
        self.loader = Loader(self.client, self.store, self.run_id, self.campaign_id,
                             self.load_options, progress=progress,
                             read_campaign=lambda: fetch_remote(self.client, self.campaign_id))
        self.result = self.loader.run()
        self.result.reads += 1
        give_back_memory()

    def verify(self) -> None:
        """Check every write against what the campaign holds now: a fresh read, or the
        platform's answers when the run only patched and deleted."""
        store, run_id = self.store, self.run_id
        self.after = self.remote
        sent = store.op_counts(run_id)
        failed = sum(c.get("failed", 0) for c in sent.values())
        attempted = sum(sum(c.values()) for c in sent.values())
        if self.trusting:  # no second read: the writes' own answers are the outcome
            method = "trust-state"
        elif attempted > failed:
            if (self.full_check or store.has_operations(run_id, "add")
                    or not answers_show_patches(self.loader.answers, store, run_id)):
                # imports answer with a job, not the contacts (and an answer without
                # a patched field says nothing of it): read the campaign again
                self.after = fetch_remote(self.client, self.campaign_id)
                self.result.reads += 1
                method = "re-read"
            else:  # patches and deletes only: the platform's answers say what it holds
                self.after = after_answers(self.remote, self.loader.answers, store, run_id)
                method = "answers"
            self.confirmed, self.unconfirmed = verify(store, run_id, self.after, self.region)
        else:  # nothing was sent, or all of it failed: nothing to confirm, no second read
            method = "none"
        self.verification = verification_text(method, attempted, failed, self.confirmed,
                                              self.unconfirmed, len(self.after))
        give_back_memory()
        log.info("verified: %d confirmed, %d not confirmed", self.confirmed, self.unconfirmed,
                 extra={"event": "verified", "run_id": run_id, "confirmed": self.confirmed,
                        "unconfirmed": self.unconfirmed})

    def record_optouts(self) -> None:
        """Numbers that opted out in this run: the campaign's Do Not Call contacts as read,
        and the contacts this run removed as suppressed. Later plans never add them
        back."""
        found = [(p, "do_not_call") for p in do_not_call_phones(self.remote, self.region)]
        removed = [op["before"].get("phone_number", "") for op in
                   self.store.operations(self.run_id, "delete", ["done"])
                   if (op["before"] or {}).get("reason") == "suppressed"]
        if removed:
            normal = norm_phones(pd.Series(removed, dtype=object), self.region)
            found += [(p, "suppressed") for p in normal if p]
        added = self.store.add_optouts(self.campaign_id, self.run_id, found)
        if added:
            self.echo(f"{added:,} numbers opted out of campaign {self.campaign_id} in this "
                      "run (never added back until released: campaign-sync optouts)")

    def push_suppressed(self, expires_at: str | None) -> None:
        """The numbers this run suppressed (its rows' and the contacts it removed) onto
        the company Do-Not-Call list (--push-suppressed-to-dnc)."""
        rows = self.plan.rows
        numbers = set(rows.loc[rows["action"].eq("suppressed"), "phone_number"].tolist())
        removed = [op["before"].get("phone_number", "") for op in
                   self.store.operations(self.run_id, "delete", ["done"])
                   if (op["before"] or {}).get("reason") == "suppressed"]
        numbers |= set(norm_phones(pd.Series(removed, dtype=object), self.region).tolist())
        wanted = sorted(n for n in numbers if n and self.suppression is not None
                        and n in self.suppression.phones)
        if not wanted:
            return
        self.dnc = dnc_push(self.client, self.store, [(n, n) for n in wanted], expires_at,
                            run_id=self.run_id, campaign_id=self.campaign_id)
        self.echo(f"company Do-Not-Call list: {len(self.dnc.done):,} numbers pushed, "
                  f"{len(self.dnc.already):,} already there, {len(self.dnc.refused):,} "
                  "refused")

    def record_applied(self) -> None:
        """What the campaign now holds of each row, for the next incremental run (an
        apply, which has no source rows, only forgets the contacts it deleted: the rows
        it wrote are compared again by the next sync)."""
        if self.validated is None:
            gone = [op["key"] for op in self.store.operations(self.run_id, "delete", ["done"])
                    if op["key"]]
            self.store.record_applied(self.campaign_id, self.run_id, [], gone)
            return
        record_applied(self.store, self.campaign_id, self.run_id, self.plan, self.validated,
                       None if self.trusting else self.after, self.row_hashes)
        self.after = None  # the campaign as read after the writes: checked and recorded
        give_back_memory()

    def report(self) -> SyncOutcome:
        """Every row's outcome into the report directory; the run's status and exit code
        by the reject policy."""
        plan, store, run_id, result = self.plan, self.store, self.run_id, self.result
        extra_lines: list[int] = []
        if result.rejected:
            extra = pd.DataFrame([{
                "line": r["line"], "key": r["key"], "field": "phone_number",
                "value": r["payload"].get("phone_number", ""), "reason": "platform_rejected",
                "hint": f"the platform refused this contact: {r['reason']}"}
                for r in result.rejected])
            extra_lines = [int(r["line"]) for r in result.rejected if r["line"]]
            originals = self.originals(extra_lines)
            plan.rejects = pd.concat([plan.rejects, extra], ignore_index=True)
        else:
            originals = self.originals()
        plan.rows, plan.remote = attach_outcomes(plan.rows, plan.remote,
                                                 store.operation_table(run_id))
        counts = {**plan.counts(), "load": result.counts(), "confirmed": self.confirmed,
                  "unconfirmed": self.unconfirmed, "operations": store.op_counts(run_id),
                  "outcome": outcome_counts(plan.rows, plan.remote),
                  "verification": self.verification}
        plan.meta["outcome"] = counts
        files = write_report(plan, self.report_dir, mask_pii=self.mask_pii, originals=originals)
        write_operations(store.operation_frames(run_id), files.directory / "operations.csv",
                         mask_pii=self.mask_pii)
        columns, chunks = ([], ()) if self.validated is None else source_chunks(
            self.validated.info, self.validated.source, self.validated.mapping)
        write_outcome_files(plan, files.directory, source_columns=columns,
                            source_chunks=chunks, mask_pii=self.mask_pii)
        rejected_rows = int(plan.rows["action"].eq("rejected").sum())
        problems = (self.unconfirmed + result.failed + result.pending + len(result.rejected)
                    + len(self.stale) + (len(self.dnc.refused) if self.dnc else 0)
                    + (1 if self.dnc_failure else 0))
        code = self.reject_policy.exit_code(rejected_rows, len(plan.rows), problems)
        status = ("partial" if code != ExitCode.OK else
                  "done_with_rejects" if rejected_rows else "done")
        store.finish_run(run_id, status, int(code), counts=counts)
        log.info("run %s finished: %s, exit %d", run_id, status, int(code),
                 extra={"event": "run_finished", "run_id": run_id, "status": status,
                        "exit_code": int(code), "load": result.counts()})
        return SyncOutcome(exit_code=int(code), plan=plan, run_id=run_id, counts=counts,
                           unconfirmed=self.unconfirmed, report_dir=files.directory,
                           report_html=files.report_html)


# ------------------------------------------------------------------ apply


def read_plan_file(path: str | Path) -> tuple[Plan, str]:
    """A saved plan and its checksum. UsageError (exit 2) naming the file when it is
    missing, edited, masked or not a plan."""
    target = Path(path)
    hint = "write the plan again with: campaign-sync plan SOURCE ... --out FILE"
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no plan file {target}", hint=hint) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the plan file {target}: {exc}", hint=hint) from None
    try:
        doc = unseal(text)
    except PlanFileError as exc:
        raise UsageError(f"the plan file {target} is refused: {exc}", hint=hint) from None
    if (doc.get("meta") or {}).get("masked"):
        raise UsageError(f"the plan file {target} was written with --mask-pii: its phones and "
                         "emails are masked, so it cannot be sent",
                         hint="plan again without --mask-pii, or with --out FILE for the "
                              "plan to apply")
    try:
        plan = Plan.from_dict(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the plan file {target} is not a plan this version can apply: {exc}",
                         hint=hint) from None
    if not isinstance(plan.meta.get("campaign_id"), int):
        raise UsageError(f"the plan file {target} names no campaign", hint=hint)
    return plan, checksum_of(text)


def plan_age_refusal(plan: Plan, max_age_hours: float, now: datetime | None = None
                     ) -> str | None:
    """Why a plan is too old to apply, or None (`max_age_hours` 0: any age)."""
    created = plan.meta.get("created_at")
    if not max_age_hours:
        return None
    try:
        made = datetime.fromisoformat(str(created))
    except ValueError:
        return "the plan says nothing of when it was made; apply it with --max-age 0"
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    age = ((now or datetime.now(UTC)) - made).total_seconds() / 3600
    if age <= max_age_hours:
        return None
    ago = f"{age:,.1f} hours" if age >= 1 else f"{age * 60:,.0f} minutes"
    return (f"the plan was made {ago} ago ({created}), more than --max-age "
            f"{max_age_hours:g}h; the campaign has likely moved since (plan again, or "
            "apply with --max-age 0)")


@batch_gc()
def apply_run(*, plan_file: str | Path, settings: Any, state_path: str | None,
              report_dir: str | Callable[[int], str], load_options: LoadOptions,
              max_age_hours: float = 24.0,
              refuse_if_stale: bool = False, mask_pii: bool = False,
              decisions: str | Path | None = None, suppress: Sequence[str | Path] = (),
              progress: Progress | None = None, echo: Callable[[str], None] = lambda s: None,
              client: Any = None, reject_policy: RejectPolicy | None = None) -> SyncOutcome:
    """Carry out a saved plan exactly (never reading the source):

    1. open the plan file (refused when edited, masked, or older than the max age);
    2. lock the campaign; a plan already applied is not applied again; finish what an
       interrupted run (a killed apply of this plan, say) left;
    3. read the campaign and check each write against the contact it was decided
       against: stale writes are listed, not sent (or refuse all with
       `refuse_if_stale`); with `decisions` (a steward's file), only the approved
       writes go out; the delete rule is checked again;
    4. load, verify, record and report, as a sync does."""
    plan, checksum = read_plan_file(plan_file)
    if plan.refused:
        raise SafetyRefusedError(f"the plan file {plan_file} holds a plan that was refused when "
                                 f"it was made: {plan.refused}",
                                 hint="fix the source or the options and plan again")
    reviewed = read_decisions(decisions) if decisions is not None else None
    if reviewed is not None:  # a decision on a write the plan does not hold: exit 2 now
        review(plan.writes(), reviewed)
    too_old = plan_age_refusal(plan, max_age_hours)
    if too_old:
        raise SafetyRefusedError(f"the plan file {plan_file} is refused: {too_old}")
    campaign_id = int(plan.meta["campaign_id"])
    if callable(report_dir):  # the default directory names the plan's campaign
        report_dir = report_dir(campaign_id)
    sync = Sync(source=str(plan_file), campaign_id=campaign_id, plan_options=plan.options,
                load_options=load_options, report_dir=report_dir, mask_pii=mask_pii,
                echo=echo, full_check=True, trust_state=False,
                reject_policy=reject_policy or policy_of(plan), plan=plan,
                plan_sha256=checksum, suppress=list(suppress))
    sync.read_suppressions()
    with sync.session(settings, state_path, client):
        applied = sync.already_applied()
        if applied is not None:
            return applied
        earlier = sync.earlier_attempts()
        sync.finish_interrupted_runs()
        sync.read_holds()
        sync.start_run("apply", plan_file=str(Path(plan_file).resolve()),
                       **({} if reviewed is None else {"decisions": {
                           "file": str(reviewed.path.resolve()), "sha256": reviewed.sha256,
                           "counts": reviewed.counts()}}))
        sync.read_campaign()
        sync.check_writes(earlier, refuse_if_stale, reviewed)
        if sync.plan.refused:
            return sync.refuse()
        sync.load(progress)
        sync.verify()
        sync.record_applied()
        sync.record_optouts()
        return sync.report()


def compliance_why(w: Write, c: Compliance) -> str:
    """Why a saved plan's add or update may not go out now: its phone, email or key
    suppressed, or its phone opted out ("" when it may)."""
    if w.kind == "delete":
        return ""
    phone = w.payload.get("phone_number", "")
    own = (w.before or {}).get("phone_number", "") if w.kind == "update" else ""
    if own and not phone:  # the contact's own number, as listed at plan time
        own = norm_phones(pd.Series([own], dtype=object), None).iat[0]
        if own in c.phones:
            return f"its phone {own} is on the suppression list {c.phones[own]}"
    why = why_suppressed(phone, w.payload.get("email", "").lower(), w.key, c)
    if not why and phone and phone in c.opted_out:
        why = f"{phone} opted out: {c.opted_out[phone]}"
    return why


def writes_text(n: int, one: str = "is", many: str = "are") -> str:
    """"1 planned write is", "3 planned writes are"."""
    return f"{n:,} planned write {one}" if n == 1 else f"{n:,} planned writes {many}"


def mark_deferred(plan: Plan, stale: list[tuple[Write, str]], reason: str) -> Plan:
    """The plan with each of these writes' rows (or contacts) deferred for `reason`,
    its detail saying why."""
    if not stale:
        return plan
    rows, remote = plan.rows.copy(), plan.remote.copy()
    row_why = {(("add" if w.kind == "add" else "update"), w.key): why
               for w, why in stale if w.kind != "delete"}
    contact_why = {(("deleted" if w.kind == "delete" else "updated"), w.remote_id): why
                   for w, why in stale if w.remote_id is not None}
    for frame, whys, key_column in ((rows, row_why, "external_unique_id"),
                                    (remote, contact_why, "remote_id")):
        if not whys:
            continue
        found = [whys.get((action, None if pd.isna(key) else key))
                 for action, key in zip(frame["action"], frame[key_column])]
        sel = pd.Series([f is not None for f in found], index=frame.index)
        frame.loc[sel, "action"] = "deferred"
        frame.loc[sel, "reason"] = reason
        frame.loc[sel, "detail"] = [f for f in found if f is not None]
    plan.rows, plan.remote = rows, remote
    return plan


# ------------------------------------------------------------------ company DNC list


def expiry(text: str | None, option: str = "--expires-at") -> str | None:
    """An expiry as the platform writes times (2027-01-31T00:00:00.000Z, UTC; a date
    alone is its midnight, UTC); None for none. UsageError naming `option` for a text
    that is no date or time."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r} is not an ISO date or time",
                         hint=f"e.g. {option} 2027-01-31 or 2027-01-31T18:00:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def dnc_push_run(paths: Sequence[str | Path], *, settings: Any, state_path: str | Path,
                 expires_at: str | None = None, region: str | None = None,
                 client: Any = None) -> DncResult:
    """`dnc push`: the files' numbers onto the company Do-Not-Call list."""
    numbers = read_numbers(list(paths), None, region)
    with StateStore(state_path) as store, (client or ApiClient(settings)) as api:
        return dnc_push(api, store, numbers, expiry(expires_at))


def dnc_remove_run(paths: Sequence[str | Path], *, settings: Any, state_path: str | Path,
                   region: str | None = None) -> DncResult:
    """`dnc remove`: the files' numbers off the company Do-Not-Call list."""
    numbers = read_numbers(list(paths), None, region)
    with StateStore(state_path) as store, ApiClient(settings) as api:
        return dnc_remove(api, store, numbers)


def dnc_check_run(phones: Sequence[str], *, settings: Any, region: str | None = None
                  ) -> list[dict[str, Any]]:
    """`dnc check`: whether each number is on the company list (numbers that are no
    valid phone are answered by the platform as such)."""
    numbers = []
    for raw in phones:
        e164, _reason, _why = normalize_phone(raw, region)
        numbers.append(e164 or raw)
    with ApiClient(settings) as api:
        return dnc_check(api, numbers)


# ------------------------------------------------------------------ ledger


def ledger_rows(state_path: str | Path, campaign_id: int) -> list[dict[str, Any]]:
    """The campaign's compliance ledger, from the state store's records."""
    with StateStore(state_path) as store:
        return ledger_events(store.removals(campaign_id), store.added_back(campaign_id),
                             store.optouts(campaign_id, released=True),
                             store.dnc_events(campaign_id))


# ------------------------------------------------------------------ rollback


@dataclass
class RollbackResult:
    run_id: int | None
    of_run: int
    exit_code: int
    actions: list[dict[str, Any]] = field(default_factory=list)   # what it does / would do
    refused: list[dict[str, Any]] = field(default_factory=list)   # contacts changed since
    confirmed: int = 0
    unconfirmed: int = 0
    report_dir: Path | None = None


def run_region(store: StateStore, run_id: int) -> str | None:
    """The region of the mapping the run used (for national phone numbers)."""
    name = store.run_mapping(run_id)
    try:
        return load_mapping(name).region if name else None
    except Exception:  # noqa: BLE001 - the mapping may have moved since; E.164 needs none
        return None


def rollback_run(*, run_id: int, settings: Any, state_path: str | None, dry_run: bool,
                 report_dir: str | None, load_options: LoadOptions | None = None,
                 progress: Progress | None = None, client: Any = None,
                 echo: Callable[[str], None] = lambda s: None) -> RollbackResult:
    """Undo sync run `run_id`:

    1. lock its campaign (not for a dry run) and read it;
    2. work out what undoes the run, refusing contacts changed since;
    3. record and carry out those writes as a run of their own, then verify them
       against a fresh read;
    4. write the report directory (the same page as a sync's) and the lists of
       actions and refusals."""
    if not Path(state_path or default_state_path()).exists():
        raise UsageError(f"no state store at {state_path or default_state_path()}",
                         hint="pass the --state file the sync used")
    store = StateStore(state_path)
    own_client = client is None
    client = client or ApiClient(settings)
    locked: int | None = None
    try:
        run = store.run(run_id)
        if run is None:
            raise UsageError(f"no run {run_id} in {store.path}",
                             hint="list the runs with: campaign-sync runs")
        campaign_id = run.campaign_id
        if not dry_run:
            store.acquire_lock(campaign_id)
            locked = campaign_id
        region = run_region(store, run_id)
        remote = fetch_remote(client, campaign_id)
        ops, actions, refused = plan_rollback(store, run_id, remote, region,
                                              store.optout_phones(campaign_id))
        result = RollbackResult(run_id=None, of_run=run_id, exit_code=0, actions=actions,
                                refused=refused)
        if not dry_run and ops:
            _undo(store, client, result, ops, campaign_id, region, report_dir, load_options,
                  progress)
        elif refused:
            result.exit_code = int(ExitCode.PARTIAL)
        if report_dir:
            result.report_dir = write_rollback_lists(result, Path(report_dir), dry_run)
        return result
    finally:
        if locked is not None:
            store.release_lock(locked)
        store.close()
        if own_client:
            client.close()


def _undo(store: StateStore, client: Any, result: RollbackResult, ops: list[tuple],
          campaign_id: int, region: str | None, report_dir: str | None,
          load_options: LoadOptions | None, progress: Progress | None) -> None:
    """The rollback's writes: recorded, sent, verified, reported; each action then
    says what happened to it."""
    new_run = store.start_run(campaign_id, "rollback", mode="rollback",
                              rollback_of=result.of_run, report_dir=report_dir)
    store.set_lock_run(campaign_id, new_run)
    result.run_id = new_run
    store.add_operations(new_run, ops)
    loaded = Loader(client, store, new_run, campaign_id, load_options, progress=progress,
                    read_campaign=lambda: fetch_remote(client, campaign_id)).run()
    confirmed, unconfirmed = verify(store, new_run, fetch_remote(client, campaign_id), region)
    result.confirmed, result.unconfirmed = confirmed, unconfirmed
    code = (ExitCode.PARTIAL if (result.refused or unconfirmed or loaded.failed)
            else ExitCode.OK)
    store.finish_run(new_run, "done" if code == ExitCode.OK else "partial", int(code),
                     counts={"load": loaded.counts(), "confirmed": confirmed,
                             "unconfirmed": unconfirmed, "refused": len(result.refused)})
    result.exit_code = int(code)
    if report_dir:
        plan = rollback_plan(ops, result.of_run, campaign_id)
        plan.rows, plan.remote = attach_outcomes(plan.rows, plan.remote,
                                                 store.operation_table(new_run))
        plan.meta.update({"created_at": utcnow(), "run_id": new_run, "outcome": {
            "outcome": outcome_counts(plan.rows, plan.remote),
            "verification": f"checked against a fresh read of the campaign: "
                            f"{confirmed:,} confirmed, {unconfirmed:,} not confirmed"}})
        files = write_report(plan, report_dir)
        write_operations(store.operation_frames(new_run), files.directory / "operations.csv",
                         mask_pii=False)
        write_outcome_files(plan, files.directory)
    ops_done = operations_frame(store.operation_table(new_run))
    for a in result.actions:
        kind = a["action"]
        mine = ops_done[ops_done["kind"].eq(kind) & (
            ops_done["key"].eq(a["key"]) if kind == "add"
            else ops_done["remote_id"].eq(a["remote_id"]))]
        a["outcome"] = mine["outcome"].iat[-1] if len(mine) else "skipped"
        a["error"] = mine["error"].iat[-1] if len(mine) else ""


def write_rollback_lists(result: RollbackResult, target: Path, dry_run: bool) -> Path:
    """rollback-actions.csv and rollback-refused.csv in `target`."""
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_csv(target / "rollback-actions.csv",
              ["action", "key", "remote_id", "undoes", "outcome", "error"],
              ([a["action"], a["key"], a.get("remote_id") or "", a["undoes"],
                a.get("outcome", "not sent (dry run)" if dry_run else ""),
                a.get("error", "")] for a in result.actions))
    write_csv(target / "rollback-refused.csv", ["kind", "key", "remote_id", "reason"],
              ([r["kind"], r["key"], r["remote_id"] or "", r["reason"]]
               for r in result.refused))
    return target
