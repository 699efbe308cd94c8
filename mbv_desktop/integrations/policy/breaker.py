"""A circuit breaker per provider client (Fowler, *CircuitBreaker*; Azure *Circuit Breaker*).

* **closed**: calls go through; ``failure_threshold`` consecutive failed attempts that count
  against the provider (5xx, 408, 429, connection/timeout; not other 4xx) open it.
* **open**: calls fail fast with :class:`~mbv_desktop.core.errors.CircuitOpen` and send nothing,
  for ``cooldown`` seconds or the provider's last ``Retry-After``, whichever is longer.
* **half-open**: after the cooldown exactly one caller is let through as a probe; everyone else
  keeps failing fast until the probe ends. Probe success closes the breaker, failure opens it again
  for another cooldown, and a probe that ends without a verdict (cancelled, a local error) lets the
  next caller probe.

Time comes from the client's :class:`~mbv_desktop.integrations.policy.clock.Clock`. Not
thread-safe: it lives on the client's event loop like the client itself.
"""

from __future__ import annotations

import logging
from typing import Literal

from mbv_desktop.core.errors import CircuitOpen

from .clock import Clock

__all__ = ["BreakerState", "CircuitBreaker"]

_log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed → open → half-open → closed, as described in the module docstring."""

    __slots__ = ("_clock", "_failures", "_open_until", "_probing", "_state", "cooldown",
                 "failure_threshold", "opened_count", "provider")

    def __init__(self, provider: str, *, failure_threshold: int = 5, cooldown: float = 30.0,
                 clock: Clock) -> None:
        self.provider = provider
        self.failure_threshold = max(1, failure_threshold)
        self.cooldown = cooldown
        self.opened_count = 0
        self._clock = clock
        self._state: BreakerState = "closed"
        self._failures = 0
        self._open_until = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cooldown has passed reads as half-open."""
        if self._state == "open" and self._clock.monotonic() >= self._open_until:
            return "half_open"
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0 when not open)."""
        if self._state != "open":
            return 0.0
        return max(0.0, self._open_until - self._clock.monotonic())

    def acquire(self) -> bool:
        """Ask to send one attempt. Returns ``True`` when the caller is the half-open probe.

        Raises :class:`CircuitOpen` (nothing may be sent) while open or while a probe is running.
        """
        state = self._state
        if state == "closed":
            return False
        if state == "open":
            wait = self._open_until - self._clock.monotonic()
            if wait > 0:
                raise CircuitOpen(wait, provider=self.provider)
            self._state = "half_open"
        if self._probing:
            raise CircuitOpen(self.cooldown, provider=self.provider)
        self._probing = True
        _log.info("%s: circuit half-open, sending one probe", self.provider)
        return True

    def allows_retry(self) -> bool:
        """Whether a call that just failed may try again (not once the breaker has opened)."""
        return self._state == "closed"

    def record_success(self, probe: bool) -> None:
        """The attempt got an answer that says the provider is working (2xx-3xx, most 4xx)."""
        if probe:
            self._probing = False
            self._state = "closed"
            self._failures = 0
            _log.info("%s: probe succeeded, circuit closed", self.provider)
        elif self._state == "closed":
            self._failures = 0

    def record_failure(self, probe: bool, retry_after: float | None = None) -> None:
        """The attempt failed in a way that counts against the provider."""
        if probe:
            self._probing = False
            self._trip(retry_after)
            return
        if self._state != "closed":
            return  # a late answer to a call sent before the breaker opened
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._trip(retry_after)

    def release(self, probe: bool) -> None:
        """The attempt ended without a verdict on the provider (cancelled, a local error)."""
        if probe:
            self._probing = False

    def reset(self) -> None:
        """Close the breaker (e.g. after the user changed the provider's settings)."""
        self._state = "closed"
        self._failures = 0
        self._probing = False

    def _trip(self, retry_after: float | None) -> None:
        wait = max(self.cooldown, retry_after or 0.0)
        self._state = "open"
        self._open_until = self._clock.monotonic() + wait
        self.opened_count += 1
        _log.info("%s: circuit opened (%s); pausing calls for %.1f s", self.provider,
                  "probe failed" if self._failures == 0 else f"{self._failures} failures in a row",
                  wait)
        self._failures = 0
