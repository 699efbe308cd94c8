"""A hundred billing operations under crashes and faults, then Stripe's state and the app's agree.

A seeded random run over the sandbox's Stripe emulator: subscribing on the Checkout page (some
cards declined), plan changes after a preview, cancelling, resuming, cancelling at once, adding,
choosing and removing cards, AI runs metered, usage sent, events polled. Before about one
operation in three the emulator is set to fail the next requests (answers lost after acting,
5xx, resets before acting); before about one in five the app "dies" right after Stripe answered
and before its own write, and a new process opens the same profile and carries on.

At the end, with the faults gone and the pending work settled, the emulator's own records are
the judge: one customer for the creator, at most one live subscription and it is the one the app
shows (same plan, same cancellation), the same cards, and every counted AI run metered exactly
once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.test_billing_service import crash_at, open_profile, record_runs, rows
from support.billing_helpers import (
    customers_of,
    live_subscriptions,
    metered_total,
    sign_in,
    stripe_get,
)

from mbv_desktop.core.errors import MbvError
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services
from mbv_desktop.services.sandbox_consent import pay_sandbox_checkout

OPERATIONS = 100
SEED = 20261126
GOOD_CARDS = ("4242 4242 4242 4242", "5555 5555 5555 4444")
DECLINED = "4000 0000 0000 0002"


class Crash(Exception):
    pass


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


class Run:
    """One creator's profile, reopened after each simulated crash."""

    def __init__(self, sandbox: SandboxHost, data_dir: Path, rng: random.Random) -> None:
        self.sandbox = sandbox
        self.data_dir = data_dir
        self.rng = rng
        self.services: Services = open_profile(sandbox, data_dir)
        self.stats: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()

    async def restart(self) -> None:
        await self.services.aclose()
        self.services.close()
        self.services = open_profile(self.sandbox, self.data_dir)
        self.stats["restarts"] += 1
        try:
            await self.services.billing.resume_pending()
        except MbvError as exc:
            self.stats[f"resume:{type(exc).__name__}"] += 1

    # --- the operations ---------------------------------------------------------------------

    async def subscribe_or_change(self) -> None:
        billing = self.services.billing
        status = await billing.refresh()  # what the panel shows before the creator chooses
        if status.subscription is None:
            start = await billing.start_checkout(self.rng.choice(["creator", "pro"]))
            card = DECLINED if self.rng.random() < 0.2 else self.rng.choice(GOOD_CARDS)
            await pay_sandbox_checkout(start.url, card=card)  # a decline raises CardDeclined
            await billing.wait_for_checkout(start.session_id, timeout=10, interval=0.05)
        else:
            current = status.plan.name.lower() if status.plan else ""
            target = "pro" if current == "creator" else "creator"
            await billing.change_plan(await billing.preview_change(target))

    async def add_card(self) -> None:
        start = await self.services.billing.start_add_card()
        await pay_sandbox_checkout(start.url, card=self.rng.choice(GOOD_CARDS))
        await self.services.billing.wait_for_checkout(start.session_id, timeout=10,
                                                      interval=0.05)

    async def set_default(self) -> None:
        cards = (await self.services.billing.cached_status()).payment_methods
        if cards:
            await self.services.billing.set_default_card(self.rng.choice(cards).id)

    async def remove_card(self) -> None:
        cards = [c for c in (await self.services.billing.cached_status()).payment_methods
                 if not c.is_default]
        if cards:
            await self.services.billing.remove_card(self.rng.choice(cards).id)

    async def ai_runs(self) -> None:
        kind = self.rng.choice(["x_post", "instagram_caption", "image"])
        count = self.rng.randint(1, 3)
        await self.services.worker.call(lambda c: record_runs(c, count, kind=kind))

    async def step(self) -> str:
        billing = self.services.billing
        choices: dict[str, Any] = {
            "refresh": billing.refresh,
            "subscribe": self.subscribe_or_change,
            "cancel_at_period_end": lambda: billing.cancel(at_period_end=True),
            "resume": billing.resume,
            "cancel_now": lambda: billing.cancel(at_period_end=False),
            "add_card": self.add_card,
            "set_default": self.set_default,
            "remove_card": self.remove_card,
            "ai_runs": self.ai_runs,
            "send_usage": billing.sync.flush_usage,
            "poll_events": billing.sync.poll_events,
        }
        weights = {"subscribe": 4, "ai_runs": 3, "send_usage": 2, "cancel_now": 1}
        names = list(choices)
        name = self.rng.choices(names, weights=[weights.get(n, 2) for n in names])[0]
        await choices[name]()
        return name

    def inject(self) -> None:
        roll = self.rng.random()
        faults = self.sandbox.faults
        if roll < 0.12:
            faults.add("stripe", Fault("reset_after", method="POST", times=1))
            self.stats["fault:answer_lost"] += 1
        elif roll < 0.22:
            faults.add("stripe", Fault("503", times=self.rng.randint(1, 6)))
            self.stats["fault:503"] += 1
        elif roll < 0.30:
            faults.add("stripe", Fault("reset", times=self.rng.randint(1, 5)))
            self.stats["fault:reset"] += 1
        if self.rng.random() < 0.35:
            def hook(where: str) -> None:  # dies after the first answer it would write down
                self.stats[f"crash_at:{where}"] += 1
                raise Crash(where)

            self.services.billing.crash_hook = hook

    async def operate(self) -> None:
        await sign_in(self.services)
        for _ in range(OPERATIONS):
            self.inject()
            try:
                name = await self.step()
                self.stats[f"ok:{name}"] += 1
            except Crash:
                self.stats["crashes"] += 1
                self.sandbox.faults.clear()
                await self.restart()
            except MbvError as exc:
                self.stats[f"error:{type(exc).__name__}"] += 1
                self.messages[str(exc)[:70]] += 1
            finally:
                self.sandbox.faults.clear()
                self.services.billing.crash_hook = crash_at("never")

    async def settle(self) -> None:
        """Faults gone: pending writes and usage sent, events applied, the state read back."""
        billing = self.services.billing
        for _ in range(100):
            try:
                await billing.resume_pending()
                report = await billing.sync.flush_usage()
                await billing.sync.poll_events()
                await billing.refresh()
            except MbvError:  # the test policy's circuit breaker may still be cooling down
                await asyncio.sleep(0.1)
                continue
            if report.waiting == 0 and not await billing.pending_ops():
                return
        raise AssertionError("billing did not settle")


