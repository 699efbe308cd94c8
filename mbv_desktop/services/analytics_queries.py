"""What the Analytics panel, the exports and the best-time hints read: post performance.

Everything here only reads (the SQL is in :mod:`mbv_desktop.store.metrics`), on the store's
thread, and returns plain data (numpy arrays for time series, so a chart of 100,000 points is
handed over without building 100,000 Python objects). Filters narrow by when posts were
published, platform, account and hashtag.

"Latest" figures are each metric's newest sample; engagement is the sum of the engagement
metrics present (:func:`mbv_desktop.core.analytics.engagement`). Hashtags are the ``#tags`` in
the post's text, lower-cased.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np

from mbv_desktop.core.analytics import (
    ENGAGEMENT_METRICS,
    METRICS,
    AnalyticsFilter,
    engagement,
    engagement_rate,
    sum_figures,
)
from mbv_desktop.core.drafts import format_time, title_of
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.scheduling import BestTime, best_times
from mbv_desktop.core.scheduling import zone as time_zone
from mbv_desktop.store.metrics import MetricsRepository
from mbv_desktop.store.worker import StoreWorker

HASHTAG = re.compile(r"(?<![\w&])#(\w{1,100})", re.UNICODE)
#: Series choices besides the stored metrics.
ENGAGEMENT = "engagement"
EXPORT_FORMATS = ("csv", "json")
#: Best hours compare posts at least this old (most of a post's audience comes in two days)…
MATURE_AFTER = timedelta(hours=48)
#: …once there are this many of them.
MIN_MATURE = 10
EXPORT_COLUMNS = ("collected_at", "published_at", "platform", "account_id", "post_id", "url",
                  "title", "metric", "value")


def hashtags_of(text: str) -> tuple[str, ...]:
    """The distinct hashtags in ``text``, lower-cased, in order of first use."""
    return tuple(dict.fromkeys(m.group(1).lower() for m in HASHTAG.finditer(text)))


@dataclass(frozen=True)
class PostPerformance:
    """One published target with its latest figures."""

    target_id: int
    post_id: int
    provider: str
    account_id: str
    platform_post_id: str
    published_at: datetime
    title: str
    url: str
    hashtags: tuple[str, ...]
    values: dict[str, float]
    tracking: str  # the collection job's state: active, deleted, unavailable, done
    note: str = ""

    @property
    def engagement(self) -> float | None:
        return engagement(self.values)

    @property
    def engagement_rate(self) -> float | None:
        return engagement_rate(self.values)


@dataclass(frozen=True)
class Series:
    """One line of a chart: epoch seconds and values, oldest first."""

    key: str
    label: str
    provider: str
    times: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class GroupTotals:
    """Latest figures summed over a group of posts (a platform, an account, a hashtag)."""

    key: str
    label: str
    posts: int
    totals: dict[str, float]
    mean_engagement: float | None
    mean_rate: float | None


@dataclass(frozen=True)
class Heatmap:
    """Mean engagement per post by local weekday (0 = Monday) and hour of publishing; NaN where
    nothing was published. ``counts`` has the number of posts behind each cell."""

    values: np.ndarray  # shape (7, 24)
    counts: np.ndarray  # shape (7, 24)
    zone: str


@dataclass
class Overview:
    """Everything the Performance tab draws, read in one go."""

    posts: list[PostPerformance]
    series: list[Series]
    by_platform: list[GroupTotals]
    by_account: list[GroupTotals]
    heatmap: Heatmap
    points: int = 0
    hashtags: list[GroupTotals] = field(default_factory=list)
    followers: list[Series] = field(default_factory=list)  # one line per account


class AnalyticsQueries:
    def __init__(self, worker: StoreWorker) -> None:
        self._worker = worker

    # --- the panel ---------------------------------------------------------------------------

    async def overview(self, flt: AnalyticsFilter, metric: str = ENGAGEMENT,
                       zone: str = "UTC") -> Overview:
        """Posts, one series per post for ``metric``, comparisons, heatmap and hashtags."""
        _check_metric(metric)

        def read(conn: sqlite3.Connection) -> Overview:
            posts = _posts(conn, flt)
            series = _series(conn, posts, metric)
            return Overview(
                posts=posts, series=series,
                by_platform=_group(posts, lambda p: (p.provider, p.provider)),
                by_account=_group(posts, lambda p: (f"{p.provider}:{p.account_id}",
                                                    f"{p.provider} {p.account_id}")),
                heatmap=_heatmap(posts, zone),
                points=sum(len(s.times) for s in series),
                hashtags=hashtag_table(posts),
                followers=[s for s in _account_series(conn, "followers")
                           if _account_wanted(flt, s.key)])

        return await self._worker.call(read, write=False)

    async def posts(self, flt: AnalyticsFilter) -> list[PostPerformance]:
        return await self._worker.call(lambda c: _posts(c, flt), write=False)

    async def hashtags_in_use(self) -> list[str]:
        """Every hashtag used in a published post, most used first (for completion)."""
        posts = await self.posts(AnalyticsFilter())
        counts: dict[str, int] = defaultdict(int)
        for post in posts:
            for tag in post.hashtags:
                counts[tag] += 1
        return sorted(counts, key=lambda t: (-counts[t], t))

    async def engagement_by_hour(self, platform: str, zone: str = "UTC"
                                 ) -> dict[tuple[int, int], float]:
        """(weekday, hour) → mean engagement of this platform's posts, for best-time hints."""
        posts = await self.posts(AnalyticsFilter(platforms=(platform,)))
        heat = _heatmap(posts, zone)
        out: dict[tuple[int, int], float] = {}
        for weekday in range(7):
            for hour in range(24):
                if heat.counts[weekday, hour]:
                    out[(weekday, hour)] = float(heat.values[weekday, hour])
        return out

    async def best_times(self, platforms: Sequence[str], zone: str = "UTC"
                         ) -> dict[str, list[BestTime]]:
        """Best posting hours per platform: from the creator's own posts once there are
        enough of them, else the general defaults (each hint says which)."""
        return {platform: best_times(platform, await self.engagement_by_hour(platform, zone))
                for platform in platforms}

    async def account_series(self, metric: str = "followers") -> list[Series]:
        """Account-wide figures over time (followers by default), one line per account."""
        return await self._worker.call(lambda c: _account_series(c, metric), write=False)

    # --- export ------------------------------------------------------------------------------

    async def export_rows(self, first: date | None = None, last: date | None = None
                          ) -> list[dict[str, Any]]:
        """Every sample collected on UTC days ``first``..``last`` (inclusive), oldest first,
        with its post: the long format that both export formats use."""
        if first and last and last < first:
            raise InvalidInput("The export's end date is before its start date.")
        lo = datetime.combine(first, time(), UTC).timestamp() if first else float("-inf")
        hi = (datetime.combine(last + timedelta(days=1), time(), UTC).timestamp()
              if last else float("inf"))

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            posts = {p.target_id: p for p in _posts(conn, AnalyticsFilter())}
            out = []
            for target_id, metric, at, value in MetricsRepository(conn).samples_between(lo, hi):
                post = posts.get(target_id)
                if post is None:
                    continue
                out.append({
                    "collected_at": _iso(at), "published_at": format_time(post.published_at),
                    "platform": post.provider, "account_id": post.account_id,
                    "post_id": post.platform_post_id, "url": post.url, "title": post.title,
                    "metric": metric, "value": value})
            return out

        return await self._worker.call(read, write=False)

    async def export(self, fmt: str, first: date | None = None, last: date | None = None
                     ) -> str:
        """The export as text: CSV with a header row, or a JSON array of objects."""
        if fmt not in EXPORT_FORMATS:
            raise InvalidInput(f"Export as {' or '.join(EXPORT_FORMATS)}, not '{fmt}'.")
        rows = await self.export_rows(first, last)
        if fmt == "json":
            return json.dumps(rows, ensure_ascii=False, indent=1)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()


