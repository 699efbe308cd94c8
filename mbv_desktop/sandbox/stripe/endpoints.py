"""The ``/v1`` endpoints: each reads its params, does its work in the transaction it is given
and returns the JSON body (``api.py`` does authentication, decoding, idempotency and errors).

Every endpoint refuses parameters it does not know (400 ``parameter_unknown``, as Stripe does),
knows every parameter stripe-python 16.1 can send for it, and acts on those the emulator models
(the rest are accepted and ignored, except trials, which are refused as not emulated).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from mbv_desktop.sandbox.stripe import checkout, meters, subscriptions
from mbv_desktop.sandbox.stripe.cards import read_card
from mbv_desktop.sandbox.stripe.customers import (
    attach,
    detach,
    new_card,
    new_customer,
    save_customer,
    search_filter,
    set_default,
)
from mbv_desktop.sandbox.stripe.errors import invalid, missing_param, no_such
from mbv_desktop.sandbox.stripe.events import emit, get_event, list_events
from mbv_desktop.sandbox.stripe.forms import Params, list_params, merge_metadata
from mbv_desktop.sandbox.stripe.objects import (
    BASE,
    expand,
    fetch,
    list_answer,
    list_object,
    page,
    public,
    render,
    show,
)
from mbv_desktop.sandbox.stripe.store import Tx

Path = dict[str, str]
Handler = Callable[[Tx, Params, Path], dict[str, Any]]

LIST = ("ending_before", "limit", "starting_after")
CUSTOMER_CREATE = (
    "address", "balance", "business_name", "cash_balance", "description", "email",
    "individual_name", "invoice_prefix", "invoice_settings", "metadata", "name",
    "next_invoice_sequence", "payment_method", "phone", "preferred_locales", "shipping",
    "source", "tax", "tax_exempt", "tax_id_data", "test_clock", "validate")
CUSTOMER_UPDATE = (
    "address", "balance", "business_name", "cash_balance", "default_source", "description",
    "email", "individual_name", "invoice_prefix", "invoice_settings", "metadata", "name",
    "next_invoice_sequence", "phone", "preferred_locales", "shipping", "source", "tax",
    "tax_exempt", "validate")
SUBSCRIPTION_CREATE = (
    "add_invoice_items", "application_fee_percent", "automatic_tax", "backdate_start_date",
    "billing_cycle_anchor", "billing_cycle_anchor_config", "billing_mode", "billing_schedules",
    "billing_thresholds", "cancel_at", "cancel_at_period_end", "collection_method", "currency",
    "customer", "customer_account", "days_until_due", "default_payment_method",
    "default_source", "default_tax_rates", "description", "discounts", "invoice_settings",
    "items", "metadata", "off_session", "on_behalf_of", "payment_behavior",
    "payment_settings", "pending_invoice_item_interval", "proration_behavior",
    "transfer_data", "trial_end", "trial_from_plan", "trial_period_days", "trial_settings")
SUBSCRIPTION_UPDATE = (
    "add_invoice_items", "application_fee_percent", "automatic_tax", "billing_cycle_anchor",
    "billing_schedules", "billing_thresholds", "cancel_at", "cancel_at_period_end",
    "cancellation_details", "collection_method", "days_until_due", "default_payment_method",
    "default_source", "default_tax_rates", "description", "discounts", "invoice_settings",
    "items", "metadata", "off_session", "on_behalf_of", "pause_collection", "payment_behavior",
    "payment_settings", "pending_invoice_item_interval", "proration_behavior",
    "proration_date", "transfer_data", "trial_end", "trial_from_plan", "trial_settings")
TRIALS = ("trial_end", "trial_from_plan", "trial_period_days")
MAGIC_CARDS = {"pm_card_visa": "4242424242424242", "pm_card_mastercard": "5555555555554444",
               "pm_card_amex": "378282246310005",
               "pm_card_chargeCustomerFail": "4000000000000341",
               "pm_card_authenticationRequired": "4000002760003184"}
PORTAL_CONFIGURATION = "bpc_SbxDefaultConfig"


def _created_ok(doc: dict[str, Any], params: Params) -> bool:
    created = params.raw("created")
    if created is None:
        return True
    if isinstance(created, str):
        return bool(doc["created"] == params.integer("created"))
    ranges = params.sub("created")
    assert ranges is not None
    checks = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
              "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    for op, test in checks.items():
        bound = ranges.integer(op)
        if bound is not None and not test(doc["created"], bound):
            return False
    return True


def _list(tx: Tx, params: Params, url: str, docs: list[dict[str, Any]]) -> dict[str, Any]:
    limit, after, before = list_params(params)
    docs = [d for d in docs if _created_ok(d, params)]
    return list_answer(tx, url, docs, limit, after, before, params.expand())


# -- catalog ---------------------------------------------------------------------------------------

def list_products(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "active", "created", "ids", "shippable", "type", "url"))
    active = p.flag("active")
    ids = set(p.texts("ids"))
    docs = [d for d in tx.docs("product")
            if (active is None or d["active"] == active) and (not ids or d["id"] in ids)]
    return _list(tx, p, "/v1/products", docs)


def get_product(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, fetch(tx, path["id"], "product"), p.expand())


def list_prices(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "active", "created", "currency", "lookup_keys", "product", "recurring",
            "type"))
    active = p.flag("active")
    product = p.text("product")
    kind = p.choice("type", ("one_time", "recurring"))
    currency = p.text("currency")
    keys = set(p.texts("lookup_keys"))
    recurring = p.sub("recurring") or Params({}, "recurring")
    wanted = {k: recurring.text(k) for k in ("interval", "usage_type", "meter")}

    def keep(doc: dict[str, Any]) -> bool:
        rec = doc.get("recurring") or {}
        return ((active is None or doc["active"] == active)
                and (product is None or doc["product"] == product)
                and (kind is None or doc["type"] == kind)
                and (currency is None or doc["currency"] == currency.lower())
                and (not keys or doc.get("lookup_key") in keys)
                and all(v is None or rec.get(k) == v for k, v in wanted.items()))
    return _list(tx, p, "/v1/prices", [d for d in tx.docs("price") if keep(d)])


def get_price(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, fetch(tx, path["id"], "price"), p.expand())


def list_meters(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    return meters.list_meters(tx, p)


def get_meter(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return public(fetch(tx, path["id"], "billing.meter"))


def meter_summaries(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    return meters.summaries(tx, path["id"], p)


def create_meter_event(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    return meters.record(tx, p)


# -- customers -------------------------------------------------------------------------------------

def _customer(tx: Tx, customer_id: str, param: str | None = None) -> dict[str, Any]:
    doc = fetch(tx, customer_id, "customer", param)
    if doc.get("_deleted"):
        raise no_such(customer_id, param)
    return doc


def create_customer(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(CUSTOMER_CREATE)
    doc = new_customer(tx, email=p.text("email", blank_is_none=True),
                       name=p.text("name", blank_is_none=True), metadata=p.metadata() or {},
                       description=p.text("description", blank_is_none=True),
                       phone=p.text("phone", blank_is_none=True))
    pm_id = p.text("payment_method", blank_is_none=True)
    if pm_id:
        attach(tx, fetch(tx, pm_id, "payment_method", "payment_method"), doc)
    settings = p.sub("invoice_settings")
    default = settings.text("default_payment_method", blank_is_none=True) if settings else None
    if default:
        before = copy.deepcopy(doc)
        set_default(tx, doc, default)
        save_customer(tx, before, doc)
    return show(tx, doc, p.expand())


def get_customer(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    doc = fetch(tx, path["id"], "customer")
    if doc.get("_deleted"):
        return {"id": doc["id"], "object": "customer", "deleted": True}
    return show(tx, doc, p.expand())


def update_customer(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(CUSTOMER_UPDATE)
    doc = _customer(tx, path["id"])
    before = copy.deepcopy(doc)
    for name in ("email", "name", "description", "phone"):
        if name in p:
            doc[name] = p.text(name, blank_is_none=True)
    doc["metadata"] = merge_metadata(doc["metadata"], p.metadata())
    settings = p.sub("invoice_settings")
    if settings is not None and "default_payment_method" in settings:
        set_default(tx, doc, settings.text("default_payment_method", blank_is_none=True))
    save_customer(tx, before, doc)
    return show(tx, doc, p.expand())


def delete_customer(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    doc = _customer(tx, path["id"])
    for sub in tx.docs("subscription", doc["id"]):
        if sub["status"] not in ("canceled", "incomplete_expired"):
            subscriptions.cancel(tx, sub, Params({}))
    shown = render(tx, doc)
    doc["_deleted"] = True
    tx.put(doc)
    emit(tx, "customer.deleted", shown)
    return {"id": doc["id"], "object": "customer", "deleted": True}


def _live_customers(tx: Tx) -> list[dict[str, Any]]:
    return [d for d in tx.docs("customer") if not d.get("_deleted")]


def list_customers(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "created", "email", "test_clock"))
    email = p.text("email")
    docs = [d for d in _live_customers(tx) if email is None or d.get("email") == email]
    return _list(tx, p, "/v1/customers", docs)


def search_customers(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    """Search results page with ``page``/``next_page`` tokens instead of id cursors."""
    p.only(("limit", "page", "query"))
    test = search_filter(p.need("query"))
    limit = p.integer("limit", 10, low=1, high=100)
    assert limit is not None
    token = p.text("page", blank_is_none=True)
    offset = 0
    if token is not None:
        if not token.startswith("sbxpage_") or not token[8:].isdigit():
            raise invalid(f"Invalid page: {token}", "page")
        offset = int(token[8:])
    found = [d for d in _live_customers(tx) if test(d)]
    chosen = found[offset:offset + limit]
    more = len(found) > offset + limit
    body = {"object": "search_result", "data": [render(tx, d) for d in chosen],
            "has_more": more, "next_page": f"sbxpage_{offset + limit}" if more else None,
            "url": "/v1/customers/search"}
    return expand(tx, body, p.expand())


# -- payment methods -------------------------------------------------------------------------------

def _pm_list(tx: Tx, p: Params, url: str, customer: str | None) -> dict[str, Any]:
    kind = p.text("type")
    docs = [d for d in tx.docs("payment_method")
            if (customer is None or d.get("customer") == customer)
            and (kind is None or d["type"] == kind)]
    return _list(tx, p, url, docs)


def list_customer_pms(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "allow_redisplay", "type"))
    customer = _customer(tx, path["id"])
    return _pm_list(tx, p, f"/v1/customers/{customer['id']}/payment_methods", customer["id"])


def list_pms(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "allow_redisplay", "customer", "customer_account", "type"))
    customer = p.text("customer")
    if customer is not None:
        _customer(tx, customer, "customer")
    return _pm_list(tx, p, "/v1/payment_methods", customer)


def get_pm(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, fetch(tx, path["id"], "payment_method"), p.expand())


def get_customer_pm(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    customer = _customer(tx, path["id"])
    pm = fetch(tx, path["pm"], "payment_method")
    if pm.get("customer") != customer["id"]:
        raise no_such(path["pm"])
    return show(tx, pm, p.expand())


def attach_pm(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    """Attach; Stripe's test tokens (``pm_card_visa`` …) make a new card first."""
    p.only(("customer", "customer_account"))
    customer = _customer(tx, p.need("customer"), "customer")
    if path["id"] in MAGIC_CARDS:
        pm = new_card(tx, read_card(MAGIC_CARDS[path["id"]], None, None, tx.now),
                      email=customer.get("email"), name=customer.get("name"))
    else:
        pm = fetch(tx, path["id"], "payment_method")
    return show(tx, attach(tx, pm, customer), p.expand())


