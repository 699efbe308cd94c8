"""Holding the creator to their plan's limits, from what is stored: no network, no Stripe import.

The billing service writes the current plan's limits and period into ``billing_state`` each
time it hears from Stripe. Until it has (billing not set up, never reached), nothing is held
back: the app never blocks a creator on a plan it does not know. Usage is counted locally (the
meter outbox, the connected accounts, the media library), so the limit holds offline too.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import PlanLimitReached
from mbv_desktop.store.billing import BillingRepository
from mbv_desktop.store.worker import StoreWorker

PLAN_STATE = "plan"
Record = dict[str, Any]


def period_containing(start: int, end: int, now: float) -> tuple[int, int]:
    """The billing period around ``now``: the stored one, moved on by whole periods when it
    has passed without the app hearing of the renewal."""
    length = max(end - start, 1)
    if now >= end:
        steps = int((now - end) // length) + 1
        start, end = start + steps * length, end + steps * length
    return start, end


def _period(record: Record, now: float) -> tuple[int, int]:
    return period_containing(int(record["period_start"]), int(record["period_end"]), now)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _upgrade_sentence(record: Record, key: str, what: str) -> tuple[str, str | None]:
    upgrade = record.get("upgrade")
    if not upgrade:
        return "", None
    more = upgrade["limits"].get(key)
    allows = "no limit" if more is None else f"{_number(more)} {what}"
    return (f" {upgrade['name']} allows {allows}: upgrade under Billing "
            f"(mbv-desktop billing subscribe {upgrade['name'].lower()}).", upgrade["name"])


class PlanGuard:
    """Says no, with the way up, before work a plan does not cover starts."""

    def __init__(self, worker: StoreWorker, settings: Settings) -> None:
        self._worker = worker
        self._settings = settings

    def _limit(self, conn: sqlite3.Connection, key: str) -> tuple[Record, float] | None:
        """The plan record and its limit for ``key``, or None when nothing is held back."""
        record = self._record(conn)
        limit = record["limits"].get(key) if record else None
        return None if record is None or limit is None else (record, float(limit))

    def _record(self, conn: sqlite3.Connection) -> Record | None:
        if not self._settings.get_bool("billing.enforce_limits"):
            return None
        row = BillingRepository(conn).state(PLAN_STATE)
        return row[0] if row and row[0] else None

    async def check_generation(self, units: int = 1) -> None:
        """Before an AI generation (text, or ``units`` images)."""
        now = time.time()

        def check(conn: sqlite3.Connection) -> None:
            known = self._limit(conn, "ai_generations")
            if known is None:
                return
            record, limit = known
            start, end = _period(record, now)
            used = sum(BillingRepository(conn).meter_usage(start, end).values())
            if used + units > limit:
                more, upgrade = _upgrade_sentence(record, "ai_generations", "a month")
                raise PlanLimitReached(
                    f"Your {record['name']} plan includes {_number(limit)} AI generations a "
                    f"period and {_number(used)} are used until "
                    f"{time.strftime('%d %b', time.gmtime(end))}.{more}",
                    limit="ai_generations", upgrade_to=upgrade)

        await self._worker.call(check, write=False)

    async def check_connect(self) -> None:
        """Before connecting one more publishing account."""

        def check(conn: sqlite3.Connection) -> None:
            known = self._limit(conn, "connected_accounts")
            if known is None:
                return
            record, limit = known
            used = conn.execute(
                "SELECT count(*) FROM accounts WHERE role = 'publish'").fetchone()[0]
            if used + 1 > limit:
                more, upgrade = _upgrade_sentence(record, "connected_accounts", "accounts")
                raise PlanLimitReached(
                    f"Your {record['name']} plan allows {_number(limit)} connected accounts "
                    f"and {used} are connected; disconnect one first.{more}",
                    limit="connected_accounts", upgrade_to=upgrade)

        await self._worker.call(check, write=False)

    async def check_storage(self, extra_bytes: int) -> None:
        """Before keeping ``extra_bytes`` more media."""

        def check(conn: sqlite3.Connection) -> None:
            known = self._limit(conn, "storage_gb")
            if known is None:
                return
            record, limit = known
            used = conn.execute("SELECT coalesce(sum(bytes), 0) FROM assets").fetchone()[0]
            if used + extra_bytes > limit * 1e9:
                more, upgrade = _upgrade_sentence(record, "storage_gb", "GB")
                raise PlanLimitReached(
                    f"Your {record['name']} plan includes {_number(limit)} GB of media storage "
                    f"and {used / 1e9:,.2f} GB is used; this would go over.{more}",
                    limit="storage_gb", upgrade_to=upgrade)

        await self._worker.call(check, write=False)
