"""Carrying out a plan: deletes, then updates (wave by wave), then adds through import
jobs, with every step recorded in the state store before it is sent.

* DELETE and PATCH go out with `concurrency` workers under the client's shared rate
  limit. A delete that failed ambiguously (the request may have reached the
  platform) is checked against a fresh read of the campaign before it is sent again.
* Adds go in import files of `chunk_size` contacts, one job per file, each job
  waited for. A 413 halves the file. A failed job never counts as all or nothing:
  the campaign is re-read to see what arrived; what did not is split in halves and
  sent again, level by level, until the rows at fault stand alone; those become
  rejects with the platform's error_details, and every other row arrives. A job
  still running at `job_timeout` is recorded as pending. An import answered without
  a job id, or that failed ambiguously, is confirmed by re-reading the campaign.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..api.frame import fetch_remote
from ..errors import AmbiguousWriteError, ApiError, AuthError, PayloadTooLargeError
from ..plan import Plan, Write
from ..state import StateStore

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("campaign_sync.load")
#: planned adds read from the state store at a time (whole import files of
#: `chunk_size` adds, at least one)
ADD_PAGE_ROWS = 50_000



@dataclass(frozen=True)
class LoadOptions:
    chunk_size: int = 1000
    concurrency: int = 4
    job_timeout: float = 600.0
    first_poll: float = 0.5
    max_poll: float = 10.0
    settle_reads: int = 6  # re-reads while waiting for imports that named no job


@dataclass
class LoadResult:
    deleted: int = 0
    updated: int = 0
    added: int = 0
    failed: int = 0
    pending: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)  # adds the platform refused
    jobs: int = 0
    reads: int = 0

    def counts(self) -> dict[str, int]:
        return {"deleted": self.deleted, "updated": self.updated, "added": self.added,
                "failed": self.failed, "pending": self.pending,
                "rejected_by_platform": len(self.rejected), "jobs": self.jobs,
                "campaign_reads": self.reads}


class Progress:
    """What the loader tells about its progress; the CLI draws bars from it."""

    def start(self, phase: str, total: int) -> None:  # noqa: D401 - hooks
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def finish(self) -> None:
        pass


def record_plan(store: StateStore, run_id: int, plan: Plan | Iterable[Write]) -> None:
    """Every write of the plan (or these writes), as planned operations, with the
    remote contact before."""
    writes = plan.iter_writes() if isinstance(plan, Plan) else plan
    store.add_operations(run_id, (w.operation() for w in writes))


def _spread(pool: ThreadPoolExecutor, workers: int, call: Callable[[T], R],
            items: Sequence[T]) -> list[R]:
    """`call` over `items` with up to `workers` of `pool`, results in the order of
    `items`. Each worker takes the next item as soon as it is free (the same order
    and the same number in flight as one task an item), but as one task a worker, so
    the caller's thread is woken once a worker, not once an item (a quarter of the
    client CPU of a patch with one worker). An exception stops every worker at its
    next item and is raised here once all have stopped, as `pool.map` would raise it."""
    results: list[Any] = [None] * len(items)
    order = iter(range(len(items)))  # next() of a range iterator is atomic
    failed = threading.Event()

    def work() -> None:
        for i in order:
            if failed.is_set():
                return
            try:
                results[i] = call(items[i])
            except BaseException:
                failed.set()
                raise

    tasks = [pool.submit(work) for _ in range(min(workers, len(items)))]
    for task in tasks:
        task.exception()  # wait for every worker before raising the first error
    for task in tasks:
        task.result()
    return results


class Loader:
    """Carries out the planned operations of one run."""

    def __init__(self, client: Any, store: StateStore, run_id: int, campaign_id: int,
                 options: LoadOptions | None = None, *, progress: Progress | None = None,
                 read_campaign: Callable[[], Any] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.store = store
        self.run_id = run_id
        self.campaign_id = campaign_id
        self.options = options or LoadOptions()
        self.progress = progress or Progress()
        self.result = LoadResult()
        self._sleep = sleep
        self._read_campaign = read_campaign
        #: remote id -> the contact as the platform answered a done PATCH
        self.answers: dict[int, Any] = {}

    # ------------------------------------------------------------ helpers
    def _remote_keys(self) -> tuple[set[int], dict[str, int | None]]:
        """A fresh read of the campaign: ids present, and key -> id."""

        self.result.reads += 1
        frame = (self._read_campaign() if self._read_campaign is not None
                 else fetch_remote(self.client, self.campaign_id))
        ids = {int(x) for x in frame["remote_id"].dropna().tolist()}
        keys: dict[str, int | None] = {}
        for key, rid in zip(frame["external_unique_id"].tolist(),
                            frame["remote_id"].tolist()):
            key = str(key).strip()
            if key:
                keys[key] = None if rid is None or str(rid) == "<NA>" else int(rid)
        return ids, keys

    def _parallel(self, ops: Sequence[dict[str, Any]], send: Callable[[dict[str, Any]], Any]
                  ) -> list[tuple[dict[str, Any], Any, BaseException | None]]:
        """Send `ops` with the workers, in windows: each window is marked sent (and
        committed) before any of its requests goes out."""
        out: list[tuple[dict[str, Any], Any, BaseException | None]] = []
        window = max(1, self.options.concurrency * 4)

        def call(op: dict[str, Any]) -> tuple[dict[str, Any], Any, BaseException | None]:
            try:
                return op, send(op), None
            except AuthError:
                raise
            except ApiError as exc:
                return op, None, exc

        workers = max(1, self.options.concurrency)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(ops), window):
                part = list(ops[start:start + window])
                self.store.mark([op["id"] for op in part], "sent")
                results = _spread(pool, workers, call, part)
                self._record(results)
                out.extend(results)
                self.progress.advance(len(part))
        return out

    def _record(self, results: Iterable[tuple[dict[str, Any], Any, BaseException | None]]
                ) -> None:
        marks = []
        for op, _value, exc in results:
            if exc is None:
                marks.append((op["id"], "done", None))
            elif isinstance(exc, AmbiguousWriteError):
                marks.append((op["id"], "sent", f"ambiguous: {exc}"))
            else:
                marks.append((op["id"], "failed", str(exc)))
        self.store.mark_each(marks)

    # ------------------------------------------------------------ phases
    def run(self) -> LoadResult:
        self.deletes()
        self.updates()
        self.adds()
        return self.result

    def _begin(self, kind: str, phase: str) -> list[dict[str, Any]]:
        """The planned operations of one kind; starts the phase's progress and event."""
        ops = self.store.operations(self.run_id, kind, ["planned"])
        if ops:
            self._started(phase, len(ops))
        return ops

    def _started(self, phase: str, total: int) -> None:
        self.progress.start(phase, total)
        log.info("%s %d contacts", phase, total,
                 extra={"event": "phase", "phase": phase, "run_id": self.run_id,
                        "operations": total})

    def _send_deletes(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """DELETE each contact; count what was done or failed, and return the ones whose
        answer was lost (to be checked against the campaign, not re-sent blindly)."""
        results = self._parallel(ops, lambda op: self.client.contacts.delete(
            self.campaign_id, contact_id=op["remote_id"]))
        ambiguous = [op for op, _v, exc in results if isinstance(exc, AmbiguousWriteError)]
        self.result.deleted += sum(1 for _op, _v, exc in results if exc is None)
        self.result.failed += sum(1 for _op, _v, exc in results
                                  if exc is not None and not isinstance(exc, AmbiguousWriteError))
        return ambiguous

    def deletes(self) -> None:
        ops = self._begin("delete", "deleting")
        if not ops:
            return
        ambiguous = self._send_deletes(ops)
        for _attempt in range(3):
            if not ambiguous:
                break
            ids, _ = self._remote_keys()
            gone = [op for op in ambiguous if op["remote_id"] not in ids]
            self.store.mark_each((op["id"], "done", None) for op in gone)
            self.result.deleted += len(gone)
            again = [op for op in ambiguous if op["remote_id"] in ids]
            if not again:
                ambiguous = []
                break
            log.info("re-sending %d deletes the campaign still holds", len(again))
            ambiguous = self._send_deletes(again)
        if ambiguous:
            self.store.mark_each((op["id"], "failed", "no answer after 3 attempts")
                                 for op in ambiguous)
            self.result.failed += len(ambiguous)
        self.progress.finish()

    def updates(self) -> None:
        ops = self._begin("update", "updating")
        if not ops:
            return
        waves: dict[int, list[dict[str, Any]]] = {}
        for op in ops:
            waves.setdefault(int(op["wave"] or 0), []).append(op)
        for wave in sorted(waves):
            results = self._parallel(waves[wave], lambda op: self.client.contacts.patch(
                self.campaign_id, op["remote_id"], op["payload"]))
            # PATCH is idempotent and retried by the client; an ambiguous one is not
            # raised, so every outcome here is final
            for op, value, exc in results:
                if exc is None and value is not None:
                    self.answers[int(op["remote_id"])] = value
            self.result.updated += sum(1 for _op, _v, exc in results if exc is None)
            self.result.failed += sum(1 for _op, _v, exc in results if exc is not None)
        self.progress.finish()

    # ------------------------------------------------------------ adds
    def adds(self) -> None:
        total = self.store.count_operations(self.run_id, "add", ["planned"])
        if not total:
            return
        self._started("adding", total)
        failed: list[tuple[list[dict[str, Any]], str]] = []   # chunk, error details
        unknown: list[list[dict[str, Any]]] = []
        # a page of files at a time: a million planned adds are never all in memory
        size = max(1, self.options.chunk_size)
        page = size * max(1, ADD_PAGE_ROWS // size)
        for ops in self.store.operation_pages(self.run_id, "add", ["planned"], page):
            self._add_page(ops, failed, unknown)
        self._settle(failed, unknown)
        self.progress.finish()

    def _add_page(self, ops: list[dict[str, Any]],
                  failed: list[tuple[list[dict[str, Any]], str]],
                  unknown: list[list[dict[str, Any]]]) -> None:
        """Send planned adds in files of `chunk_size`; a 413 halves the file (and every
        later one); failed and unknown files are kept for `_settle`."""
        size = max(1, self.options.chunk_size)
        queue = [ops[i:i + size] for i in range(0, len(ops), size)]
        while queue:
            chunk = queue.pop(0)
            outcome, detail = self._import(chunk)
            if outcome == "too_large":
                if len(chunk) == 1:
                    self._reject(chunk, detail or "the platform refused the file as too large")
                    continue
                half = (len(chunk) + 1) // 2
                self.options = LoadOptions(**{**self.options.__dict__, "chunk_size": half})
                log.warning("import of %d contacts refused as too large; sending files of %d",
                            len(chunk), half)
                rest = [op for c in queue for op in c]
                queue = [chunk[:half], chunk[half:]] + [
                    rest[i:i + half] for i in range(0, len(rest), half)]
                continue
            if outcome == "failed":
                failed.append((chunk, detail or "failed"))
            elif outcome == "unknown":
                unknown.append(chunk)
            elif outcome == "done":
                self.progress.advance(len(chunk))

    def _import(self, chunk: list[dict[str, Any]]) -> tuple[str, str | None]:
        """Send one import file and follow its job: done, failed, pending, unknown or
        too_large, with the platform's details."""
        job = self.store.add_job(self.run_id, self.campaign_id, [op["id"] for op in chunk])
        self.result.jobs += 1
        try:
            answer = self.client.contacts.import_file(self.campaign_id,
                                                      [op["payload"] for op in chunk])
        except PayloadTooLargeError as exc:
            self.store.update_job(job, "failed", error="413 too large")
            self.store.mark([op["id"] for op in chunk], "planned")
            return "too_large", exc.server_message
        except AmbiguousWriteError as exc:
            self.store.update_job(job, "unknown", error=str(exc))
            return "unknown", None
        except AuthError:
            raise
        except ApiError as exc:
            self.store.update_job(job, "failed", error=str(exc))
            self.store.mark_each((op["id"], "failed", str(exc)) for op in chunk)
            self.result.failed += len(chunk)
            return "error", str(exc)
        if answer.job_id is None:
            self.store.update_job(job, "unknown", error="the answer named no job")
            return "unknown", None
        self.store.update_job(job, "in_progress", job_id=answer.job_id)
        log.info("import of %d contacts: job %s", len(chunk), answer.job_id,
                 extra={"event": "job_started", "run_id": self.run_id, "job_id": answer.job_id,
                        "contacts": len(chunk)})
        state = self.client.jobs.wait(self.campaign_id, answer.job_id,
                                      timeout=self.options.job_timeout,
                                      first_delay=self.options.first_poll,
                                      max_delay=self.options.max_poll)
        status = "pending" if state.timed_out else state.status
        log.info("job %s: %s", answer.job_id, status,
                 extra={"event": "job_finished", "run_id": self.run_id, "job_id": answer.job_id,
                        "status": status, "error_details": state.error_details})
        if state.timed_out:
            self.store.update_job(job, "pending")
            self.store.mark([op["id"] for op in chunk], "pending",
                            error=f"job {answer.job_id} still running at the timeout")
            self.result.pending += len(chunk)
            return "pending", None
        if state.status == "completed":
            self.store.update_job(job, "completed")
            self.store.mark([op["id"] for op in chunk], "done")
            self.result.added += len(chunk)
            return "done", None
        details = state.error_details or state.error_message or "job failed"
        self.store.update_job(job, "failed", error=details)
        return "failed", details

    def _reject(self, chunk: list[dict[str, Any]], details: str) -> None:
        self.store.mark_each((op["id"], "failed", details) for op in chunk)
        for op in chunk:
            self.result.rejected.append({"line": op["line"], "key": op["key"],
                                         "payload": op["payload"], "reason": details})
        self.result.failed += len(chunk)
        self.progress.advance(len(chunk))

    def _settle(self, failed: list[tuple[list[dict[str, Any]], str]],
                unknown: list[list[dict[str, Any]]]) -> None:
        """Find out what failed or unanswered imports left, level by level: one read of
        the campaign per level, then the missing rows again in halves."""
        reads_for_unknown = 0
        delay = self.options.first_poll
        resent: set[int] = set()
        while failed or unknown:
            _, keys = self._remote_keys()
            next_failed: list[tuple[list[dict[str, Any]], str]] = []
            still_unknown: list[list[dict[str, Any]]] = []
            for chunk in unknown:
                arrived = [op for op in chunk if op["key"] in keys]
                missing = [op for op in chunk if op["key"] not in keys]
                self._arrived(arrived, keys)
                if missing:
                    still_unknown.append(missing)
            reads_for_unknown += 1 if unknown else 0
            if still_unknown and reads_for_unknown < self.options.settle_reads:
                # the import may still be running: wait and look again
                self._sleep(delay)
                delay = min(self.options.max_poll, delay * 2)
            else:
                again: list[list[dict[str, Any]]] = []
                for chunk in still_unknown:
                    if len(chunk) == 1 and chunk[0]["id"] not in resent:
                        # a lone row whose import went unanswered was never shown to be
                        # at fault: send it once more before rejecting it
                        resent.add(chunk[0]["id"])
                        again.append(chunk)
                    else:
                        next_failed.append((chunk, "not found in the campaign after the import"))
                still_unknown = []
                for chunk in again:
                    outcome, detail = self._import(chunk)
                    if outcome == "done":
                        self.progress.advance(len(chunk))
                    elif outcome in ("failed", "too_large"):
                        next_failed.append((chunk, detail or "failed"))
                    elif outcome == "unknown":
                        still_unknown.append(chunk)
            for chunk, details in failed:
                arrived = [op for op in chunk if op["key"] in keys]
                missing = [op for op in chunk if op["key"] not in keys]
                self._arrived(arrived, keys)
                if not missing:
                    continue
                if len(missing) == 1:
                    self._reject(missing, details)
                    continue
                half = (len(missing) + 1) // 2
                for part in (missing[:half], missing[half:]):
                    outcome, detail = self._import(part)
                    if outcome == "done":
                        self.progress.advance(len(part))
                    elif outcome == "failed":
                        next_failed.append((part, detail or details))
                    elif outcome == "unknown":
                        still_unknown.append(part)
                    elif outcome == "too_large":
                        next_failed.append((part, details))
            failed = next_failed
            unknown = still_unknown

    def _arrived(self, ops: list[dict[str, Any]], keys: dict[str, int | None]) -> None:
        if not ops:
            return
        self.store.mark_each((op["id"], "done", None) for op in ops)
        self.result.added += len(ops)
        self.progress.advance(len(ops))


def wait_for_pending_jobs(client: Any, store: StateStore, campaign_id: int, *,
                          timeout: float = 600.0, first_poll: float = 0.5,
                          max_poll: float = 10.0) -> list[dict[str, Any]]:
    """Before planning again: wait for the import jobs an earlier run left running, so
    the campaign read next holds what they add. Returns the jobs still unfinished."""
    left = []
    for job in store.pending_jobs(campaign_id):
        if job["job_id"] is None:
            continue  # never answered: the next plan, read from the campaign, decides
        try:
            state = client.jobs.wait(campaign_id, int(job["job_id"]), timeout=timeout,
                                     first_delay=first_poll, max_delay=max_poll)
        except ApiError as exc:
            log.warning("job %s of run %s: %s", job["job_id"], job["run_id"], exc)
            left.append(job)
            continue
        if state.timed_out:
            left.append(job)
            continue
        store.update_job(job["id"], state.status,
                         error=state.error_details if state.status == "failed" else None)
    return left
