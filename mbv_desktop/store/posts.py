"""Scheduled posts and the publishing outbox (schema v6): posts, one target row per account,
and every state change of a target with its reason."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mbv_desktop.core.drafts import format_time, parse_time

OPEN_STATES = ("pending", "in_flight")


@dataclass(frozen=True)
class TargetRow:
    """A post going to one account, as the outbox and the Schedule panel see it."""

    id: int
    uid: str
    post_id: int
    provider: str
    account_id: str
    post_type: str
    state: str
    due_at: datetime
    attempts: int
    lease_owner: str | None
    lease_until: datetime | None
    check_first: bool
    progress: dict[str, Any]
    attempt_started_at: datetime | None
    platform_post_id: str | None
    url: str | None
    last_error: str | None
    late: bool
    published_at: datetime | None
    # from the post
    body: str
    media: list[int]
    scheduled_at: datetime
    time_zone: str
    local_time: str
    draft_id: int | None


_SELECT = (
    "SELECT t.id, t.uid, t.post_id, t.provider, t.account_id, t.post_type, t.state, t.due_at,"
    " t.attempts, t.lease_owner, t.lease_until, t.check_first, t.progress, t.attempt_started_at,"
    " t.platform_post_id, t.url, t.last_error, t.late, t.published_at, p.body, p.media,"
    " p.scheduled_at, p.time_zone, p.local_time, p.draft_id"
    " FROM post_targets t JOIN posts p ON p.id = t.post_id")


def _time(value: object) -> datetime | None:
    return parse_time(str(value)) if value else None


def _row(r: tuple[Any, ...]) -> TargetRow:
    return TargetRow(
        id=r[0], uid=r[1], post_id=r[2], provider=r[3], account_id=r[4], post_type=r[5],
        state=r[6], due_at=parse_time(r[7]), attempts=r[8], lease_owner=r[9],
        lease_until=_time(r[10]), check_first=bool(r[11]), progress=json.loads(r[12]),
        attempt_started_at=_time(r[13]), platform_post_id=r[14], url=r[15], last_error=r[16],
        late=bool(r[17]), published_at=_time(r[18]), body=r[19], media=json.loads(r[20]),
        scheduled_at=parse_time(r[21]), time_zone=r[22], local_time=r[23], draft_id=r[24])


@dataclass(frozen=True)
class PostEvent:
    at: datetime
    from_state: str | None
    to_state: str
    reason: str


class PostRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- writing --

    def create(self, *, draft_id: int | None, body: str, media: Iterable[int],
               scheduled_at: datetime, time_zone: str, local_time: str,
               targets: Iterable[tuple[str, str, str]], at: datetime,
               reason: str = "scheduled") -> tuple[int, list[int]]:
        """The post and its outbox rows, together (the caller's transaction)."""
        now = format_time(at)
        post_id = self._conn.execute(
            "INSERT INTO posts (draft_id, body, media, scheduled_at, time_zone, local_time,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (draft_id, body, json.dumps(list(media)), format_time(scheduled_at), time_zone,
             local_time, now, now)).lastrowid
        assert post_id is not None
        ids = []
        for provider, account_id, post_type in targets:
            target_id = self._conn.execute(
                "INSERT INTO post_targets (uid, post_id, provider, account_id, post_type, state,"
                " due_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (uuid.uuid4().hex, post_id, provider, account_id, post_type,
                 format_time(scheduled_at), now)).lastrowid
            assert target_id is not None
            self._event(target_id, at, None, "pending", reason)
            ids.append(target_id)
        return post_id, ids

    def _event(self, target_id: int, at: datetime, from_state: str | None, to_state: str,
               reason: str) -> None:
        self._conn.execute(
            "INSERT INTO post_events (target_id, at, from_state, to_state, reason)"
            " VALUES (?, ?, ?, ?, ?)", (target_id, format_time(at), from_state, to_state, reason))

    def claim(self, target_id: int, *, owner: str, lease_until: datetime, at: datetime,
              expect_state: str, expect_owner: str | None, reason: str) -> TargetRow | None:
        """Takes the target for sending if it is still as read (``expect_state`` and owner);
        the row afterwards, or None when someone else changed it first."""
        row = self.get(target_id)
        if row.state != expect_state or row.lease_owner != expect_owner:
            return None
        picked_up = row.state == "in_flight"  # a previous sender stopped half-way
        started = row.attempt_started_at if (picked_up or row.progress) else at
        self._conn.execute(
            "UPDATE post_targets SET state = 'in_flight', lease_owner = ?, lease_until = ?,"
            " attempts = attempts + ?, check_first = check_first OR ?, attempt_started_at = ?,"
            " updated_at = ? WHERE id = ?",
            (owner, format_time(lease_until), 0 if picked_up else 1, picked_up,
             format_time(started or at), format_time(at), target_id))
        self._event(target_id, at, row.state, "in_flight", reason)
        return self.get(target_id)

    def save_progress(self, target_id: int, progress: Mapping[str, Any], *,
                      lease_until: datetime, at: datetime) -> None:
        self._conn.execute(
            "UPDATE post_targets SET progress = ?, lease_until = ?, updated_at = ?"
            " WHERE id = ?", (json.dumps(dict(progress), sort_keys=True),
                              format_time(lease_until), format_time(at), target_id))

    def move(self, target_id: int, to_state: str, reason: str, *, at: datetime,
             due_at: datetime | None = None, **fields: Any) -> None:
        """Changes the state (releasing the lease) and records why."""
        row = self.get(target_id)
        sets = ["state = ?", "lease_owner = NULL", "lease_until = NULL", "updated_at = ?"]
        params: list[Any] = [to_state, format_time(at)]
        if due_at is not None:
            sets.append("due_at = ?")
            params.append(format_time(due_at))
        for name, value in fields.items():
            if name not in {"last_error", "platform_post_id", "url", "late", "published_at",
                            "check_first", "progress"}:
                raise ValueError(name)
            sets.append(f"{name} = ?")
            if isinstance(value, datetime):
                value = format_time(value)
            elif name == "progress":
                value = json.dumps(dict(value), sort_keys=True)
            params.append(value)
        params.append(target_id)
        self._conn.execute(f"UPDATE post_targets SET {', '.join(sets)} WHERE id = ?", params)
        self._event(target_id, at, row.state, to_state, reason)

    # -- reading --

    def get(self, target_id: int) -> TargetRow:
        r = self._conn.execute(_SELECT + " WHERE t.id = ?", (target_id,)).fetchone()
        if r is None:
            raise KeyError(target_id)
        return _row(r)

    def candidates(self, now: datetime, limit: int = 50) -> list[TargetRow]:
        """Pending targets that are due, and every in-flight one (the caller decides whether
        its sender is gone), oldest first."""
        return [_row(r) for r in self._conn.execute(
            _SELECT + " WHERE (t.state = 'pending' AND t.due_at <= ?) OR t.state = 'in_flight'"
            " ORDER BY t.due_at, t.id LIMIT ?", (format_time(now), limit))]

    def next_due(self) -> datetime | None:
        r = self._conn.execute("SELECT min(due_at) FROM post_targets WHERE state = 'pending'"
                               ).fetchone()
        return parse_time(r[0]) if r and r[0] else None

    def targets(self, state: str | None = None, limit: int = 1000) -> list[TargetRow]:
        if state is None:
            rows = self._conn.execute(_SELECT + " ORDER BY p.scheduled_at DESC, t.id LIMIT ?",
                                      (limit,))
        else:
            rows = self._conn.execute(_SELECT + " WHERE t.state = ?"
                                      " ORDER BY p.scheduled_at DESC, t.id LIMIT ?",
                                      (state, limit))
        return [_row(r) for r in rows]

    def targets_of_post(self, post_id: int) -> list[TargetRow]:
        return [_row(r) for r in self._conn.execute(_SELECT + " WHERE t.post_id = ? ORDER BY t.id",
                                                    (post_id,))]

    def events(self, target_id: int) -> list[PostEvent]:
        return [PostEvent(parse_time(a), f, t, r) for a, f, t, r in self._conn.execute(
            "SELECT at, from_state, to_state, reason FROM post_events WHERE target_id = ?"
            " ORDER BY id", (target_id,))]

    def taken_instants(self, provider: str, account_id: str) -> set[str]:
        return {r[0] for r in self._conn.execute(
            "SELECT p.scheduled_at FROM post_targets t JOIN posts p ON p.id = t.post_id"
            " WHERE t.provider = ? AND t.account_id = ? AND t.state IN ('pending', 'in_flight')",
            (provider, account_id))}
