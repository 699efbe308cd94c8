"""What the Stripe emulator keeps: one SQLite file, ``stripe.sqlite3``, in the sandbox's state
directory, so customers, subscriptions and invoices survive a host restart.

Tables:

``objects``
    Every API object as its JSON document (customers, products, prices, meters, payment methods,
    subscriptions, invoices, checkout and portal sessions, setup and payment intents), with its
    kind, the customer it belongs to and a sequence number that orders lists newest first.
    Keys starting with ``_`` are the emulator's own notes and never rendered.
``events``
    The ``event`` objects, in creation order (``seq``), with their delivery counter.
``idempotency``
    Finished requests by ``Idempotency-Key``: the fingerprint of method, path and params, and
    the answer (status and body) to replay.
``meter_events``
    Billing meter events, by meter, customer and timestamp, with their ``identifier``.
``counters`` / ``settings``
    The next number for each id prefix (ids are deterministic: ``cus_Sbx00000000001``), and
    the clock offset the tests move.

Webhook endpoints and their signing secrets are kept in memory only (see ``webhooks.py``).
Each unit of work is one ``BEGIN IMMEDIATE`` transaction on a short connection (WAL,
``busy_timeout``), as the other sandbox stores do.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from mbv_desktop.sandbox import sqlite_files

FILE_NAME = "stripe.sqlite3"
ID_INFIX = "Sbx"
ID_DIGITS = 11

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id        TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    customer  TEXT,
    data      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_by_kind ON objects (kind, seq);
CREATE INDEX IF NOT EXISTS objects_by_customer ON objects (customer, kind, seq);
CREATE TABLE IF NOT EXISTS events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    type      TEXT NOT NULL,
    created   INTEGER NOT NULL,
    pending   INTEGER NOT NULL DEFAULT 0,
    data      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key          TEXT PRIMARY KEY,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    at           INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meter_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    meter       TEXT NOT NULL,
    identifier  TEXT NOT NULL,
    customer    TEXT NOT NULL,
    value       REAL NOT NULL,
    timestamp   INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS meter_events_by_identifier ON meter_events (identifier, created);
CREATE INDEX IF NOT EXISTS meter_events_by_customer ON meter_events (meter, customer, timestamp);
CREATE TABLE IF NOT EXISTS counters (
    prefix  TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"""


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Tx:
    """One unit of work: reads and writes on one connection inside ``BEGIN IMMEDIATE``.

    ``now`` is the emulator's clock (real time plus the offset tests add), fixed for the whole
    transaction. ``new_events`` collects the events written, for delivery after commit.
    ``webhook_count`` tells how many endpoints an event type goes to (``pending_webhooks``);
    ``request`` is the ``{"id", "idempotency_key"}`` events record as their cause; ``base`` the
    emulator's own base URL as the client reached it (for hosted pages' links).
    """

    def __init__(self, db: sqlite3.Connection, now: int,
                 webhook_count: Callable[[str], int], request: dict[str, Any],
                 base: str = "") -> None:
        self.db = db
        self.now = now
        self.webhook_count = webhook_count
        self.request = request
        self.base = base
        self.new_events: list[dict[str, Any]] = []

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit: on an exception its writes and events are undone (then re-raised)."""
        events = len(self.new_events)
        self.db.execute("SAVEPOINT unit")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO unit")
            self.db.execute("RELEASE unit")
            del self.new_events[events:]
            raise
        self.db.execute("RELEASE unit")

    # ids ---------------------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        """``prefix`` + ``Sbx`` + a zero-padded counter, e.g. ``cus_Sbx00000000001``."""
        row = self.db.execute("INSERT INTO counters (prefix, n) VALUES (?, 1) ON CONFLICT"
                              " (prefix) DO UPDATE SET n=n+1 RETURNING n", (prefix,)).fetchone()
        return f"{prefix}{ID_INFIX}{int(row[0]):0{ID_DIGITS}d}"

    # objects -----------------------------------------------------------------------------------

    def get(self, object_id: str, kind: str | None = None) -> dict[str, Any] | None:
        row = self.db.execute("SELECT kind, data FROM objects WHERE id=?",
                              (object_id,)).fetchone()
        if row is None or (kind is not None and row[0] != kind):
            return None
        doc: dict[str, Any] = json.loads(row[1])
        return doc

    def put(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Inserts or replaces ``doc`` (by ``id``); a new one goes to the top of its lists."""
        customer = doc.get("customer") if isinstance(doc.get("customer"), str) else None
        if doc.get("object") == "customer":
            customer = doc["id"]
        updated = self.db.execute("UPDATE objects SET data=?, customer=? WHERE id=?",
                                  (dumps(doc), customer, doc["id"])).rowcount
        if not updated:
            seq = self.db.execute("INSERT INTO counters (prefix, n) VALUES ('#objects', 1) ON"
                                  " CONFLICT (prefix) DO UPDATE SET n=n+1 RETURNING n"
                                  ).fetchone()[0]
            self.db.execute("INSERT INTO objects (id, kind, seq, customer, data)"
                            " VALUES (?, ?, ?, ?, ?)",
                            (doc["id"], doc["object"], seq, customer, dumps(doc)))
        return doc

    def docs(self, kind: str, customer: str | None = None) -> list[dict[str, Any]]:
        """All objects of ``kind`` (of one customer), newest first."""
        if customer is None:
            rows = self.db.execute("SELECT data FROM objects WHERE kind=? ORDER BY seq DESC",
                                   (kind,)).fetchall()
        else:
            rows = self.db.execute("SELECT data FROM objects WHERE kind=? AND customer=?"
                                   " ORDER BY seq DESC", (kind, customer)).fetchall()
        return [json.loads(r[0]) for r in rows]

    # events ------------------------------------------------------------------------------------

    def add_event(self, event: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO events (id, type, created, pending, data)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (event["id"], event["type"], event["created"],
                         event["pending_webhooks"], dumps(event)))
        self.new_events.append(event)

    def event(self, event_id: str) -> tuple[int, dict[str, Any]] | None:
        row = self.db.execute("SELECT seq, pending, data FROM events WHERE id=?",
                              (event_id,)).fetchone()
        if row is None:
            return None
        event: dict[str, Any] = json.loads(row[2])
        event["pending_webhooks"] = int(row[1])
        return int(row[0]), event

    def events(self, where: str, params: tuple[Any, ...], order: str, limit: int,
               ) -> list[dict[str, Any]]:
        """Events matching an SQL condition (on ``seq``, ``type``, ``created``)."""
        rows = self.db.execute(f"SELECT pending, data FROM events WHERE {where}"
                               f" ORDER BY seq {order} LIMIT ?", (*params, limit)).fetchall()
        out = []
        for pending, data in rows:
            event = json.loads(data)
            event["pending_webhooks"] = int(pending)
            out.append(event)
        return out

    # idempotency -------------------------------------------------------------------------------

    def remembered(self, key: str, oldest: int) -> tuple[str, int, str, str] | None:
        """(fingerprint, status, body, request id) of a finished request with ``key``."""
        self.db.execute("DELETE FROM idempotency WHERE at < ?", (oldest,))
        row = self.db.execute("SELECT fingerprint, status, body, request_id FROM idempotency"
                              " WHERE key=?", (key,)).fetchone()
        return None if row is None else (row[0], int(row[1]), row[2], row[3])

    def remember(self, key: str, fingerprint: str, status: int, body: str,
                 request_id: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO idempotency (key, fingerprint, status, body,"
                        " request_id, at) VALUES (?, ?, ?, ?, ?, ?)",
                        (key, fingerprint, status, body, request_id, self.now))

    # meter events ------------------------------------------------------------------------------

    def meter_event_exists(self, identifier: str, since: int) -> bool:
        return self.db.execute("SELECT 1 FROM meter_events WHERE identifier=? AND created>=?",
                               (identifier, since)).fetchone() is not None

    def add_meter_event(self, meter: str, customer: str, value: float,
                        event: dict[str, Any]) -> None:
        self.db.execute("INSERT INTO meter_events (meter, identifier, customer, value,"
                        " timestamp, created, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (meter, event["identifier"], customer, value, event["timestamp"],
                         event["created"], dumps(event)))

    def meter_values(self, meter: str, customer: str, start: int, end: int,
                     ) -> list[tuple[int, float]]:
        """(timestamp, value) of a customer's events on a meter in ``[start, end)``."""
        rows = self.db.execute("SELECT timestamp, value FROM meter_events WHERE meter=? AND"
                               " customer=? AND timestamp>=? AND timestamp<? ORDER BY seq",
                               (meter, customer, start, end)).fetchall()
        return [(int(t), float(v)) for t, v in rows]

    # settings ----------------------------------------------------------------------------------

    def setting(self, name: str, default: str) -> str:
        row = self.db.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return default if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)",
                        (name, value))


class StripeStore:
    """The emulator's SQLite file (see the module docstring)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / FILE_NAME
        sqlite_files.create(self.path, _SCHEMA)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return sqlite_files.connect(self.path)

    @contextmanager
    def transaction(self, webhook_count: Callable[[str], int] = lambda _t: 0,
                    request: dict[str, Any] | None = None, base: str = "") -> Iterator[Tx]:
        """A :class:`Tx` committed at the end, rolled back on an exception."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                offset = float(db.execute("SELECT coalesce((SELECT value FROM settings WHERE"
                                          " name='clock_offset'), '0')").fetchone()[0])
                tx = Tx(db, int(time.time() + offset), webhook_count,
                        request or {"id": None, "idempotency_key": None}, base)
                yield tx
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def event_delivered(self, event_id: str) -> None:
        """One endpoint acknowledged ``event_id``: ``pending_webhooks`` goes down by one."""
        with self._connect() as db:
            db.execute("UPDATE events SET pending=max(0, pending-1) WHERE id=?", (event_id,))
