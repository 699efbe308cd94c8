"""Metrics collection jobs and the metric time series (schema v8).

A job exists for every published target (a trigger writes it in the publishing transaction).
Collecting one writes its samples and moves the job on in one transaction: the samples of a
collection and the job's next due time never disagree after a crash. Figures a platform did
not give are simply not written, so a gap stays a gap (never a zero).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mbv_desktop.core.drafts import format_time, parse_time

JOB_STATES = ("active", "deleted", "unavailable", "done")


@dataclass(frozen=True)
class MetricJob:
    """A published target whose figures are collected."""

    target_id: int
    provider: str
    account_id: str
    platform_post_id: str
    published_at: datetime
    state: str
    next_due_at: datetime | None
    collections: int
    failures: int
    last_collected_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class PublishedTarget:
    """A published post on one account, as analytics reads it."""

    target_id: int
    post_id: int
    provider: str
    account_id: str
    platform_post_id: str
    published_at: datetime
    url: str
    body: str
    tracking: str  # its collection job's state ('' before it has one)
    note: str  # the job's last error or note


_JOB_SELECT = (
    "SELECT j.target_id, t.provider, t.account_id, t.platform_post_id,"
    " coalesce(t.published_at, t.updated_at), j.state, j.next_due_at, j.collections, j.failures,"
    " j.last_collected_at, j.last_error"
    " FROM metric_jobs j JOIN post_targets t ON t.id = j.target_id")


def _job(r: Sequence[Any]) -> MetricJob:
    return MetricJob(
        target_id=int(r[0]), provider=str(r[1]), account_id=str(r[2]),
        platform_post_id=str(r[3] or ""), published_at=parse_time(str(r[4])), state=str(r[5]),
        next_due_at=parse_time(str(r[6])) if r[6] else None, collections=int(r[7]),
        failures=int(r[8]),
        last_collected_at=parse_time(str(r[9])) if r[9] else None,
        last_error=str(r[10]) if r[10] is not None else None)


class MetricsRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # --- jobs ------------------------------------------------------------------------------

    def due_jobs(self, now: datetime, limit: int = 1000) -> list[MetricJob]:
        """Active jobs whose time has come, the longest waiting first."""
        rows = self._conn.execute(
            _JOB_SELECT + " WHERE j.state = 'active' AND j.next_due_at <= ?"
            " AND t.platform_post_id IS NOT NULL ORDER BY j.next_due_at LIMIT ?",
            (format_time(now), limit)).fetchall()
        return [_job(r) for r in rows]

    def claim_due(self, now: datetime, limit: int, lease_until: datetime) -> list[MetricJob]:
        """The due jobs, each put off until ``lease_until`` in the same transaction, so another
        process (the publish timer beside an open window) does not collect them too; a pass
        that dies leaves them due again when the lease ends."""
        jobs = self.due_jobs(now, limit)
        self._conn.executemany(
            "UPDATE metric_jobs SET next_due_at = ? WHERE target_id = ?",
            [(format_time(lease_until), j.target_id) for j in jobs])
        return jobs

    def reactivate_reconnected(self, now: datetime) -> int:
        """Jobs stopped for want of permission start again once their account was connected
        (again) after they stopped: the creator may have granted it this time."""
        cur = self._conn.execute(
            "UPDATE metric_jobs SET state = 'active', next_due_at = ?, last_error = NULL,"
            " updated_at = ? WHERE state = 'unavailable' AND EXISTS (SELECT 1 FROM post_targets t"
            " JOIN accounts a ON a.provider = t.provider AND a.account_id = t.account_id"
            " WHERE t.id = metric_jobs.target_id AND a.status = 'ok'"
            " AND a.updated_at > metric_jobs.updated_at)",
            (format_time(now), format_time(now)))
        return cur.rowcount

    def job(self, target_id: int) -> MetricJob | None:
        row = self._conn.execute(_JOB_SELECT + " WHERE j.target_id = ?", (target_id,)).fetchone()
        return _job(row) if row else None

    def jobs(self) -> list[MetricJob]:
        return [_job(r) for r in self._conn.execute(_JOB_SELECT + " ORDER BY j.target_id")]

    def next_due(self) -> datetime | None:
        row = self._conn.execute(
            "SELECT min(next_due_at) FROM metric_jobs WHERE state = 'active'").fetchone()
        return parse_time(row[0]) if row and row[0] else None

    def record(self, target_id: int, at: float, values: Mapping[str, float],
               next_due_at: datetime | None, now: datetime, note: str | None = None) -> None:
        """One collection of one target: its samples, and the job moved on (``done`` when
        ``next_due_at`` is ``None``)."""
        self._conn.executemany(
            "INSERT OR REPLACE INTO metric_samples (target_id, metric, at, value)"
            " VALUES (?, ?, ?, ?)",
            [(target_id, name, at, float(value)) for name, value in values.items()])
        self._conn.execute(
            "UPDATE metric_jobs SET collections = collections + 1, failures = 0,"
            " last_collected_at = ?, next_due_at = ?, state = ?, last_error = ?, updated_at = ?"
            " WHERE target_id = ?",
            (format_time(now), format_time(next_due_at) if next_due_at else None,
             "active" if next_due_at else "done", note, format_time(now), target_id))

    def mark(self, target_ids: Iterable[int], state: str, reason: str, now: datetime) -> None:
        """Stops jobs: ``deleted`` (gone from the platform) or ``unavailable`` (no permission)."""
        assert state in ("deleted", "unavailable", "done")
        self._conn.executemany(
            "UPDATE metric_jobs SET state = ?, next_due_at = NULL, last_error = ?, updated_at = ?"
            " WHERE target_id = ?",
            [(state, reason, format_time(now), t) for t in target_ids])

    def defer(self, target_ids: Iterable[int], until: datetime, reason: str, now: datetime,
              *, failed: bool = True) -> None:
        """Puts jobs off until ``until`` (a rate limit's reset, a back-off after a failure);
        nothing is recorded for the skipped time."""
        self._conn.executemany(
            "UPDATE metric_jobs SET next_due_at = ?, failures = failures + ?, last_error = ?,"
            " updated_at = ? WHERE target_id = ? AND state = 'active'",
            [(format_time(until), int(failed), reason, format_time(now), t) for t in target_ids])

    def last_sample_at(self, target_id: int) -> float | None:
        row = self._conn.execute(
            "SELECT max(at) FROM metric_samples WHERE target_id = ?", (target_id,)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    # --- samples ---------------------------------------------------------------------------

    def samples(self, target_id: int) -> list[tuple[str, float, float]]:
        """``(metric, at, value)`` of one target, oldest first."""
        return [(str(m), float(a), float(v)) for m, a, v in self._conn.execute(
            "SELECT metric, at, value FROM metric_samples WHERE target_id = ? ORDER BY at, metric",
            (target_id,))]

    def add_account_sample(self, provider: str, account_id: str, at: float,
                           values: Mapping[str, float]) -> None:
        self._conn.executemany(
            "INSERT OR REPLACE INTO account_samples (provider, account_id, metric, at, value)"
            " VALUES (?, ?, ?, ?, ?)",
            [(provider, account_id, name, at, float(v)) for name, v in values.items()])

    def last_account_sample_at(self, provider: str, account_id: str) -> float | None:
        row = self._conn.execute(
            "SELECT max(at) FROM account_samples WHERE provider = ? AND account_id = ?",
            (provider, account_id)).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    # --- reading for analytics -------------------------------------------------------------

    def published(self, start: datetime | None, end: datetime | None,
                  platforms: Sequence[str]) -> list[PublishedTarget]:
        """Published targets (publishing time in [start, end), on ``platforms`` or all), with
        their post's text and their collection state, oldest first."""
        where = ["t.state = 'published'", "t.platform_post_id IS NOT NULL"]
        args: list[Any] = []
        if start is not None:
            where.append("t.published_at >= ?")
            args.append(format_time(start))
        if end is not None:
            where.append("t.published_at < ?")
            args.append(format_time(end))
        if platforms:
            where.append(f"t.provider IN ({','.join('?' * len(platforms))})")
            args.extend(platforms)
        return [PublishedTarget(r[0], r[1], r[2], r[3], r[4], parse_time(r[5]), r[6], r[7],
                                r[8], r[9]) for r in self._conn.execute(
            "SELECT t.id, t.post_id, t.provider, t.account_id, t.platform_post_id,"
            " coalesce(t.published_at, t.updated_at), coalesce(t.url, ''), p.body,"
            " coalesce(j.state, ''), coalesce(j.last_error, '')"
            " FROM post_targets t JOIN posts p ON p.id = t.post_id"
            " LEFT JOIN metric_jobs j ON j.target_id = t.id"
            f" WHERE {' AND '.join(where)} ORDER BY t.published_at, t.id", args)]

    def latest_values(self, target_ids: Sequence[int] | None = None
                      ) -> dict[int, dict[str, float]]:
        """Each target's newest value of each metric it has (all targets, or these)."""
        # SQLite takes the bare ``value`` from the row holding max(at); the primary key
        # (target_id, metric, at) makes each group one index range.
        sql = "SELECT target_id, metric, max(at), value FROM metric_samples"
        args: list[Any] = []
        if target_ids is not None:
            sql += f" WHERE target_id IN ({','.join('?' * len(target_ids))})"
            args.extend(target_ids)
        out: dict[int, dict[str, float]] = defaultdict(dict)
        for target_id, metric, _at, value in self._conn.execute(
                sql + " GROUP BY target_id, metric", args):
            out[target_id][metric] = float(value)
        return out

    def series_rows(self, metrics: Sequence[str]) -> sqlite3.Cursor:
        """``(target_id, at, value)`` by target then time: the one metric's samples, or with
        several metrics their sum per collection (engagement)."""
        if len(metrics) == 1:
            return self._conn.execute(
                "SELECT target_id, at, value FROM metric_samples WHERE metric = ?"
                " ORDER BY target_id, at", (metrics[0],))
        return self._conn.execute(
            "SELECT target_id, at, sum(value) FROM metric_samples"
            f" WHERE metric IN ({','.join('?' * len(metrics))})"
            " GROUP BY target_id, at ORDER BY target_id, at", list(metrics))

    def account_series_rows(self, metric: str) -> sqlite3.Cursor:
        """``(provider, account_id, at, value)`` of an account-wide metric, by account then
        time."""
        return self._conn.execute(
            "SELECT provider, account_id, at, value FROM account_samples WHERE metric = ?"
            " ORDER BY provider, account_id, at", (metric,))

    def samples_between(self, lo: float, hi: float) -> sqlite3.Cursor:
        """``(target_id, metric, at, value)`` collected in [lo, hi) (epoch seconds), oldest
        first."""
        return self._conn.execute(
            "SELECT target_id, metric, at, value FROM metric_samples"
            " WHERE at >= ? AND at < ? ORDER BY at, target_id, metric", (lo, hi))
