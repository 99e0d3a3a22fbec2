"""Benchmark of the write throughput under latency: PATCHes with 1 and 8 workers, and
the client's rate limit held without going over it.

    .venv/bin/python benchmarks/throughput.py --patches 400 --json results.json

A sandbox answering every request after 50 ms (`--latency-ms`), with no rate limit of
its own, holds a campaign of `--patches` contacts; a sync (mirror, the real sync_run
path) changes every name, so the load is that many PATCHes. The client's rate limit
is 1000/s, far above what is reached. The patch phase is timed from the loader's
progress hooks (start of "updating" to its finish), apart from the reads, validation
and planning around it; one campaign read is also timed on its own.

Targets: the patch phase with `--concurrency 8` at least 6x faster than with 1.

Then the client's rate limit at 8/s (`--limited-patches`, default 80, 8 workers,
latency 50 ms): the patches must go at 8/s within 10% (7.2 to 8.0), and no
one-second window (sliding, as the platform counts) may hold more than 8 requests,
from the arrival times the sandbox saw.

Timings are ratios against a baseline of the same run. Each sync runs in its own
process, sandbox included. Exit code 0 whether the targets are met or not (the table
says), 1 if a run crashed or a campaign does not end up as its source.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    fmt_num,
    format_table,
    machine,
    machine_line,
    met_text,
    run_in_subprocess,
    write_json,
)
from requests_count import CAMPAIGN_ID, TOKEN, USER, campaign_matches, write_source  # noqa: E402

from connector.api.client import ApiClient  # noqa: E402
from connector.api.frame import fetch_remote  # noqa: E402
from connector.config import Settings  # noqa: E402
from connector.load import LoadOptions, Progress  # noqa: E402
from connector.pipeline import sync_run  # noqa: E402
from connector.plan import PlanOptions  # noqa: E402
from connector.sandbox import SandboxServer, fake_contacts  # noqa: E402

SPEEDUP_TARGET = 6.0
RATE_TOLERANCE = 0.10


class TimedSandbox(SandboxServer):
    """The sandbox, also keeping the arrival time of every request (before the
    latency), by kind."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, str | None]] = []
        self._arrivals_lock = threading.Lock()

    def _answer(self, req: Any) -> Any:
        t = time.monotonic()
        reply, kind = super()._answer(req)
        with self._arrivals_lock:
            self.arrivals.append((t, kind))
        return reply, kind


class PhaseClock(Progress):
    """Start and end time of each loader phase (deleting, updating, adding)."""

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = {}
        self._current: str | None = None

    def start(self, phase: str, total: int) -> None:
        self._current = phase
        self.phases[phase] = [time.perf_counter(), 0.0]

    def finish(self) -> None:
        if self._current is not None:
            self.phases[self._current][1] = time.perf_counter()
            self._current = None

    def seconds(self, phase: str) -> float | None:
        p = self.phases.get(phase)
        return None if not p or not p[1] else p[1] - p[0]


def max_in_window(times: list[float], width: float = 1.0) -> int:
    """The most requests in any window (t - width, t] (the sandbox's sliding second)."""
    times = sorted(times)
    best = i = 0
    for j, t in enumerate(times):
        while times[i] <= t - width:
            i += 1
        best = max(best, j - i + 1)
    return best


def over_limit(times: list[float], limit: float, width: float = 1.0) -> int:
    """How many requests arrived while the window (t - width, t] already held `limit`
    others: the ones a sliding-window limit of `limit` would have answered 429."""
    times = sorted(times)
    n = i = 0
    for j, t in enumerate(times):
        while times[i] <= t - width:
            i += 1
        n += (j - i + 1) > limit
    return n


def min_span(times: list[float], k: int) -> float | None:
    """The shortest time between request i and request i + k (k + 1 requests)."""
    times = sorted(times)
    spans = [times[i + k] - times[i] for i in range(len(times) - k)]
    return min(spans) if spans else None


