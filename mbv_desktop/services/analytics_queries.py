"""What the Analytics panel, the exports and the best-time hints read: post performance.

Everything here only reads, on the store's thread, and returns plain data (numpy arrays for
time series, so a chart of 100,000 points is handed over without building 100,000 Python
objects). Filters narrow by when posts were published, platform, account and hashtag.

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
)
from mbv_desktop.core.drafts import format_time, parse_time, title_of
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.scheduling import BestTime, best_times
from mbv_desktop.core.scheduling import zone as time_zone
from mbv_desktop.store.worker import StoreWorker

HASHTAG = re.compile(r"(?<![\w&])#(\w{1,100})", re.UNICODE)
#: Series choices besides the stored metrics.
ENGAGEMENT = "engagement"
EXPORT_FORMATS = ("csv", "json")
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
                hashtags=hashtag_table(posts))

        return await self._worker.call(read, write=False)

    async def posts(self, flt: AnalyticsFilter) -> list[PostPerformance]:
        return await self._worker.call(lambda c: _posts(c, flt), write=False)

    async def series(self, flt: AnalyticsFilter, metric: str = ENGAGEMENT) -> list[Series]:
        _check_metric(metric)
        return await self._worker.call(lambda c: _series(c, _posts(c, flt), metric),
                                       write=False)

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
        def read(conn: sqlite3.Connection) -> list[Series]:
            rows = conn.execute(
                "SELECT provider, account_id, at, value FROM account_samples WHERE metric = ?"
                " ORDER BY provider, account_id, at", (metric,)).fetchall()
            grouped: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
            for provider, account, at, value in rows:
                grouped[(provider, account)].append((at, value))
            return [Series(f"{p}:{a}", f"{p} {a}", p,
                           np.array([x for x, _ in pts], dtype=np.float64),
                           np.array([y for _, y in pts], dtype=np.float64))
                    for (p, a), pts in grouped.items()]

        return await self._worker.call(read, write=False)

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
            rows = conn.execute(
                "SELECT target_id, metric, at, value FROM metric_samples"
                " WHERE at >= ? AND at < ? ORDER BY at, target_id, metric", (lo, hi))
            out = []
            for target_id, metric, at, value in rows:
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
    where = ["t.state = 'published'", "t.platform_post_id IS NOT NULL"]
    args: list[Any] = []
    if flt.start is not None:
        where.append("t.published_at >= ?")
        args.append(format_time(flt.start))
    if flt.end is not None:
        where.append("t.published_at < ?")
        args.append(format_time(flt.end))
    if flt.platforms:
        where.append(f"t.provider IN ({','.join('?' * len(flt.platforms))})")
        args.extend(flt.platforms)
    rows = conn.execute(
        "SELECT t.id, t.post_id, t.provider, t.account_id, t.platform_post_id,"
        " coalesce(t.published_at, t.updated_at), coalesce(t.url, ''), p.body,"
        " coalesce(j.state, ''), coalesce(j.last_error, '')"
        " FROM post_targets t JOIN posts p ON p.id = t.post_id"
        " LEFT JOIN metric_jobs j ON j.target_id = t.id"
        f" WHERE {' AND '.join(where)} ORDER BY t.published_at, t.id", args).fetchall()
    accounts = set(flt.accounts)
    tag = flt.tag.lstrip("#").lower()
    latest = _latest(conn)
    out = []
    for r in rows:
        if accounts and (r[2], r[3]) not in accounts:
            continue
        tags = hashtags_of(r[7])
        if tag and tag not in tags:
            continue
        out.append(PostPerformance(
            target_id=r[0], post_id=r[1], provider=r[2], account_id=r[3],
            platform_post_id=r[4], published_at=parse_time(r[5]), title=title_of(r[7]),
            url=r[6], hashtags=tags, values=latest.get(r[0], {}), tracking=r[8], note=r[9]))
    return out


def _latest(conn: sqlite3.Connection) -> dict[int, dict[str, float]]:
    """Each target's newest value of each metric (SQLite returns the row of the max)."""
    out: dict[int, dict[str, float]] = defaultdict(dict)
    for target_id, metric, _at, value in conn.execute(
            "SELECT target_id, metric, max(at), value FROM metric_samples"
            " GROUP BY target_id, metric"):
        out[target_id][metric] = value
    return out


def _series(conn: sqlite3.Connection, posts: Sequence[PostPerformance], metric: str
            ) -> list[Series]:
    if not posts:
        return []
    wanted = {p.target_id: p for p in posts}
    if metric == ENGAGEMENT:
        marks = ",".join("?" * len(ENGAGEMENT_METRICS))
        cur = conn.execute(
            "SELECT target_id, at, sum(value) FROM metric_samples"
            f" WHERE metric IN ({marks}) GROUP BY target_id, at ORDER BY target_id, at",
            ENGAGEMENT_METRICS)
    else:
        cur = conn.execute(
            "SELECT target_id, at, value FROM metric_samples WHERE metric = ?"
            " ORDER BY target_id, at", (metric,))
    data = _array(cur)
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
    totals: dict[str, float] = defaultdict(float)
    for post in members:
        for name, value in post.values.items():
            totals[name] += value
    engaged = [e for e in (p.engagement for p in members) if e is not None]
    rates = [r for r in (p.engagement_rate for p in members) if r is not None]
    if engaged:
        totals[ENGAGEMENT] = float(sum(engaged))
    return GroupTotals(key, label, len(members), dict(totals),
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
    for post in posts:
        value = post.engagement
        if value is None:
            continue
        local = post.published_at.astimezone(tz)
        sums[local.weekday(), local.hour] += value
        counts[local.weekday(), local.hour] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return Heatmap(values, counts, zone)


def top_posts(posts: Iterable[PostPerformance], n: int = 10,
              metric: str = ENGAGEMENT) -> list[PostPerformance]:
    """The ``n`` posts with the highest ``metric`` (engagement by default)."""
    def score(p: PostPerformance) -> float:
        value = p.engagement if metric == ENGAGEMENT else p.values.get(metric)
        return -1.0 if value is None else value

    return sorted(posts, key=score, reverse=True)[:n]
