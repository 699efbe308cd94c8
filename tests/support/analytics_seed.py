"""Published posts with collected figures, written straight into a profile's database, for tests
and benches that need history without waiting for it (1,000 posts and 100,000 points in about
a second). Deterministic for a given seed."""

from __future__ import annotations

import math
import random
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mbv_desktop.core.analytics import PLATFORM_METRICS
from mbv_desktop.core.drafts import format_time

ACCOUNTS = {"x": "1001", "instagram": "17841400000000001", "tiktok": "tt-open-1"}
TAGS = ("ai", "creator", "marketing", "design", "travel", "food", "fitness", "tech", "art",
        "music")


@dataclass(frozen=True)
class Seeded:
    target_ids: list[int]
    points: int


def seed_published(conn: sqlite3.Connection, posts: int, points_per_post: int, *,
                   seed: int = 7, now: datetime | None = None, days: int = 90,
                   collections: int | None = None) -> Seeded:
    """``posts`` published targets spread over the last ``days`` days across X, Instagram and
    TikTok, each with about ``points_per_post`` metric samples (whole collections of its
    platform's metrics; or ``collections`` collections each, when given). One transaction on
    ``conn`` (a store connection: autocommit)."""
    rng = random.Random(seed)
    end = now or datetime.now(UTC)
    platforms = list(ACCOUNTS)
    target_ids: list[int] = []
    points = 0
    samples: list[tuple[int, str, float, float]] = []
    conn.execute("BEGIN IMMEDIATE")  # one transaction (the store's connections autocommit)
    try:
        for i in range(posts):
            provider = platforms[i % len(platforms)]
            metrics = PLATFORM_METRICS[provider]
            published = end - timedelta(days=rng.uniform(0.5, days),
                                        minutes=rng.randrange(60 * 24))
            tags = rng.sample(TAGS, rng.randint(0, 3))
            body = f"Post {i} about {' and '.join(tags) or 'life'} " + " ".join(
                f"#{t}" for t in tags)
            stamp = format_time(published)
            cur = conn.execute(
                "INSERT INTO posts (body, media, scheduled_at, time_zone, local_time, created_at,"
                " updated_at) VALUES (?, '[]', ?, 'UTC', ?, ?, ?)",
                (body, stamp, published.strftime("%Y-%m-%dT%H:%M"), stamp, stamp))
            post_id = cur.lastrowid
            cur = conn.execute(
                "INSERT INTO post_targets (uid, post_id, provider, account_id, post_type, state,"
                " due_at, platform_post_id, url, published_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'published', ?, ?, ?, ?, ?)",
                (str(uuid.uuid4()), post_id, provider, ACCOUNTS[provider],
                 "post" if provider == "x" else ("feed" if provider == "instagram" else "video"),
                 stamp, f"{provider}-{i}", f"https://example.invalid/{provider}/{i}", stamp,
                 stamp))
            target_id = int(cur.lastrowid or 0)
            target_ids.append(target_id)
            count = collections or max(1, points_per_post // len(metrics))
            audience = 300 * math.exp(rng.uniform(0, 4)) * (1.6 if published.hour in
                                                             (8, 9, 18, 19, 20) else 1.0)
            span = (end - published).total_seconds()
            for n in range(count):
                at = published.timestamp() + span * (n + 1) / count
                grown = audience * (1 - math.exp(-(at - published.timestamp()) / 21600))
                for k, metric in enumerate(metrics):
                    share = 1.0 if metric in ("views", "reach") else 0.01 + 0.01 * k
                    samples.append((target_id, metric, at, float(int(grown * share))))
                    points += 1
            conn.execute(
                "INSERT INTO metric_jobs (target_id, state, next_due_at, collections,"
                " updated_at) VALUES (?, 'active', ?, ?, ?)",
                (target_id, format_time(end + timedelta(hours=1)), count,
                 format_time(end)))
        conn.executemany("INSERT INTO metric_samples (target_id, metric, at, value)"
                         " VALUES (?, ?, ?, ?)", samples)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return Seeded(target_ids, points)
