"""Payments: the app's Stripe client (:mod:`.stripe`), what it returns (:mod:`.objects`,
:mod:`.invoices`, :mod:`.events`), its errors (:mod:`.errors`) and the webhook check
(:mod:`.webhooks`).

Importing this package does not import the ``stripe`` SDK; the first call does, on a worker
thread (:func:`load_sdk`).
"""

from .config import check_idempotency_key, stripe_policy
from .errors import (
    CardDeclined,
    CardNeedsAuthentication,
    IdempotencyKeyReused,
    StripeKeyRefused,
    StripeRejected,
)
from .events import EventPage, MeterEvent, StripeEvent, UsageSummary
from .invoices import Invoice, PreviewLine, ProrationPreview
from .objects import (
    CheckoutSession,
    Customer,
    Meter,
    MeteredPrice,
    PaymentMethod,
    Plan,
    PlanCatalog,
    PlanLimits,
    PortalSession,
    Subscription,
    SubscriptionItem,
)
from .sdk import load_sdk, pinned_api_version
from .stripe import StripeBillingClient
from .webhooks import WebhookRejected, verify_webhook

__all__ = [
    "CardDeclined",
    "CardNeedsAuthentication",
    "CheckoutSession",
    "Customer",
    "EventPage",
    "IdempotencyKeyReused",
    "Invoice",
    "Meter",
    "MeterEvent",
    "MeteredPrice",
    "PaymentMethod",
    "Plan",
    "PlanCatalog",
    "PlanLimits",
    "PortalSession",
    "PreviewLine",
    "ProrationPreview",
    "StripeBillingClient",
    "StripeEvent",
    "StripeKeyRefused",
    "StripeRejected",
    "Subscription",
    "SubscriptionItem",
    "UsageSummary",
    "WebhookRejected",
    "check_idempotency_key",
    "load_sdk",
    "pinned_api_version",
    "stripe_policy",
    "verify_webhook",
]
