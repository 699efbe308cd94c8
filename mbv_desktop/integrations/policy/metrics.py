"""Per-provider metrics and the registry that collects them for the health view and ``doctor``.

:class:`ProviderMetrics` counts logical calls (one ``request``/``stream``/``run``, however many
attempts it took), their errors and retries, keeps the latency of the last ``window`` calls that
reached the provider (a bounded deque; percentiles are computed only when a snapshot is taken, by
sorting a copy: nothing heavy on the hot path), availability (share of calls that did not fail
with a 5xx, a connection failure or an open breaker), the client's breaker state and rate-limit
use, the last error sentence, and the total cost of successful calls.

:class:`MetricsRegistry` maps provider names to their metrics; the composition root makes one and
passes it to every :class:`~mbv_desktop.integrations.http.ProviderClient`. Two clients of the same
provider given the same registry share one ``ProviderMetrics``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mbv_desktop.core.errors import MbvError
from mbv_desktop.core.redaction import redact

__all__ = ["MetricsRegistry", "ProviderMetrics", "percentile"]


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (``fraction`` 0.5 for p50), or ``None``."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class ProviderMetrics:
    """Counters and a latency window for one provider. ``snapshot()`` is JSON-friendly."""

    def __init__(self, provider: str, *, window: int = 1000) -> None:
        self.provider = provider
        self.calls = 0
        self.errors = 0
        self.unavailable = 0
        self.retries = 0
        self.attempts = 0
        self.cost = 0.0
        self.last_error: str | None = None
        self.last_error_at: float | None = None  # wall-clock epoch seconds
        self.latencies: deque[float] = deque(maxlen=max(1, window))
        #: Set by the owning client: the breaker state and rate-limit use at snapshot time.
        self.breaker_state: Callable[[], str] | None = None
        self.rate_limit_use: Callable[[], float] | None = None
        self.rate_limit: str | None = None

    def record(self, *, latency: float | None, attempts: int, error: BaseException | None = None,
               unavailable: bool = False, cost: float = 0.0) -> None:
        """One logical call ended. ``latency`` is ``None`` when nothing reached the provider."""
        self.calls += 1
        self.attempts += attempts
        if attempts > 1:
            self.retries += attempts - 1
        if latency is not None:
            self.latencies.append(latency)
        if error is None:
            if cost:
                self.cost += cost
            return
        self._note_error(error, unavailable)

    def record_late_error(self, error: BaseException, *, unavailable: bool) -> None:
        """A call already counted as successful failed afterwards (a stream broke mid-body)."""
        self._note_error(error, unavailable)

    def _note_error(self, error: BaseException, unavailable: bool) -> None:
        self.errors += 1
        if unavailable:
            self.unavailable += 1
        if isinstance(error, MbvError):
            self.last_error = str(error)
        else:  # not one of ours: its text is not known to be safe to show
            self.last_error = redact(f"{type(error).__name__}: {error}")[:300]
        self.last_error_at = time.time()

    def add_cost(self, amount: float) -> None:
        """Add a cost known only after the response was read (e.g. tokens used × price)."""
        self.cost += amount

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0

    @property
    def availability(self) -> float:
        return 1.0 - self.unavailable / self.calls if self.calls else 1.0

    def latency_percentiles(self) -> dict[str, float | None]:
        """p50/p95/p99 in milliseconds over the window (``None`` with no samples)."""
        ordered = sorted(self.latencies)
        out: dict[str, float | None] = {}
        for label, fraction in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
            value = percentile(ordered, fraction)
            out[label] = None if value is None else round(value * 1000.0, 3)
        return out

    def snapshot(self) -> dict[str, Any]:
        """Every figure as plain JSON types."""
        at = (datetime.fromtimestamp(self.last_error_at, UTC).isoformat(timespec="seconds")
              if self.last_error_at is not None else None)
        use = self.rate_limit_use() if self.rate_limit_use is not None else None
        return {
            "provider": self.provider,
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "retries": self.retries,
            "attempts": self.attempts,
            "latency_ms": self.latency_percentiles(),
            "latency_samples": len(self.latencies),
            "availability": round(self.availability, 4),
            "rate_limit": self.rate_limit,
            "rate_limit_use": None if use is None else round(use, 4),
            "breaker": self.breaker_state() if self.breaker_state is not None else "closed",
            "last_error": self.last_error,
            "last_error_at": at,
            "cost": round(self.cost, 6),
        }


class MetricsRegistry:
    """All providers' metrics, by provider name."""

    def __init__(self) -> None:
        self._metrics: dict[str, ProviderMetrics] = {}

    def metrics_for(self, provider: str, *, window: int = 1000) -> ProviderMetrics:
        """The provider's metrics, created on first use."""
        metrics = self._metrics.get(provider)
        if metrics is None:
            metrics = self._metrics[provider] = ProviderMetrics(provider, window=window)
        return metrics

    def get(self, provider: str) -> ProviderMetrics | None:
        return self._metrics.get(provider)

    def providers(self) -> list[str]:
        return sorted(self._metrics)

    def snapshot_all(self) -> dict[str, dict[str, Any]]:
        """``{provider: snapshot}`` for every provider, sorted by name."""
        return {name: self._metrics[name].snapshot() for name in sorted(self._metrics)}
