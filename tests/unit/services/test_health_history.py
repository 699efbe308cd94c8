"""Integration health over time, from the real metrics registry into a real profile database:
persisting twice never counts a call twice, a restarted app carries on the day's totals, days
are UTC days, the session history is kept and bounded, and the table shows each provider's
figures now; a last error is stored without any token in it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import run

from mbv_desktop.core.errors import ProviderUnavailable, RateLimited
from mbv_desktop.integrations.policy.metrics import MetricsRegistry
from mbv_desktop.services.health_history import SESSION_SAMPLES, HealthHistory

MAY_2 = date(2024, 5, 2)


class Clock:
    """Wall-clock time the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2024, 5, 2, 10, 0, tzinfo=UTC))


@pytest.fixture
def profile(data_dir: Path) -> Iterator[Any]:
    from mbv_desktop.services.container import open_services

    services = open_services(data_dir, env={})
    yield services
    services.close()


def ok(registry: MetricsRegistry, provider: str, n: int = 1, *, latency: float = 0.1,
       attempts: int = 1) -> None:
    for _ in range(n):
        registry.metrics_for(provider).record(latency=latency, attempts=attempts)


def unavailable(registry: MetricsRegistry, provider: str, message: str = "") -> None:
    registry.metrics_for(provider).record(
        latency=0.5, attempts=3, unavailable=True,
        error=ProviderUnavailable(message, provider=provider, status=503))


def test_persisting_twice_never_counts_a_call_twice(profile: Any, clock: Clock) -> None:
    registry = MetricsRegistry()
    history = HealthHistory(profile.worker, registry, clock=clock)
    ok(registry, "x", 3)
    unavailable(registry, "x")

    run(history.persist())
    run(history.persist())  # nothing new since the first
    ok(registry, "x", 2, attempts=2)
    clock.now += 60
    run(history.persist())

    (day,) = run(history.days(MAY_2, MAY_2))
    assert (day.provider, day.calls, day.errors, day.unavailable, day.retries) == (
        "x", 6, 1, 1, 2 + 2)
    assert day.error_rate == pytest.approx(1 / 6) and day.availability == pytest.approx(5 / 6)
    assert day.breaker == "closed"
    assert day.last_error is not None and "X is not available right now (HTTP 503)" in \
        day.last_error


def test_a_restarted_app_carries_on_the_days_totals(data_dir: Path, clock: Clock) -> None:
    from mbv_desktop.services.container import open_services

    for calls in (4, 3):  # two app runs, each with a registry that starts at zero
        services = open_services(data_dir, env={})
        try:
            registry = MetricsRegistry()
            history = HealthHistory(services.worker, registry, clock=clock)
            ok(registry, "openai", calls)
            run(history.persist())
            run(history.persist())
        finally:
            services.close()
        clock.now += 3600

    services = open_services(data_dir, env={})
    try:
        days = run(HealthHistory(services.worker, MetricsRegistry()).days(MAY_2, MAY_2))
    finally:
        services.close()
    assert [(d.provider, d.calls, d.errors) for d in days] == [("openai", 7, 0)]


def test_counts_go_to_the_utc_day_they_are_persisted_on(profile: Any, clock: Clock) -> None:
    registry = MetricsRegistry()
    history = HealthHistory(profile.worker, registry, clock=clock)
    ok(registry, "x", 2)
    ok(registry, "tiktok", 1)
    run(history.persist())
    clock.now = datetime(2024, 5, 3, 0, 5, tzinfo=UTC).timestamp()
    ok(registry, "x", 5)
    run(history.persist())  # TikTok had no new call: no row for it on the 3rd

    days = run(history.days(date(2024, 5, 1), date(2024, 5, 3)))
    assert [(d.day, d.provider, d.calls) for d in days] == [
        (MAY_2, "tiktok", 1), (MAY_2, "x", 2), (date(2024, 5, 3), "x", 5)]
    assert run(history.days(date(2024, 5, 3), date(2024, 5, 3)))[0].calls == 5


