"""The Stripe emulator: billing on Stripe's v1 API, as the official ``stripe`` SDK speaks it.

Mounted by the host at ``/stripe``; the SDK is pointed at it with
``StripeClient(key, base_addresses={"api": "http://127.0.0.1:PORT/stripe"})`` and calls
``/v1/...`` below that, like ``https://api.stripe.com``. Keys: any ``sk_test_…``
(``SandboxHost.issue_key("stripe")`` mints one). Requests are form-encoded with bracketed keys
(literal or ``%5B``/``%5D``); answers are JSON with Stripe's ``Request-Id``.

API (today's shapes, API version ``2026-10-28.endive``)::

    GET    /v1/products[/{id}]                    the plans (see catalog.py)
    GET    /v1/prices[/{id}]                      active, product, lookup_keys[], type, currency,
                                                  recurring[...]
    GET    /v1/billing/meters[/{id}]              the usage meters
    GET    /v1/billing/meters/{id}/event_summaries   customer, start_time, end_time,
                                                  value_grouping_window
    POST   /v1/billing/meter_events               event_name, payload[...], identifier, timestamp
    POST   /v1/customers   GET /v1/customers[?email=]   GET /v1/customers/search?query=
    GET|POST|DELETE /v1/customers/{id}            (invoice_settings[default_payment_method])
    GET    /v1/customers/{id}/payment_methods[/{pm}]    GET /v1/payment_methods[?customer=]
    GET    /v1/payment_methods/{id}   POST /v1/payment_methods/{id}/attach|detach
    POST   /v1/checkout/sessions   GET /v1/checkout/sessions[/{id}[/line_items]]
    POST   /v1/checkout/sessions/{id}/expire
    POST   /v1/billing_portal/sessions
    POST   /v1/subscriptions   GET /v1/subscriptions   GET|POST|DELETE /v1/subscriptions/{id}
    POST   /v1/invoices/create_preview   GET /v1/invoices[/{id}[/lines]]
    GET    /v1/setup_intents/{id}   GET /v1/payment_intents/{id}
    GET    /v1/events[/{id}]                      limit, starting_after, ending_before, type,
                                                  types[], created

The hosted pages (Checkout ``{base}/checkout/pay/{cs}``, portal, invoice and PDF), the JSON pay
helper, webhook registration and the clock are described in ``control.py``; each module's
docstring holds its own rules (``checkout.py``: test cards and what paying does;
``subscriptions.py``: periods, prorations, renewals; ``invoices.py``: tax and credit;
``meters.py``: identifier dedupe and timestamps; ``events.py``; ``webhooks.py``: signing and
retries; ``api.py``: auth and idempotency; ``errors.py``: error bodies and fault replies).
State lives in ``stripe.sqlite3`` in the sandbox's state directory and survives a restart;
webhook endpoints do not.

Where today's API differs from the 2023-09-12 OpenAPI spec in ``shared/specs/stripe`` (the
emulator follows today's API; ``tests/integration/test_sandbox_stripe.py`` validates answers
against that spec with exactly these exceptions):

* subscriptions: ``current_period_start``/``_end`` moved from the subscription to each item
  (API 2025-03-31.basil); ``billing_mode`` and ``invoice_settings.issuer`` are newer;
* invoices: ``paid``, ``paid_out_of_band``, ``subscription`` and ``total_tax_amounts`` are gone
  (``status``, ``parent.subscription_details.subscription`` and ``total_taxes`` instead); the
  preview endpoint is ``POST /v1/invoices/create_preview`` (``GET /v1/invoices/upcoming`` was
  removed in basil and is not emulated); a line's ``price``, ``plan``, ``proration`` and
  ``type`` moved to ``pricing.price_details`` and ``parent.subscription_item_details``;
* checkout sessions: ``ui_mode`` (newer than the spec) is ``hosted_page``;
* products: ``features`` became ``marketing_features``; prices: ``recurring.aggregate_usage``
  is gone and ``recurring.meter`` is new;
* billing meters, meter events and meter event summaries are not in the 2023 spec at all
  (their shapes follow the SDK's types and Stripe's API reference).
"""

from __future__ import annotations

from mbv_desktop.sandbox.common import EmulatorSpec
from mbv_desktop.sandbox.stripe.api import create_app
from mbv_desktop.sandbox.stripe.errors import fault_reply

__all__ = ["SPEC", "create_app", "fault_reply"]

SPEC = EmulatorSpec("stripe", "/stripe", create_app, "", fault_reply,
                    key_prefix="sk_test_sandbox_")
"""The host's registry entry: mounted at ``/stripe``, base URL ``http://127.0.0.1:PORT/stripe``
(the SDK's ``api`` base address; paths ``/v1/...`` below it as on the real API)."""
