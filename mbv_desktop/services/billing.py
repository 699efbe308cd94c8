"""Billing: the creator's plan with Must Be Viral, kept with Stripe.

Card data never touches the app: paying and adding a card happen on Stripe-hosted Checkout pages
in the browser, and the app follows the result. Decisions:

* **Every write is an intent first.** A ``billing_ops`` row with its idempotency key commits
  before the request is sent; the answer marks it done. A crash or a lost answer leaves it
  pending, and :meth:`BillingService.resume_pending` sends it again *with the same key*, so
  Stripe replays its first answer instead of acting twice (keys live 24 h; older intents are
  closed as not confirmed and the state is read back instead).
* **One customer per app user.** The customer row (and its create key) is written before Stripe
  is asked; before creating, Stripe is searched by metadata ``app_user_id``, so another
  profile's customer is reused and a crash never makes two.
* **One subscription.** A new Checkout page is opened only when Stripe lists no live
  subscription, and earlier open pages are expired first, so two pages can never both be paid.
* **Usage is metered from the ledger** (see :mod:`.billing_sync`); limits are held locally by
  :mod:`.plan_limits` from what this service stores.
* **Stripe unreachable:** the status comes from SQLite, marked stale with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import (
    InvalidInput,
    MbvError,
    NotConfigured,
    ProviderUnavailable,
    RateLimited,
)
from mbv_desktop.integrations.payments.codec import dump
from mbv_desktop.services.billing_status import (
    CATALOG,
    CUSTOMER,
    PLAN,
    REACH,
    BillingStatus,
    current_subscription,
    plan_record,
    read_status,
)
from mbv_desktop.services.events import EventHub
from mbv_desktop.services.settings_view import secret_setting
from mbv_desktop.store.billing import BillingRepository, OpRow
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.http import ProviderClient
    from mbv_desktop.integrations.payments import (
        CheckoutSession,
        PaymentMethod,
        Plan,
        PlanCatalog,
        ProrationPreview,
        StripeBillingClient,
        Subscription,
    )
    from mbv_desktop.integrations.payments.receiver import BillingReceiver
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry
    from mbv_desktop.services.accounts import AccountsService
    from mbv_desktop.services.analytics import AnalyticsService
    from mbv_desktop.services.billing_sync import BillingSync
    from mbv_desktop.services.notifications import NotificationService

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_LIFETIME = timedelta(hours=23)
"""How long a stored idempotency key is trusted to replay (Stripe keeps them at least 24 h)."""

CHECKOUT_POLL_S = 1.0


@dataclass(frozen=True)
class BillingChanged:
    """Something billing shows changed (plan, cards, invoices, usage, reachability)."""

    reason: str = ""


@dataclass(frozen=True)
class CheckoutStart:
    """A Stripe-hosted page to open in the browser."""

    session_id: str
    url: str
    mode: str  # subscription | setup
    plan: str | None  # the plan's name, for subscription pages


@dataclass(frozen=True)
class CheckoutResult:
    status: str  # paid | card_added | expired
    subscription: Subscription | None = None
    payment_method: str | None = None


class CheckoutStillOpen(InvalidInput):
    """Waiting for a Checkout page ended before it was paid; it may still be paid later."""


class BillingService:
    """The creator's plan, cards, invoices and usage (see the module docstring)."""

    def __init__(self, worker: StoreWorker, settings: Settings, secrets: SecretStore,
                 accounts: AccountsService, *, notifications: NotificationService | None = None,
                 analytics: AnalyticsService | None = None,
                 registry: MetricsRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._worker = worker
        self._settings = settings
        self._secrets = secrets
        self._accounts = accounts
        self._notifications = notifications
        self._analytics = analytics
        self._registry = registry
        self._clock = clock
        self.events: EventHub[BillingChanged] = EventHub()
        self._client: StripeBillingClient | None = None
        self._client_config: tuple[str, str] | None = None
        self._customer_lock = asyncio.Lock()
        self._checkout_lock = asyncio.Lock()
        self._receiver: BillingReceiver | None = None
        self._sync: BillingSync | None = None
        #: Test seam: called where a process could die (after Stripe answered, before the
        #: local write); tests make it raise. Does nothing otherwise.
        self.crash_hook: Callable[[str], None] = lambda where: None
        #: Test seam: the policy client (retries, breaker) new Stripe clients use.
        self.policy_client: ProviderClient | None = None

    # --- configuration ------------------------------------------------------------------------

    async def _secret(self, key: str) -> str:
        return await secret_setting(self._settings, self._secrets, key)

    async def configured(self) -> bool:
        return bool(self._settings.get_str("stripe.api_base").strip()
                    and await self._secret("stripe.secret_key"))

    async def client(self) -> StripeBillingClient:
        base = self._settings.get_str("stripe.api_base").strip()
        key = await self._secret("stripe.secret_key")
        if not base or not key:
            raise NotConfigured(provider="stripe")
        if self._client is None or self._client_config != (base, key):
            from mbv_desktop.integrations.payments import StripeBillingClient

            if self._client is not None:
                await self._client.aclose()
            self._client = StripeBillingClient(base, key, client=self.policy_client,
                                               registry=self._registry)
            self._client_config = (base, key)
        return self._client

    @property
    def sync(self) -> BillingSync:
        """Events, webhooks and the meter outbox (built on first use)."""
        if self._sync is None:
            from mbv_desktop.services.billing_sync import BillingSync

            self._sync = BillingSync(self, self._worker, self._settings,
                                     notifications=self._notifications,
                                     analytics=self._analytics, clock=self._clock)
        return self._sync

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _repo(self, fn: Callable[[BillingRepository], T], *, write: bool = True) -> T:
        return await self._worker.call(lambda c: fn(BillingRepository(c)), write=write)

    # --- who pays -----------------------------------------------------------------------------

    async def _identity(self) -> tuple[str, str, str]:
        signed_in = sorted((a for a in await self._accounts.accounts() if a.role == "sign_in"),
                           key=lambda a: a.connected_at)
        if not signed_in:
            raise InvalidInput("Sign in with Google or GitHub first (mbv-desktop login google): "
                               "your plan belongs to your sign-in, not to this computer.")
        who = signed_in[0]
        return f"{who.provider}:{who.account_id}", who.email, who.display_name or who.email

    async def customer_id(self) -> str | None:
        """The stored customer of the signed-in creator, without asking Stripe."""
        try:
            app_user, _, _ = await self._identity()
        except InvalidInput:
            return None
        row = await self._repo(lambda r: r.customer(app_user), write=False)
        return row.customer_id if row else None

    async def ensure_customer(self) -> str:
        """The signed-in creator's Stripe customer, found or created exactly once."""
        app_user, email, name = await self._identity()
        async with self._customer_lock:
            now = self._now()
            row, new = await self._repo(
                lambda r: r.reserve_customer(app_user, email, name, now))
            if row.customer_id:
                return row.customer_id
            client = await self.client()
            key = row.create_key
            if new or now - row.created_at > KEY_LIFETIME:
                # A new intent (or one whose key Stripe may have forgotten): look first, so
                # a customer another profile made, or a create that reached Stripe a day ago,
                # is found rather than made again. A younger unfinished intent is replayed
                # with its own key instead: Stripe answers with the customer it made.
                found = await client.find_customer(app_user)
                if found is not None:
                    await self._keep_customer(app_user, found.id, email)
                    return found.id
                if now - row.created_at > KEY_LIFETIME:
                    key = await self._repo(lambda r: r.renew_create_key(app_user, now))
            customer = await client.create_customer(app_user, email, name, key)
            self.crash_hook("customer_created")
            await self._keep_customer(app_user, customer.id, email)
            return customer.id

    async def _keep_customer(self, app_user: str, customer_id: str, email: str) -> None:
        now = self._now()

        def keep(r: BillingRepository) -> None:
            r.set_customer_id(app_user, customer_id, now)
            r.put_state(CUSTOMER, {"app_user_id": app_user, "customer_id": customer_id,
                                   "email": email}, now)

        await self._repo(keep)

    # --- write intents ------------------------------------------------------------------------

    async def _intent(self, kind: str, params: dict[str, Any],
                      send: Callable[[StripeBillingClient, str], Awaitable[T]],
                      result_id: Callable[[T], str | None]) -> T:
        now = self._now()
        op = await self._repo(lambda r: r.add_op(kind, params, now))
        return await self._send(op, send, result_id)

    async def _send(self, op: OpRow, send: Callable[[StripeBillingClient, str], Awaitable[T]],
                    result_id: Callable[[T], str | None]) -> T:
        client = await self.client()
        try:
            result = await send(client, op.idempotency_key)
        except (ProviderUnavailable, RateLimited) as exc:
            # Still pending: resume_pending sends it again with the same key, so Stripe acts
            # on it once whether or not this attempt reached it.
            raise ProviderUnavailable(
                f"{exc} The request is kept and sent again when Stripe answers; it will not "
                "happen twice.", provider="stripe", status=exc.status,
                maybe_sent=bool(getattr(exc, "maybe_sent", False))) from exc
        except MbvError as exc:
            await self._fail(op, str(exc))
            raise
        self.crash_hook(f"{op.kind}_answered")
        rid = result_id(result)
        await self._repo(lambda r: r.finish_op(op.id, rid, self._now()))
        return result

    async def _fail(self, op: OpRow, error: str) -> None:
        at = self._now()
        await self._repo(lambda r: r.fail_op(op.id, error, at))

    async def pending_ops(self) -> list[OpRow]:
        return await self._repo(lambda r: r.ops(state="pending"), write=False)

    async def resume_pending(self) -> int:
        """Sends again, with their own keys, the writes whose answer was never stored (a crash,
        a lost answer, Stripe unreachable); returns how many were settled."""
        settled = 0
        for op in reversed(await self.pending_ops()):  # oldest first
            if self._now() - op.created_at > KEY_LIFETIME:
                await self._fail(op, "Not confirmed by Stripe within a day; the state was read "
                                     "back from Stripe instead of sending it again.")
                settled += 1
                continue
            sender = self._replay(op)
            if sender is None:
                continue
            try:
                await self._send(op, sender, _object_id)
            except (ProviderUnavailable, RateLimited):
                break  # still unreachable: keep the rest for later, in order
            except MbvError as exc:
                log.info("billing: a %s kept from earlier was refused: %s", op.kind, exc)
            settled += 1
        if settled:
            await self._after_change("resumed")
        return settled

    def _replay(self, op: OpRow) -> Callable[[StripeBillingClient, str], Awaitable[Any]] | None:
        p = op.params
        replays: dict[str, Callable[[StripeBillingClient, str], Awaitable[Any]]] = {
            "checkout": lambda c, k: c.create_checkout_session(
                p["mode"], p["customer"], p.get("price"), p["success_url"], p["cancel_url"], k,
                metered_prices=p.get("metered", ())),
            "expire_checkout": lambda c, k: c.expire_checkout_session(p["session"], k),
            "change_plan": lambda c, k: c.change_plan(
                p["subscription"], p["item"], p["price"], k,
                proration_date=p.get("proration_date")),
            "cancel_at_period_end": lambda c, k: c.set_cancel_at_period_end(
                p["subscription"], bool(p["cancel"]), k),
            "cancel_now": lambda c, k: c.cancel_now(p["subscription"], k),
            "set_default_card": lambda c, k: c.set_default_payment_method(
                p["customer"], p["payment_method"], k),
            "set_subscription_card": lambda c, k: c.set_subscription_payment_method(
                p["subscription"], p["payment_method"], k),
            "detach_card": lambda c, k: c.detach_payment_method(p["payment_method"], k),
            "portal": lambda c, k: c.create_portal_session(p["customer"], p["return_url"], k),
        }
        return replays.get(op.kind)

    # --- reading ------------------------------------------------------------------------------

    async def cached_status(self) -> BillingStatus:
        """The billing picture from SQLite alone (no network)."""
        configured = await self.configured()
        now = self._clock()
        return await self._worker.call(lambda c: read_status(c, configured=configured, now=now),
                                       write=False)

    async def catalog(self, *, refresh: bool = False) -> PlanCatalog:
        from mbv_desktop.integrations.payments import PlanCatalog
        from mbv_desktop.integrations.payments.codec import load

        if not refresh:
            stored = await self._repo(lambda r: r.state(CATALOG), write=False)
            if stored:
                return load(PlanCatalog, stored[0])
        catalog = await (await self.client()).list_plans()
        now = self._now()
        await self._repo(lambda r: r.put_state(CATALOG, dump(catalog), now))
        return catalog

    async def plan(self, name: str) -> Plan:
        """A plan by its short name (``free``, ``creator``, ``pro``), its product name or its
        price's lookup key."""
        wanted = name.strip().lower()
        catalog = await self.catalog()
        for plan in catalog.plans:
            if wanted in (plan.key, plan.name.lower(), (plan.lookup_key or "").lower(),
                          plan.price_id.lower()):
                return plan
        names = ", ".join(p.key for p in catalog.plans)
        raise InvalidInput(f"There is no plan '{name}'; choose one of {names}.")

    async def refresh(self) -> BillingStatus:
        """Reads plans, subscription, cards, invoices and metered usage from Stripe into the
        store, then returns the status. Stripe unreachable: the stored status, marked stale."""
        try:
            await self._refresh()
        except (ProviderUnavailable, RateLimited) as exc:
            now = self._now()
            why = ("Stripe asked the app to slow down" if isinstance(exc, RateLimited) else
                   "Stripe could not be reached" + (f" (HTTP {exc.status})" if exc.status
                                                    else ""))
            sentence = f"{why}; showing what was known at the last check."
            await self._repo(lambda r: r.put_state(REACH, {"ok": False, "error": sentence},
                                                   now))
            self.events.publish(BillingChanged("stale"))
            return await self.cached_status()
        status = await self.cached_status()
        record = plan_record(status)
        if record is not None:
            now = self._now()
            await self._repo(lambda r: r.put_state(PLAN, record, now))
        self.events.publish(BillingChanged("refreshed"))
        return status

    async def _refresh(self) -> None:
        client = await self.client()
        await self.catalog(refresh=True)
        customer = await self.customer_id()
        if customer is None:
            try:
                customer = await self.ensure_customer()
            except InvalidInput:  # not signed in: plans only
                customer = None
        if customer is not None:
            subs, cards, invoices = await asyncio.gather(
                client.list_subscriptions(customer), client.list_payment_methods(customer),
                client.list_invoices(customer))
            await self._store_fetched(customer, subs, cards, invoices)
            await self.sync.fetch_usage(customer)
        now = self._now()
        await self._repo(lambda r: r.put_state(REACH, {"ok": True, "error": None}, now))

    async def _store_fetched(self, customer: str, subs: list[Subscription],
                             cards: list[PaymentMethod] | None = None,
                             invoices: Sequence[Any] = ()) -> None:
        """Stores what Stripe listed; ``cards`` None: the cards were not listed (keep them)."""
        now = self._now()
        version = int(self._clock())

        def store(r: BillingRepository) -> None:
            for sub in subs:
                r.put_object("subscription", sub.id, customer, dump(sub), version, now)
            if cards is not None:
                for card in cards:
                    r.put_object("payment_method", card.id, customer, dump(card), version, now)
                r.forget_missing("payment_method", customer, {c.id for c in cards})
            for invoice in invoices:
                r.put_object("invoice", invoice.id, customer, dump(invoice), version, now)

        await self._repo(store)

    async def keep_subscription(self, sub: Subscription, version: int | None = None) -> None:
        """Stores a subscription Stripe just returned (or an event carried)."""
        if sub.customer is None:
            return
        now = self._now()
        v = int(self._clock()) if version is None else version
        await self._repo(lambda r: r.put_object("subscription", sub.id, sub.customer, dump(sub),
                                                v, now))

    async def _after_change(self, reason: str) -> None:
        """After a write: read the state back (best effort); the refresh tells the panel, or
        this does when the read-back fails."""
        try:
            await self.refresh()
        except MbvError as exc:
            log.info("billing: reading back after %s failed: %s", reason, type(exc).__name__)
            self.events.publish(BillingChanged(reason))

    async def _live_subscription(self, customer: str) -> Subscription | None:
        subs = await (await self.client()).list_subscriptions(customer)
        await self._store_fetched(customer, subs)
        return current_subscription(subs)

    # --- subscribing --------------------------------------------------------------------------

    async def _return_urls(self) -> tuple[str, str]:
        receiver = await self.receiver()
        return receiver.return_url("done"), receiver.return_url("cancelled")

    async def start_checkout(self, plan_name: str) -> CheckoutStart:
        """Opens a Checkout page (subscription mode) for a paid plan. Refuses when a plan is
        already live (change it instead) so a creator can never hold two subscriptions."""
        plan = await self.plan(plan_name)
        if plan.amount == 0:
            raise InvalidInput(f"{plan.name} needs no payment: without a paid plan you are on "
                               f"{plan.name}, and cancelling a paid plan takes you back to it.")
        async with self._checkout_lock:
            customer = await self.ensure_customer()
            live = await self._live_subscription(customer)
            if live is not None:
                raise InvalidInput("You already have a plan; change it instead (mbv-desktop "
                                   f"billing subscribe {plan.key} previews the change).")
            await self._expire_open_checkouts()
            catalog = await self.catalog()
            success, cancel = await self._return_urls()
            params = {"mode": "subscription", "customer": customer, "price": plan.price_id,
                      "success_url": success, "cancel_url": cancel,
                      "metered": [m.price_id for m in catalog.metered]}
            session = await self._intent(
                "checkout", params,
                lambda c, k: c.create_checkout_session(
                    "subscription", customer, plan.price_id, success, cancel, k,
                    metered_prices=params["metered"]),
                _object_id)
        if not session.url:
            raise InvalidInput("Stripe returned a Checkout page that is already closed.")
        return CheckoutStart(session.id, session.url, "subscription", plan.name)

    async def start_add_card(self) -> CheckoutStart:
        """Opens a Checkout page in setup mode: the card is entered on Stripe's page."""
        async with self._checkout_lock:
            customer = await self.ensure_customer()
            await self._expire_open_checkouts()
            success, cancel = await self._return_urls()
            params = {"mode": "setup", "customer": customer, "price": None,
                      "success_url": success, "cancel_url": cancel}
            session = await self._intent(
                "checkout", params,
                lambda c, k: c.create_checkout_session("setup", customer, None, success,
                                                       cancel, k),
                _object_id)
        if not session.url:
            raise InvalidInput("Stripe returned a Checkout page that is already closed.")
        return CheckoutStart(session.id, session.url, "setup", None)

    async def _expire_open_checkouts(self) -> None:
        """Closes Checkout pages the app opened earlier and nobody paid, so only one page can
        ever be paid."""
        client = await self.client()
        since = self._now() - timedelta(hours=24)
        earlier = [op for op in await self._repo(lambda r: r.ops(state="done", kind="checkout"),
                                                 write=False)
                   if op.created_at > since and op.result_id]
        closed = {op.params.get("session") for op in await self._repo(
            lambda r: r.ops(kind="expire_checkout"), write=False)}
        for op in earlier:
            session_id = str(op.result_id)
            if session_id in closed:
                continue
            session = await client.retrieve_checkout_session(session_id)
            if session.status == "open":
                await self._expire(session_id)

    async def _expire(self, session_id: str) -> None:
        await self._intent("expire_checkout", {"session": session_id},
                           lambda c, k: c.expire_checkout_session(session_id, k), _object_id)

    async def wait_for_checkout(self, session_id: str, *, timeout: float = 1800.0,
                                interval: float = CHECKOUT_POLL_S) -> CheckoutResult:
        """Follows a Checkout page until it is paid (or the card saved) or it expires. Cancel
        the await to stop waiting (the page stays payable until Stripe expires it)."""
        client = await self.client()
        deadline = time.monotonic() + timeout
        while True:
            session = await client.retrieve_checkout_session(session_id)
            if session.status == "complete":
                return await self._checkout_done(session)
            if session.status == "expired":
                return CheckoutResult("expired")
            if time.monotonic() >= deadline:
                raise CheckoutStillOpen("The Checkout page is still open; finish it in the "
                                        "browser, then refresh Billing.")
            await asyncio.sleep(interval)

    async def _checkout_done(self, session: CheckoutSession) -> CheckoutResult:
        client = await self.client()
        if session.mode == "subscription" and session.subscription:
            sub = await client.get_subscription(session.subscription)
            await self.keep_subscription(sub)
            await self.sync.on_subscribed(sub, source="app")
            await self._after_change("subscribed")
            return CheckoutResult("paid", subscription=sub)
        customer = await self.ensure_customer()
        before = await self._repo(lambda r: {b["id"] for b in r.objects("payment_method",
                                                                         customer)},
                                  write=False)
        cards = await client.list_payment_methods(customer)
        new = [c for c in cards if c.id not in before]
        added = new[0].id if new else None
        if added:
            await self.set_default_card(added)
        else:
            await self._after_change("card_added")
        return CheckoutResult("card_added", payment_method=added)

    # --- changing the plan --------------------------------------------------------------------

    async def _require_subscription(self) -> Subscription:
        """The live subscription, as Stripe lists it; when Stripe can't be reached, as last
        stored (offline, a cancellation is kept as an intent and sent later)."""
        try:
            customer = await self.ensure_customer()
            sub = await self._live_subscription(customer)
        except (ProviderUnavailable, RateLimited):
            sub = (await self.cached_status()).subscription
            if sub is None:
                raise
        if sub is None:
            raise InvalidInput("You have no paid plan yet; choose one first (mbv-desktop "
                               "billing subscribe creator).")
        return sub

    async def preview_change(self, plan_name: str) -> ProrationPreview:
        """What moving to ``plan_name`` costs now (credit for the unused time included)."""
        plan = await self.plan(plan_name)
        sub = await self._require_subscription()
        item = sub.plan_item
        if item is None:
            raise InvalidInput("Your subscription has no plan item to change.")
        if item.price_id == plan.price_id:
            raise InvalidInput(f"You are already on {plan.name}.")
        if plan.amount == 0:
            raise InvalidInput(f"To go back to {plan.name}, cancel your plan: it ends at the end "
                               "of the period you paid for.")
        return await (await self.client()).preview_change(sub.id, plan.price_id)

    async def change_plan(self, preview: ProrationPreview) -> Subscription:
        """Applies a previewed change, charged exactly as previewed (same proration time)."""
        params = {"subscription": preview.subscription, "item": preview.item_id,
                  "price": preview.new_price, "proration_date": preview.proration_date}
        sub = await self._intent(
            "change_plan", params,
            lambda c, k: c.change_plan(preview.subscription, preview.item_id, preview.new_price,
                                       k, proration_date=preview.proration_date),
            _object_id)
        await self.keep_subscription(sub)
        await self._after_change("plan_changed")
        return sub

    async def cancel(self, *, at_period_end: bool = True) -> Subscription:
        """Cancels at the end of the paid period (the default) or at once."""
        sub = await self._require_subscription()
        if at_period_end:
            result = await self._intent(
                "cancel_at_period_end", {"subscription": sub.id, "cancel": True},
                lambda c, k: c.set_cancel_at_period_end(sub.id, True, k), _object_id)
        else:
            result = await self._intent(
                "cancel_now", {"subscription": sub.id},
                lambda c, k: c.cancel_now(sub.id, k), _object_id)
        await self.keep_subscription(result)
        await self._after_change("canceled")
        return result

    async def resume(self) -> Subscription:
        """Takes back a cancellation at period end."""
        sub = await self._require_subscription()
        if not sub.cancel_at_period_end:
            raise InvalidInput("Your plan is not set to end; there is nothing to resume.")
        result = await self._intent(
            "cancel_at_period_end", {"subscription": sub.id, "cancel": False},
            lambda c, k: c.set_cancel_at_period_end(sub.id, False, k), _object_id)
        await self.keep_subscription(result)
        await self._after_change("resumed")
        return result

    # --- cards --------------------------------------------------------------------------------

    async def set_default_card(self, payment_method: str) -> None:
        """Makes a saved card the one future invoices are charged to (on the customer and on
        the live subscription, where Checkout put the first card)."""
        customer = await self.ensure_customer()
        await self._intent("set_default_card",
                           {"customer": customer, "payment_method": payment_method},
                           lambda c, k: c.set_default_payment_method(customer, payment_method,
                                                                     k),
                           _object_id)
        sub = await self._live_subscription(customer)
        if sub is not None and sub.default_payment_method != payment_method:
            await self._intent("set_subscription_card",
                               {"subscription": sub.id, "payment_method": payment_method},
                               lambda c, k: c.set_subscription_payment_method(
                                   sub.id, payment_method, k),
                               _object_id)
        await self._after_change("card_default")

    async def remove_card(self, payment_method: str) -> None:
        status = await self.cached_status()
        card = next((m for m in status.payment_methods if m.id == payment_method), None)
        if card is not None and card.is_default and status.subscription is not None and \
                len(status.payment_methods) == 1:
            raise InvalidInput("This is the only card your plan is charged to; add another "
                               "card first, or cancel the plan.")
        await self._intent("detach_card", {"payment_method": payment_method},
                           lambda c, k: c.detach_payment_method(payment_method, k), _object_id)
        await self._repo(lambda r: r.delete_object(payment_method))
        await self._after_change("card_removed")

    async def portal_url(self) -> str:
        """Stripe's customer portal, for what the app does not do itself (tax ids, addresses)."""
        customer = await self.ensure_customer()
        success, _ = await self._return_urls()
        session = await self._intent(
            "portal", {"customer": customer, "return_url": success},
            lambda c, k: c.create_portal_session(customer, success, k), _object_id)
        return session.url

    # --- background ---------------------------------------------------------------------------

    async def receiver(self) -> BillingReceiver:
        """The local server for Checkout's return page and forwarded webhooks (started once)."""
        if self._receiver is None or not self._receiver.is_serving:
            from mbv_desktop.integrations.payments.receiver import BillingReceiver

            receiver = BillingReceiver(
                secret=lambda: self._secret("stripe.webhook_secret"),
                on_event=lambda event: self.sync.apply_event(event, source="webhook"),
                port=self._settings.get_int("stripe.webhook_port"))
            await receiver.start()
            self._receiver = receiver
        return self._receiver

    def start(self) -> None:
        """Keeps up with Stripe in the background (events, usage, pending writes), and listens
        for forwarded webhooks when ``stripe.webhook_port`` names a port."""
        self.sync.start()
        if self._settings.get_int("stripe.webhook_port"):
            self.sync.listen()

    async def aclose(self) -> None:
        if self._sync is not None:
            await self._sync.aclose()
        if self._receiver is not None:
            await self._receiver.close()
            self._receiver = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _object_id(result: Any) -> str | None:
    return getattr(result, "id", None)
