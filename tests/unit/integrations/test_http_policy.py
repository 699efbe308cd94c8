"""The shared HTTP policy (``mbv_desktop.integrations.http``): what is retried, how long it
sleeps, the retry budget, the circuit breaker, the rate limit, error mapping and metrics.

Every test drives a :class:`ProviderClient` over ``httpx.MockTransport`` with a ``FakeClock``,
so backoff sleeps take no real time and their durations can be asserted exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import pickle
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from mbv_desktop.core.errors import (
    AuthExpired,
    CircuitOpen,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.integrations.http import (
    Failure,
    FakeClock,
    MetricsRegistry,
    ProviderClient,
    ProviderPolicy,
    classify_exception,
    extract_error_details,
    parse_retry_after,
)

SECRET = "sk-test-CANARY0123456789abcdef"

Handler = Callable[[httpx.Request], Any]


class MaxRng(random.Random):
    """Jitter always at its upper bound, so backoff sleeps are exact."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Server:
    """A scripted MockTransport: answers from ``script`` in order (the last one repeats)."""

    def __init__(self, *script: int | httpx.Response | type[Exception] | Exception,
                 headers: dict[str, str] | None = None, body: Any = None) -> None:
        self.script = list(script) or [200]
        self.headers = headers or {}
        self.body = body
        self.requests: list[httpx.Request] = []

    @property
    def hits(self) -> int:
        return len(self.requests)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.script[min(len(self.requests) - 1, len(self.script) - 1)]
        if isinstance(step, httpx.Response):
            return step
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("simulated failure", request=request)  # type: ignore[call-arg]
        if isinstance(step, Exception):
            raise step
        return httpx.Response(step, headers=self.headers, json=self.body)


def client_for(handler: Handler, *, clock: FakeClock | None = None,
               registry: MetricsRegistry | None = None, rng: random.Random | None = None,
               name: str = "x", **policy: Any) -> ProviderClient:
    return ProviderClient(ProviderPolicy(name, **policy), base_url="https://api.test",
                          headers={"Authorization": f"Bearer {SECRET}"},
                          transport=httpx.MockTransport(handler), clock=clock or FakeClock(),
                          registry=registry, rng=rng or random.Random(7))


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro
    return asyncio.run(main())


def call(client: ProviderClient, method: str = "GET", url: str = "/thing",
         **kwargs: Any) -> httpx.Response | ProviderError:
    """One request; a project error is returned rather than raised."""
    async def main() -> httpx.Response | ProviderError:
        try:
            return await client.request(method, url, **kwargs)
        except ProviderError as error:
            return error
        finally:
            await client.aclose()
    return asyncio.run(main())


# --- what is retried (reliability.md 18) ---------------------------------------------------------

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
NEVER_STATUSES = (400, 401, 403, 404, 409, 422)
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAYBE_SENT = (httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteTimeout)

# (method, idempotency key?, idempotent override) -> "safe" to repeat after it may have been sent
REQUEST_KINDS = [
    ("GET", False, None, True),
    ("HEAD", False, None, True),
    ("PUT", False, None, True),
    ("DELETE", False, None, True),
    ("POST", False, None, False),
    ("PATCH", False, None, False),
    ("POST", True, None, True),
    ("POST", False, True, True),
    ("GET", False, False, False),
]


def _table() -> Iterator[tuple[str, bool, bool | None, object, int, type[ProviderError], bool]]:
    for method, key, idem, safe in REQUEST_KINDS:
        for status in RETRY_STATUSES:
            retried = safe or status in (408, 429)
            expected: type[ProviderError] = (RateLimited if status == 429
                                             else ProviderUnavailable)
            yield method, key, idem, status, 3 if retried else 1, expected, status >= 500
        for status in NEVER_STATUSES:
            expected = AuthExpired if status == 401 else Rejected
            yield method, key, idem, status, 1, expected, False
        for not_sent in NOT_SENT:
            yield method, key, idem, not_sent, 3, ProviderUnavailable, False
        for maybe_sent in MAYBE_SENT:
            yield method, key, idem, maybe_sent, 3 if safe else 1, ProviderUnavailable, True


@pytest.mark.parametrize(("method", "key", "idempotent", "outcome", "hits", "error", "maybe_sent"),
                         list(_table()))
def test_retry_table(method: str, key: bool, idempotent: bool | None, outcome: object, hits: int,
                     error: type[ProviderError], maybe_sent: bool) -> None:
    server = Server(outcome)  # type: ignore[arg-type]
    result = call(client_for(server), method, "/thing", idempotent=idempotent,
                  idempotency_key="key-123" if key else None)
    assert server.hits == hits
    assert type(result) is error
    if isinstance(result, ProviderUnavailable):
        assert result.maybe_sent is maybe_sent
    if key:
        assert {r.headers["Idempotency-Key"] for r in server.requests} == {"key-123"}
    else:
        assert all("Idempotency-Key" not in r.headers for r in server.requests)


