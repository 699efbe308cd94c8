"""Running one unit of work against the emulator's state: a transaction that first catches up
with the clock (renewals, cancellations, expiries), then does the work, and after commit hands
the new events to the webhook sender. Also the idempotency keys still being processed, the
request ids and the artificial processing delay tests use to overlap two requests.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from mbv_desktop.sandbox.stripe import catalog, checkout, subscriptions
from mbv_desktop.sandbox.stripe.store import StripeStore, Tx
from mbv_desktop.sandbox.stripe.webhooks import Webhooks

T = TypeVar("T")


class Runtime:
    """The emulator's state while the host runs."""

    def __init__(self, state_dir: Path) -> None:
        self.store = StripeStore(state_dir)
        self.webhooks = Webhooks(self.store)
        self.in_flight: set[str] = set()
        self.processing_delay = 0.0
        self._requests = itertools.count(1)
        with self.store.transaction() as tx:
            catalog.ensure_seeded(tx)

    def request_id(self) -> str:
        return f"req_Sbx{next(self._requests):011d}"

    def run(self, work: Callable[[Tx], T], *, base: str,
            request: dict[str, Any] | None = None) -> T:
        """``work`` in one transaction, after the clock's due changes; the events written are
        sent to the webhook endpoints once it commits (nothing is sent if it raises)."""
        with self.store.transaction(self.webhooks.count_for, request, base) as tx:
            catch_up(tx)
            result = work(tx)
        if tx.new_events:
            self.webhooks.dispatch(tx.new_events)
        return result


def catch_up(tx: Tx) -> None:
    """What the clock made due: subscription periods, cancellations, session expiries. These
    changes carry no request (``request.id`` null), like Stripe's own background work."""
    cause = tx.request
    tx.request = {"id": None, "idempotency_key": None}
    try:
        subscriptions.advance(tx)
        checkout.expire_due(tx)
    finally:
        tx.request = cause
