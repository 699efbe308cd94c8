"""Invoices: their lines (a plan for a period, a proration, metered usage), totals with tax,
the customer's credit balance, numbering, finalizing and paying, each step with its event.

Tax: when ``automatic_tax[enabled]`` is on, every line is taxed at :data:`TAX_PERCENT` (8 %,
exclusive, rounded half up per line), reported as ``taxes`` on each line and ``total_taxes``
on the invoice, as Stripe Tax does for a US sales-tax rate. A credit line (a proration for
unused time) carries negative tax.

Credit: an invoice whose total is negative leaves the difference as customer credit
(``balance`` below zero), which the next invoice uses first (``starting_balance``,
``ending_balance``, ``amount_due`` = total + starting balance, never below zero).

Payment: an invoice with nothing due is paid at once; otherwise the payment method (the
subscription's default, else the customer's) is charged off-session, and the test cards that
decline renewals (``cards.renewal_decline``) leave the invoice ``open`` with
``invoice.payment_failed``. Events, in order: ``invoice.created``, ``invoice.finalized``, then
``invoice.paid`` + ``invoice.payment_succeeded`` or ``invoice.payment_failed``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from mbv_desktop.sandbox.stripe.cards import Decline, renewal_decline
from mbv_desktop.sandbox.stripe.catalog import CURRENCY
from mbv_desktop.sandbox.stripe.events import emit
from mbv_desktop.sandbox.stripe.objects import BASE, render
from mbv_desktop.sandbox.stripe.store import Tx

TAX_PERCENT = 8
TAX_RATE_ID = "txr_SbxSalesTax08"
ACCOUNT_NAME = "Must Be Viral (sandbox)"
NO_PAYMENT_METHOD = Decline("missing_payment_method",
                            "This customer has no attached payment source or default payment "
                            "method. Please consider adding a default payment method.",
                            card=False)


def tax_of(amount: int) -> int:
    """8 % of ``amount`` cents, rounded half away from zero."""
    value = (Decimal(amount) * TAX_PERCENT / 100).quantize(Decimal(1), ROUND_HALF_UP)
    return int(value)


def _tax_entry(amount: int) -> dict[str, Any]:
    return {"amount": tax_of(amount), "tax_behavior": "exclusive",
            "tax_rate_details": {"tax_rate": TAX_RATE_ID}, "taxability_reason": "standard_rated",
            "taxable_amount": amount, "type": "tax_rate_details"}


def line(*, line_id: str, amount: int, price: dict[str, Any], quantity: int | None,
         description: str, start: int, end: int, subscription: str | None,
         item: str | None, proration: bool, taxed: bool) -> dict[str, Any]:
    """One invoice line (``line_item``) in today's shape (``pricing``, ``parent``)."""
    return {"id": line_id, "object": "line_item", "amount": amount, "currency": CURRENCY,
            "description": description, "discount_amounts": [], "discountable": True,
            "discounts": [], "invoice": None, "livemode": False, "metadata": {},
            "parent": {"invoice_item_details": None,
                       "subscription_item_details": {
                           "invoice_item": None, "proration": proration,
                           "proration_details": {"credited_items": None},
                           "subscription": subscription, "subscription_item": item},
                       "type": "subscription_item_details"},
            "period": {"end": end, "start": start}, "pretax_credit_amounts": [],
            "pricing": {"price_details": {"price": price["id"], "product": price["product"]},
                        "type": "price_details",
                        "unit_amount_decimal": price["unit_amount_decimal"]},
            "quantity": quantity, "subscription": subscription, "subtotal": amount,
            "taxes": [_tax_entry(amount)] if taxed else []}


