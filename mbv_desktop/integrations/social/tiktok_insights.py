"""Reading a TikTok creator's video and account figures through TikTok's Display API.

Calls (``Authorization: Bearer <user access token>``; answers in TikTok's envelope
``{"data": {…}, "error": {"code", "message", "log_id"}}``, ``code: "ok"`` on success)
    ``POST /v2/video/query/?fields=id,create_time,view_count,like_count,comment_count,
    share_count`` with ``{"filters": {"video_ids": [up to 20 ids]}}`` (scope ``video.list``)
    → ``data.videos[]``; a video TikTok does not show the app is simply left out.
    ``GET /v2/user/info/?fields=follower_count,following_count,likes_count,video_count``
    (scope ``user.info.stats``) → ``data.user``.

Names (:data:`mbv_desktop.core.analytics.METRICS`): ``view_count`` → views, ``like_count`` →
likes, ``comment_count`` → comments, ``share_count`` → shares; the account's
``follower_count`` → followers, ``following_count`` → following, ``likes_count`` → likes (all
its videos together), ``video_count`` → posts. A figure TikTok leaves out stays out (never 0).

The video query is a POST that only reads, so it is sent as ``idempotent=True``: the shared
policy may repeat it after a 5xx, a timeout or a 429 (TikTok knows no idempotency key, and
none is sent). The post ids are the ones :class:`~.tiktok.TikTokPublisher` returns, TikTok's
``publicaly_available_post_id``; a post it could only identify by its ``publish_id`` (a
private video TikTok gave no public id) cannot be looked up, and comes back without figures
and with a note, nothing being asked.

Errors: ``scope_not_authorized`` / ``scope_permission_missed`` → :class:`InsightsNotAllowed`
(reconnect TikTok and allow the permission); ``access_token_invalid`` (and any other 401) →
``AuthExpired``; ``rate_limit_exceeded`` → ``RateLimited`` (with TikTok's wait, else the rest
of its one-minute window), never retried early; ``internal_error`` / 5xx →
``ProviderUnavailable``; others → ``Rejected``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
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
from mbv_desktop.integrations.http import (
    MetricsRegistry,
    ProviderClient,
    ProviderPolicy,
    parse_retry_after,
)

from ._common import READ_ERROR_STATUSES, bearer, id_of, json_object, noted, reason_text, text_of
from .insights import InsightsNotAllowed, PostStats

__all__ = ["MAX_BATCH", "PROVIDER", "TikTokInsights", "insights_policy"]

_log = logging.getLogger(__name__)

PROVIDER = "tiktok"
#: TikTok's ``video/query`` takes at most this many ids.
MAX_BATCH = 20
#: TikTok documents 600 calls a minute for ``video/query`` and ``user/info``.
RATE_LIMIT = (600, 60.0)

VIDEO_FIELDS: Mapping[str, str] = {
    "view_count": "views", "like_count": "likes", "comment_count": "comments",
    "share_count": "shares",
}
ACCOUNT_FIELDS: Mapping[str, str] = {
    "follower_count": "followers", "following_count": "following", "likes_count": "likes",
    "video_count": "posts",
}
#: What each scope lets the app read, for "reconnect TikTok and allow …".
_SCOPE_WORDS = {
    "video.list": "it to read your videos (the video.list permission)",
    "user.info.stats": "it to read your profile's statistics (the user.info.stats permission)",
}
_SCOPE_CODES = frozenset({"scope_not_authorized", "scope_permission_missed",
                          "token_not_authorized_for_specified_scope"})
#: 401 is read here too: TikTok sends "missing permission" and "bad token" both as 401.
_READ_STATUSES = READ_ERROR_STATUSES | {401, 429}
#: TikTok's rate-limit windows are one minute long (the wait when a 429 names none).
WINDOW_S = 60.0
_VIDEO_ID = re.compile(r"[0-9]{1,32}")


def insights_policy() -> ProviderPolicy:
    """TikTok reads: the default deadline, TikTok's documented 600 calls a minute, and no
    retry of a 429: TikTok's windows last a minute and name no wait, so an early retry could
    only be refused again (the client reads the 429 and waits out the window instead)."""
    return ProviderPolicy(PROVIDER, rate_limit=RATE_LIMIT,
                          retry_statuses=frozenset({408, 500, 502, 503, 504}))


class TikTokInsights:
    """Figures of a creator's TikTok videos and account (an :class:`InsightsReader`); the
    token comes with each call."""

    platform = PROVIDER
    max_batch = MAX_BATCH

    def __init__(self, api_base: str, *, client: ProviderClient | None = None,
                 registry: MetricsRegistry | None = None) -> None:
        self._api = api_base.rstrip("/")
        self._client = client if client is not None \
            else ProviderClient(insights_policy(), registry=registry)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def post_stats(self, account_id: str, token: str,
                         post_ids: Sequence[str]) -> list[PostStats]:
        """One :class:`PostStats` per id asked, in order. A video TikTok leaves out of its
        answer is ``deleted=True``: TikTok does not tell a deleted video from one the creator
        made private (or one that is not theirs); either way its figures are gone."""
        asked = [str(post_id) for post_id in post_ids]
        if len(asked) > MAX_BATCH:
            raise InvalidInput(f"TikTok gives the figures of at most {MAX_BATCH} videos at a "
                               f"time; {len(asked)} were asked for.")
        wanted = list(dict.fromkeys(p for p in asked if _VIDEO_ID.fullmatch(p)))
        found = await self._videos(token, wanted) if wanted else {}
        return [_post_stats(post_id, found) for post_id in asked]

    async def account_stats(self, account_id: str, token: str) -> Mapping[str, float]:
        """``followers``, ``following``, ``likes`` and ``posts``, as far as TikTok gives them."""
        data = await self._call("GET", "/v2/user/info/", token, scope="user.info.stats",
                                what="the account's figures",
                                params={"fields": ",".join(ACCOUNT_FIELDS)})
        user = data.get("user")
        if not isinstance(user, dict):
            raise self._unreadable("the account's figures")
        return _figures(user, ACCOUNT_FIELDS)

    # --- calls -------------------------------------------------------------------------------

    async def _videos(self, token: str, ids: list[str]) -> dict[str, Mapping[str, Any]]:
        """TikTok's video objects for ``ids`` (those it shows), by id."""
        data = await self._call("POST", "/v2/video/query/", token, scope="video.list",
                                what="the videos' figures",
                                params={"fields": ",".join(("id", "create_time",
                                                            *VIDEO_FIELDS))},
                                json={"filters": {"video_ids": ids}})
        videos = data.get("videos")
        if not isinstance(videos, list):
            # Not "every video was deleted": an answer without its list says nothing.
            raise self._unreadable("the videos' figures")
        found: dict[str, Mapping[str, Any]] = {}
        for video in videos:
            video_id = id_of(video.get("id")) if isinstance(video, dict) else None
            if video_id is not None:
                found[video_id] = video
        return found

    async def _call(self, method: str, path: str, token: str, *, scope: str, what: str,
                    **kwargs: Any) -> dict[str, Any]:
        """One read; returns the envelope's ``data``. TikTok's ``error`` (on any status)
        becomes a project error."""
        response = await self._client.request(
            method, f"{self._api}{path}", idempotent=True, allow_statuses=_READ_STATUSES,
            headers=bearer(token), **kwargs)
        envelope = json_object(response)
        if envelope is None:
            if response.status_code < 400:
                raise self._unreadable(what)
            raise noted(self._client, _status_error(response, what))
        if response.status_code >= 400 or _error_code(envelope) != "ok":
            raise noted(self._client, _error(response, envelope, what, scope))
        data = envelope.get("data")
        return dict(data) if isinstance(data, dict) else {}

    def _unreadable(self, what: str) -> ProviderError:
        return noted(self._client, ProviderUnavailable(
            f"TikTok answered with something the app could not read for {what}; the app will "
            "try again.", provider=PROVIDER))


