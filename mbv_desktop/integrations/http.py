"""The one HTTP policy every provider client uses: timeouts, retries, a retry budget, a circuit
breaker, a client-side rate limit, error mapping and metrics.

A provider client builds one :class:`ProviderClient` from a :class:`ProviderPolicy` and sends
everything through it::

    client = ProviderClient(ProviderPolicy("x", rate_limit=(300, 900)),
                            base_url="https://api.x.com", registry=registry)
    response = await client.request("GET", "/2/users/me")
    async with client.stream("POST", "/v1/chat/completions", json=body,
                             idempotent=True) as response:
        async for line in response.aiter_lines(): ...
    result = await client.run(lambda: sdk.chat.completions.create(...), idempotent=True)

Rules (DESIGN.md "Integration layer", reliability.md items 14-19):

* **What is retried.** Connection failures before the request was sent (``ConnectError``,
  ``ConnectTimeout``, ``PoolTimeout``) always; 408, 429, 500, 502, 503 and 504 when the request is
  safe to repeat: an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE, TRACE), ``idempotent=True``
  or an ``idempotency_key`` (sent as ``Idempotency-Key``). A request that is not safe to repeat is
  retried only when the provider certainly did not act on it: a failure before sending, 408 or 429
  (``ProviderPolicy.unsafe_retry_statuses``). A read timeout or broken connection after sending,
  or a 5xx, ends such a call with ``ProviderUnavailable(maybe_sent=True)`` so the outbox reconciles
  instead of posting twice. 400/401/403/404/409/422 are never retried.
* **Backoff.** Full jitter: ``uniform(0, min(max_delay, base_delay * 2**n))`` before retry ``n``;
  ``Retry-After`` (seconds or HTTP-date) and ``retry-after-ms`` are a floor; a malformed value
  falls back to backoff. A wait longer than ``long_retry_after`` is not slept: the call raises at
  once (``RateLimited(retry_after)`` for 429) so an outbox can reschedule. No retry starts that
  would end past the call's ``deadline``, and each attempt is cut off at the deadline.
* **Retry budget.** gRPC A6 token bucket per client (see :mod:`.policy.budget`): 10 tokens, each
  failure that counts against the provider takes 1, each success gives back
  ``retry_budget_ratio`` (0.1) and time gives back ``retry_budget_refill`` (0.1 per second);
  retries only while more than 5 are left.
* **Circuit breaker** per client (see :mod:`.policy.breaker`): ``breaker_failures`` consecutive
  failed attempts (5xx, 408, 429, connection; not other 4xx) open it; open → ``CircuitOpen`` with
  nothing sent until the cooldown (at least the last Retry-After) passes; then exactly one probe.
* **Rate limit** per client (``rate_limit=(requests, seconds)``, aiolimiter): calls queue for
  capacity; one that would queue longer than ``long_retry_after`` or the deadline raises
  ``RateLimited`` with nothing sent. ``rate_limited=False`` exempts a call (e.g. X reads when the
  limit configured is X's posting limit).
* **Errors.** 401 → ``AuthExpired``; 429 → ``RateLimited``; 408/5xx/connection →
  ``ProviderUnavailable``; other 4xx → ``Rejected(reason)`` with a reason from the error body. A
  status listed in ``allow_statuses`` is returned instead (a 404 that means "not posted yet").
* **One retry layer.** ``run()`` wraps SDK calls with this same policy, so the SDK's own retries
  must be off: ``openai.AsyncOpenAI(max_retries=0)``, ``stripe`` ``max_network_retries=0``,
  boto3 ``retries={"max_attempts": 1}``; otherwise a failing provider sees attempts × SDK retries.
* **Metrics** per provider (:class:`ProviderMetrics`): calls, errors, retries, latency
  p50/p95/p99, availability, rate-limit use, breaker state, last error, cost.

The hot path does a few comparisons, one deque append and no allocation-heavy work; the
underlying ``httpx.AsyncClient`` is created on first use so importing and constructing clients
costs nothing at start-up. A client belongs to one event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

import httpx

from mbv_desktop.core.errors import (
    CircuitOpen,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    describe_wait,
    provider_display_name,
)

from .policy.breaker import BreakerState, CircuitBreaker
from .policy.budget import RetryBudget, full_jitter
from .policy.clock import Clock, FakeClock, SystemClock
from .policy.failures import (
    Classifier,
    Failure,
    classify_exception,
    extract_error_details,
    failure_from_response,
    failure_from_transport,
    parse_retry_after,
    to_error,
)
from .policy.metrics import MetricsRegistry, ProviderMetrics
from .policy.ratelimit import RateGate

__all__ = [
    "IDEMPOTENT_METHODS",
    "BreakerState",
    "CircuitBreaker",
    "Classifier",
    "Clock",
    "Failure",
    "FakeClock",
    "MetricsRegistry",
    "ProviderClient",
    "ProviderMetrics",
    "ProviderPolicy",
    "RetryBudget",
    "SystemClock",
    "classify_exception",
    "extract_error_details",
    "failure_from_response",
    "failure_from_transport",
    "full_jitter",
    "parse_retry_after",
    "to_error",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")

#: Methods that may be repeated without changing the outcome (RFC 9110 §9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

_DEADLINE = "deadline"


@dataclass(frozen=True)
class ProviderPolicy:
    """How one provider is called. Defaults suit an interactive desktop call."""

    name: str
    #: Per-operation httpx timeout (connect/read/write/pool) for the client this policy creates.
    timeout: httpx.Timeout | float = 30.0
    #: Total attempts including the first.
    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    #: Overall budget in seconds for one logical call, retries and waits included.
    deadline: float = 60.0
    #: gRPC A6 token ratio: what one success gives back to the retry budget.
    retry_budget_ratio: float = 0.1
    #: gRPC A6 max tokens; retries are allowed while more than half are left.
    retry_budget_tokens: float = 10.0
    #: Tokens the retry budget regains per second with no traffic (0: strict gRPC A6).
    retry_budget_refill: float = 0.1
    breaker_failures: int = 5
    breaker_cooldown: float = 30.0
    #: ``(max requests, per seconds)``, e.g. X posts ``(300, 900)``; ``None``: no local limit.
    rate_limit: tuple[int, float] | None = None
    #: A wait (Retry-After or rate limit) longer than this is not slept: the call raises instead.
    long_retry_after: float = 30.0
    #: Statuses retried for requests safe to repeat.
    retry_statuses: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
    #: Statuses retried for requests not safe to repeat (the provider did not act on them).
    unsafe_retry_statuses: frozenset[int] = frozenset({408, 429})
    idempotency_header: str = "Idempotency-Key"
    #: How many recent calls the latency percentiles cover.
    metrics_window: int = 1000

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a provider policy needs a name")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.deadline <= 0:
            raise ValueError("delays must not be negative and the deadline must be positive")
        if self.rate_limit is not None and (self.rate_limit[0] <= 0 or self.rate_limit[1] <= 0):
            raise ValueError("rate_limit must be (positive requests, positive seconds)")

    @property
    def display_name(self) -> str:
        """The provider's name as a person knows it (``"OpenAI"``)."""
        return provider_display_name(self.name)


