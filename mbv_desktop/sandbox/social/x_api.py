"""X API v2 posting, served by the X sign-in emulator's app (mounted at ``/x``, the base the app
uses for both ``x.auth_base`` and ``x.api_base``). Every path needs ``Authorization: Bearer``
with an access token the sign-in emulator issued::

    POST   /2/media/upload/initialize      JSON {media_type, total_bytes, media_category,
                                           additional_owners[], shared} → 200 {"data": {id,
                                           media_key, expires_after_secs}}          media.write
    POST   /2/media/upload/{id}/append     multipart (media, segment_index) or JSON (media as
                                           base64, segment_index) → {"data": {expires_at}}
    POST   /2/media/upload/{id}/finalize   → {"data": {id, media_key, size,
                                           expires_after_secs, image{image_type,w,h} |
                                           video{video_type}, processing_info?}}
    GET    /2/media/upload?command=STATUS&media_id=
                                           → {"data": {id, media_key, processing_info:
                                           {state, check_after_secs, progress_percent}}}
    POST   /2/media/upload                 one shot: multipart or JSON (media, media_category,
                                           additional_owners); also the single-path form with
                                           command=INIT|APPEND|FINALIZE fields
    POST   /2/tweets                       JSON CreatePostsRequest → 201 {"data": {id, text,
                                           edit_history_tweet_ids, edit_history_post_ids}}
                                           tweet.read tweet.write users.read
    GET    /2/tweets/{id}, GET /2/tweets?ids=
                                           tweet.fields (or post.fields), expansions
                                           attachments.media_keys / author_id, media.fields
    DELETE /2/tweets/{id}                  → {"data": {"deleted": true}}
    GET    /2/users/{id}/tweets            max_results (5–100, default 10), since_id,
                                           until_id, start_time, end_time, pagination_token,
                                           exclude=replies, tweet.fields → {"data": [...],
                                           "meta": {result_count, newest_id, oldest_id,
                                           next_token}}                 tweet.read users.read
    GET    /2/trends/by/woeid/{woeid}      max_trends (1–50, default 20), trend.fields
                                           (trend_name, tweet_count) → {"data": [{trend_name,
                                           tweet_count}]}                 any user token
    GET    /2/users/personalized_trends    personalized_trend.fields (category, post_count,
                                           trend_name, trending_since) → {"data": [...]}
                                           tweet.read users.read
    GET    /_posts[?account=&all=true]     sandbox only: what was posted (see below)
    DELETE /_posts                         sandbox only: forget every post and upload
    GET|POST /_social_settings             sandbox only: tunables (see :class:`XSettings`)

Rules enforced: media size per category (images 5 MB, GIF 15 MB, video 512 MB, subtitles
1 MB), the type matching the category (``tweet_image`` an image, ``tweet_gif`` a GIF,
``tweet_video``/``amplify_video`` MP4 or MOV), segments 0–999 of at most 5 MiB each
(v1.1's documented cap) adding up to ``total_bytes``, the first bytes matching ``media_type``;
videos longer than 140 s fail processing. A post needs text or media; text is at most 280
weighted characters (``twitter_text``, after NFC); ``media.media_ids`` holds 1–4 ids of
finished uploads owned by the poster (or naming them in ``additional_owners``): up to four
images, or one GIF, or one video; ``reply.in_reply_to_tweet_id`` and ``quote_tweet_id`` must
name live posts; the same text as one of the poster's live posts of the last
``duplicate_window`` seconds is refused.

Errors are problem objects (``application/problem+json``): 401 ``about:blank``
"Unauthorized" for an unknown, expired or revoked token; 403 "Forbidden" for a missing scope;
403 ``{"detail": "You are not allowed to create a Tweet with duplicate content.", "type":
"about:blank", "title": "Forbidden", "status": 403}``; 403 for text over 280 and for a reply to
a missing post; 400 ``https://api.x.com/2/problems/invalid-request`` (with ``errors[]`` naming
the parameter) for bad input and unusable media; 404 ``resource-not-found`` for an unknown
media id; a missing post in a read is a 200 with ``errors[]``. Rate limits are per user with
``x-rate-limit-limit``/``-remaining``/``-reset`` on every answer: posts ``post_limit`` per
``post_window`` (100 per 15 min, the figure of X's rate-limit page), ``GET /2/tweets`` 5,000,
``GET /2/tweets/{id}`` and timelines 900, deletes 50, chunked media 1,875, one-shot 500, status
1,000, trends by place 75 and personalised trends 10 per 15 min (X's page gives the place limit
per app only and adds 100 a day per user for personalised trends: not emulated); over the
limit: 429 ``about:blank`` "Too Many Requests".

Media processing: images are ready at FINALIZE (no ``processing_info``); GIFs and videos
report ``pending`` at FINALIZE, then ``in_progress`` with ``progress_percent`` and
``succeeded`` once ``processing_delay`` seconds have passed (0 in tests, a few seconds when
the sandbox runs for a person), with ``check_after_secs`` (0 when the delay is 0). A failed
upload has ``state: failed`` and the reason as a problem in the top-level ``errors`` (the
OpenAPI forbids extra keys in ``processing_info``).

Both ``edit_history_tweet_ids`` (what the live API sends) and ``edit_history_post_ids`` (the
2026 OpenAPI's name) are sent; ``public_metrics`` carries both ``retweet_count`` and
``repost_count`` (providers.md §4).

Metrics: ``public_metrics`` follow the sandbox's shared audience model
(:func:`mbv_desktop.sandbox.social.growth.figures`) at the emulator's clock plus
``clock_skew_s``, sped up by ``metrics_time_scale``: ``impression_count`` views, ``like_count``
likes, ``retweet_count``/``repost_count`` reposts, ``quote_count`` quotes, ``bookmark_count``
bookmarks, ``reply_count`` the model's comments plus the real replies in the store. They grow
fast after posting, level off and never go down. With ``metrics_tier`` ``basic`` the answer
leaves out ``impression_count`` and ``bookmark_count``, as lower access levels and other
people's posts do (the 2026 OpenAPI lists all six as required: this tier knowingly departs from
it so clients meet figures that are missing). A deleted post is a ``resource-not-found`` entry
in ``errors[]``.

Trends: ``GET /2/trends/by/woeid/{woeid}`` answers the same list for a place during one hour of
the emulator's clock (plus ``clock_skew_s``), ranked by ``tweet_count``: hashtags and phrases a
creator would post about (``#AIart``, ``#CreatorEconomy``, the weekday's own tag such as
``#MondayMotivation`` on Mondays, product launches), with local ones for a country or city.
About one trend in six has no ``tweet_count``, as X says it gives the count "if this is
available"; without ``trend.fields`` both fields are sent (X's own examples disagree on the
default; the app always names them). Known places: 1 (worldwide), 23424977 (United States),
23424975 (United Kingdom), 44418 (London), 2459115 (New York), 638242 (Berlin). Another WOEID
is answered as X v2 answers a read of a resource it does not know: 200 with no ``data`` and a
``resource-not-found`` problem in ``errors[]`` (``resource_type`` ``"trend"``, ``parameter``
``"woeid"``); a WOEID that is not a positive number, or ``max_trends`` outside 1–50, is a 400
``invalid-request``. (How live X answers an unknown WOEID is not documented; v1.1 answered 404
code 34.)
``GET /2/users/personalized_trends`` answers a dozen trends for the signed-in account for the
hour: ``trend_name``, ``category`` (``"Technology"``…), ``post_count`` as X shows it
(``"12.5K posts"``; left out for about one in six) and ``trending_since`` (``"Trending now"``
or ``"Trending for 3 hours"``).

Account figures: :meth:`XPosting.user_public_metrics` gives ``/2/users/me`` a profile's
``public_metrics`` that grow with its posts in the store: followers gained are a small share of
each post's views (from the same model), ``tweet_count``/``post_count`` add its live posts.

``GET /_posts`` answers ``{"data": [{id, author_id, username, text, created_at,
conversation_id, in_reply_to_tweet_id, in_reply_to_user_id, quote_tweet_id, media: [{id,
media_key, type, media_type, size, width, height, duration_sec}], deleted}], "meta":
{"count"}}`` oldest first; ``account`` (an X user id or username) narrows it, ``all=true``
adds deleted posts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import twitter_text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mbv_desktop.sandbox.common import bearer_token
from mbv_desktop.sandbox.oauth.core import DemoAccount, OAuthCore
from mbv_desktop.sandbox.social import growth
from mbv_desktop.sandbox.social.common import (
    FixedWindows,
    Reply,
    Tunables,
    answering,
    decode_cursor,
    encode_cursor,
    iso_x,
    json_list,
    json_object,
    parse_multipart,
    parse_rfc3339,
    settings_endpoint,
    snowflake,
    truthy,
)
from mbv_desktop.sandbox.social.media import (
    HEAD_BYTES,
    image_size,
    mp4_duration,
    same_family,
    sniff,
)
from mbv_desktop.sandbox.social.store import SocialStore

PROBLEMS = "https://api.x.com/2/problems"
MB = 1024 * 1024
WINDOW = 15 * 60.0
MAX_WEIGHTED = 280
MAX_SEGMENT = 5 * MB
MAX_VIDEO_SECONDS = 140.0
EXPIRES_AFTER = 86400
ID_RE = re.compile(r"^[0-9]{1,19}$")
NUMBER_RE = re.compile(r"^[0-9]{1,10}$")
MAX_NUM = 2**63 - 1

POST_SCOPES = ("tweet.read", "tweet.write", "users.read")
READ_SCOPES = ("tweet.read", "users.read")
MEDIA_SCOPES = ("media.write",)

CATEGORY_LIMITS = {
    "tweet_image": 5 * MB, "dm_image": 5 * MB, "tweet_gif": 15 * MB, "dm_gif": 15 * MB,
    "tweet_video": 512 * MB, "amplify_video": 512 * MB, "dm_video": 512 * MB,
    "subtitles": 1 * MB,
}
IMAGE_MEDIA = frozenset({"image/jpeg", "image/pjpeg", "image/png", "image/webp", "image/bmp",
                         "image/tiff", "image/gif"})
CATEGORY_TYPES: dict[str, frozenset[str]] = {
    "tweet_image": IMAGE_MEDIA, "dm_image": IMAGE_MEDIA,
    "tweet_gif": frozenset({"image/gif"}), "dm_gif": frozenset({"image/gif"}),
    "tweet_video": frozenset({"video/mp4", "video/quicktime"}),
    "amplify_video": frozenset({"video/mp4", "video/quicktime"}),
    "dm_video": frozenset({"video/mp4", "video/quicktime"}),
    "subtitles": frozenset({"text/srt", "text/vtt"}),
}
TWEET_CATEGORIES = frozenset({"tweet_image", "tweet_gif", "tweet_video", "amplify_video"})
PROCESSED_CATEGORIES = frozenset({"tweet_gif", "dm_gif", "tweet_video", "amplify_video",
                                  "dm_video"})
KEY_PREFIX = {"image": "3", "video": "7", "animated_gif": "16", "subtitles": "21"}

CREATE_FIELDS = frozenset({
    "card_uri", "community_id", "direct_message_deep_link", "edit_options",
    "for_super_followers_only", "geo", "made_with_ai", "media", "nullcast",
    "paid_partnership", "poll", "quote_tweet_id", "reply", "reply_settings",
    "share_with_followers", "text",
})
REPLY_SETTINGS = frozenset({"following", "mentionedUsers", "subscribers", "verified"})
INIT_FIELDS = frozenset({"media_type", "total_bytes", "media_category", "additional_owners",
                         "shared"})
TWEET_FIELDS = frozenset({
    "article", "article_title", "attachments", "author_id", "card_uri", "community_id",
    "context_annotations", "conversation_id", "created_at", "display_text_range",
    "edit_controls", "edit_history_post_ids", "edit_history_tweet_ids", "entities", "geo", "id",
    "in_reply_to_user_id", "lang", "matched_media_notes", "media_metadata",
    "non_public_metrics", "note_post", "note_tweet", "note_request_suggestions",
    "organic_metrics", "paid_partnership", "possibly_sensitive", "promoted_metrics",
    "public_metrics", "referenced_posts", "referenced_tweets", "reply_settings", "scopes",
    "source", "suggested_source_links", "suggested_source_links_with_counts", "text",
    "username", "withheld",
})
EXPANSIONS = frozenset({"attachments.media_keys", "author_id", "referenced_tweets.id",
                        "in_reply_to_user_id", "attachments.poll_ids", "geo.place_id",
                        "entities.mentions.username", "referenced_tweets.id.author_id",
                        "edit_history_tweet_ids", "article.cover_media",
                        "article.media_entities"})
MEDIA_FIELDS = frozenset({"duration_ms", "height", "media_key", "preview_image_url", "type",
                          "url", "width", "public_metrics", "alt_text", "variants",
                          "non_public_metrics", "organic_metrics", "promoted_metrics"})

#: ``metrics_tier`` values; ``basic`` leaves these public metrics out.
METRIC_TIERS = ("full", "basic")
BASIC_TIER_HIDDEN = ("impression_count", "bookmark_count")

DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
TOO_LONG = ("Your Tweet text is too long. For more information on how X determines text "
            "length see https://github.com/twitter/twitter-text.")
REPLY_GONE = "You attempted to reply to a Tweet that is deleted or not visible to you."
QUOTE_GONE = "You attempted to quote a Tweet that is deleted or not visible to you."
INVALID_DETAIL = "One or more parameters to your request was invalid."


def problem(status: int, title: str, detail: str, type_: str = "about:blank",
            headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    """An X problem object (``application/problem+json``)."""
    body = {**extra, "title": title, "detail": detail, "type": type_, "status": status}
    return JSONResponse(body, status, headers=dict(headers or {}),
                        media_type="application/problem+json")


def invalid(message: str, parameter: str | None = None, value: Any = None,
            headers: Mapping[str, str] | None = None) -> Reply:
    """400 ``invalid-request`` naming the parameter, as X answers validation errors."""
    error: dict[str, Any] = {"message": message}
    if parameter is not None:
        error["parameters"] = {parameter: [value if isinstance(value, str) else
                                           json.dumps(value)]}
    return Reply(problem(400, "Invalid Request", INVALID_DETAIL, f"{PROBLEMS}/invalid-request",
                         headers, errors=[error]))


def not_found(kind: str, value: str, parameter: str = "id",
              headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(problem(404, "Not Found Error", f"Could not find {kind} with {parameter}: "
                         f"[{value}].", f"{PROBLEMS}/resource-not-found", headers,
                         resource_type=kind, resource_id=value, parameter=parameter,
                         value=value))


def weighted_length(text: str) -> int:
    """X's weighted length of ``text`` (twitter-text v3, after NFC)."""
    return int(twitter_text.parse_tweet(unicodedata.normalize("NFC", text)).weightedLength)


