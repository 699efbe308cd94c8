"""Reading an Instagram professional account's insights through the Graph API (providers.md §5),
with the same Facebook Login user token the publisher uses (``Authorization: Bearer``, never in
a URL; all paths under ``{graph_base}/v21.0``).

Per media
    Graph has no call for several media at once, so :meth:`InstagramInsights.post_stats` makes
    one ``GET /{media-id}/insights?metric=…&period=lifetime`` per media, a few at a time
    (``concurrency``, 4). Asking a metric the media's type does not take fails the whole call,
    and a set every type accepts (``views, reach, shares``) would lose likes, comments and saves,
    so the client first asks the media its type once (``GET /{media-id}?fields=media_type,
    media_product_type``) and remembers it in memory (a type never changes):

    ========================  ==========================================  ===================
    media_product_type        insights metrics asked                       app metrics
    ========================  ==========================================  ===================
    FEED (images, carousels)  views, reach, likes, comments, shares, saved  saved → saves
    REELS                     the same                                     (views are plays)
    STORY                     views, reach, replies, shares                replies → comments
    anything else             views, reach
    ========================  ==========================================  ===================

    A metric missing from the answer is left out, never 0. Not errors, but a :class:`PostStats`:
    the media is gone (code 100, subcode 33: "does not exist") → ``deleted=True``; "(#10) Not
    enough viewers for the media to show insights" → no values and a note; a story older than a
    day (Instagram keeps story insights 24 hours: an empty ``data``) → no values and a note.

Per account
    :meth:`~InstagramInsights.account_stats`: ``GET /{ig-user-id}?fields=followers_count,
    follows_count,media_count`` → ``followers``, ``following``, ``posts``; then ``GET
    /{ig-user-id}/insights?metric=reach,views&period=day&metric_type=total_value`` → ``reach``
    and ``views`` of the last day. Without the insights permission the account's own counts
    are still given (they need none) and reach/views are left out.

Errors (Graph ``{"error": {"message", "type", "code", "error_subcode", "is_transient"}}``, read
from HTTP 400 and 403 answers; the shared policy handles 401, 429 and 5xx)
    190/102 → ``AuthExpired``; 4, 17, 32, 613, 80001, 80002 (throttling) → ``RateLimited`` with
    ``retry_after`` from ``X-Business-Use-Case-Usage``'s ``estimated_time_to_regain_access``
    (minutes) when given; 10 (other than "not enough viewers") and 200–299 →
    :class:`InsightsNotAllowed` asking to reconnect Instagram and allow insights; 1, 2 or
    ``is_transient`` → ``ProviderUnavailable``; anything else → ``Rejected``. In a batch the
    first throttling, sign-in, permission or outage error stops the media not yet asked and is
    raised (partial figures are not returned: collection waits and asks again, no gap becomes
    zeros); a refusal about one post only (say, media made before the account became a
    business account) becomes that post's note and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Rejected,
    describe_wait,
)
from mbv_desktop.integrations.http import MetricsRegistry, ProviderClient, ProviderPolicy

from ._common import READ_ERROR_STATUSES, answer, bearer, noted, reason_text, text_of
from ._graph import (
    AUTH_CODES,
    GRAPH_VERSION,
    THROTTLE_CODES,
    GraphFailure,
    graph_api,
    graph_failure,
)
from .insights import InsightsNotAllowed, PostStats

__all__ = ["MAX_BATCH", "PROVIDER", "InstagramInsights", "insights_policy"]

_log = logging.getLogger(__name__)

PROVIDER = "instagram"
MAX_BATCH = 25
CONCURRENCY = 4
#: Media types remembered (a few bytes each; the oldest are forgotten first).
TYPE_MEMORY = 4096

#: Insights metrics asked for by kind of media (see the table above).
_METRICS: dict[str, tuple[str, ...]] = {
    "feed": ("views", "reach", "likes", "comments", "shares", "saved"),
    "reels": ("views", "reach", "likes", "comments", "shares", "saved"),
    "story": ("views", "reach", "replies", "shares"),
    "other": ("views", "reach"),
}
#: Graph's metric name → the app's (:data:`mbv_desktop.core.analytics.METRICS`).
_APP_NAMES = {"views": "views", "reach": "reach", "likes": "likes", "comments": "comments",
              "shares": "shares", "saved": "saves", "replies": "comments"}
_ACCOUNT_FIELDS = {"followers_count": "followers", "follows_count": "following",
                   "media_count": "posts"}
_ACCOUNT_METRICS = ("reach", "views")

_GONE_SUBCODE = 33

_NOT_ALLOWED = ("Instagram does not let the app see this account's insights (views, reach, "
                "likes). Reconnect Instagram and allow insights when Facebook asks.")
NOTE_FEW_VIEWERS = "Instagram shows insights once enough people have seen the post."
NOTE_STORY_EXPIRED = "Instagram keeps a story's insights for 24 hours only."
NOTE_NO_FIGURES = "Instagram gave no figures for this post."


def insights_policy() -> ProviderPolicy:
    """The policy for reading insights: Instagram's name (its health shows with publishing's),
    no local rate limit (Graph's usage header and throttling codes say when to slow down)."""
    return ProviderPolicy(PROVIDER, deadline=60.0)


@dataclass(frozen=True)
class _Failure(GraphFailure):
    """A Graph error answer, read, with what it means for insights."""

    @property
    def gone(self) -> bool:
        return self.code == 100 and self.subcode == _GONE_SUBCODE

    @property
    def few_viewers(self) -> bool:
        return self.code == 10 and "not enough viewers" in self.message.lower()

    @property
    def not_allowed(self) -> bool:
        return self.code == 10 or (self.code is not None and 200 <= self.code <= 299)


class _Stop(Exception):
    """A media skipped because another one's answer already ended the batch."""


class InstagramInsights:
    """Insights of any connected Instagram professional account (``account_id`` is the
    Instagram user id; the token comes with each call)."""

    platform = PROVIDER
    max_batch = MAX_BATCH

    def __init__(self, graph_base: str, *, client: ProviderClient | None = None,
                 registry: MetricsRegistry | None = None, concurrency: int = CONCURRENCY,
                 graph_version: str = GRAPH_VERSION) -> None:
        self._api = graph_api(graph_base, graph_version)
        self._client = client if client is not None \
            else ProviderClient(insights_policy(), registry=registry)
        self._concurrency = max(1, concurrency)
        self._kinds: OrderedDict[str, str] = OrderedDict()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the contract ----------------------------------------------------------------------------

    async def post_stats(self, account_id: str, token: str,
                         post_ids: Sequence[str]) -> list[PostStats]:
        ids = list(post_ids)
        if len(ids) > self.max_batch:
            raise InvalidInput(f"Instagram insights are read {self.max_batch} posts at a time, "
                               f"not {len(ids)}.")
        gate = asyncio.Semaphore(self._concurrency)
        stopped: list[ProviderError] = []

        async def one(media_id: str) -> PostStats:
            async with gate:
                if stopped:
                    raise _Stop
                try:
                    return await self._media_stats(token, media_id)
                except (AuthExpired, InsightsNotAllowed, RateLimited, ProviderUnavailable) as error:
                    stopped.append(error)  # about the account or Instagram: stop the batch
                    raise
                except ProviderError as error:  # about this post only: the others go on
                    return PostStats(media_id, note=f"Instagram gave no figures for this post: "
                                                    f"{error}")

        results = await asyncio.gather(*(one(m) for m in ids), return_exceptions=True)
        stats: list[PostStats] = []
        for result in results:
            if isinstance(result, BaseException):
                raise _telling(stopped) if stopped else result
            stats.append(result)
        return stats

    async def account_stats(self, account_id: str, token: str) -> Mapping[str, float]:
        response = await self._get(f"/{account_id}", token,
                                   {"fields": ",".join(_ACCOUNT_FIELDS)})
        if response.status_code >= 400:
            raise noted(self._client, _error(_failure(response), "the account's figures"))
        body = answer(self._client, response, created=False)
        out: dict[str, float] = {}
        for field, name in _ACCOUNT_FIELDS.items():
            value = _number(body.get(field))
            if value is not None:
                out[name] = value
        response = await self._get(f"/{account_id}/insights", token, {
            "metric": ",".join(_ACCOUNT_METRICS), "period": "day",
            "metric_type": "total_value"})
        if response.status_code >= 400:
            failure = _failure(response)
            if not failure.not_allowed:
                raise noted(self._client, _error(failure, "the account's insights"))
            _log.info("instagram: no insights permission for an account; reach and views "
                      "left out")
            return out
        for name, value in _values(answer(self._client, response, created=False)).items():
            if name in _ACCOUNT_METRICS:
                out[name] = value
        return out

    # --- one media -------------------------------------------------------------------------------

    async def _media_stats(self, token: str, media_id: str) -> PostStats:
        kind = await self._kind(token, media_id)
        if kind is None:
            return PostStats(media_id, deleted=True)
        response = await self._get(f"/{media_id}/insights", token, {
            "metric": ",".join(_METRICS[kind]), "period": "lifetime"})
        if response.status_code >= 400:
            failure = _failure(response)
            if failure.gone:
                return PostStats(media_id, deleted=True)
            if failure.few_viewers:
                return PostStats(media_id, note=NOTE_FEW_VIEWERS)
            raise noted(self._client, _error(failure, "the post's insights"))
        raw = _values(answer(self._client, response, created=False))
        values: dict[str, float] = {}
        for name, value in raw.items():
            app_name = _APP_NAMES.get(name)
            if app_name is not None:
                values[app_name] = value
        if not values:
            return PostStats(media_id, note=NOTE_STORY_EXPIRED if kind == "story"
                             else NOTE_NO_FIGURES)
        return PostStats(media_id, values=values)

    async def _kind(self, token: str, media_id: str) -> str | None:
        """``feed``, ``reels``, ``story`` or ``other`` (asked once, then remembered); ``None``
        when the media is gone."""
        known = self._kinds.get(media_id)
        if known is not None:
            self._kinds.move_to_end(media_id)
            return known
        response = await self._get(f"/{media_id}", token,
                                   {"fields": "media_type,media_product_type"})
        if response.status_code >= 400:
            failure = _failure(response)
            if failure.gone:
                return None
            raise noted(self._client, _error(failure, "the post"))
        body = answer(self._client, response, created=False)
        kind = _kind_of(text_of(body.get("media_product_type")), text_of(body.get("media_type")))
        self._kinds[media_id] = kind
        while len(self._kinds) > TYPE_MEMORY:
            self._kinds.popitem(last=False)
        return kind

    async def _get(self, path: str, token: str, params: Mapping[str, str]) -> httpx.Response:
        return await self._client.request("GET", f"{self._api}{path}", params=dict(params),
                                          allow_statuses=READ_ERROR_STATUSES,
                                          headers=bearer(token))


# --- helpers -------------------------------------------------------------------------------------

def _kind_of(product: str | None, media_type: str | None) -> str:
    product = (product or "").upper()
    if product == "STORY":
        return "story"
    if product == "REELS":
        return "reels"
    if product == "FEED" or (not product and (media_type or "").upper() in (
            "IMAGE", "CAROUSEL_ALBUM")):
        return "feed"
    return "other"


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _values(body: Mapping[str, Any]) -> dict[str, float]:
    """Graph insights ``data`` → {metric: value}: a lifetime or total value, or a time series'
    latest; entries without a number are left out."""
    data = body.get("data")
    out: dict[str, float] = {}
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        value: object = None
        total = item.get("total_value")
        if isinstance(total, dict):
            value = total.get("value")
        else:
            series = item.get("values")
            if isinstance(series, list) and series and isinstance(series[-1], dict):
                value = series[-1].get("value")
        number = _number(value)
        if number is not None:
            out[item["name"]] = number
    return out


def _failure(response: httpx.Response) -> _Failure:
    return _Failure(**vars(graph_failure(response)))


def _error(failure: _Failure, what: str) -> ProviderError:
    """The project error for a Graph error answer about ``what``."""
    status, code = failure.status, failure.code
    text = reason_text(failure.message)
    code_text = str(code) if code is not None else None
    if code in AUTH_CODES:
        return AuthExpired(provider=PROVIDER, status=status, message=(
            "Instagram no longer accepts the saved sign-in; connect the Instagram account "
            "again."))
    if code in THROTTLE_CODES:
        wait = failure.retry_after
        return RateLimited(wait, provider=PROVIDER, status=status, message=(
            "Instagram is limiting how often the app may read insights; it will try again "
            f"{describe_wait(wait)}."))
    if failure.not_allowed:
        return InsightsNotAllowed(text, provider=PROVIDER, status=status, code=code_text,
                                  message=_NOT_ALLOWED)
    if code in (1, 2) or failure.transient:
        return ProviderUnavailable(provider=PROVIDER, status=status, retry_after=60.0,
                                   message="Instagram had a temporary problem; the app will "
                                           "try again in a minute.")
    return Rejected(text, provider=PROVIDER, status=status,
                    code=str(failure.subcode) if failure.subcode is not None else code_text,
                    message=f"Instagram refused to give {what}: {text}.")


def _telling(errors: Sequence[ProviderError]) -> ProviderError:
    """The error that says most about a batch: a sign-in or permission problem before a
    throttle before anything else."""
    for kind in (AuthExpired, InsightsNotAllowed, RateLimited):
        for error in errors:
            if isinstance(error, kind):
                return error
    return errors[0]