def test_a_retried_call_that_recovers_returns_the_response() -> None:
    server = Server(503, 502, 200)
    client = client_for(server)
    response = call(client, "GET")
    assert isinstance(response, httpx.Response) and response.status_code == 200
    assert server.hits == 3
    snap = client.metrics.snapshot()
    assert snap["calls"] == 1 and snap["retries"] == 2 and snap["errors"] == 0


def test_post_without_key_is_never_re_posted_after_a_read_timeout() -> None:
    server = Server(httpx.ReadTimeout, 201)
    error = call(client_for(server), "POST", "/2/tweets", json={"text": "hi"})
    assert server.hits == 1
    assert isinstance(error, ProviderUnavailable) and error.maybe_sent
    assert "may or may not have gone through" in str(error)
    assert str(error).startswith("X did not answer in time")


def test_post_with_key_is_retried_and_keeps_its_key() -> None:
    server = Server(httpx.RemoteProtocolError, 201)
    response = call(client_for(server), "POST", "/emails", json={"to": "a@b.c"},
                    idempotency_key="outbox-42", headers={"X-Other": "1"})
    assert isinstance(response, httpx.Response) and response.status_code == 201
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["outbox-42"] * 2
    assert server.requests[1].headers["X-Other"] == "1"
    assert server.requests[1].content == server.requests[0].content == b'{"to":"a@b.c"}'


def test_idempotency_header_name_is_configurable() -> None:
    server = Server(200)
    call(client_for(server, idempotency_header="X-Idempotency-Key"), "POST",
         idempotency_key="k")
    assert server.requests[0].headers["X-Idempotency-Key"] == "k"


def test_allowed_statuses_are_returned_not_raised() -> None:
    server = Server(404)
    response = call(client_for(server), "GET", "/2/tweets/1", allow_statuses={404})
    assert isinstance(response, httpx.Response) and response.status_code == 404
    assert server.hits == 1


# --- backoff and Retry-After (reliability.md 15, 17) --------------------------------------------

def test_full_jitter_sleeps_stay_within_the_exponential_cap() -> None:
    caps = [0.5, 1.0, 2.0, 4.0]
    seen: list[list[float]] = []
    for seed in range(40):
        clock = FakeClock()
        call(client_for(Server(503), clock=clock, rng=random.Random(seed), max_attempts=5,
                        deadline=1000, breaker_failures=10**6), "GET")
        assert len(clock.sleeps) == 4
        assert all(0 <= s <= cap for s, cap in zip(clock.sleeps, caps, strict=True))
        seen.append(clock.sleeps)
    first = [s[0] for s in seen]
    assert len(set(first)) > 30, "jitter must vary"
    assert min(first) < 0.1 and max(first) > 0.4, "full jitter spans 0..cap"


def test_backoff_is_exponential_up_to_max_delay() -> None:
    clock = FakeClock()
    call(client_for(Server(500), clock=clock, rng=MaxRng(), max_attempts=6, max_delay=3.0,
                    deadline=1000, breaker_failures=100, retry_budget_tokens=100), "GET")
    assert clock.sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_a_floor(status: int) -> None:
    clock = FakeClock()
    server = Server(status, 200, headers={"Retry-After": "7"})
    response = call(client_for(server, clock=clock), "GET")
    assert isinstance(response, httpx.Response) and response.status_code == 200
    assert clock.sleeps == [7.0]


def test_retry_after_http_date_is_a_floor() -> None:
    clock = FakeClock()
    now = 1_700_000_000.0
    server = Server(429, 200, headers={
        "Date": email.utils.formatdate(now, usegmt=True),
        "Retry-After": email.utils.formatdate(now + 7, usegmt=True),
    })
    call(client_for(server, clock=clock), "GET")
    assert clock.sleeps == [7.0]


def test_retry_after_http_date_without_date_header_uses_this_computer_clock() -> None:
    import time

    clock = FakeClock()
    server = Server(503, 200, headers={
        "Retry-After": email.utils.formatdate(time.time() + 10, usegmt=True)})
    call(client_for(server, clock=clock), "GET")
    assert len(clock.sleeps) == 1 and 8.0 <= clock.sleeps[0] <= 10.0


def test_retry_after_ms_is_read() -> None:
    clock = FakeClock()
    call(client_for(Server(429, 200, headers={"retry-after-ms": "1500"}), clock=clock), "GET")
    assert clock.sleeps == [1.5]


@pytest.mark.parametrize("value", ["soon", "-3", "", "7 seconds", "Mon, 99 Foo 2024", "nan", "1e9"])
def test_malformed_retry_after_falls_back_to_backoff(value: str) -> None:
    clock = FakeClock()
    server = Server(503, 200, headers={"Retry-After": value})
    response = call(client_for(server, clock=clock), "GET")
    assert isinstance(response, httpx.Response) and response.status_code == 200
    assert len(clock.sleeps) == 1 and 0 <= clock.sleeps[0] <= 0.5