@dataclass
class XSettings(Tunables):
    """Tunables of the X posting emulator.

    processing_delay: seconds GIF/video processing takes after FINALIZE.
    post_limit / post_window: ``POST /2/tweets`` per user per window (100 per 900 s).
    duplicate_window: seconds during which the same text is refused as a duplicate.
    fail_next_media: the next N finalized uploads (any kind) end ``failed`` after processing.
    media_error: the failure's name (``InvalidMedia``); media_error_message its message.
    metrics_time_scale: how much faster than the clock a post's audience grows (60: one real
        minute is an hour of audience, so a demo's charts fill up).
    metrics_tier: ``full`` (every public metric) or ``basic`` (no ``impression_count`` nor
        ``bookmark_count``, as lower access levels and other people's posts get).
    clock_skew_s: seconds the clock behind figures, trends and account figures runs ahead of
        the emulator's clock (X's clock and this computer's disagree).
    """

    processing_delay: float = 0.0
    post_limit: int = 100
    post_window: float = WINDOW
    duplicate_window: float = 86400.0
    fail_next_media: int = 0
    media_error: str = "InvalidMedia"
    media_error_message: str = "Invalid or Unsupported media, Reason: UnsupportedMedia."
    metrics_time_scale: float = 60.0
    metrics_tier: str = "full"
    clock_skew_s: float = 0.0

    def update(self, changes: Mapping[str, Any]) -> None:
        tier = changes.get("metrics_tier")
        if tier is not None and tier not in METRIC_TIERS:
            raise ValueError(f"metrics_tier must be one of {', '.join(METRIC_TIERS)}")
        super().update(changes)


