"""Campaigns (schema v8): named groups of posts with dates, a budget and a goal, and the reads
that add up their posts' metrics.

A campaign's results are read from ``metric_samples``: each target's (post × account) latest
value of each metric, and the campaign's engagement over time. Both are one query each, so a
campaign of 200 targets with 100 collections apiece reads in milliseconds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from mbv_desktop.core.drafts import format_time
from mbv_desktop.store.metrics import MetricsRepository


@dataclass(frozen=True)
class Campaign:
    """A campaign as the Campaigns list shows it."""

    id: int
    name: str
    starts_on: date
    ends_on: date
    budget_usd: float | None
    goal: str  # one of the service's GOALS, or "" for none
    post_count: int


@dataclass(frozen=True)
class CampaignTarget:
    """One of a campaign's posts going to one account."""

    target_id: int
    post_id: int
    provider: str
    account_id: str
    state: str
    url: str | None


_SELECT = (
    "SELECT c.id, c.name, c.starts_on, c.ends_on, c.budget_usd, c.goal,"
    " (SELECT count(*) FROM campaign_posts cp WHERE cp.campaign_id = c.id)"
    " FROM campaigns c")


def _campaign(r: tuple[Any, ...]) -> Campaign:
    return Campaign(id=r[0], name=r[1], starts_on=date.fromisoformat(r[2]),
                    ends_on=date.fromisoformat(r[3]),
                    budget_usd=None if r[4] is None else float(r[4]), goal=r[5],
                    post_count=r[6])


class CampaignRepository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- writing (the caller's transaction) --

    def create(self, *, name: str, starts_on: date, ends_on: date, budget_usd: float | None,
               goal: str, at: datetime) -> int:
        now = format_time(at)
        campaign_id = self._conn.execute(
            "INSERT INTO campaigns (name, starts_on, ends_on, budget_usd, goal, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (name, starts_on.isoformat(), ends_on.isoformat(), budget_usd, goal, now, now),
        ).lastrowid
        assert campaign_id is not None
        return campaign_id

    def update(self, campaign_id: int, *, name: str, starts_on: date, ends_on: date,
               budget_usd: float | None, goal: str, at: datetime) -> bool:
        """Whether the campaign existed (and so was changed)."""
        cur = self._conn.execute(
            "UPDATE campaigns SET name = ?, starts_on = ?, ends_on = ?, budget_usd = ?, goal = ?,"
            " updated_at = ? WHERE id = ?",
            (name, starts_on.isoformat(), ends_on.isoformat(), budget_usd, goal,
             format_time(at), campaign_id))
        return cur.rowcount > 0

    def delete(self, campaign_id: int) -> bool:
        """Whether it existed. Its posts stay: only their membership goes (ON DELETE CASCADE)."""
        return self._conn.execute("DELETE FROM campaigns WHERE id = ?",
                                  (campaign_id,)).rowcount > 0

    def add_posts(self, campaign_id: int, post_ids: Iterable[int]) -> int:
        """How many were not in the campaign yet."""
        cur = self._conn.executemany(
            "INSERT OR IGNORE INTO campaign_posts (campaign_id, post_id) VALUES (?, ?)",
            [(campaign_id, post_id) for post_id in post_ids])
        return max(cur.rowcount, 0)

    def remove_posts(self, campaign_id: int, post_ids: Iterable[int]) -> int:
        """How many were in the campaign."""
        cur = self._conn.executemany(
            "DELETE FROM campaign_posts WHERE campaign_id = ? AND post_id = ?",
            [(campaign_id, post_id) for post_id in post_ids])
        return max(cur.rowcount, 0)

    def touch(self, campaign_id: int, at: datetime) -> None:
        self._conn.execute("UPDATE campaigns SET updated_at = ? WHERE id = ?",
                           (format_time(at), campaign_id))

    # -- reading --

    def get(self, campaign_id: int) -> Campaign | None:
        r = self._conn.execute(_SELECT + " WHERE c.id = ?", (campaign_id,)).fetchone()
        return None if r is None else _campaign(r)

    def all(self) -> list[Campaign]:
        """Newest start first, then by name."""
        return [_campaign(r) for r in self._conn.execute(
            _SELECT + " ORDER BY c.starts_on DESC, c.name COLLATE NOCASE, c.id")]

    def missing_posts(self, post_ids: Sequence[int]) -> list[int]:
        """The ids in ``post_ids`` that name no post."""
        if not post_ids:
            return []
        unique = sorted(set(post_ids))
        marks = ",".join("?" * len(unique))
        found = {r[0] for r in self._conn.execute(
            f"SELECT id FROM posts WHERE id IN ({marks})", unique)}
        return [post_id for post_id in unique if post_id not in found]

    def post_ids(self, campaign_id: int) -> list[int]:
        return [r[0] for r in self._conn.execute(
            "SELECT post_id FROM campaign_posts WHERE campaign_id = ? ORDER BY post_id",
            (campaign_id,))]

    def targets(self, campaign_id: int) -> list[CampaignTarget]:
        return [CampaignTarget(*r) for r in self._conn.execute(
            "SELECT t.id, t.post_id, t.provider, t.account_id, t.state, t.url"
            " FROM campaign_posts cp JOIN post_targets t ON t.post_id = cp.post_id"
            " WHERE cp.campaign_id = ? ORDER BY t.post_id, t.id", (campaign_id,))]

    def latest_values(self, campaign_id: int) -> list[tuple[int, str, float]]:
        """``(target_id, metric, value)``: each of the campaign's targets' latest value of
        each metric it has."""
        ids = [t.target_id for t in self.targets(campaign_id)]
        latest = MetricsRepository(self._conn).latest_values(ids)
        return [(target, metric, value) for target, values in latest.items()
                for metric, value in values.items()]

    def total_over_time(self, campaign_id: int, metrics: Sequence[str]
                        ) -> list[tuple[float, float]]:
        """``(at, total)`` at each moment any of the campaign's targets was sampled: the sum
        over its targets of each target's latest value (at or before ``at``) of ``metrics``.

        Each sample contributes its change from the same target's previous value of the same
        metric, and a running sum of those changes is the total at each moment.
        """
        if not metrics:
            return []
        marks = ",".join("?" * len(metrics))
        return [(float(r[0]), float(r[1])) for r in self._conn.execute(
            "WITH changes AS ("
            " SELECT ms.at AS at, ms.value - coalesce(lag(ms.value) OVER ("
            "   PARTITION BY ms.target_id, ms.metric ORDER BY ms.at), 0) AS delta"
            " FROM campaign_posts cp JOIN post_targets t ON t.post_id = cp.post_id"
            " JOIN metric_samples ms ON ms.target_id = t.id"
            f" WHERE cp.campaign_id = ? AND ms.metric IN ({marks}))"
            " SELECT at, sum(sum(delta)) OVER (ORDER BY at) FROM changes"
            " GROUP BY at ORDER BY at", (campaign_id, *metrics))]
