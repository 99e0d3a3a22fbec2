"""The state store: an embedded SQLite file (``state.db`` in the per-user state home, see `paths`).

It records each run, each planned write with its status (planned, sent, done,
failed, pending, unconfirmed) and the remote contact as it was before (for
rollback), each import job, the last applied row of every contact (for the
incremental nightly run), and one lock per campaign. Every change is committed
before the network step it describes, so a run killed at any moment leaves a
state the next run can finish. The API token is never stored here; the file is
created readable by the user only.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, LockedError
from ..normalize import TEXT
from .paths import default_state_path

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id INTEGER NOT NULL,
    command TEXT NOT NULL,
    source TEXT, source_sha256 TEXT, mapping TEXT, mode TEXT,
    options TEXT,
    started_at TEXT NOT NULL, ended_at TEXT,
    status TEXT NOT NULL,              -- running, done, partial, failed, refused, interrupted
    exit_code INTEGER,
    counts TEXT,
    report_dir TEXT,
    pid INTEGER, host TEXT,
    message TEXT,
    rollback_of INTEGER
);
CREATE INDEX IF NOT EXISTS runs_campaign ON runs (campaign_id, id);
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    kind TEXT NOT NULL,                -- delete, update, add
    key TEXT, remote_id INTEGER, line INTEGER, wave INTEGER,
    payload TEXT,                      -- what is sent (JSON)
    before TEXT,                       -- the remote contact before (JSON), for rollback
    status TEXT NOT NULL,              -- planned, sent, done, failed, pending, unconfirmed
    error TEXT,
    job INTEGER,                       -- jobs.id of the import that carries an add
    confirmed INTEGER,                 -- 1 confirmed by re-reading the campaign, 0 not
    updated_at REAL
);
CREATE INDEX IF NOT EXISTS operations_run ON operations (run_id, kind, status);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    campaign_id INTEGER NOT NULL,
    job_id INTEGER,                    -- the platform's id, when it gave one
    rows INTEGER NOT NULL,
    status TEXT NOT NULL,              -- sending, in_progress, completed, failed, pending, unknown
    error TEXT,
    created_at REAL, updated_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs (run_id, status);
CREATE TABLE IF NOT EXISTS contacts (
    campaign_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    row_hash INTEGER NOT NULL,         -- hash of the mapped source row last applied
    remote_hash INTEGER,               -- hash of the campaign contact as read after it
    remote_id INTEGER,
    run_id INTEGER,
    phone_hash INTEGER,                -- hash of its phone (E.164) after that run, if known
    PRIMARY KEY (campaign_id, key)
) WITHOUT ROWID;                       -- rows kept in key order: a campaign is read in one scan
CREATE TABLE IF NOT EXISTS locks (
    campaign_id INTEGER PRIMARY KEY,
    run_id INTEGER, pid INTEGER, host TEXT, started_at TEXT
);
CREATE TABLE IF NOT EXISTS holds (
    campaign_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    note TEXT,
    held_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, key)
);
CREATE TABLE IF NOT EXISTS optouts (
    id INTEGER PRIMARY KEY,
    campaign_id INTEGER NOT NULL,
    phone TEXT NOT NULL,               -- E.164: the number that must not be added back
    reason TEXT NOT NULL,              -- do_not_call, suppressed
    run_id INTEGER,
    opted_at TEXT NOT NULL,
    released_at TEXT, released_by TEXT, release_note TEXT
);
CREATE INDEX IF NOT EXISTS optouts_phone ON optouts (campaign_id, phone);
CREATE TABLE IF NOT EXISTS dnc (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL,               -- E.164, on the company Do-Not-Call list
    event TEXT NOT NULL,               -- pushed_to_dnc, removed_from_dnc, refused
    expires_at TEXT,                   -- as pushed ("" for none)
    at TEXT NOT NULL,
    run_id INTEGER, campaign_id INTEGER,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS dnc_phone ON dnc (phone);
"""

OP_STATUSES = ("planned", "sent", "done", "failed", "pending", "unconfirmed")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped by its parent) is dead for our purpose
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