class XPosting:
    """X's posting and reading endpoints, around the sign-in emulator's :class:`OAuthCore`."""

    def __init__(self, core: OAuthCore) -> None:
        self.core = core
        self.store = SocialStore(core.ctx.state.path.parent)
        demo = core.ctx.stream_delay > 0
        self.settings = XSettings(processing_delay=4.0 if demo else 0.0)
        self.windows = FixedWindows()

    # -- auth and limits ---------------------------------------------------------------------

    def _auth(self, request: Request, scopes: Sequence[str]) -> DemoAccount:
        grant, _ = self.core.authenticate(bearer_token(request.headers.get("authorization")))
        account = self.core.account(grant.account) if grant else None
        if grant is None or account is None:
            raise Reply(problem(401, "Unauthorized", "Unauthorized"))
        if not set(scopes) <= set(grant.scopes):
            raise Reply(problem(403, "Forbidden", "Forbidden"))
        return account

    def _rate(self, user: str, bucket: str, limit: int, window: float = WINDOW,
              ) -> dict[str, str]:
        allowed, remaining, reset = self.windows.hit(f"{bucket}:{user}", limit, window,
                                                     self.core.now())
        headers = {"x-rate-limit-limit": str(limit), "x-rate-limit-remaining": str(remaining),
                   "x-rate-limit-reset": str(reset)}
        if not allowed:
            raise Reply(problem(429, "Too Many Requests", "Too Many Requests", headers=headers))
        return headers

    # -- media -------------------------------------------------------------------------------

    def _media_row(self, media_id: str, user: str, headers: Mapping[str, str]) -> Any:
        if not ID_RE.match(media_id):
            raise invalid(f"The `media_id` value [{media_id}] does not match "
                          "^[0-9]{1,19}$", "media_id", media_id, headers)
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM x_media WHERE id=?", (media_id,)).fetchone()
        if row is None or (row["owner"] != user and user not in json_list(row["additional"])):
            raise not_found("media", media_id, "media_id", headers)
        return row

    @staticmethod
    def _media_kind(media_type: str, category: str) -> str:
        if category == "subtitles":
            return "subtitles"
        if media_type.startswith("video/"):
            return "video"
        if category.endswith("_gif"):
            return "animated_gif"
        return "image"

    def _new_upload(self, user: str, media_type: str, total_bytes: int, category: str,
                    owners: Sequence[str], headers: Mapping[str, str]) -> dict[str, Any]:
        limit = CATEGORY_LIMITS[category]
        if media_type not in CATEGORY_TYPES[category]:
            raise invalid(f"media_type {media_type} cannot be used with media_category "
                          f"{category}.", "media_type", media_type, headers)
        if total_bytes <= 0 or total_bytes > limit:
            raise invalid(f"total_bytes must be between 1 and {limit} for {category} "
                          f"(got {total_bytes}).", "total_bytes", str(total_bytes), headers)
        now = self.core.now()
        media_id = str(snowflake(now))
        kind = self._media_kind(media_type, category)
        key = f"{KEY_PREFIX[kind]}_{media_id}"
        with self.store.connect(write=True) as db:
            db.execute("INSERT INTO x_media (id, media_key, owner, additional, media_type,"
                       " category, total_bytes, state, created_at, expires_at) VALUES"
                       " (?, ?, ?, ?, ?, ?, ?, 'uploading', ?, ?)",
                       (media_id, key, user, json.dumps(list(owners)), media_type, category,
                        total_bytes, now, now + EXPIRES_AFTER))
        return {"id": media_id, "media_key": key, "expires_after_secs": EXPIRES_AFTER}

    def _append(self, row: Any, index: int, chunk: bytes,
                headers: Mapping[str, str]) -> dict[str, Any]:
        now = self.core.now()
        if row["state"] != "uploading":
            raise invalid("The media upload was already finalized.", "media_id", row["id"],
                          headers)
        if now >= row["expires_at"]:
            raise invalid("The media upload has expired.", "media_id", row["id"], headers)
        if not 0 <= index <= 999:
            raise invalid("segment_index must be between 0 and 999.", "segment_index",
                          str(index), headers)
        if not chunk:
            raise invalid("The media segment is empty.", "media", "", headers)
        if len(chunk) > MAX_SEGMENT:
            raise invalid(f"A media segment must be at most {MAX_SEGMENT} bytes.", "media",
                          str(len(chunk)), headers)
        found = mp4_duration(chunk) if row["media_type"].startswith("video/") else None
        with self.store.connect(write=True) as db:
            others = db.execute("SELECT coalesce(sum(size), 0) FROM x_segments WHERE"
                                " media_id=? AND idx<>?", (row["id"], index)).fetchone()[0]
            if others + len(chunk) > row["total_bytes"]:
                raise invalid("The segments add up to more than total_bytes.", "media",
                              str(len(chunk)), headers)
            db.execute("INSERT OR REPLACE INTO x_segments (media_id, idx, size) VALUES"
                       " (?, ?, ?)", (row["id"], index, len(chunk)))
            if index == 0:
                db.execute("UPDATE x_media SET head=? WHERE id=?",
                           (chunk[:HEAD_BYTES], row["id"]))
            if found is not None:
                db.execute("UPDATE x_media SET duration=? WHERE id=?", (found, row["id"]))
        return {"expires_at": int(row["expires_at"])}

    def _finalize(self, row: Any, headers: Mapping[str, str]) -> dict[str, Any]:
        if row["state"] != "uploading":  # FINALIZE again: where it stands now
            return self._media_data(self._reload(row["id"]))
        with self.store.connect() as db:
            segments = db.execute("SELECT idx, size FROM x_segments WHERE media_id=? ORDER BY"
                                  " idx", (row["id"],)).fetchall()
        if [s["idx"] for s in segments] != list(range(len(segments))) or not segments:
            raise invalid("Segments must be numbered 0, 1, 2 … without gaps.", "media_id",
                          row["id"], headers)
        total = sum(s["size"] for s in segments)
        if total != row["total_bytes"]:
            raise invalid(f"Segments do not add up to provided total file size ({total} of "
                          f"{row['total_bytes']} bytes).", "media_id", row["id"], headers)
        head = bytes(row["head"] or b"")
        if row["category"] != "subtitles" and not same_family(row["media_type"], sniff(head)):
            raise invalid(f"The media is not a {row['media_type']} file (media type "
                          "unrecognized).", "media_id", row["id"], headers)
        now = self.core.now()
        fail_name = fail_message = None
        if self.settings.fail_next_media > 0:
            self.settings.fail_next_media -= 1
            fail_name, fail_message = (self.settings.media_error,
                                       self.settings.media_error_message)
        elif row["duration"] is not None and row["duration"] > MAX_VIDEO_SECONDS:
            fail_name = "InvalidMedia"
            fail_message = (f"Invalid or Unsupported media, Reason: Video longer than "
                            f"{int(MAX_VIDEO_SECONDS)} seconds ({row['duration']:.1f} s).")
        processed = row["category"] in PROCESSED_CATEGORIES or fail_name is not None
        ready_at = now + self.settings.processing_delay if processed else None
        size = image_size(head) if row["media_type"].startswith("image/") else None
        with self.store.connect(write=True) as db:
            db.execute("UPDATE x_media SET state='finalized', finalized_at=?, ready_at=?,"
                       " fail_name=?, fail_message=?, width=?, height=? WHERE id=?",
                       (now, ready_at, fail_name, fail_message,
                        size[0] if size else None, size[1] if size else None, row["id"]))
        return self._media_data(self._reload(row["id"]), final=True)

    def _reload(self, media_id: str) -> Any:
        with self.store.connect() as db:
            return db.execute("SELECT * FROM x_media WHERE id=?", (media_id,)).fetchone()

    def _state(self, row: Any) -> tuple[str, int]:
        """(state, progress percent) of a finalized upload at the emulator's clock."""
        if row["state"] != "finalized":
            return "pending", 0
        if row["ready_at"] is None:
            return "succeeded", 100
        now = self.core.now()
        if now >= row["ready_at"]:
            return ("failed" if row["fail_name"] else "succeeded"), 100
        span = max(1e-9, row["ready_at"] - row["finalized_at"])
        elapsed = now - row["finalized_at"]
        if elapsed < span * 0.25:
            return "pending", 0
        return "in_progress", min(99, int(100 * elapsed / span))

    def _media_data(self, row: Any, *, final: bool = False) -> dict[str, Any]:
        now = self.core.now()
        data: dict[str, Any] = {"id": row["id"], "media_key": row["media_key"],
                                "size": row["total_bytes"],
                                "expires_after_secs": max(0, int(row["expires_at"] - now))}
        if row["media_type"].startswith("image/") and row["width"]:
            data["image"] = {"image_type": row["media_type"], "w": row["width"],
                             "h": row["height"]}
        elif row["media_type"].startswith("video/"):
            data["video"] = {"video_type": row["media_type"]}
        if row["ready_at"] is not None:
            # FINALIZE always answers "pending" for what is processed, as X does.
            state, progress = ("pending", 0) if final else self._state(row)
            info: dict[str, Any] = {"state": state, "progress_percent": progress}
            if state in ("pending", "in_progress"):
                left = max(0.0, row["ready_at"] - now)
                info["check_after_secs"] = 0 if left == 0 else max(1, min(5, math.ceil(left)))
            data["processing_info"] = info
        return data

    def _failure(self, row: Any) -> list[dict[str, Any]]:
        return [{"title": "Invalid Request", "type": f"{PROBLEMS}/invalid-request",
                 "detail": f"{row['fail_name']}: {row['fail_message']}",
                 "parameter": "media_id", "value": row["id"]}]

    # -- media endpoints -------------------------------------------------------------------

    async def initialize(self, request: Request) -> Response:
        """``POST /2/media/upload/initialize``."""
        account = self._auth(request, MEDIA_SCOPES)
        headers = self._rate(account.id, "media", 1875)
        body = await json_object(request)
        if body is None:
            raise invalid("The request body must be a JSON object.", headers=headers)
        unknown = sorted(set(body) - INIT_FIELDS)
        if unknown:
            raise invalid(f"Unknown field(s): {', '.join(unknown)}.", unknown[0],
                          str(body[unknown[0]]), headers)
        data = self._init_upload(account.id, body, headers)
        return JSONResponse({"data": data}, headers=headers)

    def _init_upload(self, user: str, body: Mapping[str, Any],
                     headers: Mapping[str, str]) -> dict[str, Any]:
        media_type = body.get("media_type")
        if not isinstance(media_type, str) or not media_type:
            raise invalid("media_type is required.", "media_type", str(media_type), headers)
        total = body.get("total_bytes")
        if isinstance(total, str) and total.isdigit():
            total = int(total)
        if isinstance(total, bool) or not isinstance(total, int):
            raise invalid("total_bytes must be an integer.", "total_bytes", str(total), headers)
        category = body.get("media_category") or (
            "tweet_gif" if media_type == "image/gif" else
            "tweet_video" if media_type.startswith("video/") else "tweet_image")
        if category not in CATEGORY_LIMITS:
            raise invalid(f"media_category {category!r} is not one of "
                          f"{', '.join(sorted(CATEGORY_LIMITS))}.", "media_category",
                          str(category), headers)
        owners = body.get("additional_owners") or []
        if isinstance(owners, str):
            owners = [o.strip() for o in owners.split(",") if o.strip()]
        if not isinstance(owners, list) or not all(isinstance(o, str) and ID_RE.match(o)
                                                   for o in owners):
            raise invalid("additional_owners must be a list of user ids.",
                          "additional_owners", str(owners), headers)
        return self._new_upload(user, media_type, total, str(category), owners, headers)

    async def _chunk(self, request: Request, headers: Mapping[str, str],
                     fields: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
        """(segment_index, bytes) of an APPEND, from multipart or JSON (base64)."""
        if fields is None:
            fields = await self._fields(request, headers)
        raw_index = fields.get("segment_index")
        if isinstance(raw_index, bytes):
            raw_index = raw_index.decode("ascii", "replace")
        try:
            index = int(raw_index)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise invalid("segment_index is required and must be an integer.",
                          "segment_index", str(raw_index), headers) from None
        media = fields.get("media")
        if isinstance(media, str):
            try:
                media = base64.b64decode(media, validate=True)
            except (binascii.Error, ValueError):
                raise invalid("media must be base64 in a JSON body.", "media", "…",
                              headers) from None
        if not isinstance(media, bytes):
            raise invalid("media is required.", "media", "", headers)
        return index, media

    async def _fields(self, request: Request, headers: Mapping[str, str]) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        body = await request.body()
        if content_type.lower().startswith("multipart/form-data"):
            try:
                return dict(parse_multipart(content_type, body))
            except ValueError as exc:
                raise invalid(str(exc), headers=headers) from None
        if content_type.lower().startswith("application/x-www-form-urlencoded"):
            return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        data = await json_object(request)
        if data is None:
            raise invalid("The body must be multipart/form-data, a form or a JSON object.",
                          headers=headers)
        return data

    async def append(self, request: Request) -> Response:
        """``POST /2/media/upload/{id}/append``."""
        account = self._auth(request, MEDIA_SCOPES)
        headers = self._rate(account.id, "media", 1875)
        row = self._media_row(request.path_params["id"], account.id, headers)
        index, chunk = await self._chunk(request, headers)
        return JSONResponse({"data": self._append(row, index, chunk, headers)},
                            headers=headers)

    async def finalize(self, request: Request) -> Response:
        """``POST /2/media/upload/{id}/finalize``."""
        account = self._auth(request, MEDIA_SCOPES)
        headers = self._rate(account.id, "media", 1875)
        row = self._media_row(request.path_params["id"], account.id, headers)
        return JSONResponse({"data": self._finalize(row, headers)}, headers=headers)

    async def status(self, request: Request) -> Response:
        """``GET /2/media/upload?command=STATUS&media_id=``."""
        account = self._auth(request, MEDIA_SCOPES)
        headers = self._rate(account.id, "media-status", 1000)
        command = request.query_params.get("command", "STATUS")
        if command != "STATUS":
            raise invalid("command must be STATUS.", "command", command, headers)
        media_id = request.query_params.get("media_id", "")
        if not media_id:
            raise invalid("media_id is required.", "media_id", "", headers)
        row = self._media_row(media_id, account.id, headers)
        if row["state"] != "finalized":
            raise invalid("The media upload has not been finalized.", "media_id", media_id,
                          headers)
        body: dict[str, Any] = {"data": self._media_data(row)}
        if self._state(row)[0] == "failed":
            body["errors"] = self._failure(row)
        return JSONResponse(body, headers=headers)

    async def upload(self, request: Request) -> Response:
        """``POST /2/media/upload``: one-shot upload, or the single-path INIT/APPEND/FINALIZE
        form."""
        account = self._auth(request, MEDIA_SCOPES)
        first = await self._fields(request, {})
        command = first.get("command")
        if isinstance(command, bytes):
            command = command.decode("ascii", "replace")
        if command is not None:
            headers = self._rate(account.id, "media", 1875)
            return self._legacy(account.id, str(command), first, headers,
                                *(await self._legacy_chunk(request, command, first, headers)))
        headers = self._rate(account.id, "media-oneshot", 500)
        media = first.get("media")
        if isinstance(media, str):
            try:
                media = base64.b64decode(media, validate=True)
            except (binascii.Error, ValueError):
                raise invalid("media must be base64 in a JSON body.", "media", "…",
                              headers) from None
        if not isinstance(media, bytes) or not media:
            raise invalid("media is required.", "media", "", headers)
        category = first.get("media_category")
        if isinstance(category, bytes):
            category = category.decode("ascii", "replace")
        if not isinstance(category, str) or not category:
            raise invalid("media_category is required.", "media_category", "", headers)
        media_type = sniff(media[:HEAD_BYTES]) or "application/octet-stream"
        owners = first.get("additional_owners") or ""
        if isinstance(owners, bytes):
            owners = owners.decode("ascii", "replace")
        init = self._init_upload(account.id, {"media_type": media_type,
                                              "total_bytes": len(media),
                                              "media_category": category,
                                              "additional_owners": owners}, headers)
        row = self._reload(init["id"])
        for index, start in enumerate(range(0, len(media), MAX_SEGMENT)):
            self._append(row, index, media[start:start + MAX_SEGMENT], headers)
        return JSONResponse({"data": self._finalize(self._reload(init["id"]), headers)},
                            headers=headers)

    async def _legacy_chunk(self, request: Request, command: Any, fields: Mapping[str, Any],
                            headers: Mapping[str, str]) -> tuple[int, bytes]:
        if command != "APPEND":
            return 0, b""
        return await self._chunk(request, headers, fields)

    def _legacy(self, user: str, command: str, fields: Mapping[str, Any],
                headers: Mapping[str, str], index: int, chunk: bytes) -> Response:
        def text(name: str) -> str:
            value = fields.get(name, "")
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

        if command == "INIT":
            data = self._init_upload(user, {"media_type": text("media_type"),
                                            "total_bytes": text("total_bytes"),
                                            "media_category": text("media_category") or None,
                                            "additional_owners": text("additional_owners")},
                                     headers)
            return JSONResponse({"data": data}, headers=headers)
        if command not in ("APPEND", "FINALIZE"):
            raise invalid("command must be INIT, APPEND or FINALIZE.", "command", command,
                          headers)
        row = self._media_row(text("media_id"), user, headers)
        if command == "APPEND":
            return JSONResponse({"data": self._append(row, index, chunk, headers)},
                                headers=headers)
        return JSONResponse({"data": self._finalize(row, headers)}, headers=headers)

    # -- posts --------------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        """``POST /2/tweets``."""
        account = self._auth(request, POST_SCOPES)
        headers = self._rate(account.id, "posts", self.settings.post_limit,
                             self.settings.post_window)
        body = await json_object(request)
        if body is None:
            raise invalid("The request body must be a JSON object.", headers=headers)
        unknown = sorted(set(body) - CREATE_FIELDS)
        if unknown:
            raise invalid(f"The following field is not allowed: {unknown[0]}.", unknown[0],
                          str(body[unknown[0]]), headers)
        text = body.get("text", "")
        if not isinstance(text, str):
            raise invalid("text must be a string.", "text", str(text), headers)
        media_ids = self._check_media(body.get("media"), account.id, headers)
        poll = self._check_poll(body.get("poll"), bool(media_ids), headers)
        reply_settings = body.get("reply_settings")
        if reply_settings is not None and reply_settings not in REPLY_SETTINGS:
            raise invalid(f"reply_settings must be one of {', '.join(sorted(REPLY_SETTINGS))}.",
                          "reply_settings", str(reply_settings), headers)
        reply_to = self._reply_target(body.get("reply"), headers)
        quote = body.get("quote_tweet_id")
        if quote is not None and (not isinstance(quote, str) or not ID_RE.match(quote)):
            raise invalid("quote_tweet_id must be a post id.", "quote_tweet_id", str(quote),
                          headers)
        if not text.strip() and not media_ids and quote is None and body.get("card_uri") is None:
            raise invalid("A post needs text or media.", "text", text, headers)
        if weighted_length(text) > MAX_WEIGHTED:
            raise Reply(problem(403, "Forbidden", TOO_LONG, headers=headers))
        norm = unicodedata.normalize("NFC", text).strip()
        now = self.core.now()
        with self.store.connect(write=True) as db:
            parent = None
            if reply_to is not None:
                parent = db.execute("SELECT * FROM x_tweets WHERE id=? AND deleted=0",
                                    (reply_to,)).fetchone()
                if parent is None:
                    raise Reply(problem(403, "Forbidden", REPLY_GONE, headers=headers))
            if quote is not None and db.execute("SELECT 1 FROM x_tweets WHERE id=? AND"
                                                " deleted=0", (quote,)).fetchone() is None:
                raise Reply(problem(403, "Forbidden", QUOTE_GONE, headers=headers))
            if norm and db.execute(
                    "SELECT 1 FROM x_tweets WHERE author=? AND norm_text=? AND deleted=0 AND"
                    " created_at>?", (account.id, norm,
                                      now - self.settings.duplicate_window)).fetchone():
                raise Reply(problem(403, "Forbidden", DUPLICATE, headers=headers))
            latest = db.execute("SELECT max(num) FROM x_tweets").fetchone()[0] or 0
            num = max(snowflake(now), latest + 1)  # later posts have larger ids, as on X
            tweet_id = str(num)
            db.execute("INSERT INTO x_tweets (id, num, author, text, norm_text, created_at,"
                       " conversation_id, reply_to, reply_to_user, quote_of, media_ids, poll,"
                       " reply_settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (tweet_id, num, account.id, text, norm, now,
                        parent["conversation_id"] if parent else tweet_id,
                        reply_to, parent["author"] if parent else None, quote,
                        json.dumps(media_ids), json.dumps(poll) if poll else None,
                        reply_settings))
        return JSONResponse({"data": {"id": tweet_id, "text": text,
                                      "edit_history_tweet_ids": [tweet_id],
                                      "edit_history_post_ids": [tweet_id]}}, 201,
                            headers=headers)

    def _check_media(self, media: Any, user: str, headers: Mapping[str, str]) -> list[str]:
        if media is None:
            return []
        ids = media.get("media_ids") if isinstance(media, dict) else None
        if not isinstance(ids, list) or not 1 <= len(ids) <= 4 or not all(
                isinstance(i, str) and ID_RE.match(i) for i in ids):
            raise invalid("media.media_ids must hold 1 to 4 media ids.", "media.media_ids",
                          json.dumps(ids), headers)
        kinds = []
        now = self.core.now()
        with self.store.connect() as db:
            for media_id in ids:
                row = db.execute("SELECT * FROM x_media WHERE id=?", (media_id,)).fetchone()
                usable = (row is not None and row["category"] in TWEET_CATEGORIES
                          and (row["owner"] == user or user in json_list(row["additional"]))
                          and now < row["expires_at"]
                          and self._state(row)[0] == "succeeded")
                if not usable:
                    raise invalid("Your media IDs are invalid.", "media.media_ids", media_id,
                                  headers)
                kinds.append(self._media_kind(row["media_type"], row["category"]))
        if len(set(ids)) != len(ids) or (len(ids) > 1 and set(kinds) != {"image"}):
            raise invalid("A post can carry up to 4 images, or 1 GIF, or 1 video.",
                          "media.media_ids", json.dumps(ids), headers)
        return list(ids)

    @staticmethod
    def _check_poll(poll: Any, has_media: bool,
                    headers: Mapping[str, str]) -> dict[str, Any] | None:
        if poll is None:
            return None
        options = poll.get("options") if isinstance(poll, dict) else None
        duration = poll.get("duration_minutes") if isinstance(poll, dict) else None
        if (not isinstance(options, list) or not 2 <= len(options) <= 4
                or not all(isinstance(o, str) and 1 <= len(o) <= 25 for o in options)):
            raise invalid("poll.options must hold 2 to 4 choices of 1 to 25 characters.",
                          "poll.options", json.dumps(options), headers)
        if isinstance(duration, bool) or not isinstance(duration, int) \
                or not 5 <= duration <= 10080:
            raise invalid("poll.duration_minutes must be between 5 and 10080.",
                          "poll.duration_minutes", str(duration), headers)
        if has_media:
            raise invalid("A post cannot carry both media and a poll.", "poll", "…", headers)
        return {"options": options, "duration_minutes": duration}

    @staticmethod
    def _reply_target(reply: Any, headers: Mapping[str, str]) -> str | None:
        if reply is None:
            return None
        target = reply.get("in_reply_to_tweet_id") if isinstance(reply, dict) else None
        if not isinstance(target, str) or not ID_RE.match(target):
            raise invalid("reply.in_reply_to_tweet_id must be a post id.",
                          "reply.in_reply_to_tweet_id", str(target), headers)
        return target

    async def delete(self, request: Request) -> Response:
        """``DELETE /2/tweets/{id}``."""
        account = self._auth(request, POST_SCOPES)
        headers = self._rate(account.id, "delete", 50)
        tweet_id = request.path_params["id"]
        if not ID_RE.match(tweet_id):
            raise invalid(f"The `id` value [{tweet_id}] does not match ^[0-9]{{1,19}}$", "id",
                          tweet_id, headers)
        with self.store.connect(write=True) as db:
            row = db.execute("SELECT author, deleted FROM x_tweets WHERE id=?",
                             (tweet_id,)).fetchone()
            if row is None or row["deleted"]:
                raise not_found("tweet", tweet_id, headers=headers)
            if row["author"] != account.id:
                raise Reply(problem(403, "Forbidden", "You are not authorized to delete this "
                                                      "Tweet.", headers=headers))
            db.execute("UPDATE x_tweets SET deleted=1 WHERE id=?", (tweet_id,))
        return JSONResponse({"data": {"deleted": True}}, headers=headers)

    # -- reads ------------------------------------------------------------------------------

    def _read_fields(self, request: Request, headers: Mapping[str, str],
                     ) -> tuple[list[str], list[str], list[str]]:
        """(tweet fields, expansions, media fields) asked for; 400 on unknown names."""
        params = request.query_params

        def names(param: str, allowed: frozenset[str]) -> list[str]:
            raw = params.get(param)
            if raw is None:
                return []
            values = [v.strip() for v in raw.split(",") if v.strip()]
            bad = [v for v in values if v not in allowed] or ([] if values else [raw])
            if bad:
                raise invalid(f"The `{param}` query parameter value [{bad[0]}] is not one of "
                              f"[{','.join(sorted(allowed))}]", param, bad[0], headers)
            return values

        tweet_fields = names("tweet.fields", TWEET_FIELDS) + names("post.fields", TWEET_FIELDS)
        return tweet_fields, names("expansions", EXPANSIONS), names("media.fields",
                                                                     MEDIA_FIELDS)

    def _tweet_json(self, row: Any, wanted: Sequence[str], replies: int) -> dict[str, Any]:
        tweet: dict[str, Any] = {"id": row["id"], "text": row["text"],
                                 "edit_history_tweet_ids": [row["id"]],
                                 "edit_history_post_ids": [row["id"]]}
        media_ids = json_list(row["media_ids"])
        referenced = []
        if row["reply_to"]:
            referenced.append({"type": "replied_to", "id": row["reply_to"]})
        if row["quote_of"]:
            referenced.append({"type": "quoted", "id": row["quote_of"]})
        values: dict[str, Any] = {
            "author_id": row["author"],
            "created_at": iso_x(row["created_at"]),
            "conversation_id": row["conversation_id"],
            "lang": "en",
            "possibly_sensitive": False,
            "reply_settings": row["reply_settings"] or "everyone",
            "public_metrics": self._metrics(row, replies),
            "edit_controls": {"edits_remaining": 5, "is_edit_eligible": not media_ids,
                              "editable_until": iso_x(row["created_at"] + 3600)},
            "source": "Must Be Viral (sandbox)",
        }
        if row["reply_to_user"]:
            values["in_reply_to_user_id"] = row["reply_to_user"]
        if referenced:
            values["referenced_tweets"] = referenced
            values["referenced_posts"] = referenced
        if media_ids:
            values["attachments"] = {"media_keys": self._media_keys(media_ids)}
        for name in wanted:
            if name in values:
                tweet[name] = values[name]
        return tweet

    def _media_keys(self, media_ids: Sequence[str]) -> list[str]:
        with self.store.connect() as db:
            rows = {r["id"]: r["media_key"] for r in db.execute(
                f"SELECT id, media_key FROM x_media WHERE id IN "
                f"({','.join('?' * len(media_ids))})", list(media_ids))}
        return [rows[m] for m in media_ids if m in rows]

    def figures_now(self) -> float:
        """The clock behind figures and trends: the emulator's, plus ``clock_skew_s``."""
        return self.core.now() + self.settings.clock_skew_s

    def _figures(self, post_id: str, created_at: float) -> dict[str, int]:
        return growth.figures(post_id, created_at, self.figures_now(),
                              time_scale=self.settings.metrics_time_scale)

    def _metrics(self, row: Any, replies: int) -> dict[str, int]:
        """The post's ``public_metrics`` from the shared audience model (plus real replies)."""
        model = self._figures(row["id"], row["created_at"])
        metrics = {"retweet_count": model["reposts"], "repost_count": model["reposts"],
                   "reply_count": model["comments"] + replies, "like_count": model["likes"],
                   "quote_count": model["quotes"], "bookmark_count": model["bookmarks"],
                   "impression_count": model["views"]}
        if self.settings.metrics_tier == "basic":
            for name in BASIC_TIER_HIDDEN:
                del metrics[name]
        return metrics

    def user_public_metrics(self, account: DemoAccount) -> dict[str, int]:
        """A profile's ``public_metrics`` for ``/2/users/me``: the demo account's figures plus
        what its posts in the store brought (followers from their views, never fewer as the
        clock goes on; posts counted while live)."""
        extra = account.extra
        with self.store.connect() as db:
            rows = db.execute("SELECT id, created_at, deleted FROM x_tweets WHERE author=?",
                              (account.id,)).fetchall()
        gained = sum(int(self._figures(r["id"], r["created_at"])["views"]
                         * _follow_rate(r["id"])) for r in rows)
        posts = int(extra.get("tweets", 0)) + sum(1 for r in rows if not r["deleted"])
        return {"followers_count": int(extra.get("followers", 0)) + gained,
                "following_count": int(extra.get("following", 0)),
                "tweet_count": posts, "post_count": posts,
                "listed_count": int(extra.get("listed", 0)),
                "like_count": int(extra.get("likes", 0)),
                "media_count": int(extra.get("media", 0))}

    def _includes(self, rows: Sequence[Any], expansions: Sequence[str],
                  media_fields: Sequence[str]) -> dict[str, Any]:
        includes: dict[str, Any] = {}
        if "attachments.media_keys" in expansions:
            ids = [m for r in rows for m in json_list(r["media_ids"])]
            media = []
            if ids:
                with self.store.connect() as db:
                    found = db.execute(f"SELECT * FROM x_media WHERE id IN "
                                       f"({','.join('?' * len(ids))})", ids).fetchall()
                for m in found:
                    item: dict[str, Any] = {
                        "media_key": m["media_key"],
                        "type": self._media_kind(m["media_type"], m["category"])}
                    extra = {"width": m["width"], "height": m["height"],
                             "duration_ms": int(m["duration"] * 1000)
                             if m["duration"] is not None else None}
                    item.update({k: v for k, v in extra.items()
                                 if k in media_fields and v is not None})
                    media.append(item)
            if media:
                includes["media"] = media
        if "author_id" in expansions:
            users = []
            for author in dict.fromkeys(r["author"] for r in rows):
                account = self.core.account(author)
                if account is not None:
                    users.append({"id": account.id, "name": account.name,
                                  "username": account.username})
            if users:
                includes["users"] = users
        return includes

    def _reply_counts(self, ids: Sequence[str]) -> dict[str, int]:
        if not ids:
            return {}
        with self.store.connect() as db:
            return {r[0]: r[1] for r in db.execute(
                f"SELECT reply_to, count(*) FROM x_tweets WHERE deleted=0 AND reply_to IN "
                f"({','.join('?' * len(ids))}) GROUP BY reply_to", list(ids))}

    def _render(self, rows: Sequence[Any], wanted: Sequence[str]) -> list[dict[str, Any]]:
        counts = self._reply_counts([r["id"] for r in rows])
        return [self._tweet_json(r, wanted, counts.get(r["id"], 0)) for r in rows]

    @staticmethod
    def _missing(tweet_id: str) -> dict[str, Any]:
        return {"value": tweet_id, "detail": f"Could not find tweet with id: [{tweet_id}].",
                "title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
                "resource_id": tweet_id, "type": f"{PROBLEMS}/resource-not-found"}

    async def lookup_one(self, request: Request) -> Response:
        """``GET /2/tweets/{id}``."""
        account = self._auth(request, READ_SCOPES)
        headers = self._rate(account.id, "read-one", 900)
        tweet_id = request.path_params["id"]
        if not ID_RE.match(tweet_id):
            raise invalid(f"The `id` query parameter value [{tweet_id}] does not match "
                          "^[0-9]{1,19}$", "id", tweet_id, headers)
        wanted, expansions, media_fields = self._read_fields(request, headers)
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM x_tweets WHERE id=? AND deleted=0",
                             (tweet_id,)).fetchone()
        if row is None:
            return JSONResponse({"errors": [self._missing(tweet_id)]}, headers=headers)
        body: dict[str, Any] = {"data": self._render([row], wanted)[0]}
        includes = self._includes([row], expansions, media_fields)
        if includes:
            body["includes"] = includes
        return JSONResponse(body, headers=headers)

    async def lookup_many(self, request: Request) -> Response:
        """``GET /2/tweets?ids=``."""
        account = self._auth(request, READ_SCOPES)
        headers = self._rate(account.id, "read-many", 5000)
        ids = [i.strip() for i in request.query_params.get("ids", "").split(",") if i.strip()]
        if not 1 <= len(ids) <= 100 or not all(ID_RE.match(i) for i in ids):
            raise invalid("ids must hold 1 to 100 post ids.", "ids",
                          request.query_params.get("ids", ""), headers)
        wanted, expansions, media_fields = self._read_fields(request, headers)
        with self.store.connect() as db:
            found = {r["id"]: r for r in db.execute(
                f"SELECT * FROM x_tweets WHERE deleted=0 AND id IN "
                f"({','.join('?' * len(ids))})", ids)}
        rows = [found[i] for i in ids if i in found]
        body: dict[str, Any] = {}
        if rows:
            body["data"] = self._render(rows, wanted)
            includes = self._includes(rows, expansions, media_fields)
            if includes:
                body["includes"] = includes
        missing = [self._missing(i) for i in ids if i not in found]
        if missing:
            body["errors"] = missing
        return JSONResponse(body, headers=headers)

    async def user_tweets(self, request: Request) -> Response:
        """``GET /2/users/{id}/tweets``: the user's posts, newest first."""
        account = self._auth(request, READ_SCOPES)
        headers = self._rate(account.id, "timeline", 900)
        user_id = request.path_params["id"]
        params = request.query_params
        if not ID_RE.match(user_id):
            raise invalid(f"The `id` query parameter value [{user_id}] does not match "
                          "^[0-9]{1,19}$", "id", user_id, headers)
        try:
            max_results = int(params.get("max_results", "10"))
        except ValueError:
            max_results = -1
        if not 5 <= max_results <= 100:
            raise invalid(f"The `max_results` query parameter value "
                          f"[{params.get('max_results')}] is not between 5 and 100",
                          "max_results", params.get("max_results", ""), headers)
        wanted, expansions, media_fields = self._read_fields(request, headers)
        where: list[str] = ["author=?", "deleted=0"]
        args: list[Any] = [user_id]
        for name, op in (("since_id", ">"), ("until_id", "<")):
            value = params.get(name)
            if value is not None:
                if not ID_RE.match(value):
                    raise invalid(f"The `{name}` query parameter value [{value}] does not "
                                  "match ^[0-9]{1,19}$", name, value, headers)
                where.append(f"num{op}?")
                args.append(min(int(value), MAX_NUM))
        for name, op in (("start_time", ">="), ("end_time", "<=")):
            value = params.get(name)
            if value is not None:
                try:
                    moment = parse_rfc3339(value)
                except ValueError:
                    raise invalid(f"Invalid `{name}`: [{value}] is not an RFC 3339 time "
                                  "(YYYY-MM-DDTHH:mm:ssZ).", name, value, headers) from None
                where.append(f"created_at{op}?")
                args.append(moment)
        token = params.get("pagination_token")
        if token is not None:
            try:
                cursor = decode_cursor(token)
                if not ID_RE.match(cursor):
                    raise ValueError(cursor)
            except ValueError:
                raise invalid(f"The `pagination_token` query parameter value [{token}] is not "
                              "valid", "pagination_token", token, headers) from None
            where.append("num<?")
            args.append(min(int(cursor), MAX_NUM))
        excluded = {e.strip() for e in params.get("exclude", "").split(",") if e.strip()}
        if excluded - {"replies", "retweets"}:
            raise invalid("exclude must name replies and/or retweets.", "exclude",
                          params.get("exclude", ""), headers)
        if "replies" in excluded:
            where.append("reply_to IS NULL")
        if self.core.account(user_id) is None:
            return JSONResponse({"errors": [{
                "value": user_id, "detail": f"Could not find user with id: [{user_id}].",
                "title": "Not Found Error", "resource_type": "user", "parameter": "id",
                "resource_id": user_id, "type": f"{PROBLEMS}/resource-not-found"}]},
                headers=headers)
        sql = (f"SELECT * FROM x_tweets WHERE {' AND '.join(where)} ORDER BY num DESC "
               f"LIMIT ?")
        with self.store.connect() as db:
            rows = db.execute(sql, [*args, max_results + 1]).fetchall()
        more = len(rows) > max_results
        rows = rows[:max_results]
        meta: dict[str, Any] = {"result_count": len(rows)}
        body: dict[str, Any] = {}
        if rows:
            body["data"] = self._render(rows, wanted)
            includes = self._includes(rows, expansions, media_fields)
            if includes:
                body["includes"] = includes
            meta.update(newest_id=rows[0]["id"], oldest_id=rows[-1]["id"])
            if more:
                meta["next_token"] = encode_cursor(rows[-1]["id"])
        body["meta"] = meta
        return JSONResponse(body, headers=headers)

    # -- trends -----------------------------------------------------------------------------

    async def trends_by_place(self, request: Request) -> Response:
        """``GET /2/trends/by/woeid/{woeid}``."""
        account = self._auth(request, ())
        headers = self._rate(account.id, "trends", TRENDS_LIMIT)
        raw = request.path_params["woeid"]
        if not NUMBER_RE.match(raw) or not 0 < int(raw) <= INT32_MAX:
            raise invalid(f"The `woeid` path parameter value [{raw}] is not a valid WOEID.",
                          "woeid", raw, headers)
        woeid = int(raw)
        raw_max = request.query_params.get("max_trends", str(DEFAULT_TRENDS))
        count = int(raw_max) if NUMBER_RE.match(raw_max) else -1
        if not 1 <= count <= MAX_TRENDS:
            raise invalid(f"The `max_trends` query parameter value [{raw_max}] is not between "
                          f"1 and {MAX_TRENDS}", "max_trends", raw_max, headers)
        fields = self._field_names(request, "trend.fields", TREND_FIELDS, headers)
        if woeid not in PLACES:
            return JSONResponse({"errors": [{
                "value": raw, "detail": f"Could not find trend with woeid: [{raw}].",
                "title": "Not Found Error", "resource_type": "trend", "parameter": "woeid",
                "resource_id": raw, "type": f"{PROBLEMS}/resource-not-found"}]},
                headers=headers)
        trends = place_trends(woeid, self.figures_now())[:count]
        return JSONResponse({"data": [{k: v for k, v in t.items() if k in fields}
                                      for t in trends]}, headers=headers)

    async def personalized_trends(self, request: Request) -> Response:
        """``GET /2/users/personalized_trends``."""
        account = self._auth(request, READ_SCOPES)
        headers = self._rate(account.id, "personalized-trends", PERSONALIZED_LIMIT)
        fields = self._field_names(request, "personalized_trend.fields",
                                   PERSONALIZED_FIELDS, headers)
        trends = personal_trends(account.id, self.figures_now())
        return JSONResponse({"data": [{k: v for k, v in t.items() if k in fields}
                                      for t in trends]}, headers=headers)

    @staticmethod
    def _field_names(request: Request, param: str, allowed: Sequence[str],
                     headers: Mapping[str, str]) -> list[str]:
        """The fields asked for in ``param`` (all of ``allowed`` when absent); 400 otherwise."""
        raw = request.query_params.get(param)
        if raw is None:
            return list(allowed)
        values = [v.strip() for v in raw.split(",") if v.strip()]
        bad = [v for v in values if v not in allowed] or ([] if values else [raw])
        if bad:
            raise invalid(f"The `{param}` query parameter value [{bad[0]}] is not one of "
                          f"[{','.join(allowed)}]", param, bad[0], headers)
        return values

    # -- sandbox-only -----------------------------------------------------------------------

    async def posts(self, request: Request) -> Response:
        """``GET /_posts`` (listing) and ``DELETE /_posts`` (forget everything)."""
        if request.method == "DELETE":
            with self.store.connect(write=True) as db:
                removed = db.execute("DELETE FROM x_tweets").rowcount
                db.execute("DELETE FROM x_segments")
                db.execute("DELETE FROM x_media")
            self.windows.clear()
            return JSONResponse({"removed": removed})
        where: list[str] = []
        args: list[Any] = []
        who = request.query_params.get("account")
        if who:
            match = next((a for a in self.core.accounts if who in (a.id, a.username)), None)
            where.append("author=?")
            args.append(match.id if match else who)
        if not truthy(request.query_params.get("all")):
            where.append("deleted=0")
        sql = "SELECT * FROM x_tweets" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self.store.connect() as db:
            rows = db.execute(sql + " ORDER BY num", args).fetchall()
            media = {r["id"]: r for r in db.execute("SELECT * FROM x_media")}
        data = []
        for row in rows:
            account = self.core.account(row["author"])
            items = []
            for media_id in json_list(row["media_ids"]):
                m = media.get(media_id)
                if m is not None:
                    items.append({"id": m["id"], "media_key": m["media_key"],
                                  "type": self._media_kind(m["media_type"], m["category"]),
                                  "media_type": m["media_type"], "size": m["total_bytes"],
                                  "width": m["width"], "height": m["height"],
                                  "duration_sec": m["duration"]})
            data.append({"id": row["id"], "author_id": row["author"],
                         "username": account.username if account else None,
                         "text": row["text"], "created_at": iso_x(row["created_at"]),
                         "conversation_id": row["conversation_id"],
                         "in_reply_to_tweet_id": row["reply_to"],
                         "in_reply_to_user_id": row["reply_to_user"],
                         "quote_tweet_id": row["quote_of"], "media": items,
                         "deleted": bool(row["deleted"])})
        return JSONResponse({"data": data, "meta": {"count": len(data)}})

    async def social_settings(self, request: Request) -> Response:
        """``GET|POST /_social_settings``."""
        response = await settings_endpoint(request, self.settings, self.core.now)
        if request.method == "POST" and response.status_code == 200:
            self.windows.clear()  # a new limit or window starts counting afresh
        return response

    def routes(self) -> list[Route]:
        return [
            Route("/2/media/upload/initialize", answering(self.initialize), methods=["POST"]),
            Route("/2/media/upload/{id}/append", answering(self.append), methods=["POST"]),
            Route("/2/media/upload/{id}/finalize", answering(self.finalize),
                  methods=["POST"]),
            Route("/2/media/upload", answering(self.status), methods=["GET"]),
            Route("/2/media/upload", answering(self.upload), methods=["POST"]),
            Route("/2/tweets", answering(self.create), methods=["POST"]),
            Route("/2/tweets", answering(self.lookup_many), methods=["GET"]),
            Route("/2/tweets/{id}", answering(self.lookup_one), methods=["GET"]),
            Route("/2/tweets/{id}", answering(self.delete), methods=["DELETE"]),
            Route("/2/users/{id}/tweets", answering(self.user_tweets), methods=["GET"]),
            Route("/2/trends/by/woeid/{woeid}", answering(self.trends_by_place),
                  methods=["GET"]),
            Route("/2/users/personalized_trends", answering(self.personalized_trends),
                  methods=["GET"]),
            Route("/_posts", self.posts, methods=["GET", "DELETE"]),
            Route("/_social_settings", self.social_settings, methods=["GET", "POST"]),
        ]