def test_a_long_retry_after_is_not_slept_but_raised_for_the_outbox() -> None:
    clock = FakeClock()
    server = Server(429, headers={"Retry-After": "900"})
    error = call(client_for(server, clock=clock), "POST", "/2/tweets")
    assert isinstance(error, RateLimited) and error.retry_after == 900.0
    assert server.hits == 1 and clock.sleeps == []
    assert str(error) == "X is limiting requests; try again in about 15 minutes."


def test_a_long_retry_after_on_503_is_reported() -> None:
    server = Server(503, headers={"Retry-After": "120"})
    error = call(client_for(server), "GET")
    assert isinstance(error, ProviderUnavailable) and error.retry_after == 120.0
    assert server.hits == 1


def test_no_retry_starts_past_the_deadline() -> None:
    clock = FakeClock()
    server = Server(503)
    call(client_for(server, clock=clock, rng=MaxRng(), max_attempts=10, deadline=3.0,
                    breaker_failures=100), "GET")
    assert clock.sleeps == [0.5, 1.0]  # the next, 2.0 s, would end at 3.5 s > 3.0 s
    assert server.hits == 3


def test_a_retry_after_beyond_the_deadline_is_not_waited() -> None:
    clock = FakeClock()
    server = Server(429, headers={"Retry-After": "20"})
    error = call(client_for(server, clock=clock, deadline=10.0), "GET")
    assert isinstance(error, RateLimited) and error.retry_after == 20.0
    assert server.hits == 1 and clock.sleeps == []


def test_an_attempt_hanging_past_the_deadline_is_cut_off() -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    client = ProviderClient(ProviderPolicy("openai", deadline=0.05),
                            transport=httpx.MockTransport(slow))
    error = call(client, "GET", "https://api.test/v1/models")
    assert isinstance(error, ProviderUnavailable) and error.maybe_sent
    assert "OpenAI did not answer in time" in str(error)


# --- retry budget (reliability.md 16) ------------------------------------------------------------

def test_retry_budget_caps_load_on_a_failing_provider() -> None:
    server = Server(503)
    client = client_for(server, breaker_failures=10**9)

    async def main() -> None:
        for _ in range(1000):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/thing")
        await client.aclose()

    run(main())
    assert 1000 <= server.hits <= 1100
    assert client.metrics.calls == 1000


def test_retry_budget_refills_with_successes() -> None:
    server = Server(503)
    client = client_for(server, breaker_failures=10**9, retry_budget_refill=0)

    async def main() -> None:
        for _ in range(5):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/thing")
        assert not client.budget.can_retry()
        assert client.budget.tokens == pytest.approx(2.0)  # 8 failed attempts
        server.script = [200]
        for _ in range(30):
            await client.request("GET", "/thing")
        assert not client.budget.can_retry()  # 2 + 30 x 0.1 = 5: not more than half
        for _ in range(11):
            await client.request("GET", "/thing")
        assert client.budget.can_retry()  # 6.1: the next failure leaves 5.1, so one retry
        before = server.hits
        server.script = [503, 200]
        server.requests.clear()
        await client.request("GET", "/thing")
        assert server.hits == 2 and before > 0
        await client.aclose()

    run(main())


def test_retry_budget_refills_slowly_with_time() -> None:
    clock = FakeClock()
    server = Server(503)
    client = client_for(server, clock=clock, breaker_failures=10**9, rng=MaxRng())

    async def main() -> None:
        for _ in range(20):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/thing")
        assert client.budget.tokens == 0.0
        clock.advance(30.0)
        assert not client.budget.can_retry()
        clock.advance(35.0)
        assert client.budget.tokens == pytest.approx(6.5)
        server.requests.clear()
        with pytest.raises(ProviderUnavailable):
            await client.request("GET", "/thing")
        assert server.hits == 2  # one retry, then the budget is below half again
        await client.aclose()

    run(main())


# --- circuit breaker (reliability.md 19) ---------------------------------------------------------

def test_five_failures_open_the_breaker_and_the_next_call_sends_nothing() -> None:
    server = Server(503)
    client = client_for(server, max_attempts=1)

    async def main() -> None:
        for _ in range(5):
            with pytest.raises(ProviderUnavailable) as info:
                await client.request("GET", "/thing")
            assert not isinstance(info.value, CircuitOpen)
        assert server.hits == 5
        assert client.breaker.state == "open"
        with pytest.raises(CircuitOpen) as info:
            await client.request("GET", "/thing")
        assert server.hits == 5
        assert info.value.retry_after == pytest.approx(30.0)
        assert "X failed several times in a row" in str(info.value)
        await client.aclose()

    run(main())
    assert client.metrics.snapshot()["breaker"] == "open"


def test_retries_count_towards_the_breaker_and_stop_when_it_opens() -> None:
    server = Server(503)
    client = client_for(server)  # 3 attempts per call

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable) as info:
                await client.request("GET", "/thing")
            assert not isinstance(info.value, CircuitOpen)
        assert server.hits == 5  # 3 + 2: the breaker opened on the 5th attempt
        with pytest.raises(CircuitOpen):
            await client.request("GET", "/thing")
        assert server.hits == 5
        await client.aclose()

    run(main())


