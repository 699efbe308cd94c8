"""Checkout Sessions: creating one (``POST /v1/checkout/sessions``), expiring it, and what
happens when the customer pays on the sandbox's hosted page.

Modes: ``subscription`` (recurring prices; metered ones without ``quantity``), ``setup``
(saves a card: no ``line_items``, ``currency`` required unless ``payment_method_types`` is
given; the session's SetupIntent exists from the start) and ``payment`` (one-time prices or
``price_data``). ``url`` points at the sandbox's own page, ``{base}/checkout/pay/{id}``, while
the session is open (null afterwards, as Stripe does). Sessions expire at ``expires_at``
(default 24 hours, allowed 30 minutes to 24 hours).

Paying (:func:`pay`) with a test card (see ``cards.py``):

* accepted: a card PaymentMethod is made and attached to the customer (created first when the
  session has none: ``customer.created``); then by mode a subscription starts with its first
  invoice paid (``customer.subscription.created`` incomplete, ``invoice.created``,
  ``invoice.finalized``, ``invoice.paid``, ``invoice.payment_succeeded``,
  ``customer.subscription.updated`` to active), or the SetupIntent succeeds
  (``setup_intent.succeeded``), or a PaymentIntent succeeds (``payment_intent.succeeded``);
  finally ``checkout.session.completed``. The session is ``complete`` with ``payment_status``
  ``paid`` (``no_payment_required`` for setup mode or nothing to pay);
* declined: nothing changes (no event: Stripe's page shows the error and the session stays
  ``open``); the 402 ``card_error`` says why;
* 3-D Secure (4000 0025 0000 3155): the page asks the customer to finish in the browser; the
  card waits in the session until a second submit with ``three_d_secure=pass`` (then as
  accepted) or ``fail`` (declined ``payment_intent_authentication_failure``).

Stripe also emits charge and payment-intent events around subscription payments; the sandbox
leaves those out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mbv_desktop.sandbox.stripe import subscriptions
from mbv_desktop.sandbox.stripe.cards import (
    AUTHENTICATION_FAILED,
    CHARGES_FAIL,
    GENERIC,
    Card,
    read_card,
)
from mbv_desktop.sandbox.stripe.customers import attach, new_card, new_customer
from mbv_desktop.sandbox.stripe.errors import StripeError, card_error, invalid, missing_param
from mbv_desktop.sandbox.stripe.events import emit
from mbv_desktop.sandbox.stripe.forms import Params
from mbv_desktop.sandbox.stripe.invoices import tax_of
from mbv_desktop.sandbox.stripe.objects import BASE, fetch, render
from mbv_desktop.sandbox.stripe.store import Tx

DEFAULT_LIFETIME = 24 * 3600
MIN_LIFETIME = 30 * 60
SESSION_PARAMS = (
    "adaptive_pricing", "after_expiration", "allow_promotion_codes",
    "allowed_payment_method_types", "automatic_tax", "billing_address_collection",
    "branding_settings", "cancel_url", "client_reference_id", "consent_collection", "currency",
    "custom_fields", "custom_text", "customer", "customer_account", "customer_creation",
    "customer_email", "customer_update", "discounts", "excluded_payment_method_types",
    "expires_at", "integration_identifier", "invoice_creation", "line_items", "locale",
    "managed_payments", "metadata", "mode", "name_collection", "optional_items",
    "origin_context", "payment_intent_data", "payment_method_collection",
    "payment_method_configuration", "payment_method_data", "payment_method_options",
    "payment_method_types", "permissions", "phone_number_collection", "redirect_on_completion",
    "return_url", "saved_payment_method_options", "setup_intent_data",
    "shipping_address_collection", "shipping_options", "submit_type", "subscription_data",
    "success_url", "tax_id_collection", "ui_mode", "wallet_options")
SANDBOX_EMAIL = "customer@example.com"


# -- creating --------------------------------------------------------------------------------------

def _one_time_price(tx: Tx, data: Params) -> dict[str, Any]:
    """An inactive one-time price for ``line_items[n][price_data]`` (payment mode)."""
    amount = data.integer("unit_amount", required=True, low=0)
    product = data.sub("product_data")
    name: str | None = product.need("name") if product is not None else None
    product_id = data.text("product")
    if product_id is None and name is None:
        raise missing_param(data.full("product_data[name]"))
    if product_id is None:
        product_doc: dict[str, Any] = {
            "id": tx.next_id("prod_"), "object": "product", "active": False,
            "created": tx.now, "default_price": None, "description": None, "images": [],
            "livemode": False, "marketing_features": [], "metadata": {}, "name": name,
            "package_dimensions": None, "shippable": None, "statement_descriptor": None,
            "tax_code": None, "type": "service", "unit_label": None, "updated": tx.now,
            "url": None}
        tx.put(product_doc)
        product_id = product_doc["id"]
    else:
        fetch(tx, product_id, "product", data.full("product"))
    assert amount is not None
    price: dict[str, Any] = {
        "id": tx.next_id("price_"), "object": "price", "active": False,
        "billing_scheme": "per_unit", "created": tx.now,
        "currency": data.need("currency").lower(), "custom_unit_amount": None,
        "livemode": False, "lookup_key": None, "metadata": {}, "nickname": None,
        "product": product_id, "recurring": None, "tax_behavior": "exclusive",
        "tiers_mode": None, "transform_quantity": None, "type": "one_time",
        "unit_amount": amount, "unit_amount_decimal": str(amount)}
    tx.put(price)
    return price


def _line_items(tx: Tx, params: Params, mode: str, taxed: bool) -> list[dict[str, Any]]:
    entries = params.subs("line_items")
    if mode == "setup":
        if entries:
            raise invalid("You cannot pass `line_items` in `setup` mode.", "line_items")
        return []
    if not entries:
        raise missing_param("line_items")
    out = []
    for index, entry in enumerate(entries):
        entry.only(("adjustable_quantity", "dynamic_tax_rates", "metadata", "price",
                    "price_data", "quantity", "tax_rates"))
        if entry.text("price"):
            price = fetch(tx, entry.need("price"), "price", entry.full("price"))
        elif entry.sub("price_data") is not None and mode == "payment":
            data = entry.sub("price_data")
            assert data is not None
            price = _one_time_price(tx, data)
        else:
            raise missing_param(entry.full("price"))
        recurring: dict[str, Any] | None = price.get("recurring")
        metered = recurring is not None and recurring["usage_type"] == "metered"
        if mode == "subscription" and recurring is None:
            raise invalid("The sandbox only takes recurring prices in `subscription` mode. "
                          f"({price['id']})", entry.full("price"))
        if mode == "payment" and recurring is not None:
            raise invalid("You specified `payment` mode but passed a recurring price. Either "
                          "switch to `subscription` mode or use only one-time prices.",
                          entry.full("price"))
        quantity = entry.integer("quantity", low=1)
        if metered and quantity is not None:
            raise invalid("Quantity should not be specified where usage_type is `metered`. "
                          f"Remove quantity from `line_items[{index}]`.",
                          entry.full("quantity"))
        if not metered and quantity is None:
            raise missing_param(entry.full("quantity"))
        subtotal = 0 if metered else price["unit_amount"] * (quantity or 0)
        out.append({"id": tx.next_id("li_"), "price": price["id"], "quantity": quantity,
                    "amount_subtotal": subtotal, "amount_tax": tax_of(subtotal) if taxed else 0})
    return out


def _setup_intent(tx: Tx, customer: str | None, metadata: dict[str, str]) -> dict[str, Any]:
    doc = {"id": tx.next_id("seti_"), "object": "setup_intent", "application": None,
           "automatic_payment_methods": None, "cancellation_reason": None,
           "client_secret": None, "created": tx.now, "customer": customer,
           "description": None, "flow_directions": None, "last_setup_error": None,
           "latest_attempt": None, "livemode": False, "mandate": None, "metadata": metadata,
           "next_action": None, "on_behalf_of": None, "payment_method": None,
           "payment_method_configuration_details": None,
           "payment_method_options": {"card": {"mandate_options": None, "network": None,
                                               "request_three_d_secure": "automatic"}},
           "payment_method_types": ["card"], "single_use_mandate": None,
           "status": "requires_payment_method", "usage": "off_session"}
    tx.put(doc)
    emit(tx, "setup_intent.created", render(tx, doc))
    return doc


def create(tx: Tx, params: Params) -> dict[str, Any]:
    """``POST /v1/checkout/sessions`` (see the module docstring)."""
    params.only(SESSION_PARAMS)
    mode = params.choice("mode", ("payment", "setup", "subscription"), required=True)
    assert mode is not None
    params.choice("ui_mode", ("hosted_page", "hosted"), "hosted_page")
    customer_id = params.text("customer", blank_is_none=True)
    email = params.text("customer_email", blank_is_none=True)
    if customer_id and email:
        raise invalid("You may only specify one of these parameters: customer, "
                      "customer_email.", "customer", "parameters_exclusive")
    if customer_id:
        fetch(tx, customer_id, "customer", "customer")
    tax = params.sub("automatic_tax")
    taxed = bool(tax.flag("enabled")) if tax is not None else False
    currency = params.text("currency")
    if mode == "setup" and currency is None and not params.array("payment_method_types"):
        raise missing_param("currency")
    lines = _line_items(tx, params, mode, taxed)
    expires = params.integer("expires_at")
    if expires is not None and not tx.now + MIN_LIFETIME <= expires <= tx.now + \
            DEFAULT_LIFETIME:
        raise invalid("The `expires_at` timestamp must be between 30 minutes and 24 hours from "
                      "Checkout Session creation.", "expires_at")
    reference = params.text("client_reference_id")
    if reference is not None and len(reference) > 200:
        raise invalid("client_reference_id must be at most 200 characters.",
                      "client_reference_id")
    session_id = tx.next_id("cs_test_")
    metadata = params.metadata() or {}
    subscription_data = params.sub("subscription_data") or Params({}, "subscription_data")
    setup_data = params.sub("setup_intent_data") or Params({}, "setup_intent_data")
    if lines:
        first = fetch(tx, lines[0]["price"], "price")
        currency = first["currency"]
    subtotal = sum(line["amount_subtotal"] for line in lines)
    tax_total = sum(line["amount_tax"] for line in lines)
    setup = _setup_intent(tx, customer_id, setup_data.metadata() or {}) \
        if mode == "setup" else None
    doc = _session(session_id, mode, tx.now, expires or tx.now + DEFAULT_LIFETIME,
                   customer_id, email, currency, taxed, subtotal, tax_total, params, metadata,
                   setup)
    doc["_line_items"] = lines
    doc["_subscription_metadata"] = subscription_data.metadata() or {}
    doc["_subscription_description"] = subscription_data.text("description")
    tx.put(doc)
    return doc


def _session(session_id: str, mode: str, now: int, expires: int, customer: str | None,
             email: str | None, currency: str | None, taxed: bool, subtotal: int, tax: int,
             params: Params, metadata: dict[str, str], setup: dict[str, Any] | None,
             ) -> dict[str, Any]:
    amounts = mode != "setup"
    return {
        "id": session_id, "object": "checkout.session", "adaptive_pricing": None,
        "after_expiration": None, "allow_promotion_codes": None,
        "amount_subtotal": subtotal if amounts else None,
        "amount_total": subtotal + tax if amounts else None,
        "automatic_tax": {"enabled": taxed, "liability": {"type": "self"} if taxed else None,
                          "provider": "stripe" if taxed else None,
                          "status": "requires_location_inputs" if taxed else None},
        "billing_address_collection": None, "cancel_url": params.text("cancel_url"),
        "client_reference_id": params.text("client_reference_id"), "client_secret": None,
        "collected_information": None, "consent": None, "consent_collection": None,
        "created": now, "currency": currency, "custom_fields": [],
        "custom_text": {"after_submit": None, "shipping_address": None, "submit": None,
                        "terms_of_service_acceptance": None},
        "customer": customer, "customer_account": None,
        "customer_creation": None if customer or mode == "subscription" else "if_required",
        "customer_details": None, "customer_email": email, "discounts": [],
        "expires_at": expires, "invoice": None,
        "invoice_creation": None, "livemode": False, "locale": params.text("locale"),
        "metadata": metadata, "mode": mode, "origin_context": None, "payment_intent": None,
        "payment_link": None,
        "payment_method_collection": "always" if mode != "payment" else None,
        "payment_method_configuration_details": None, "payment_method_options": {},
        "payment_method_types": ["card"],
        "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
        "phone_number_collection": {"enabled": False}, "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": setup["id"] if setup else None, "shipping_address_collection": None,
        "shipping_cost": None, "shipping_options": [], "status": "open", "submit_type": None,
        "subscription": None, "success_url": params.text("success_url"),
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": tax}
        if amounts else None,
        "ui_mode": "hosted_page", "url": f"{BASE}/checkout/pay/{session_id}",
        "wallet_options": None,
    }


# -- expiring --------------------------------------------------------------------------------

def expire(tx: Tx, session: dict[str, Any]) -> dict[str, Any]:
    """``POST /v1/checkout/sessions/{id}/expire`` (``checkout.session.expired``)."""
    if session["status"] != "open":
        raise invalid('Only Checkout Sessions with a status in ["open"] can be expired. This '
                      f'Checkout Session has a status of "{session["status"]}".')
    session["status"] = "expired"
    session["url"] = None
    session.pop("_pending_card", None)
    tx.put(session)
    emit(tx, "checkout.session.expired", render(tx, session))
    return session


def expire_due(tx: Tx) -> None:
    """Open sessions past ``expires_at`` expire (the clock moved, or a day went by)."""
    for session in tx.docs("checkout.session"):
        if session["status"] == "open" and session["expires_at"] <= tx.now:
            expire(tx, session)


# -- paying ----------------------------------------------------------------------------------------

@dataclass
class PayResult:
    """What a submit on the pay page did: ``complete``, ``requires_action`` (3-D Secure) or
    ``declined`` (``error`` says why)."""

    status: str
    session: dict[str, Any]
    error: StripeError | None = None


def _amount_due(session: dict[str, Any]) -> int:
    return int(session.get("amount_total") or 0)


def pay(tx: Tx, session: dict[str, Any], form: Params) -> PayResult:
    """One submit of the pay page (``card``, ``exp_month``/``exp_year`` or ``exp`` "MM/YY",
    ``email``, ``name``; or ``three_d_secure`` = ``pass``/``fail`` to finish authentication)."""
    if session["status"] != "open":
        raise invalid(f"This Checkout Session is no longer active (status "
                      f"{session['status']}).", code="checkout_session_not_active")
    answer = form.choice("three_d_secure", ("pass", "fail"))
    if answer is not None:
        pending = session.pop("_pending_card", None)
        if pending is None:
            raise invalid("This payment is not waiting for authentication.",
                          "three_d_secure")
        tx.put(session)
        if answer == "fail":
            return PayResult("declined", session, AUTHENTICATION_FAILED.error())
        card = Card(pending["number"], pending["brand"], pending["exp_month"],
                    pending["exp_year"])
        return _complete(tx, session, card, pending["email"], pending["name"])
    number = form.need("card")
    session.pop("_pending_card", None)  # a new card replaces one waiting for 3-D Secure
    tx.put(session)
    try:
        month, year = _expiry(form)
        card = read_card(number, month, year, tx.now)
    except StripeError as error:
        return PayResult("declined", session, error)
    decline = card.decline_on_pay()
    if decline is None and card.number in CHARGES_FAIL and session["mode"] != "setup" \
            and _amount_due(session) > 0:
        decline = GENERIC
    if decline is not None:
        return PayResult("declined", session, decline.error())
    email = form.text("email", blank_is_none=True) or known_email(tx, session) \
        or SANDBOX_EMAIL
    name = form.text("name", blank_is_none=True)
    if card.needs_authentication():
        session["_pending_card"] = {"number": card.number, "brand": card.brand,
                                    "exp_month": card.exp_month, "exp_year": card.exp_year,
                                    "email": email, "name": name}
        tx.put(session)
        return PayResult("requires_action", session)
    return _complete(tx, session, card, email, name)


def known_email(tx: Tx, session: dict[str, Any]) -> str | None:
    """The e-mail Checkout already has: ``customer_email``, or the customer's."""
    if session.get("customer_email"):
        return str(session["customer_email"])
    customer = tx.get(session["customer"], "customer") if session.get("customer") else None
    return customer.get("email") if customer else None


