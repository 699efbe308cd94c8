"""Instagram content publishing (Instagram API with Facebook Login), served by the Facebook
emulator's app (mounted at ``/facebook``, the base of ``facebook.graph_base``). Any Graph
version ``v<N>.0`` works in place of ``v21.0``; the token goes in ``access_token`` (query or
form) or ``Authorization: Bearer``; parameters may be query, form or JSON::

    POST /v21.0/{ig-user-id}/media          create a container → {"id": "<container id>"}
         image_url [, is_carousel_item=true] [, caption, alt_text, location_id, user_tags]
         media_type=REELS, video_url [, caption, share_to_feed, cover_url, thumb_offset]
         media_type=STORIES, image_url | video_url
         media_type=VIDEO, video_url, is_carousel_item=true       (carousel video item)
         media_type=CAROUSEL, children=<2–10 container ids, comma separated> [, caption]
    GET  /v21.0/{container-id}?fields=id,status_code,status
         status_code IN_PROGRESS → FINISHED, or ERROR with status "Error: Media upload has
         failed with error code <subcode>"; EXPIRED after 24 h unpublished; PUBLISHED
    POST /v21.0/{ig-user-id}/media_publish?creation_id=<container id> → {"id": "<media id>"}
    GET  /v21.0/{ig-user-id}/content_publishing_limit?fields=quota_usage,config[&since=]
         → {"data": [{"quota_usage": n, "config": {"quota_total": 50, "quota_duration":
         86400}}]}
    GET  /v21.0/{ig-user-id}/media?fields=id,caption,timestamp,permalink,media_type&limit=
         [&after=&since=&until=]  published feed posts and reels, newest first, with
         ``paging.cursors`` and ``paging.next``; ``/stories`` lists the last 24 h's stories
    GET  /v21.0/{media-id}?fields=id,caption,media_type,media_product_type,permalink,
         shortcode,timestamp,username,media_url,children{id,media_type},like_count,…
    GET  /v21.0/{media-id}/insights?metric=<comma list>[&period=lifetime]
    GET  /v21.0/{ig-user-id}/insights?metric=reach,views,follower_count,total_interactions
         &period=day[&metric_type=time_series|total_value][&since=&until=]
    GET  /v21.0/{ig-user-id}?fields=followers_count,follows_count,media_count,…
    GET  /_posts[?account=&all=true], DELETE /_posts, DELETE /_posts/{media-id},
    GET|POST /_social_settings  (sandbox)

Permissions: ``instagram_basic`` to read, plus ``instagram_content_publish`` to create and
publish (else code 10); the Instagram account must be linked to a Page of the token's user
(else code 100, subcode 33, like any unknown object).

Media URLs are fetched for real, over loopback only (``127.0.0.1``, ``::1``, ``localhost``:
the app passes the sandbox R2's or another loopback server's URLs); anything else, or a URL
that does not answer 200, is refused at once with code 9004, subcode 2207052 ("Only photo or
video can be accepted as media type.", user title "Media download has failed. The media URI
doesn't meet our requirements."). Images are checked when the container is created, as
Instagram does: JPEG only (code 36001, subcode 2207005 — the code pair is this sandbox's
choice), at most 8 MiB (36000 / 2207004), feed and carousel images between 4:5 and 1.91:1
(36003 / 2207009; stories take any shape). Videos are checked while the container processes
and end in ``ERROR`` with subcode 2207026 when they are not MP4/MOV or their length is out of
range (reels 3–900 s, story videos up to 60 s, carousel videos 3–60 s). Captions: at most
2,200 characters, 30 hashtags and 20 @-mentions (code 100, subcode 2207010).

Publishing: a container publishes once. Still processing: 9007 / 2207027 "Media ID is not
available"; ``ERROR``: -1 / 2207032 "Create media fail, please try to re-create media";
expired: -2 / 2207020; already published: code 100 "This media container has already been
published." (no subcode: Meta documents none; the container's ``status_code`` then reads
``PUBLISHED``); a carousel item on its own: code 100; over the 24-hour quota: code 9, subcode
2207042. The quota is ``quota_total`` posts per rolling ``quota_duration`` (50 per 86,400 s,
the ``media_publish`` reference's figure, providers.md §5); a carousel counts once.

Errors are Graph errors, HTTP 400, ``{"error": {"message", "type": "OAuthException", "code",
"error_subcode"?, "error_user_title"?, "error_user_msg"?, "is_transient"?, "fbtrace_id"}}``;
token problems are code 190 (463 expired, 458 revoked) with ``WWW-Authenticate``, as the
Facebook sign-in emulator answers them.

Insights (providers.md §5). Figures come from :mod:`.growth` (the audience model the X and
TikTok emulators share) at the *insights clock*, the emulator's clock plus ``clock_skew_s``,
with ``metrics_time_scale``; they only grow. Media answer ``{"data": [{"name", "period":
"lifetime", "values": [{"value"}], "title", "description", "id":
"<media>/insights/<name>/lifetime"}]}`` in the order asked; ``saved`` is growth's saves and
``total_interactions`` likes + comments + shares + saves (stories: replies + shares). Metrics by
media product type: feed images and carousels ``views, reach, likes, comments, shares, saved,
total_interactions, follows, profile_visits``; reels those and ``ig_reels_avg_watch_time``,
``ig_reels_video_view_total_time`` (ms); stories ``views, reach, replies, navigation, shares,
follows, total_interactions``, and an empty ``data`` list once the story is older than 24 h.
One metric the type does not take fails the whole call (code 100, HTTP 400, the message naming
it), as do the deprecated ``impressions``, ``plays``, ``video_views``, ``engagement``,
``clips_replays_count`` and ``ig_reels_aggregated_all_plays_count``. While a media has fewer
than ``insights_min_views`` views (10) the answer is code 10 "(#10) Not enough viewers for the
media to show insights", HTTP 400, with no subcode (the real answers seen carry none: a client
tells it from the permission error by its message). The account's insights (``period=day``)
add its own audience (per follower and day) to what each media gained in the window
(``since``/``until``, default the last day for ``total_value``, two days as a time series of
daily ``values`` with ``end_time`` and ``paging``); ``views`` and ``total_interactions`` need
``metric_type=total_value``. The account node's ``followers_count`` adds the follows the
app's media brought and ``media_count`` the feed posts and reels it published.

Insights need ``instagram_manage_insights`` (or ``instagram_business_manage_insights``) in the
grant, else code 10 "(#10) Application does not have permission for this action", HTTP 403.
The consent page grants every scope the app asks for, so ``insights_denied`` (Instagram user
ids or usernames, comma separated) makes an account answer so too; a raw dialog asking fewer
scopes also gives such a token. A media deleted with ``DELETE /_posts/{media-id}`` (as if the
creator removed it on Instagram) is gone: its node and insights answer code 100, subcode 33
("does not exist, cannot be loaded due to missing permissions…"), HTTP 400. Every insights call
of an Instagram account counts in a sliding hour; past ``insights_per_hour`` the answer is code
17 "(#17) User request limit reached" (``is_transient``), HTTP 403, and every insights answer
carries ``X-Business-Use-Case-Usage: {"<ig-user-id>": [{"type": "instagram", "call_count",
"total_cputime", "total_time", "estimated_time_to_regain_access"}]}`` (percentages; minutes until
the oldest call leaves the hour when throttled, else 0). The throttle window follows the
emulator clock (``POST /_settings {"advance": s}`` moves it), not the skewed one.

``GET /_posts`` answers ``{"data": [{id, ig_user_id, username, media_type,
media_product_type, caption, timestamp, permalink, media_url, children, container_id}],
"meta": {"count"}}`` oldest first; ``account`` (an Instagram user id or username) narrows it;
``all=true`` adds ``"containers": [{id, ig_user_id, kind, carousel_item, status_code,
error_subcode, caption, media_url, children}]``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mbv_desktop.sandbox.common import bearer_token
from mbv_desktop.sandbox.oauth.core import DemoAccount, OAuthCore, random_token, read_params
from mbv_desktop.sandbox.oauth.store import Grant
from mbv_desktop.sandbox.social import growth
from mbv_desktop.sandbox.social.common import (
    Reply,
    Tunables,
    decode_cursor,
    digits,
    encode_cursor,
    iso_graph,
    json_list,
    settings_endpoint,
    truthy,
)
from mbv_desktop.sandbox.social.media import (
    FetchError,
    fetch_loopback,
    image_size,
    mp4_duration,
    sniff,
)
from mbv_desktop.sandbox.social.store import SocialStore

VERSION_RE = re.compile(r"^v\d+\.0$")
MIB = 1024 * 1024
MAX_IMAGE = 8 * MIB
MAX_VIDEO = 1024 * MIB
MIN_RATIO, MAX_RATIO = 0.8, 1.91
MAX_CAPTION, MAX_HASHTAGS, MAX_MENTIONS = 2200, 30, 20
SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

READ = ("instagram_basic",)
PUBLISH = ("instagram_basic", "instagram_content_publish")
CONTAINER_FIELDS = ("id", "status", "status_code")
MEDIA_FIELDS = ("id", "caption", "comments_count", "children", "is_comment_enabled",
                "is_shared_to_feed", "like_count", "media_product_type", "media_type",
                "media_url", "owner", "permalink", "shortcode", "thumbnail_url", "timestamp",
                "username")
LIMIT_FIELDS = ("quota_usage", "config")
STATUS_TEXT = {
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "PUBLISHED": "Published: Media has been successfully published.",
    "EXPIRED": "Expired: Media was not published within 24 hours.",
}

INSIGHTS_SCOPES = ("instagram_manage_insights", "instagram_business_manage_insights")
FEED_METRICS = ("views", "reach", "likes", "comments", "shares", "saved", "total_interactions",
                "follows", "profile_visits")
REELS_METRICS = (*FEED_METRICS, "ig_reels_avg_watch_time", "ig_reels_video_view_total_time")
STORY_METRICS = ("views", "reach", "replies", "navigation", "shares", "follows",
                 "total_interactions")
MEDIA_METRICS = frozenset(REELS_METRICS + STORY_METRICS)
#: Deprecated metrics (asking one fails the whole call) and what replaced them.
DEPRECATED_METRICS = {"impressions": "views", "plays": "views", "video_views": "views",
                      "clips_replays_count": "views",
                      "ig_reels_aggregated_all_plays_count": "views",
                      "engagement": "total_interactions"}
ACCOUNT_METRICS = ("reach", "views", "follower_count", "total_interactions")
TOTAL_VALUE_ONLY = frozenset({"views", "total_interactions"})
METRIC_TEXT: dict[str, tuple[str, str]] = {
    "views": ("Views", "The number of times the content was played or displayed."),
    "reach": ("Accounts reached", "The number of unique accounts that have seen the content at "
                                  "least once."),
    "likes": ("Likes", "The number of likes on the post."),
    "comments": ("Comments", "The number of comments on the post."),
    "shares": ("Shares", "The number of shares of the content."),
    "saved": ("Saves", "The number of saves of the post."),
    "total_interactions": ("Interactions", "Likes, saves, comments, shares and replies, minus "
                                           "those undone."),
    "follows": ("Follows", "The number of accounts that started following after seeing it."),
    "profile_visits": ("Profile visits", "The number of times the profile was visited from "
                                         "the post."),
    "replies": ("Replies", "The number of replies to the story."),
    "navigation": ("Navigation", "Taps forward and back, swipes to the next story and exits."),
    "ig_reels_avg_watch_time": ("Average watch time", "The average time the reel was played, in "
                                                      "milliseconds."),
    "ig_reels_video_view_total_time": ("Watch time", "The total time the reel was played, in "
                                                     "milliseconds."),
    "follower_count": ("Follower count", "The number of accounts that started following the "
                                         "account in the period."),
}
#: (metric, lowest share of views, highest share of views) beyond those of :mod:`.growth`.
EXTRA_RATES = (("follows", 0.001, 0.004), ("profile_visits", 0.01, 0.03),
               ("replies", 0.002, 0.01), ("navigation", 0.8, 1.4))
STORY_TTL = 86400.0
THROTTLE_WINDOW = 3600.0
DAY = 86400.0
MAX_RANGE = 30 * DAY
USAGE_HEADER = "x-business-use-case-usage"
#: The account's own audience, per day and per follower, besides what the app's posts bring.
BASE_VIEWS_PER_FOLLOWER = 0.2
BASE_FOLLOWS_PER_FOLLOWER = 0.0008


def _unit(media_id: str, salt: str) -> float:
    """A number in [0, 1) drawn from the media id (the same every time)."""
    digest = hashlib.sha256(f"ig:{salt}:{media_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class GraphError(Exception):
    """A Graph API error (HTTP 400 unless ``status`` says otherwise, as Graph answers);
    ``headers`` go with the answer (the usage header of a throttled call)."""

    def __init__(self, code: int, message: str, *, subcode: int | None = None,
                 type_: str = "OAuthException", token_error: bool = False,
                 user_title: str | None = None, user_msg: str | None = None,
                 transient: bool | None = None, status: int = 400,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.subcode = subcode
        self.type = type_
        self.token_error = token_error
        self.user_title = user_title
        self.user_msg = user_msg
        self.transient = transient
        self.status = status
        self.headers = dict(headers or {})

    def response(self) -> Response:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.transient is not None:
            error["is_transient"] = self.transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = random_token("A", 10)
        headers = dict(self.headers)
        if self.token_error:
            headers["www-authenticate"] = ('OAuth "Facebook Platform" "invalid_token" '
                                           f'"{self.message}"')
        return JSONResponse({"error": error}, self.status, headers=headers)


def unsupported(method: str, node_id: str) -> GraphError:
    return GraphError(100, f"Unsupported {method} request. Object with ID '{node_id}' does not "
                           "exist, cannot be loaded due to missing permissions, or does not "
                           "support this operation.", subcode=33, type_="GraphMethodException")


def parse_fields(raw: str | None, default: str) -> dict[str, list[str]]:
    """``a,b{c,d}`` → ``{"a": [], "b": ["c", "d"]}`` (one level of nesting)."""
    text = (raw if raw and raw.strip() else default).replace(" ", "")
    out: dict[str, list[str]] = {}
    name, sub, depth = "", "", 0
    for ch in text + ",":
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                continue
        if depth == 0 and ch == ",":
            if name:
                out[name] = [s for s in sub.split(",") if s]
            name, sub = "", ""
        elif depth == 0:
            name += ch
        else:
            sub += ch
    if depth != 0:
        raise GraphError(2500, f"Syntax error: unbalanced braces in fields: {text}")
    return out


def shortcode(media_id: str) -> str:
    """Instagram's shortcode of a numeric media id (base-64 with its URL-safe alphabet)."""
    number, out = int(media_id), ""
    while number:
        number, rest = divmod(number, 64)
        out = SHORTCODE_ALPHABET[rest] + out
    return out or "A"