def test_after_the_cooldown_exactly_one_probe_goes_through() -> None:
    clock = FakeClock()
    release = asyncio.Event
    hits: list[str] = []
    state = {"fail": True}
    gate: dict[str, asyncio.Event] = {}

    async def handler(request: httpx.Request) -> httpx.Response:
        hits.append(request.url.path)
        if state["fail"]:
            return httpx.Response(503)
        await gate["probe"].wait()
        return httpx.Response(200)

    client = client_for(handler, clock=clock, max_attempts=1)

    async def main() -> None:
        gate["probe"] = release()
        for _ in range(5):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/thing")
        state["fail"] = False
        clock.advance(29.0)
        with pytest.raises(CircuitOpen):
            await client.request("GET", "/thing")
        clock.advance(1.0)
        assert client.breaker.state == "half_open"
        tasks = [asyncio.create_task(client.request("GET", "/probe")) for _ in range(10)]
        await asyncio.sleep(0.01)
        gate["probe"].set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        ok = [r for r in results if isinstance(r, httpx.Response)]
        fast = [r for r in results if isinstance(r, CircuitOpen)]
        assert len(ok) == 1 and len(fast) == 9
        assert hits.count("/probe") == 1
        assert client.breaker.state == "closed"
        await client.request("GET", "/after")
        assert hits[-1] == "/after"
        await client.aclose()

    run(main())


def test_a_failed_probe_opens_the_breaker_again() -> None:
    clock = FakeClock()
    server = Server(503)
    client = client_for(server, clock=clock, max_attempts=3)

    async def main() -> None:
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/thing")
        clock.advance(30.0)
        hits = server.hits
        with pytest.raises(ProviderUnavailable) as info:
            await client.request("GET", "/thing")
        assert server.hits == hits + 1, "the probe is one attempt, not retried"
        assert not isinstance(info.value, CircuitOpen)
        assert client.breaker.state == "open"
        with pytest.raises(CircuitOpen):
            await client.request("GET", "/thing")
        assert server.hits == hits + 1
        await client.aclose()

    run(main())


def test_the_cooldown_is_at_least_the_last_retry_after() -> None:
    clock = FakeClock()
    server = Server(503, headers={"Retry-After": "45"})
    client = client_for(server, clock=clock, max_attempts=1, long_retry_after=60)

    async def main() -> None:
        for _ in range(5):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/thing")
        clock.advance(31.0)
        with pytest.raises(CircuitOpen) as info:
            await client.request("GET", "/thing")
        assert info.value.retry_after == pytest.approx(14.0)
        clock.advance(14.0)
        assert client.breaker.state == "half_open"
        await client.aclose()

    run(main())


def test_client_errors_do_not_trip_the_breaker() -> None:
    server = Server(404, 400, 403, 422, 409, 401)
    client = client_for(server)

    async def main() -> None:
        for _ in range(30):
            with pytest.raises((Rejected, AuthExpired)):
                await client.request("GET", "/thing")
        assert client.breaker.state == "closed"
        assert server.hits == 30
        await client.aclose()

    run(main())


def test_a_success_resets_the_failure_count() -> None:
    server = Server(503, 503, 503, 503, 200, 503, 503, 503, 503, 200)
    client = client_for(server, max_attempts=1)

    async def main() -> None:
        for _ in range(10):
            with contextlib.suppress(ProviderUnavailable):
                await client.request("GET", "/thing")
        assert client.breaker.state == "closed"
        await client.aclose()

    run(main())


def test_breakers_of_two_providers_are_independent() -> None:
    tiktok_server, x_server = Server(503), Server(200)
    tiktok = client_for(tiktok_server, name="tiktok", max_attempts=1)
    x = client_for(x_server, name="x", max_attempts=1)

    async def main() -> None:
        for _ in range(5):
            with pytest.raises(ProviderUnavailable):
                await tiktok.request("GET", "/v2/video")
        with pytest.raises(CircuitOpen) as info:
            await tiktok.request("GET", "/v2/video")
        assert info.value.provider == "tiktok" and "TikTok" in str(info.value)
        response = await x.request("GET", "/2/users/me")
        assert response.status_code == 200 and x.breaker.state == "closed"
        await tiktok.aclose()
        await x.aclose()

    run(main())


def test_a_cancelled_probe_lets_the_next_caller_probe() -> None:
    clock = FakeClock()
    state = {"hang": False}

    async def handler(request: httpx.Request) -> httpx.Response:
        if state["hang"]:
            await asyncio.sleep(60)
        return httpx.Response(503 if not state["hang"] and request.url.path == "/bad" else 200)

    client = client_for(handler, clock=clock, max_attempts=1)

    async def main() -> None:
        for _ in range(5):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/bad")
        clock.advance(30.0)
        state["hang"] = True
        probe = asyncio.create_task(client.request("GET", "/probe"))
        await asyncio.sleep(0.01)
        with pytest.raises(CircuitOpen):
            await client.request("GET", "/other")
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        state["hang"] = False
        response = await client.request("GET", "/next")
        assert response.status_code == 200 and client.breaker.state == "closed"
        await client.aclose()

    run(main())


