"""The benchmarks' one harness: run one function in its own process and get back its
result, wall time, CPU time and peak RSS (`run_in_subprocess`); time named stages
inside a run (`Stages`); serve a seeded sandbox from a process of its own
(`sandbox_process`); describe the machine; print a results table and the rows of
the targets table every script ends with (`figure`, `ratio_figure`,
`targets_table`). Each benchmark script holds only what it measures.

A benchmark is a plain script beside this file. Each measured run goes through
`run_in_subprocess`, so the peak RSS of one run is not mixed with the generator's,
the parent's or another run's::

    from _common import run_in_subprocess
    run = run_in_subprocess(__file__, "measure_something", {"path": str(csv)})
    run.result        # what measure_something(**kwargs) returned (JSON-able)
    run.seconds       # wall time of the call alone (the module's imports excluded)
    run.peak_rss_mib  # the child's peak resident set size

The child loads the benchmark file as a module (its ``if __name__ == "__main__"``
block does not run), so heavy imports at the module's top level are paid before the
clock starts, as they would be by a long-lived process.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Runs in the child: load the file, call the function, write one JSON object.
_CHILD = r"""
import importlib.util, json, os, resource, sys, time, traceback
path, func, kwargs_file, out_file = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
answer = {"ok": False}
def hwm_kib():
    # VmHWM: the peak RSS of this program's own memory. ru_maxrss is not used for it:
    # Linux carries it over an exec, so it can show the launching process's size.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    spec = importlib.util.spec_from_file_location("_benchmark_target", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_benchmark_target"] = module
    spec.loader.exec_module(module)
    with open(kwargs_file, encoding="utf-8") as fh:
        kwargs = json.load(fh)
    answer["rss_before_call_kib"] = hwm_kib()
    cpu0, t0 = time.process_time(), time.perf_counter()
    result = getattr(module, func)(**kwargs)
    answer["seconds"] = time.perf_counter() - t0
    answer["cpu_seconds"] = time.process_time() - cpu0
    answer["result"] = result
    answer["ok"] = True
except BaseException:
    answer["error"] = traceback.format_exc()
answer["peak_rss_kib"] = hwm_kib()
answer["ru_maxrss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open(out_file, "w", encoding="utf-8") as fh:
    json.dump(answer, fh)
sys.exit(0 if answer["ok"] else 1)
"""


@dataclass
class Run:
    """One measured call in a child process."""

    func: str
    ok: bool
    result: Any = None
    seconds: float = 0.0          # wall time of the call
    cpu_seconds: float = 0.0      # CPU time of the call (user + system, this process)
    peak_rss_mib: float = 0.0     # the child's peak RSS (VmHWM of its own program)
    ru_maxrss_mib: float = 0.0    # os.wait4's ru_maxrss: an upper bound (see below)
    rss_before_call_mib: float = 0.0  # peak RSS once the module was imported
    returncode: int = 0
    error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mib(kib: float) -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS)
    return kib / (1024 * 1024 if sys.platform == "darwin" else 1024)


def run_in_subprocess(path: str | Path, func: str, kwargs: dict[str, Any] | None = None,
                      *, timeout: float | None = None, python: str | None = None,
                      env: dict[str, str] | None = None) -> Run:
    """Call ``func(**kwargs)`` from the file `path` in a fresh Python process.

    The result must be JSON-serializable. The peak RSS is the child's own (imports
    included): its VmHWM from /proc/self/status, read as it ends; where there is none,
    ``ru_maxrss`` from ``os.wait4`` on that child. (On Linux ``ru_maxrss`` is kept
    across exec, so a child of a parent holding 300 MiB reports at least 300 MiB; it
    is kept in `ru_maxrss_mib` as an upper bound.) A crash or a timeout gives
    ``ok=False`` with the traceback or the reason in `error`; it does not raise."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        kwargs_file = Path(tmp, "kwargs.json")
        out_file = Path(tmp, "answer.json")
        kwargs_file.write_text(json.dumps(kwargs or {}), encoding="utf-8")
        cmd = [python or sys.executable, "-c", _CHILD, str(Path(path).resolve()), func,
               str(kwargs_file), str(out_file)]
        proc = subprocess.Popen(cmd, env=env)
        deadline = None if timeout is None else time.monotonic() + timeout
        rusage = None
        status = 0
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
            if pid:
                break
            if deadline and time.monotonic() > deadline:
                proc.kill()
                _, status, rusage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                return Run(func=func, ok=False, returncode=proc.returncode,
                           peak_rss_mib=_mib(rusage.ru_maxrss),
                           error=f"timed out after {timeout:.0f} s")
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        answer: dict[str, Any] = {}
        if out_file.exists():
            answer = json.loads(out_file.read_text(encoding="utf-8"))
    # The child's own VmHWM when it reported one (Linux): ru_maxrss survives exec, so
    # a child started by a big parent would show at least the parent's size. Else
    # os.wait4's figure for that child alone.
    peak = _mib(answer.get("peak_rss_kib") or rusage.ru_maxrss)
    ok = bool(answer.get("ok")) and proc.returncode == 0
    error = answer.get("error", "") or ("" if ok else f"exit code {proc.returncode}")
    return Run(func=func, ok=ok, result=answer.get("result"),
               seconds=float(answer.get("seconds", 0.0)),
               cpu_seconds=float(answer.get("cpu_seconds", 0.0)),
               peak_rss_mib=round(peak, 1), ru_maxrss_mib=round(_mib(rusage.ru_maxrss), 1),
               rss_before_call_mib=round(_mib(answer.get("rss_before_call_kib", 0)), 1),
               returncode=proc.returncode, error=error)


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python and OS: what a results table was measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": ram_gib,
            "python": platform.python_version(), "implementation":
            platform.python_implementation(), "os": f"{platform.system()} {platform.release()}",
            "load_1min": None if load is None else round(load, 2)}