def detach_pm(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, detach(tx, fetch(tx, path["id"], "payment_method")), p.expand())


# -- checkout and portal ---------------------------------------------------------------------------

def create_session(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    return show(tx, checkout.create(tx, p), p.expand())


def list_sessions(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "created", "customer", "customer_account", "customer_details",
            "payment_intent", "payment_link", "status", "subscription"))
    status = p.choice("status", ("complete", "expired", "open"))
    filters = {k: p.text(k) for k in ("customer", "subscription", "payment_intent")}
    docs = [d for d in tx.docs("checkout.session")
            if (status is None or d["status"] == status)
            and all(v is None or d.get(k) == v for k, v in filters.items())]
    return _list(tx, p, "/v1/checkout/sessions", docs)


def get_session(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, fetch(tx, path["id"], "checkout.session"), p.expand())


def session_line_items(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(LIST)
    doc = fetch(tx, path["id"], "checkout.session")
    items = show(tx, doc, ["line_items"])["line_items"]["data"]
    limit, after, before = list_params(p)
    chosen, more = page(items, limit, after, before)
    return expand(tx, list_object(f"/v1/checkout/sessions/{doc['id']}/line_items", chosen,
                                  more), p.expand())


def expire_session(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, checkout.expire(tx, fetch(tx, path["id"], "checkout.session")),
                p.expand())


def create_portal_session(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(("after_expiration", "configuration", "customer", "customer_account", "flow_data",
            "locale", "on_behalf_of", "return_url"))
    customer = _customer(tx, p.need("customer"), "customer")
    session_id = tx.next_id("bps_")
    doc = {"id": session_id, "object": "billing_portal.session",
           "configuration": p.text("configuration") or PORTAL_CONFIGURATION,
           "created": tx.now, "customer": customer["id"], "customer_account": None,
           "flow": None, "livemode": False, "locale": p.text("locale"), "on_behalf_of": None,
           "return_url": p.text("return_url"), "url": f"{BASE}/portal/{session_id}"}
    tx.put(doc)
    emit(tx, "billing_portal.session.created", render(tx, doc))
    return show(tx, doc, p.expand())


def get_setup_intent(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(("client_secret",))
    return show(tx, fetch(tx, path["id"], "setup_intent"), p.expand())


def get_payment_intent(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(("client_secret",))
    return show(tx, fetch(tx, path["id"], "payment_intent"), p.expand())


# -- subscriptions and invoices --------------------------------------------------------------------

def create_subscription(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(SUBSCRIPTION_CREATE)
    for name in TRIALS:
        if name in p:
            raise invalid("The sandbox does not emulate trials.", name)
    customer = _customer(tx, p.need("customer"), "customer")
    entries = p.subs("items")
    if not entries:
        raise missing_param("items")
    prices = []
    for entry in entries:
        entry.only(("billing_thresholds", "discounts", "metadata", "plan", "price",
                    "price_data", "quantity", "tax_rates"))
        price = fetch(tx, entry.need("price"), "price", entry.full("price"))
        if price.get("recurring") is None:
            raise invalid("The price specified is set to `type=one_time` but this field only "
                          "accepts prices with `type=recurring`.", entry.full("price"))
        prices.append((price, entry.integer("quantity", low=0)))
    pm_id = p.text("default_payment_method", blank_is_none=True)
    if pm_id:
        pm = fetch(tx, pm_id, "payment_method", "default_payment_method")
        if pm.get("customer") != customer["id"]:
            raise invalid(f"The customer does not have a payment method with the ID {pm_id}. "
                          "The payment method must be attached to the customer.",
                          "default_payment_method")
    behavior = p.choice("payment_behavior", subscriptions.PAYMENT_BEHAVIORS,
                        "allow_incomplete")
    assert behavior is not None
    if behavior != "default_incomplete" and not pm_id \
            and not (customer["invoice_settings"] or {}).get("default_payment_method") \
            and any(price["unit_amount"] for price, _q in prices):
        raise invalid("This customer has no attached payment source or default payment "
                      "method. Please consider adding a default payment method. For more "
                      "information, visit https://stripe.com/docs/billing/subscriptions/"
                      "payment-methods-setting#payment-method-priority.")
    tax = p.sub("automatic_tax")
    sub = subscriptions.start(tx, customer, prices, pm_id=pm_id, metadata=p.metadata() or {},
                              taxed=bool(tax.flag("enabled")) if tax else False,
                              paid_on_session=False, behavior=behavior,
                              description=p.text("description", blank_is_none=True))
    return show(tx, sub, p.expand())


def list_subscriptions(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "automatic_tax", "collection_method", "created", "current_period_end",
            "current_period_start", "customer", "customer_account", "plan", "price", "status",
            "test_clock"))
    statuses = ("active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
                "past_due", "paused", "trialing", "unpaid")
    status = p.choice("status", statuses)
    customer = p.text("customer")
    price = p.text("price") or p.text("plan")

    def keep(doc: dict[str, Any]) -> bool:
        if status is None and doc["status"] in ("canceled", "incomplete_expired"):
            return False
        if status == "ended" and doc["status"] not in ("canceled", "incomplete_expired"):
            return False
        if status not in (None, "all", "ended") and doc["status"] != status:
            return False
        return price is None or any(item["price"] == price for item in doc["items"])
    docs = [d for d in tx.docs("subscription", customer) if keep(d)]
    return _list(tx, p, "/v1/subscriptions", docs)


def get_subscription(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, fetch(tx, path["id"], "subscription"), p.expand())


def update_subscription(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(SUBSCRIPTION_UPDATE)
    for name in TRIALS:
        if name in p:
            raise invalid("The sandbox does not emulate trials.", name)
    sub = subscriptions.update(tx, fetch(tx, path["id"], "subscription"), p)
    return show(tx, sub, p.expand())


def cancel_subscription(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    sub = subscriptions.cancel(tx, fetch(tx, path["id"], "subscription"), p)
    return show(tx, sub, p.expand())


def preview_invoice(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    return expand(tx, render(tx, subscriptions.preview(tx, p)), p.expand())


def list_invoices(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only((*LIST, "collection_method", "created", "customer", "customer_account", "due_date",
            "status", "subscription"))
    status = p.choice("status", ("draft", "open", "paid", "uncollectible", "void"))
    subscription = p.text("subscription")

    def keep(doc: dict[str, Any]) -> bool:
        details = (doc.get("parent") or {}).get("subscription_details") or {}
        return ((status is None or doc["status"] == status)
                and (subscription is None or details.get("subscription") == subscription))
    docs = [d for d in tx.docs("invoice", p.text("customer")) if keep(d)]
    return _list(tx, p, "/v1/invoices", docs)


def get_invoice(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return show(tx, fetch(tx, path["id"], "invoice"), p.expand())


def invoice_lines(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(LIST)
    doc = fetch(tx, path["id"], "invoice")
    limit, after, before = list_params(p)
    chosen, more = page(list(doc["lines"]), limit, after, before)
    return expand(tx, list_object(f"/v1/invoices/{doc['id']}/lines", chosen, more),
                  p.expand())


# -- events ----------------------------------------------------------------------------------------

def events_list(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    return list_events(tx, p)


def event_get(tx: Tx, p: Params, path: Path) -> dict[str, Any]:
    p.only(())
    return get_event(tx, path["id"])


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/v1/products", list_products),
    ("GET", "/v1/products/{id}", get_product),
    ("GET", "/v1/prices", list_prices),
    ("GET", "/v1/prices/{id}", get_price),
    ("GET", "/v1/billing/meters", list_meters),
    ("GET", "/v1/billing/meters/{id}", get_meter),
    ("GET", "/v1/billing/meters/{id}/event_summaries", meter_summaries),
    ("POST", "/v1/billing/meter_events", create_meter_event),
    ("POST", "/v1/customers", create_customer),
    ("GET", "/v1/customers", list_customers),
    ("GET", "/v1/customers/search", search_customers),
    ("GET", "/v1/customers/{id}", get_customer),
    ("POST", "/v1/customers/{id}", update_customer),
    ("DELETE", "/v1/customers/{id}", delete_customer),
    ("GET", "/v1/customers/{id}/payment_methods", list_customer_pms),
    ("GET", "/v1/customers/{id}/payment_methods/{pm}", get_customer_pm),
    ("GET", "/v1/payment_methods", list_pms),
    ("GET", "/v1/payment_methods/{id}", get_pm),
    ("POST", "/v1/payment_methods/{id}/attach", attach_pm),
    ("POST", "/v1/payment_methods/{id}/detach", detach_pm),
    ("POST", "/v1/checkout/sessions", create_session),
    ("GET", "/v1/checkout/sessions", list_sessions),
    ("GET", "/v1/checkout/sessions/{id}", get_session),
    ("GET", "/v1/checkout/sessions/{id}/line_items", session_line_items),
    ("POST", "/v1/checkout/sessions/{id}/expire", expire_session),
    ("POST", "/v1/billing_portal/sessions", create_portal_session),
    ("GET", "/v1/setup_intents/{id}", get_setup_intent),
    ("GET", "/v1/payment_intents/{id}", get_payment_intent),
    ("POST", "/v1/subscriptions", create_subscription),
    ("GET", "/v1/subscriptions", list_subscriptions),
    ("GET", "/v1/subscriptions/{id}", get_subscription),
    ("POST", "/v1/subscriptions/{id}", update_subscription),
    ("DELETE", "/v1/subscriptions/{id}", cancel_subscription),
    ("POST", "/v1/invoices/create_preview", preview_invoice),
    ("GET", "/v1/invoices", list_invoices),
    ("GET", "/v1/invoices/{id}", get_invoice),
    ("GET", "/v1/invoices/{id}/lines", invoice_lines),
    ("GET", "/v1/events", events_list),
    ("GET", "/v1/events/{id}", event_get),
)
"""Every ``/v1`` route: (method, path, handler)."""
