"""Shared steps for the billing tests: a signed-in profile on the sandbox, paying a Checkout page
as a person would, and reading Stripe's own state (the emulator's) to judge the app by."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx

from mbv_desktop.integrations.http import ProviderClient
from mbv_desktop.integrations.payments import stripe_policy
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.billing import CheckoutResult
from mbv_desktop.services.container import Services
from mbv_desktop.services.sandbox_consent import answer_consent, pay_sandbox_checkout

SANDBOX_KEY = "sk_test_sandbox_" + "billing-tests"


def fast_policy() -> ProviderClient:
    """Stripe's policy with short waits, so faults cost milliseconds, not seconds."""
    return ProviderClient(dataclasses.replace(stripe_policy(), base_delay=0.01, max_delay=0.05,
                                              breaker_cooldown=0.05, deadline=10.0))


async def sign_in(services: Services) -> None:
    await services.accounts.authorize("google", open_url=answer_consent)


async def subscribe(services: Services, plan: str, card: str = "4242 4242 4242 4242",
                    ) -> CheckoutResult:
    start = await services.billing.start_checkout(plan)
    await pay_sandbox_checkout(start.url, card=card)
    return await services.billing.wait_for_checkout(start.session_id, timeout=20, interval=0.05)


def stripe_get(sandbox: SandboxHost, path: str, **params: Any) -> dict[str, Any]:
    """GET on the Stripe emulator with its own key (what Stripe holds, not what the app says)."""
    answer = httpx.get(sandbox.urls()["stripe"] + path, params=params, timeout=10,
                       headers={"Authorization": f"Bearer {SANDBOX_KEY}"})
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def customers_of(sandbox: SandboxHost, app_user_id: str) -> list[dict[str, Any]]:
    found = stripe_get(sandbox, "/v1/customers", limit=100)["data"]
    return [c for c in found if (c.get("metadata") or {}).get("app_user_id") == app_user_id]


def live_subscriptions(sandbox: SandboxHost, customer: str) -> list[dict[str, Any]]:
    subs = stripe_get(sandbox, "/v1/subscriptions", customer=customer, status="all",
                      limit=100)["data"]
    return [s for s in subs if s["status"] in ("active", "trialing", "past_due", "incomplete",
                                               "unpaid", "paused")]


def metered_total(sandbox: SandboxHost, customer: str) -> float:
    """Every unit Stripe's meters counted for the customer, all meters, all time."""
    total = 0.0
    for meter in stripe_get(sandbox, "/v1/billing/meters")["data"]:
        summaries = stripe_get(sandbox, f"/v1/billing/meters/{meter['id']}/event_summaries",
                               customer=customer, start_time=0,
                               end_time=4_000_000_020 // 60 * 60)["data"]
        total += sum(float(s["aggregated_value"]) for s in summaries)
    return total