# --- reading -------------------------------------------------------------------------------------

def _check_metric(metric: str) -> None:
    if metric != ENGAGEMENT and metric not in METRICS:
        raise InvalidInput(f"'{metric}' is not a metric; use {ENGAGEMENT} or "
                           f"{', '.join(METRICS)}.")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _posts(conn: sqlite3.Connection, flt: AnalyticsFilter) -> list[PostPerformance]:
    repo = MetricsRepository(conn)
    rows = repo.published(flt.start, flt.end, flt.platforms)
    accounts = set(flt.accounts)
    tag = flt.tag.lstrip("#").lower()
    latest = repo.latest_values()
    out = []
    for r in rows:
        if accounts and (r.provider, r.account_id) not in accounts:
            continue
        tags = hashtags_of(r.body)
        if tag and tag not in tags:
            continue
        out.append(PostPerformance(
            target_id=r.target_id, post_id=r.post_id, provider=r.provider,
            account_id=r.account_id, platform_post_id=r.platform_post_id,
            published_at=r.published_at, title=title_of(r.body), url=r.url, hashtags=tags,
            values=latest.get(r.target_id, {}), tracking=r.tracking, note=r.note))
    return out


def _account_series(conn: sqlite3.Connection, metric: str) -> list[Series]:
    """One series per account (key ``provider:account_id``) of an account-wide metric."""
    grouped: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for provider, account, at, value in MetricsRepository(conn).account_series_rows(metric):
        grouped[(provider, account)].append((at, value))
    return [Series(f"{p}:{a}", f"{p} {a}", p,
                   np.array([x for x, _ in pts], dtype=np.float64),
                   np.array([y for _, y in pts], dtype=np.float64))
            for (p, a), pts in grouped.items()]