def measure_patches(patches: int = 400, concurrency: int = 8, latency_ms: float = 50,
                    client_rate: float = 1000.0, work_dir: str | None = None
                    ) -> dict[str, Any]:
    """Seed `patches` contacts, sync a file that renames every one of them; time the
    patch phase, one campaign read, and keep the arrival times of the requests."""
    with tempfile.TemporaryDirectory(prefix="bench-tp-", dir=work_dir) as tmp:
        work = Path(tmp)
        with TimedSandbox(user=USER, token=TOKEN, campaigns=[CAMPAIGN_ID],
                          latency_ms=latency_ms, rate_limit=None, job_seconds=0.2,
                          seed=1) as sb:
            sb.seed(CAMPAIGN_ID, fake_contacts(patches), check=False)
            src = write_source(work / "source.csv", sb.contacts(CAMPAIGN_ID), adds=0,
                               changes=patches, removes=0, add_start=patches, kinds=("name",))
            settings = Settings(base_url=sb.url, api_user=USER, api_token=TOKEN,
                                rate_limit=client_rate)
            clock = PhaseClock()
            sb.reset_counts()
            with ApiClient(settings) as client:
                sent: list[float] = []
                acquire = client.http.limiter.acquire

                def timed_acquire() -> None:
                    acquire()
                    sent.append(time.monotonic())  # when the limiter let it go

                client.http.limiter.acquire = timed_acquire  # type: ignore[method-assign]
                t0 = time.perf_counter()
                outcome = sync_run(
                    source=str(work / "source.csv"), campaign_id=CAMPAIGN_ID,
                    mapping="generic",
                    plan_options=PlanOptions(mode="mirror", max_delete_fraction=1.0, force=True),
                    load_options=LoadOptions(chunk_size=1000, concurrency=concurrency,
                                             job_timeout=600, first_poll=0.5, max_poll=10),
                    settings=settings, state_path=str(work / "state.db"),
                    report_dir=str(work / "report"), client=client, progress=clock)
                sync_seconds = time.perf_counter() - t0
                t1 = time.perf_counter()
                n_sent = len(sent)
                fetch_remote(client, CAMPAIGN_ID)
                read_seconds = time.perf_counter() - t1
                sent = sent[:n_sent]
                stats = dict(client.http.stats)
            final = sorted((c["external_unique_id"], c["name"], c["email"] or "",
                            c["phone_number"]) for c in sb.contacts(CAMPAIGN_ID))
            matches = campaign_matches(sb, src["expected"])
            counts = dict(sb.counts)
            arrivals = list(sb.arrivals)
    patch_times = [t for t, k in arrivals if k == "patch"]
    span = (max(patch_times) - min(patch_times)) if len(patch_times) > 1 else 0.0
    phase = clock.seconds("updating")
    times = sorted(t for t, _k in arrivals)
    k = max(1, int(client_rate))
    return {"exit_code": outcome.exit_code, "patches": src["changed"],
            "concurrency": concurrency, "latency_ms": latency_ms, "client_rate": client_rate,
            "patch_phase_seconds": phase, "sync_seconds": sync_seconds,
            "read_seconds": read_seconds, "patch_span_seconds": span,
            "patch_rate_phase": (len(patch_times) / phase) if phase else None,
            "patch_rate_span": ((len(patch_times) - 1) / span) if span else None,
            "max_requests_1s": max_in_window([t for t, _k in arrivals]),
            "max_patches_1s": max_in_window(patch_times),
            "max_sent_1s": max_in_window(sent),
            "over_limit_arrivals": over_limit(times, client_rate),
            "over_limit_sent": over_limit(sent, client_rate),
            "min_span_arrivals": min_span(times, k) if client_rate < 100 else None,
            "min_span_sent": min_span(sent, k) if client_rate < 100 else None,
            "counts": counts, "client": stats, "campaign_matches": matches,
            "final_digest": hashlib.sha256(repr(final).encode()).hexdigest()[:16],
            "load": outcome.counts.get("load", {})}


