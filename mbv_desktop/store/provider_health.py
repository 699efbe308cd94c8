"""Daily integration-health aggregates (``provider_health_days``, schema v8): one row per
provider per UTC day, added to as sessions go by.

Counters are added (each write carries only what happened since the previous one), the
rate-limit use keeps its maximum, and the breaker state, the latency percentiles and the last
error keep the latest value given (a write without one keeps the stored one).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from mbv_desktop.core.drafts import format_time, parse_time


@dataclass(frozen=True)
class HealthDelta:
    """What one write adds to a provider's row for ``day``."""

    day: date
    provider: str
    calls: int = 0
    errors: int = 0
    unavailable: int = 0
    retries: int = 0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    rate_limit_use: float | None = None
    breaker: str | None = None
    last_error: str | None = None  # already redacted: never a token
    last_error_at: datetime | None = None


@dataclass(frozen=True)
class HealthDay:
    """One provider's health over one UTC day."""

    day: date
    provider: str
    calls: int
    errors: int
    unavailable: int
    retries: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rate_limit_use_max: float | None  # the highest share of the rate limit in use (0…1)
    breaker: str | None  # the breaker state at the day's last write
    last_error: str | None
    last_error_at: datetime | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def availability(self) -> float:
        """Share of calls that did not fail with a 5xx, a broken connection or an open
        breaker (1.0 on a day without calls)."""
        return 1.0 - self.unavailable / self.calls if self.calls else 1.0


def _day(r: Any) -> HealthDay:
    return HealthDay(date.fromisoformat(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                     r[9], r[10], r[11], parse_time(r[12]) if r[12] else None)


class ProviderHealthRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, delta: HealthDelta) -> None:
        """Folds ``delta`` into its day's row (the caller's transaction)."""
        at = format_time(delta.last_error_at) if delta.last_error_at is not None else None
        self._conn.execute(
            "INSERT INTO provider_health_days (day, provider, calls, errors, unavailable,"
            " retries, p50_ms, p95_ms, p99_ms, rate_limit_use_max, breaker, last_error,"
            " last_error_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (day, provider) DO UPDATE SET"
            " calls = calls + excluded.calls, errors = errors + excluded.errors,"
            " unavailable = unavailable + excluded.unavailable,"
            " retries = retries + excluded.retries,"
            " p50_ms = coalesce(excluded.p50_ms, p50_ms),"
            " p95_ms = coalesce(excluded.p95_ms, p95_ms),"
            " p99_ms = coalesce(excluded.p99_ms, p99_ms),"
            # SQLite's max() of several values is NULL if any is: coalesce each side first.
            " rate_limit_use_max = max(coalesce(rate_limit_use_max, excluded.rate_limit_use_max),"
            "   coalesce(excluded.rate_limit_use_max, rate_limit_use_max)),"
            " breaker = coalesce(excluded.breaker, breaker),"
            " last_error = CASE WHEN excluded.last_error IS NULL THEN last_error"
            "   ELSE excluded.last_error END,"
            " last_error_at = CASE WHEN excluded.last_error IS NULL THEN last_error_at"
            "   ELSE excluded.last_error_at END",
            (delta.day.isoformat(), delta.provider, delta.calls, delta.errors, delta.unavailable,
             delta.retries, delta.p50_ms, delta.p95_ms, delta.p99_ms, delta.rate_limit_use,
             delta.breaker, delta.last_error, at))

    def days(self, start: date, end: date) -> list[HealthDay]:
        """Rows from ``start`` to ``end`` (both included), by day then provider."""
        return [_day(r) for r in self._conn.execute(
            "SELECT day, provider, calls, errors, unavailable, retries, p50_ms, p95_ms, p99_ms,"
            " rate_limit_use_max, breaker, last_error, last_error_at FROM provider_health_days"
            " WHERE day >= ? AND day <= ? ORDER BY day, provider",
            (start.isoformat(), end.isoformat()))]