@dataclass
class InstagramSettings(Tunables):
    """Tunables of the Instagram publishing emulator.

    image_delay / video_delay: seconds a container stays IN_PROGRESS.
    quota_total / quota_duration: the publishing limit (50 per 86,400 s).
    container_ttl: seconds before an unpublished container is EXPIRED.
    fail_next_containers: the next N containers created end in ERROR after processing, with
    ``container_error_subcode`` (2207053, "unknown upload error").
    metrics_time_scale: how much faster than the emulator clock audiences grow (60: a real
    minute is an hour of views; see :mod:`.growth`).
    clock_skew_s: seconds the insights clock runs ahead of the emulator clock (negative:
    behind, so new media look younger; the only setting that may be negative).
    insights_min_views: below this many views media insights answer "Not enough viewers".
    insights_per_hour: insights calls (media and account) one Instagram account may make in a
    sliding hour before the calls are throttled (code 17).
    insights_denied: Instagram user ids or usernames (comma separated) whose connection is
    treated as lacking the insights permission (the consent page grants every scope asked; a
    person on Facebook's real dialog can untick it).
    """

    image_delay: float = 0.0
    video_delay: float = 0.0
    quota_total: int = 50
    quota_duration: float = 86400.0
    container_ttl: float = 86400.0
    fail_next_containers: int = 0
    container_error_subcode: int = 2207053
    metrics_time_scale: float = 60.0
    clock_skew_s: float = 0.0
    insights_min_views: int = 10
    insights_per_hour: int = 4800
    insights_denied: str = ""

    def update(self, changes: Mapping[str, Any]) -> None:
        """As :meth:`Tunables.update`, except that ``clock_skew_s`` may be negative."""
        skew = changes.get("clock_skew_s")
        if "clock_skew_s" in changes and (isinstance(skew, bool)
                                          or not isinstance(skew, int | float)
                                          or not math.isfinite(skew)):
            raise ValueError("clock_skew_s must be a number of seconds")
        super().update({k: v for k, v in changes.items() if k != "clock_skew_s"})
        if "clock_skew_s" in changes:
            self.clock_skew_s = float(skew)  # type: ignore[arg-type]

    def denies_insights(self, ig_id: str, username: str) -> bool:
        names = {n.strip().lstrip("@") for n in self.insights_denied.split(",")}
        return ig_id in names or username in names


