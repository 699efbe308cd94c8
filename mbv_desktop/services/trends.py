"""Trending topics, and hashtag suggestions for a draft.

Trends: only X offers them to a creator's app (by place, then those personalised for the
account, where X gives them: its limits are tight, so they are read with the others at most
every :data:`FRESH_FOR`);
Instagram and TikTok have no trends API, and the panel says so in those words
(:data:`mbv_desktop.core.analytics.TRENDS_PLATFORMS`). Fetched trends are kept in SQLite for
:data:`FRESH_FOR`; when X can't be reached the last ones are shown, marked stale.

Suggestions for a draft come from two places, each suggestion saying which:

- the creator's own best posts: hashtags used in the posts with the most engagement, weighted
  by how close each post is in meaning to the draft (embeddings, from the configured AI
  provider) and how well it did;
- trends: trending hashtags close in meaning to the draft.

Without an AI provider, closeness falls back to shared words, and the result says so.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import zlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, cast

from mbv_desktop.config.settings import Settings
from mbv_desktop.core.analytics import TRENDS_PLATFORMS, Trend
from mbv_desktop.core.drafts import format_time, parse_time
from mbv_desktop.core.errors import InvalidInput, MbvError
from mbv_desktop.core.similarity import cosine, normalise
from mbv_desktop.services.analytics_queries import (
    AnalyticsFilter,
    AnalyticsQueries,
    hashtags_of,
    top_posts,
)
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.social.x_insights import XInsights
    from mbv_desktop.services.accounts import AccountsService
    from mbv_desktop.services.generation import GenerationService
    from mbv_desktop.services.metrics_collection import MetricsCollector

log = logging.getLogger(__name__)

FRESH_FOR = timedelta(minutes=15)
#: How many of the creator's best posts suggestions look at.
BEST_POSTS = 40
_WORD = re.compile(r"[a-z0-9]{3,}")


@dataclass(frozen=True)
class TrendsResult:
    provider: str
    available: bool
    explanation: str
    items: tuple[Trend, ...] = ()
    fetched_at: datetime | None = None
    stale: bool = False
    problem: str = ""


@dataclass(frozen=True)
class HashtagSuggestion:
    tag: str  # without '#'
    score: float
    reason: str


@dataclass(frozen=True)
class Suggestions:
    items: list[HashtagSuggestion]
    by_meaning: bool  # False: embeddings were not available; words were compared instead


class TrendsService:
    def __init__(self, worker: StoreWorker, settings: Settings, accounts: AccountsService,
                 collector: MetricsCollector, queries: AnalyticsQueries,
                 generation: GenerationService | None = None) -> None:
        self._worker = worker
        self._settings = settings
        self._accounts = accounts
        self._collector = collector
        self._queries = queries
        self._generation = generation

    async def trends(self, provider: str, *, refresh: bool = False) -> TrendsResult:
        """The platform's trends (cached for :data:`FRESH_FOR`), or why there are none."""
        if provider not in TRENDS_PLATFORMS:
            raise InvalidInput(f"'{provider}' is not a platform the app posts to.")
        explanation = TRENDS_PLATFORMS[provider]
        if provider != "x":
            return TrendsResult(provider, False, explanation)
        woeid = self._settings.get_int("analytics.trends_woeid")
        location = str(woeid)
        cached = await self._worker.call(lambda c: _cached(c, provider, location), write=False)
        now = datetime.now(UTC)
        if cached and not refresh and now - cached[0] < FRESH_FOR:
            return TrendsResult(provider, True, explanation, cached[1], cached[0])
        try:
            items = await self._fetch_x(woeid)
        except MbvError as exc:
            log.info("analytics: X trends not read: %s", exc)
            if cached:
                return TrendsResult(provider, True, explanation, cached[1], cached[0],
                                    stale=True, problem=str(exc))
            return TrendsResult(provider, True, explanation, problem=str(exc))
        await self._worker.call(lambda c: _store(c, provider, location, items, now))
        return TrendsResult(provider, True, explanation, tuple(items), now)

    async def _fetch_x(self, woeid: int) -> list[Trend]:
        accounts = [a for a in await self._accounts.accounts()
                    if a.provider == "x" and a.role == "publish"]
        if not accounts:
            raise InvalidInput("Connect an X account to see what is trending on X.")
        account = accounts[0]
        token = await self._accounts.access_token("x", account.account_id)
        reader = cast("XInsights", self._collector.reader("x"))
        items = list(await reader.trends(token, woeid=woeid))
        try:  # and what X picks for this account, where it gives that
            personal = await reader.personalized_trends(token)
        except MbvError as exc:
            log.info("analytics: X personalised trends not read: %s", exc)
            personal = []
        seen = {t.name.lower() for t in items}
        return items + [t for t in personal if t.name.lower() not in seen]

    async def suggest(self, text: str, limit: int = 8) -> Suggestions:
        """Hashtags for a draft's ``text``, best first, each with its reason."""
        if not text.strip():
            raise InvalidInput("Write something in the draft first.")
        used = set(hashtags_of(text))
        posts = top_posts([p for p in await self._queries.posts(AnalyticsFilter())
                           if p.hashtags], BEST_POSTS)
        trends = await self.trends("x")
        trend_tags = [t for t in trends.items if t.is_hashtag]
        texts = [text] + [p.title for p in posts] + [t.name for t in trend_tags]
        vectors = await self._embed(texts)
        by_meaning = vectors is not None
        if vectors is None:
            vectors = [_bag(t) for t in texts]
        draft, post_vecs = vectors[0], vectors[1:1 + len(posts)]
        trend_vecs = vectors[1 + len(posts):]
        scores: dict[str, float] = defaultdict(float)
        reasons: dict[str, str] = {}
        best = max((p.engagement or 0.0 for p in posts), default=0.0) or 1.0
        for post, vec in zip(posts, post_vecs, strict=True):
            closeness = max(0.0, _similarity(draft, vec, by_meaning))
            weight = closeness * (0.5 + 0.5 * (post.engagement or 0.0) / best)
            for tag in post.hashtags:
                if tag in used or weight <= 0:
                    continue
                if weight > scores[tag]:
                    reasons[tag] = (f"in your post “{post.title[:40]}” "
                                    f"({int(post.engagement or 0):,} engagements)")
                scores[tag] = max(scores[tag], weight)
        for trend, vec in zip(trend_tags, trend_vecs, strict=True):
            tag = trend.name.lstrip("#").lower()
            closeness = max(0.0, _similarity(draft, vec, by_meaning))
            weight = closeness * 0.9
            if tag in used or weight <= 0:
                continue
            if weight > scores[tag]:
                volume = f", {trend.volume:,} posts" if trend.volume else ""
                reasons[tag] = f"trending on X now{volume}"
            scores[tag] = max(scores[tag], weight)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return Suggestions([HashtagSuggestion(tag, round(score, 3), reasons[tag])
                            for tag, score in ranked if score > 0], by_meaning)

    async def _embed(self, texts: list[str]) -> list[list[float]] | None:
        if self._generation is None:
            return None
        try:
            _model, vectors = await self._generation.embed(texts)
        except MbvError as exc:
            log.info("analytics: suggestions compare words, embeddings failed: %s", exc)
            return None
        return [normalise(v) for v in vectors]


