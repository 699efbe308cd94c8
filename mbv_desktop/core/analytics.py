"""Post performance in the app's own terms: metric names, engagement, and when to collect next.

Each platform names its figures differently (X ``like_count``, Instagram ``likes``, TikTok
``like_count``); the clients translate them to the names in :data:`METRICS` so charts, exports
and comparisons speak one language. A metric a platform (or the account's tier) does not give
is absent, never zero: "no data" and "nobody liked it" are different things to a creator.

Collection is dense just after publishing, when numbers move fastest, and sparse later: the
first right after publishing, then :func:`next_collection` doubles the wait after every
collection, from ``first_interval`` up to a day, and stops after :data:`COLLECT_FOR`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from mbv_desktop.core.scheduling import zone as time_zone

#: Every metric the app stores, in the order tables and exports list them.
METRICS: tuple[str, ...] = (
    "views", "reach", "likes", "comments", "shares", "saves", "reposts", "quotes", "bookmarks",
)

#: What each metric is called in the UI.
METRIC_LABELS: dict[str, str] = {
    "views": "Views", "reach": "Reach", "likes": "Likes", "comments": "Comments/replies",
    "shares": "Shares", "saves": "Saves", "reposts": "Reposts", "quotes": "Quotes",
    "bookmarks": "Bookmarks", "engagement": "Engagement",
}

#: The metrics that count as a person engaging with a post.
ENGAGEMENT_METRICS: tuple[str, ...] = (
    "likes", "comments", "shares", "saves", "reposts", "quotes", "bookmarks",
)

#: Which metrics each platform can give (what is actually given may be fewer: tier, post type).
PLATFORM_METRICS: dict[str, tuple[str, ...]] = {
    "x": ("views", "likes", "comments", "reposts", "quotes", "bookmarks"),
    "instagram": ("views", "reach", "likes", "comments", "shares", "saves"),
    "tiktok": ("views", "likes", "comments", "shares"),
}

#: Platforms with a trends API a creator's app may use; the others are said to have none.
TRENDS_PLATFORMS: dict[str, str] = {
    "x": "X gives trending topics by place (WOEID) and trends personalised for the account.",
    "instagram": "Instagram has no trends API (hashtag search only finds posts for a tag you "
                 "already know).",
    "tiktok": "TikTok has no trends API for creators' apps (its Research API is only for "
              "approved academic researchers).",
}

#: Collect for this long after publishing, then stop.
COLLECT_FOR = timedelta(days=90)
#: The longest wait between two collections of one post.
MAX_INTERVAL = timedelta(days=1)
#: The longest wait before trying again after failures.
MAX_RETRY = timedelta(hours=6)


def engagement(values: Mapping[str, float]) -> float | None:
    """The sum of the engagement metrics present, or ``None`` when none is."""
    present = [values[name] for name in ENGAGEMENT_METRICS if name in values]
    return float(sum(present)) if present else None


def engagement_rate(values: Mapping[str, float]) -> float | None:
    """Engagement per view, or ``None`` without views (or engagement) to divide."""
    total = engagement(values)
    views = values.get("views") or values.get("reach")
    if total is None or not views:
        return None
    return total / views


def sum_figures(figures: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Posts' figures added up per metric (in :data:`METRICS` order, other names after), with
    ``engagement`` last: the sum of each post's :func:`engagement`. A metric no post has is
    absent, not zero."""
    sums: dict[str, float] = {}
    engaged: float | None = None
    for values in figures:
        for metric, value in values.items():
            sums[metric] = sums.get(metric, 0.0) + value
        each = engagement(values)
        if each is not None:
            engaged = (engaged or 0.0) + each
    order = {name: i for i, name in enumerate(METRICS)}
    totals = {m: sums[m] for m in sorted(sums, key=lambda m: (order.get(m, len(order)), m))}
    if engaged is not None:
        totals["engagement"] = engaged
    return totals


def next_collection(published_at: datetime, now: datetime, collections: int,
                    first_interval: timedelta) -> datetime | None:
    """When to collect a post's metrics next, after ``collections`` collections so far, or
    ``None`` when it is old enough to stop. The first is right after publishing; the wait
    after it is ``first_interval``, and doubles after each later one, up to a day."""
    if now - published_at >= COLLECT_FOR:
        return None
    if collections <= 0:
        return max(now, published_at)
    wait = min(first_interval * (2 ** min(collections - 1, 30)), MAX_INTERVAL)
    return min(now + wait, published_at + COLLECT_FOR)


def retry_after_failure(now: datetime, failures: int, first_interval: timedelta) -> datetime:
    """When to try again after ``failures`` failed collections in a row (backing off)."""
    return now + min(first_interval * (2 ** min(failures, 30)), MAX_RETRY)


@dataclass(frozen=True)
class Trend:
    """One trending topic: its name (a hashtag or a phrase) and how much it is posted about."""

    name: str
    volume: int | None = None
    category: str = ""

    @property
    def is_hashtag(self) -> bool:
        return self.name.startswith("#")


@dataclass(frozen=True)
class AnalyticsFilter:
    """Which posts: published in [start, end), on these platforms / accounts, with this tag.
    Empty means "all"."""

    start: datetime | None = None
    end: datetime | None = None
    platforms: tuple[str, ...] = ()
    accounts: tuple[tuple[str, str], ...] = ()
    tag: str = ""

    def with_days(self, first: date | None, last: date | None, zone: str = "UTC"
                  ) -> AnalyticsFilter:
        """The same filter for whole local days ``first``..``last`` (inclusive)."""
        tz = time_zone(zone)
        start = datetime.combine(first, time(), tz).astimezone(UTC) if first else None
        end = (datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
               if last else None)
        return AnalyticsFilter(start, end, self.platforms, self.accounts, self.tag)
