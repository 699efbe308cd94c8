"""Integration health over time, from the integration layer's per-provider metrics
(``MetricsRegistry``): the figures now, a history over this session, and daily aggregates kept
in the database (``provider_health_days``).

The registry's counters start at zero each time the app starts. :meth:`HealthHistory.persist`
therefore adds only what changed since its previous call (or since the registry started) to
today's row per provider, so persisting often, or restarting the app, never counts a call twice;
a day's totals carry on across restarts.

Approximations, chosen to keep the hot path free of work:

* Counts since the previous persist go to the UTC day of the persist, so a call just before
  midnight may land on the next day (persist every minute or so and the error is that small).
* A day's latency percentiles are those of the registry's window (the last 1,000 calls that
  reached the provider) at the day's last persist, not over every call of the day.
* The breaker state is the one at the day's last persist; the rate-limit use is the highest
  seen at any persist; the last error is the latest one of the day.

Last-error texts come from the registry, which keeps only sentences safe to show; they are
passed through ``redact`` once more before they are stored, so no token is ever written.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from mbv_desktop.core.errors import InvalidInput, provider_display_name
from mbv_desktop.core.redaction import redact
from mbv_desktop.integrations.policy.metrics import MetricsRegistry
from mbv_desktop.store.provider_health import HealthDay, HealthDelta, ProviderHealthRepository
from mbv_desktop.store.worker import StoreWorker

__all__ = ["SESSION_SAMPLES", "HealthDay", "HealthHistory", "HealthSample", "ProviderHealthRow"]

#: Samples kept per provider for the session chart (an hour at one sample every 5 s).
SESSION_SAMPLES = 720
LAST_ERROR_MAX = 300


@dataclass(frozen=True)
class HealthSample:
    """One provider's figures at one moment of this session (counts are since app start)."""

    at: datetime
    calls: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    availability: float
    rate_limit_use: float | None
    breaker: str
    new_calls: int  # since the previous sample
    new_errors: int


@dataclass(frozen=True)
class ProviderHealthRow:
    """One provider's health now, as the health table shows it."""

    provider: str
    name: str  # as a person knows it ("OpenAI", "X")
    calls: int
    errors: int
    error_rate: float
    unavailable: int
    retries: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    latency_samples: int
    availability: float
    rate_limit: str | None  # the limit as configured, e.g. "300/15min"
    rate_limit_use: float | None  # share of the limit in use now (0…1)
    breaker: str  # closed | open | half_open
    last_error: str | None
    last_error_at: datetime | None
    cost_usd: float


@dataclass(frozen=True)
class _Counters:
    """A provider's registry counters at the previous persist."""

    calls: int = 0
    errors: int = 0
    unavailable: int = 0
    retries: int = 0
    last_error: str | None = None
    last_error_at: str | None = None


def _since(now: int, before: int) -> int:
    # A counter below its previous value was reset (a new registry): all of it is new.
    return now - before if now >= before else now


def _error_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


