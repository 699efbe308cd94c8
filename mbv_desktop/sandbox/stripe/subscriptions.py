"""Subscriptions: starting one (from Checkout or ``POST /v1/subscriptions``), changing its price
with prorations, cancelling at period end or now, resuming, the proration preview
(``POST /v1/invoices/create_preview``), and what the clock does (renewals, cancellations at
period end, incomplete subscriptions expiring).

Periods are monthly from ``billing_cycle_anchor`` (calendar months, the day clamped to the
month's end) and live on each item (``current_period_start``/``_end``), as in today's API.

Prorations are day-based: for a change at ``t`` inside the period ``[start, end)``, the
remaining share is ``ceil((end - t) / 1 day) / round((end - start) / 1 day)``; the old price
gets a credit line "Unused time on {product} after {date}" and the new one a charge line
"Remaining time on {product} after {date}", each rounded half up to a cent. With
``proration_behavior=create_prorations`` (the default) the lines wait for the next invoice;
``always_invoice`` bills them now (charged off-session; a declined card leaves the
subscription ``past_due``, or with ``payment_behavior=error_if_incomplete`` answers 402 and
changes nothing); ``none`` skips them. Metered items are billed in arrears: the renewal
invoice charges the usage the meter summed over the period that ended.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mbv_desktop.sandbox.stripe import invoices
from mbv_desktop.sandbox.stripe.customers import default_payment_method
from mbv_desktop.sandbox.stripe.errors import invalid
from mbv_desktop.sandbox.stripe.events import emit, previous_attributes
from mbv_desktop.sandbox.stripe.forms import Params, merge_metadata
from mbv_desktop.sandbox.stripe.objects import fetch, render
from mbv_desktop.sandbox.stripe.store import Tx

log = logging.getLogger(__name__)

DAY = 86400
INCOMPLETE_EXPIRY = 23 * 3600
MAX_CATCH_UP_PERIODS = 240
LIVE = ("active", "past_due", "trialing")
BEHAVIORS = ("always_invoice", "create_prorations", "none")
PAYMENT_BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete",
                     "pending_if_incomplete")

LineIds = Callable[[], str]


# -- time ----------------------------------------------------------------------------------------

def add_months(timestamp: int, months: int) -> int:
    """``timestamp`` moved by whole calendar months (the day clamped to the month's end)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    next_first = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    last_day = (next_first - datetime(year, month, 1, tzinfo=UTC)).days
    return int(moment.replace(year=year, month=month, day=min(moment.day, last_day))
               .timestamp())


def _day(timestamp: int) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return f"{moment.day} {moment:%b %Y}"


def prorated(amount: int, start: int, end: int, at: int) -> int:
    """The share of ``amount`` for the days left in ``[start, end)`` after ``at``."""
    total = max(1, round((end - start) / DAY))
    left = min(total, max(0, math.ceil((end - at) / DAY)))
    value = (Decimal(amount) * left / total).quantize(Decimal(1), ROUND_HALF_UP)
    return int(value)


def period(sub: dict[str, Any]) -> tuple[int, int]:
    item = sub["items"][0]
    return int(item["current_period_start"]), int(item["current_period_end"])


# -- lines ---------------------------------------------------------------------------------------

def _price(tx: Tx, price_id: str) -> dict[str, Any]:
    return fetch(tx, price_id, "price")


def _name(tx: Tx, price: dict[str, Any]) -> str:
    product = tx.get(price["product"], "product") or {}
    return str(product.get("name") or price.get("nickname") or price["id"])


def _metered(price: dict[str, Any]) -> bool:
    return (price.get("recurring") or {}).get("usage_type") == "metered"


def _taxed(sub: dict[str, Any]) -> bool:
    return bool(sub["automatic_tax"]["enabled"])


def plan_lines(tx: Tx, sub: dict[str, Any], items: list[dict[str, Any]], start: int,
               end: int, ids: LineIds) -> list[dict[str, Any]]:
    """A line per licensed item for the period ``[start, end)``."""
    out = []
    for item in items:
        price = _price(tx, item["price"])
        if _metered(price):
            continue
        quantity = int(item.get("quantity") or 1)
        out.append(invoices.line(
            line_id=ids(), amount=price["unit_amount"] * quantity, price=price,
            quantity=quantity, description=f"{quantity} × {_name(tx, price)} (at "
            f"${price['unit_amount'] / 100:.2f} / month)", start=start, end=end,
            subscription=sub["id"], item=item["id"], proration=False, taxed=_taxed(sub)))
    return out


def usage_lines(tx: Tx, sub: dict[str, Any], start: int, end: int, ids: LineIds,
                ) -> list[dict[str, Any]]:
    """A line per metered item: the meter's sum for the customer over ``[start, end)``."""
    out = []
    for item in sub["items"]:
        price = _price(tx, item["price"])
        meter = (price.get("recurring") or {}).get("meter")
        if not _metered(price) or not meter:
            continue
        total = sum(v for _t, v in tx.meter_values(meter, sub["customer"], start, end))
        quantity = round(total)
        amount = int((Decimal(str(total)) * price["unit_amount"]).quantize(
            Decimal(1), ROUND_HALF_UP))
        out.append(invoices.line(
            line_id=ids(), amount=amount, price=price, quantity=quantity,
            description=f"{quantity} × {_name(tx, price)} (at "
            f"${price['unit_amount'] / 100:.2f} each)", start=start, end=end,
            subscription=sub["id"], item=item["id"], proration=False, taxed=_taxed(sub)))
    return out


@dataclass
class Change:
    """One item's change: ``before`` is None for a new item, ``after`` None for a removed one;
    each is (price, quantity)."""

    item_id: str
    before: tuple[dict[str, Any], int] | None
    after: tuple[dict[str, Any], int] | None


def proration_lines(tx: Tx, sub: dict[str, Any], changes: list[Change], at: int,
                    ids: LineIds) -> list[dict[str, Any]]:
    start, end = period(sub)
    out = []
    for change in changes:
        for side, sign, words in ((change.before, -1, "Unused time on"),
                                  (change.after, 1, "Remaining time on")):
            if side is None or _metered(side[0]):
                continue
            price, quantity = side
            amount = sign * prorated(price["unit_amount"] * quantity, start, end, at)
            if amount == 0:
                continue
            out.append(invoices.line(
                line_id=ids(), amount=amount, price=price, quantity=quantity,
                description=f"{words} {_name(tx, price)} after {_day(at)}", start=at,
                end=end, subscription=sub["id"], item=change.item_id, proration=True,
                taxed=_taxed(sub)))
    return out


# -- item changes ----------------------------------------------------------------------------------

def _new_item(tx: Tx, sub_id: str, price: dict[str, Any], quantity: int | None, start: int,
              end: int, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    return {"id": tx.next_id("si_"), "object": "subscription_item", "billed_until": None,
            "billing_thresholds": None, "created": tx.now, "current_period_end": end,
            "current_period_start": start, "discounts": [], "metadata": metadata or {},
            "price": price["id"], "quantity": None if _metered(price) else (quantity or 1),
            "subscription": sub_id, "tax_rates": []}


def _usable_price(tx: Tx, price_id: str, param: str) -> dict[str, Any]:
    price = fetch(tx, price_id, "price", param)
    if not price["active"]:
        raise invalid(f"The price specified is inactive. This field only accepts active "
                      f"prices. ({price_id})", param)
    if price.get("recurring") is None:
        raise invalid(f"The price specified is set to `type=one_time` but this field only "
                      f"accepts prices with `type=recurring`. ({price_id})", param)
    return price


def change_items(tx: Tx, sub: dict[str, Any], entries: list[Params], *, dry_run: bool,
                 ) -> tuple[list[dict[str, Any]], list[Change]]:
    """The items after applying ``items[n][…]`` and the changes that prorate. With
    ``dry_run`` new items get placeholder ids (nothing is stored)."""
    items = [dict(item) for item in sub["items"]]
    start, end = period(sub)
    changes: list[Change] = []
    for entry in entries:
        entry.only(("id", "price", "quantity", "deleted", "metadata", "clear_usage",
                    "billing_thresholds", "discounts", "price_data", "tax_rates", "plan"))
        item_id = entry.text("id")
        price_id = entry.text("price") or entry.text("plan")
        quantity = entry.integer("quantity", low=0)
        if item_id is None:
            if price_id is None:
                raise invalid("You must specify either `price` or `id` for each item.",
                              entry.full("price"))
            price = _usable_price(tx, price_id, entry.full("price"))
            if dry_run:
                item = _placeholder(price, quantity, sub["id"], start, end)
            else:
                item = _new_item(tx, sub["id"], price, quantity, start, end,
                                 entry.metadata())
            items.append(item)
            changes.append(Change(item["id"], None, (price, int(item["quantity"] or 0))))
            continue
        index = next((i for i, it in enumerate(items) if it["id"] == item_id), None)
        if index is None:
            raise invalid(f"Subscription item {item_id} does not belong to subscription "
                          f"{sub['id']}.", entry.full("id"))
        item = items[index]
        old_price = _price(tx, item["price"])
        old = (old_price, int(item.get("quantity") or 0))
        if entry.flag("deleted"):
            del items[index]
            changes.append(Change(item_id, old, None))
            continue
        price = _usable_price(tx, price_id, entry.full("price")) if price_id else old_price
        new_quantity = None if _metered(price) else (
            quantity if quantity is not None else int(item.get("quantity") or 1))
        item.update(price=price["id"], quantity=new_quantity,
                    metadata=merge_metadata(item["metadata"], entry.metadata()))
        if (price["id"], new_quantity or 0) != (old_price["id"], old[1]):
            changes.append(Change(item_id, old, (price, new_quantity or 0)))
    seen: set[str] = set()
    for item in items:
        if item["price"] in seen:
            raise invalid("Cannot add multiple subscription items with the same price: "
                          f"{item['price']}", "items")
        seen.add(item["price"])
    if not items:
        raise invalid("A subscription must have at least one active item; to end it, cancel "
                      "the subscription.", "items")
    return items, changes


def _placeholder(price: dict[str, Any], quantity: int | None, sub_id: str, start: int,
                 end: int) -> dict[str, Any]:
    return {"id": "si_preview", "object": "subscription_item", "created": start,
            "current_period_end": end, "current_period_start": start, "metadata": {},
            "price": price["id"], "quantity": None if _metered(price) else (quantity or 1),
            "subscription": sub_id}


# -- lifecycle -------------------------------------------------------------------------------------

def _save(tx: Tx, before: dict[str, Any], sub: dict[str, Any]) -> None:
    """Stores ``sub``; ``customer.subscription.updated`` with what changed."""
    tx.put(sub)
    after = render(tx, sub)
    changed = previous_attributes(before, after)
    if changed:
        emit(tx, "customer.subscription.updated", after, changed)


def payment_method_for(tx: Tx, sub: dict[str, Any]) -> str | None:
    if sub.get("default_payment_method"):
        return str(sub["default_payment_method"])
    customer = tx.get(sub["customer"], "customer")
    return default_payment_method(customer) if customer else None


def start(tx: Tx, customer: dict[str, Any], prices: list[tuple[dict[str, Any], int | None]],
          *, pm_id: str | None, metadata: dict[str, str], taxed: bool, paid_on_session: bool,
          behavior: str = "allow_incomplete", description: str | None = None,
          ) -> dict[str, Any]:
    """A new subscription and its first invoice. ``paid_on_session``: the customer just paid
    on the Checkout page (the card was accepted there); otherwise the invoice is charged
    off-session following ``behavior`` (``payment_behavior``)."""
    sub_id = tx.next_id("sub_")
    begin, end = tx.now, add_months(tx.now, 1)
    items = [_new_item(tx, sub_id, price, quantity, begin, end) for price, quantity in prices]
    sub = _document(sub_id, customer["id"], items, pm_id, metadata, taxed, description, tx.now)
    tx.put(sub)
    emit(tx, "customer.subscription.created", render(tx, sub))
    lines = plan_lines(tx, sub, items, begin, end, lambda: tx.next_id("il_"))
    invoice = invoices.draft(tx, customer, lines, reason="subscription_create",
                             period_start=begin, period_end=begin, taxed=taxed,
                             subscription=sub)
    invoices.create(tx, customer, invoice)
    before = render(tx, sub)
    sub["latest_invoice"] = invoice["id"]
    status = "active"
    if paid_on_session:
        invoice["default_payment_method"] = pm_id
        invoices.mark_paid(tx, invoice)
    elif behavior == "default_incomplete" and invoice["amount_due"] > 0:
        status = "incomplete"
    else:
        decline = invoices.charge(tx, invoice, pm_id or default_payment_method(customer))
        if decline is not None:
            if behavior == "error_if_incomplete":
                raise decline.error()
            status = "incomplete"
    sub["status"] = status
    _save(tx, before, sub)
    return sub


def _document(sub_id: str, customer_id: str, items: list[dict[str, Any]], pm_id: str | None,
              metadata: dict[str, str], taxed: bool, description: str | None, now: int,
              ) -> dict[str, Any]:
    return {
        "id": sub_id, "object": "subscription", "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"disabled_reason": None, "enabled": taxed,
                          "liability": {"type": "self"} if taxed else None},
        "billing_cycle_anchor": now, "billing_cycle_anchor_config": None,
        "billing_mode": {"flexible": None, "type": "classic", "updated_at": None},
        "billing_thresholds": None, "cancel_at": None, "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically", "created": now, "currency": "usd",
        "customer": customer_id, "customer_account": None, "days_until_due": None,
        "default_payment_method": pm_id, "default_source": None, "default_tax_rates": [],
        "description": description, "discounts": [], "ended_at": None,
        "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
        "items": items, "latest_invoice": None, "livemode": False, "metadata": metadata,
        "next_pending_invoice_item_invoice": None, "on_behalf_of": None,
        "pause_collection": None,
        "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": None, "pending_setup_intent": None,
        "pending_update": None, "schedule": None, "start_date": now, "status": "incomplete",
        "test_clock": None, "transfer_data": None, "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None, "_period": 0, "_pending": [],
    }


def _set_cancel(sub: dict[str, Any], cancel_at: int | None, now: int,
                comment: Params | None) -> None:
    sub["cancel_at"] = cancel_at
    sub["canceled_at"] = now if cancel_at is not None else None
    details = {"comment": None, "feedback": None,
               "reason": "cancellation_requested" if cancel_at is not None else None}
    if comment is not None and cancel_at is not None:
        details["comment"] = comment.text("comment", blank_is_none=True)
        details["feedback"] = comment.text("feedback", blank_is_none=True)
    sub["cancellation_details"] = details


def update(tx: Tx, sub: dict[str, Any], params: Params) -> dict[str, Any]:
    """``POST /v1/subscriptions/{id}`` (see the module docstring)."""
    if sub["status"] in ("canceled", "incomplete_expired"):
        allowed = {"metadata", "cancellation_details", "expand"}
        if set(params.data) - allowed:
            raise invalid("A canceled subscription can only update its cancellation_details "
                          "and metadata.")
    before = render(tx, sub)
    sub["metadata"] = merge_metadata(sub["metadata"], params.metadata())
    if "description" in params:
        sub["description"] = params.text("description", blank_is_none=True)
    if "default_payment_method" in params:
        _set_default_pm(tx, sub, params.text("default_payment_method", blank_is_none=True))
    details = params.sub("cancellation_details")
    end = period(sub)[1]
    at_end = params.flag("cancel_at_period_end")
    if at_end is not None:
        _set_cancel(sub, end if at_end else None, tx.now, details)
        sub["cancel_at_period_end"] = at_end
    elif "cancel_at" in params:
        value = params.integer("cancel_at")
        _set_cancel(sub, value, tx.now, details)
        sub["cancel_at_period_end"] = value == end
    behavior = params.choice("proration_behavior", BEHAVIORS, "create_prorations")
    payment = params.choice("payment_behavior", PAYMENT_BEHAVIORS) or "allow_incomplete"
    entries = params.subs("items")
    if entries:
        at = params.integer("proration_date") or tx.now
        items, changes = change_items(tx, sub, entries, dry_run=False)
        lines = [] if behavior == "none" else proration_lines(
            tx, sub, changes, at, lambda: tx.next_id("il_"))
        sub["items"] = items
        if behavior == "always_invoice" and lines:
            _invoice_now(tx, sub, [*sub["_pending"], *lines], payment)
            sub["_pending"] = []
        else:
            sub["_pending"] = [*sub["_pending"], *lines]
    _save(tx, before, sub)
    return sub


def _set_default_pm(tx: Tx, sub: dict[str, Any], pm_id: str | None) -> None:
    if pm_id is not None:
        pm = fetch(tx, pm_id, "payment_method", "default_payment_method")
        if pm.get("customer") != sub["customer"]:
            raise invalid(f"The customer does not have a payment method with the ID {pm_id}. "
                          "The payment method must be attached to the customer.",
                          "default_payment_method")
    sub["default_payment_method"] = pm_id


def _invoice_now(tx: Tx, sub: dict[str, Any], lines: list[dict[str, Any]],
                 payment: str) -> None:
    customer = fetch(tx, sub["customer"], "customer")
    invoice = invoices.draft(tx, customer, lines, reason="subscription_update",
                             period_start=tx.now, period_end=tx.now, taxed=_taxed(sub),
                             subscription=sub)
    invoices.create(tx, customer, invoice)
    decline = invoices.charge(tx, invoice, payment_method_for(tx, sub))
    sub["latest_invoice"] = invoice["id"]
    if decline is not None:
        if payment == "error_if_incomplete":
            raise decline.error()
        sub["status"] = "past_due"


def cancel(tx: Tx, sub: dict[str, Any], params: Params) -> dict[str, Any]:
    """``DELETE /v1/subscriptions/{id}``: canceled now (``customer.subscription.deleted``).
    ``invoice_now`` bills the usage so far and pending prorations; ``prorate`` is accepted but
    credits nothing."""
    params.only(("cancellation_details", "invoice_now", "prorate"))
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(f"The subscription {sub['id']} has already been canceled.")
    if params.flag("invoice_now"):
        _final_invoice(tx, sub, tx.now)
    _set_cancel(sub, None, tx.now, None)
    details = params.sub("cancellation_details")
    sub["cancellation_details"] = {
        "comment": details.text("comment", blank_is_none=True) if details else None,
        "feedback": details.text("feedback", blank_is_none=True) if details else None,
        "reason": "cancellation_requested"}
    _end(tx, sub, tx.now)
    return sub


def _end(tx: Tx, sub: dict[str, Any], at: int) -> None:
    sub["status"] = "canceled"
    sub["ended_at"] = at
    sub["canceled_at"] = sub["canceled_at"] or at
    tx.put(sub)
    emit(tx, "customer.subscription.deleted", render(tx, sub))


def _final_invoice(tx: Tx, sub: dict[str, Any], at: int) -> None:
    begin = period(sub)[0]
    lines = [*sub["_pending"], *usage_lines(tx, sub, begin, at, lambda: tx.next_id("il_"))]
    sub["_pending"] = []
    if not any(entry["amount"] for entry in lines):
        return
    customer = fetch(tx, sub["customer"], "customer")
    invoice = invoices.draft(tx, customer, lines, reason="subscription_cycle",
                             period_start=begin, period_end=at, taxed=_taxed(sub),
                             subscription=sub)
    invoices.create(tx, customer, invoice)
    invoices.charge(tx, invoice, payment_method_for(tx, sub))
    sub["latest_invoice"] = invoice["id"]


# -- the clock -------------------------------------------------------------------------------------

def _renew(tx: Tx, sub: dict[str, Any]) -> None:
    """Moves ``sub`` to its next period: the invoice for it (plan in advance, usage of the
    period that ended, pending prorations), charged off-session."""
    before = render(tx, sub)
    old_start, old_end = period(sub)
    index = int(sub.get("_period", 0)) + 1
    anchor = int(sub["billing_cycle_anchor"])
    new_start, new_end = add_months(anchor, index), add_months(anchor, index + 1)
    ids = lambda: tx.next_id("il_")  # noqa: E731
    lines = [*plan_lines(tx, sub, sub["items"], new_start, new_end, ids), *sub["_pending"],
             *usage_lines(tx, sub, old_start, old_end, ids)]
    customer = fetch(tx, sub["customer"], "customer")
    invoice = invoices.draft(tx, customer, lines, reason="subscription_cycle",
                             period_start=old_start, period_end=old_end, taxed=_taxed(sub),
                             subscription=sub)
    invoices.create(tx, customer, invoice)
    decline = invoices.charge(tx, invoice, payment_method_for(tx, sub))
    for item in sub["items"]:
        item["current_period_start"], item["current_period_end"] = new_start, new_end
    sub["_period"] = index
    sub["_pending"] = []
    sub["latest_invoice"] = invoice["id"]
    sub["status"] = "past_due" if decline is not None else "active"
    _save(tx, before, sub)


def _expire_incomplete(tx: Tx, sub: dict[str, Any]) -> None:
    before = render(tx, sub)
    invoice = tx.get(sub.get("latest_invoice") or "", "invoice")
    if invoice is not None and invoice["status"] == "open":
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = tx.now
        invoice["amount_remaining"] = 0
        tx.put(invoice)
        emit(tx, "invoice.voided", render(tx, invoice))
    sub["status"] = "incomplete_expired"
    sub["ended_at"] = tx.now
    _save(tx, before, sub)


def advance(tx: Tx) -> None:
    """Everything due by ``tx.now``: renewals (one per period passed), cancellations that
    reached ``cancel_at``, incomplete subscriptions expiring after 23 hours. A subscription
    whose turn fails is logged and left alone from then on (marked ``_clock_error``), so one
    bad document cannot stop every later request."""
    for sub in tx.docs("subscription"):
        if sub.get("_clock_error"):
            continue
        try:
            with tx.savepoint():
                _advance_one(tx, sub)
        except Exception as exc:
            log.exception("stripe sandbox: the clock could not move %s", sub["id"])
            stored = tx.get(sub["id"], "subscription") or sub  # as before the failed turn
            stored["_clock_error"] = f"{type(exc).__name__}: {exc}"
            tx.put(stored)


def _advance_one(tx: Tx, sub: dict[str, Any]) -> None:
    """One subscription's due changes: expiry, a cancellation reached, renewals."""
    if sub["status"] == "incomplete":
        if tx.now >= sub["created"] + INCOMPLETE_EXPIRY:
            _expire_incomplete(tx, sub)
        return
    for _ in range(MAX_CATCH_UP_PERIODS):
        if sub["status"] not in LIVE:
            break
        end = period(sub)[1]
        cancel_at = sub.get("cancel_at")
        if cancel_at is not None and cancel_at <= min(end, tx.now):
            _final_invoice(tx, sub, int(cancel_at))
            _end(tx, sub, int(cancel_at))
            break
        if end > tx.now:
            break
        _renew(tx, sub)


# -- preview ---------------------------------------------------------------------------------------

PREVIEW_PARAMS = ("automatic_tax", "currency", "customer", "customer_account",
                  "customer_details", "discounts", "invoice_items", "issuer", "on_behalf_of",
                  "preview_mode", "schedule", "schedule_details", "subscription",
                  "subscription_details")


def preview(tx: Tx, params: Params) -> dict[str, Any]:
    """``POST /v1/invoices/create_preview``: the invoice a subscription change would bring
    (``always_invoice``: the proration invoice billed now; otherwise the next renewal with the
    prorations, the new prices and the usage so far), or a new subscription's first invoice."""
    params.only(PREVIEW_PARAMS)
    details = params.sub("subscription_details") or Params({}, "subscription_details")
    details.only(("billing_cycle_anchor", "billing_mode", "billing_schedules", "cancel_at",
                  "cancel_at_period_end", "cancel_now", "default_tax_rates", "items",
                  "metadata", "pause", "proration_behavior", "proration_date", "resume_at",
                  "start_date", "trial_end"))
    mode = params.choice("preview_mode", ("next", "recurring"), "next")
    sub_id = params.text("subscription")
    counter = iter(range(1, 10_000))
    ids = lambda: f"il_tmp_{next(counter):06d}"  # noqa: E731
    if sub_id is None:
        return _preview_new(tx, params, details, ids)
    sub = fetch(tx, sub_id, "subscription", "subscription")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(f"No upcoming invoices for subscription: {sub['id']}",
                      code="invoice_upcoming_none", status=404)
    customer = fetch(tx, sub["customer"], "customer")
    if params.text("customer") not in (None, sub["customer"]):
        raise invalid("The subscription does not belong to this customer.", "customer")
    behavior = details.choice("proration_behavior", BEHAVIORS, "create_prorations")
    at = details.integer("proration_date") or tx.now
    items, changes = change_items(tx, sub, details.subs("items"), dry_run=True)
    prorations = [] if behavior == "none" or mode == "recurring" else proration_lines(
        tx, sub, changes, at, ids)
    taxed = _preview_tax(params, sub)
    shaped = {**sub, "automatic_tax": {**sub["automatic_tax"], "enabled": taxed}}
    begin, end = period(sub)
    if behavior == "always_invoice" and prorations and mode == "next":
        lines = [*sub["_pending"], *prorations]
        invoice = invoices.draft(tx, customer, lines, reason="subscription_update",
                                 period_start=at, period_end=at, taxed=taxed,
                                 subscription=shaped, invoice_id=f"upcoming_{sub['id']}")
    else:
        next_end = add_months(int(sub["billing_cycle_anchor"]), int(sub["_period"]) + 2)
        ending = details.flag("cancel_at_period_end", sub["cancel_at_period_end"])
        plan = [] if ending else plan_lines(tx, shaped, items, end, next_end, ids)
        usage = [] if mode == "recurring" else usage_lines(tx, shaped, begin, end, ids)
        pending = [] if mode == "recurring" else [dict(p) for p in sub["_pending"]]
        lines = [*plan, *pending, *prorations, *usage]
        invoice = invoices.draft(tx, customer, lines, reason="subscription_cycle",
                                 period_start=begin, period_end=end, taxed=taxed,
                                 subscription=shaped, invoice_id=f"upcoming_{sub['id']}")
        invoice["created"] = end
        invoice["next_payment_attempt"] = end
    invoice["parent"]["subscription_details"]["subscription_proration_date"] = at
    return invoice


def _preview_tax(params: Params, sub: dict[str, Any] | None) -> bool:
    tax = params.sub("automatic_tax")
    enabled = tax.flag("enabled") if tax is not None else None
    if enabled is not None:
        return enabled
    return _taxed(sub) if sub is not None else False


def _preview_new(tx: Tx, params: Params, details: Params, ids: LineIds) -> dict[str, Any]:
    customer_id = params.text("customer")
    if customer_id is None:
        raise invalid("Missing required param: customer or subscription.", "customer",
                      "parameter_missing")
    customer = fetch(tx, customer_id, "customer", "customer")
    entries = details.subs("items")
    if not entries:
        raise invalid("Missing required param: subscription_details[items].",
                      "subscription_details[items]", "parameter_missing")
    taxed = _preview_tax(params, None)
    begin = details.integer("start_date") or tx.now
    end = add_months(begin, 1)
    items = []
    for entry in entries:
        price = _usable_price(tx, entry.need("price"), entry.full("price"))
        items.append(_placeholder(price, entry.integer("quantity", low=1), "", begin, end))
    shell = _document("", customer_id, items, None, {}, taxed, None, begin)
    lines = plan_lines(tx, shell, items, begin, end, ids)
    for planned in lines:
        planned["subscription"] = None
        planned["parent"]["subscription_item_details"]["subscription"] = None
    invoice = invoices.draft(tx, customer, lines, reason="subscription_create",
                             period_start=begin, period_end=begin, taxed=taxed,
                             subscription=None, invoice_id=f"upcoming_{customer_id}")
    return invoice