def test_a_hundred_operations_under_crashes_and_faults_end_in_agreement(
        sandbox: SandboxHost, data_dir: Path) -> None:
    run = Run(sandbox, data_dir, random.Random(SEED))

    async def scenario() -> dict[str, Any]:
        try:
            await run.operate()
            await run.settle()
            return (await run.services.billing.cached_status()).to_json()
        finally:
            await run.services.aclose()

    status = asyncio.run(scenario())
    run.services.close()
    stats = run.stats
    print(dict(sorted(stats.items())))
    print(run.messages)
    # The run really was hostile and really did things.
    assert stats["crashes"] >= 5
    assert stats["fault:answer_lost"] + stats["fault:503"] + stats["fault:reset"] >= 20
    assert stats["ok:subscribe"] >= 3 and stats["ok:ai_runs"] >= 5

    services = run.services
    app_user = rows(services, "SELECT app_user_id FROM billing_customers")[0][0]
    customers = customers_of(sandbox, app_user)
    assert len(customers) == 1, "one Stripe customer for the creator"
    customer = customers[0]["id"]
    live = live_subscriptions(sandbox, customer)
    assert len(live) <= 1, "never two live subscriptions"

    if live:
        assert status["subscription"]["id"] == live[0]["id"]
        assert status["subscription"]["cancel_at_period_end"] == live[0]["cancel_at_period_end"]
        plan_price = next(i["price"]["id"] for i in live[0]["items"]["data"]
                          if i["price"]["recurring"].get("usage_type") != "metered")
        assert status["plan"]["price_id"] == plan_price
    else:
        assert status["subscription"] is None and status["plan"]["amount"] == 0

    stripe_cards = {c["id"] for c in stripe_get(sandbox, "/v1/payment_methods",
                                                customer=customer, type="card")["data"]}
    assert {c["id"] for c in status["payment_methods"]} == stripe_cards

    units = rows(services, "SELECT coalesce(sum(value), 0), count(*) FROM meter_outbox"
                           " WHERE state = 'sent'")[0]
    assert rows(services, "SELECT count(*) FROM meter_outbox WHERE state <> 'sent'")[0][0] == 0
    assert units[1] > 0
    assert metered_total(sandbox, customer) == units[0], "every AI run metered exactly once"
    assert not rows(services, "SELECT id FROM billing_ops WHERE state = 'pending'")
