"""The notifications outbox (schema v7): one row per e-mail or SMS to the creator.

A row is ``pending`` until it is sent (``sent``, with the provider's id), refused for a reason
retrying can't fix (``failed``, with the reason), or possibly sent without an answer to prove
it (``unknown``: never sent again). ``key`` is unique, so writing the same notification twice
keeps one row; for an e-mail it is also Resend's ``Idempotency-Key``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mbv_desktop.core.drafts import format_time, parse_time

CHANNELS = ("email", "sms")
STATES = ("pending", "sent", "failed", "unknown")

_COLUMNS = ("id, key, channel, kind, target_id, recipient, subject, body, html, state, attempts,"
            " maybe_sent, next_attempt_at, provider_id, last_error, created_at, updated_at,"
            " sent_at")


@dataclass(frozen=True)
class NotificationRecord:
    """One notification as the outbox and the UI see it."""

    id: int
    key: str
    channel: str  # 'email' or 'sms'
    kind: str  # what it is about: 'published', 'failed', 'needs_attention'
    target_id: int | None
    recipient: str
    subject: str
    body: str
    html: str | None
    state: str  # 'pending', 'sent', 'failed' or 'unknown'
    attempts: int
    maybe_sent: bool  # an attempt may have reached the provider
    next_attempt_at: datetime | None
    provider_id: str | None  # Resend's e-mail id or Twilio's message SID
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


def _time(value: object) -> datetime | None:
    return parse_time(str(value)) if value else None


def _record(r: tuple[Any, ...]) -> NotificationRecord:
    return NotificationRecord(
        id=r[0], key=r[1], channel=r[2], kind=r[3], target_id=r[4], recipient=r[5],
        subject=r[6], body=r[7], html=r[8], state=r[9], attempts=r[10], maybe_sent=bool(r[11]),
        next_attempt_at=_time(r[12]), provider_id=r[13], last_error=r[14],
        created_at=parse_time(r[15]), updated_at=parse_time(r[16]), sent_at=_time(r[17]))


class NotificationRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- writing --

    def add(self, *, key: str, channel: str, kind: str, target_id: int | None, recipient: str,
            subject: str, body: str, html: str | None, at: datetime) -> bool:
        """Writes a pending notification unless one with ``key`` exists; whether it was new."""
        if channel not in CHANNELS:
            raise ValueError(channel)
        now = format_time(at)
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO notifications (key, channel, kind, target_id, recipient,"
            " subject, body, html, state, next_attempt_at, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (key, channel, kind, target_id, recipient, subject, body, html, now, now, now))
        return cur.rowcount > 0

    def begin_attempt(self, notification_id: int, *, at: datetime, claim: bool) -> bool:
        """Records an attempt before it is made (``attempts`` + 1, ``maybe_sent``), so a crash
        during it is remembered. With ``claim`` the row also moves to ``unknown`` (the SMS rule:
        from now on it may have been sent) and only if it is still ``pending``; returns whether
        this caller may send it."""
        state = "unknown" if claim else "pending"
        cur = self._conn.execute(
            "UPDATE notifications SET state = ?, attempts = attempts + 1, maybe_sent = 1,"
            " updated_at = ? WHERE id = ? AND state = 'pending'",
            (state, format_time(at), notification_id))
        return cur.rowcount > 0

    def mark_sent(self, notification_id: int, provider_id: str, *, at: datetime) -> None:
        now = format_time(at)
        self._conn.execute(
            "UPDATE notifications SET state = 'sent', provider_id = ?, last_error = NULL,"
            " next_attempt_at = NULL, sent_at = ?, updated_at = ? WHERE id = ?",
            (provider_id, now, now, notification_id))

    def mark_failed(self, notification_id: int, error: str, *, at: datetime) -> None:
        self._end(notification_id, "failed", error, at)

    def mark_unknown(self, notification_id: int, error: str, *, at: datetime) -> None:
        self._end(notification_id, "unknown", error, at)

    def _end(self, notification_id: int, state: str, error: str, at: datetime) -> None:
        self._conn.execute(
            "UPDATE notifications SET state = ?, last_error = ?, next_attempt_at = NULL,"
            " updated_at = ? WHERE id = ?", (state, error, format_time(at), notification_id))

    def retry_later(self, notification_id: int, *, next_attempt_at: datetime, error: str,
                    maybe_sent: bool, at: datetime) -> None:
        """Back to ``pending``, to be tried again at ``next_attempt_at``."""
        self._conn.execute(
            "UPDATE notifications SET state = 'pending', next_attempt_at = ?, last_error = ?,"
            " maybe_sent = ?, updated_at = ? WHERE id = ?",
            (format_time(next_attempt_at), error, int(maybe_sent), format_time(at),
             notification_id))

    # -- reading --

    def get(self, notification_id: int) -> NotificationRecord:
        r = self._conn.execute(f"SELECT {_COLUMNS} FROM notifications WHERE id = ?",
                               (notification_id,)).fetchone()
        if r is None:
            raise KeyError(notification_id)
        return _record(r)

    def by_key(self, key: str) -> NotificationRecord | None:
        r = self._conn.execute(f"SELECT {_COLUMNS} FROM notifications WHERE key = ?",
                               (key,)).fetchone()
        return _record(r) if r is not None else None

    def due(self, now: datetime | None, limit: int = 100) -> list[NotificationRecord]:
        """Pending rows whose time has come (every pending row when ``now`` is None), oldest
        first."""
        if now is None:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM notifications WHERE state = 'pending'"
                " ORDER BY id LIMIT ?", (limit,))
        else:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM notifications WHERE state = 'pending'"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
                (format_time(now), limit))
        return [_record(r) for r in rows]

    def next_due(self) -> datetime | None:
        """When the earliest pending row may be tried again."""
        r = self._conn.execute("SELECT min(coalesce(next_attempt_at, created_at))"
                               " FROM notifications WHERE state = 'pending'").fetchone()
        return parse_time(r[0]) if r and r[0] else None

    def all(self, limit: int = 500) -> list[NotificationRecord]:
        """Newest first."""
        return [_record(r) for r in self._conn.execute(
            f"SELECT {_COLUMNS} FROM notifications ORDER BY id DESC LIMIT ?", (limit,))]

    def for_target(self, target_id: int) -> list[NotificationRecord]:
        return [_record(r) for r in self._conn.execute(
            f"SELECT {_COLUMNS} FROM notifications WHERE target_id = ? ORDER BY id",
            (target_id,))]
