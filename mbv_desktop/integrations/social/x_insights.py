"""Reading X's figures for the app: post metrics, account figures and trends (API v2,
providers.md §4).

Calls (each with the account's user token)
    ``GET /2/tweets?ids=…&tweet.fields=public_metrics`` (up to 100 ids)
        ``impression_count`` → views, ``like_count`` → likes, ``reply_count`` → comments,
        ``repost_count`` or ``retweet_count`` (the 2026 OpenAPI's name and the live API's) →
        reposts, ``quote_count`` → quotes, ``bookmark_count`` → bookmarks. A figure X leaves out
        (lower access levels give no impressions or bookmarks) stays out: never a zero.
        A post in ``errors[]`` as ``resource-not-found`` is deleted; another problem for one
        post is that post's ``note``. Every id asked gets one :class:`PostStats`, in order.
    ``GET /2/users/me?user.fields=public_metrics``
        followers, following, posts (``post_count`` or ``tweet_count``), listed.
    ``GET /2/trends/by/woeid/{woeid}?max_trends=&trend.fields=trend_name,tweet_count``
        :class:`Trend` with ``volume`` from ``tweet_count`` (``None`` when X gives none). A place
        X does not know (``resource-not-found`` instead of data) is :class:`NotFound`.
    ``GET /2/users/personalized_trends?personalized_trend.fields=…``
        :class:`Trend` with ``category`` and ``volume`` read from ``post_count``
        (``"12.5K posts"`` → 12500).

Reads are idempotent, so the shared policy retries 5xx and broken connections (and a 429 whose
wait is short); it has no local rate limit, as X counts reads per endpoint and says so.

Errors
    429 → ``RateLimited`` with ``retry_after`` from ``Retry-After`` or else
    ``x-rate-limit-reset`` (the policy reads both); 401 → ``AuthExpired``; 403 (a missing
    scope, ``client-forbidden``, ``not-authorized-for-resource``, ``usage-capped``) →
    :class:`InsightsNotAllowed` in a sentence a creator understands; another 4xx →
    ``Rejected``; 5xx, timeouts, connections → ``ProviderUnavailable``. No token ever appears
    in a message or a log line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from mbv_desktop.core.analytics import Trend
from mbv_desktop.core.errors import (
    InvalidInput,
    NotFound,
    ProviderError,
    RateLimited,
    Rejected,
    describe_wait,
)
from mbv_desktop.integrations.http import MetricsRegistry, ProviderClient, ProviderPolicy

from ._common import (
    READ_ERROR_STATUSES,
    answer,
    bearer,
    id_of,
    json_object,
    noted,
    reason_text,
    text_of,
)
from .insights import InsightsNotAllowed, PostStats

__all__ = ["MAX_BATCH", "PROVIDER", "XInsights", "parse_post_count", "x_read_policy"]

PROVIDER = "x"
#: ``GET /2/tweets`` takes 1 to 100 ids.
MAX_BATCH = 100
MAX_TRENDS = 50

_ID = re.compile(r"^[0-9]{1,19}$")
#: Problem types end in ``/2/problems/<kind>``; the host has been api.twitter.com and api.x.com.
_PROBLEMS = "/2/problems/"
#: How long X's monthly usage cap holds collection (it lifts with the next month's allowance).
USAGE_CAP_HOLD_S = 24 * 3600.0
_NOT_FOUND = "resource-not-found"

#: X's ``public_metrics`` names → the app's metric names (first name present wins).
_POST_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("views", ("impression_count",)),
    ("likes", ("like_count",)),
    ("comments", ("reply_count",)),
    ("reposts", ("repost_count", "retweet_count")),
    ("quotes", ("quote_count",)),
    ("bookmarks", ("bookmark_count",)),
)
_ACCOUNT_METRICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("followers", ("followers_count",)),
    ("following", ("following_count",)),
    ("posts", ("post_count", "tweet_count")),
    ("listed", ("listed_count",)),
)
_COUNT = re.compile(r"^\s*([0-9][0-9,]*(?:\.[0-9]+)?)\s*([KkMmBb]?)\b")
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}

_POSTS_WHAT = "the posts' figures"
_ACCOUNT_WHAT = "the account's figures"
_TRENDS_WHAT = "trends"
_PERSONAL_WHAT = "personalised trends"


def x_read_policy() -> ProviderPolicy:
    """X for reading: the default retries for idempotent GETs, no local rate limit (X's read
    limits are per endpoint and per user, and its answers say how many are left)."""
    return ProviderPolicy(PROVIDER, deadline=60.0)


class XInsights:
    """Figures and trends from X for any connected account (the token comes with each call)."""

    platform = PROVIDER
    max_batch = MAX_BATCH

    def __init__(self, api_base: str, *, client: ProviderClient | None = None,
                 registry: MetricsRegistry | None = None) -> None:
        self._api = api_base.rstrip("/")
        self._client = client if client is not None \
            else ProviderClient(x_read_policy(), registry=registry)

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the contract ----------------------------------------------------------------------------

    async def post_stats(self, account_id: str, token: str,
                         post_ids: Sequence[str]) -> list[PostStats]:
        """Figures for each of ``post_ids`` (at most :data:`MAX_BATCH`), one entry per id."""
        ids = [str(post_id).strip() for post_id in post_ids]
        if len(ids) > self.max_batch:
            raise InvalidInput(f"X gives the figures of at most {self.max_batch} posts at a "
                               f"time, not {len(ids)}.")
        wanted = list(dict.fromkeys(post_id for post_id in ids if _ID.match(post_id)))
        if not wanted:
            return [_stats(post_id, {}, {}) for post_id in ids]
        body = await self._get("/2/tweets", token, _POSTS_WHAT,
                               {"ids": ",".join(wanted), "tweet.fields": "public_metrics"})
        found = {tweet_id: item for item in _objects(body.get("data"))
                 if (tweet_id := id_of(item.get("id"))) is not None}
        problems: dict[str, dict[str, Any]] = {}
        for error in _objects(body.get("errors")):
            about = id_of(error.get("resource_id")) or id_of(error.get("value"))
            if about is not None:
                problems.setdefault(about, error)
        return [_stats(post_id, found, problems) for post_id in ids]

    async def account_stats(self, account_id: str, token: str) -> Mapping[str, float]:
        """``followers``, ``following``, ``posts`` and ``listed``, those X gives."""
        body = await self._get("/2/users/me", token, _ACCOUNT_WHAT,
                               {"user.fields": "public_metrics"})
        data = body.get("data")
        if not isinstance(data, dict):
            raise noted(self._client, Rejected(
                "no account in the answer", provider=PROVIDER,
                message=f"X did not give {_ACCOUNT_WHAT}: "
                        f"{_first_reason(body) or 'it named no account'}."))
        return _values(data.get("public_metrics"), _ACCOUNT_METRICS)

    async def trends(self, token: str, woeid: int = 1, max_trends: int = 20) -> list[Trend]:
        """What is trending at a place (a WOEID: 1 is worldwide), most posted about first."""
        if isinstance(woeid, bool) or not isinstance(woeid, int) or woeid <= 0:
            raise InvalidInput("A place for X trends is a positive WOEID number.")
        if isinstance(max_trends, bool) or not isinstance(max_trends, int) \
                or not 1 <= max_trends <= MAX_TRENDS:
            raise InvalidInput(f"X gives 1 to {MAX_TRENDS} trends at a time.")
        body = await self._get(f"/2/trends/by/woeid/{woeid}", token, _TRENDS_WHAT,
                               {"max_trends": str(max_trends),
                                "trend.fields": "trend_name,tweet_count"})
        data = body.get("data")
        if not isinstance(data, list):
            if any(_kind(error) == _NOT_FOUND for error in _objects(body.get("errors"))):
                raise NotFound(f"X has no trends for the place with WOEID {woeid}; pick "
                               "another place.")
            return []
        return [Trend(name, volume=_count(item.get("tweet_count")))
                for item in _objects(data) if (name := text_of(item.get("trend_name")))]

    async def personalized_trends(self, token: str) -> list[Trend]:
        """What is trending for the signed-in account (X picks by its interests and place)."""
        body = await self._get(
            "/2/users/personalized_trends", token, _PERSONAL_WHAT,
            {"personalized_trend.fields": "category,post_count,trend_name,trending_since"})
        return [Trend(name, volume=parse_post_count(item.get("post_count")),
                      category=text_of(item.get("category")) or "")
                for item in _objects(body.get("data"))
                if (name := text_of(item.get("trend_name")))]

    # --- one request -----------------------------------------------------------------------------

    async def _get(self, path: str, token: str, what: str,
                   params: Mapping[str, str]) -> dict[str, Any]:
        try:
            response = await self._client.request(
                "GET", f"{self._api}{path}", params=dict(params), headers=bearer(token),
                allow_statuses=READ_ERROR_STATUSES)
        except RateLimited as error:
            raise RateLimited(error.retry_after, provider=PROVIDER, status=error.status,
                              message=f"X is limiting how often the app may read {what}; it "
                                      f"tries again {describe_wait(error.retry_after)}."
                              ) from error
        if response.status_code >= 400:
            raise noted(self._client, _refusal(response.status_code, json_object(response),
                                               what))
        return answer(self._client, response, created=False)


# --- helpers -------------------------------------------------------------------------------------

def _objects(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _count(value: object) -> int | None:
    """A count X sent, or ``None`` (absent, negative or not a whole number)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _values(metrics: object, names: Sequence[tuple[str, Sequence[str]]]) -> dict[str, float]:
    """The app's names for the counts present in ``metrics`` (absent ones stay absent)."""
    if not isinstance(metrics, dict):
        return {}
    values: dict[str, float] = {}
    for name, sources in names:
        count = next((c for source in sources
                      if (c := _count(metrics.get(source))) is not None), None)
        if count is not None:
            values[name] = count
    return values


