"""The API client over real HTTP against the sandbox on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from connector.api.client import ApiClient
from connector.api.http import RetryPolicy
from connector.config import Settings
from connector.errors import (
    AmbiguousWriteError,
    AuthError,
    BadRequestError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
)

TOKEN = "s3cret-token-value"



def phone(i: int) -> str:
    return f"+1201{2000000 + i:07d}"


def contacts(n: int, start: int = 0) -> list[dict]:
    return [{"external_unique_id": f"K{i:06d}", "name": f"Person {i}",
             "email": f"p{i}@example.com", "phone_number": phone(i)}
            for i in range(start, start + n)]


@pytest.fixture
def client_for(sandbox):
    made = []

    def make(token: str = TOKEN, rate: float = 1000.0, sleeps: list | None = None, **kw):
        settings = Settings(base_url=sandbox.url, api_user="acme", api_token=token,
                            rate_limit=rate, read_timeout=10)
        if sleeps is not None:
            import time

            def sleep(s):
                sleeps.append(s)
                time.sleep(min(s, 0.01))
            kw["sleep"] = sleep
        client = ApiClient(settings, **kw)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


def test_lists_1050_contacts_in_pages(sandbox, client_for):
    sandbox.seed(6, contacts(1050))
    sandbox.reset_counts()
    got = client_for().contacts.list(6)
    assert len(got) == 1050
    assert len({c.id for c in got}) == 1050
    assert {c.external_unique_id for c in got} == {f"K{i:06d}" for i in range(1050)}
    assert sandbox.counts["list"] == 11  # 10 full pages of 100 and one of 50
    first = next(c for c in got if c.external_unique_id == "K000000")
    assert first.name == "Person 0" and first.status == "Upcoming"
    # the platform formats phones its own way; the client keeps what it got
    assert first.phone_number.startswith("+1-(201)-")


def test_pages_are_read_ahead_in_order_with_no_extra_request(sandbox, client_for):
    sandbox.seed(6, contacts(1050))
    one_by_one = [[c["id"] for c in page]
                  for page in client_for().contacts.iter_pages(6, workers=1)]
    sandbox.set_faults(latency_ms=80)  # long enough for requests to overlap
    sandbox.reset_counts()
    ahead = [[c["id"] for c in page]
             for page in client_for().contacts.iter_pages(6, workers=4)]
    assert ahead == one_by_one and len(ahead) == 11
    assert sandbox.counts["list"] == 11  # page 1, then 2..11 ahead: nothing more
    assert sandbox.peak_in_flight >= 2  # pages were in flight at once
    sandbox.set_faults(latency_ms=0)
    sandbox.reset_counts()
    assert len(client_for().contacts.list(6)) == 1050
    assert sandbox.counts["list"] == 11


def test_read_ahead_of_an_exact_number_of_pages_stops_on_the_total(sandbox, client_for):
    sandbox.seed(6, contacts(500))
    sandbox.reset_counts()
    assert len(client_for().contacts.list(6)) == 500
    assert sandbox.counts["list"] == 5  # Total says 500: no empty page 6 asked


def test_read_ahead_goes_on_when_the_campaign_grew_during_the_read(sandbox, client_for):
    sandbox.seed(6, contacts(300))
    client = client_for()
    pages = client.contacts.iter_pages(6, workers=4)
    first = next(pages)  # page 1 says 3 pages; then 150 more contacts arrive
    sandbox.seed(6, contacts(150, start=300))
    rest = [c for page in pages for c in page]
    keys = [c["external_unique_id"] for c in first + rest]
    assert len(keys) == len(set(keys)) == 450


def test_an_error_on_a_page_read_ahead_ends_the_read(sandbox, client_for):
    sandbox.seed(6, contacts(1050))
    client = client_for()
    pages = client.contacts.iter_pages(6, workers=4)
    next(pages)
    sandbox.fail_next(1, status=404, kinds=["list"])
    with pytest.raises(NotFoundError):
        list(pages)


def test_server_that_ignores_paging_is_read_once(sandbox, client_for):
    sandbox.seed(6, contacts(1050))
    sandbox.set_faults(ignore_paging=True)
    sandbox.reset_counts()
    assert len(client_for().contacts.list(6)) == 1050
    assert sandbox.counts["list"] == 1  # page longer than asked: everything came at once


def test_server_that_ignores_paging_with_exactly_one_page(sandbox, client_for):
    sandbox.seed(6, contacts(100))
    sandbox.set_faults(ignore_paging=True)
    sandbox.reset_counts()
    assert len(client_for().contacts.list(6)) == 100
    assert sandbox.counts["list"] == 2  # page 2 equal to page 1 means: stop


def test_empty_campaign_and_unknown_campaign(sandbox, client_for):
    client = client_for()
    assert client.contacts.list(6) == []
    with pytest.raises(NotFoundError) as info:
        client.contacts.list(999)
    assert "404" in str(info.value)


def test_single_add_valid_and_invalid(sandbox, client_for):
    client = client_for()
    ok = client.contacts.add(6, contacts(1)[0])
    assert len(ok.valid) == 1 and ok.invalid == []
    assert ok.valid[0].external_unique_id == "K000000"
    dup = client.contacts.add(6, {**contacts(1, 5)[0], "phone_number": phone(0)})
    assert dup.valid == [] and len(dup.invalid) == 1
    bad = client.contacts.add(6, {"name": "X", "phone_number": "12", "external_unique_id": "B"})
    assert bad.valid == [] and len(bad.invalid) == 1
    assert len(sandbox.contacts(6)) == 1


@pytest.mark.parametrize("style,where", [("body", "body.job_id"), ("id", "body.id"),
                                         ("header", "X-Job-Id"), ("location", "Location"),
                                         ("none", None)])
def test_import_finds_the_job_id_wherever_it_is(sandbox, client_for, style, where):
    sandbox.set_faults(job_id_style=style)
    client = client_for()
    result = client.contacts.import_file(6, contacts(30))
    assert result.status_code == 202
    assert result.found_in == where
    if where is None:
        assert result.job_id is None
    else:
        job = client.jobs.wait(6, result.job_id, timeout=10, first_delay=0.01)
        assert job.status == "completed"
    # confirm by re-reading, which is what callers do when there is no job id
    for _ in range(200):
        if len(client.contacts.list(6)) == 30:
            break
    assert len(client.contacts.list(6)) == 30


def test_job_in_progress_then_completed_and_timeout_is_pending(sandbox, client_for):
    sandbox.set_faults(job_seconds=1.0)
    client = client_for()
    result = client.contacts.import_file(6, contacts(10))
    first = client.jobs.get(6, result.job_id)
    assert first.status == "in_progress" and first.type == "Jobs::Bulk::Campaign::ParentJob"
    pending = client.jobs.wait(6, result.job_id, timeout=0.05, first_delay=0.01)
    assert pending.timed_out and pending.status == "in_progress"
    done = client.jobs.wait(6, result.job_id, timeout=10, first_delay=0.05)
    assert done.status == "completed" and not done.timed_out


def test_failed_job_on_duplicate_phone_keeps_nothing(sandbox, client_for):
    client = client_for()
    batch = contacts(5) + [{**contacts(1, 9)[0], "phone_number": phone(0)}]
    result = client.contacts.import_file(6, batch)
    job = client.jobs.wait(6, result.job_id, timeout=10, first_delay=0.01)
    assert job.status == "failed"
    assert job.error_message == "Internal Error"
    assert job.error_details == "NativePowerDial::ContactService::DuplicateContactPhoneOnCampaign"
    assert client.contacts.list(6) == []


def test_unknown_job_is_404(sandbox, client_for):
    with pytest.raises(NotFoundError):
        client_for().jobs.get(6, 123456)


def test_import_over_10000_is_413(sandbox, client_for):
    with pytest.raises(PayloadTooLargeError):
        client_for().contacts.import_file(6, contacts(10_001))


def test_patch_and_delete_by_each_identifier(sandbox, client_for):
    stored = sandbox.seed(6, contacts(4))
    client = client_for()
    patched = client.contacts.patch(6, stored[0]["id"], {"name": "New Name",
                                                         "email": "new@example.com"})
    assert patched.name == "New Name" and patched.id == stored[0]["id"]
    assert sandbox.contacts(6)[0]["name"] == "New Name"
    gone = client.contacts.delete(6, contact_id=stored[1]["id"])
    assert gone is not None and gone.id == stored[1]["id"]
    assert client.contacts.delete(6, external_unique_id="K000002").id == stored[2]["id"]
    assert client.contacts.delete(6, phone_number=phone(3)).id == stored[3]["id"]
    assert [c["id"] for c in sandbox.contacts(6)] == [stored[0]["id"]]
    assert client.contacts.delete(6, contact_id=stored[1]["id"]) is None  # 404: already gone
    with pytest.raises(NotFoundError):
        client.contacts.patch(6, 987654, {"name": "x"})


def test_malformed_patch_is_400(sandbox, client_for):
    client = client_for()
    with pytest.raises(BadRequestError) as info:
        client.http.request("PATCH", "outbound_dialer/campaigns/6/contact",
                            json_body={"name": "no id"})
    assert "400" in str(info.value)


def test_429_with_retry_after_is_honoured(sandbox, client_for):
    sleeps: list[float] = []
    client = client_for(sleeps=sleeps)
    sandbox.fail_next(2, status=429, retry_after="1")
    assert client.contacts.list(6) == []
    assert client.http.stats["rate_limited"] == 2
    assert sum(1 for s in sleeps if s >= 0.99) >= 2  # waited the server's 1 s each time


def test_429_without_retry_after_backs_off(sandbox, client_for):
    sleeps: list[float] = []
    client = client_for(sleeps=sleeps, retry=RetryPolicy(max_rate_limited=3))
    sandbox.fail_next(2, status=429, retry_after=None)
    assert client.contacts.list(6) == []
    assert client.http.stats["rate_limited"] == 2
    sandbox.fail_next(10, status=429, retry_after=None)
    with pytest.raises(RateLimitedError) as info:
        client.contacts.list(6)
    assert "--rate-limit" in str(info.value)


def test_5xx_and_dropped_connections_are_retried_for_reads(sandbox, client_for):
    sandbox.seed(6, contacts(3))
    client = client_for(retry=RetryPolicy(backoff_base=0.01))
    sandbox.fail_next(2, status=500)
    assert len(client.contacts.list(6)) == 3
    sandbox.drop_next(2)
    assert len(client.contacts.list(6)) == 3
    assert client.http.stats["retries"] >= 4


def test_patch_is_retried_after_a_dropped_connection(sandbox, client_for):
    stored = sandbox.seed(6, contacts(1))
    client = client_for(retry=RetryPolicy(backoff_base=0.01))
    sandbox.drop_next(1, kinds=["patch"], after_effect=True)
    assert client.contacts.patch(6, stored[0]["id"], {"name": "Again"}).name == "Again"


def test_dropped_write_is_ambiguous_and_not_repeated(sandbox, client_for):
    client = client_for(retry=RetryPolicy(backoff_base=0.01))
    sandbox.drop_next(1, kinds=["add"], after_effect=True)
    sandbox.reset_counts()
    with pytest.raises(AmbiguousWriteError) as info:
        client.contacts.add(6, contacts(1)[0])
    assert "may or may not" in str(info.value)
    assert sandbox.counts["add"] == 1       # sent once, never blindly repeated
    assert len(sandbox.contacts(6)) == 1    # and it did take effect


def test_client_rate_keeps_under_the_server_limit(sandbox, client_for):
    sandbox.set_faults(rate_limit=25)
    client = client_for(rate=20)
    sandbox.reset_counts()
    for _ in range(60):
        client.jobs.http.request("GET", "outbound_dialer/campaigns/6/contacts")
    assert sandbox.counts["rate_limited"] == 0
    assert client.http.stats["rate_limited"] == 0


def test_wrong_token_is_an_auth_error_without_the_token(sandbox, client_for):
    wrong = "not-the-right-token-987"
    with pytest.raises(AuthError) as info:
        client_for(token=wrong).contacts.list(6)
    assert "401" in str(info.value) and wrong not in str(info.value)
    assert TOKEN not in str(info.value)


def test_unknown_keys_and_metadata_fallback():
    from connector.api.client import RemoteContact

    c = RemoteContact.from_api({
        "id": 7, "status": "Upcoming", "brand_new_key": {"x": 1},
        "user_custom_metadata": {"NAME (REQUIRED)": "Bob Smith",
                                 "PHONE (REQUIRED)": "+1 111-111-1111",
                                 "EMAIL (REQUIRED)": "customer@somedomain.com"}})
    assert (c.id, c.name, c.phone_number, c.email) == (7, "Bob Smith", "+1 111-111-1111",
                                                       "customer@somedomain.com")
    assert c.external_unique_id is None
    no_id = RemoteContact.from_api({"name": "A", "phone_number": "+12014716992"})
    assert no_id.id is None
    assert RemoteContact.from_api({"status": "Dialing"}).is_active
    assert not RemoteContact.from_api({"status": "Brand New Status"}).is_active
    assert not RemoteContact.from_api({"status": "Brand New Status"}).status_known
    assert json.dumps(dict(c.raw))  # raw stays serializable for export
