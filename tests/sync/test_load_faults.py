"""The loader against specific platform behaviours: a 413 halves the file, an import
answered without a job id, a job still running at the timeout (pending, then waited
for by the next run), and writes that failed ambiguously (the connection dropped after
the platform carried them out) are checked before being sent again."""

from __future__ import annotations

from connector.api.client import ApiClient
from connector.api.http import RetryPolicy
from connector.config import Settings
from connector.load import LoadOptions
from connector.pipeline import sync_run
from connector.plan import PlanOptions
from connector.sandbox import SandboxServer

TOKEN = "s3cret-token-value"
WRITES = ("add", "import", "patch", "delete")


def make_source(tmp_path, n, start=0, name="Name"):
    lines = ["external_unique_id,name,email,phone_number"]
    lines += [f"k{i},{name} {i},,+1201472{i:04d}" for i in range(start, start + n)]
    path = tmp_path / f"s{start}-{n}-{name}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sync(sandbox, tmp_path, source, *, mode="upsert", chunk=1000, job_timeout=30.0):
    settings = Settings(base_url=sandbox.url, api_user="acme", api_token=TOKEN, rate_limit=500)
    client = ApiClient(settings, retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.05))
    try:
        return sync_run(source=str(source), campaign_id=6, mapping="generic",
                        plan_options=PlanOptions(mode=mode, force=True),
                        load_options=LoadOptions(chunk_size=chunk, job_timeout=job_timeout,
                                                 first_poll=0.05, max_poll=0.2),
                        settings=settings, state_path=str(tmp_path / "state.db"),
                        report_dir=str(tmp_path / "report"), client=client)
    finally:
        client.close()


def keys_of(sandbox):
    keys = [c["external_unique_id"] for c in sandbox.contacts(6)]
    assert len(keys) == len(set(keys)), "a contact was duplicated"
    return set(keys)


def test_413_halves_the_file_and_everything_arrives(sandbox, tmp_path):
    sandbox.fail_next(1, status=413, kinds=["import"])
    out = sync(sandbox, tmp_path, make_source(tmp_path, 100), chunk=100)
    assert out.exit_code == 0, out.counts
    assert keys_of(sandbox) == {f"k{i}" for i in range(100)}
    # refused whole (answered 413 before any effect), then two halves of 50
    assert sandbox.counts["error_injected"] == 1 and sandbox.counts["import"] == 2
    assert out.counts["load"]["jobs"] == 3
    assert out.counts["load"]["added"] == 100


def test_adds_read_from_the_state_store_a_page_at_a_time(sandbox, tmp_path, monkeypatch):
    """Planned adds are read a page of files at a time (a million are never all in
    memory): with pages of one file, a 413 on the first file halves it and every later
    one, across pages, and every row arrives once."""
    import connector.load.loader as loader

    monkeypatch.setattr(loader, "ADD_PAGE_ROWS", 1)  # a page: one file
    pages = []
    real = loader.StateStore.operation_pages

    def counted(self, run_id, kind=None, statuses=None, *args, **kwargs):
        for page in real(self, run_id, kind, statuses, *args, **kwargs):
            if list(statuses or ()) == ["planned"]:  # the loader's (others read pages too)
                pages.append(len(page))
            yield page

    monkeypatch.setattr(loader.StateStore, "operation_pages", counted)
    sandbox.fail_next(1, status=413, kinds=["import"])
    out = sync(sandbox, tmp_path, make_source(tmp_path, 50), chunk=20)
    assert out.exit_code == 0, out.counts
    assert keys_of(sandbox) == {f"k{i}" for i in range(50)}
    assert out.counts["load"]["added"] == 50
    assert pages == [20, 20, 10], pages
    # the refused file, then files of 10 in every page
    assert sandbox.counts["error_injected"] == 1 and sandbox.counts["import"] == 5


def test_import_without_job_id_is_confirmed_by_reading_the_campaign(tmp_path):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], job_seconds=0.2,
                       job_id_style="none") as sandbox:
        out = sync(sandbox, tmp_path, make_source(tmp_path, 60), chunk=25)
        assert out.exit_code == 0, out.counts
        assert keys_of(sandbox) == {f"k{i}" for i in range(60)}
        assert sandbox.counts["import"] == 3 and sandbox.counts["job"] == 0
        assert out.counts["confirmed"] == 60


def test_job_running_at_the_timeout_is_pending_then_waited_for(tmp_path):
    with SandboxServer(user="acme", token=TOKEN, campaigns=[6], job_seconds=3.0) as sandbox:
        source = make_source(tmp_path, 30)
        first = sync(sandbox, tmp_path, source, job_timeout=0.5)
        assert first.exit_code == 3
        assert first.counts["load"]["pending"] == 30 and first.counts["load"]["failed"] == 0
        assert first.counts["operations"]["add"] == {"pending": 30}
        sandbox.reset_counts()
        second = sync(sandbox, tmp_path, source, job_timeout=10)
        # the next run waits for the pending job first, then finds nothing left to add
        assert second.exit_code == 0, second.counts
        assert sandbox.counts["job"] >= 1 and sandbox.counts["import"] == 0
        assert keys_of(sandbox) == {f"k{i}" for i in range(30)}


def test_import_dropped_after_it_was_carried_out_is_not_sent_twice(sandbox, tmp_path):
    sandbox.drop_next(1, kinds=["import"], after_effect=True)
    out = sync(sandbox, tmp_path, make_source(tmp_path, 40), chunk=40)
    assert out.exit_code == 0, out.counts
    assert keys_of(sandbox) == {f"k{i}" for i in range(40)}
    assert sandbox.counts["import"] == 1


def test_import_dropped_before_it_was_carried_out_is_sent_again(sandbox, tmp_path):
    sandbox.drop_next(1, kinds=["import"], after_effect=False)
    out = sync(sandbox, tmp_path, make_source(tmp_path, 40), chunk=40)
    assert out.exit_code == 0, out.counts
    assert keys_of(sandbox) == {f"k{i}" for i in range(40)}


def test_deletes_dropped_after_effect_are_checked_not_repeated(sandbox, tmp_path):
    first = sync(sandbox, tmp_path, make_source(tmp_path, 50))
    assert first.exit_code == 0
    sandbox.reset_counts()
    sandbox.drop_next(3, kinds=["delete"], after_effect=True)
    sandbox.drop_next(2, kinds=["delete"], after_effect=False)
    out = sync(sandbox, tmp_path, make_source(tmp_path, 45), mode="mirror")
    assert out.exit_code == 0, out.counts
    assert keys_of(sandbox) == {f"k{i}" for i in range(45)}
    # 5 deletes planned: 3 carried out but unanswered (checked by one read, not re-sent),
    # 2 dropped before any effect (re-sent once each): 7 requests, 5 carried out
    counts = sandbox.counts
    assert counts["dropped"] == 5 and counts["delete"] == 5
    # the plan's read and the check; the verify takes the answers and that check
    assert counts["list"] == 2
    assert out.counts["load"]["deleted"] == 5
