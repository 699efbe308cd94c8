"""Stripe's test cards: what a card number is (brand, funding, last four digits) and what
happens when it pays.

=======================  ==========================================================
number                   outcome
=======================  ==========================================================
4242 4242 4242 4242      Visa, succeeds (also any other number that passes Luhn)
5555 5555 5555 4444      Mastercard, succeeds
3782 822463 10005        American Express, succeeds
4000 0566 5566 5556      Visa debit, succeeds
4000 0000 0000 0002      declined: ``card_declined`` / ``generic_decline``
4000 0000 0000 9995      declined: ``card_declined`` / ``insufficient_funds``
4000 0000 0000 9987      declined: ``card_declined`` / ``lost_card``
4000 0000 0000 0069      declined: ``expired_card``
4000 0000 0000 0127      declined: ``incorrect_cvc``
4000 0000 0000 0119      ``processing_error``
4000 0025 0000 3155      3-D Secure required: the payment waits for the customer to
                         authenticate in the browser (later renewals succeed)
4000 0027 6000 3184      3-D Secure required on every payment (renewals fail with
                         ``authentication_required``)
4000 0000 0000 0341      attaches fine; every charge is declined (renewals fail)
=======================  ==========================================================

A number that fails the Luhn check is ``incorrect_number``; an expiry in the past is
``invalid_expiry_year``/``invalid_expiry_month``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from mbv_desktop.sandbox.stripe.errors import StripeError, card_error, invalid

DEFAULT_EXPIRY_YEARS = 4


@dataclass(frozen=True)
class Decline:
    """Why a payment failed; ``card`` False when no card was even tried (a 400, not a 402)."""

    code: str
    message: str
    decline_code: str | None = None
    param: str | None = None
    card: bool = True

    def error(self, **extra: object) -> StripeError:
        if not self.card:
            return invalid(self.message)
        return card_error(self.code, self.message, self.decline_code, self.param, **extra)


GENERIC = Decline("card_declined", "Your card was declined.", "generic_decline")
AUTHENTICATION = Decline("authentication_required", "Your card was declined. This transaction "
                         "requires authentication.", "authentication_required")
AUTHENTICATION_FAILED = Decline("payment_intent_authentication_failure", "We are unable to "
                                "authenticate your payment method. Please choose a different "
                                "payment method and try again.")

DECLINES = {
    "4000000000000002": GENERIC,
    "4000000000009995": Decline("card_declined", "Your card has insufficient funds.",
                                "insufficient_funds"),
    "4000000000009987": Decline("card_declined", "Your card was declined.", "lost_card"),
    "4000000000000069": Decline("expired_card", "Your card has expired.", "expired_card",
                                "exp_month"),
    "4000000000000127": Decline("incorrect_cvc", "Your card's security code is incorrect.",
                                "incorrect_cvc", "cvc"),
    "4000000000000119": Decline("processing_error", "An error occurred while processing your "
                                "card. Try again in a little bit.", "processing_error"),
}
THREE_D_SECURE_ONCE = frozenset({"4000002500003155"})
THREE_D_SECURE_ALWAYS = frozenset({"4000002760003184"})
CHARGES_FAIL = frozenset({"4000000000000341"})
DEBIT = frozenset({"4000056655665556"})


@dataclass(frozen=True)
class Card:
    """A card as entered on the pay page (the full number stays in the sandbox)."""

    number: str
    brand: str
    exp_month: int
    exp_year: int

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def funding(self) -> str:
        return "debit" if self.number in DEBIT else "credit"

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]

    def decline_on_pay(self) -> Decline | None:
        """Why a payment with this card is declined at checkout (None: it goes through)."""
        return DECLINES.get(self.number)

    def needs_authentication(self) -> bool:
        return self.number in THREE_D_SECURE_ONCE or self.number in THREE_D_SECURE_ALWAYS


def renewal_decline(number: str) -> Decline | None:
    """Why an off-session charge (a renewal, an upgrade invoice) with a saved card fails."""
    if number in CHARGES_FAIL:
        return GENERIC
    if number in THREE_D_SECURE_ALWAYS:
        return AUTHENTICATION
    return DECLINES.get(number)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def brand_of(number: str) -> str:
    two, four = int(number[:2]), int(number[:4])
    if number.startswith("4"):
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if number.startswith(("6011", "65")):
        return "discover"
    if two == 35:
        return "jcb"
    if two in (30, 36, 38):
        return "diners"
    if two == 62:
        return "unionpay"
    return "unknown"


def read_card(number: str, exp_month: int | None, exp_year: int | None, now: int) -> Card:
    """The card for a number typed on the pay page (spaces and dashes allowed); raises the
    402 ``card_error`` Stripe gives for a bad number or expiry."""
    digits = "".join(ch for ch in number if ch not in " -")
    if not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn_ok(digits):
        raise card_error("incorrect_number", "Your card number is incorrect.",
                         param="number")
    today = datetime.fromtimestamp(now, UTC)
    month = exp_month if exp_month is not None else 12
    year = exp_year if exp_year is not None else today.year + DEFAULT_EXPIRY_YEARS
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise card_error("invalid_expiry_month", "Your card's expiration month is invalid.",
                         param="exp_month")
    if year < today.year or year > today.year + 50:
        raise card_error("invalid_expiry_year", "Your card's expiration year is invalid.",
                         param="exp_year")
    if (year, month) < (today.year, today.month):
        raise card_error("invalid_expiry_month", "Your card's expiration date is in the past.",
                         param="exp_month")
    return Card(digits, brand_of(digits), month, year)