@dataclass
class Run:
    id: int
    campaign_id: int
    command: str
    status: str
    started_at: str
    ended_at: str | None
    exit_code: int | None
    mode: str | None
    source: str | None
    source_sha256: str | None
    counts: dict[str, Any]
    options: dict[str, Any]
    report_dir: str | None
    message: str | None
    rollback_of: int | None
    pid: int | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Run:
        return cls(id=row["id"], campaign_id=row["campaign_id"], command=row["command"],
                   status=row["status"], started_at=row["started_at"],
                   ended_at=row["ended_at"], exit_code=row["exit_code"], mode=row["mode"],
                   source=row["source"], source_sha256=row["source_sha256"],
                   counts=json.loads(row["counts"] or "{}"),
                   options=json.loads(row["options"] or "{}"), report_dir=row["report_dir"],
                   message=row["message"], rollback_of=row["rollback_of"], pid=row["pid"])


#: what a report reads of each operation (`StateStore.operation_frames`)
OPERATION_COLUMNS = ("kind", "key", "remote_id", "line", "status", "confirmed", "error")


class StateStore:
    """One SQLite file; use as a context manager. Not shared between threads: the
    loader's workers report back to the thread that owns the store."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = (Path(path) if path else default_state_path()).absolute()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
            os.chmod(self.path, 0o600)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"state store {self.path}: cannot be opened ({exc})",
                              hint="check the --state path and its permissions") from exc
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        try:
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"state store {self.path}: not a campaign-sync state file "
                              f"({exc})", hint="point --state at another file") from exc
        self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),))
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(contacts)")}
        if "phone_hash" not in columns:  # a store written before phone hashes were kept
            self.db.execute("ALTER TABLE contacts ADD COLUMN phone_hash INTEGER")
        self._contacts_without_rowid()
        for extra in (self.path.with_name(self.path.name + "-wal"),
                      self.path.with_name(self.path.name + "-shm")):
            if extra.exists():
                os.chmod(extra, 0o600)

    def _contacts_without_rowid(self) -> None:
        """Stores written before contacts was a WITHOUT ROWID table get it rebuilt
        once, in one transaction (nothing is lost if the process stops during it):
        reading a campaign's applied state was a look-up per row through the key
        index, and is now one scan of the table in key order."""
        def rebuilt() -> bool:
            sql = self.db.execute("SELECT sql FROM sqlite_master WHERE type='table' AND "
                                  "name='contacts'").fetchone()[0]
            return "WITHOUT ROWID" in sql.upper()

        if rebuilt():
            return
        table = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS contacts"):]
        table = table[:table.index(";") + 1].replace(
            "IF NOT EXISTS contacts", "contacts_rebuilt")
        columns = "campaign_id, key, row_hash, remote_hash, remote_id, run_id, phone_hash"
        with self.transaction() as db:
            if rebuilt():  # another process rebuilt it meanwhile
                return
            db.execute(table)
            db.execute(f"INSERT INTO contacts_rebuilt ({columns}) SELECT {columns} "
                       "FROM contacts")
            db.execute("DROP TABLE contacts")
            db.execute("ALTER TABLE contacts_rebuilt RENAME TO contacts")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # ------------------------------------------------------------ runs
    def start_run(self, campaign_id: int, command: str, *, source: str | None = None,
                  source_sha256: str | None = None, mapping: str | None = None,
                  mode: str | None = None, options: dict[str, Any] | None = None,
                  report_dir: str | None = None, rollback_of: int | None = None) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (campaign_id, command, source, source_sha256, mapping, mode,"
                " options, started_at, status, report_dir, pid, host, rollback_of)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (campaign_id, command, source, source_sha256, mapping, mode,
                 json.dumps(options or {}), utcnow(), report_dir, os.getpid(),
                 socket.gethostname(), rollback_of))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, exit_code: int, *,
                   counts: dict[str, Any] | None = None, message: str | None = None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET status=?, exit_code=?, ended_at=?, counts=?, message=?"
                       " WHERE id=?", (status, int(exit_code), utcnow(),
                                       json.dumps(counts or {}), message, run_id))

    def update_run_options(self, run_id: int, **changes: Any) -> None:
        with self.transaction() as db:
            row = db.execute("SELECT options FROM runs WHERE id=?", (run_id,)).fetchone()
            options = {**json.loads(row["options"] or "{}"), **changes}
            db.execute("UPDATE runs SET options=? WHERE id=?", (json.dumps(options), run_id))

    def set_run_counts(self, run_id: int, counts: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE runs SET counts=? WHERE id=?", (json.dumps(counts), run_id))

    def run(self, run_id: int) -> Run | None:
        row = self.db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return Run.from_row(row) if row else None

    def run_mapping(self, run_id: int) -> str | None:
        """The mapping file (or shipped name) run `run_id` used."""
        row = self.db.execute("SELECT mapping FROM runs WHERE id=?", (run_id,)).fetchone()
        return row["mapping"] if row and row["mapping"] else None

    def runs(self, campaign_id: int | None = None, limit: int = 50) -> list[Run]:
        if campaign_id is None:
            rows = self.db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.db.execute("SELECT * FROM runs WHERE campaign_id=? ORDER BY id DESC"
                                   " LIMIT ?", (campaign_id, limit))
        return [Run.from_row(r) for r in rows]

    def unfinished_runs(self, campaign_id: int) -> list[Run]:
        rows = self.db.execute("SELECT * FROM runs WHERE campaign_id=? AND status='running'"
                               " ORDER BY id", (campaign_id,))
        return [Run.from_row(r) for r in rows]

    # ------------------------------------------------------------ opt-outs
    def add_optouts(self, campaign_id: int, run_id: int | None,
                    phones: Iterable[tuple[str, str]]) -> int:
        """Record (phone, reason) opt-outs not already in force; returns how many."""
        current = set(self.optout_phones(campaign_id))
        new: dict[str, str] = {}
        for phone, reason in phones:
            if phone and phone not in current:
                new.setdefault(phone, reason)
        with self.transaction() as db:
            db.executemany("INSERT INTO optouts (campaign_id, phone, reason, run_id, opted_at)"
                           " VALUES (?, ?, ?, ?, ?)",
                           ((campaign_id, p, r, run_id, utcnow()) for p, r in new.items()))
        return len(new)

    def optout_phones(self, campaign_id: int) -> dict[str, str]:
        """The numbers that opted out of the campaign and were not released -> why."""
        return {r["phone"]: f"{r['reason']} since {r['opted_at']} (run {r['run_id']})"
                for r in self.db.execute(
                    "SELECT phone, reason, opted_at, run_id FROM optouts WHERE campaign_id=?"
                    " AND released_at IS NULL ORDER BY id", (campaign_id,))}

    def optouts(self, campaign_id: int | None = None, *, released: bool = False
                ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM optouts WHERE 1=1"
        args: list[Any] = []
        if campaign_id is not None:
            sql += " AND campaign_id=?"
            args.append(campaign_id)
        if not released:
            sql += " AND released_at IS NULL"
        return [dict(r) for r in self.db.execute(sql + " ORDER BY campaign_id, id", args)]

    def release_optouts(self, phones: Iterable[str], by: str, note: str = "",
                        campaign_id: int | None = None) -> list[dict[str, Any]]:
        """Release the opt-outs of `phones` (in one campaign, or all), recording who and
        when; returns the released ones."""
        wanted = set(phones)
        released = [r for r in self.optouts(campaign_id) if r["phone"] in wanted]
        now = utcnow()
        with self.transaction() as db:
            db.executemany("UPDATE optouts SET released_at=?, released_by=?, release_note=?"
                           " WHERE id=?", ((now, by, note, r["id"]) for r in released))
        return released

    # ------------------------------------------------------------ ledger
    def reconcile_interrupted(self, campaign_id: int, present: set[int]) -> int:
        """Deletes an interrupted run sent without knowing the answer: done when the
        contact is gone from the campaign (`present`: the ids read now), else failed.
        Keeps the removal ledger exact after a killed run. Returns how many changed."""
        rows = self.db.execute(
            "SELECT o.id, o.remote_id FROM operations o JOIN runs r ON r.id=o.run_id"
            " WHERE r.campaign_id=? AND r.status IN ('interrupted', 'failed')"
            " AND o.kind='delete'"
            " AND o.status IN ('sent', 'unconfirmed')", (campaign_id,)).fetchall()
        marks = [(r["id"], "done" if r["remote_id"] not in present else "failed",
                  None if r["remote_id"] not in present else
                  "not carried out: the run was interrupted") for r in rows]
        if marks:
            self.mark_each(marks)
        return len(marks)

    def removals(self, campaign_id: int) -> list[dict[str, Any]]:
        """Every contact a run of the campaign deleted (done), with its run and when;
        each contact once (the first run that deleted it: a later attempt that found it
        gone, or a resumed apply, records a delete too)."""
        out = []
        seen: set[int] = set()
        for row in self.db.execute(
                "SELECT o.run_id, o.key, o.remote_id, o.before, o.updated_at, r.command"
                " FROM operations o JOIN runs r ON r.id=o.run_id WHERE r.campaign_id=?"
                " AND o.kind='delete' AND o.status='done' ORDER BY o.updated_at, o.id",
                (campaign_id,)):
            if row["remote_id"] is not None:
                if row["remote_id"] in seen:
                    continue
                seen.add(row["remote_id"])
            before = json.loads(row["before"]) if row["before"] else {}
            out.append({"run_id": row["run_id"], "key": row["key"] or "",
                        "remote_id": row["remote_id"], "phone": before.get("phone_number", ""),
                        "reason": ("rollback" if row["command"] == "rollback"
                                   else before.get("reason") or "not_in_source"),
                        "at": datetime.fromtimestamp(row["updated_at"], UTC).isoformat(
                            timespec="seconds")})
        return out

    def added_back(self, campaign_id: int) -> list[dict[str, Any]]:
        """Contacts a rollback added back (done)."""
        return [{"run_id": r["run_id"], "key": r["key"] or "",
                 "phone": json.loads(r["payload"] or "{}").get("phone_number", ""),
                 "at": datetime.fromtimestamp(r["updated_at"], UTC).isoformat(
                     timespec="seconds")}
                for r in self.db.execute(
                    "SELECT o.run_id, o.key, o.payload, o.updated_at FROM operations o"
                    " JOIN runs r ON r.id=o.run_id WHERE r.campaign_id=? AND"
                    " r.command='rollback' AND o.kind='add' AND o.status='done'"
                    " ORDER BY o.updated_at, o.id", (campaign_id,))]

    # ------------------------------------------------------------ company DNC list
    def record_dnc(self, events: Iterable[tuple[str, str, str, str]], *,
                   run_id: int | None = None, campaign_id: int | None = None) -> None:
        """(phone, event, expires_at, detail) of pushes to and removals from the company
        Do-Not-Call list (event pushed_to_dnc, removed_from_dnc or refused)."""
        now = utcnow()
        with self.transaction() as db:
            db.executemany("INSERT INTO dnc (phone, event, expires_at, at, run_id, campaign_id,"
                           " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           ((p, e, x, now, run_id, campaign_id, d) for p, e, x, d in events))

    def dnc_listed(self) -> dict[str, str]:
        """The numbers this store pushed to the company list and did not remove since,
        whose entry has not expired -> expires_at ("" for never)."""
        now = utcnow()
        out: dict[str, str] = {}
        for r in self.db.execute("SELECT phone, event, expires_at FROM dnc"
                                 " WHERE event IN ('pushed_to_dnc', 'removed_from_dnc')"
                                 " ORDER BY id"):
            if r["event"] == "removed_from_dnc":
                out.pop(r["phone"], None)
            else:
                out[r["phone"]] = r["expires_at"] or ""
        return {p: x for p, x in out.items() if not x or x > now}

    def dnc_refused(self) -> dict[str, str]:
        """Numbers the platform refused for the list (invalid, an emergency number) ->
        its status: not sent again."""
        return {r["phone"]: r["detail"] or "refused" for r in self.db.execute(
            "SELECT phone, detail FROM dnc WHERE event='refused' ORDER BY id")}

    def dnc_events(self, campaign_id: int | None = None) -> list[dict[str, Any]]:
        """Pushes to and removals from the company list (company-wide: every campaign's
        ledger shows them), oldest first."""
        return [{"at": r["at"], "event": r["event"], "phone": r["phone"],
                 "run_id": r["run_id"], "reason": "",
                 "detail": "; ".join(x for x in (
                     f"expires {r['expires_at']}" if r["expires_at"] else "",
                     r["detail"] or "") if x)}
                for r in self.db.execute("SELECT * FROM dnc ORDER BY id")]

    # ------------------------------------------------------------ holds
    def add_holds(self, campaign_id: int, keys: Iterable[str], note: str = "") -> int:
        """Hold `keys` (left alone by every plan until released); returns how many
        were not held yet."""
        keys = [k.strip() for k in keys if k and k.strip()]
        with self.transaction() as db:
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO holds (campaign_id, key, note, held_at)"
                           " VALUES (?, ?, ?, ?)", ((campaign_id, k, note, utcnow()) for k in keys))
            return db.total_changes - before

    def release_holds(self, campaign_id: int, keys: Iterable[str]) -> list[str]:
        """Release `keys`; returns those that were held."""
        held = set(self.held_keys(campaign_id))
        gone = [k for k in dict.fromkeys(k.strip() for k in keys) if k in held]
        with self.transaction() as db:
            db.executemany("DELETE FROM holds WHERE campaign_id=? AND key=?",
                           ((campaign_id, k) for k in gone))
        return gone

    def held_keys(self, campaign_id: int) -> list[str]:
        return [r["key"] for r in self.db.execute(
            "SELECT key FROM holds WHERE campaign_id=? ORDER BY key", (campaign_id,))]

    def holds(self, campaign_id: int | None = None) -> list[dict[str, Any]]:
        """Every hold (of one campaign): campaign_id, key, note, held_at."""
        sql = "SELECT campaign_id, key, note, held_at FROM holds"
        args: tuple[Any, ...] = ()
        if campaign_id is not None:
            sql += " WHERE campaign_id=?"
            args = (campaign_id,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY campaign_id, key", args)]

    def runs_of_plan(self, campaign_id: int, checksum: str) -> list[Run]:
        """The apply runs of the saved plan with this checksum, oldest first."""
        rows = self.db.execute("SELECT * FROM runs WHERE campaign_id=? AND command='apply'"
                               " AND source_sha256=? ORDER BY id", (campaign_id, checksum))
        return [Run.from_row(r) for r in rows]

    def last_successful_run(self, campaign_id: int) -> Run | None:
        row = self.db.execute("SELECT * FROM runs WHERE campaign_id=? AND command='sync'"
                              " AND status IN ('done', 'done_with_rejects')"
                              " ORDER BY id DESC LIMIT 1",
                              (campaign_id,)).fetchone()
        return Run.from_row(row) if row else None

    # ------------------------------------------------------------ lock
    def acquire_lock(self, campaign_id: int, run_id: int | None = None) -> None:
        """Take the campaign's lock, or LockedError naming the run that holds it. A lock
        left by a process that is gone (same host) is taken over."""
        host = socket.gethostname()
        with self.transaction() as db:
            row = db.execute("SELECT * FROM locks WHERE campaign_id=?", (campaign_id,)
                             ).fetchone()
            if row is not None and row["pid"] != os.getpid():
                same_host = row["host"] == host
                if not same_host or _pid_alive(int(row["pid"])):
                    raise LockedError(
                        f"campaign {campaign_id} is being synced by run {row['run_id']} "
                        f"(pid {row['pid']} on {row['host']}, started {row['started_at']})",
                        hint="wait for it to finish; if that process is gone on another "
                             f"host, remove its lock with: campaign-sync runs --unlock "
                             f"{campaign_id}")
            db.execute("INSERT OR REPLACE INTO locks VALUES (?, ?, ?, ?, ?)",
                       (campaign_id, run_id, os.getpid(), host, utcnow()))

    def set_lock_run(self, campaign_id: int, run_id: int) -> None:
        with self.transaction() as db:
            db.execute("UPDATE locks SET run_id=? WHERE campaign_id=? AND pid=?",
                       (run_id, campaign_id, os.getpid()))

    def release_lock(self, campaign_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM locks WHERE campaign_id=? AND pid=?",
                       (campaign_id, os.getpid()))

    def force_unlock(self, campaign_id: int) -> bool:
        with self.transaction() as db:
            return db.execute("DELETE FROM locks WHERE campaign_id=?",
                              (campaign_id,)).rowcount > 0

    # ------------------------------------------------------------ operations
    def add_operations(self, run_id: int, ops: Iterable[Sequence[Any]]) -> None:
        """ops: (kind, key, remote_id, line, wave, payload dict, before dict|None)."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO operations (run_id, kind, key, remote_id, line, wave, payload,"
                " before, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?)",
                ((run_id, kind, key, remote_id, line, wave, json.dumps(payload),
                  None if before is None else json.dumps(before), now)
                 for kind, key, remote_id, line, wave, payload, before in ops))

    def operations(self, run_id: int, kind: str | None = None,
                   statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """The run's operations (of `kind`, in `statuses`) in id order, payloads decoded."""
        return [op for page in self.operation_pages(run_id, kind, statuses) for op in page]

    def operation_pages(self, run_id: int, kind: str | None = None,
                        statuses: Sequence[str] | None = None, page: int = 50_000
                        ) -> Iterator[list[dict[str, Any]]]:
        """`operations(run_id, kind, statuses)`, `page` at a time in id order: a million
        planned adds are never all decoded at once. Each page is read whole before it
        is yielded, so the caller may mark operations between pages."""
        last = 0
        where, args = "run_id=?", [run_id]
        if kind:
            where += " AND kind=?"
            args.append(kind)
        if statuses:
            where += f" AND status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        while True:
            rows = self.db.execute(
                f"SELECT * FROM operations WHERE {where} AND id>? ORDER BY id LIMIT ?",
                (*args, last, page)).fetchall()
            if not rows:
                return
            out = []
            for row in rows:
                rec = dict(row)
                rec["payload"] = json.loads(rec["payload"] or "{}")
                rec["before"] = json.loads(rec["before"]) if rec["before"] else None
                out.append(rec)
            last = out[-1]["id"]
            yield out

    def iter_operations(self, run_id: int) -> Iterator[dict[str, Any]]:
        """Every operation of the run in id order, read a page at a time."""
        for page in self.operation_pages(run_id):
            yield from page

    def done_frame(self, run_id: int, page: int = 100_000) -> Any:
        """(kind, key, remote_id) of every operation of the run that was done, in id
        order, as a table (key "" where none), read `page` rows at a time without
        decoding payloads: a million adds are never a million Python tuples at once."""
        cur = self.db.cursor()
        cur.row_factory = None  # plain tuples: lighter than rows by name
        cur.execute("SELECT kind, COALESCE(key, ''), remote_id FROM operations"
                    " WHERE run_id=? AND status='done' ORDER BY id", (run_id,))
        parts = []
        while batch := cur.fetchmany(page):
            kinds, keys, ids = zip(*batch)
            parts.append(pd.DataFrame({
                "kind": pd.Categorical(kinds, categories=["add", "update", "delete"]),
                "key": pd.array(keys, dtype=TEXT),
                "remote_id": pd.array(ids, dtype="Int64")}))
        if not parts:
            return pd.DataFrame({"kind": pd.Categorical([], categories=["add", "update",
                                                                        "delete"]),
                                 "key": pd.array([], dtype=TEXT),
                                 "remote_id": pd.array([], dtype="Int64")})
        return pd.concat(parts, ignore_index=True)

    def count_operations(self, run_id: int, kind: str, statuses: Sequence[str]) -> int:
        marks = ",".join("?" * len(statuses))
        return int(self.db.execute(
            f"SELECT COUNT(*) FROM operations WHERE run_id=? AND kind=? AND status IN ({marks})",
            (run_id, kind, *statuses)).fetchone()[0])

    def operation_table(self, run_id: int, page: int = 100_000) -> Any:
        """The run's operations as a DataFrame (kind, key, remote_id, line, status,
        confirmed, error) in id order, without decoding payloads: what a report needs of
        them. Text is held as Arrow strings and numbers as nullable integers, read `page`
        rows at a time: a million operations are never a million Python rows at once."""
        parts = list(self.operation_frames(run_id, page))
        if len(parts) == 1:
            return parts[0]
        return pd.concat(parts, ignore_index=True)

    def operation_frames(self, run_id: int, page: int = 100_000) -> Iterator[Any]:
        """`operation_table` a page at a time (one empty frame when the run has none)."""
        columns = list(OPERATION_COLUMNS)
        kinds = [TEXT, TEXT, "Int64", "Int64", TEXT, "Int64", TEXT]
        cur = self.db.cursor()
        cur.row_factory = None
        cur.execute(f"SELECT {', '.join(columns)} FROM operations WHERE run_id=? ORDER BY id",
                    (run_id,))
        empty = True
        while batch := cur.fetchmany(page):
            empty = False
            values = list(zip(*batch))
            yield pd.DataFrame({c: pd.array(list(v), dtype=k)
                                for c, v, k in zip(columns, values, kinds)})
        if empty:
            yield pd.DataFrame({c: pd.array([], dtype=k) for c, k in zip(columns, kinds)})

    def has_operations(self, run_id: int, kind: str) -> bool:
        """Whether the run planned any operation of `kind` (no row decoded)."""
        return self.db.execute("SELECT 1 FROM operations WHERE run_id=? AND kind=? LIMIT 1",
                               (run_id, kind)).fetchone() is not None

    def mark(self, op_ids: Iterable[int], status: str, *, error: str | None = None,
             job: int | None = None, remote_id: int | None = None) -> None:
        ids = list(op_ids)
        if not ids:
            return
        now = time.time()
        with self.transaction() as db:
            for start in range(0, len(ids), 500):
                part = ids[start:start + 500]
                marks = ",".join("?" * len(part))
                db.execute(f"UPDATE operations SET status=?, error=COALESCE(?, error),"
                           f" job=COALESCE(?, job), remote_id=COALESCE(?, remote_id),"
                           f" updated_at=? WHERE id IN ({marks})",
                           (status, error, job, remote_id, now, *part))

    def mark_each(self, results: Iterable[tuple[int, str, str | None]]) -> None:
        """(op id, status, error) for many operations in one transaction."""
        now = time.time()
        with self.transaction() as db:
            db.executemany("UPDATE operations SET status=?, error=?, updated_at=? WHERE id=?",
                           ((status, error, now, op_id) for op_id, status, error in results))

    def confirm(self, results: Iterable[tuple[int, bool, int | None]]) -> None:
        """(op id, confirmed, remote id found) after re-reading the campaign."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE operations SET confirmed=?, remote_id=COALESCE(?, remote_id),"
                " status=CASE WHEN ? THEN 'done' WHEN status='done' THEN 'unconfirmed'"
                " ELSE status END WHERE id=?",
                ((1 if ok else 0, rid, 1 if ok else 0, op_id) for op_id, ok, rid in results))

    def op_counts(self, run_id: int) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for row in self.db.execute("SELECT kind, status, COUNT(*) n FROM operations"
                                   " WHERE run_id=? GROUP BY kind, status", (run_id,)):
            out.setdefault(row["kind"], {})[row["status"]] = row["n"]
        return out

    # ------------------------------------------------------------ jobs
    def add_job(self, run_id: int, campaign_id: int, op_ids: Sequence[int]) -> int:
        """Record an import before it is sent (status sending) and tie its adds to it."""
        now = time.time()
        with self.transaction() as db:
            cur = db.execute("INSERT INTO jobs (run_id, campaign_id, rows, status, created_at,"
                             " updated_at) VALUES (?, ?, ?, 'sending', ?, ?)",
                             (run_id, campaign_id, len(op_ids), now, now))
            job = int(cur.lastrowid)
            for start in range(0, len(op_ids), 500):
                part = list(op_ids[start:start + 500])
                db.execute(f"UPDATE operations SET status='sent', job=?, updated_at=?"
                           f" WHERE id IN ({','.join('?' * len(part))})", (job, now, *part))
            return job

    def update_job(self, job: int, status: str, *, job_id: int | None = None,
                   error: str | None = None) -> None:
        with self.transaction() as db:
            db.execute("UPDATE jobs SET status=?, job_id=COALESCE(?, job_id),"
                       " error=COALESCE(?, error), updated_at=? WHERE id=?",
                       (status, job_id, error, time.time(), job))

    def jobs(self, run_id: int, statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM jobs WHERE run_id=?"
        args: list[Any] = [run_id]
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def pending_jobs(self, campaign_id: int) -> list[dict[str, Any]]:
        """Jobs of earlier runs that were not seen to finish."""
        return [dict(r) for r in self.db.execute(
            "SELECT * FROM jobs WHERE campaign_id=? AND status IN"
            " ('sending', 'in_progress', 'pending') ORDER BY id", (campaign_id,))]

    # ------------------------------------------------------------ contacts
    def applied(self, campaign_id: int) -> pd.DataFrame:
        """The last applied state: key, row_hash, remote_hash, remote_id, phone_hash
        (one row per contact this tool wrote or found equal).

        Read as one row of columns (each joined by SQLite, then split and parsed in C)
        instead of a million row tuples: a nightly run reads the whole state."""
        nullable = ("remote_hash", "remote_id", "phone_hash")
        row = self.db.execute(
            "SELECT count(*), group_concat(key, char(31)), group_concat(row_hash), "
            + ", ".join(f"group_concat(IFNULL({c}, 0)), group_concat({c} IS NULL, '')"
                        for c in nullable)
            + " FROM (SELECT * FROM contacts WHERE campaign_id=? ORDER BY key)",
            (campaign_id,)).fetchone()
        n = int(row[0])
        keys = (row[1] or "").split("\x1f") if n else []
        columns = [np.fromstring(text or "", dtype=np.int64, sep=",")
                   for text in row[2:3] + row[3::2]]
        if len(keys) != n or any(len(c) != n for c in columns):
            return self._applied_by_rows(campaign_id)  # a key holding the separator
        frame = pd.DataFrame({"key": pd.Series(keys, dtype=object),
                              "row_hash": pd.Series(columns[0], dtype="int64")})
        for name, values, nulls in zip(nullable, columns[1:], row[4::2]):
            mask = np.frombuffer((nulls or "").encode("ascii"), dtype=np.uint8) == ord("1")
            frame[name] = pd.arrays.IntegerArray(values, mask)
        return frame

    def _applied_by_rows(self, campaign_id: int) -> pd.DataFrame:
        """`applied`, one row tuple at a time."""
        rows = self.db.execute("SELECT key, row_hash, remote_hash, remote_id, phone_hash"
                               " FROM contacts WHERE campaign_id=? ORDER BY key",
                               (campaign_id,)).fetchall()
        return pd.DataFrame({
            "key": pd.Series([r[0] for r in rows], dtype=object),
            "row_hash": pd.Series([r[1] for r in rows], dtype="int64"),
            "remote_hash": pd.array([r[2] for r in rows], dtype="Int64"),
            "remote_id": pd.array([r[3] for r in rows], dtype="Int64"),
            "phone_hash": pd.array([r[4] for r in rows], dtype="Int64")})

    def record_applied(self, campaign_id: int, run_id: int,
                       rows: Iterable[tuple[Any, ...]],
                       removed: Iterable[str] = ()) -> None:
        """rows: (key, row hash, remote hash, remote id[, phone hash])."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO contacts (campaign_id, key, row_hash, remote_hash,"
                " remote_id, run_id, phone_hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((campaign_id, r[0], r[1], r[2], r[3], run_id, r[4] if len(r) > 4 else None)
                 for r in rows))
            db.executemany("DELETE FROM contacts WHERE campaign_id=? AND key=?",
                           ((campaign_id, key) for key in removed))
