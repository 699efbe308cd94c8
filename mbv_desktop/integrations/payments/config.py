"""The Stripe client's settings and the checks it makes before sending anything: the shared
policy's Stripe variant, the ``stripe.api_base`` setting, idempotency keys and arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.integrations.http import ProviderPolicy

from ._json import Json
from .errors import PROVIDER

REQUEST_TIMEOUT = 10.0
NETWORK_RETRIES = 3
#: Stripe's idempotency keys are at most 255 characters.
MAX_IDEMPOTENCY_KEY = 255
#: Stripe's limit on a meter event's ``identifier``.
MAX_IDENTIFIER = 100
MAX_PAGES = 20
CHECKOUT_MODES = frozenset({"subscription", "setup", "payment"})
PRORATION_BEHAVIORS = frozenset({"always_invoice", "create_prorations", "none"})

V1 = Any  # the SDK's ``StripeClient.v1`` services
Call = Callable[[V1], Awaitable[Any]]


def stripe_policy(*, timeout: float = REQUEST_TIMEOUT) -> ProviderPolicy:
    """The shared policy for Stripe: 3 retries, 409 retried too (a request with the same key
    still running), and Stripe's test-mode rate of 25 requests per second."""
    return ProviderPolicy(PROVIDER, timeout=timeout, max_attempts=1 + NETWORK_RETRIES,
                          deadline=45.0, rate_limit=(25, 1.0),
                          retry_statuses=frozenset({408, 409, 429, 500, 502, 503, 504}))


def normalise_api_base(api_base: str) -> str:
    """``https://api.stripe.com`` from the setting (a trailing ``/`` or ``/v1`` is dropped)."""
    base = (api_base or "").strip().rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    parts = urlsplit(base)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query:
        raise InvalidInput("stripe.api_base must be an http(s) address such as "
                           "https://api.stripe.com.")
    return base


def check_idempotency_key(key: object, operation: str) -> str:
    """The caller's idempotency key, or :class:`InvalidInput` when there is none usable."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"Every change sent to Stripe needs an idempotency key stored with "
                           f"its intent first; none was given for {operation}.")
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise InvalidInput(f"A Stripe idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} "
                           "printable ASCII characters.")
    return key


def search_quote(value: str) -> str:
    """A value inside single quotes in Stripe's search query language."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def plain(result: Any) -> Json:
    """An SDK result as plain JSON types (``StripeObject`` is not a dict)."""
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict(for_json=True))
    return dict(result) if isinstance(result, Mapping) else {}


def segment(value: str) -> str:
    """An id as one URL path segment."""
    return quote(value, safe="")


def required(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"A Stripe {what} is needed here.")
    return value.strip()


def web_address(url: str, what: str) -> str:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise InvalidInput(f"The {what} must be an http(s) address.")
    return url