def machine_line(info: dict[str, Any] | None = None) -> str:
    """The machine in one line, e.g. for a README under a results table."""
    m = info or machine()
    ram = f"{m['ram_gib']} GiB RAM" if m.get("ram_gib") is not None else "RAM unknown"
    load = f", load {m['load_1min']}" if m.get("load_1min") is not None else ""
    return (f"{m['cpu']}, {m['cores']} cores, {ram}, {m['implementation']} {m['python']}, "
            f"{m['os']}{load}")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown pipe table, columns padded so it also reads well in a terminal."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r]
                                           for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def fmt_num(x: float | None, digits: int = 0) -> str:
    """1234567.8 -> '1,234,568' (digits after the point as asked); None -> 'n/a'."""
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def write_json(path: str | Path, data: Any) -> None:
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")


# ------------------------------------------------------------------ stages


def cpu_seconds(children: bool = True) -> float:
    """CPU seconds of this process so far (user + system), with its waited-for
    children's (a validation process, say) when `children`."""
    own = time.process_time()
    if not children:
        return own
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + ru.ru_utime + ru.ru_stime


class Stages:
    """Wall and CPU seconds of named stages of one run::

        stages = Stages()
        rows = stages.timed("read", lambda: read(path))
        with stages("plan"):
            plan = make_plan(rows)
        stages.times  # {"read": {"seconds": 0.8, "cpu_seconds": 0.7}, "plan": {...}}

    CPU seconds count the children this process waited for during the stage."""

    def __init__(self) -> None:
        self.times: dict[str, dict[str, float]] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        c0, t0 = cpu_seconds(), time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = {"seconds": round(time.perf_counter() - t0, 3),
                                "cpu_seconds": round(cpu_seconds() - c0, 3)}

    def timed(self, name: str, fn: Callable[[], Any]) -> Any:
        with self(name):
            return fn()

    def total(self, key: str = "seconds") -> float:
        return sum(stage[key] for stage in self.times.values())


# ------------------------------------------------------------------ sandbox

_SANDBOX_CHILD = r"""
import importlib.util, os, sys
path, func, rows, user, token, campaign = sys.argv[1:7]
sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(path))))
spec = importlib.util.spec_from_file_location("_benchmark_contacts", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from connector.sandbox import SandboxServer
server = SandboxServer(user=user, token=token, campaigns=[int(campaign)], job_seconds=0)
server.seed(int(campaign), getattr(module, func)(int(rows)), check=False)
server.start()
print(server.url, flush=True)
try:
    server.wait()
except KeyboardInterrupt:
    pass
"""


@contextmanager
def sandbox_process(path: str | Path, contacts: str, rows: int, *, user: str, token: str,
                    campaign: int = 6) -> Iterator[str]:
    """The sandbox in a process of its own, its campaign seeded with
    ``contacts(rows)`` (a function of the file `path`, yielding contact dicts), so the
    measured client does not share a core's interpreter with the server: ``with
    sandbox_process(__file__, "contacts", n, user=..., token=...) as url``."""
    proc = subprocess.Popen([sys.executable, "-c", _SANDBOX_CHILD, str(Path(path).resolve()),
                             contacts, str(rows), user, token, str(campaign)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"the sandbox did not start (exit code {proc.poll()})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ targets

#: the columns of the table every script ends with (run_all.py gathers its rows)
TARGET_HEADERS = ("figure", "measured", "baseline", "ratio", "target", "met")


def met_text(ok: bool | None) -> str:
    """The targets table's last cell: yes, NO, or blank for a figure without a target."""
    return "" if ok is None else ("yes" if ok else "NO")


def figure(label: str, measured: Any, baseline: Any = "", ratio: Any = "", target: str = "",
           met: bool | None = None) -> list[Any]:
    """One row of the targets table; `met` None leaves the column blank."""
    return [label, measured, baseline, ratio, target, met_text(met)]


def ratio_figure(label: str, measured: float, baseline: float, *, digits: int = 1,
                 target: float | None = None, below: bool = True) -> list[Any]:
    """A row comparing `measured` with a `baseline` of the same run, as a ratio; with a
    `target`, met when the ratio is below it (`below`) or at least it."""
    ratio = measured / baseline if baseline else float("inf")
    met = None if target is None else (ratio < target if below else ratio >= target)
    goal = "" if target is None else f"{'<' if below else '>='} {target:.2f}x"
    return figure(label, f"{measured:,.{digits}f}", f"{baseline:,.{digits}f}",
                  f"{ratio:.2f}x", goal, met)


def targets_table(rows: Sequence[Sequence[Any]]) -> str:
    return format_table(TARGET_HEADERS, rows)