# --- rate limit ----------------------------------------------------------------------------------

def test_rate_limit_refuses_a_call_that_would_wait_too_long_and_reports_use() -> None:
    clock = FakeClock()
    server = Server(200)
    client = client_for(server, clock=clock, rate_limit=(2, 60.0), long_retry_after=5.0)

    async def main() -> None:
        assert client.metrics.snapshot()["rate_limit_use"] == 0.0
        await client.request("POST", "/2/tweets")
        assert client.metrics.snapshot()["rate_limit_use"] == 0.5
        await client.request("POST", "/2/tweets")
        assert client.metrics.snapshot()["rate_limit_use"] == 1.0
        with pytest.raises(RateLimited) as info:
            await client.request("POST", "/2/tweets")
        assert info.value.retry_after == pytest.approx(30.0)
        assert "request limit for X (2 per 60 s) is used up" in str(info.value)
        assert server.hits == 2
        await client.request("GET", "/2/users/me", rate_limited=False)
        assert server.hits == 3
        clock.advance(61.0)
        assert client.metrics.snapshot()["rate_limit_use"] == 0.0
        await client.aclose()

    run(main())
    assert client.metrics.snapshot()["rate_limit"] == "2 per 60 s"


def test_rate_limit_queues_short_waits() -> None:
    server = Server(200)
    client = client_for(server, rate_limit=(1, 0.02))

    async def main() -> None:
        await asyncio.gather(*(client.request("GET", "/a") for _ in range(3)))
        await client.aclose()

    run(main())
    assert server.hits == 3


# --- error mapping -------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "body", "reason"), [
    ("openai", {"error": {"message": "Invalid 'model': gpt-9 does not exist",
                          "type": "invalid_request_error", "code": "model_not_found"}},
     "OpenAI rejected the request: Invalid 'model': gpt-9 does not exist."),
    ("workers_ai",
     {"success": False, "errors": [{"code": 7003, "message": "No route for that URI"}]},
     "Cloudflare Workers AI rejected the request: No route for that URI."),
    ("x", {"title": "Invalid Request", "detail": "One or more parameters to your request was "
           "invalid.", "type": "https://api.twitter.com/2/problems/invalid-request"},
     "X rejected the request: One or more parameters to your request was invalid."),
    ("resend", {"statusCode": 422, "name": "validation_error", "message": "Invalid `to` field"},
     "Resend rejected the request: Invalid `to` field."),
    ("github", {"error": "bad_verification_code",
                "error_description": "The code passed is incorrect or expired."},
     "GitHub rejected the request: The code passed is incorrect or expired."),
    ("tiktok", None, "TikTok rejected the request: HTTP 422."),
])
def test_rejections_carry_the_providers_reason(name: str, body: Any, reason: str) -> None:
    error = call(client_for(Server(422, body=body), name=name), "POST")
    assert isinstance(error, Rejected) and error.status == 422 and error.provider == name
    assert str(error) == reason


def test_a_non_json_error_body_gives_the_status() -> None:
    error = call(client_for(Server(httpx.Response(400, text="<html>bad</html>"))), "GET")
    assert isinstance(error, Rejected) and str(error) == "X rejected the request: HTTP 400."


def test_messages_never_contain_tokens_or_urls() -> None:
    echo = {"error": {"message": f"Bearer {SECRET} is not valid for this endpoint"}}
    outcomes: list[object] = [400, 401, 403, 429, 500, 503, httpx.ConnectError,
                              httpx.ReadTimeout, httpx.Response(400, json=echo)]
    for outcome in outcomes:
        error = call(client_for(Server(outcome), max_attempts=1), "POST",  # type: ignore[arg-type]
                     f"/2/tweets?access_token={SECRET}")
        assert isinstance(error, ProviderError)
        text = str(error)
        assert SECRET not in text and "api.test" not in text and "/2/tweets" not in text
        assert text[0].isupper() and text.endswith("."), text


def test_error_codes_are_kept_for_provider_specific_mapping() -> None:
    body = {"error": {"message": "Error validating access token", "type": "OAuthException",
                      "code": 190}}
    error = call(client_for(Server(400, body=body), name="instagram"), "GET")
    assert isinstance(error, Rejected) and error.code == "190"


def test_auth_expired_and_rate_limited_messages() -> None:
    error = call(client_for(Server(401), name="github"), "GET")
    assert isinstance(error, AuthExpired)
    assert str(error) == "GitHub no longer accepts the saved sign-in; sign in to GitHub again."
    error = call(client_for(Server(429, headers={"Retry-After": "2"}), name="openai"), "GET")
    assert isinstance(error, RateLimited) and error.retry_after == 2.0


