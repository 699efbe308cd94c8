"""Stripe's refusals as project errors, each with a sentence a creator understands.

The shared policy (:mod:`mbv_desktop.integrations.http`) turns every failed SDK call into a
project error and keeps the SDK exception as its ``__cause__``; :func:`translate` reads Stripe's
error object there (``type``, ``code``, ``decline_code``, ``param``) and says what happened:

* 402 card errors → :class:`CardDeclined` ("Your card was declined (insufficient funds).");
  3-D Secure / ``authentication_required`` → :class:`CardNeedsAuthentication` ("finish in the
  browser"). Decline reasons Stripe asks merchants not to reveal (lost, stolen, fraudulent) read
  as a plain decline.
* 401 → :class:`StripeKeyRefused` (an ``AuthExpired``: the key is wrong, rolled or revoked).
* 404 ``resource_missing`` → :class:`~mbv_desktop.core.errors.NotFound` naming the thing.
* 400 ``idempotency_error`` → :class:`IdempotencyKeyReused`; 409 (a request with the same key
  still running, after the policy's retries) and other 400/403 → :class:`StripeRejected` with
  Stripe's ``param`` and ``code``.
* 429 stays ``RateLimited``; 5xx and connection failures stay ``ProviderUnavailable`` with
  ``maybe_sent`` as the policy decided (a POST that may have reached Stripe: look it up before
  sending it again).

No sentence quotes a secret: Stripe's own message (which for a bad key names the key, masked) is
used only for 400s and is redacted; the SDK exception is not chained onto the translated error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mbv_desktop.core.errors import (
    AuthExpired,
    MbvError,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.core.redaction import redact

PROVIDER = "stripe"

# Decline codes not listed here (lost, stolen, fraudulent, do_not_honor, …) read as a plain
# decline: Stripe asks merchants not to tell the card holder more about those.
_DECLINE_REASONS = {
    "insufficient_funds": "insufficient funds",
    "card_velocity_exceeded": "the card's limit was reached",
    "withdrawal_count_limit_exceeded": "the card's limit was reached",
    "card_not_supported": "this card does not support this kind of payment",
    "currency_not_supported": "this card does not support this currency",
    "incorrect_zip": "the postal code does not match the card",
    "invalid_amount": "the amount is not accepted by the card's bank",
    "try_again_later": "the bank asks to try again later",
    "approve_with_id": "the bank asks to try again later",
    "issuer_not_available": "the bank could not be reached; try again in a moment",
    "testmode_decline": "a test card was used with a live key",
}
_CARD_SENTENCES = {
    "expired_card": "Your card has expired; use another card or update its expiry date.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "invalid_cvc": "Your card's security code is incorrect.",
    "incorrect_number": "Your card number is incorrect.",
    "invalid_number": "Your card number is incorrect.",
    "invalid_expiry_month": "Your card's expiry month is incorrect.",
    "invalid_expiry_year": "Your card's expiry year is incorrect.",
    "processing_error": ("An error occurred while processing your card; try again in a moment."),
    "card_decline_rate_limit_exceeded": ("This card was declined too many times; wait a day or "
                                         "use another card."),
}
_NEEDS_AUTHENTICATION = frozenset({
    "authentication_required", "payment_intent_authentication_failure",
    "setup_intent_authentication_failure", "card_authentication_required",
})
_FINISH_IN_BROWSER = ("Your bank wants you to confirm this payment; finish in the browser, "
                      "where Stripe shows your bank's check.")


class StripeKeyRefused(AuthExpired):
    """Stripe refused the secret key (HTTP 401): wrong, rolled or revoked."""

    def _default_message(self) -> str:
        return ("Stripe refused the app's secret key (it may be mistyped, rolled or revoked); "
                "set a current key for Stripe in the settings.")


class StripeRejected(Rejected):
    """Stripe refused the request as it is. ``param`` names the field Stripe objected to."""

    def __init__(self, reason: str = "", *, status: int | None = None, code: str | None = None,
                 param: str | None = None, request_id: str | None = None,
                 message: str = "") -> None:
        self.param = param
        self.request_id = request_id
        super().__init__(reason, provider=PROVIDER, status=status, code=code, message=message)


class IdempotencyKeyReused(StripeRejected):
    """The idempotency key was already used for a request with other details."""


class CardDeclined(StripeRejected):
    """A card payment failed (HTTP 402). ``decline_code`` is the bank's reason when given."""

    def __init__(self, message: str, *, code: str | None = None,
                 decline_code: str | None = None, request_id: str | None = None) -> None:
        self.decline_code = decline_code
        super().__init__(decline_code or code or "card declined", status=402, code=code,
                         request_id=request_id, message=message)


