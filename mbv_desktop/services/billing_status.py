"""What the Billing panel and ``mbv-desktop billing status`` show, built from SQLite alone.

The billing service writes what Stripe said (plans, subscriptions, cards, invoices, metered
usage) into the store; :func:`read_status` turns those rows into one :class:`BillingStatus`,
so the panel has a complete picture offline, marked stale when Stripe could not be reached.
"""

from __future__ import annotations

import calendar
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from mbv_desktop.integrations.payments.codec import dump, load
from mbv_desktop.integrations.payments.invoices import Invoice
from mbv_desktop.integrations.payments.objects import (
    PaymentMethod,
    Plan,
    PlanCatalog,
    Subscription,
)
from mbv_desktop.services.plan_limits import PLAN_STATE, period_containing
from mbv_desktop.store.billing import BillingRepository

LIVE_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused")
"""Subscription statuses that still hold a plan (the first found, newest first, is current)."""

CATALOG = "catalog"
REACH = "reach"  # {"ok": bool, "error": str | None}: how the last talk with Stripe went
USAGE = "usage"  # {"start", "end", "totals": {event_name: units}}: Stripe's meter summaries
PLAN = PLAN_STATE  # the current plan's limits and period, for the plan guard
CUSTOMER = "customer"  # {"app_user_id", "customer_id", "email"} of the signed-in creator

USAGE_LABELS = {
    "ai_generations": "AI generations (text and images)",
    "connected_accounts": "Connected accounts",
    "storage_gb": "Storage (GB)",
}


@dataclass(frozen=True)
class UsageLine:
    """How much of one plan limit is used this period (``limit`` None: unlimited)."""

    key: str
    label: str
    used: float
    limit: float | None
    reported: float | None = None  # what Stripe's meters counted, for metered lines

    @property
    def reached(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "used": self.used, "limit": self.limit,
                "reported_to_stripe": self.reported}


@dataclass(frozen=True)
class BillingStatus:
    configured: bool
    app_user: str | None  # the e-mail of the sign-in the plan belongs to
    customer_id: str | None
    catalog: PlanCatalog | None
    plan: Plan | None
    subscription: Subscription | None
    payment_methods: tuple[PaymentMethod, ...]
    invoices: tuple[Invoice, ...]
    usage: tuple[UsageLine, ...]
    period_start: int
    period_end: int
    fetched_at: datetime | None
    stale: bool
    problem: str | None
    meter_waiting: int = 0

    @property
    def plans(self) -> tuple[Plan, ...]:
        return self.catalog.plans if self.catalog else ()

    def to_json(self) -> dict[str, Any]:
        return {
            "configured": self.configured,
            "signed_in_as": self.app_user,
            "customer_id": self.customer_id,
            "plan": plan_json(self.plan) if self.plan else None,
            "subscription": subscription_json(self.subscription),
            "payment_methods": [{"id": m.id, "brand": m.brand, "last4": m.last4,
                                 "exp_month": m.exp_month, "exp_year": m.exp_year,
                                 "default": m.is_default} for m in self.payment_methods],
            "usage": [line.to_json() for line in self.usage],
            "period": {"start": self.period_start, "end": self.period_end},
            "usage_waiting_to_send": self.meter_waiting,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "stale": self.stale,
            "problem": self.problem,
        }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {"name": plan.name, "key": plan.key, "price_id": plan.price_id,
            "amount": plan.amount, "currency": plan.currency, "interval": plan.interval,
            "limits": {"ai_generations": plan.limits.ai_generations,
                       "connected_accounts": plan.limits.connected_accounts,
                       "storage_gb": plan.limits.storage_gb},
            "features": list(plan.features)}


def subscription_json(sub: Subscription | None) -> dict[str, Any] | None:
    """The subscription as ``billing … --json`` shows it."""
    if sub is None:
        return None
    return {"id": sub.id, "status": sub.status, "cancel_at_period_end": sub.cancel_at_period_end,
            "current_period_start": sub.current_period_start,
            "current_period_end": sub.current_period_end,
            "default_payment_method": sub.default_payment_method}


def invoice_json(invoice: Invoice) -> dict[str, Any]:
    return {"id": invoice.id, "number": invoice.number, "status": invoice.status,
            "total": invoice.total, "tax": invoice.tax, "amount_due": invoice.amount_due,
            "amount_paid": invoice.amount_paid, "currency": invoice.currency,
            "created": invoice.created, "hosted_invoice_url": invoice.hosted_invoice_url,
            "invoice_pdf": invoice.invoice_pdf}