def draft(tx: Tx, customer: dict[str, Any], lines: list[dict[str, Any]], *, reason: str,
          period_start: int, period_end: int, taxed: bool,
          subscription: dict[str, Any] | None, invoice_id: str | None = None,
          ) -> dict[str, Any]:
    """A draft invoice over ``lines`` (not stored: see :func:`create`)."""
    invoice_id = invoice_id or tx.next_id("in_")
    for entry in lines:
        entry["invoice"] = invoice_id
    subtotal = sum(entry["amount"] for entry in lines)
    tax = sum(t["amount"] for entry in lines for t in entry["taxes"])
    total = subtotal + tax
    starting = int(customer.get("balance") or 0)
    due = max(0, total + starting)
    parent = None
    if subscription is not None:
        parent = {"quote_details": None, "type": "subscription_details",
                  "subscription_details": {"metadata": dict(subscription["metadata"]),
                                           "subscription": subscription["id"],
                                           "subscription_proration_date": None}}
    totals = [_tax_total(lines)] if taxed and lines else []
    return {
        "id": invoice_id, "object": "invoice", "account_country": "US",
        "account_name": ACCOUNT_NAME, "account_tax_ids": None, "amount_due": due,
        "amount_overpaid": 0, "amount_paid": 0, "amount_remaining": due, "amount_shipping": 0,
        "application": None, "attempt_count": 0, "attempted": False, "auto_advance": True,
        "automatic_tax": {"disabled_reason": None, "enabled": taxed,
                          "liability": {"type": "self"} if taxed else None,
                          "provider": "stripe" if taxed else None,
                          "status": "complete" if taxed else None},
        "automatically_finalizes_at": None, "billing_reason": reason,
        "collection_method": "charge_automatically", "confirmation_secret": None,
        "created": tx.now, "currency": CURRENCY, "custom_fields": None,
        "customer": customer["id"], "customer_account": None, "customer_address": None,
        "customer_email": customer.get("email"), "customer_name": customer.get("name"),
        "customer_phone": customer.get("phone"), "customer_shipping": None,
        "customer_tax_exempt": "none", "customer_tax_ids": [], "default_payment_method": None,
        "default_source": None, "default_tax_rates": [], "description": None, "discounts": [],
        "due_date": None, "effective_at": None, "ending_balance": None, "footer": None,
        "from_invoice": None, "hosted_invoice_url": None, "invoice_pdf": None,
        "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None,
        "lines": lines, "livemode": False, "metadata": {}, "next_payment_attempt": None,
        "number": None, "on_behalf_of": None, "parent": parent,
        "payment_settings": {"default_mandate": None, "payment_method_options": None,
                             "payment_method_types": None},
        "period_end": period_end, "period_start": period_start,
        "post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0,
        "receipt_number": None, "rendering": None, "shipping_cost": None,
        "shipping_details": None, "starting_balance": starting, "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None,
                               "paid_at": None, "voided_at": None},
        "subtotal": subtotal, "subtotal_excluding_tax": subtotal, "test_clock": None,
        "total": total, "total_discount_amounts": [],
        "total_excluding_tax": subtotal, "total_pretax_credit_amounts": [],
        "total_taxes": totals, "webhooks_delivered_at": None,
    }


def _tax_total(lines: list[dict[str, Any]]) -> dict[str, Any]:
    taxable = sum(entry["amount"] for entry in lines if entry["taxes"])
    entry = _tax_entry(taxable)
    entry["amount"] = sum(t["amount"] for item in lines for t in item["taxes"])
    return entry


def create(tx: Tx, customer: dict[str, Any], invoice: dict[str, Any]) -> dict[str, Any]:
    """Stores a draft and finalizes it: number, hosted page and PDF, the customer's balance
    moved (``invoice.created``, ``invoice.finalized``)."""
    tx.put(invoice)
    emit(tx, "invoice.created", render(tx, invoice))
    number = int(customer.get("next_invoice_sequence") or 1)
    invoice["number"] = f"{customer['invoice_prefix']}-{number:04d}"
    customer["next_invoice_sequence"] = number + 1
    customer["currency"] = customer.get("currency") or CURRENCY
    applied = invoice["total"] + invoice["starting_balance"]
    customer["balance"] = min(0, applied)
    invoice["ending_balance"] = customer["balance"]
    invoice["status"] = "open"
    invoice["status_transitions"]["finalized_at"] = tx.now
    invoice["effective_at"] = tx.now
    invoice["webhooks_delivered_at"] = tx.now
    invoice["hosted_invoice_url"] = f"{BASE}/i/{invoice['id']}"
    invoice["invoice_pdf"] = f"{BASE}/i/{invoice['id']}/pdf"
    tx.put(customer)
    tx.put(invoice)
    emit(tx, "invoice.finalized", render(tx, invoice))
    return invoice


def mark_paid(tx: Tx, invoice: dict[str, Any]) -> None:
    invoice["status"] = "paid"
    invoice["amount_paid"] = invoice["amount_due"]
    invoice["amount_remaining"] = 0
    invoice["status_transitions"]["paid_at"] = tx.now
    if invoice["amount_due"] > 0:
        invoice["attempted"] = True
        invoice["attempt_count"] += 1
    tx.put(invoice)
    shown = render(tx, invoice)
    emit(tx, "invoice.paid", shown)
    emit(tx, "invoice.payment_succeeded", shown)


def charge(tx: Tx, invoice: dict[str, Any], pm_id: str | None) -> Decline | None:
    """Pays an open invoice off-session with ``pm_id``; the decline when it fails
    (``invoice.payment_failed``, the invoice stays open)."""
    if invoice["amount_due"] == 0:
        mark_paid(tx, invoice)
        return None
    pm = tx.get(pm_id, "payment_method") if pm_id else None
    decline = NO_PAYMENT_METHOD if pm is None else renewal_decline(pm["_number"])
    if decline is None:
        invoice["default_payment_method"] = None
        mark_paid(tx, invoice)
        return None
    invoice["attempted"] = True
    invoice["attempt_count"] += 1
    invoice["next_payment_attempt"] = tx.now + 3 * 86400
    invoice["last_finalization_error"] = None
    tx.put(invoice)
    emit(tx, "invoice.payment_failed", render(tx, invoice))
    return decline
