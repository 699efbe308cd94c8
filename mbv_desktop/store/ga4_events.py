"""The GA4 event queue (schema v8 ``ga4_events``): what the analytics service sends, and what it
sent, for the creator to see.

A row is ``queued`` until a batch claims it; the claim moves it to ``sending`` in its own
transaction before the request. After the request it is ``sent`` (with ``sent_at``), back to
``queued`` when the request certainly never reached GA4, or ``dropped`` (with ``last_error``)
when it may have: sending is not idempotent, so a row is never sent twice. Rows still
``sending`` when the app starts were cut off by a crash and are dropped.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mbv_desktop.core.drafts import format_time, parse_time

STATES = ("queued", "sending", "sent", "dropped")
_COLUMNS = "id, name, params, created_at, state, sent_at, last_error"


@dataclass(frozen=True)
class Ga4EventRecord:
    """One event as the queue and the "what is sent" dialog see it."""

    id: int
    name: str
    params: dict[str, Any]
    created_at: datetime
    state: str  # 'queued', 'sending', 'sent' or 'dropped'
    sent_at: datetime | None
    last_error: str | None


def _record(r: tuple[Any, ...]) -> Ga4EventRecord:
    params = json.loads(r[2]) if r[2] else {}
    return Ga4EventRecord(id=r[0], name=r[1], params=params if isinstance(params, dict) else {},
                          created_at=parse_time(r[3]), state=r[4],
                          sent_at=parse_time(r[5]) if r[5] else None, last_error=r[6])


def _marks(ids: Iterable[int]) -> tuple[str, list[int]]:
    values = list(ids)
    return ", ".join("?" * len(values)), values


class Ga4EventRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- writing --

    def add(self, name: str, params: Mapping[str, Any], *, at: datetime) -> int:
        """Queues one event; returns its id."""
        cur = self._conn.execute(
            "INSERT INTO ga4_events (name, params, created_at) VALUES (?, ?, ?)",
            (name, json.dumps(dict(params), separators=(",", ":")), format_time(at)))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def trim_queue(self, keep: int, error: str) -> int:
        """Drops the oldest queued events beyond the newest ``keep``; returns how many."""
        cur = self._conn.execute(
            "UPDATE ga4_events SET state = 'dropped', last_error = ? WHERE state = 'queued'"
            " AND id NOT IN (SELECT id FROM ga4_events WHERE state = 'queued'"
            " ORDER BY id DESC LIMIT ?)", (error, keep))
        return cur.rowcount

    def claim_batch(self, limit: int, span: timedelta) -> list[Ga4EventRecord]:
        """The oldest queued events (at most ``limit``, all made within ``span`` of the first,
        so one request time stamp fits them), moved to ``sending``."""
        rows = [_record(r) for r in self._conn.execute(
            f"SELECT {_COLUMNS} FROM ga4_events WHERE state = 'queued' ORDER BY id LIMIT ?",
            (limit,))]
        if not rows:
            return []
        end = rows[0].created_at + span
        batch = [r for r in rows if r.created_at <= end]
        marks, ids = _marks(r.id for r in batch)
        self._conn.execute(
            f"UPDATE ga4_events SET state = 'sending' WHERE id IN ({marks})", ids)
        return [Ga4EventRecord(r.id, r.name, r.params, r.created_at, "sending", None,
                               r.last_error) for r in batch]

    def mark_sent(self, ids: Iterable[int], *, at: datetime) -> None:
        marks, values = _marks(ids)
        self._conn.execute(
            f"UPDATE ga4_events SET state = 'sent', sent_at = ?, last_error = NULL"
            f" WHERE id IN ({marks}) AND state = 'sending'", [format_time(at), *values])

    def requeue(self, ids: Iterable[int], error: str) -> None:
        """Back to ``queued`` (the request certainly did not reach GA4)."""
        marks, values = _marks(ids)
        self._conn.execute(
            f"UPDATE ga4_events SET state = 'queued', last_error = ?"
            f" WHERE id IN ({marks}) AND state = 'sending'", [error, *values])

    def drop(self, ids: Iterable[int], error: str) -> None:
        marks, values = _marks(ids)
        self._conn.execute(
            f"UPDATE ga4_events SET state = 'dropped', last_error = ?"
            f" WHERE id IN ({marks}) AND state IN ('queued', 'sending')", [error, *values])

    def drop_sending(self, error: str) -> int:
        """Drops every ``sending`` row (left by a crash); returns how many."""
        return self._conn.execute(
            "UPDATE ga4_events SET state = 'dropped', last_error = ? WHERE state = 'sending'",
            (error,)).rowcount

    def drop_queued_before(self, before: datetime, error: str) -> int:
        """Drops queued events made before ``before`` (too old for GA4 to take)."""
        return self._conn.execute(
            "UPDATE ga4_events SET state = 'dropped', last_error = ?"
            " WHERE state = 'queued' AND created_at < ?", (error, format_time(before))).rowcount

    def clear_queued(self) -> int:
        """Deletes every queued event (the creator opted out); returns how many."""
        return self._conn.execute("DELETE FROM ga4_events WHERE state = 'queued'").rowcount

    def prune(self, before: datetime) -> int:
        """Deletes sent and dropped events made before ``before``; returns how many."""
        return self._conn.execute(
            "DELETE FROM ga4_events WHERE state IN ('sent', 'dropped') AND created_at < ?",
            (format_time(before),)).rowcount

    # -- reading --

    def recent(self, limit: int = 500) -> list[Ga4EventRecord]:
        """The newest events first."""
        return [_record(r) for r in self._conn.execute(
            f"SELECT {_COLUMNS} FROM ga4_events ORDER BY id DESC LIMIT ?", (limit,))]

    def counts(self) -> dict[str, int]:
        """How many events are in each state (every state present, 0 when none)."""
        found = dict(self._conn.execute(
            "SELECT state, count(*) FROM ga4_events GROUP BY state").fetchall())
        return {state: int(found.get(state, 0)) for state in STATES}
