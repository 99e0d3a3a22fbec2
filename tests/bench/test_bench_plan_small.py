"""The plan-at-scale and memory benchmarks at a small scale, for correctness only (no
timing): campaign-sync's plan and the naive loop agree on adds, updates and deletes,
and every memory measurement runs and gives numbers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import memory  # noqa: E402
import plan_scale  # noqa: E402

ROWS = 3000


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    work = tmp_path_factory.mktemp("plan")
    csv_path = work / "source.csv"
    made = plan_scale.write_source(csv_path, ROWS)
    with plan_scale.sandbox(ROWS) as url:
        cs = plan_scale.measure_campaign_sync(str(csv_path), url, parallel=False)
        overlap = plan_scale.measure_campaign_sync(str(csv_path), url, parallel=True)
        naive = plan_scale.measure_baseline(str(csv_path), url)
    return made, cs, overlap, naive


def test_generated_phones_are_distinct():
    phones = [plan_scale.contact(i)["phone_number"] for i in range(ROWS + ROWS // 200)]
    assert len(set(phones)) == len(phones)


def test_plan_and_naive_loop_agree(planned):
    made, cs, overlap, naive = planned
    assert cs["source_rows"] == naive["source_rows"] == made["rows"]
    assert cs["remote_rows"] == naive["remote_rows"] == ROWS
    counts = {k: cs["counts"][k] for k in plan_scale.COMPARED}
    assert counts == {k: naive["counts"][k] for k in plan_scale.COMPARED}
    assert counts == {k: overlap["counts"][k] for k in plan_scale.COMPARED}
    assert cs["counts"]["rejected"] == naive["counts"]["rejected"]
    # the input's changes, less the rows rejected for a bad phone or email
    assert counts["deletes"] == made["removed"]
    assert 0 < counts["adds"] <= made["new"]
    assert 0 < counts["updates"] <= made["changed_name"]
    assert cs["refused"] is None
    assert set(cs["stages"]) == {"read", "validate", "fetch", "plan"}
    assert set(overlap["stages"]) == {"read", "validate + fetch", "plan"}


def test_memory_functions_count_every_row(tmp_path):
    path = tmp_path / "source.csv"
    made = plan_scale.write_source(path, 20_000)
    rows = made["rows"]
    assert memory.measure_iter_source(str(path), chunk_rows=5_000) == {
        "rows": rows, "chunks": -(-rows // 5_000)}
    assert memory.measure_read_source(str(path)) == {"rows": rows}
    assert memory.measure_csv_list(str(path)) == {"rows": rows}
    with plan_scale.sandbox(20_000) as url:
        assert memory.measure_fetch_remote(url) == {"rows": 20_000}
        assert memory.measure_contacts_list(url) == {"rows": 20_000}


def test_memory_runs_give_numbers(tmp_path):
    """A run in its own process (each costs an interpreter start and a sandbox the
    campaign's runs), and the report over the figures of all five."""
    res = memory.measure_all(20_000, str(tmp_path), chunk_rows=5_000, timeout=120,
                             names=("iter_source",))
    runs = res["runs"]
    assert set(runs) == {"iter_source"}
    run = runs["iter_source"]
    assert run["ok"], run["error"]
    assert run["peak_rss_mib"] > run["rss_before_call_mib"] > 0
    assert run["above_mib"] >= 0
    assert run["result"] == {"rows": res["input"]["rows"], "chunks": -(-res["input"]["rows"]
                                                                        // 5_000)}
    full = dict(res, runs={name: run for name in memory.FILE_RUNS + memory.REMOTE_RUNS})
    table, figures = memory.report(full)
    assert "fetch_remote" in table and set(figures) == set(full["runs"])
