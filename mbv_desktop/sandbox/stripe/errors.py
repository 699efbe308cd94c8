"""Stripe's error answers: the ``{"error": {...}}`` body with the HTTP status Stripe pairs with
it, the constructors the emulator uses for each case, and the reply an injected fault gives.

Statuses follow Stripe's table: 400 invalid request (and ``idempotency_error`` on a key reused
with other parameters), 401 bad or missing key, 402 card errors, 404 an unknown id in the path
or an unknown URL, 409 a key still in use by another request, 429 rate limited, 5xx ours. A
missing object named by a *parameter* (``customer=cus_nope``) is 400 ``resource_missing`` with
``param`` set; one named in the path is 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mbv_desktop.sandbox.common import FaultReply, dump_json, retry_after_seconds
from mbv_desktop.sandbox.faults import Fault

DOCS = "https://docs.stripe.com/error-codes/"

#: What each object kind is called in "No such …" messages.
NOUNS = {
    "cus": "customer", "prod": "product", "price": "price", "sub": "subscription",
    "si": "subscription item", "pm": "PaymentMethod", "cs": "checkout.session",
    "in": "invoice", "evt": "event", "seti": "setupintent", "pi": "payment_intent",
    "bps": "billing_portal.session", "mtr": "billing meter",
}


class StripeError(Exception):
    """One error answer in Stripe's shape."""

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None,
                 param: str | None = None, decline_code: str | None = None,
                 headers: Mapping[str, str] | None = None,
                 extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = DOCS + self.code.replace("_", "-")
        if self.param is not None:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None,
            status: int = 400) -> StripeError:
    """An ``invalid_request_error``."""
    return StripeError(status, "invalid_request_error", message, code=code, param=param)


def missing_param(param: str) -> StripeError:
    return invalid(f"Missing required param: {param}.", param, "parameter_missing")


def unknown_param(param: str) -> StripeError:
    return invalid(f"Received unknown parameter: {param}", param, "parameter_unknown")


def no_such(object_id: str, param: str | None = None) -> StripeError:
    """``resource_missing``: 404 for an id in the path, 400 for one given as ``param``."""
    prefix = object_id.split("_", 1)[0] if "_" in object_id else ""
    noun = NOUNS.get(prefix, "object")
    return invalid(f"No such {noun}: '{object_id}'", param, "resource_missing",
                   404 if param is None else 400)


def unrecognized_url(method: str, path: str) -> StripeError:
    return invalid(f"Unrecognized request URL ({method}: {path}). Please see "
                   "https://stripe.com/docs or we can help at https://support.stripe.com/.",
                   status=404)


def unauthorized(message: str) -> StripeError:
    return StripeError(401, "invalid_request_error", message,
                       headers={"www-authenticate": 'Basic realm="Stripe"'})


def idempotency_mismatch(key: str) -> StripeError:
    return StripeError(400, "idempotency_error",
                       "Keys for idempotent requests can only be used with the same parameters "
                       f"they were first used with. Try using a key other than '{key}' if you "
                       "meant to execute a different request.")


def idempotency_in_flight(key: str) -> StripeError:
    return StripeError(409, "idempotency_error",
                       "There is currently another in-progress request using this Idempotent "
                       "Key (that probably means you submitted twice, and the other request is "
                       f"still going through): {key}. Please try again later.",
                       headers={"stripe-should-retry": "true"})


def card_error(code: str, message: str, decline_code: str | None = None,
               param: str | None = None, **extra: Any) -> StripeError:
    """A 402 ``card_error`` (``extra`` adds ``payment_method``, ``setup_intent`` …)."""
    return StripeError(402, "card_error", message, code=code, param=param,
                       decline_code=decline_code, extra=extra)


def fault_reply(fault: Fault) -> FaultReply:
    """Stripe's answer for an injected 429, 500 or 503 (``Request-Id`` included)."""
    status = int(fault.kind)
    headers = {"request-id": "req_fault" + fault.id.removeprefix("fault_").rjust(10, "0")}
    if status == 429:
        error = invalid("Too many requests hit the API too quickly. We recommend an exponential "
                        "backoff of your requests.", code="rate_limit", status=429)
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
    elif status == 500:
        error = StripeError(500, "api_error", "An unknown error occurred",
                            headers={"stripe-should-retry": "true"})
    else:
        error = StripeError(503, "api_error", "Stripe is temporarily unavailable. Please try "
                            "again later.", headers={"stripe-should-retry": "true"})
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
    return FaultReply(status, dump_json(error.body()), {**error.headers, **headers})
