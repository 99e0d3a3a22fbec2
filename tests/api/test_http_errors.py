"""Narrow tests of the HTTP layer's error mapping and limiter: the limiter and parsers
with no server, the error mapping against a tiny scripted server on 127.0.0.1
(tests/network/netfaults.py's FakePlatform)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from connector.api.client import find_job_id, parse_link_header
from connector.api.http import HttpSession, RateLimiter, RetryPolicy, parse_retry_after
from connector.config import Settings
from connector.errors import AmbiguousWriteError, AuthError, ProtocolError, ServerError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "network"))
from netfaults import FakePlatform  # noqa: E402  (a scripted server on 127.0.0.1)

TOKEN = "tok-SECRET-12345"
JSON = {"Content-Type": "application/json"}


def make_session(url: str, **kw) -> tuple[HttpSession, list[float]]:
    slept: list[float] = []
    settings = Settings(base_url=url, api_user="acme", api_token=TOKEN, rate_limit=1000)
    return HttpSession(settings, sleep=slept.append, seed=1, **kw), slept


def answering(*answers):
    """A FakePlatform giving `answers` (status, headers, body) in turn, the last one
    again once they run out."""
    queue = list(answers)

    def answer(method, path):
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return status, dict(headers), body, None
    return FakePlatform(answer)


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


def test_html_error_page_is_described_not_dumped_and_token_absent():
    with answering((502, {"Content-Type": "text/html"},
                    b"<html><h1>Bad gateway</h1></html>")) as fake:
        session, slept = make_session(fake.url, retry=RetryPolicy(max_retries=2))
        with pytest.raises(ServerError) as info:
            session.request("GET", "outbound_dialer/campaigns/6/contacts")
    text = str(info.value)
    assert "502" in text and "non-JSON body (text/html" in text
    assert TOKEN not in text
    assert session.stats["retries"] == 2  # retried twice, then gave up
    assert len(fake.hits) == 3


def test_401_says_token_refused_and_never_shows_it():
    with answering((401, JSON, json.dumps({"message": f"bad token {TOKEN}"}).encode())
                   ) as fake:
        session, _ = make_session(fake.url)
        with pytest.raises(AuthError) as info:
            session.request("GET", "outbound_dialer/campaigns/6/contacts")
    text = str(info.value)
    assert "API token" in text and "401" in text
    assert TOKEN not in text


def test_5xx_on_a_write_is_ambiguous_and_not_repeated():
    with answering((500, JSON, b'{"message": "oops"}')) as fake:
        session, slept = make_session(fake.url)
        with pytest.raises(AmbiguousWriteError):
            session.request("POST", "outbound_dialer/campaigns/6/contacts", json_body={},
                            idempotent=False)
    assert len(fake.hits) == 1 and slept == []


def test_errors_from_the_body_are_shown():
    from connector.api.http import server_message

    cases = [({"message": "m"}, "m"), ({"error": "e"}, "e"),
             ({"errors": ["a", "b"]}, '["a", "b"]')]
    with answering(*[(400, JSON, json.dumps(body).encode()) for body, _ in cases]) as fake:
        session, _ = make_session(fake.url)
        for _body, expected in cases:
            resp = session._send("GET", session.url("x"), None, None, None)
            assert resp.status_code == 400 and server_message(resp) == expected


def test_non_json_success_body_is_a_protocol_error():
    from connector.api.client import ContactsResource

    with answering((200, {"Content-Type": "text/html"}, b"<html>login</html>")) as fake:
        session, _ = make_session(fake.url)
        with pytest.raises(ProtocolError) as info:
            list(ContactsResource(session).iter_pages(6))
    assert "expected JSON, got text/html" in str(info.value)


@pytest.mark.parametrize("content_type, body, text", [
    ("application/json", "{\"name\": \"Zoë\"}".encode(), '{"name": "Zoë"}'),
    ("application/json; charset=iso-8859-1", "{\"name\": \"Zoë\"}".encode("latin-1"),
     '{"name": "Zoë"}'),
    ("text/plain", "Zoë".encode("latin-1"), "Zoë"),            # text: ISO-8859-1
    ("application/json", b'{"name": "\xff"}', '{"name": "\ufffd"}'),  # bad UTF-8: replaced
])
def test_answers_decode_as_their_content_type_says(content_type, body, text):
    """`text` and `json()` decode a body by its charset as requests did: UTF-8 for JSON,
    ISO-8859-1 for other text, bad bytes replaced."""
    from connector.api.http import Response

    response = Response(200, "OK", {"Content-Type": content_type}, body, "http://x")
    assert response.text == text
    if content_type.startswith("application/json"):
        assert response.json() == json.loads(text)


def test_params_json_bodies_and_files_go_out_as_requests_sent_them(sandbox):
    """A query string, a JSON body and a multipart file, each to the sandbox (which
    parses them as the platform does)."""
    settings = Settings(base_url=sandbox.url, api_user=sandbox.user,
                        api_token=sandbox.token, rate_limit=1000)
    session = HttpSession(settings)
    base = "outbound_dialer/campaigns/6/contacts"
    one = {"external_unique_id": "k1", "name": "Zoë", "phone_number": "+12014716992"}
    assert session.request("POST", base, json_body=one, idempotent=False).status_code == 200
    page = session.request("GET", base, params={"page": 1, "per": 1}).json()
    assert [c["name"] for c in page] == ["Zoë"]
    data = json.dumps([{"external_unique_id": "k2", "name": "Bo",
                        "phone_number": "+12014716993"}]).encode()
    answer = session.request("POST", base + "/import",
                             files={"file": ("contacts.json", data, "application/json")},
                             idempotent=False)
    assert answer.status_code == 202 and answer.json()["job_id"]
    session.close()


def test_requests_reach_the_api_origin_and_any_other_absolute_url():
    """Paths under the API root go to its own connection pool; an absolute URL on
    another origin (a Link header may name one) still goes out, through the manager."""
    ok = (200, JSON, b"[]")
    with answering(ok) as api, answering(ok) as other:
        session, _ = make_session(api.url)
        assert session.request("GET", "outbound_dialer/campaigns/6/contacts",
                               params={"page": 2}).json() == []
        assert session.request("GET", other.url + "/elsewhere?page=3").json() == []
        assert session.request("GET", session.url("x")).status_code == 200
    assert [path for _, path in api.hits][0].endswith("/outbound_dialer/campaigns/6/contacts?page=2")
    assert len(api.hits) == 2
    assert [path for _, path in other.hits] == ["/elsewhere?page=3"]