def test_provider_errors_survive_pickling() -> None:
    errors: list[ProviderError] = [
        RateLimited(7, provider="x"), Rejected("too long", provider="x", status=400),
        ProviderUnavailable(provider="r2", maybe_sent=True), CircuitOpen(5, provider="x")]
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
        assert copy.__dict__ == error.__dict__


@pytest.mark.parametrize(("body", "expected"), [
    ({"error": {"message": "m", "code": "c"}}, ("m", "c")),
    ({"errors": [{"message": "cf", "code": 1000}]}, ("cf", "1000")),
    ({"title": "T", "detail": "D"}, ("D", None)),
    ({"title": "Only title"}, ("Only title", None)),
    ({"message": "resend", "name": "validation_error"}, ("resend", "validation_error")),
    ({"code": 21211, "message": "The 'To' number is not valid.", "status": 400},
     ("The 'To' number is not valid.", "21211")),
    ({"error": "invalid_grant"}, ("invalid_grant", "invalid_grant")),
    ([1, 2], (None, None)),
    ({"error": {"message": "x" * 500}}, ("x" * 199 + "…", None)),
    ({"error": {"message": "token gh" "p_abcdefghijklmnopqrstuvwxyz0123456789 leaked"}},
     ("token [REDACTED] leaked", None)),
])
def test_extract_error_details(body: object, expected: tuple[str | None, str | None]) -> None:
    assert extract_error_details(body) == expected


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "7"})) == 7.0
    assert parse_retry_after({"retry-after": "3"}) == 3.0  # plain dict, any case
    assert parse_retry_after({"Retry-After-Ms": "250"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "junk", "retry-after": "4"}) == 4.0
    assert parse_retry_after({"x-rate-limit-reset": "1700000900"}, now=1_700_000_000) == 900.0
    assert parse_retry_after({"Retry-After": email.utils.formatdate(1_000, usegmt=True)},
                             now=2_000) == 0.0  # a date in the past: retry now
    assert parse_retry_after({}) is None
    assert parse_retry_after(None) is None


# --- run(): the policy around SDK calls ----------------------------------------------------------

class FakeAPIStatusError(Exception):
    """Shaped like openai.APIStatusError: status_code, response, body."""

    def __init__(self, response: httpx.Response, body: object = None) -> None:
        super().__init__(f"Error code: {response.status_code}")
        self.response = response
        self.status_code = response.status_code
        self.body = body


class FakeStripeError(Exception):
    """Shaped like stripe.StripeError: http_status, headers, json_body."""

    def __init__(self, http_status: int, headers: dict[str, str], json_body: object) -> None:
        super().__init__("stripe error")
        self.http_status = http_status
        self.headers = headers
        self.json_body = json_body


class FakeAPIConnectionError(Exception):
    """Shaped like openai.APIConnectionError, raised from an httpx error."""


def _sdk_runner(errors: list[BaseException | None]) -> tuple[Callable[[], Awaitable[str]],
                                                             list[int]]:
    calls: list[int] = []

    async def fn() -> str:
        calls.append(1)
        step = errors[min(len(calls) - 1, len(errors) - 1)]
        if step is not None:
            raise step
        return "done"

    return fn, calls


def _run(client: ProviderClient, fn: Callable[[], Awaitable[str]], **kwargs: Any) -> object:
    async def main() -> object:
        try:
            return await client.run(fn, **kwargs)
        except Exception as error:
            return error
    return asyncio.run(main())


def test_run_retries_sdk_status_errors_when_idempotent() -> None:
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    busy = FakeAPIStatusError(httpx.Response(503, request=request))
    fn, calls = _sdk_runner([busy, busy, None])
    client = client_for(Server(), name="openai")
    assert _run(client, fn, idempotent=True, operation="chat") == "done"
    assert len(calls) == 3 and client.metrics.retries == 2


def test_run_honours_retry_after_ms_from_sdk_errors() -> None:
    request = httpx.Request("POST", "https://api.openai.com/v1/chat/completions")
    limited = FakeAPIStatusError(httpx.Response(429, request=request,
                                                headers={"retry-after-ms": "1200"}))
    fn, _calls = _sdk_runner([limited, None])
    clock = FakeClock()
    assert _run(client_for(Server(), clock=clock), fn, idempotent=False) == "done"
    assert clock.sleeps == [1.2]


def test_run_maps_sdk_rejections_with_their_reason() -> None:
    request = httpx.Request("POST", "https://api.openai.com/v1/images")
    bad = FakeAPIStatusError(
        httpx.Response(400, request=request, json={"error": {"message": "Prompt too long"}}))
    unread = FakeAPIStatusError(  # the response body was not kept; openai's body is `error`
        httpx.Response(400, request=request, stream=httpx.ByteStream(b"")),
        body={"message": "Prompt too long", "type": "invalid_request_error", "code": None})
    fn, calls = _sdk_runner([bad])
    error = _run(client_for(Server(), name="openai"), fn, idempotent=True)
    assert isinstance(error, Rejected)
    assert str(error) == "OpenAI rejected the request: Prompt too long."
    assert len(calls) == 1
    fn, _ = _sdk_runner([unread])
    error = _run(client_for(Server(), name="openai"), fn, idempotent=True)
    assert str(error) == "OpenAI rejected the request: Prompt too long."
    assert isinstance(error, Rejected) and error.code == "invalid_request_error"


