"""Billing's tables (schema v9): the Stripe customer, the write intents with their idempotency
keys, the meter-event outbox, applied Stripe events, the newest Stripe objects and cached facts.

Everything here runs on the store's thread inside the caller's transaction; the service decides
what commits together (an event's id and its effect, for example).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mbv_desktop.core.drafts import format_time, parse_time

TERMINAL_STATUSES = frozenset({"canceled", "incomplete_expired"})
"""Subscription statuses no later state leaves: at an equal Stripe time they win."""


def new_key(kind: str) -> str:
    """An idempotency key for one write intent (Stripe allows 255 characters)."""
    return f"mbv-{kind}-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class CustomerRow:
    app_user_id: str
    email: str
    name: str
    create_key: str
    customer_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class OpRow:
    id: int
    kind: str
    params: Mapping[str, Any]
    idempotency_key: str
    state: str  # pending | done | failed
    result_id: str | None
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class MeterRow:
    id: int
    ai_run_id: int | None
    event_name: str
    value: int
    identifier: str
    occurred_at: int
    state: str
    attempts: int


def _op(row: sqlite3.Row | tuple[Any, ...]) -> OpRow:
    return OpRow(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5], row[6],
                 parse_time(row[7]))


_OP_COLUMNS = "id, kind, params, idempotency_key, state, result_id, error, created_at"


class BillingRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- the customer ---------------------------------------------------------------------------

    def customer(self, app_user_id: str) -> CustomerRow | None:
        row = self._conn.execute(
            "SELECT app_user_id, email, name, create_key, customer_id, created_at"
            " FROM billing_customers WHERE app_user_id = ?", (app_user_id,)).fetchone()
        if row is None:
            return None
        return CustomerRow(row[0], row[1], row[2], row[3], row[4], parse_time(row[5]))

    def reserve_customer(self, app_user_id: str, email: str, name: str,
                         at: datetime) -> tuple[CustomerRow, bool]:
        """The customer row, written with a fresh create key if there was none; and whether
        it was written just now."""
        now = format_time(at)
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO billing_customers (app_user_id, email, name, create_key,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (app_user_id, email, name, new_key("customer"), now, now))
        row = self.customer(app_user_id)
        assert row is not None
        return row, cur.rowcount > 0

    def renew_create_key(self, app_user_id: str, at: datetime) -> str:
        key = new_key("customer")
        self._conn.execute(
            "UPDATE billing_customers SET create_key = ?, created_at = ?, updated_at = ?"
            " WHERE app_user_id = ?", (key, format_time(at), format_time(at), app_user_id))
        return key

    def set_customer_id(self, app_user_id: str, customer_id: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE billing_customers SET customer_id = ?, updated_at = ? WHERE app_user_id = ?",
            (customer_id, format_time(at), app_user_id))

    # --- write intents --------------------------------------------------------------------------

    def add_op(self, kind: str, params: Mapping[str, Any], at: datetime) -> OpRow:
        now = format_time(at)
        key = new_key(kind)
        cur = self._conn.execute(
            "INSERT INTO billing_ops (kind, params, idempotency_key, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)", (kind, json.dumps(dict(params), sort_keys=True), key,
                                        now, now))
        assert cur.lastrowid is not None
        return self.op(cur.lastrowid)

    def op(self, op_id: int) -> OpRow:
        row = self._conn.execute(f"SELECT {_OP_COLUMNS} FROM billing_ops WHERE id = ?",
                                 (op_id,)).fetchone()
        if row is None:
            raise KeyError(op_id)
        return _op(row)

    def ops(self, *, state: str | None = None, kind: str | None = None,
            limit: int = 1000) -> list[OpRow]:
        clauses, args = [], []
        if state is not None:
            clauses.append("state = ?")
            args.append(state)
        if kind is not None:
            clauses.append("kind = ?")
            args.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._conn.execute(
            f"SELECT {_OP_COLUMNS} FROM billing_ops {where} ORDER BY id DESC LIMIT ?",
            (*args, limit)).fetchall()
        return [_op(r) for r in rows]

    def finish_op(self, op_id: int, result_id: str | None, at: datetime) -> None:
        self._conn.execute(
            "UPDATE billing_ops SET state = 'done', result_id = ?, error = NULL, updated_at = ?"
            " WHERE id = ?", (result_id, format_time(at), op_id))

    def fail_op(self, op_id: int, error: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE billing_ops SET state = 'failed', error = ?, updated_at = ? WHERE id = ?",
            (error, format_time(at), op_id))

    # --- the meter outbox ------------------------------------------------------------------------

    def queued_meter_events(self, limit: int = 100) -> list[MeterRow]:
        rows = self._conn.execute(
            "SELECT id, ai_run_id, event_name, value, identifier, occurred_at, state, attempts"
            " FROM meter_outbox WHERE state = 'queued' ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [MeterRow(*r) for r in rows]

    def meter_sent(self, row_id: int, customer_id: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE meter_outbox SET state = 'sent', customer_id = ?, sent_at = ?,"
            " attempts = attempts + 1, last_error = NULL WHERE id = ?",
            (customer_id, format_time(at), row_id))

    def meter_rejected(self, row_id: int, error: str) -> None:
        self._conn.execute(
            "UPDATE meter_outbox SET state = 'rejected', attempts = attempts + 1,"
            " last_error = ? WHERE id = ?", (error, row_id))

    def meter_attempted(self, row_id: int, error: str) -> None:
        self._conn.execute(
            "UPDATE meter_outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, row_id))

    def meter_counts(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT state, count(*) FROM meter_outbox GROUP BY state").fetchall()
        return {state: n for state, n in rows}

    def meter_usage(self, start: int, end: int) -> dict[str, int]:
        """Units per meter event name that happened in ``[start, end)`` (Unix seconds), sent or
        not: what the app counts against the plan's limit."""
        rows = self._conn.execute(
            "SELECT event_name, coalesce(sum(value), 0) FROM meter_outbox"
            " WHERE occurred_at >= ? AND occurred_at < ? AND state <> 'rejected'"
            " GROUP BY event_name", (start, end)).fetchall()
        return {name: int(total) for name, total in rows}

    # --- Stripe events and objects -------------------------------------------------------------

    def mark_applied(self, event_id: str, event_type: str, created: int, source: str,
                     at: datetime) -> bool:
        """Records the event as applied; False if it already was (a duplicate delivery)."""
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO stripe_events_applied (event_id, type, created, source,"
            " applied_at) VALUES (?, ?, ?, ?, ?)",
            (event_id, event_type, created, source, format_time(at)))
        return cur.rowcount > 0

    def put_object(self, object_type: str, object_id: str, customer_id: str | None,
                   body: Mapping[str, Any], version: int, at: datetime) -> bool:
        """Keeps ``body`` unless a newer version of the object is stored; whether it was kept.
        At an equal version a terminal subscription state is not overwritten by a live one."""
        row = self._conn.execute("SELECT version, body FROM stripe_objects WHERE id = ?",
                                 (object_id,)).fetchone()
        if row is not None:
            stored_version, stored_body = int(row[0]), json.loads(row[1])
            if version < stored_version:
                return False
            if (version == stored_version
                    and stored_body.get("status") in TERMINAL_STATUSES
                    and body.get("status") not in TERMINAL_STATUSES):
                return False
        self._conn.execute(
            "INSERT INTO stripe_objects (id, type, customer_id, body, version, fetched_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
            " customer_id = excluded.customer_id, body = excluded.body,"
            " version = excluded.version, fetched_at = excluded.fetched_at",
            (object_id, object_type, customer_id, json.dumps(dict(body)), version,
             format_time(at)))
        return True

    def delete_object(self, object_id: str) -> None:
        self._conn.execute("DELETE FROM stripe_objects WHERE id = ?", (object_id,))

    def forget_missing(self, object_type: str, customer_id: str, keep: set[str]) -> None:
        """Drops stored objects of a type Stripe no longer lists for the customer (a detached
        card)."""
        rows = self._conn.execute(
            "SELECT id FROM stripe_objects WHERE type = ? AND customer_id = ?",
            (object_type, customer_id)).fetchall()
        gone = [r[0] for r in rows if r[0] not in keep]
        self._conn.executemany("DELETE FROM stripe_objects WHERE id = ?", [(g,) for g in gone])

    def objects(self, object_type: str, customer_id: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT body FROM stripe_objects WHERE type = ? AND customer_id = ?"
            " ORDER BY version DESC, id", (object_type, customer_id)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def get_object(self, object_id: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT body FROM stripe_objects WHERE id = ?",
                                 (object_id,)).fetchone()
        return json.loads(row[0]) if row else None

    # --- named facts ---------------------------------------------------------------------------

    def state(self, key: str) -> tuple[Any, datetime] | None:
        row = self._conn.execute("SELECT value, fetched_at FROM billing_state WHERE key = ?",
                                 (key,)).fetchone()
        return (json.loads(row[0]), parse_time(row[1])) if row else None

    def put_state(self, key: str, value: Any, at: datetime) -> None:
        self._conn.execute(
            "INSERT INTO billing_state (key, value, fetched_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " fetched_at = excluded.fetched_at", (key, json.dumps(value), format_time(at)))
