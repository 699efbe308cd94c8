"""Checking a forwarded Stripe webhook (``Stripe-Signature``) before anything acts on it.

The SDK's ``stripe.Webhook.construct_event`` checks the HMAC-SHA256 signature against every
``v1`` entry of the header (several appear while a secret is rolled) and rejects a timestamp
older than ``tolerance`` seconds. It does not reject one in the future, so a body signed with a
timestamp far ahead would stay "fresh" for as long as that: :func:`verify_webhook` adds that
check (``max_future_skew`` allows for clocks a little apart). Replays inside the tolerance are
the caller's to catch (events are deduplicated by id).
"""

from __future__ import annotations

import time
from typing import Any

from mbv_desktop.core.errors import InvalidInput, NotConfigured

from .errors import PROVIDER
from .events import StripeEvent, event_from
from .sdk import load_sdk

DEFAULT_TOLERANCE = 300
#: How far ahead of this computer's clock a signature's timestamp may be.
MAX_FUTURE_SKEW = 60.0

_SENTENCES = {
    "signature": "The Stripe event was not signed with this webhook secret, or was changed on "
                 "the way; it was ignored.",
    "stale": "The Stripe event was signed more than {tolerance} seconds ago (a replay or a "
             "stalled forwarder); it was ignored.",
    "future": "The Stripe event is signed with a time in the future; check this computer's "
              "clock. It was ignored.",
    "malformed": "The Stripe event is not a well-formed Stripe event; it was ignored.",
}


class WebhookRejected(InvalidInput):
    """A forwarded event failed the check. ``reason``: ``"signature"``, ``"stale"``,
    ``"future"`` or ``"malformed"``."""

    def __init__(self, reason: str, *, tolerance: int = DEFAULT_TOLERANCE) -> None:
        self.reason = reason
        super().__init__(_SENTENCES[reason].format(tolerance=tolerance))


def _signed_at(header: str) -> int | None:
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _signature_matches(sdk: Any, payload: bytes, header: str, secret: str) -> bool:
    try:
        sdk.WebhookSignature.verify_header(payload, header, secret, tolerance=None)
    except (sdk.SignatureVerificationError, ValueError):
        return False
    return True


def check_webhook(sdk: Any, payload: bytes, header: str | None, secret: str,
                  tolerance: int = DEFAULT_TOLERANCE, *,
                  max_future_skew: float = MAX_FUTURE_SKEW) -> StripeEvent:
    """:func:`verify_webhook` with the SDK already loaded (cheap: one HMAC)."""
    if not secret or not secret.strip():
        raise NotConfigured("The Stripe webhook signing secret is not set, so forwarded "
                            "events cannot be checked.", provider=PROVIDER)
    if not header:
        raise WebhookRejected("signature", tolerance=tolerance)
    try:
        event = sdk.Webhook.construct_event(bytes(payload), header, secret, tolerance)
    except sdk.SignatureVerificationError:
        reason = "stale" if _signature_matches(sdk, payload, header, secret) else "signature"
        raise WebhookRejected(reason, tolerance=tolerance) from None
    except (ValueError, TypeError, AttributeError):  # not UTF-8, JSON, an object or an event
        raise WebhookRejected("malformed", tolerance=tolerance) from None
    signed_at = _signed_at(header)
    if signed_at is not None and signed_at > time.time() + max_future_skew:
        raise WebhookRejected("future", tolerance=tolerance)
    parsed = event_from(event.to_dict(for_json=True))
    if not parsed.id or not parsed.type:
        raise WebhookRejected("malformed", tolerance=tolerance)
    return parsed


async def verify_webhook(payload: bytes, header: str | None, secret: str,
                         tolerance: int = DEFAULT_TOLERANCE, *,
                         max_future_skew: float = MAX_FUTURE_SKEW) -> StripeEvent:
    """The event in ``payload`` (the raw request body, exactly as received) when ``header``
    (``Stripe-Signature``) proves it was signed with ``secret`` within ``tolerance`` seconds
    and not more than ``max_future_skew`` seconds ahead; else :class:`WebhookRejected`."""
    sdk = await load_sdk()
    return check_webhook(sdk, payload, header, secret, tolerance,
                         max_future_skew=max_future_skew)
