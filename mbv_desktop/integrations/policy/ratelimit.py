"""The client-side rate limit of one provider (e.g. X: 300 posts per 15 minutes).

Wraps :class:`aiolimiter.AsyncLimiter` (a leaky bucket that allows a burst of ``max_rate`` and
then ``max_rate / period`` per second) and adds two things the policy needs:

* :meth:`RateGate.estimated_wait` — roughly how long a new caller would queue, so a call that would
  wait longer than the policy allows fails at once with ``RateLimited`` (nothing sent) instead of
  blocking; an outbox reschedules it.
* :meth:`RateGate.use` — the share of the window's capacity used: requests let through during the
  last ``period`` seconds (of the client's clock) divided by ``max_rate``.

The limiter itself waits in event-loop time, not the client's :class:`Clock`.
"""

from __future__ import annotations

from collections import deque

from aiolimiter import AsyncLimiter

from .clock import Clock

__all__ = ["RateGate"]


class RateGate:
    """``max_rate`` requests per ``period`` seconds for one provider client."""

    __slots__ = ("_clock", "_limiter", "_sent", "_waiting", "max_rate", "period")

    def __init__(self, max_rate: int, period: float, *, clock: Clock) -> None:
        if max_rate <= 0 or period <= 0:
            raise ValueError("a rate limit needs a positive number of requests and period")
        self.max_rate = max_rate
        self.period = period
        self._clock = clock
        self._limiter = AsyncLimiter(max_rate, period)
        self._waiting = 0
        self._sent: deque[float] = deque(maxlen=max(1, 2 * max_rate))

    def estimated_wait(self) -> float:
        """Seconds a caller arriving now would wait (0 when there is capacity). Needs a loop."""
        if self._waiting == 0 and self._limiter.has_capacity():
            return 0.0
        return (self._waiting + 1) * self.period / self.max_rate

    async def acquire(self) -> None:
        """Wait for capacity for one request."""
        self._waiting += 1
        try:
            await self._limiter.acquire()
        finally:
            self._waiting -= 1
        self._sent.append(self._clock.monotonic())

    def use(self) -> float:
        """Share of the current window's capacity used, from 0.0 (idle) to 1.0 (exhausted)."""
        cutoff = self._clock.monotonic() - self.period
        sent = self._sent
        while sent and sent[0] <= cutoff:
            sent.popleft()
        return min(1.0, len(sent) / self.max_rate)

    def describe(self) -> str:
        """``"300 per 900 s"``."""
        return f"{self.max_rate} per {self.period:g} s"