class CardNeedsAuthentication(CardDeclined):
    """The bank asks the card holder to confirm (3-D Secure): only Stripe's page can do that."""


def card_sentence(code: str | None, decline_code: str | None) -> str:
    """The sentence for a card error's ``code`` and ``decline_code``."""
    if decline_code in _NEEDS_AUTHENTICATION or code in _NEEDS_AUTHENTICATION:
        return _FINISH_IN_BROWSER
    for candidate in (decline_code, code):
        if candidate is not None and candidate in _CARD_SENTENCES:
            return _CARD_SENTENCES[candidate]
    reason = _DECLINE_REASONS.get(decline_code or "")
    if reason is not None:
        return f"Your card was declined ({reason})."
    return "Your card was declined."


def _stripe_error_object(cause: BaseException | None) -> Mapping[str, Any]:
    """The ``error`` object of Stripe's JSON body carried by an SDK exception, or ``{}``."""
    body = getattr(cause, "json_body", None)
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _clean(message: str | None) -> str | None:
    if message is None:
        return None
    text = redact(" ".join(message.split()))
    return text if len(text) <= 300 else text[:299].rstrip() + "…"


def translate(error: ProviderError, *, what: str = "object") -> MbvError:
    """The project error to raise for ``error`` (raised by the policy for one Stripe call).

    ``what`` names the thing the call was about ("customer", "subscription") for "not found".
    """
    if isinstance(error, (RateLimited, ProviderUnavailable)):
        return error
    cause = error.__cause__
    body = _stripe_error_object(cause)
    status = error.status
    code = _text(body.get("code")) or (error.code if isinstance(error, Rejected) else None)
    kind = _text(body.get("type"))
    request_id = _text(getattr(cause, "request_id", None))
    if status is not None and status < 400:  # a 2xx whose body the SDK could not read
        return ProviderUnavailable(
            "Stripe sent back an answer the app could not read, so the change may or may not "
            "have been made.", provider=PROVIDER, status=status, maybe_sent=True)
    if status == 401 or isinstance(error, AuthExpired):
        return StripeKeyRefused(provider=PROVIDER, status=401)
    if status == 402 or kind == "card_error":
        decline = _text(body.get("decline_code"))
        sentence = card_sentence(code, decline)
        cls = CardNeedsAuthentication if sentence == _FINISH_IN_BROWSER else CardDeclined
        return cls(sentence, code=code, decline_code=decline, request_id=request_id)
    if status == 404 and kind != "idempotency_error" and code in (None, "resource_missing"):
        return NotFound(f"Stripe has no record of this {what}; it may have been deleted.")
    reason = _clean(_text(body.get("message"))) or (
        error.reason if isinstance(error, Rejected) else None)
    param = _text(body.get("param"))
    if status == 409:
        return StripeRejected(
            reason or "conflict", status=status, code=code or kind, param=param,
            request_id=request_id,
            message="Stripe is still busy with another request for the same thing; try again "
                    "in a moment.")
    if kind == "idempotency_error":
        return IdempotencyKeyReused(
            reason or "idempotency key reused", status=status, code=kind, param=param,
            request_id=request_id,
            message="Stripe refused to repeat an earlier request: its idempotency key was "
                    "already used for a request with other details.")
    if status == 403:
        return StripeRejected(
            reason or "permission denied", status=status, code=code or kind, param=param,
            request_id=request_id,
            message="The Stripe key in the settings is not allowed to do this (a restricted "
                    "key without the permission); use a key with billing permissions.")
    return StripeRejected(reason or f"HTTP {status}", status=status, code=code or kind,
                          param=param, request_id=request_id)