def _kind(problem: Mapping[str, Any]) -> str | None:
    """``resource-not-found`` from a problem's ``type``; ``None`` for ``about:blank``/none."""
    kind = text_of(problem.get("type"))
    if not kind or _PROBLEMS not in kind:
        return None
    return kind.rsplit(_PROBLEMS, 1)[1] or None


def _stats(post_id: str, found: Mapping[str, Mapping[str, Any]],
           problems: Mapping[str, Mapping[str, Any]]) -> PostStats:
    if not _ID.match(post_id):
        return PostStats(post_id, note="This is not an X post id, so X has no figures for it.")
    tweet = found.get(post_id)
    if tweet is not None:
        values = _values(tweet.get("public_metrics"), _POST_METRICS)
        return PostStats(post_id, values, note="" if values else "X gave no figures for this "
                                                                   "post.")
    problem = problems.get(post_id)
    if problem is None:
        return PostStats(post_id, note="X did not answer for this post.")
    kind = _kind(problem)
    if kind == _NOT_FOUND:
        return PostStats(post_id, deleted=True)
    if kind == "not-authorized-for-resource":
        return PostStats(post_id, note="X does not let this account see the post (it may be "
                                       "protected or withheld).")
    if kind == "resource-unavailable":
        return PostStats(post_id, note="X has made the post unavailable (its account may be "
                                       "suspended).")
    reason = text_of(problem.get("detail")) or text_of(problem.get("title")) or "no reason given"
    return PostStats(post_id, note=f"X gave no figures for this post: {reason_text(reason)}.")


