"""Money and days as a person reads them: Stripe's minor units (cents) as ``$12.96``, Unix
times as local dates. Shared by the Billing panel and the command line; stdlib only."""

from __future__ import annotations

from datetime import datetime

_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "cad": "CA$", "aud": "A$",
            "inr": "₹"}
# Currencies Stripe counts in whole units (no cents).
_ZERO_DECIMAL = frozenset({"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf",
                           "ugx", "vnd", "vuv", "xaf", "xof", "xpf"})
MINUS = "\u2212"


def money(amount: int, currency: str, *, whole: bool = False) -> str:
    """``1296, "usd"`` → ``$12.96``; ``whole`` drops ``.00`` (prices: ``$12``)."""
    code = currency.lower()
    digits = 0 if code in _ZERO_DECIMAL else 2
    value = abs(amount) / 10 ** digits
    if whole and value == int(value):
        digits = 0
    number = f"{value:,.{digits}f}"
    sign = MINUS if amount < 0 else ""
    symbol = _SYMBOLS.get(code)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {code.upper()}"


def day(ts: int | float | None) -> str:
    """A Unix time as a local date: ``26 Dec 2026``."""
    if not ts:
        return ""
    d = datetime.fromtimestamp(ts)
    return f"{d.day} {d:%b %Y}"


def short_day(ts: int | float | None) -> str:
    """``26 Dec``."""
    if not ts:
        return ""
    d = datetime.fromtimestamp(ts)
    return f"{d.day} {d:%b}"