# -- the audience model's extras: followers and trends -------------------------------------------

TRENDS_LIMIT = 75
PERSONALIZED_LIMIT = 10
DEFAULT_TRENDS = 20
MAX_TRENDS = 50
INT32_MAX = 2**31 - 1
TREND_FIELDS = ("trend_name", "tweet_count")
PERSONALIZED_FIELDS = ("category", "post_count", "trend_name", "trending_since")
PERSONALIZED_COUNT = 12

#: WOEID → (place, how many people post there compared with the whole world, local trends).
PLACES: dict[int, tuple[str, float, tuple[tuple[str, str], ...]]] = {
    1: ("Worldwide", 1.0, ()),
    23424977: ("United States", 0.4, (
        ("#SuperBowlAds", "Business & finance"), ("Coachella lineup", "Music"),
        ("#NationalPetDay", "Lifestyle"), ("Tiny Desk", "Music"))),
    23424975: ("United Kingdom", 0.15, (
        ("#BakeOff", "Entertainment"), ("Glastonbury", "Music"),
        ("#LondonFashionWeek", "Lifestyle"), ("Bank holiday", "Lifestyle"))),
    44418: ("London", 0.05, (
        ("#LondonFashionWeek", "Lifestyle"), ("Notting Hill", "Lifestyle"),
        ("Tube strike", "News"), ("Shoreditch", "Art & design"), ("#LondonEats", "Food"))),
    2459115: ("New York", 0.06, (
        ("#NYFW", "Lifestyle"), ("Central Park", "Lifestyle"),
        ("Brooklyn Flea", "Art & design"), ("#NYCEats", "Food"), ("Met Gala", "Entertainment"))),
    638242: ("Berlin", 0.02, (
        ("#BerlinArtWeek", "Art & design"), ("Berlinale", "Entertainment"),
        ("Tempelhof", "Lifestyle"), ("#Techno", "Music"), ("Späti", "Food"))),
}
#: Trends anywhere: (name, category).
CREATOR_TRENDS: tuple[tuple[str, str], ...] = (
    ("#AIart", "Art & design"), ("#CreatorEconomy", "Business & finance"),
    ("#ContentCreator", "Business & finance"), ("#ShortFilm", "Entertainment"),
    ("#VideoEditing", "Technology"), ("#Photography", "Photography"),
    ("#StreetPhotography", "Photography"), ("#BehindTheScenes", "Entertainment"),
    ("#SmallBusiness", "Business & finance"), ("#Reels", "Entertainment"),
    ("#GoldenHour", "Photography"), ("#StopMotion", "Art & design"),
    ("#DigitalArt", "Art & design"), ("#PodcastLife", "Entertainment"),
    ("#IndieDev", "Technology"), ("#MusicProducer", "Music"), ("#FilmTok", "Entertainment"),
    ("#Upcycling", "Lifestyle"), ("#CreatorTips", "Business & finance"),
    ("#Timelapse", "Photography"),
    ("Algorithm update", "Technology"), ("Vertical video", "Technology"),
    ("Thumbnail tips", "Business & finance"), ("AI music", "Music"),
    ("Brand deals", "Business & finance"), ("Creator fund", "Business & finance"),
    ("Color grading", "Photography"), ("Studio tour", "Lifestyle"),
    ("Morning routine", "Lifestyle"), ("Film photography", "Photography"),
    ("Lumen Pro launch", "Technology"), ("Nova Cam 3 reveal", "Technology"),
    ("Pixelmark 5 release", "Technology"), ("Aurora headset launch", "Technology"),
    ("New editing app", "Technology"), ("Drone rules", "News"),
    ("Only on X", "Only on X · Trending"), ("Live now", "Entertainment"),
)
#: The weekday's own hashtag (Monday first), which trends on that day.
WEEKDAY_TAGS: tuple[tuple[str, str], ...] = (
    ("#MondayMotivation", "Lifestyle"), ("#TipTuesday", "Business & finance"),
    ("#WisdomWednesday", "Lifestyle"), ("#ThrowbackThursday", "Entertainment"),
    ("#FridayFeeling", "Lifestyle"), ("#SaturdayVibes", "Lifestyle"),
    ("#SundayFunday", "Lifestyle"),
)