def _target(method: str, url: httpx.URL | str) -> str:
    """``"POST /2/tweets"``: method and path only (no host, no query that might hold a token)."""
    text = str(url)
    path = text.split("?", 1)[0].split("#", 1)[0]
    if "://" in path:
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    return f"{method.upper()} {path or '/'}"


class ProviderClient:
    """One per provider: owns (or borrows) an ``httpx.AsyncClient`` and the provider's breaker,
    rate limit, retry budget and metrics. Use it as an async context manager or call
    :meth:`aclose`."""

    def __init__(self, policy: ProviderPolicy, *, base_url: str = "",
                 headers: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, clock: Clock | None = None,
                 http: httpx.AsyncClient | None = None, registry: MetricsRegistry | None = None,
                 classifier: Classifier | None = None, rng: random.Random | None = None) -> None:
        if http is not None and (base_url or headers or transport is not None):
            raise ValueError("pass either http= or base_url/headers/transport, not both")
        self.policy = policy
        self.name = policy.name
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._rng = rng if rng is not None else random.Random()
        self._classifier: Classifier = classifier if classifier is not None \
            else classify_exception
        self.breaker = CircuitBreaker(policy.name, failure_threshold=policy.breaker_failures,
                                      cooldown=policy.breaker_cooldown, clock=self._clock)
        self.budget = RetryBudget(policy.retry_budget_tokens, policy.retry_budget_ratio,
                                  refill_per_second=policy.retry_budget_refill, clock=self._clock)
        self._gate = (RateGate(policy.rate_limit[0], policy.rate_limit[1], clock=self._clock)
                      if policy.rate_limit is not None else None)
        self.metrics: ProviderMetrics = (
            registry.metrics_for(policy.name, window=policy.metrics_window)
            if registry is not None else ProviderMetrics(policy.name, window=policy.metrics_window))
        breaker = self.breaker
        self.metrics.breaker_state = lambda: breaker.state
        if self._gate is not None:
            self.metrics.rate_limit_use = self._gate.use
            self.metrics.rate_limit = self._gate.describe()
        self._http = http
        self._owns_http = http is None
        self._base_url = base_url
        self._headers = dict(headers) if headers else None
        self._transport = transport
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.AsyncClient:
        """The underlying httpx client, created on first use."""
        if self._http is None:
            self._http = self._new_http()
        return self._http

    def _new_http(self) -> httpx.AsyncClient:
        if self._closed:
            raise RuntimeError(f"the {self.name} client is closed")
        return httpx.AsyncClient(base_url=self._base_url, headers=self._headers,
                                 transport=self._transport, timeout=self.policy.timeout)

    async def _ready(self) -> None:
        """Makes the httpx client on a worker thread: loading the CA certificates for its TLS
        context takes ~100 ms, which would stall the GUI thread (the event loop's)."""
        if self._http is None:
            made = await asyncio.to_thread(self._new_http)
            if self._http is None:
                self._http = made
            else:  # another caller made one meanwhile
                await made.aclose()

    @property
    def clock(self) -> Clock:
        return self._clock

    async def aclose(self) -> None:
        """Close the httpx client if this object created it."""
        self._closed = True
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    # --- public calls ----------------------------------------------------------------------------

    def is_safe(self, method: str, idempotent: bool | None = None,
                idempotency_key: str | None = None) -> bool:
        """Whether a request may be repeated after it might have reached the provider."""
        if idempotency_key is not None:
            return True
        if idempotent is not None:
            return idempotent
        return method.upper() in IDEMPOTENT_METHODS

    async def request(self, method: str, url: httpx.URL | str, *,
                      idempotency_key: str | None = None, idempotent: bool | None = None,
                      cost: float = 0.0, allow_statuses: Collection[int] = (),
                      rate_limited: bool = True, **httpx_kwargs: Any) -> httpx.Response:
        """Send one request under the policy and return the (read) response.

        Raises a :class:`~mbv_desktop.core.errors.ProviderError` for a status ≥ 400 not in
        ``allow_statuses`` and for transport failures. ``httpx_kwargs`` go to
        ``httpx.AsyncClient.build_request`` (``params``, ``json``, ``content``, ``headers``, …);
        the body must be replayable (bytes, str, json, form) for retries to work. ``cost`` is
        added to the provider's metrics when the call succeeds.
        """
        safe = self.is_safe(method, idempotent, idempotency_key)
        await self._ready()
        send, check = self._sender(method, url, idempotency_key, allow_statuses, httpx_kwargs,
                                   stream=False)
        return await self._execute(send, check, classify_exception, safe=safe,
                                   what=lambda: _target(method, url), cost=cost,
                                   rate_limited=rate_limited)

    @asynccontextmanager
    async def stream(self, method: str, url: httpx.URL | str, *,
                     idempotency_key: str | None = None, idempotent: bool | None = None,
                     cost: float = 0.0, allow_statuses: Collection[int] = (),
                     rate_limited: bool = True,
                     **httpx_kwargs: Any) -> AsyncIterator[httpx.Response]:
        """Like :meth:`request`, but yields the response with its body unread.

        Retries happen only before the response is handed out (before its first body byte is
        read). A transport failure while the caller reads the body becomes
        ``ProviderUnavailable(maybe_sent=True)``; it is never retried. The response is closed on
        exit. Latency in the metrics is the time to the response headers.
        """
        safe = self.is_safe(method, idempotent, idempotency_key)
        await self._ready()
        send, check = self._sender(method, url, idempotency_key, allow_statuses, httpx_kwargs,
                                   stream=True)
        response = await self._execute(send, check, classify_exception, safe=safe,
                                       what=lambda: _target(method, url), cost=cost,
                                       rate_limited=rate_limited)
        try:
            yield response
        except httpx.TransportError as exc:
            failure = failure_from_transport(exc)
            error = to_error(Failure(sent=True, transient=failure.transient, kind=failure.kind),
                             provider=self.name, maybe_sent=True)
            if failure.counts_against_provider:
                self.breaker.record_failure(False)
                self.budget.on_failure()
            self.metrics.record_late_error(error, unavailable=True)
            _log.info("%s: %s broke while reading the body (%s)", self.name,
                      _target(method, url), failure.kind)
            raise error from exc
        finally:
            await response.aclose()

    def _sender(
        self, method: str, url: httpx.URL | str, idempotency_key: str | None,
        allow_statuses: Collection[int], httpx_kwargs: dict[str, Any], *, stream: bool,
    ) -> tuple[Callable[[], Awaitable[httpx.Response]],
               Callable[[httpx.Response], Awaitable[Failure | None]]]:
        """The attempt and its verdict for :meth:`request` and :meth:`stream`: the request is
        built once and re-sent as is; a failed streamed answer is read and closed first."""
        if idempotency_key is not None:
            httpx_kwargs["headers"] = self._with_key(httpx_kwargs.get("headers"), idempotency_key)
        http = self.http
        built: list[httpx.Request] = []

        async def send() -> httpx.Response:
            if not built:
                built.append(http.build_request(method, url, **httpx_kwargs))
            return await http.send(built[0], stream=stream)

        async def check(response: httpx.Response) -> Failure | None:
            status = response.status_code
            if status < 400 or status in allow_statuses:
                return None
            if stream:
                try:
                    await response.aread()
                finally:
                    await response.aclose()
            return failure_from_response(response)

        return send, check

    async def run(self, fn: Callable[[], Awaitable[T]], *, idempotent: bool, operation: str = "",
                  cost: float = 0.0, classifier: Classifier | None = None,
                  rate_limited: bool = True) -> T:
        """Run an SDK call (``fn`` makes one attempt) under the same policy.

        ``fn`` is called once per attempt and must not retry on its own (``max_retries=0``).
        Its exceptions are classified by ``classifier`` (default: the client's, normally
        :func:`classify_exception`); ones it does not recognise propagate unchanged, the rest end
        as project errors. ``idempotent`` says whether the call may be repeated after it may have
        reached the provider (generation: yes; posting: no).
        """
        return await self._execute(fn, None, classifier or self._classifier, safe=idempotent,
                                   what=lambda: operation or "call", cost=cost,
                                   rate_limited=rate_limited)

    # --- the engine ------------------------------------------------------------------------------

    def _with_key(self, headers: Any, key: str) -> httpx.Headers:
        merged = httpx.Headers(headers)
        merged[self.policy.idempotency_header] = key
        return merged

    def _retryable(self, failure: Failure, safe: bool) -> bool:
        if failure.status is None:
            return failure.transient and failure.kind != _DEADLINE and (safe or not failure.sent)
        statuses = self.policy.retry_statuses if safe else self.policy.unsafe_retry_statuses
        return failure.status in statuses

    def _final(self, failure: Failure, retry_after: float | None = None) -> ProviderError:
        if failure.kind == _DEADLINE or (failure.status is None and failure.sent
                                         and "Timeout" in failure.kind):
            name = self.policy.display_name
            return ProviderUnavailable(
                f"{name[:1].upper()}{name[1:]} did not answer in time, so the request may or "
                "may not have gone through.", provider=self.name, maybe_sent=True,
                retry_after=retry_after)
        return to_error(failure, provider=self.name, retry_after=retry_after)

    async def _acquire_rate(self, deadline_at: float) -> None:
        gate = self._gate
        assert gate is not None
        wait = gate.estimated_wait()
        if wait > 0:
            remaining = deadline_at - self._clock.monotonic()
            if wait > min(self.policy.long_retry_after, remaining):
                name = self.policy.display_name
                raise RateLimited(wait, provider=self.name, message=(
                    f"The request limit for {name} ({gate.describe()}) is used up for now; "
                    f"try again {describe_wait(wait)}."))
        await gate.acquire()

    async def _execute(self, send: Callable[[], Awaitable[T]],
                       check: Callable[[T], Awaitable[Failure | None]] | None,
                       classify: Classifier, *, safe: bool, what: Callable[[], str], cost: float,
                       rate_limited: bool) -> T:
        policy = self.policy
        clock = self._clock
        breaker = self.breaker
        start = clock.monotonic()
        deadline_at = start + policy.deadline
        attempts = 0
        reached = False
        failure: Failure | None = None
        try:
            while True:
                try:
                    probe = breaker.acquire()
                except CircuitOpen:
                    if failure is None:
                        raise
                    raise self._final(failure) from None
                try:
                    if rate_limited and self._gate is not None:
                        await self._acquire_rate(deadline_at)
                    attempts += 1
                    remaining = deadline_at - clock.monotonic()
                    cause: BaseException | None = None
                    try:
                        async with asyncio.timeout(max(remaining, 0.0)) as scope:
                            result = await send()
                            failure = await check(result) if check is not None else None
                    except TimeoutError as exc:
                        if scope.expired():
                            failure, cause = Failure(sent=True, kind=_DEADLINE), exc
                        else:
                            failure, cause = classify(exc), exc
                            if failure is None:
                                raise
                    except Exception as exc:
                        failure, cause = classify(exc), exc
                        if failure is None:
                            raise
                except BaseException:
                    breaker.release(probe)
                    raise

                if failure is None:
                    breaker.record_success(probe)
                    self.budget.on_success()
                    self.metrics.record(latency=clock.monotonic() - start, attempts=attempts,
                                        cost=cost)
                    return result

                reached = reached or failure.sent or failure.status is not None
                if failure.counts_against_provider:
                    breaker.record_failure(probe, failure.retry_after)
                    self.budget.on_failure()
                elif failure.status is not None:
                    breaker.record_success(probe)  # the provider answered: it is up
                else:
                    breaker.release(probe)

                retry_after = failure.retry_after
                if not self._retryable(failure, safe):
                    raise self._final(failure) from _chain(cause)
                if attempts >= policy.max_attempts or not breaker.allows_retry():
                    raise self._final(failure) from _chain(cause)
                if retry_after is not None and retry_after > policy.long_retry_after:
                    raise self._final(failure) from _chain(cause)
                if not self.budget.can_retry():
                    _log.debug("%s: retry budget spent; not retrying %s", self.name, what())
                    raise self._final(failure) from _chain(cause)
                delay = full_jitter(attempts - 1, base_delay=policy.base_delay,
                                    max_delay=policy.max_delay, rng=self._rng)
                if retry_after is not None and retry_after > delay:
                    delay = retry_after
                if clock.monotonic() + delay >= deadline_at:
                    raise self._final(failure) from _chain(cause)
                _log.info("%s: %s failed (%s); attempt %d of %d in %.2f s", self.name, what(),
                          failure.kind, attempts + 1, policy.max_attempts, delay)
                await clock.sleep(delay)
        except asyncio.CancelledError:
            raise
        except ProviderError as error:
            self.metrics.record(latency=(clock.monotonic() - start) if reached else None,
                                attempts=attempts, error=error,
                                unavailable=isinstance(error, ProviderUnavailable))
            raise
        except BaseException as error:
            self.metrics.record(latency=None, attempts=attempts, error=error)
            raise


def _chain(cause: BaseException | None) -> BaseException | None:
    """Keep transport exceptions as ``__cause__`` (useful in a traceback); drop the rest."""
    if cause is None or isinstance(cause, httpx.HTTPStatusError):
        return None
    return cause
