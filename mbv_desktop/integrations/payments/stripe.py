"""The app's Stripe client, on the official ``stripe`` SDK (async calls only): plans,
customers, Checkout and the Customer Portal, subscriptions (proration previews, plan changes,
cancel and resume), payment methods, invoices, usage metering, events and forwarded webhooks.

How each call is sent (configuration, the one retry layer, the idempotency-key rule, errors)
is :mod:`.transport`'s. Here: every method that changes something at Stripe takes ``key``, the
idempotency key the billing service stored with its intent before calling; reads take none.
The one read-only POST, the proration preview, uses a key derived from its question. Results
are plain dataclasses (:mod:`.objects`, :mod:`.invoices`, :mod:`.events`), never
``StripeObject``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mbv_desktop.core.errors import InvalidInput

from .config import (
    CHECKOUT_MODES,
    MAX_IDENTIFIER,
    PRORATION_BEHAVIORS,
    required,
    search_quote,
    segment,
    web_address,
)
from .events import (
    EventPage,
    MeterEvent,
    StripeEvent,
    UsageSummary,
    event_page_from,
    meter_event_from,
    usage_total,
)
from .invoices import Invoice, ProrationPreview, invoice_from, preview_from
from .objects import (
    APP_USER_KEY,
    CheckoutSession,
    Customer,
    Meter,
    PaymentMethod,
    PlanCatalog,
    PortalSession,
    Subscription,
    catalog_from,
    checkout_session_from,
    customer_from,
    meter_from,
    payment_method_from,
    portal_session_from,
    subscription_from,
)
from .transport import StripeTransport
from .webhooks import DEFAULT_TOLERANCE, MAX_FUTURE_SKEW, verify_webhook


class StripeBillingClient(StripeTransport):
    """Stripe billing for one secret key: ``StripeBillingClient(api_base, secret_key,
    client=None, registry=None, timeout=10.0)``; call :meth:`aclose` when done. ``client``
    lets the caller supply the policy client (shared metrics registry, a fake clock in tests);
    otherwise one is made with :func:`.config.stripe_policy` and ``registry``."""

    # --- plans and customers ---------------------------------------------------------------------

    async def list_plans(self) -> PlanCatalog:
        """Active products with their active recurring prices: the plans (limits from product
        metadata ``ai_generations``, ``connected_accounts``, ``storage_gb``) in the products'
        ``tier`` order (else cheapest first), and the metered prices."""
        # One after the other: after an outage the circuit breaker lets a single probe
        # through, and a second request beside it would fail the refresh that follows.
        products = await self._list_all("product", "GET /v1/products", "/v1/products",
                                        {"active": True})
        prices = await self._list_all("price", "GET /v1/prices", "/v1/prices",
                                      {"active": True, "type": "recurring"})
        return catalog_from(products, prices)

    async def list_meters(self) -> list[Meter]:
        """The billing meters (usage is recorded by ``event_name``, summed by meter id)."""
        items = await self._list_all("meter", "GET /v1/billing/meters", "/v1/billing/meters",
                                     {})
        return [meter_from(item) for item in items]

    async def find_customer(self, app_user_id: str) -> Customer | None:
        """The customer made for this app user (metadata ``app_user_id``), the oldest if a
        crash ever made two; ``None`` when there is none. Stripe's search sees a new customer
        within about a minute: right after creating one, rely on the idempotency key."""
        user = required(app_user_id, "app user id")
        query = f"metadata['{APP_USER_KEY}']:'{search_quote(user)}'"
        body = await self._get("customer", "GET /v1/customers/search", "/v1/customers/search",
                               {"query": query, "limit": 100})
        found = [customer_from(item) for item in body.get("data") or ()
                 if isinstance(item, Mapping) and not item.get("deleted")]
        mine = [c for c in found if c.app_user_id == user]
        return min(mine, key=lambda c: (c.created, c.id)) if mine else None

    async def create_customer(self, app_user_id: str, email: str, name: str,
                              key: str) -> Customer:
        """A customer tied to the app user by metadata ``app_user_id`` (``key``: the intent's
        idempotency key, so a retry after a crash returns the same customer)."""
        params: dict[str, Any] = {"email": email or None, "name": name or None,
                                  "metadata": {APP_USER_KEY: required(app_user_id,
                                                                      "app user id")}}
        body = await self._post("customer", "POST /v1/customers", key,
                                lambda v1, o: v1.customers.create_async(params=params,
                                                                        options=o))
        return customer_from(body)

    # --- Checkout and the portal -----------------------------------------------------------------

    async def create_checkout_session(
        self, mode: str, customer: str, price: str | None, success_url: str, cancel_url: str,
        key: str, *, automatic_tax: bool = True, client_reference_id: str | None = None,
        metered_price: str | None = None, currency: str = "usd",
        metered_prices: Sequence[str] = (),
    ) -> CheckoutSession:
        """A Stripe-hosted Checkout page: ``subscription`` mode for ``price`` (plus
        ``metered_price``, billed by usage), ``setup`` mode to add a card (``price`` None).
        Automatic tax has Checkout collect the address and saves it on the customer."""
        if mode not in CHECKOUT_MODES:
            raise InvalidInput(f"'{mode}' is not a Checkout mode (subscription, setup, payment).")
        if (price is None) != (mode == "setup"):
            raise InvalidInput("A Checkout page in setup mode takes no price; the other modes "
                               "need one.")
        params: dict[str, Any] = {
            "mode": mode, "customer": required(customer, "customer"),
            "success_url": web_address(success_url, "success address"),
            "cancel_url": web_address(cancel_url, "cancel address"),
        }
        if price is not None:
            items: list[dict[str, Any]] = [{"price": price, "quantity": 1}]
            for metered in ([metered_price] if metered_price else []) + list(metered_prices):
                items.append({"price": metered})  # metered: no quantity
            params["line_items"] = items
        if mode == "setup":
            params["currency"] = currency
        elif automatic_tax:
            params["automatic_tax"] = {"enabled": True}
            params["customer_update"] = {"address": "auto"}
        if client_reference_id:
            params["client_reference_id"] = client_reference_id
        body = await self._post("checkout session", "POST /v1/checkout/sessions", key,
                                lambda v1, o: v1.checkout.sessions.create_async(params=params,
                                                                                options=o))
        return checkout_session_from(body)

    async def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        sid = required(session_id, "Checkout session id")
        body = await self._get("checkout session", "GET /v1/checkout/sessions/{id}",
                               f"/v1/checkout/sessions/{segment(sid)}")
        return checkout_session_from(body)

    async def expire_checkout_session(self, session_id: str, key: str) -> CheckoutSession:
        """Closes an open Checkout page so it can no longer be paid (Stripe refuses once the
        session is complete)."""
        sid = required(session_id, "Checkout session id")
        body = await self._post("checkout session", "POST /v1/checkout/sessions/{id}/expire",
                                key, lambda v1, o: v1.checkout.sessions.expire_async(
                                    sid, options=o))
        return checkout_session_from(body)

    async def create_portal_session(self, customer: str, return_url: str,
                                    key: str) -> PortalSession:
        params = {"customer": required(customer, "customer"),
                  "return_url": web_address(return_url, "return address")}
        body = await self._post("customer", "POST /v1/billing_portal/sessions", key,
                                lambda v1, o: v1.billing_portal.sessions.create_async(
                                    params=params, options=o))
        return portal_session_from(body)

    # --- subscriptions ---------------------------------------------------------------------------

    async def get_subscription(self, subscription: str) -> Subscription:
        sid = required(subscription, "subscription id")
        body = await self._get("subscription", "GET /v1/subscriptions/{id}",
                               f"/v1/subscriptions/{segment(sid)}")
        return subscription_from(body)

    async def list_subscriptions(self, customer: str, *,
                                 status: str = "all") -> list[Subscription]:
        """The customer's subscriptions, newest first (``status="all"`` includes canceled)."""
        params = {"customer": required(customer, "customer"), "status": status}
        items = await self._list_all("customer", "GET /v1/subscriptions", "/v1/subscriptions",
                                     params)
        return [subscription_from(item) for item in items]

    async def preview_change(self, subscription: str, new_price: str, *,
                             proration_behavior: str = "always_invoice",
                             proration_date: int | None = None) -> ProrationPreview:
        """What moving the subscription's plan to ``new_price`` would cost now."""
        if proration_behavior not in PRORATION_BEHAVIORS:
            raise InvalidInput(f"'{proration_behavior}' is not a proration behaviour.")
        current = await self.get_subscription(subscription)
        item = current.plan_item
        if item is None:
            raise InvalidInput("This subscription has no plan to change.")
        date = int(proration_date if proration_date is not None else time.time())
        params: dict[str, Any] = {
            "customer": current.customer, "subscription": current.id,
            "subscription_details": {"items": [{"id": item.id, "price": new_price}],
                                     "proration_behavior": proration_behavior,
                                     "proration_date": date},
        }
        # Read-only, but a POST: a key derived from the question keeps retries identical.
        digest = hashlib.sha256(f"{current.id}|{item.id}|{new_price}|{proration_behavior}|"
                                f"{date}".encode()).hexdigest()[:32]
        body = await self._post("subscription", "POST /v1/invoices/create_preview",
                                f"mbv-preview-{digest}",
                                lambda v1, o: v1.invoices.create_preview_async(params=params,
                                                                               options=o))
        return preview_from(body, subscription=current.id, item_id=item.id, new_price=new_price,
                            proration_date=date)

    async def change_plan(self, subscription: str, item_id: str, new_price: str, key: str, *,
                          proration_behavior: str = "always_invoice",
                          proration_date: int | None = None,
                          payment_behavior: str = "error_if_incomplete") -> Subscription:
        """Swaps the plan item's price. By default the proration is invoiced and charged at
        once, and a failed charge leaves the plan unchanged (a card error is raised)."""
        if proration_behavior not in PRORATION_BEHAVIORS:
            raise InvalidInput(f"'{proration_behavior}' is not a proration behaviour.")
        params: dict[str, Any] = {
            "items": [{"id": required(item_id, "subscription item id"), "price": new_price}],
            "proration_behavior": proration_behavior, "payment_behavior": payment_behavior,
        }
        if proration_date is not None:
            params["proration_date"] = int(proration_date)
        return await self._update_subscription(subscription, key, params)

    async def set_cancel_at_period_end(self, subscription: str, cancel: bool,
                                       key: str) -> Subscription:
        """Cancel at the end of the paid period (``True``) or resume (``False``)."""
        return await self._update_subscription(subscription, key,
                                               {"cancel_at_period_end": bool(cancel)})

    async def set_subscription_payment_method(self, subscription: str, payment_method: str,
                                              key: str) -> Subscription:
        """The card a subscription is charged to (Checkout sets one on the subscription, which
        wins over the customer's default)."""
        return await self._update_subscription(
            subscription, key, {"default_payment_method": required(payment_method,
                                                                     "payment method")})

    async def _update_subscription(self, subscription: str, key: str,
                                   params: dict[str, Any]) -> Subscription:
        sid = required(subscription, "subscription id")
        body = await self._post("subscription", "POST /v1/subscriptions/{id}", key,
                                lambda v1, o: v1.subscriptions.update_async(sid, params=params,
                                                                            options=o))
        return subscription_from(body)

    async def cancel_now(self, subscription: str, key: str) -> Subscription:
        """Ends the subscription at once (no refund of the unused time)."""
        sid = required(subscription, "subscription id")
        body = await self._post("subscription", "DELETE /v1/subscriptions/{id}", key,
                                lambda v1, o: v1.subscriptions.cancel_async(sid, options=o))
        return subscription_from(body)

    # --- payment methods and invoices ------------------------------------------------------------

    async def list_payment_methods(self, customer: str) -> list[PaymentMethod]:
        """The customer's cards, the default one marked."""
        cid = required(customer, "customer")
        owner, methods = await asyncio.gather(
            self._get("customer", "GET /v1/customers/{id}", f"/v1/customers/{segment(cid)}"),
            self._list_all("customer", "GET /v1/customers/{id}/payment_methods",
                           f"/v1/customers/{segment(cid)}/payment_methods",
                           {"type": "card"}))
        default = customer_from(owner).default_payment_method
        return [payment_method_from(item, default) for item in methods]

    async def set_default_payment_method(self, customer: str, payment_method: str,
                                         key: str) -> Customer:
        cid = required(customer, "customer")
        params = {"invoice_settings": {"default_payment_method": required(payment_method,
                                                                           "payment method")}}
        body = await self._post("customer", "POST /v1/customers/{id}", key,
                                lambda v1, o: v1.customers.update_async(cid, params=params,
                                                                        options=o))
        return customer_from(body)

    async def detach_payment_method(self, payment_method: str, key: str) -> PaymentMethod:
        pm = required(payment_method, "payment method")
        body = await self._post("payment method", "POST /v1/payment_methods/{id}/detach", key,
                                lambda v1, o: v1.payment_methods.detach_async(pm, options=o))
        return payment_method_from(body)

    async def list_invoices(self, customer: str, *, limit: int = 24) -> list[Invoice]:
        """The customer's latest invoices, newest first."""
        params = {"customer": required(customer, "customer"), "limit": max(1, min(limit, 100))}
        body = await self._get("customer", "GET /v1/invoices", "/v1/invoices", params)
        return [invoice_from(item) for item in body.get("data") or ()
                if isinstance(item, Mapping)]

    # --- usage -----------------------------------------------------------------------------------

    async def record_meter_event(self, event_name: str, customer: str, value: int,
                                 identifier: str, timestamp: int | float, key: str) -> MeterEvent:
        """Records ``value`` units of usage. Stripe counts an ``identifier`` once (over at
        least 24 hours), so a retry from the outbox is never counted twice."""
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInput("A usage value must be a whole number, zero or more.")
        ident = required(identifier, "meter event identifier")
        if len(ident) > MAX_IDENTIFIER:
            raise InvalidInput(f"A meter event identifier is at most {MAX_IDENTIFIER} "
                               "characters long.")
        params = {
            "event_name": required(event_name, "meter event name"),
            "payload": {"stripe_customer_id": required(customer, "customer"),
                        "value": str(value)},
            "identifier": ident, "timestamp": int(timestamp),
        }
        body = await self._post("meter", "POST /v1/billing/meter_events", key,
                                lambda v1, o: v1.billing.meter_events.create_async(params=params,
                                                                                   options=o))
        return meter_event_from(body)

    async def usage_summary(self, meter_id: str, customer: str, start: int | float,
                            end: int | float) -> UsageSummary:
        """The customer's usage on the meter between ``start`` and ``end``, widened to whole
        minutes (Stripe aggregates by minute and asks for minute-aligned bounds)."""
        mid = required(meter_id, "meter id")
        first = int(start) // 60 * 60
        last = max(first + 60, math.ceil(end / 60) * 60)
        cid = required(customer, "customer")
        params = {"customer": cid, "start_time": first, "end_time": last}
        items = await self._list_all(
            "meter", "GET /v1/billing/meters/{id}/event_summaries",
            f"/v1/billing/meters/{segment(mid)}/event_summaries", params)
        return UsageSummary(meter_id=mid, customer=cid, start=first, end=last,
                            total=usage_total(items))

    # --- keeping up with Stripe ------------------------------------------------------------------

    async def list_events(self, ending_before: str | None = None, limit: int = 100, *,
                          types: list[str] | None = None) -> EventPage:
        """One page of events, newest first. From a stored cursor (the newest event id already
        handled) pass ``ending_before=cursor``: the page holds the events right after it; while
        ``has_more``, ask again with the page's newest id."""
        params: dict[str, Any] = {"limit": max(1, min(limit, 100))}
        if ending_before:
            params["ending_before"] = ending_before
        if types:
            params["types"] = list(types)
        body = await self._get("event", "GET /v1/events", "/v1/events", params)
        return event_page_from(body)

    async def verify_webhook(self, payload: bytes, header: str | None, secret: str,
                             tolerance: int = DEFAULT_TOLERANCE, *,
                             max_future_skew: float = MAX_FUTURE_SKEW) -> StripeEvent:
        """See :func:`.webhooks.verify_webhook` (needs no API key)."""
        return await verify_webhook(payload, header, secret, tolerance,
                                    max_future_skew=max_future_skew)