def _expiry(form: Params) -> tuple[int | None, int | None]:
    text = form.text("exp", blank_is_none=True)
    if text:
        month, _, year = text.replace(" ", "").partition("/")
        if month.isdigit() and year.isdigit():
            return int(month), int(year)
        raise card_error("incomplete_expiry", "Your card's expiration date is incomplete.",
                         param="exp")
    return form.integer("exp_month"), form.integer("exp_year")


def _complete(tx: Tx, session: dict[str, Any], card: Card, email: str,
              name: str | None) -> PayResult:
    customer = tx.get(session["customer"], "customer") if session.get("customer") else None
    if customer is None and session["mode"] != "setup":
        customer = new_customer(tx, email=email, name=name)
    pm = new_card(tx, card, email=email, name=name)
    if customer is not None:
        attach(tx, pm, customer)
    mode = session["mode"]
    if mode == "subscription":
        assert customer is not None
        _subscribe(tx, session, customer, pm["id"])
    elif mode == "setup":
        _finish_setup(tx, session, pm["id"])
    else:
        _finish_payment(tx, session, customer, pm["id"])
    session["status"] = "complete"
    session["url"] = None
    session["customer"] = customer["id"] if customer is not None else None
    session["customer_details"] = {
        "address": {"city": None, "country": "US", "line1": None, "line2": None,
                    "postal_code": None, "state": None},
        "email": email, "name": name, "phone": None, "tax_exempt": "none", "tax_ids": []}
    if session["automatic_tax"]["enabled"]:
        session["automatic_tax"]["status"] = "complete"
    tx.put(session)
    emit(tx, "checkout.session.completed", render(tx, session))
    return PayResult("complete", session)


