"""Billing end to end on the sandbox's Stripe emulator, over real loopback sockets.

A signed-in creator picks a plan, pays on the Checkout page (the emulator's HTML form, filled
as a person would), upgrades after a proration preview, generates content and sees it metered,
cancels and resumes. What the emulator holds (its customers, subscriptions and meter
summaries) is the judge. Also: declined and 3-D Secure cards, a crash between Stripe's answer
and the local write, events polled and forwarded (three copies at once, reversed order), and
Stripe unreachable.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.billing_helpers import (
    customers_of,
    fast_policy,
    live_subscriptions,
    metered_total,
    sign_in,
    subscribe,
)

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.config.paths import database_path
from mbv_desktop.core.errors import InvalidInput, PlanLimitReached, ProviderUnavailable
from mbv_desktop.core.generation import TaskKind
from mbv_desktop.integrations.payments import CardDeclined, CardNeedsAuthentication
from mbv_desktop.integrations.payments.events import event_from
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.sandbox_consent import answer_consent, pay_sandbox_checkout
from mbv_desktop.store.ai_runs import AiRunRecord, AiRunRepository

APP_USER_PREFIX = "google:"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


def open_profile(sandbox: SandboxHost, data_dir: Path, **extra: Any) -> Services:
    services = open_services(data_dir, env={},
                             overrides=sandbox_overrides(sandbox.urls()) | extra, sandbox=True)
    services.billing.policy_client = fast_policy()
    return services


def record_runs(c: sqlite3.Connection, n: int, *, kind: str = "x_post",
                status: str = "complete") -> None:
    """``n`` AI runs in the ledger, as generation records them (the meter trigger fires)."""
    repo = AiRunRepository(c)
    for _ in range(n):
        repo.record(AiRunRecord("openai", "gpt-4o-mini", kind, status), at=datetime.now(UTC))


def rows(services: Services, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """Reads the profile's database directly (works after the services are closed too)."""
    return rows_of(services.data_dir, sql, *args)