def test_run_reads_stripe_shaped_errors() -> None:
    err = FakeStripeError(402, {"Request-Id": "req_1"},
                          {"error": {"message": "Your card was declined.",
                                     "code": "card_declined"}})
    fn, _ = _sdk_runner([err])
    error = _run(client_for(Server(), name="stripe"), fn, idempotent=True)
    assert isinstance(error, Rejected) and error.code == "card_declined"
    assert str(error) == "Stripe rejected the request: Your card was declined."


class FakeClientError(Exception):
    """Shaped like botocore.exceptions.ClientError."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}}}


class EndpointConnectionError(Exception):
    """Named like botocore's: the connection was never made."""


def test_run_reads_botocore_shaped_errors() -> None:
    fn, calls = _sdk_runner([FakeClientError(503, "SlowDown", "Reduce your request rate."),
                             FakeClientError(412, "PreconditionFailed", "ETag mismatch")])
    error = _run(client_for(Server(), name="r2"), fn, idempotent=True)
    assert isinstance(error, Rejected) and error.code == "PreconditionFailed"
    assert str(error) == "Cloudflare R2 rejected the request: ETag mismatch."
    assert len(calls) == 2
    fn, calls = _sdk_runner([EndpointConnectionError("Could not connect"), None])
    assert _run(client_for(Server(), name="r2"), fn, idempotent=False) == "done"
    assert len(calls) == 2


def test_unknown_exception_text_in_metrics_is_redacted() -> None:
    fn, _ = _sdk_runner([RuntimeError(f"boom Bearer {SECRET}")])
    client = client_for(Server())
    _run(client, fn, idempotent=True)
    last = client.metrics.snapshot()["last_error"]
    assert last.startswith("RuntimeError: boom") and SECRET not in last


def test_run_does_not_repeat_a_non_idempotent_call_after_a_timeout() -> None:
    try:
        raise httpx.ReadTimeout("timed out")
    except httpx.ReadTimeout as cause:
        wrapped = FakeAPIConnectionError("Request timed out.")
        wrapped.__cause__ = cause
    fn, calls = _sdk_runner([wrapped, None])
    error = _run(client_for(Server(), name="tiktok"), fn, idempotent=False)
    assert isinstance(error, ProviderUnavailable) and error.maybe_sent
    assert len(calls) == 1
    fn, calls = _sdk_runner([wrapped, None])
    assert _run(client_for(Server()), fn, idempotent=True) == "done"
    assert len(calls) == 2


def test_run_lets_unknown_exceptions_through_untouched() -> None:
    fn, calls = _sdk_runner([ValueError("a bug")])
    client = client_for(Server())
    error = _run(client, fn, idempotent=True)
    assert type(error) is ValueError and len(calls) == 1
    assert client.metrics.errors == 1 and client.breaker.state == "closed"


def test_run_with_a_custom_classifier() -> None:
    class QuotaError(Exception):
        pass

    def classifier(exc: BaseException) -> Failure | None:
        if isinstance(exc, QuotaError):
            return Failure(status=429, retry_after=2.0)
        return classify_exception(exc)

    fn, _calls = _sdk_runner([QuotaError(), None])
    clock = FakeClock()
    assert _run(client_for(Server(), clock=clock), fn, idempotent=True,
                classifier=classifier) == "done"
    assert clock.sleeps == [2.0]


def test_run_does_not_re_wrap_project_errors() -> None:
    fn, calls = _sdk_runner([Rejected("no", provider="x", status=400)])
    error = _run(client_for(Server()), fn, idempotent=True)
    assert isinstance(error, Rejected) and len(calls) == 1


# --- streaming -----------------------------------------------------------------------------------

class BrokenStream(httpx.AsyncByteStream):
    async def __aiter__(self) -> Any:
        yield b"data: one\n\n"
        raise httpx.ReadError("connection reset")


def test_stream_retries_before_the_first_byte_only() -> None:
    server = Server(503, httpx.Response(200, content=b"data: a\n\ndata: b\n\n"))
    client = client_for(server, name="openai")

    async def main() -> list[str]:
        async with client.stream("POST", "/v1/chat/completions", idempotent=True,
                                 json={"stream": True}) as response:
            lines = [line async for line in response.aiter_lines() if line]
        await client.aclose()
        return lines

    assert run(main()) == ["data: a", "data: b"]
    assert server.hits == 2


def test_stream_broken_mid_body_is_not_retried() -> None:
    server = Server(httpx.Response(200, stream=BrokenStream()))
    client = client_for(server, name="openai")

    async def main() -> list[bytes]:
        chunks: list[bytes] = []
        with pytest.raises(ProviderUnavailable) as info:
            async with client.stream("POST", "/v1/chat/completions", idempotent=True) as response:
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
        assert info.value.maybe_sent
        await client.aclose()
        return chunks

    assert run(main()) == [b"data: one\n\n"]
    assert server.hits == 1
    assert client.metrics.errors == 1 and client.metrics.calls == 1