def _first_reason(body: Mapping[str, Any] | None) -> str | None:
    """The reason in an error answer: a problem's ``detail``, an ``errors[]`` entry's, or the
    plain ``{"code", "message"}`` error's."""
    if not body:
        return None
    reason = text_of(body.get("detail")) or text_of(body.get("message"))
    for error in _objects(body.get("errors"))[:1]:
        reason = reason or text_of(error.get("detail")) or text_of(error.get("message"))
    reason = reason or text_of(body.get("title"))
    return reason_text(reason) if reason else None


def _refusal(status: int, body: Mapping[str, Any] | None, what: str) -> ProviderError:
    """X's 4xx answer (other than 401 and 429, which the policy maps) in a sentence."""
    body = body or {}
    kind = _kind(body) or next((k for e in _objects(body.get("errors"))[:1]
                                if (k := _kind(e))), None)
    reason = _first_reason(body) or f"HTTP {status}"
    if kind == "usage-capped":  # a cap, not a missing permission: wait, don't stop for good
        return RateLimited(USAGE_CAP_HOLD_S, provider=PROVIDER,
                           message=_not_allowed(kind, what))
    if status == 403:
        return InsightsNotAllowed(reason, provider=PROVIDER, status=status, code=kind,
                                  message=_not_allowed(kind, what))
    return Rejected(reason, provider=PROVIDER, status=status, code=kind,
                    message=f"X refused to give {what}: {reason}.")


def _not_allowed(kind: str | None, what: str) -> str:
    if kind == "client-forbidden":
        return (f"X does not give {what} to this app: its X developer access does not include "
                "them.")
    if kind == "not-authorized-for-resource":
        return f"X does not let this account see {what}."
    if kind == "usage-capped":
        return (f"X stopped giving {what} for now: the app has used up its X API allowance "
                "for the month.")
    if what == _PERSONAL_WHAT:
        return (f"X did not give {what}: X keeps them for accounts with X Premium, or the "
                "account did not allow the app to read its profile. Reconnect X to allow it.")
    return (f"X did not give {what}: the account did not allow the app to read its posts and "
            "profile. Reconnect X and allow it.")


def parse_post_count(value: object) -> int | None:
    """X's ``post_count`` text as a number: ``"12.5K posts"`` → 12500, ``"1,204 posts"`` →
    1204, ``"2M posts"`` → 2000000; ``None`` when absent or unreadable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _COUNT.match(value)
    if match is None:
        return None
    number = float(match.group(1).replace(",", ""))
    return round(number * _SCALE[match.group(2).lower()])