def _subscribe(tx: Tx, session: dict[str, Any], customer: dict[str, Any], pm_id: str) -> None:
    prices = [(fetch(tx, line["price"], "price"), line["quantity"])
              for line in session["_line_items"]]
    sub = subscriptions.start(tx, customer, prices, pm_id=pm_id,
                              metadata=dict(session.get("_subscription_metadata") or {}),
                              taxed=session["automatic_tax"]["enabled"], paid_on_session=True,
                              description=session.get("_subscription_description"))
    session["subscription"] = sub["id"]
    session["invoice"] = sub["latest_invoice"]
    session["payment_status"] = "paid" if _amount_due(session) > 0 else "no_payment_required"


def _finish_setup(tx: Tx, session: dict[str, Any], pm_id: str) -> None:
    intent = fetch(tx, session["setup_intent"], "setup_intent")
    intent["status"] = "succeeded"
    intent["payment_method"] = pm_id
    tx.put(intent)
    emit(tx, "setup_intent.succeeded", render(tx, intent))


def _finish_payment(tx: Tx, session: dict[str, Any], customer: dict[str, Any] | None,
                    pm_id: str) -> None:
    amount = _amount_due(session)
    intent = {"id": tx.next_id("pi_"), "object": "payment_intent", "amount": amount,
              "amount_capturable": 0, "amount_received": amount, "application": None,
              "automatic_payment_methods": None, "canceled_at": None,
              "cancellation_reason": None, "capture_method": "automatic_async",
              "client_secret": None, "confirmation_method": "automatic", "created": tx.now,
              "currency": session["currency"],
              "customer": customer["id"] if customer is not None else None,
              "description": None, "last_payment_error": None, "latest_charge": None,
              "livemode": False, "metadata": dict(session["metadata"]), "next_action": None,
              "payment_method": pm_id, "payment_method_types": ["card"],
              "status": "succeeded"}
    tx.put(intent)
    emit(tx, "payment_intent.succeeded", render(tx, intent))
    session["payment_intent"] = intent["id"]
    session["payment_status"] = "paid" if amount > 0 else "no_payment_required"