def free_plan(catalog: PlanCatalog | None) -> Plan | None:
    if catalog is None:
        return None
    return next((p for p in catalog.plans if p.amount == 0), None)


def current_subscription(subs: list[Subscription]) -> Subscription | None:
    live = [s for s in subs if s.status in LIVE_STATUSES]
    return max(live, key=lambda s: s.created) if live else None


def month_bounds(now: float) -> tuple[int, int]:
    day = datetime.fromtimestamp(now, UTC)
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    days = calendar.monthrange(day.year, day.month)[1]
    return int(start.timestamp()), int(start.timestamp()) + days * 86400


def read_status(conn: sqlite3.Connection, *, configured: bool, now: float) -> BillingStatus:
    """On the store's thread: the billing picture as stored."""
    repo = BillingRepository(conn)
    stored = repo.state(CATALOG)
    catalog = load(PlanCatalog, stored[0]) if stored else None
    customer_row = repo.state(CUSTOMER)
    customer = customer_row[0] if customer_row else {}
    customer_id = customer.get("customer_id")
    subs = [load(Subscription, body) for body in repo.objects("subscription", customer_id)] \
        if customer_id else []
    sub = current_subscription(subs)
    plan = None
    if catalog is not None:
        plan = (catalog.plan_for_price(sub.plan_item.price_id)
                if sub is not None and sub.plan_item else None) or free_plan(catalog)
    cards = tuple(load(PaymentMethod, body)
                  for body in repo.objects("payment_method", customer_id)) if customer_id else ()
    if sub is not None and sub.default_payment_method and not any(c.is_default for c in cards):
        # Checkout saves the first card on the subscription, not as the customer's default.
        cards = tuple(replace(c, is_default=c.id == sub.default_payment_method) for c in cards)
    stored_invoices = [load(Invoice, body) for body in repo.objects("invoice", customer_id)] \
        if customer_id else []
    # Newest first; invoices of the same second by their number (a customer's count up).
    invoices = tuple(sorted(stored_invoices, key=lambda i: (i.created, i.number or ""),
                            reverse=True))
    if sub is not None and sub.current_period_start and sub.current_period_end:
        start, end = period_containing(sub.current_period_start, sub.current_period_end, now)
    else:
        start, end = month_bounds(now)
    local = repo.meter_usage(start, end)
    usage_row = repo.state(USAGE)
    reported: dict[str, float] = {}
    if usage_row and usage_row[0].get("start") == start and \
            usage_row[0].get("customer_id") == customer_id:
        reported = {k: float(v) for k, v in usage_row[0].get("totals", {}).items()}
    accounts = conn.execute("SELECT count(*) FROM accounts WHERE role = 'publish'").fetchone()[0]
    stored_bytes = conn.execute("SELECT coalesce(sum(bytes), 0) FROM assets").fetchone()[0]
    limits = plan.limits if plan else None
    generations = sum(local.values())
    lines = (
        UsageLine("ai_generations", USAGE_LABELS["ai_generations"], generations,
                  limits.ai_generations if limits else None,
                  sum(reported.values()) if reported else None),
        UsageLine("connected_accounts", USAGE_LABELS["connected_accounts"], accounts,
                  limits.connected_accounts if limits else None),
        UsageLine("storage_gb", USAGE_LABELS["storage_gb"], round(stored_bytes / 1e9, 3),
                  limits.storage_gb if limits else None),
    )
    reach = repo.state(REACH)
    stale = bool(reach and not reach[0].get("ok"))
    waiting = repo.meter_counts().get("queued", 0)
    return BillingStatus(
        configured=configured, app_user=customer.get("email"), customer_id=customer_id,
        catalog=catalog, plan=plan, subscription=sub, payment_methods=cards, invoices=invoices,
        usage=lines, period_start=start, period_end=end,
        fetched_at=reach[1] if reach and reach[0].get("ok") else (stored[1] if stored else None),
        stale=stale, problem=reach[0].get("error") if reach and stale else None,
        meter_waiting=waiting)


def plan_record(status: BillingStatus) -> dict[str, Any] | None:
    """What the plan guard needs (limits, period, the next plan up), or None if unknown."""
    if status.plan is None or status.catalog is None:
        return None
    bigger = [p for p in status.catalog.plans if p.amount > status.plan.amount]
    upgrade = min(bigger, key=lambda p: p.amount) if bigger else None
    return {"name": status.plan.name, "limits": dump(status.plan.limits),
            "period_start": status.period_start, "period_end": status.period_end,
            "upgrade": None if upgrade is None else {"name": upgrade.name,
                                                     "limits": dump(upgrade.limits)}}
