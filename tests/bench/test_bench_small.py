"""The request-count and throughput benchmarks at a small scale, for correctness only
(no timing): the requests of a sync equal the API's minimum, a second run only reads,
a strict platform limit meets no 429 under the client's limiter, and 8 workers leave
the same campaign as one."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import requests_count  # noqa: E402
import throughput  # noqa: E402

WRITES = ("add", "import", "patch", "delete")


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    return requests_count.measure_requests(
        campaign=2000, adds=100, changes=50, removes=20, chunk_size=40, concurrency=4,
        job_seconds=0.05, rate=1000, work_dir=str(tmp_path_factory.mktemp("req")))


def test_minimum_is_what_the_api_allows():
    m = requests_count.minimum(100_000, 5_000, 2_000, 1_000, 1000)
    assert m["list"] == 1000 + 1040
    assert (m["import"], m["job"], m["patch"], m["delete"]) == (5, 5, 2000, 1000)
    assert m["total"] == 2040 + 5 + 5 + 2000 + 1000


def test_first_run_sends_the_minimum(counted):
    first, m = counted["first"], counted["minimum"]
    c = first["counts"]
    assert counted["input"] == {"removed": 20, "changed": 50, "added": 100, "rows": 2080}
    assert first["exit_code"] == 0
    assert first["campaign_matches"]
    jobs = math.ceil(100 / 40)
    assert m["import"] == jobs
    assert c.get("import", 0) == jobs
    assert c.get("patch", 0) == 50
    assert c.get("delete", 0) == 20
    assert c.get("add", 0) == 0
    assert c.get("list", 0) == m["list"] == 20 + 21  # plan read + verify read
    assert jobs <= c.get("job", 0) <= jobs * 3
    assert c.get("rate_limited", 0) == 0
    assert first["client"]["retries"] == 0
    assert first["requests"] == first["client"]["requests"]
    assert first["requests"] <= m["total"] * 1.05


def test_second_run_only_reads(counted):
    second = counted["second"]
    c = second["counts"]
    assert second["exit_code"] == 0
    assert second["campaign_matches"]
    assert sum(c.get(k, 0) for k in WRITES) == 0
    assert c.get("job", 0) == 0
    assert c.get("list", 0) > 0
    assert set(c) <= {"list"}


def test_table_says_met_for_a_clean_run(counted):
    rows = requests_count.evaluate(counted, None)
    assert all(r[5] in ("yes", "") for r in rows), rows


def test_strict_platform_limit_meets_no_429(tmp_path):
    run = requests_count.measure_steady(campaign=200, patches=16, sandbox_rate=10,
                                        client_rate=8, work_dir=str(tmp_path))
    assert run["exit_code"] == 0
    assert run["campaign_matches"]
    assert run["counts"].get("patch", 0) == run["patches_planned"] == 16
    assert run["counts"].get("rate_limited", 0) == 0


def test_eight_workers_give_the_same_campaign_as_one(tmp_path):
    one = throughput.measure_patches(patches=60, concurrency=1, latency_ms=0,
                                     work_dir=str(tmp_path))
    eight = throughput.measure_patches(patches=60, concurrency=8, latency_ms=0,
                                       work_dir=str(tmp_path))
    for r in (one, eight):
        assert r["exit_code"] == 0
        assert r["campaign_matches"]
        assert r["counts"].get("patch", 0) == 60
        assert r["load"]["updated"] == 60
    assert one["final_digest"] == eight["final_digest"]


def test_limited_rate_stream(tmp_path):
    r = throughput.measure_patches(patches=12, concurrency=8, latency_ms=0, client_rate=8,
                                   work_dir=str(tmp_path))
    assert r["campaign_matches"]
    # the stream's rate: n - 1 gaps between the first and the last PATCH
    assert r["patch_rate_span"] <= 8 * 1.01


def test_window_helpers():
    assert throughput.max_in_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert throughput.over_limit([0.0, 0.1, 0.2, 1.15], 2) == 1
    assert throughput.min_span([0.0, 0.3, 1.0, 1.2], 2) == pytest.approx(0.9)