def _account_wanted(flt: AnalyticsFilter, key: str) -> bool:
    provider, _, account = key.partition(":")
    if flt.platforms and provider not in flt.platforms:
        return False
    return not flt.accounts or (provider, account) in flt.accounts


def _series(conn: sqlite3.Connection, posts: Sequence[PostPerformance], metric: str
            ) -> list[Series]:
    if not posts:
        return []
    wanted = {p.target_id: p for p in posts}
    data = _array(MetricsRepository(conn).series_rows(
        ENGAGEMENT_METRICS if metric == ENGAGEMENT else (metric,)))
    if not len(data):
        return []
    ids = data[:, 0].astype(np.int64)
    cuts = np.flatnonzero(np.diff(ids)) + 1
    out = []
    for chunk_ids, chunk in zip(np.split(ids, cuts), np.split(data, cuts), strict=True):
        post = wanted.get(int(chunk_ids[0]))
        if post is None:
            continue
        out.append(Series(str(post.target_id), f"{post.provider}: {post.title[:40]}",
                          post.provider, np.ascontiguousarray(chunk[:, 1]),
                          np.ascontiguousarray(chunk[:, 2])))
    return out


def _array(cur: sqlite3.Cursor, chunk: int = 4096) -> np.ndarray:
    """The cursor's rows as one float array, converted a chunk at a time: one conversion of
    100,000 rows holds the GIL for tens of milliseconds, and the GUI thread needs it too."""
    parts = []
    while rows := cur.fetchmany(chunk):
        parts.append(np.array(rows, dtype=np.float64))
    return np.concatenate(parts) if parts else np.empty((0, 3))


def _group(posts: Iterable[PostPerformance], key: Any) -> list[GroupTotals]:
    groups: dict[str, tuple[str, list[PostPerformance]]] = {}
    for post in posts:
        k, label = key(post)
        groups.setdefault(k, (label, []))[1].append(post)
    return [_totals(k, label, members) for k, (label, members) in sorted(groups.items())]


def _totals(key: str, label: str, members: Sequence[PostPerformance]) -> GroupTotals:
    engaged = [e for e in (p.engagement for p in members) if e is not None]
    rates = [r for r in (p.engagement_rate for p in members) if r is not None]
    return GroupTotals(key, label, len(members), sum_figures(p.values for p in members),
                       sum(engaged) / len(engaged) if engaged else None,
                       sum(rates) / len(rates) if rates else None)


def hashtag_table(posts: Iterable[PostPerformance]) -> list[GroupTotals]:
    """Per hashtag: the posts that used it and how they did, best mean engagement first."""
    by_tag: dict[str, list[PostPerformance]] = defaultdict(list)
    for post in posts:
        for tag in post.hashtags:
            by_tag[tag].append(post)
    rows = [_totals(tag, f"#{tag}", members) for tag, members in by_tag.items()]
    return sorted(rows, key=lambda g: (-(g.mean_engagement or 0.0), g.key))


def _heatmap(posts: Iterable[PostPerformance], zone: str) -> Heatmap:
    tz = time_zone(zone)
    sums = np.zeros((7, 24))
    counts = np.zeros((7, 24), dtype=np.int64)
    for post in _mature(list(posts)):
        value = post.engagement
        if value is None:
            continue
        local = post.published_at.astimezone(tz)
        sums[local.weekday(), local.hour] += value
        counts[local.weekday(), local.hour] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Heatmap(values, counts, zone)


def _mature(posts: list[PostPerformance]) -> list[PostPerformance]:
    """The posts old enough to compare (a post of a few hours has not had its audience yet),
    once there are :data:`MIN_MATURE` of them; until then all posts."""
    cutoff = datetime.now(UTC) - MATURE_AFTER
    mature = [p for p in posts if p.published_at <= cutoff]
    return mature if len(mature) >= MIN_MATURE else posts


def top_posts(posts: Iterable[PostPerformance], n: int = 10,
              metric: str = ENGAGEMENT) -> list[PostPerformance]:
    """The ``n`` posts with the highest ``metric`` (engagement by default)."""
    def score(p: PostPerformance) -> float:
        value = p.engagement if metric == ENGAGEMENT else p.values.get(metric)
        return -1.0 if value is None else value

    return sorted(posts, key=score, reverse=True)[:n]