def rows_of(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(database_path(data_dir))
    try:
        return list(conn.execute(sql, args).fetchall())
    finally:
        conn.close()


def sent_emails(sandbox: SandboxHost) -> list[dict[str, Any]]:
    answer = httpx.get(sandbox.urls()["resend"] + "/_sent", timeout=5)
    return list(answer.json()["data"])


def test_newcomer_subscribes_upgrades_is_metered_and_cancels(sandbox: SandboxHost,
                                                             data_dir: Path) -> None:
    services = open_profile(sandbox, data_dir, **{"analytics.opt_in": True})

    async def scenario() -> None:
        try:
            await sign_in(services)
            status = await services.billing.refresh()
            assert [p.name for p in status.plans] == ["Free", "Creator", "Pro"]
            assert status.plan is not None and status.plan.name == "Free"
            assert status.subscription is None and not status.stale

            result = await subscribe(services, "creator")
            assert result.status == "paid" and result.subscription is not None
            status = await services.billing.cached_status()
            assert status.plan is not None and status.plan.name == "Creator"
            assert status.subscription is not None and status.subscription.status == "active"
            card = status.payment_methods[0]
            assert (card.brand, card.last4, card.is_default) == ("visa", "4242", True)
            first = status.invoices[0]
            assert first.status == "paid" and first.tax > 0 and first.total == 1200 + first.tax

            preview = await services.billing.preview_change("pro")
            assert preview.amount_due > 0 and preview.tax > 0
            assert any(line.amount < 0 for line in preview.lines)  # credit for unused Creator
            await services.billing.change_plan(preview)
            status = await services.billing.cached_status()
            assert status.plan is not None and status.plan.name == "Pro"
            newest = status.invoices[0]
            assert newest.amount_paid == preview.amount_due  # charged exactly as previewed

            await services.generation.generate_text(TaskKind.X_POST, topic="cats")
            await services.generation.generate_image("a cat on a skateboard")
            report = await services.billing.sync.flush_usage()
            assert (report.sent, report.waiting) == (2, 0)
            status = await services.billing.refresh()
            usage = {line.key: line for line in status.usage}
            assert usage["ai_generations"].used == 2
            assert usage["ai_generations"].reported == 2
            assert usage["ai_generations"].limit == 10000

            await services.billing.sync.poll_events()
            canceled = await services.billing.cancel()
            assert canceled.cancel_at_period_end
            resumed = await services.billing.resume()
            assert not resumed.cancel_at_period_end
            await services.billing.sync.poll_events()
            await services.notifications.drain()
        finally:
            await services.aclose()

    asyncio.run(scenario())
    services.close()
    customer = customers_of(sandbox, rows(services, "SELECT app_user_id FROM billing_customers"
                                          )[0][0])
    assert len(customer) == 1
    assert len(live_subscriptions(sandbox, customer[0]["id"])) == 1
    assert metered_total(sandbox, customer[0]["id"]) == 2
    confirmations = [m for m in sent_emails(sandbox) if "plan is active" in m["subject"]]
    assert len(confirmations) == 1 and "Creator" in confirmations[0]["subject"]
    purchases = rows(services, "SELECT params FROM ga4_events WHERE name = ?",
                     "subscription_purchase")
    assert len(purchases) == 1
    assert json.loads(purchases[0][0])["plan"] == "creator"
    assert not rows(services, "SELECT id FROM billing_ops WHERE state = 'pending'")


@pytest.mark.parametrize(("card", "error", "sentence"), [
    ("4000 0000 0000 0002", CardDeclined, "declined"),
    ("4000 0000 0000 0069", CardDeclined, "expired"),
    ("4000 0025 0000 3155", CardNeedsAuthentication, "browser"),
])
def test_a_refused_card_leaves_the_creator_on_free(sandbox: SandboxHost, data_dir: Path,
                                                   card: str, error: type[Exception],
                                                   sentence: str) -> None:
    services = open_profile(sandbox, data_dir)

    async def scenario() -> None:
        try:
            await sign_in(services)
            start = await services.billing.start_checkout("creator")
            with pytest.raises(error) as caught:
                await pay_sandbox_checkout(start.url, card=card)
            assert sentence in str(caught.value).lower()
            status = await services.billing.refresh()
            assert status.plan is not None and status.plan.name == "Free"
            assert status.subscription is None
            # The page is still open: a good card (or the bank's confirmation) pays it.
            await pay_sandbox_checkout(start.url, three_d_secure="pass")
            result = await services.billing.wait_for_checkout(start.session_id, interval=0.05)
            assert result.status == "paid"
        finally:
            await services.aclose()

    asyncio.run(scenario())
    services.close()


def test_bad_requests_say_what_to_do_and_change_nothing(sandbox: SandboxHost,
                                                       data_dir: Path) -> None:
    services = open_profile(sandbox, data_dir)

    async def scenario() -> None:
        try:
            with pytest.raises(InvalidInput, match="Sign in with Google or GitHub"):
                await services.billing.start_checkout("creator")
            await sign_in(services)
            with pytest.raises(InvalidInput, match="free, creator, pro"):
                await services.billing.start_checkout("platinum")
            with pytest.raises(InvalidInput, match="needs no payment"):
                await services.billing.start_checkout("free")
            with pytest.raises(InvalidInput, match="no paid plan"):
                await services.billing.preview_change("pro")
            await subscribe(services, "creator")
            with pytest.raises(InvalidInput, match="already have a plan"):
                await services.billing.start_checkout("pro")
            with pytest.raises(InvalidInput, match="already on Creator"):
                await services.billing.preview_change("creator")
            with pytest.raises(InvalidInput, match="nothing to resume"):
                await services.billing.resume()
        finally:
            await services.aclose()

    asyncio.run(scenario())
    services.close()
    app_user = rows(services, "SELECT app_user_id FROM billing_customers")[0][0]
    customer = customers_of(sandbox, app_user)
    assert len(customer) == 1
    assert len(live_subscriptions(sandbox, customer[0]["id"])) == 1


class Crash(Exception):
    """Stands for the process dying at a hook point."""


def crash_at(point: str) -> Any:
    def hook(where: str) -> None:
        if where == point:
            raise Crash(where)

    return hook


def test_a_crash_after_stripe_answered_makes_no_second_customer_or_charge(
        sandbox: SandboxHost, data_dir: Path) -> None:
    async def first_run() -> str:
        services = open_profile(sandbox, data_dir)
        try:
            await sign_in(services)
            services.billing.crash_hook = crash_at("customer_created")
            with pytest.raises(Crash):
                await services.billing.ensure_customer()
            services.billing.crash_hook = lambda where: None
            await subscribe(services, "creator")
            preview = await services.billing.preview_change("pro")
            services.billing.crash_hook = crash_at("change_plan_answered")
            with pytest.raises(Crash):
                await services.billing.change_plan(preview)
            return preview.subscription
        finally:
            await services.aclose()
            services.close()

    async def second_run() -> None:
        services = open_profile(sandbox, data_dir)
        try:
            assert len(await services.billing.pending_ops()) == 1
            assert await services.billing.resume_pending() == 1
            status = await services.billing.cached_status()
            assert status.plan is not None and status.plan.name == "Pro"
        finally:
            await services.aclose()
            services.close()

    subscription = asyncio.run(first_run())
    asyncio.run(second_run())
    app_user = rows_of(data_dir, "SELECT app_user_id FROM billing_customers")[0][0]
    assert len(customers_of(sandbox, app_user)) == 1
    invoices = httpx.get(sandbox.urls()["stripe"] + "/v1/invoices",
                         params={"subscription": subscription},
                         headers={"Authorization": "Bearer sk_test_sandbox_" + "t"}).json()
    # The Creator invoice and one proration invoice: the replayed change charged nothing more.
    assert len(invoices["data"]) == 2


def test_usage_is_counted_once_when_answers_are_lost(sandbox: SandboxHost,
                                                     data_dir: Path) -> None:
    services = open_profile(sandbox, data_dir)

    async def scenario() -> str:
        try:
            await sign_in(services)
            customer = await services.billing.ensure_customer()

            await services.worker.call(lambda c: record_runs(c, 6))
            await services.worker.call(lambda c: record_runs(c, 1, kind="embedding"))
            await services.worker.call(lambda c: record_runs(c, 1, status="failed"))
            # Stripe records each of the first three but the answers never arrive.
            meter_events = "/v1/billing/meter_events"
            sandbox.faults.add("stripe", Fault("reset_after", path_prefix=meter_events, times=3))
            sandbox.faults.add("stripe", Fault("503", path_prefix=meter_events, times=8))
            report = await services.billing.sync.flush_usage()
            while report.waiting:
                report = await services.billing.sync.flush_usage()
            return customer
        finally:
            await services.aclose()

    customer = asyncio.run(scenario())
    services.close()
    # Six counting runs (the embedding and the failed run are not billed), each counted once.
    assert metered_total(sandbox, customer) == 6
    assert rows(services, "SELECT count(*) FROM meter_outbox WHERE state = 'sent'")[0][0] == 6


async def settled_deliveries(http: httpx.AsyncClient, stripe: str) -> None:
    """Waits until the emulator has no webhook deliveries in flight."""
    seen = -1
    while True:
        count = len((await http.get(f"{stripe}/_webhooks/deliveries")).json()["data"])
        if count == seen:
            return
        seen = count
        await asyncio.sleep(0.3)


def test_events_apply_once_in_any_order_and_from_either_path(sandbox: SandboxHost,
                                                            data_dir: Path) -> None:
    secret = "whsec_" + "billing-service-test"
    services = open_profile(sandbox, data_dir, **{"stripe.webhook_secret": secret})
    stripe = sandbox.urls()["stripe"]

    async def scenario() -> None:
        try:
            await sign_in(services)
            receiver = await services.billing.receiver()
            async with httpx.AsyncClient(timeout=10) as http:
                added = await http.post(f"{stripe}/_webhooks", json={
                    "url": receiver.webhook_url, "secret": secret})
                assert added.status_code == 201
                result = await subscribe(services, "creator")
                assert result.subscription is not None
                await services.billing.cancel()  # an update event: cancel_at_period_end
                events = (await http.get(f"{stripe}/v1/events", headers={
                    "Authorization": "Bearer sk_test_sandbox_" + "t"})).json()["data"]
                updated = next(e for e in events if e["type"] == "customer.subscription.updated"
                               and e["data"]["object"]["cancel_at_period_end"])
                await settled_deliveries(http, stripe)
                # The same event three times at once, to a profile that has not applied it:
                # one effect, three acknowledgements.
                await services.worker.call(lambda c: c.execute(
                    "DELETE FROM stripe_events_applied WHERE event_id = ?", (updated["id"],)))
                effects: list[str] = []
                services.billing.events.subscribe(lambda e: effects.append(e.reason))
                resent = await http.post(f"{stripe}/_webhooks/resend", json={
                    "event": updated["id"], "times": 3, "concurrent": True})
                assert [d["status"] for d in resent.json()["data"]] == [200, 200, 200]
                assert effects.count(updated["type"]) == 1
                # Polling from scratch sees every event again: none applies twice.
                await services.worker.call(
                    lambda c: c.execute("DELETE FROM billing_state WHERE key = 'events_cursor'"))
                assert await services.billing.sync.poll_events() == 0
                # A profile that never saw them applies them in reverse (newest first): it
                # still ends in today's state, not the first event's.
                await services.worker.call(lambda c: c.execute(
                    "DELETE FROM stripe_events_applied WHERE source <> 'app'"))
                await services.worker.call(lambda c: c.execute(
                    "DELETE FROM stripe_objects"))
                for event in events:  # the list is newest first
                    assert await services.billing.sync.apply_event(event_from(event),
                                                                   source="poll")
                status = await services.billing.cached_status()
                assert status.subscription is not None
                assert status.subscription.cancel_at_period_end
        finally:
            await services.aclose()

    asyncio.run(scenario())
    services.close()
    ids = rows(services, "SELECT event_id FROM stripe_events_applied")
    assert len(ids) == len({i for (i,) in ids})


def test_stripe_unreachable_shows_the_cached_plan_marked_stale(sandbox: SandboxHost,
                                                              data_dir: Path) -> None:
    services = open_profile(sandbox, data_dir)

    async def scenario() -> None:
        try:
            await sign_in(services)
            await subscribe(services, "creator")
            sandbox.faults.add("stripe", Fault("503", times=None))
            status = await services.billing.refresh()
            assert status.stale and status.problem and "could not be reached" in status.problem
            assert status.plan is not None and status.plan.name == "Creator"
            with pytest.raises(ProviderUnavailable, match="kept and sent again"):
                await services.billing.cancel()
            sandbox.faults.clear()
            for _ in range(50):  # until the circuit breaker lets calls through again
                status = await services.billing.refresh()
                if not status.stale:
                    break
                await asyncio.sleep(0.1)
            assert not status.stale
            # The cancellation asked for while Stripe was down is sent now, once.
            assert status.subscription is not None
            assert not status.subscription.cancel_at_period_end
            assert await services.billing.resume_pending() == 1
            status = await services.billing.cached_status()
            assert status.subscription is not None
            assert status.subscription.cancel_at_period_end
        finally:
            await services.aclose()

    asyncio.run(scenario())
    services.close()


def test_plan_limits_hold_generation_accounts_and_storage(sandbox: SandboxHost,
                                                         data_dir: Path, tmp_path: Path) -> None:
    services = open_profile(sandbox, data_dir)

    async def scenario() -> None:
        try:
            await sign_in(services)
            await services.billing.refresh()  # Free: 50 generations, 3 accounts, 1 GB

            await services.worker.call(lambda c: record_runs(c, 50))
            with pytest.raises(PlanLimitReached) as caught:
                await services.generation.generate_text(TaskKind.X_POST, topic="cats")
            assert caught.value.upgrade_to == "Creator"
            assert "50 AI generations" in str(caught.value) and "Creator" in str(caught.value)
            assert rows(services, "SELECT count(*) FROM ai_runs")[0][0] == 50  # nothing started
            for account, provider in ((0, "x"), (1, "x"), (0, "instagram")):
                await services.accounts.authorize(
                    provider, open_url=lambda u, a=account: answer_consent(u, account=a))
            with pytest.raises(PlanLimitReached, match="3 connected accounts"):
                await services.accounts.authorize("tiktok", open_url=answer_consent)
            assert len([a for a in await services.accounts.accounts()
                        if a.role == "publish"]) == 3
            # Reconnecting an account already there is never held back.
            await services.accounts.authorize("instagram", open_url=answer_consent)
            with pytest.raises(PlanLimitReached, match="1 GB"):
                await services.plan_guard.check_storage(2 * 10**9)
            await subscribe(services, "creator")
            outcome = await services.generation.generate_text(TaskKind.X_POST, topic="cats")
            assert outcome.status == "complete"
            await services.plan_guard.check_connect()  # Creator: 5 accounts
            services.settings.set("billing.enforce_limits", "false")
            await services.plan_guard.check_storage(2 * 10**12)
        finally:
            await services.aclose()

    asyncio.run(scenario())
    services.close()


def test_forwarded_webhooks_arrive_on_the_configured_port_while_the_app_runs(
        sandbox: SandboxHost, data_dir: Path) -> None:
    from mbv_desktop.sandbox.s3 import free_loopback_port

    secret = "whsec_" + "forwarded"
    port = free_loopback_port()
    services = open_profile(sandbox, data_dir, **{"stripe.webhook_secret": secret,
                                                  "stripe.webhook_port": port,
                                                  "stripe.poll_interval_s": 600.0})
    stripe = sandbox.urls()["stripe"]

    async def scenario() -> None:
        try:
            await sign_in(services)
            services.billing.start()  # what the window does after its first paint
            async with httpx.AsyncClient(timeout=10) as http:
                for _ in range(100):
                    if services.billing._receiver is not None:
                        break
                    await asyncio.sleep(0.05)
                added = await http.post(f"{stripe}/_webhooks", json={
                    "url": f"http://127.0.0.1:{port}/stripe/webhook", "secret": secret})
                assert added.status_code == 201
                await subscribe(services, "creator")
                await settled_deliveries(http, stripe)
        finally:
            await services.aclose()

    asyncio.run(scenario())
    services.close()
    forwarded = rows(services, "SELECT type FROM stripe_events_applied WHERE source = 'webhook'")
    assert ("customer.subscription.created",) in forwarded