class InstagramPublishing:
    """Instagram's container → publish flow and its reads, around Facebook's OAuth core."""

    def __init__(self, core: OAuthCore, fallback: Callable[[Request], Awaitable[Response]],
                 ) -> None:
        self.core = core
        self.fallback = fallback
        self.store = SocialStore(core.ctx.state.path.parent)
        demo = core.ctx.stream_delay > 0
        self.settings = InstagramSettings(image_delay=1.0 if demo else 0.0,
                                          video_delay=4.0 if demo else 0.0)
        self.ig_users: dict[str, tuple[str, Mapping[str, Any]]] = {}
        self._insight_calls: dict[str, deque[float]] = {}
        for account in core.accounts:
            for page in account.extra.get("pages", ()):
                if page.get("ig"):
                    self.ig_users[page["ig"]["id"]] = (account.id, page["ig"])

    # -- plumbing ----------------------------------------------------------------------------

    def _graph(self, handler: Callable[[Request], Awaitable[Response]],
               ) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                if not VERSION_RE.match(request.path_params.get("version", "")):
                    raise GraphError(2500, "Unknown path components: "
                                           f"/{request.path_params.get('version', '')}")
                return await handler(request)
            except GraphError as error:
                return error.response()
            except Reply as early:
                return early.response
        return run

    @staticmethod
    def _stamp(at: float) -> str:
        return time.strftime("%A, %d-%b-%y %H:%M:%S UTC", time.gmtime(at))

    def _grant(self, request: Request, params: Mapping[str, str]) -> tuple[Grant, DemoAccount]:
        header = request.headers.get("authorization", "")
        token = params.get("access_token") or bearer_token(header)
        if not token and header.lower().startswith("oauth "):
            token = header[6:].strip()
        if not token:
            raise GraphError(2500, "An active access token must be used to query information "
                                   "about the current user.")
        record = self.core.store.find(self.core.provider, token)
        now = self.core.now()
        if record is None or record.kind != "access":
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token",
                             token_error=True)
        verdict = record.verdict(now)
        if verdict == "expired" and record.expires_at is not None:
            raise GraphError(190, "Error validating access token: Session has expired on "
                                  f"{self._stamp(record.expires_at)}. The current time is "
                                  f"{self._stamp(now)}.", subcode=463, token_error=True)
        if verdict != "ok":
            raise GraphError(190, "Error validating access token: The user has not authorized "
                                  f"application {record.grant.client_id}.", subcode=458,
                             token_error=True)
        account = self.core.account(record.grant.account)
        if account is None:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token",
                             token_error=True)
        return record.grant, account

    def _ig_user(self, request: Request, params: Mapping[str, str], needs: Sequence[str],
                 method: str) -> tuple[str, Mapping[str, Any]]:
        """(ig user id, its profile) of the path, checked against the token."""
        grant, account = self._grant(request, params)
        ig_id = request.path_params["ig_user_id"]
        owner = self.ig_users.get(ig_id)
        if owner is None or owner[0] != account.id:
            raise unsupported(method, ig_id)
        if not set(needs) <= set(grant.scopes):
            raise GraphError(10, "(#10) Application does not have permission for this action")
        return ig_id, owner[1]

    def _owned(self, account: DemoAccount) -> set[str]:
        return {ig for ig, (owner, _) in self.ig_users.items() if owner == account.id}

    # -- containers --------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """``POST /{ig-user-id}/media``."""
        params = await read_params(request)
        ig_id, _ = self._ig_user(request, params, PUBLISH, "post")
        media_type = (params.get("media_type") or "").upper() or None
        carousel_item = truthy(params.get("is_carousel_item"))
        image_url, video_url = params.get("image_url"), params.get("video_url")
        caption = params.get("caption") or ""
        self._check_caption(caption)
        now = self.core.now()
        if media_type == "CAROUSEL":
            return self._create_carousel(ig_id, params.get("children"), caption, now)
        if media_type not in (None, "IMAGE", "VIDEO", "REELS", "STORIES"):
            raise GraphError(100, "(#100) The parameter media_type must be one of IMAGE, "
                                  "VIDEO (carousel items), REELS, STORIES or CAROUSEL.")
        if carousel_item and media_type not in (None, "IMAGE", "VIDEO"):
            raise GraphError(100, "(#100) is_carousel_item can only be used with images and "
                                  "videos.")
        if media_type == "VIDEO" and not carousel_item:
            raise GraphError(100, "(#100) The VIDEO media type is only for carousel items; "
                                  "publish a single video as REELS.")
        if media_type == "STORIES":
            is_video = bool(video_url) and not image_url
        else:
            is_video = media_type in ("VIDEO", "REELS")
        url = video_url if is_video else image_url
        if not url:
            raise GraphError(100, f"(#100) The parameter {'video_url' if is_video else 'image_url'}"
                                  " is required.")
        kind = media_type or "IMAGE"
        data = await self._fetch(url, MAX_VIDEO if is_video else MAX_IMAGE, is_video)
        width = height = None
        duration = None
        subcode: int | None = None
        if is_video:
            duration = mp4_duration(data)
            subcode = self._video_problem(kind, carousel_item, data, duration)
        else:
            width, height = self._check_image(data, story=kind == "STORIES")
        if self.settings.fail_next_containers > 0:
            self.settings.fail_next_containers -= 1
            subcode = self.settings.container_error_subcode
        delay = self.settings.video_delay if is_video else self.settings.image_delay
        container_id = digits("178", 17)
        share = params.get("share_to_feed")
        with self.store.connect(write=True) as db:
            db.execute("INSERT INTO ig_containers (id, ig_user, kind, carousel_item, caption,"
                       " media_url, created_at, ready_at, error_subcode, width, height,"
                       " duration, share_to_feed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                       " ?)",
                       (container_id, ig_id, f"{kind}:{'video' if is_video else 'image'}",
                        int(carousel_item), caption, url, now, now + delay, subcode, width,
                        height, duration, 0 if share is not None and not truthy(share) else 1))
        return JSONResponse({"id": container_id})

    @staticmethod
    def _check_caption(caption: str) -> None:
        hashtags = len(re.findall(r"(?<!\w)#\w+", caption))
        mentions = len(re.findall(r"(?<!\w)@[\w.]+", caption))
        if len(caption) > MAX_CAPTION or hashtags > MAX_HASHTAGS or mentions > MAX_MENTIONS:
            raise GraphError(100, "The caption is too long or has too many hashtags or "
                                  "mentions.", subcode=2207010,
                             user_title="Caption too long",
                             user_msg=f"A caption can have at most {MAX_CAPTION} characters, "
                                      f"{MAX_HASHTAGS} hashtags and {MAX_MENTIONS} @ tags.")

    @staticmethod
    async def _fetch(url: str, limit: int, is_video: bool) -> bytes:
        try:
            return await fetch_loopback(url, limit)
        except FetchError as error:
            if error.reason == "too_large" and not is_video:
                raise GraphError(36000, "The image size is too large.", subcode=2207004,
                                 user_title="Image size too large",
                                 user_msg="The image is too large to download. It should be "
                                          "less than 8 MiB.", transient=False) from None
            raise GraphError(9004, "Only photo or video can be accepted as media type.",
                             subcode=2207052, transient=False,
                             user_title="Media download has failed. The media URI doesn't "
                                        "meet our requirements.",
                             user_msg=f"The media could not be fetched from this URI: {url}. "
                                      f"{error.detail}") from None

    @staticmethod
    def _check_image(data: bytes, *, story: bool) -> tuple[int | None, int | None]:
        if sniff(data) != "image/jpeg":
            raise GraphError(36001, "The image format is not supported.", subcode=2207005,
                             user_title="Unsupported image format",
                             user_msg="Only JPEG images can be published.", transient=False)
        size = image_size(data)
        if size is None or not size[0] or not size[1]:
            raise GraphError(36001, "The image could not be read.", subcode=2207005,
                             user_title="Unsupported image format",
                             user_msg="The JPEG file is damaged.", transient=False)
        width, height = size
        ratio = width / height
        if not story and not MIN_RATIO - 1e-3 <= ratio <= MAX_RATIO + 1e-3:
            raise GraphError(36003, f"The submitted image with aspect ratio ('{width}/{height}')"
                                    " cannot be published. Please submit an image with a "
                                    "valid aspect ratio.", subcode=2207009,
                             user_title="Invalid aspect ratio",
                             user_msg="Feed images must be between 4:5 and 1.91:1.",
                             transient=False)
        return width, height

    @staticmethod
    def _video_problem(kind: str, carousel_item: bool, data: bytes,
                       duration: float | None) -> int | None:
        if sniff(data) not in ("video/mp4", "video/quicktime"):
            return 2207026
        if duration is None:
            return None
        low, high = (3.0, 60.0) if carousel_item else (0.0, 60.0) if kind == "STORIES" \
            else (3.0, 900.0)
        return None if low <= duration <= high else 2207026

    def _create_carousel(self, ig_id: str, raw: str | None, caption: str,
                         now: float) -> Response:
        children: list[str] = []
        if raw:
            try:
                parsed = json.loads(raw)
                children = [str(c) for c in parsed] if isinstance(parsed, list) else []
            except ValueError:
                children = [c.strip() for c in raw.split(",") if c.strip()]
        if not 2 <= len(children) <= 10 or len(set(children)) != len(children):
            raise GraphError(100, "(#100) children must name between 2 and 10 different "
                                  "carousel item containers.")
        with self.store.connect() as db:
            for child in children:
                row = db.execute("SELECT * FROM ig_containers WHERE id=?", (child,)).fetchone()
                if row is None or row["ig_user"] != ig_id or not row["carousel_item"]:
                    raise GraphError(100, f"(#100) The carousel child {child} is not a carousel "
                                          "item container of this account.")
                if self._status(db, row, now)[0] in ("ERROR", "EXPIRED", "PUBLISHED"):
                    raise GraphError(100, f"(#100) The carousel child {child} cannot be used "
                                          "(its status is not FINISHED).")
        subcode = None
        if self.settings.fail_next_containers > 0:
            self.settings.fail_next_containers -= 1
            subcode = self.settings.container_error_subcode
        container_id = digits("178", 17)
        with self.store.connect(write=True) as db:
            db.execute("INSERT INTO ig_containers (id, ig_user, kind, caption, children,"
                       " created_at, ready_at, error_subcode) VALUES (?, ?, 'CAROUSEL', ?, ?,"
                       " ?, ?, ?)", (container_id, ig_id, caption, json.dumps(children), now,
                                     now + self.settings.image_delay, subcode))
        return JSONResponse({"id": container_id})

    def _status(self, db: Any, row: Any, now: float) -> tuple[str, int | None]:
        """(status_code, error subcode) of a container at ``now``."""
        if row["media_id"]:
            return "PUBLISHED", None
        status, subcode = self._processing(db, row, now)
        if status != "ERROR" and now >= row["created_at"] + self.settings.container_ttl:
            return "EXPIRED", None
        return status, subcode

    def _processing(self, db: Any, row: Any, now: float) -> tuple[str, int | None]:
        """IN_PROGRESS, ERROR (with its subcode) or FINISHED, ignoring publication/expiry."""
        if row["kind"] == "CAROUSEL":
            waiting = False
            for child_id in json_list(row["children"]):
                child = db.execute("SELECT * FROM ig_containers WHERE id=?",
                                   (child_id,)).fetchone()
                if child is None:
                    return "ERROR", 2207032
                status, subcode = self._status(db, child, now)
                if status == "ERROR":
                    return "ERROR", subcode
                waiting = waiting or status == "IN_PROGRESS"
            if waiting:
                return "IN_PROGRESS", None
        if now < row["ready_at"]:
            return "IN_PROGRESS", None
        if row["error_subcode"] is not None:
            return "ERROR", int(row["error_subcode"])
        return "FINISHED", None

    # -- publishing --------------------------------------------------------------------------

    def _quota_usage(self, db: Any, ig_id: str, now: float, since: float | None = None) -> int:
        start = now - self.settings.quota_duration
        if since is not None:
            start = max(start, since)
        return int(db.execute("SELECT count(*) FROM ig_media WHERE ig_user=? AND"
                              " published_at>?", (ig_id, start)).fetchone()[0])

    async def publish(self, request: Request) -> Response:
        """``POST /{ig-user-id}/media_publish?creation_id=``."""
        params = await read_params(request)
        ig_id, _ = self._ig_user(request, params, PUBLISH, "post")
        creation_id = params.get("creation_id", "")
        if not creation_id:
            raise GraphError(100, "(#100) The parameter creation_id is required.")
        now = self.core.now()
        with self.store.connect(write=True) as db:
            row = db.execute("SELECT * FROM ig_containers WHERE id=?",
                             (creation_id,)).fetchone()
            if row is None or row["ig_user"] != ig_id:
                raise GraphError(100, f"(#100) Param creation_id {creation_id} is not a media "
                                      "container of this account.")
            if row["carousel_item"]:
                raise GraphError(100, "(#100) A carousel item cannot be published on its own; "
                                      "publish its carousel container.")
            status, _ = self._status(db, row, now)
            if status == "PUBLISHED":
                raise GraphError(100, "This media container has already been published.")
            if status == "EXPIRED":
                raise GraphError(-2, "The media you are trying to access has expired. Please "
                                     "try to upload again.", subcode=2207020)
            if status == "IN_PROGRESS":
                raise GraphError(9007, "Media ID is not available", subcode=2207027,
                                 user_title="Media not ready",
                                 user_msg="The media is not ready for publishing, please "
                                          "wait for a moment")
            if status == "ERROR":
                raise GraphError(-1, "Create media fail, please try to re-create media",
                                 subcode=2207032, transient=False)
            if self._quota_usage(db, ig_id, now) >= self.settings.quota_total:
                raise GraphError(9, "Application request limit reached", subcode=2207042,
                                 user_title="Publishing limit reached",
                                 user_msg="You reached maximum number of posts that is allowed "
                                          "to be published by Content Publishing API.",
                                 transient=False)
            media_id = digits("180", 17)
            kind, _, nature = row["kind"].partition(":")
            media_type, product = {
                "IMAGE": ("IMAGE", "FEED"), "REELS": ("VIDEO", "REELS"),
                "STORIES": ("VIDEO" if nature == "video" else "IMAGE", "STORY"),
                "CAROUSEL": ("CAROUSEL_ALBUM", "FEED")}[kind]
            children = []
            for child_id in json_list(row["children"]):
                child = db.execute("SELECT * FROM ig_containers WHERE id=?",
                                   (child_id,)).fetchone()
                child_media = digits("180", 17)
                children.append({"id": child_media,
                                 "media_type": "VIDEO" if child["kind"].endswith(":video")
                                 else "IMAGE", "media_url": child["media_url"]})
                db.execute("UPDATE ig_containers SET media_id=?, published_at=? WHERE id=?",
                           (child_media, now, child_id))
            db.execute("INSERT INTO ig_media (id, ig_user, container_id, media_type,"
                       " product_type, caption, media_url, children, published_at) VALUES"
                       " (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (media_id, ig_id, creation_id, media_type, product, row["caption"],
                        row["media_url"], json.dumps(children), now))
            db.execute("UPDATE ig_containers SET media_id=?, published_at=? WHERE id=?",
                       (media_id, now, creation_id))
        return JSONResponse({"id": media_id})

    async def publishing_limit(self, request: Request) -> Response:
        """``GET /{ig-user-id}/content_publishing_limit``."""
        params = await read_params(request)
        ig_id, _ = self._ig_user(request, params, READ, "get")
        fields = parse_fields(params.get("fields"), "quota_usage")
        for name in fields:
            if name not in LIMIT_FIELDS:
                raise GraphError(100, f"(#100) Tried accessing nonexisting field ({name}) on "
                                      "node type (ContentPublishingLimitResponse)")
        since: float | None = None
        if params.get("since"):
            try:
                since = float(params["since"])
            except ValueError:
                raise GraphError(100, "(#100) since must be a Unix timestamp.") from None
        with self.store.connect() as db:
            usage = self._quota_usage(db, ig_id, self.core.now(), since)
        item: dict[str, Any] = {}
        if "quota_usage" in fields:
            item["quota_usage"] = usage
        if "config" in fields:
            item["config"] = {"quota_total": self.settings.quota_total,
                              "quota_duration": int(self.settings.quota_duration)}
        return JSONResponse({"data": [item]})

    # -- reads --------------------------------------------------------------------------------

    def _permalink(self, row: Any, username: str) -> str:
        if row["product_type"] == "STORY":
            return f"https://www.instagram.com/stories/{username}/{row['id']}/"
        path = "reel" if row["product_type"] == "REELS" else "p"
        return f"https://www.instagram.com/{path}/{shortcode(row['id'])}/"

    def _media_json(self, row: Any, fields: Mapping[str, Sequence[str]]) -> dict[str, Any]:
        username = str(self.ig_users[row["ig_user"]][1]["username"])
        figures = self._media_values(row, self._metrics_now())
        children = json_list(row["children"])
        values: dict[str, Any] = {
            "id": row["id"], "caption": row["caption"], "comments_count": figures["comments"],
            "is_comment_enabled": True, "is_shared_to_feed": row["product_type"] != "STORY",
            "like_count": figures["likes"], "media_product_type": row["product_type"],
            "media_type": row["media_type"],
            "media_url": children[0]["media_url"] if children else row["media_url"],
            "owner": {"id": row["ig_user"]}, "permalink": self._permalink(row, username),
            "shortcode": shortcode(row["id"]), "timestamp": iso_graph(row["published_at"]),
            "username": username,
        }
        if row["media_type"] == "VIDEO":
            values["thumbnail_url"] = row["media_url"]
        if children:
            sub = fields.get("children") or ["id"]
            values["children"] = {"data": [
                {k: c[k] for k in ("id", *sub) if k in c} for c in children]}
        out: dict[str, Any] = {}
        for name in fields:
            if name not in MEDIA_FIELDS:
                raise GraphError(100, f"(#100) Tried accessing nonexisting field ({name}) on "
                                      "node type (IGMedia)")
            if name in values:
                out[name] = values[name]
        out.setdefault("id", row["id"])
        return out

    async def list_media(self, request: Request) -> Response:
        """``GET /{ig-user-id}/media`` (feed and reels) and ``/stories`` (last 24 h)."""
        params = await read_params(request)
        ig_id, _ = self._ig_user(request, params, READ, "get")
        stories = request.url.path.rstrip("/").endswith("/stories")
        fields = parse_fields(params.get("fields"), "id")
        try:
            limit = min(100, max(1, int(params.get("limit", "25"))))
        except ValueError:
            raise GraphError(100, "(#100) limit must be a number.") from None
        now = self.core.now()
        where = ["ig_user=?", "product_type=?" if stories else "product_type<>?"]
        args: list[Any] = [ig_id, "STORY"]
        if stories:
            where.append("published_at>?")
            args.append(now - 86400)
        for name, op in (("since", ">="), ("until", "<=")):
            if params.get(name):
                try:
                    args.append(float(params[name]))
                except ValueError:
                    raise GraphError(100, f"(#100) {name} must be a Unix timestamp.") from None
                where.append(f"published_at{op}?")
        if params.get("after"):
            try:
                at, _, after_id = decode_cursor(params["after"]).partition(":")
                where.append("(published_at<? OR (published_at=? AND id<?))")
                args += [float(at), float(at), after_id]
            except ValueError:
                raise GraphError(100, "(#100) The after cursor is not valid.") from None
        with self.store.connect() as db:
            rows = db.execute(f"SELECT * FROM ig_media WHERE {' AND '.join(where)} ORDER BY"
                              " published_at DESC, id DESC LIMIT ?",
                              [*args, limit + 1]).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        body: dict[str, Any] = {"data": [self._media_json(r, fields) for r in rows]}
        if rows:
            def cursor(row: Any) -> str:
                return encode_cursor(f"{row['published_at']!r}:{row['id']}")

            paging: dict[str, Any] = {"cursors": {"before": cursor(rows[0]),
                                                  "after": cursor(rows[-1])}}
            if more:
                paging["next"] = str(request.url.include_query_params(after=cursor(rows[-1])))
            body["paging"] = paging
        return JSONResponse(body)

    async def node(self, request: Request) -> Response:
        """``GET /{node-id}``: a container or a published media of the token's accounts;
        anything else goes to the Facebook emulator's node handler."""
        node_id = request.path_params["node_id"]
        if node_id in self.ig_users:
            return self._live_profile(node_id, await self.fallback(request))
        if not node_id.isdigit():
            return await self.fallback(request)
        with self.store.connect() as db:
            container = db.execute("SELECT * FROM ig_containers WHERE id=?",
                                   (node_id,)).fetchone()
            media = None if container else db.execute("SELECT * FROM ig_media WHERE id=?",
                                                      (node_id,)).fetchone()
            if container is None and media is None:
                return await self.fallback(request)
            params = await read_params(request)
            grant, account = self._grant(request, params)
            row: Any = container if container is not None else media
            if row["ig_user"] not in self._owned(account):
                raise unsupported("get", node_id)
            if "instagram_basic" not in grant.scopes:
                raise GraphError(10, "(#10) Application does not have permission for this "
                                     "action")
            if media is not None:
                return JSONResponse(self._media_json(media, parse_fields(params.get("fields"),
                                                                         "id")))
            status, subcode = self._status(db, container, self.core.now())
        fields = parse_fields(params.get("fields"), "id")
        values = {"id": node_id, "status_code": status,
                  "status": (f"Error: Media upload has failed with error code {subcode}"
                             if status == "ERROR" else STATUS_TEXT[status])}
        out: dict[str, Any] = {}
        for name in fields:
            if name not in CONTAINER_FIELDS:
                raise GraphError(100, f"(#100) Tried accessing nonexisting field ({name}) on "
                                      "node type (ShadowIGMediaBuilder)")
            out[name] = values[name]
        out.setdefault("id", node_id)
        return JSONResponse(out)

    # -- insights ----------------------------------------------------------------------------

    def _metrics_now(self) -> float:
        """The insights clock: the emulator's, skewed by ``clock_skew_s``."""
        return self.core.now() + self.settings.clock_skew_s

    def _media_values(self, row: Any, at: float) -> dict[str, int]:
        """Every media metric of ``row`` at ``at`` (whole numbers that never go down)."""
        media_id = row["id"]
        base = growth.figures(media_id, row["published_at"], at,
                              time_scale=self.settings.metrics_time_scale)
        views = base["views"]
        out = {"views": views, "reach": base["reach"], "likes": base["likes"],
               "comments": base["comments"], "shares": base["shares"], "saved": base["saves"]}
        for name, low, high in EXTRA_RATES:
            out[name] = int(views * (low + (high - low) * _unit(media_id, name)))
        if row["product_type"] == "STORY":
            out["total_interactions"] = out["replies"] + out["shares"]
        else:
            out["total_interactions"] = (out["likes"] + out["comments"] + out["shares"]
                                         + out["saved"])
        average_ms = int(2000 + 9000 * _unit(media_id, "watch")) if views else 0
        out["ig_reels_avg_watch_time"] = average_ms
        out["ig_reels_video_view_total_time"] = views * average_ms
        return out

    def _count_insights_call(self, ig_id: str) -> dict[str, str]:
        """Counts one insights call of the account (sliding hour); the usage header to send.
        Over ``insights_per_hour``: code 17, HTTP 403, with that header."""
        now = self.core.now()
        limit = self.settings.insights_per_hour
        calls = self._insight_calls.setdefault(ig_id, deque())
        while calls and now - calls[0] >= THROTTLE_WINDOW:
            calls.popleft()
        allowed = len(calls) < limit
        if allowed:
            calls.append(now)
        share = min(100, math.ceil(100 * len(calls) / limit)) if limit else 100
        regain = 0
        if not allowed:
            regain = max(1, math.ceil((calls[0] + THROTTLE_WINDOW - now) / 60)) if calls else 60
        usage = {ig_id: [{"type": "instagram", "call_count": share,
                          "total_cputime": share // 4, "total_time": share // 3,
                          "estimated_time_to_regain_access": regain}]}
        headers = {USAGE_HEADER: json.dumps(usage, separators=(",", ":"))}
        if not allowed:
            raise GraphError(17, "(#17) User request limit reached", transient=True,
                             status=403, headers=headers)
        return headers

    def _check_insights_permission(self, grant: Grant, ig_id: str) -> None:
        username = str(self.ig_users[ig_id][1]["username"])
        if not set(INSIGHTS_SCOPES) & set(grant.scopes) \
                or self.settings.denies_insights(ig_id, username):
            raise GraphError(10, "(#10) Application does not have permission for this action",
                             status=403)

    @staticmethod
    def _metric_names(raw: str | None, allowed: Sequence[str], *, media: bool) -> list[str]:
        """The metrics asked for, or the error that fails the whole call."""
        names = list(dict.fromkeys(n.strip() for n in (raw or "").split(",") if n.strip()))
        if not names:
            raise GraphError(100, "(#100) The parameter metric is required")
        for index, name in enumerate(names):
            if name in DEPRECATED_METRICS:
                raise GraphError(100, f"(#100) The {name} metric is no longer supported "
                                      f"(deprecated from v22.0); use "
                                      f"{DEPRECATED_METRICS[name]} instead.")
            if name in allowed:
                continue
            if media and name in MEDIA_METRICS:
                raise GraphError(100, f"(#100) The Media Insights API does not support the "
                                      f"{name} metric for this media product type.")
            raise GraphError(100, f"(#100) metric[{index}] must be one of the following "
                                  f"values: {', '.join(allowed)} (not {name})")
        return names

    @staticmethod
    def _entry(node_id: str, name: str, period: str) -> dict[str, Any]:
        title, description = METRIC_TEXT[name]
        return {"name": name, "period": period, "title": title, "description": description,
                "id": f"{node_id}/insights/{name}/{period}"}

    async def insights(self, request: Request) -> Response:
        """``GET /{ig-media-id}/insights`` and ``GET /{ig-user-id}/insights``."""
        params = await read_params(request)
        grant, account = self._grant(request, params)
        node_id = request.path_params["node_id"]
        if node_id in self.ig_users:
            if self.ig_users[node_id][0] != account.id:
                raise unsupported("get", node_id)
            return await self._account_insights(request, params, grant, node_id)
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM ig_media WHERE id=?", (node_id,)).fetchone()
        if row is None or row["ig_user"] not in self._owned(account):
            raise unsupported("get", node_id)
        usage = self._count_insights_call(row["ig_user"])
        try:
            return JSONResponse({"data": self._media_insights(row, grant, params)},
                                headers=usage)
        except GraphError as error:
            error.headers = {**usage, **error.headers}
            raise

    def _media_insights(self, row: Any, grant: Grant,
                        params: Mapping[str, str]) -> list[dict[str, Any]]:
        self._check_insights_permission(grant, row["ig_user"])
        product = row["product_type"]
        allowed = STORY_METRICS if product == "STORY" else REELS_METRICS \
            if product == "REELS" else FEED_METRICS
        names = self._metric_names(params.get("metric"), allowed, media=True)
        if params.get("period", "lifetime") != "lifetime":
            raise GraphError(100, "(#100) period must be one of the following values: "
                                  "lifetime")
        now = self._metrics_now()
        if product == "STORY" and now - row["published_at"] > STORY_TTL:
            return []  # story insights are kept for 24 hours
        values = self._media_values(row, now)
        if values["views"] < self.settings.insights_min_views:
            raise GraphError(10, "(#10) Not enough viewers for the media to show insights")
        return [{**self._entry(row["id"], name, "lifetime"),
                 "values": [{"value": values[name]}]} for name in names]

    async def _account_insights(self, request: Request, params: Mapping[str, str],
                                grant: Grant, ig_id: str) -> Response:
        usage = self._count_insights_call(ig_id)
        try:
            self._check_insights_permission(grant, ig_id)
            names = self._metric_names(params.get("metric"), ACCOUNT_METRICS, media=False)
            if not params.get("period"):
                raise GraphError(100, "(#100) The parameter period is required")
            if params["period"] != "day":
                raise GraphError(100, "(#100) period must be one of the following values: day")
            metric_type = params.get("metric_type") or "time_series"
            if metric_type not in ("time_series", "total_value"):
                raise GraphError(100, "(#100) metric_type must be one of the following values: "
                                      "time_series, total_value")
            totals_only = [n for n in names if n in TOTAL_VALUE_ONLY]
            if metric_type == "time_series" and totals_only:
                raise GraphError(100, f"(#100) The following metrics ({', '.join(totals_only)})"
                                      " should be specified with parameter "
                                      "metric_type=total_value")
            since, until = self._window(params, DAY if metric_type == "total_value" else 2 * DAY)
            with self.store.connect() as db:
                rows = db.execute("SELECT * FROM ig_media WHERE ig_user=?", (ig_id,)).fetchall()
        except GraphError as error:
            error.headers = {**usage, **error.headers}
            raise
        if metric_type == "total_value":
            totals = self._account_window(ig_id, rows, since, until)
            data = [{**self._entry(ig_id, name, "day"), "total_value": {"value": totals[name]}}
                    for name in names]
            return JSONResponse({"data": data}, headers=usage)
        ends: list[float] = []
        end = until
        while end > since + 1e-6:
            ends.insert(0, end)
            end -= DAY
        days = [(end, self._account_window(ig_id, rows, max(since, end - DAY), end))
                for end in ends]
        data = [{**self._entry(ig_id, name, "day"),
                 "values": [{"value": figures[name], "end_time": iso_graph(end)}
                            for end, figures in days]} for name in names]
        span = until - since
        paging = {"previous": str(request.url.include_query_params(
                      since=int(since - span), until=int(since))),
                  "next": str(request.url.include_query_params(
                      since=int(until), until=int(until + span)))}
        return JSONResponse({"data": data, "paging": paging}, headers=usage)

    def _window(self, params: Mapping[str, str], default: float) -> tuple[float, float]:
        """(since, until) of an account insights call, on the insights clock."""
        bounds: dict[str, float] = {}
        for name in ("since", "until"):
            if params.get(name):
                try:
                    bounds[name] = float(params[name])
                except ValueError:
                    raise GraphError(100, f"(#100) {name} must be a Unix timestamp.") from None
        until = bounds.get("until", self._metrics_now())
        since = bounds.get("since", until - default)
        if since >= until:
            raise GraphError(100, "(#100) since must be earlier than until.")
        if until - since > MAX_RANGE:
            raise GraphError(100, "(#100) There cannot be more than 30 days (2592000 s) "
                                  "between since and until")
        return since, until

    def _account_window(self, ig_id: str, rows: Sequence[Any], since: float,
                        until: float) -> dict[str, int]:
        """The account's figures from ``since`` to ``until``: its own audience plus what each
        published media gained in that time."""
        followers = float(self.ig_users[ig_id][1].get("followers_count", 0))
        days = (until - since) / DAY
        views = followers * BASE_VIEWS_PER_FOLLOWER * days
        totals = {"views": views, "reach": views * 0.6,
                  "follower_count": followers * BASE_FOLLOWS_PER_FOLLOWER * days,
                  "total_interactions": views * 0.04}
        for row in rows:
            if row["published_at"] >= until:
                continue
            late, early = self._media_values(row, until), self._media_values(row, since)
            totals["views"] += late["views"] - early["views"]
            totals["reach"] += late["reach"] - early["reach"]
            totals["follower_count"] += late["follows"] - early["follows"]
            totals["total_interactions"] += (late["total_interactions"]
                                             - early["total_interactions"])
        return {name: int(value) for name, value in totals.items()}

    def _live_profile(self, ig_id: str, response: Response) -> Response:
        """The Facebook emulator's answer for the Instagram account, with ``followers_count``
        and ``media_count`` counting what the app published (and the followers it brought)."""
        if response.status_code != 200:
            return response
        try:
            body = json.loads(bytes(response.body))
        except ValueError:
            return response
        if not isinstance(body, dict) or not {"followers_count", "media_count"} & body.keys():
            return response
        with self.store.connect() as db:
            rows = db.execute("SELECT * FROM ig_media WHERE ig_user=?", (ig_id,)).fetchall()
        now = self._metrics_now()
        if isinstance(body.get("followers_count"), int):
            body["followers_count"] += sum(self._media_values(r, now)["follows"] for r in rows)
        if isinstance(body.get("media_count"), int):
            body["media_count"] += sum(1 for r in rows if r["product_type"] != "STORY")
        return JSONResponse(body)

    # -- sandbox-only -----------------------------------------------------------------------

    async def delete_post(self, request: Request) -> Response:
        """``DELETE /_posts/{media_id}``: the creator deletes the post on Instagram."""
        media_id = request.path_params["media_id"]
        with self.store.connect(write=True) as db:
            removed = db.execute("DELETE FROM ig_media WHERE id=?", (media_id,)).rowcount
        if not removed:
            return JSONResponse({"error": {"message": f"no published media {media_id}"}}, 404)
        return JSONResponse({"removed": removed})

    async def posts(self, request: Request) -> Response:
        """``GET /_posts`` (listing) and ``DELETE /_posts`` (forget everything)."""
        if request.method == "DELETE":
            with self.store.connect(write=True) as db:
                removed = db.execute("DELETE FROM ig_media").rowcount
                db.execute("DELETE FROM ig_containers")
            return JSONResponse({"removed": removed})
        who = request.query_params.get("account")
        users = [ig for ig, (_, profile) in self.ig_users.items()
                 if not who or who in (ig, profile["username"])]
        marks = ",".join("?" * len(users)) or "NULL"
        now = self.core.now()
        with self.store.connect() as db:
            rows = db.execute(f"SELECT * FROM ig_media WHERE ig_user IN ({marks}) ORDER BY"
                              " published_at, id", users).fetchall()
            data = []
            for row in rows:
                item = self._media_json(row, {"id": [], "media_type": [],
                                              "media_product_type": [], "caption": [],
                                              "timestamp": [], "permalink": [],
                                              "media_url": [], "username": []})
                item.update(ig_user_id=row["ig_user"], container_id=row["container_id"],
                            children=json_list(row["children"]))
                data.append(item)
            body: dict[str, Any] = {"data": data, "meta": {"count": len(data)}}
            if truthy(request.query_params.get("all")):
                containers = []
                for row in db.execute(f"SELECT * FROM ig_containers WHERE ig_user IN ({marks})"
                                      " ORDER BY created_at, id", users).fetchall():
                    status, subcode = self._status(db, row, now)
                    containers.append({"id": row["id"], "ig_user_id": row["ig_user"],
                                       "kind": row["kind"].partition(":")[0],
                                       "carousel_item": bool(row["carousel_item"]),
                                       "status_code": status, "error_subcode": subcode,
                                       "caption": row["caption"], "media_url": row["media_url"],
                                       "children": json_list(row["children"])})
                body["containers"] = containers
        return JSONResponse(body)

    async def social_settings(self, request: Request) -> Response:
        """``GET|POST /_social_settings``."""
        return await settings_endpoint(request, self.settings, self.core.now)

    def routes(self) -> list[Route]:
        graph = self._graph
        return [
            Route("/{version}/{ig_user_id}/media", graph(self.create), methods=["POST"]),
            Route("/{version}/{ig_user_id}/media", graph(self.list_media), methods=["GET"]),
            Route("/{version}/{ig_user_id}/stories", graph(self.list_media), methods=["GET"]),
            Route("/{version}/{ig_user_id}/media_publish", graph(self.publish),
                  methods=["POST"]),
            Route("/{version}/{ig_user_id}/content_publishing_limit",
                  graph(self.publishing_limit), methods=["GET"]),
            Route("/_posts", self.posts, methods=["GET", "DELETE"]),
            Route("/_posts/{media_id}", self.delete_post, methods=["DELETE"]),
            Route("/{version}/{node_id}/insights", graph(self.insights), methods=["GET"]),
            Route("/_social_settings", self.social_settings, methods=["GET", "POST"]),
            Route("/{version}/{node_id}", graph(self.node), methods=["GET"]),
        ]


def routes(core: OAuthCore, fallback: Callable[[Request], Awaitable[Response]]) -> list[Route]:
    """The publishing routes to mount in the Facebook emulator's app, before its own
    ``/{version}/{node_id}`` route: ``fallback`` answers node ids that are not containers or
    media (the Facebook emulator's node handler)."""
    return InstagramPublishing(core, fallback).routes()
