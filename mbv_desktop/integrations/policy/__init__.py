"""Building blocks of the shared HTTP policy (:mod:`mbv_desktop.integrations.http`).

``clock`` (real and fake time), ``failures`` (classifying failures, ``Retry-After``, error
bodies, mapping to project errors), ``budget`` (retry token bucket and backoff), ``breaker``
(circuit breaker), ``metrics`` (per-provider metrics and the registry), ``ratelimit`` (the
client-side rate limit). Provider clients import from ``integrations.http``, not from here.
"""