def test_stream_error_status_is_mapped_with_reason() -> None:
    server = Server(400, body={"error": {"message": "Bad prompt"}})
    client = client_for(server, name="openai")

    async def main() -> None:
        with pytest.raises(Rejected, match="Bad prompt"):
            async with client.stream("POST", "/v1/chat/completions"):
                pass
        await client.aclose()

    run(main())


# --- metrics -------------------------------------------------------------------------------------

def test_metrics_snapshot_is_complete_and_json_friendly() -> None:
    clock = FakeClock()
    registry = MetricsRegistry()
    latencies = iter([0.010 * i for i in range(1, 101)])

    def handler(request: httpx.Request) -> httpx.Response:
        clock.advance(next(latencies))
        return httpx.Response(int(request.url.params.get("status", "200")))

    client = client_for(handler, clock=clock, registry=registry, name="openai",
                        breaker_failures=100, max_attempts=1)

    async def main() -> None:
        for i in range(100):
            status = 503 if i < 10 else 400 if i < 15 else 200
            with contextlib.suppress(ProviderError):
                await client.request("GET", "/v1/x", params={"status": status}, cost=0.25)
        await client.aclose()

    run(main())
    snap = registry.snapshot_all()["openai"]
    json.dumps(snap)
    assert snap["calls"] == 100 and snap["errors"] == 15
    assert snap["error_rate"] == 0.15
    assert snap["availability"] == 0.9  # 4xx do not count against availability
    assert snap["cost"] == 85 * 0.25
    assert snap["latency_ms"] == {"p50": 500.0, "p95": 950.0, "p99": 990.0}
    assert snap["breaker"] == "closed" and snap["rate_limit_use"] is None
    assert snap["last_error"] == "OpenAI rejected the request: HTTP 400."
    assert snap["last_error_at"] is not None


def test_latency_window_is_bounded() -> None:
    client = client_for(Server(200), metrics_window=50)

    async def main() -> None:
        for _ in range(200):
            await client.request("GET", "/a")
        await client.aclose()

    run(main())
    assert client.metrics.snapshot()["latency_samples"] == 50
    assert client.metrics.calls == 200


def test_registry_collects_every_provider_and_shares_by_name() -> None:
    registry = MetricsRegistry()
    a = client_for(Server(200), registry=registry, name="openai")
    b = client_for(Server(200), registry=registry, name="openai")
    c = client_for(Server(500), registry=registry, name="tiktok", max_attempts=1)
    call(a)
    call(b)
    call(c)
    snap = registry.snapshot_all()
    assert list(snap) == ["openai", "tiktok"]
    assert snap["openai"]["calls"] == 2 and a.metrics is b.metrics
    assert snap["tiktok"]["availability"] == 0.0
    a.metrics.add_cost(1.5)
    assert registry.snapshot_all()["openai"]["cost"] == 1.5


def test_circuit_open_fast_fails_count_as_unavailable_without_latency() -> None:
    client = client_for(Server(503), max_attempts=1)

    async def main() -> None:
        for _ in range(8):
            with pytest.raises(ProviderUnavailable):
                await client.request("GET", "/a")
        await client.aclose()

    run(main())
    snap = client.metrics.snapshot()
    assert snap["calls"] == 8 and snap["availability"] == 0.0
    assert snap["latency_samples"] == 5


# --- logging, lifecycle ---------------------------------------------------------------------------

def test_retries_are_logged_at_info_without_query_or_token(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="mbv_desktop")
    call(client_for(Server(503, 200)), "GET", f"/2/tweets?access_token={SECRET}")
    records = [r for r in caplog.records if r.name.startswith("mbv_desktop.integrations")]
    assert records and all(r.levelno <= logging.INFO for r in records)
    text = "\n".join(r.getMessage() for r in records)
    assert "GET /2/tweets" in text
    assert SECRET not in text and "access_token" not in text


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        ProviderPolicy("")
    with pytest.raises(ValueError):
        ProviderPolicy("x", max_attempts=0)
    with pytest.raises(ValueError):
        ProviderPolicy("x", rate_limit=(0, 10))
    borrowed = httpx.AsyncClient()
    with pytest.raises(ValueError):
        ProviderClient(ProviderPolicy("x"), http=borrowed, base_url="https://a")
    asyncio.run(borrowed.aclose())


def test_a_borrowed_http_client_is_not_closed() -> None:
    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.MockTransport(Server(200)),
                                 base_url="https://api.test")
        client = ProviderClient(ProviderPolicy("x"), http=http)
        async with client:
            await client.request("GET", "/a")
        assert not http.is_closed
        await http.aclose()

    run(main())


def test_the_http_client_is_created_lazily() -> None:
    client = ProviderClient(ProviderPolicy("x"))
    assert client._http is None
