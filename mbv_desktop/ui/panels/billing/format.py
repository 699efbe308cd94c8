"""Money, dates and the sentences the Billing panel shows; plain functions, no Qt.

Amounts arrive as Stripe sends them, in the currency's minor unit (cents); times are Unix
seconds and are shown as local dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mbv_desktop.core.money import day, money

if TYPE_CHECKING:
    from mbv_desktop.services.billing_status import (
        BillingStatus,
        Invoice,
        PaymentMethod,
        Plan,
        Subscription,
        UsageLine,
    )

WARNING_STATUSES = frozenset({"past_due", "unpaid", "incomplete", "incomplete_expired",
                              "paused"})
_STATUS_WORDS = {
    "active": "active",
    "trialing": "trial",
    "past_due": "past due",
    "unpaid": "unpaid",
    "incomplete": "waiting for the first payment",
    "incomplete_expired": "first payment never made",
    "paused": "paused",
    "canceled": "canceled",
}
_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express",
           "discover": "Discover", "diners": "Diners Club", "jcb": "JCB",
           "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires"}


def price(plan: Plan) -> str:
    """``$12 / month``."""
    every = plan.interval if plan.interval_count == 1 else \
        f"{plan.interval_count} {plan.interval}s"
    return f"{money(plan.amount, plan.currency, whole=True)} / {every}"


def _count(value: float | None, unit: str, unlimited: str) -> str:
    if value is None:
        return unlimited
    return f"{value:,.0f} {unit}" if value == int(value) else f"{value:,} {unit}"


def plan_points(plan: Plan) -> list[str]:
    """What a plan gives: its marketing features, else lines made from its limits."""
    if plan.features:
        return list(plan.features)
    limits = plan.limits
    return [_count(limits.ai_generations, "AI generations a month", "Unlimited AI generations"),
            _count(limits.connected_accounts, "connected accounts",
                   "Unlimited connected accounts"),
            _count(limits.storage_gb, "GB storage", "Unlimited storage")]


@dataclass(frozen=True)
class Headline:
    text: str
    warning: bool
    hint: str = ""


def headline(status: BillingStatus) -> Headline:
    """``Creator · active · renews 26 Dec 2026`` and what to do when it needs the creator."""
    plan = status.plan.name if status.plan else "No plan"
    sub = status.subscription
    if sub is None:
        return Headline(f"{plan} · no payment needed", False)
    words = _STATUS_WORDS.get(sub.status, sub.status.replace("_", " "))
    parts = [plan, words]
    if sub.cancel_at_period_end or sub.cancel_at:
        parts.append(f"ends on {day(sub.cancel_at or sub.current_period_end)}")
    elif sub.status in ("active", "trialing") and sub.current_period_end:
        parts.append(f"renews {day(sub.current_period_end)}")
    warning = sub.status in WARNING_STATUSES
    hint = ""
    if sub.status in ("past_due", "unpaid"):
        hint = ("Stripe could not charge your card for this period. Open the unpaid invoice "
                "below to pay it with another card, or make another card the default for "
                "Stripe's next try.")
    elif sub.status == "incomplete":
        hint = "Finish the payment in your browser, or choose the plan again."
    return Headline(" · ".join(parts), warning, hint)


def renewal_hint(sub: Subscription | None) -> str:
    if sub is None:
        return ""
    if sub.cancel_at_period_end or sub.cancel_at:
        return (f"Your plan ends on {day(sub.cancel_at or sub.current_period_end)}; "
                "you keep it until then. Resume to keep it going.")
    if sub.current_period_end:
        return f"Renews automatically on {day(sub.current_period_end)}."
    return ""


def card_label(card: PaymentMethod) -> str:
    """``Visa •••• 4242``."""
    brand = _BRANDS.get(card.brand, card.brand.title() or card.type.title() or "Card")
    return f"{brand} \u2022\u2022\u2022\u2022 {card.last4}" if card.last4 else brand


def card_expiry(card: PaymentMethod) -> str:
    if card.exp_month is None or card.exp_year is None:
        return ""
    return f"{card.exp_month:02d}/{card.exp_year}"


def invoice_status(invoice: Invoice) -> str:
    return {"paid": "Paid", "open": "Due", "draft": "Draft", "void": "Void",
            "uncollectible": "Uncollectible"}.get(invoice.status, invoice.status.title())


def usage_text(line: UsageLine) -> str:
    """``1 of 1,000``, ``0.12 GB of 25 GB``, ``3 used · unlimited``."""
    if line.key == "storage_gb":
        used = f"{line.used:,.2f} GB"
        limit = None if line.limit is None else f"{line.limit:,.0f} GB"
    else:
        used = f"{line.used:,.0f}"
        limit = None if line.limit is None else f"{line.limit:,.0f}"
    return f"{used} used · unlimited" if limit is None else f"{used} of {limit}"


def usage_note(line: UsageLine, waiting: int) -> str:
    """For AI generations: what Stripe's meter has counted and what waits to be sent."""
    if line.key != "ai_generations":
        return ""
    parts = []
    if line.reported is not None:
        parts.append(f"Stripe has recorded {line.reported:,.0f}")
    if waiting:
        parts.append(f"{waiting:,} waiting to send")
    return " · ".join(parts)


def stale_text(status: BillingStatus) -> str:
    if status.fetched_at is None:
        return "Stripe could not be reached, and nothing is known yet."
    at = status.fetched_at.astimezone().strftime("%H:%M")
    return f"Stripe could not be reached \u2014 showing what was known at {at}."
