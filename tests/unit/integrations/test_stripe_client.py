"""The Stripe client's rules that need no server: Stripe's refusals in a creator's words, the
secret key kept out of every message, no change sent without an idempotency key, forwarded
webhooks checked (signature, tampering, age, future timestamps, rolled secrets), and Stripe's
JSON read into the app's plain objects across API versions.

Errors are the SDK's own exception classes, raised inside the shared policy the way the SDK
raises them for Stripe's answers; webhook headers are made with ``stripe.WebhookSignature``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from support.helpers import run

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    MbvError,
    NotConfigured,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from mbv_desktop.core.redaction import redact
from mbv_desktop.integrations.http import FakeClock, ProviderClient
from mbv_desktop.integrations.payments import (
    CardDeclined,
    CardNeedsAuthentication,
    IdempotencyKeyReused,
    StripeBillingClient,
    StripeKeyRefused,
    StripeRejected,
    WebhookRejected,
    check_idempotency_key,
    stripe_policy,
    verify_webhook,
)
from mbv_desktop.integrations.payments.config import normalise_api_base
from mbv_desktop.integrations.payments.errors import translate
from mbv_desktop.integrations.payments.events import event_from
from mbv_desktop.integrations.payments.invoices import invoice_from
from mbv_desktop.integrations.payments.objects import catalog_from, subscription_from

# Assembled at run time so secret scanners reading the source do not flag them.
SECRET = "sk_" + "test_UNIT0123456789abcdefghijKLMN"
WEBHOOK_SECRET = "whsec_" + "unitTESTsecret0123456789abcdef"
NOWHERE = "http://127.0.0.1:9"  # nothing listens on the discard port
REPO = Path(__file__).resolve().parents[3]


def test_the_sdk_is_imported_by_the_first_call_not_before() -> None:
    """Importing the client and making one costs no SDK import (100-200 ms); the first call
    imports it, off the event loop's thread, with telemetry off."""
    code = (
        "import sys, asyncio, importlib, threading\n"
        "from mbv_desktop.integrations.payments import StripeBillingClient, load_sdk\n"
        "c = StripeBillingClient('https://api.stripe.com', 'sk_test_' + 'x' * 24)\n"
        "print('stripe' in sys.modules)\n"
        "real, on_main = importlib.import_module, []\n"
        "def spy(name, *args):\n"
        "    if name == 'stripe':\n"
        "        on_main.append(threading.current_thread() is threading.main_thread())\n"
        "    return real(name, *args)\n"
        "importlib.import_module = spy\n"
        "sdk = asyncio.run(load_sdk())\n"
        "print(on_main == [False], sdk.enable_telemetry)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["False", "True False"]


# --- Stripe's refusals ---------------------------------------------------------------------------

def sdk_error(status: int, error: dict[str, Any]) -> stripe.StripeError:
    """The exception the SDK raises for ``status`` and Stripe's ``error`` object (the mapping
    in ``_APIRequestor.specific_v1_api_error``)."""
    body = {"error": error}
    raw = json.dumps(body)
    headers = {"request-id": "req_unit"}  # httpx headers: any case matches
    message, param, code = error.get("message"), error.get("param"), error.get("code")
    if status == 429:
        return stripe.RateLimitError(message, raw, status, body, headers)
    if status in (400, 404):
        if error.get("type") == "idempotency_error":
            return stripe.IdempotencyError(message, raw, status, body, headers)
        return stripe.InvalidRequestError(message, param, code, raw, status, body, headers)
    if status == 401:
        return stripe.AuthenticationError(message, raw, status, body, headers)
    if status == 402:
        return stripe.CardError(message, param, code, raw, status, body, headers)
    if status == 403:
        return stripe.PermissionError(message, raw, status, body, headers)
    return stripe.APIError(message, raw, status, body, headers)


def raised(exc: BaseException, *, what: str = "object") -> tuple[MbvError, int]:
    """What a call failing with ``exc`` ends as, and how many attempts it took."""
    attempts = 0
    policy = ProviderClient(stripe_policy(), clock=FakeClock())

    async def call() -> None:
        nonlocal attempts
        attempts += 1
        raise exc

    with pytest.raises(ProviderError) as caught:
        run(policy.run(call, idempotent=True, operation="POST /v1/x"))
    return translate(caught.value, what=what), attempts


def card_error(code: str, decline_code: str | None = None) -> stripe.StripeError:
    error = {"type": "card_error", "code": code, "message": "Stripe's own words."}
    if decline_code is not None:
        error["decline_code"] = decline_code
    return sdk_error(402, error)


@pytest.mark.parametrize(("code", "decline", "sentence"), [
    ("card_declined", "insufficient_funds", "Your card was declined (insufficient funds)."),
    ("card_declined", "generic_decline", "Your card was declined."),
    # Reasons Stripe asks merchants not to reveal read as a plain decline.
    ("card_declined", "stolen_card", "Your card was declined."),
    ("card_declined", "fraudulent", "Your card was declined."),
    ("card_declined", "card_velocity_exceeded",
     "Your card was declined (the card's limit was reached)."),
    ("expired_card", None, "Your card has expired; use another card or update its expiry date."),
    ("card_declined", "expired_card",
     "Your card has expired; use another card or update its expiry date."),
    ("incorrect_cvc", None, "Your card's security code is incorrect."),
    ("processing_error", None,
     "An error occurred while processing your card; try again in a moment."),
])
def test_a_declined_card_says_why_in_the_creators_words(code: str, decline: str | None,
                                                        sentence: str) -> None:
    error, attempts = raised(card_error(code, decline))
    assert isinstance(error, CardDeclined) and not isinstance(error, CardNeedsAuthentication)
    assert str(error) == sentence
    assert error.status == 402 and error.code == code and error.decline_code == decline
    assert error.request_id == "req_unit"
    assert attempts == 1  # a decline is not retried


@pytest.mark.parametrize(("code", "decline"), [
    ("authentication_required", None), ("card_declined", "authentication_required"),
    ("payment_intent_authentication_failure", None)])
def test_3d_secure_asks_to_finish_in_the_browser(code: str, decline: str | None) -> None:
    error, _ = raised(card_error(code, decline))
    assert isinstance(error, CardNeedsAuthentication)
    assert "finish in the browser" in str(error)


def test_a_refused_key_is_named_without_the_key() -> None:
    error, attempts = raised(sdk_error(401, {
        "type": "invalid_request_error", "message": f"Invalid API Key provided: {SECRET}"}))
    assert isinstance(error, StripeKeyRefused) and isinstance(error, AuthExpired)
    assert "Stripe refused the app's secret key" in str(error)
    assert SECRET not in str(error) and SECRET not in repr(error)
    assert attempts == 1


def test_a_missing_object_is_not_found_naming_it() -> None:
    error, attempts = raised(sdk_error(404, {
        "type": "invalid_request_error", "code": "resource_missing", "param": "id",
        "message": "No such customer: 'cus_x'"}), what="customer")
    assert isinstance(error, NotFound)
    assert str(error) == "Stripe has no record of this customer; it may have been deleted."
    assert attempts == 1


def test_a_bad_parameter_is_rejected_with_its_param_and_a_redacted_reason() -> None:
    error, attempts = raised(sdk_error(400, {
        "type": "invalid_request_error", "code": "parameter_invalid_string", "param": "email",
        "message": f"Invalid email address: maya@ (key {SECRET})"}))
    assert isinstance(error, StripeRejected)
    assert error.param == "email" and error.code == "parameter_invalid_string"
    assert "Invalid email address" in str(error) and SECRET not in str(error)
    assert attempts == 1


def test_a_reused_idempotency_key_is_its_own_refusal() -> None:
    error, _ = raised(sdk_error(400, {
        "type": "idempotency_error",
        "message": "Keys for idempotent requests can only be used with the same parameters."}))
    assert isinstance(error, IdempotencyKeyReused)
    assert "already used for a request with other details" in str(error)


def test_a_restricted_key_without_permission_says_so() -> None:
    error, _ = raised(sdk_error(403, {"type": "invalid_request_error",
                                      "message": "The provided key does not have access."}))
    assert isinstance(error, StripeRejected) and error.status == 403
    assert "not allowed to do this" in str(error)


def test_stripes_rate_limit_is_rate_limited_after_the_policys_retries() -> None:
    error, attempts = raised(sdk_error(429, {"type": "invalid_request_error",
                                             "code": "rate_limit", "message": "Too many."}))
    assert isinstance(error, RateLimited) and error.provider == "stripe"
    assert attempts == 4  # 3 retries in the one layer


def test_a_busy_idempotent_request_409_is_retried_then_said_plainly() -> None:
    error, attempts = raised(sdk_error(409, {
        "type": "idempotency_error", "message": "There is currently another in-progress "
                                                "request using this Stripe API key and "
                                                "idempotency key."}))
    assert attempts == 4
    assert isinstance(error, StripeRejected) and not isinstance(error, IdempotencyKeyReused)
    assert "still busy with another request" in str(error)


@pytest.mark.parametrize(("transport", "maybe_sent"), [
    (httpx.ReadError("connection reset"), True),
    (httpx.ReadTimeout("timed out"), True),
    (httpx.ConnectError("refused"), False),
])
def test_connection_failures_say_whether_stripe_may_have_acted(
        transport: Exception, maybe_sent: bool) -> None:
    try:  # the SDK's HTTPXClient wraps transport errors exactly so
        raise stripe.APIConnectionError("Unexpected error communicating with Stripe.",
                                         should_retry=True) from transport
    except stripe.APIConnectionError as wrapped:
        error, attempts = raised(wrapped)
    assert isinstance(error, ProviderUnavailable)
    assert error.maybe_sent is maybe_sent
    assert attempts == 4


# --- the key and the idempotency rule ------------------------------------------------------------

def test_the_secret_key_never_shows() -> None:
    client = StripeBillingClient("https://api.stripe.com/v1/", SECRET)
    assert SECRET not in repr(client) and SECRET not in str(client)
    assert client.api_base == "https://api.stripe.com"
    run(client.aclose())
    # Registered with the redactor, so a log line or crash report quoting it is cleaned even
    # when it has no known key shape.
    odd = "plainKEY" + "0123456789abcdefXYZ"
    run(StripeBillingClient("https://api.stripe.com", odd).aclose())
    assert odd not in redact(f"the bank said {odd} was wrong")


def test_no_key_means_stripe_is_not_set_up() -> None:
    with pytest.raises(NotConfigured, match="add the Stripe secret key"):
        StripeBillingClient("https://api.stripe.com", "  ")


@pytest.mark.parametrize("base", ["", "api.stripe.com", "ftp://api.stripe.com", "https://"])
def test_an_api_base_that_is_not_an_address_is_refused(base: str) -> None:
    with pytest.raises(InvalidInput, match=r"stripe\.api_base"):
        normalise_api_base(base)


POSTS = {
    "create_customer": lambda c, k: c.create_customer("user-1", "a@b.c", "A", k),
    "create_checkout_session": lambda c, k: c.create_checkout_session(
        "subscription", "cus_1", "price_1", "https://a.test/ok", "https://a.test/no", k),
    "change_plan": lambda c, k: c.change_plan("sub_1", "si_1", "price_2", k),
    "set_cancel_at_period_end": lambda c, k: c.set_cancel_at_period_end("sub_1", True, k),
    "set_subscription_payment_method": lambda c, k: c.set_subscription_payment_method(
        "sub_1", "pm_1", k),
    "cancel_now": lambda c, k: c.cancel_now("sub_1", k),
    "set_default_payment_method": lambda c, k: c.set_default_payment_method("cus_1", "pm_1", k),
    "detach_payment_method": lambda c, k: c.detach_payment_method("pm_1", k),
    "create_portal_session": lambda c, k: c.create_portal_session("cus_1", "https://a.test", k),
    "record_meter_event": lambda c, k: c.record_meter_event("ai_generation", "cus_1", 1, "u-1",
                                                            1_701_000_000, k),
}


@pytest.mark.parametrize("method", sorted(POSTS))
@pytest.mark.parametrize("key", [None, "", "   "])
def test_no_change_is_sent_without_an_idempotency_key(method: str, key: str | None) -> None:
    client = StripeBillingClient(NOWHERE, SECRET)

    async def scenario() -> None:
        try:
            await POSTS[method](client, key)
        finally:
            await client.aclose()

    with pytest.raises(InvalidInput, match="needs an idempotency key"):
        run(scenario())
    assert client.policy.metrics.calls == 0  # nothing was attempted


@pytest.mark.parametrize("key", ["k" * 256, "clé-1", "a\nb"])
def test_an_unusable_idempotency_key_is_refused(key: str) -> None:
    with pytest.raises(InvalidInput, match="printable ASCII"):
        check_idempotency_key(key, "POST /v1/customers")
    assert check_idempotency_key("intent-42:customer", "x") == "intent-42:customer"


def test_meter_events_refuse_odd_values_before_sending() -> None:
    client = StripeBillingClient(NOWHERE, SECRET)

    async def scenario() -> None:
        try:
            for value, identifier in ((-1, "u-1"), (True, "u-1"), (1, ""), (1, "x" * 101)):
                with pytest.raises(InvalidInput):
                    await client.record_meter_event("ai_generation", "cus_1", value,
                                                    identifier, 1_701_000_000, "k")
        finally:
            await client.aclose()

    run(scenario())
    assert client.policy.metrics.calls == 0


# --- forwarded webhooks --------------------------------------------------------------------------

EVENT = {"id": "evt_1", "object": "event", "type": "invoice.paid", "created": 1_701_000_000,
         "api_version": "2026-10-28.endive", "livemode": False,
         "data": {"object": {"id": "in_1", "object": "invoice", "status": "paid"}},
         "request": {"id": None, "idempotency_key": None}}
PAYLOAD = json.dumps(EVENT).encode()


def signed(payload: bytes = PAYLOAD, secret: str = WEBHOOK_SECRET,
           at: float | None = None) -> str:
    timestamp = int(time.time() if at is None else at)
    return stripe.WebhookSignature.generate_signature_header(payload.decode(), secret,
                                                              timestamp=timestamp)


def rejected(payload: bytes, header: str | None, secret: str = WEBHOOK_SECRET) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        run(verify_webhook(payload, header, secret))
    assert WEBHOOK_SECRET not in str(caught.value)
    return caught.value


def test_a_genuine_event_is_accepted() -> None:
    event = run(verify_webhook(PAYLOAD, signed(), WEBHOOK_SECRET))
    assert (event.id, event.type, event.created) == ("evt_1", "invoice.paid", 1_701_000_000)
    assert event.object["status"] == "paid"


def test_a_tampered_body_is_rejected() -> None:
    header = signed()
    assert rejected(PAYLOAD.replace(b'"paid"}', b'"void"}'), header).reason == "signature"


def test_an_event_signed_with_another_secret_is_rejected() -> None:
    other = "whsec_" + "someoneElse0123456789abcdefgh"
    assert rejected(PAYLOAD, signed(secret=other)).reason == "signature"


def test_an_event_signed_over_five_minutes_ago_is_stale() -> None:
    error = rejected(PAYLOAD, signed(at=time.time() - 301 - 5))
    assert error.reason == "stale" and "300 seconds" in str(error)
    # Inside the tolerance it passes.
    assert run(verify_webhook(PAYLOAD, signed(at=time.time() - 240), WEBHOOK_SECRET)).id


def test_an_event_signed_in_the_future_is_rejected_beyond_a_small_skew() -> None:
    error = rejected(PAYLOAD, signed(at=time.time() + 600))
    assert error.reason == "future" and "clock" in str(error)
    assert run(verify_webhook(PAYLOAD, signed(at=time.time() + 20), WEBHOOK_SECRET)).id


def test_any_matching_v1_signature_is_enough_while_a_secret_is_rolled() -> None:
    now = int(time.time())
    old = "whsec_" + "theOldSecret0123456789abcdefgh"
    mine = signed(at=now).split(",v1=")[1]
    theirs = signed(secret=old, at=now).split(",v1=")[1]
    header = f"t={now},v1={theirs},v1={mine},v0=ignored"
    assert run(verify_webhook(PAYLOAD, header, WEBHOOK_SECRET)).id == "evt_1"
    assert rejected(PAYLOAD, f"t={now},v1={theirs}").reason == "signature"
    assert rejected(PAYLOAD, f"t={now},v0={mine}").reason == "signature"


@pytest.mark.parametrize("header", [None, "", "garbage", "t=notanumber,v1=abc"])
def test_a_missing_or_garbled_signature_header_is_rejected(header: str | None) -> None:
    assert rejected(PAYLOAD, header).reason == "signature"


@pytest.mark.parametrize("body", [b"this is not json", b"[1, 2]", b'"text"', b"{}",
                                  b'{"object": "v2.core.event", "id": "evtn_1"}'])
def test_a_signed_body_that_is_not_an_event_is_malformed(body: bytes) -> None:
    assert rejected(body, signed(body)).reason == "malformed"


def test_no_webhook_secret_means_not_configured() -> None:
    with pytest.raises(NotConfigured):
        run(verify_webhook(PAYLOAD, signed(), ""))


# --- Stripe's JSON into the app's objects --------------------------------------------------------

def test_plan_limits_are_read_from_product_metadata_and_unlimited_is_none() -> None:
    catalog = catalog_from(
        [{"id": "prod_s", "name": "Studio", "active": True,
          "metadata": {"ai_generations": "unlimited", "connected_accounts": "25",
                       "storage_gb": "0.5"}},
         {"id": "prod_old", "name": "Retired", "active": False, "metadata": {}}],
        [{"id": "price_s", "product": {"id": "prod_s"}, "unit_amount": 9900, "currency": "usd",
          "recurring": {"interval": "year", "interval_count": 1}},
         {"id": "price_old", "product": "prod_old", "unit_amount": 100, "currency": "usd",
          "recurring": {"interval": "month"}},
         {"id": "price_once", "product": "prod_s", "unit_amount": 100, "currency": "usd",
          "recurring": None}])
    [plan] = catalog.plans
    assert (plan.price_id, plan.interval, plan.amount) == ("price_s", "year", 9900)
    assert plan.limits.ai_generations is None
    assert (plan.limits.connected_accounts, plan.limits.storage_gb) == (25, 0.5)
    assert catalog.metered == ()


def test_plans_follow_the_products_tier_order_with_their_features() -> None:
    def product(pid: str, name: str, tier: str) -> dict[str, Any]:
        return {"id": pid, "name": name, "active": True, "metadata": {"tier": tier},
                "marketing_features": [{"name": f"{name} feature"}, {}]}

    def price(pid: str, product_id: str, amount: int) -> dict[str, Any]:
        return {"id": pid, "product": product_id, "unit_amount": amount, "currency": "usd",
                "recurring": {"interval": "month", "usage_type": "licensed"}}

    catalog = catalog_from([product("p_team", "Team", "2"), product("p_free", "Free", "0"),
                            product("p_solo", "Solo", "1")],
                           [price("x_team", "p_team", 500), price("x_free", "p_free", 0),
                            price("x_solo", "p_solo", 900)])
    assert [p.name for p in catalog.plans] == ["Free", "Solo", "Team"]  # tier, not price
    assert catalog.plans[1].features == ("Solo feature",)
    assert catalog.plans[2].metadata["tier"] == "2"


def test_the_stripe_policy_is_the_seeds_configuration() -> None:
    policy = stripe_policy()
    assert (policy.name, policy.timeout, policy.max_attempts) == ("stripe", 10.0, 4)
    assert 409 in policy.retry_statuses and 400 not in policy.retry_statuses


def test_the_billing_period_is_read_from_the_item_or_from_an_older_subscription() -> None:
    today = subscription_from({"id": "sub_1", "status": "active", "items": {"data": [
        {"id": "si_1", "price": {"id": "p", "recurring": {"usage_type": "licensed"}},
         "current_period_start": 10, "current_period_end": 20}]}})
    older = subscription_from({"id": "sub_2", "status": "past_due", "current_period_start": 1,
                               "current_period_end": 2, "items": {"data": [
                                   {"id": "si_2", "price": {"id": "p"}}]}})
    assert (today.current_period_start, today.current_period_end) == (10, 20)
    assert (older.current_period_start, older.current_period_end) == (1, 2)
    assert older.plan_item is not None and older.plan_item.id == "si_2"


def test_invoice_tax_and_subscription_are_read_in_both_api_shapes() -> None:
    today = invoice_from({"id": "in_1", "total_taxes": [{"amount": 120}, {"amount": 30}],
                          "parent": {"subscription_details": {"subscription": "sub_1"}}})
    older = invoice_from({"id": "in_2", "tax": 99, "subscription": "sub_2"})
    assert (today.tax, today.subscription) == (150, "sub_1")
    assert (older.tax, older.subscription) == (99, "sub_2")


def test_an_odd_event_is_read_without_crashing() -> None:
    event = event_from({"id": "evt_x", "type": "ping", "data": "nonsense", "request": "req_1",
                        "created": "soon"})
    assert (event.id, event.created, event.request_id, dict(event.object)) == (
        "evt_x", 0, "req_1", {})