# --- answers -------------------------------------------------------------------------------------

def _post_stats(post_id: str, found: Mapping[str, Mapping[str, Any]]) -> PostStats:
    if not _VIDEO_ID.fullmatch(post_id):
        return PostStats(post_id, note=(
            "TikTok gave this video no public id (private videos and drafts get none), so its "
            "figures cannot be read."))
    video = found.get(post_id)
    if video is None:
        return PostStats(post_id, deleted=True, certain=False, note=(
            "TikTok no longer shows this video: it was deleted, or made private."))
    return PostStats(post_id, values=_figures(video, VIDEO_FIELDS))


def _figures(raw: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, float]:
    """The counts present in ``raw`` under the app's names; a missing or odd one is left out."""
    values: dict[str, float] = {}
    for field, name in names.items():
        value = raw.get(field)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            values[name] = value
    return values


def _error_code(envelope: Mapping[str, Any]) -> str | None:
    error = envelope.get("error")
    if not isinstance(error, dict):
        return "ok"  # no error object: nothing went wrong
    return text_of(error.get("code"))


def _status_error(response: httpx.Response, what: str) -> ProviderError:
    """An error answer without TikTok's envelope (a proxy, a gateway)."""
    status = response.status_code
    if status == 401:
        return AuthExpired(provider=PROVIDER, status=status)
    return Rejected(f"HTTP {status}", provider=PROVIDER, status=status,
                    message=f"TikTok refused the request for {what} (HTTP {status}).")


def _error(response: httpx.Response, envelope: Mapping[str, Any], what: str,
           scope: str) -> ProviderError:
    status = response.status_code
    error = envelope.get("error")
    error = error if isinstance(error, dict) else {}
    code = text_of(error.get("code")) or f"HTTP {status}"
    text = reason_text(text_of(error.get("message")) or code.replace("_", " "))
    if code in _SCOPE_CODES:
        return InsightsNotAllowed(text, provider=PROVIDER, status=status, code=code, message=(
            f"TikTok has not allowed the app to read {what}; reconnect TikTok and allow "
            f"{_SCOPE_WORDS.get(scope, scope)}."))
    if code == "access_token_invalid" or status == 401:
        return AuthExpired(provider=PROVIDER, status=status)
    if code == "rate_limit_exceeded" or status == 429:
        wait = parse_retry_after(response.headers) or WINDOW_S
        return RateLimited(wait, provider=PROVIDER, status=status, message=(
            f"TikTok is limiting requests from the app; the app will try again "
            f"{describe_wait(wait)}."))
    if code == "internal_error" or status >= 500:
        return ProviderUnavailable(provider=PROVIDER, status=status,
                                   retry_after=parse_retry_after(response.headers))
    _log.debug("tiktok: %s refused (%s)", what, code)
    return Rejected(text, provider=PROVIDER, status=status, code=code,
                    message=f"TikTok refused the request for {what}: {text}.")