def _median_run(kwargs: dict[str, Any], repeat: int) -> tuple[dict[str, Any], list[Any]]:
    runs = []
    for _ in range(max(1, repeat)):
        run = run_in_subprocess(__file__, "measure_patches", kwargs)
        if not run.ok:
            raise RuntimeError(run.error)
        runs.append(run)
    results = sorted((r.result for r in runs), key=lambda r: r["patch_phase_seconds"])
    return results[len(results) // 2], [r.to_dict() for r in runs]


def evaluate(c1: dict[str, Any], cn: dict[str, Any], lim: dict[str, Any] | None
             ) -> list[list[Any]]:
    """The table rows: figure, measured, baseline, ratio, target, met."""
    n = cn["concurrency"]
    speedup = c1["patch_phase_seconds"] / cn["patch_phase_seconds"]
    rows: list[list[Any]] = [
        [f"patch phase s ({cn['patches']} PATCHes), concurrency {n} vs 1",
         f"{cn['patch_phase_seconds']:.2f}", f"{c1['patch_phase_seconds']:.2f}",
         f"{speedup:.2f}x", f">= {SPEEDUP_TARGET:g}x", met_text(speedup >= SPEEDUP_TARGET)],
        [f"PATCHes/s, concurrency {n} vs 1", f"{cn['patch_rate_phase']:.1f}",
         f"{c1['patch_rate_phase']:.1f}", f"{cn['patch_rate_phase'] / c1['patch_rate_phase']:.2f}x",
         "", ""],
        [f"whole sync s, concurrency {n} vs 1", f"{cn['sync_seconds']:.2f}",
         f"{c1['sync_seconds']:.2f}", f"{c1['sync_seconds'] / cn['sync_seconds']:.2f}x", "", ""],
        ["one campaign read s (apart)", f"{cn['read_seconds']:.2f}",
         f"{c1['read_seconds']:.2f}", "", "", ""],
        ["same final campaign (c1 and c8)", cn["final_digest"], c1["final_digest"], "",
         "equal", met_text(cn["final_digest"] == c1["final_digest"] and c1["campaign_matches"]
                      and cn["campaign_matches"])],
    ]
    if lim is not None:
        target = lim["client_rate"]
        rate = lim["patch_rate_span"]
        k = int(target)
        rows += [
            [f"limited {target:g}/s: PATCHes/s ((n-1) / first to last arrival)",
             f"{rate:.3f}", f"{target:g}", f"{rate / target:.3f}x",
             f"{target * (1 - RATE_TOLERANCE):g} to {target:g}",
             met_text(target * (1 - RATE_TOLERANCE) <= rate <= target * 1.001)],
            [f"limited {target:g}/s: PATCHes/s (n / patch phase)",
             f"{lim['patch_rate_phase']:.3f}", f"{target:g}",
             f"{lim['patch_rate_phase'] / target:.3f}x", "(n requests, n-1 gaps)", ""],
            [f"limited {target:g}/s: most requests in any 1 s, sandbox arrivals",
             fmt_num(lim["max_requests_1s"]), f"{target:g}", "", f"<= {target:g}",
             met_text(lim["max_requests_1s"] <= target)],
            [f"limited {target:g}/s: most requests in any 1 s, limiter releases",
             fmt_num(lim["max_sent_1s"]), f"{target:g}", "", f"<= {target:g}",
             met_text(lim["max_sent_1s"] <= target)],
            [f"limited {target:g}/s: arrivals over {target:g} in their 1 s window",
             fmt_num(lim["over_limit_arrivals"]), "0", "", "0",
             met_text(lim["over_limit_arrivals"] == 0)],
            [f"limited {target:g}/s: shortest span of {k + 1} arrivals s",
             f"{lim['min_span_arrivals']:.4f}", "1.0000", "", ">= 1 s",
             met_text(lim["min_span_arrivals"] >= 1.0)],
            [f"limited {target:g}/s: shortest span of {k + 1} limiter releases s",
             f"{lim['min_span_sent']:.4f}", "1.0000", "", ">= 1 s",
             met_text(lim["min_span_sent"] >= 1.0)],
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patches", type=int, default=400,
                    help="PATCHes of the concurrency comparison")
    ap.add_argument("--rows", type=int, default=None,
                    help="a scale for run_all.py: --patches is lowered to it when above")
    ap.add_argument("--concurrency", type=int, default=8, help="compared against 1")
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side (median)")
    ap.add_argument("--limited-patches", type=int, default=80)
    ap.add_argument("--limited-rate", type=float, default=8.0)
    ap.add_argument("--no-limited", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.rows is not None:
        args.patches = max(1, min(args.patches, args.rows))

    mach = machine()
    print(f"machine: {machine_line(mach)}")
    base = {"patches": args.patches, "latency_ms": args.latency_ms, "client_rate": 1000.0}
    try:
        print(f"{args.patches} PATCHes, latency {args.latency_ms:g} ms, concurrency 1",
              flush=True)
        c1, runs1 = _median_run({**base, "concurrency": 1}, args.repeat)
        print(f"  patch phase {c1['patch_phase_seconds']:.2f} s", flush=True)
        print(f"... concurrency {args.concurrency}", flush=True)
        cn, runsn = _median_run({**base, "concurrency": args.concurrency}, args.repeat)
        print(f"  patch phase {cn['patch_phase_seconds']:.2f} s", flush=True)
        lim = None
        runsl: list[Any] = []
        if not args.no_limited:
            print(f"{args.limited_patches} PATCHes at {args.limited_rate:g}/s, concurrency "
                  f"{args.concurrency}", flush=True)
            lim, runsl = _median_run({"patches": args.limited_patches,
                                      "latency_ms": args.latency_ms,
                                      "client_rate": args.limited_rate,
                                      "concurrency": args.concurrency}, 1)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    rows = evaluate(c1, cn, lim)
    peaks = [max(r["peak_rss_mib"] or 0 for r in runs) for runs in (runs1, runsn, runsl) if runs]
    rows.append([f"peak RSS MiB (process, sandbox in it): concurrency 1 / {args.concurrency}"
                 + (" / limited" if runsl else ""), " / ".join(fmt_num(p) for p in peaks),
                 "", "", "", ""])
    print()
    print(format_table(["figure", "measured", "baseline/minimum", "ratio", "target", "met"],
                       rows))
    for r in (c1, cn, lim):
        if r:
            print(f"\nconcurrency {r['concurrency']}, rate {r['client_rate']:g}: requests "
                  f"{dict(sorted(r['counts'].items()))}, client {r['client']}, sync "
                  f"{r['sync_seconds']:.2f} s, patch phase {r['patch_phase_seconds']:.2f} s")
    if args.json:
        write_json(args.json, {"machine": mach, "args": vars(args) | {"json": str(args.json)},
                               "table": rows, "concurrency_1": c1, "concurrency_n": cn,
                               "limited": lim, "runs": runs1 + runsn + runsl,
                               "phase_seconds_all": {
                                   "1": [r["result"]["patch_phase_seconds"] for r in runs1],
                                   str(args.concurrency): [
                                       r["result"]["patch_phase_seconds"] for r in runsn]}})
    ok = c1["campaign_matches"] and cn["campaign_matches"] and (
        lim is None or lim["campaign_matches"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