def test_a_day_keeps_the_highest_rate_limit_use_the_latest_breaker_and_last_error(
        profile: Any, clock: Clock) -> None:
    registry = MetricsRegistry()
    history = HealthHistory(profile.worker, registry, clock=clock)
    metrics = registry.metrics_for("instagram")
    use, breaker = [0.8], ["open"]
    metrics.rate_limit_use = lambda: use[0]
    metrics.breaker_state = lambda: breaker[0]
    metrics.record(latency=None, attempts=1, error=RateLimited(30, provider="instagram"))
    run(history.persist())
    use[0], breaker[0] = 0.3, "closed"
    ok(registry, "instagram", 10, latency=0.2)
    run(history.persist())

    (day,) = run(history.days(MAY_2, MAY_2))
    assert day.rate_limit_use_max == pytest.approx(0.8)
    assert day.breaker == "closed"
    assert day.p50_ms == pytest.approx(200.0) and day.p99_ms == pytest.approx(200.0)
    # No new error in the second persist: the day's last error stays.
    assert day.last_error == "Instagram is limiting requests; try again in about 30 seconds."
    # When it happened, by the registry's own (real) clock.
    assert day.last_error_at is not None
    assert abs(day.last_error_at.timestamp() - time.time()) < 60


def test_a_last_error_is_stored_without_tokens(profile: Any, clock: Clock) -> None:
    registry = MetricsRegistry()
    history = HealthHistory(profile.worker, registry, clock=clock)
    unavailable(registry, "x", "X said: access_token=SECRETVALUE123 is not valid here.")
    registry.metrics_for("r2").record(latency=0.1, attempts=1,
                                      error=OSError("Bearer sk-proj-abcdefghijklmnopqrstuv"))
    run(history.persist())

    days = {d.provider: d for d in run(history.days(MAY_2, MAY_2))}
    assert days["x"].last_error == "X said: access_token=[REDACTED] is not valid here."
    assert days["r2"].last_error is not None and "sk-proj" not in days["r2"].last_error
    db = b"".join(p.read_bytes() for p in profile.data_dir.glob("*.db*"))
    assert b"SECRETVALUE123" not in db and b"sk-proj-abc" not in db


def test_the_session_history_keeps_each_sample_and_is_bounded(profile: Any,
                                                              clock: Clock) -> None:
    registry = MetricsRegistry()
    history = HealthHistory(profile.worker, registry, clock=clock)
    ok(registry, "openai", 4, latency=0.05)
    history.sample()
    clock.now += 5
    unavailable(registry, "openai")
    ok(registry, "openai", 1, latency=0.05)
    history.sample()

    first, second = history.session("openai")
    assert (first.calls, first.errors, first.error_rate, first.availability) == (4, 0, 0, 1)
    assert (second.calls, second.errors, second.new_calls, second.new_errors) == (6, 1, 2, 1)
    assert second.error_rate == pytest.approx(1 / 6, abs=1e-4)
    assert (second.at - first.at).total_seconds() == 5
    assert second.p50_ms == pytest.approx(50.0) and second.p99_ms == pytest.approx(500.0)
    assert history.session("tiktok") == []

    for _ in range(SESSION_SAMPLES + 10):
        clock.now += 5
        history.sample()
    samples = history.session("openai")
    assert len(samples) == SESSION_SAMPLES
    assert samples[-1].at == datetime.fromtimestamp(clock.now, UTC)


def test_the_table_shows_every_providers_figures_now(profile: Any, clock: Clock) -> None:
    registry = MetricsRegistry()
    history = HealthHistory(profile.worker, registry, clock=clock)
    ok(registry, "x", 19, latency=0.1)
    unavailable(registry, "x")
    x_metrics = registry.metrics_for("x")
    x_metrics.rate_limit, x_metrics.rate_limit_use = "300/15min", lambda: 0.25
    x_metrics.breaker_state = lambda: "half_open"
    ok(registry, "openai", 1, latency=1.2)

    openai, x = history.current()
    assert (openai.name, openai.calls, openai.p50_ms, openai.last_error) == (
        "OpenAI", 1, 1200.0, None)
    assert (x.name, x.calls, x.errors, x.unavailable, x.retries) == ("X", 20, 1, 1, 2)
    assert (x.p50_ms, x.p95_ms, x.p99_ms) == (100.0, 100.0, 500.0)
    assert x.error_rate == pytest.approx(0.05) and x.availability == pytest.approx(0.95)
    assert (x.rate_limit, x.rate_limit_use, x.breaker) == ("300/15min", 0.25, "half_open")
    assert x.last_error is not None and "HTTP 503" in x.last_error
    assert x.last_error_at is not None and x.last_error_at.tzinfo is not None
