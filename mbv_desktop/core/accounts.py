"""How a connected account's state reads for a person, the same in the window and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

#: A grant that ends within this is shown as expiring, so the creator can reconnect in time.
EXPIRING = timedelta(days=7)


class _Account(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def expires_at(self) -> datetime | None: ...


def account_status(account: _Account, now: datetime | None = None) -> str:
    """"Connected", "Expires in 3 days", "Expired: reconnect" or "Needs reconnect"."""
    if account.status == "needs_reconnect":
        return "Needs reconnect"
    expires = account.expires_at
    if expires is not None:
        left = expires - (now or datetime.now(UTC))
        if left <= timedelta(0):
            return "Expired: reconnect"
        if left <= EXPIRING:
            days = max(1, left.days)
            return f"Expires in {days} day{'s' if days != 1 else ''}"
    return "Connected"