def _bag(text: str) -> list[float]:
    """A tiny stand-in for an embedding: hashed word counts (used only without AI)."""
    vec = [0.0] * 64
    for word in _WORD.findall(text.lower()):
        vec[zlib.crc32(word.encode()) % 64] += 1.0
    return normalise(vec)


def _similarity(a: list[float], b: list[float], by_meaning: bool) -> float:
    score = cosine(a, b)
    return score if by_meaning else math.sqrt(max(score, 0.0))


def _cached(conn: sqlite3.Connection, provider: str, location: str
            ) -> tuple[datetime, tuple[Trend, ...]] | None:
    row = conn.execute("SELECT fetched_at, items FROM trends WHERE provider = ? AND location = ?",
                       (provider, location)).fetchone()
    if row is None:
        return None
    items = tuple(Trend(i["name"], i.get("volume"), i.get("category", ""))
                  for i in json.loads(row[1]))
    return parse_time(row[0]), items


def _store(conn: sqlite3.Connection, provider: str, location: str, items: list[Trend],
           now: datetime) -> None:
    payload = json.dumps([{"name": t.name, "volume": t.volume, "category": t.category}
                          for t in items])
    conn.execute("INSERT OR REPLACE INTO trends (provider, location, fetched_at, items)"
                 " VALUES (?, ?, ?, ?)", (provider, location, format_time(now), payload))
