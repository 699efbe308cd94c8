"""Time for the HTTP policy: the real clock, and a fake one whose sleeps return at once.

The policy reads time only through a :class:`Clock`, so tests can check every backoff delay and
deadline without waiting: :class:`FakeClock` records each sleep and moves virtual time forward.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """Monotonic time in seconds and an awaitable sleep."""

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """Virtual time for tests: ``sleep`` advances ``now`` instantly and records the duration.

    ``sleep`` still yields to the event loop once, so concurrent tasks interleave as they would.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move virtual time forward without sleeping (a cooldown passing, say)."""
        self.now += seconds
