"""Narrow unit tests of the HTTP layer's error mapping and limiter (no server)."""

from __future__ import annotations

import pytest
import responses

from connector.api.client import find_job_id, parse_link_header
from connector.api.http import HttpSession, RateLimiter, RetryPolicy, parse_retry_after
from connector.config import Settings
from connector.errors import AmbiguousWriteError, AuthError, ProtocolError, ServerError

TOKEN = "tok-SECRET-12345"


def make_session(**kw) -> tuple[HttpSession, list[float]]:
    slept: list[float] = []
    settings = Settings(base_url="https://acme.uc1.example.com", api_user="acme",
                        api_token=TOKEN, rate_limit=1000)
    return HttpSession(settings, sleep=slept.append, seed=1, **kw), slept


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize("rate", [8, 10, 5])
def test_limiter_keeps_a_burst_of_200_at_or_under_the_rate(rate):
    clock = FakeClock()
    limiter = RateLimiter(rate, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(200):
        limiter.acquire()
        times.append(clock.now)
    # every half-open one-second window holds at most `rate` requests
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0 - 1e-9)  # float noise
        assert in_window <= rate
    # throughput stays within the margin of the rate
    assert 199 / rate <= times[-1] <= 199 / rate * (1 + RateLimiter.MARGIN) + 1e-6


@pytest.mark.parametrize("rate", [8, 10])
def test_limiter_holds_when_threads_wake_up_late(rate):
    """A sleeping caller may wake late; the next ones must not catch up inside the
    same second (spacing from the actual release, and a window of the last `rate`)."""
    import random

    clock = FakeClock()
    rng = random.Random(7)

    def late_sleep(seconds: float) -> None:
        clock.now += seconds + rng.choice([0.0, 0.0, 0.004, 0.02])

    limiter = RateLimiter(rate, clock=clock, sleep=late_sleep)
    times = []
    for _ in range(300):
        limiter.acquire()
        times.append(clock.now)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 1.0) <= rate


def test_limiter_pause_holds_every_caller():
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.pause(3.0)
    limiter.acquire()
    assert clock.now == pytest.approx(3.0)


def test_retry_after_forms():
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_link_header_and_job_id_places():
    links = parse_link_header('<https://x/c?page=2&per=100>; rel="next", '
                              '<https://x/c?page=11&per=100>; rel="last"')
    assert links == {"next": "https://x/c?page=2&per=100", "last": "https://x/c?page=11&per=100"}
    assert find_job_id({"job_id": 7}, {}) == (7, "body.job_id")
    assert find_job_id({"id": "8"}, {}) == (8, "body.id")
    assert find_job_id(None, {"X-Job-Id": "9"}) == (9, "X-Job-Id")
    assert find_job_id(None, {"Location": "https://x/apps/api/v1/outbound_dialer/campaigns/6/"
                                          "contacts/jobs/10"}) == (10, "Location")
    assert find_job_id({}, {}) == (None, None)


@responses.activate
def test_html_error_page_is_described_not_dumped_and_token_absent():
    session, slept = make_session(retry=RetryPolicy(max_retries=2))
    url = session.url("outbound_dialer/campaigns/6/contacts")
    responses.get(url, body="<html><h1>Bad gateway</h1></html>", status=502,
                  content_type="text/html")
    with pytest.raises(ServerError) as info:
        session.request("GET", url)
    text = str(info.value)
    assert "502" in text and "non-JSON body (text/html" in text
    assert TOKEN not in text
    assert session.stats["retries"] == 2  # retried twice, then gave up
    assert len(responses.calls) == 3


@responses.activate
def test_401_says_token_refused_and_never_shows_it():
    session, _ = make_session()
    url = session.url("outbound_dialer/campaigns/6/contacts")
    responses.get(url, json={"message": f"bad token {TOKEN}"}, status=401)
    with pytest.raises(AuthError) as info:
        session.request("GET", url)
    text = str(info.value)
    assert "API token" in text and "401" in text
    assert TOKEN not in text


@responses.activate
def test_5xx_on_a_write_is_ambiguous_and_not_repeated():
    session, slept = make_session()
    url = session.url("outbound_dialer/campaigns/6/contacts")
    responses.post(url, json={"message": "oops"}, status=500)
    with pytest.raises(AmbiguousWriteError):
        session.request("POST", url, json_body={}, idempotent=False)
    assert len(responses.calls) == 1 and slept == []


@responses.activate
def test_errors_from_the_body_are_shown():
    from connector.api.http import server_message

    session, _ = make_session()
    url = session.url("x")
    for body, expected in [({"message": "m"}, "m"), ({"error": "e"}, "e"),
                           ({"errors": ["a", "b"]}, '["a", "b"]')]:
        responses.get(url, json=body, status=400)
        resp = session.session.get(url)
        assert server_message(resp) == expected


@responses.activate
def test_non_json_success_body_is_a_protocol_error():
    from connector.api.client import ContactsResource

    session, _ = make_session()
    url = session.url("outbound_dialer/campaigns/6/contacts")
    responses.get(url, body="<html>login</html>", status=200, content_type="text/html")
    with pytest.raises(ProtocolError) as info:
        list(ContactsResource(session).iter_pages(6))
    assert "expected JSON, got text/html" in str(info.value)
