"""Invoices and proration previews as the app shows them: amounts in the currency's minor unit,
tax as Stripe computed it (``total_taxes`` today, ``tax`` in older API versions)."""

from __future__ import annotations

from dataclasses import dataclass

from ._json import Json, integer, mapping, objects_in, opt_integer, opt_text, ref, text


def _tax(invoice: Json) -> int:
    taxes = invoice.get("total_taxes")
    if isinstance(taxes, list):
        return sum(integer(mapping(tax).get("amount")) for tax in taxes)
    return integer(invoice.get("tax"))


def _invoice_subscription(invoice: Json) -> str | None:
    details = mapping(mapping(invoice.get("parent")).get("subscription_details"))
    return ref(details.get("subscription")) or ref(invoice.get("subscription"))


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str | None
    status: str  # draft, open, paid, uncollectible, void
    amount_due: int
    amount_paid: int
    amount_remaining: int
    subtotal: int
    tax: int  # as Stripe computed it (automatic tax)
    total: int
    currency: str
    hosted_invoice_url: str | None
    invoice_pdf: str | None
    created: int
    period_start: int | None
    period_end: int | None
    subscription: str | None


def invoice_from(data: Json) -> Invoice:
    return Invoice(
        id=text(data.get("id")), number=opt_text(data.get("number")),
        status=text(data.get("status")), amount_due=integer(data.get("amount_due")),
        amount_paid=integer(data.get("amount_paid")),
        amount_remaining=integer(data.get("amount_remaining")),
        subtotal=integer(data.get("subtotal")), tax=_tax(data), total=integer(data.get("total")),
        currency=text(data.get("currency")),
        hosted_invoice_url=opt_text(data.get("hosted_invoice_url")),
        invoice_pdf=opt_text(data.get("invoice_pdf")), created=integer(data.get("created")),
        period_start=opt_integer(data.get("period_start")),
        period_end=opt_integer(data.get("period_end")), subscription=_invoice_subscription(data))


@dataclass(frozen=True)
class PreviewLine:
    description: str
    amount: int
    proration: bool
    period_start: int | None
    period_end: int | None


@dataclass(frozen=True)
class ProrationPreview:
    """What a plan change would cost: ``amount_due`` is charged now (negative lines are credit
    for the unused time of the old plan). Pass ``proration_date`` to the change so Stripe
    charges exactly this."""

    subscription: str
    item_id: str
    new_price: str
    amount_due: int
    subtotal: int
    tax: int
    total: int
    currency: str
    proration_date: int
    lines: tuple[PreviewLine, ...]


def _line_from(data: Json) -> PreviewLine:
    parent = mapping(data.get("parent"))
    details = mapping(parent.get("subscription_item_details")) or mapping(
        parent.get("invoice_item_details"))
    proration = details.get("proration") is True or data.get("proration") is True
    period = mapping(data.get("period"))
    return PreviewLine(description=text(data.get("description")),
                       amount=integer(data.get("amount")), proration=proration,
                       period_start=opt_integer(period.get("start")),
                       period_end=opt_integer(period.get("end")))


def preview_from(data: Json, *, subscription: str, item_id: str, new_price: str,
                 proration_date: int) -> ProrationPreview:
    return ProrationPreview(
        subscription=subscription, item_id=item_id, new_price=new_price,
        amount_due=integer(data.get("amount_due")), subtotal=integer(data.get("subtotal")),
        tax=_tax(data), total=integer(data.get("total")), currency=text(data.get("currency")),
        proration_date=proration_date,
        lines=tuple(_line_from(line) for line in objects_in(data.get("lines"))))
