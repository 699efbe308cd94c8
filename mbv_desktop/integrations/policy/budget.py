"""How long to wait before a retry, and whether a retry is allowed at all.

Backoff is "full jitter" (AWS Architecture Blog, *Exponential Backoff and Jitter*): before retry
``n`` (0-based) sleep ``uniform(0, min(max_delay, base_delay * 2**n))``; a provider's
``Retry-After`` is a floor on top of that.

The retry budget is the token bucket of gRPC proposal A6 (*Client-side retry throttling*): the
bucket starts full at ``max_tokens`` (10); every failed attempt that counts against the provider
(5xx, 408, 429, connection/timeout) takes 1 token, every successful call gives back
``token_ratio`` (0.1); retries are allowed only while more than half the bucket is left. So a
provider that fails everything gets a handful of retries and then only first attempts (1,000
calls → about 1,005 hits instead of 3,000), and about one call in ten may be retried in steady
state.

One addition for a desktop app, whose traffic is sparse: the bucket also refills slowly with
time (``refill_per_second``, default 0.1: one token per 10 s). Pure A6 refills only through
successes, so after an outage (all calls failing, bucket empty) about 50 successful calls would
be needed before any retry is allowed again; with the refill, retries come back after a quiet
minute. The extra retry load this allows is bounded by the refill rate, whatever the call rate.
Pass ``refill_per_second=0`` for strict A6.
"""

from __future__ import annotations

import random

from .clock import Clock

__all__ = ["RetryBudget", "full_jitter"]


def full_jitter(retry_index: int, *, base_delay: float, max_delay: float,
                rng: random.Random) -> float:
    """The sleep before retry ``retry_index`` (0 for the first retry), in seconds."""
    cap = min(max_delay, base_delay * (2.0 ** min(retry_index, 62)))
    return rng.uniform(0.0, cap) if cap > 0 else 0.0


class RetryBudget:
    """gRPC A6 retry throttling: ``max_tokens`` bucket, ``token_ratio`` back per success, plus
    ``refill_per_second`` back with time (0 for strict A6)."""

    __slots__ = ("_clock", "_last", "_tokens", "max_tokens", "refill_per_second", "token_ratio")

    def __init__(self, max_tokens: float = 10.0, token_ratio: float = 0.1, *,
                 refill_per_second: float = 0.0, clock: Clock | None = None) -> None:
        if max_tokens <= 0:
            raise ValueError("max_tokens must be positive")
        if refill_per_second > 0 and clock is None:
            raise ValueError("a time-based refill needs a clock")
        self.max_tokens = float(max_tokens)
        self.token_ratio = float(token_ratio)
        self.refill_per_second = float(refill_per_second)
        self._clock = clock
        self._tokens = float(max_tokens)
        self._last = clock.monotonic() if clock is not None else 0.0

    @property
    def tokens(self) -> float:
        """Tokens left now."""
        if self.refill_per_second > 0 and self._tokens < self.max_tokens:
            assert self._clock is not None
            now = self._clock.monotonic()
            self._tokens = min(self.max_tokens,
                               self._tokens + (now - self._last) * self.refill_per_second)
            self._last = now
        return self._tokens

    def on_success(self) -> None:
        """A call succeeded (the provider answered with something other than a failure)."""
        if self._tokens < self.max_tokens:
            self._tokens = min(self.max_tokens, self.tokens + self.token_ratio)

    def on_failure(self) -> None:
        """An attempt failed in a way that counts against the provider."""
        tokens = self.tokens
        if self._clock is not None:
            self._last = self._clock.monotonic()
        self._tokens = max(0.0, tokens - 1.0)

    def can_retry(self) -> bool:
        """Whether a retry may be sent now."""
        return self.tokens > self.max_tokens / 2.0