def _unit(*parts: object) -> float:
    """A number in [0, 1) drawn from ``parts`` (the same every time)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _follow_rate(post_id: str) -> float:
    """The share of a post's views that follow its author (0.2 % to 1 %)."""
    return 0.002 + 0.008 * _unit("follow", post_id)


def _candidates(local: Sequence[tuple[str, str]], now: float) -> list[tuple[str, str, float]]:
    """(name, category, boost) of what may trend at ``now``: the creator topics, the weekday's
    tag (boosted) and the place's own topics (boosted)."""
    weekday = WEEKDAY_TAGS[time.gmtime(now).tm_wday]
    found: dict[str, tuple[str, str, float]] = {
        name: (name, category, 0.0) for name, category in CREATOR_TRENDS}
    for name, category in local:
        found[name] = (name, category, 0.35)
    found[weekday[0]] = (weekday[0], weekday[1], 0.6)
    return list(found.values())


def place_trends(woeid: int, now: float) -> list[dict[str, Any]]:
    """The trends of a known place during the hour of ``now``, most posted about first."""
    _, share, local = PLACES[woeid]
    hour = int(now // 3600)
    scored = sorted(((_unit(woeid, hour, name) * 0.8 + boost, name)
                     for name, _, boost in _candidates(local, now)), reverse=True)
    trends: list[dict[str, Any]] = []
    for score, name in scored:
        trend: dict[str, Any] = {"trend_name": name}
        if _unit("count", woeid, hour, name) >= 1 / 6:
            trend["tweet_count"] = int(share * 1500 * math.exp(score * 5.5)) + 25
        trends.append(trend)
    return trends


def personal_trends(account_id: str, now: float) -> list[dict[str, Any]]:
    """A dozen trends for one account during the hour of ``now``."""
    hour = int(now // 3600)
    scored = sorted(((_unit(account_id, hour, name) * 0.8 + boost, name, category)
                     for name, category, boost in _candidates((), now)), reverse=True)
    trends: list[dict[str, Any]] = []
    for score, name, category in scored[:PERSONALIZED_COUNT]:
        trend: dict[str, Any] = {"trend_name": name, "category": category}
        if _unit("count", account_id, hour, name) >= 1 / 6:
            trend["post_count"] = post_count_text(int(900 * math.exp(score * 6.0)))
        hours = int(_unit("since", account_id, hour, name) * 8)
        trend["trending_since"] = "Trending now" if hours < 2 else f"Trending for {hours} hours"
        trends.append(trend)
    return trends


def post_count_text(count: int) -> str:
    """A count as X shows it beside a trend: ``950 posts``, ``12.5K posts``, ``1.2M posts``."""
    if count < 1000:
        return f"{count} posts"
    size, suffix = (1000, "K") if round(count / 1000, 1) < 1000 else (1_000_000, "M")
    return f"{f'{count / size:.1f}'.removesuffix('.0')}{suffix} posts"