class HealthHistory:
    def __init__(self, worker: StoreWorker, registry: MetricsRegistry, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._worker = worker
        self._registry = registry
        self._clock = clock
        self._session: dict[str, deque[HealthSample]] = {}
        self._persisted: dict[str, _Counters] = {}
        self._persist_lock = asyncio.Lock()

    def _snapshot(self) -> dict[str, tuple[dict[str, Any], int]]:
        """``{provider: (snapshot, unavailable count)}``: the snapshot gives availability only
        as a rounded share, the count comes from the metrics themselves."""
        out: dict[str, tuple[dict[str, Any], int]] = {}
        for name, snap in self._registry.snapshot_all().items():
            metrics = self._registry.get(name)
            out[name] = (snap, metrics.unavailable if metrics is not None else 0)
        return out

    # --- the session ----------------------------------------------------------------------

    def sample(self) -> None:
        """Records every provider's figures now in the session history."""
        at = datetime.fromtimestamp(self._clock(), UTC)
        for name, (snap, _) in self._snapshot().items():
            history = self._session.setdefault(name, deque(maxlen=SESSION_SAMPLES))
            previous = history[-1] if history else None
            latency = snap["latency_ms"]
            history.append(HealthSample(
                at=at, calls=snap["calls"], errors=snap["errors"], error_rate=snap["error_rate"],
                p50_ms=latency["p50"], p95_ms=latency["p95"], p99_ms=latency["p99"],
                availability=snap["availability"], rate_limit_use=snap["rate_limit_use"],
                breaker=snap["breaker"],
                new_calls=_since(snap["calls"], previous.calls if previous else 0),
                new_errors=_since(snap["errors"], previous.errors if previous else 0)))

    def session(self, provider: str) -> list[HealthSample]:
        """The provider's samples this session, oldest first (at most SESSION_SAMPLES)."""
        return list(self._session.get(provider, ()))

    def current(self) -> list[ProviderHealthRow]:
        """Every provider the app has a client for, by name, with its figures now."""
        rows = []
        for name, (snap, unavailable) in self._snapshot().items():
            latency = snap["latency_ms"]
            rows.append(ProviderHealthRow(
                provider=name, name=provider_display_name(name), calls=snap["calls"],
                errors=snap["errors"], error_rate=snap["error_rate"], unavailable=unavailable,
                retries=snap["retries"], p50_ms=latency["p50"], p95_ms=latency["p95"],
                p99_ms=latency["p99"], latency_samples=snap["latency_samples"],
                availability=snap["availability"], rate_limit=snap["rate_limit"],
                rate_limit_use=snap["rate_limit_use"], breaker=snap["breaker"],
                last_error=snap["last_error"], last_error_at=_error_time(snap["last_error_at"]),
                cost_usd=snap["cost"]))
        return rows

    # --- the days -------------------------------------------------------------------------

    async def persist(self) -> None:
        """Adds what happened since the previous persist to today's row per provider (UTC).

        A provider with no new call and no new error is not written. If the write fails,
        nothing is marked as persisted, so the next persist carries it.
        """
        async with self._persist_lock:  # two at once would both add the same counts
            day = datetime.fromtimestamp(self._clock(), UTC).date()
            deltas: list[HealthDelta] = []
            counters: dict[str, _Counters] = {}
            for name, (snap, unavailable) in self._snapshot().items():
                delta, now = self._delta(day, name, snap, unavailable)
                counters[name] = now
                if delta is not None:
                    deltas.append(delta)
            if deltas:
                await self._worker.call(lambda c: _add_all(c, deltas))
            self._persisted.update(counters)

    def _delta(self, day: date, name: str, snap: dict[str, Any], unavailable: int
               ) -> tuple[HealthDelta | None, _Counters]:
        before = self._persisted.get(name, _Counters())
        now = _Counters(snap["calls"], snap["errors"], unavailable, snap["retries"],
                        snap["last_error"], snap["last_error_at"])
        calls, errors = _since(now.calls, before.calls), _since(now.errors, before.errors)
        retries = _since(now.retries, before.retries)
        new_error = now.last_error is not None and (
            errors > 0 or (now.last_error, now.last_error_at)
            != (before.last_error, before.last_error_at))
        if not (calls or errors or retries or new_error):
            return None, now
        latency = snap["latency_ms"]
        last_error = redact(now.last_error or "")[:LAST_ERROR_MAX] if new_error else None
        error_at = None
        if last_error:
            error_at = _error_time(now.last_error_at) or datetime.fromtimestamp(self._clock(), UTC)
        return HealthDelta(
            day=day, provider=name, calls=calls, errors=errors,
            unavailable=_since(now.unavailable, before.unavailable), retries=retries,
            p50_ms=latency["p50"], p95_ms=latency["p95"], p99_ms=latency["p99"],
            rate_limit_use=snap["rate_limit_use"], breaker=snap["breaker"],
            last_error=last_error or None, last_error_at=error_at), now

    async def days(self, start: date, end: date) -> list[HealthDay]:
        """The stored daily rows from ``start`` to ``end`` (both included), by day then
        provider."""
        if end < start:
            raise InvalidInput(f"The period cannot end ({end.isoformat()}) before it starts "
                               f"({start.isoformat()}).")
        return await self._worker.call(lambda c: ProviderHealthRepository(c).days(start, end),
                                       write=False)


def _add_all(conn: sqlite3.Connection, deltas: list[HealthDelta]) -> None:
    repo = ProviderHealthRepository(conn)
    for delta in deltas:
        repo.add(delta)
