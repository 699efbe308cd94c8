"""Keeping up with Stripe: events (polled, or forwarded to the local receiver), metered usage
from the AI ledger, and the background loop that does both.

* **Events, exactly once.** A desktop app cannot receive Stripe's public webhooks, so it polls
  ``/v1/events`` from a stored cursor; a forwarded webhook (``stripe listen``) takes the same
  path. An event's id is inserted in the same transaction as its effect, so a duplicate
  delivery — three at once, or polled after being forwarded — changes nothing.
* **Out of order.** Objects are stored with the Stripe time they describe; an older event never
  overwrites a newer state, and a canceled subscription is not revived by an event of the same
  second.
* **Usage, once.** Each counting AI run has a ``meter_outbox`` row (a trigger writes it with the
  run) carrying an identifier made once; Stripe counts an identifier once, so resending after a
  crash or a lost answer never bills twice.
* **The subscription confirmation** (an e-mail through the notifications outbox, keyed by the
  subscription, and the GA4 ``subscription_purchase`` event when the creator opted in) happens
  once per subscription, whichever path saw it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import MbvError, NotFound, ProviderUnavailable, RateLimited
from mbv_desktop.integrations.payments.codec import dump
from mbv_desktop.services.background import stop_task
from mbv_desktop.services.billing_status import CUSTOMER, LIVE_STATUSES, USAGE
from mbv_desktop.store.billing import BillingRepository
from mbv_desktop.store.notifications import NotificationRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.payments import StripeEvent, Subscription
    from mbv_desktop.services.analytics import AnalyticsService
    from mbv_desktop.services.billing import BillingService
    from mbv_desktop.services.notifications import NotificationService

log = logging.getLogger(__name__)

EVENTS_CURSOR = "events_cursor"
METERS = "meters"
METER_BATCH = 100


@dataclass(frozen=True)
class UsageReport:
    sent: int = 0
    rejected: int = 0
    waiting: int = 0

    def to_json(self) -> dict[str, int]:
        return {"sent": self.sent, "rejected": self.rejected, "waiting": self.waiting}


def _customer_of(obj: Mapping[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return str(obj.get("id"))
    customer = obj.get("customer")
    if isinstance(customer, Mapping):
        customer = customer.get("id")
    return str(customer) if customer else None


class BillingSync:
    """Events, usage and the background loop for one :class:`BillingService`."""

    def __init__(self, service: BillingService, worker: StoreWorker, settings: Settings, *,
                 notifications: NotificationService | None = None,
                 analytics: AnalyticsService | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._service = service
        self._worker = worker
        self._settings = settings
        self._notifications = notifications
        self._analytics = analytics
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._dirty = False
        self._poll_lock = asyncio.Lock()
        self._usage_lock = asyncio.Lock()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _write(self, method: str, *args: Any) -> None:
        """One :class:`BillingRepository` write, in its own transaction."""
        await self._worker.call(lambda c: getattr(BillingRepository(c), method)(*args))

    # --- events ----------------------------------------------------------------------------------

    async def apply_event(self, event: StripeEvent, *, source: str) -> bool:
        """Applies one event once; False for a duplicate. Events about other customers are
        acknowledged and ignored (returns False)."""
        from mbv_desktop.integrations.payments.invoices import invoice_from
        from mbv_desktop.integrations.payments.objects import subscription_from

        customer = await self._service.customer_id()
        obj = event.object
        if customer is None or _customer_of(obj) != customer:
            return False
        kind = str(obj.get("object") or "")
        body: dict[str, Any] | None = None
        sub: Subscription | None = None
        version = event.created
        if kind == "subscription":
            # Events of the same second arrive in any order: read the subscription as it is
            # now, and fall back to the event's copy (ordered by its time) when Stripe can't
            # be asked.
            sub = subscription_from(obj)
            try:
                sub = await (await self._service.client()).get_subscription(sub.id)
                version = max(version, int(self._clock()))
            except (ProviderUnavailable, RateLimited):
                pass
            body = dump(sub)
        elif kind == "invoice":
            body = dump(invoice_from(obj))
            self._dirty = True  # invoice states of one second: read the list back too
        now = self._now()
        confirm = await self._confirmation(sub) if sub and sub.status in ("active",
                                                                          "trialing") else None

        def apply(c: Any) -> tuple[bool, bool]:
            repo = BillingRepository(c)
            if not repo.mark_applied(event.id, event.type, event.created, source, now):
                return False, False
            if body is not None:
                repo.put_object(kind, str(obj["id"]), customer, body, version, now)
            elif event.type == "payment_method.detached":
                repo.delete_object(str(obj["id"]))
            first = confirm is not None and self._confirm_in(c, confirm, now)
            return True, first

        applied, first = await self._worker.call(apply)
        if not applied:
            return False
        if kind not in ("subscription", "invoice"):
            self._dirty = True  # cards and the customer: read back on the next pass
        if first and confirm is not None:
            await self._after_confirmation(confirm)
        from mbv_desktop.services.billing import BillingChanged

        self._service.events.publish(BillingChanged(event.type))
        return True

    async def poll_events(self) -> int:
        """Applies the events after the stored cursor, oldest first; returns how many
        changed something."""
        async with self._poll_lock:
            client = await self._service.client()
            stored = await self._worker.call(lambda c: BillingRepository(c).state(EVENTS_CURSOR),
                                             write=False)
            cursor = stored[0] if stored else None
            applied = 0
            while True:
                try:
                    page = await client.list_events(ending_before=cursor or None)
                except NotFound:  # the cursor's event is gone (Stripe keeps 30 days): read back
                    cursor = None
                    self._dirty = True
                    continue
                for event in reversed(page.events):
                    if await self.apply_event(event, source="poll"):
                        applied += 1
                if page.events:
                    cursor = page.events[0].id
                    await self._write("put_state", EVENTS_CURSOR, cursor, self._now())
                if not page.has_more or not page.events:
                    return applied

    # --- the subscription confirmation -------------------------------------------------------

    async def _confirmation(self, sub: Subscription) -> dict[str, Any] | None:
        from mbv_desktop.integrations.payments.codec import load
        from mbv_desktop.integrations.payments.objects import PlanCatalog

        def read(c: Any) -> tuple[Any, Any]:
            repo = BillingRepository(c)
            return repo.state("catalog"), repo.state(CUSTOMER)

        catalog_row, customer_row = await self._worker.call(read, write=False)
        plan = None
        if catalog_row and sub.plan_item:
            plan = load(PlanCatalog, catalog_row[0]).plan_for_price(sub.plan_item.price_id)
        email = customer_row[0].get("email") if customer_row else ""
        return {"subscription": sub.id, "email": email or "",
                "plan": plan.name if plan else "your plan",
                "plan_key": plan.key if plan else "paid",
                "amount": plan.amount if plan else 0,
                "currency": (plan.currency if plan else "usd").upper(),
                "period_end": sub.current_period_end}

    def _confirm_in(self, c: Any, confirm: dict[str, Any], now: datetime) -> bool:
        """In the caller's transaction: the once-per-subscription marker and the e-mail row."""
        repo = BillingRepository(c)
        if not repo.mark_applied(f"app:subscribed:{confirm['subscription']}", "app.subscribed",
                                 int(now.timestamp()), "app", now):
            return False
        sender = self._settings.get_str("resend.from_email").strip()
        if confirm["email"] and sender:
            price = f"{confirm['amount'] / 100:,.2f} {confirm['currency']}"
            renews = ""
            if confirm["period_end"]:
                day = datetime.fromtimestamp(confirm["period_end"], UTC).strftime("%d %b %Y")
                renews = f" It renews on {day}."
            NotificationRepository(c).add(
                key=f"billing:subscribed:{confirm['subscription']}", channel="email",
                kind="billing", target_id=None, recipient=confirm["email"],
                subject=f"Your Must Be Viral {confirm['plan']} plan is active",
                body=(f"Thank you: your {confirm['plan']} plan ({price} a month) is active."
                      f"{renews} Invoices and your cards are under Billing in the app."),
                html=None, at=now)
        return True

    async def _after_confirmation(self, confirm: dict[str, Any]) -> None:
        notifications = self._notifications
        if notifications is not None:
            notifications.start()
        analytics = self._analytics
        if analytics is not None:
            try:
                await analytics.track("subscription_purchase", {
                    "plan": confirm["plan_key"], "value": confirm["amount"] / 100,
                    "currency": confirm["currency"]})
            except MbvError as exc:
                log.info("billing: the purchase event was not queued: %s", exc)

    async def on_subscribed(self, sub: Subscription, *, source: str) -> None:
        """The app saw a subscription become live itself (Checkout finished)."""
        if sub.status not in LIVE_STATUSES:
            return
        confirm = await self._confirmation(sub)
        if confirm is None:
            return
        now = self._now()
        first = await self._worker.call(lambda c: self._confirm_in(c, confirm, now))
        if first:
            await self._after_confirmation(confirm)

    # --- usage ---------------------------------------------------------------------------------

    async def flush_usage(self) -> UsageReport:
        """Sends queued usage to Stripe's meters (once the creator has a customer)."""
        from mbv_desktop.integrations.payments import StripeRejected

        async with self._usage_lock:
            customer = await self._service.customer_id()
            rows = await self._worker.call(
                lambda c: BillingRepository(c).queued_meter_events(METER_BATCH), write=False)
            if customer is None or not rows:
                return UsageReport(waiting=len(rows))
            client = await self._service.client()
            sent = rejected = 0
            for row in rows:
                try:
                    await client.record_meter_event(row.event_name, customer, row.value,
                                                    row.identifier, row.occurred_at,
                                                    f"mbv-meter-{row.identifier}")
                except StripeRejected as exc:
                    if "already exists with identifier" not in str(exc):
                        await self._write("meter_rejected", row.id, str(exc))
                        rejected += 1
                        continue
                except (ProviderUnavailable, RateLimited) as exc:
                    await self._write("meter_attempted", row.id, str(exc))
                    break
                self._service.crash_hook("meter_answered")
                await self._write("meter_sent", row.id, customer, self._now())
                sent += 1
            waiting = await self._worker.call(
                lambda c: BillingRepository(c).meter_counts().get("queued", 0), write=False)
            if sent or rejected:
                from mbv_desktop.services.billing import BillingChanged

                self._service.events.publish(BillingChanged("usage"))
            return UsageReport(sent, rejected, waiting)

    async def fetch_usage(self, customer: str) -> dict[str, float]:
        """Stripe's meter totals for the current period, stored for the panel."""
        client = await self._service.client()
        meters = await client.list_meters()
        status = await self._service.cached_status()
        start, end = status.period_start, status.period_end
        upto = min(end, int(self._clock()) + 60)
        summaries = await asyncio.gather(*(client.usage_summary(m.id, customer, start, upto)
                                           for m in meters if m.status == "active"))
        active = [m for m in meters if m.status == "active"]
        totals = {m.event_name: s.total for m, s in zip(active, summaries, strict=True)}
        now = self._now()
        await self._worker.call(lambda c: BillingRepository(c).put_state(
            USAGE, {"start": start, "end": end, "customer_id": customer, "totals": totals}, now))
        return totals

    # --- the background loop ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="billing-sync")

    def listen(self) -> None:
        """Starts the local receiver in the background (its failure, a taken port, is logged:
        polling still keeps billing up to date)."""

        async def start() -> None:
            try:
                receiver = await self._service.receiver()
                log.info("billing: forwarded webhooks are taken at %s", receiver.webhook_url)
            except MbvError as exc:
                log.warning("billing: no webhook receiver: %s", exc)

        self._listening = asyncio.get_running_loop().create_task(start(),
                                                                 name="billing-receiver")

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> None:
        """One pass: pending writes, usage, events, and a read-back when something needs it."""
        await self._service.resume_pending()
        await self.flush_usage()
        await self.poll_events()
        if self._dirty:
            self._dirty = False
            await self._service.refresh()

    async def _run(self) -> None:
        first = True
        while True:
            if await self._service.configured():
                try:
                    if first:
                        await self._service.refresh()
                        first = False
                    await self.run_once()
                except (ProviderUnavailable, RateLimited) as exc:
                    log.info("billing: Stripe not reachable now (%s)", type(exc).__name__)
                except MbvError as exc:
                    log.info("billing: background pass stopped: %s", exc)
                except Exception:
                    log.exception("billing: background pass failed")
            self._wake.clear()
            interval = self._settings.get_float("stripe.poll_interval_s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=interval)

    async def aclose(self) -> None:
        await stop_task(self._listening)
        await stop_task(self._task)
        self._task = None
