"""TikTok Content Posting (video), served by the TikTok sign-in emulator's app (mounted at
``/tiktok``, the base of ``tiktok.api_base``). Calls carry ``Authorization: Bearer <user access
token>`` and JSON bodies; every answer is ``{"data": {…}, "error": {"code", "message",
"log_id"}}`` with ``code: "ok"`` on success::

    POST /v2/post/publish/creator_info/query/     {} → data {creator_avatar_url,
         creator_username, creator_nickname, privacy_level_options[], comment_disabled,
         duet_disabled, stitch_disabled, max_video_post_duration_sec}     video.publish
    POST /v2/post/publish/video/init/             direct post                video.publish
         {"post_info": {title, privacy_level, disable_duet, disable_comment, disable_stitch,
          video_cover_timestamp_ms, brand_content_toggle, brand_organic_toggle, is_aigc},
          "source_info": {"source": "FILE_UPLOAD", video_size, chunk_size,
          total_chunk_count} | {"source": "PULL_FROM_URL", video_url}}
         → data {publish_id, upload_url (FILE_UPLOAD only)}
    POST /v2/post/publish/inbox/video/init/       upload to the inbox (draft): same
         source_info, no post_info; ends in SEND_TO_USER_INBOX         video.upload
    PUT  {upload_url} = /video/?upload_id=…&upload_token=…
         Content-Type: video/mp4 (or video/quicktime, video/webm),
         Content-Range: bytes FIRST-LAST/TOTAL, body = the chunk; 206 while chunks remain,
         201 for the last one (no token: the URL itself authorises, for an hour)
    POST /v2/post/publish/status/fetch/           {"publish_id"} → data {status,
         fail_reason (FAILED only), publicaly_available_post_id [TikTok's spelling],
         uploaded_bytes | downloaded_bytes}                  video.upload or video.publish
    POST /v2/video/query/?fields=id,create_time,view_count,…  {"filters": {"video_ids":
         [up to 20]}} → data {videos[], cursor, has_more}                 video.list
    GET  /_posts[?account=&all=true], DELETE /_posts, DELETE /_posts/{id},
         GET|POST /_social_settings  (sandbox)

Chunk plan (FILE_UPLOAD), as TikTok's media transfer guide states: ``total_chunk_count`` =
floor(``video_size`` / ``chunk_size``); every chunk ``min_chunk_size``–``max_chunk_size`` (5–64
MiB; tests lower the minimum) except the last, which takes the remainder (up to twice the
maximum); a video smaller than the minimum goes as one chunk with ``chunk_size`` =
``video_size``; a video over the maximum must be chunked; 1–1000 chunks; at most 4 GB; chunks
in order (the last one may be sent again after a lost answer). A chunk out of order, of the
wrong size, with a wrong ``Content-Range`` or a non-video type is refused with 400
``invalid_file_upload``.

Statuses: ``PROCESSING_UPLOAD`` until every chunk is in and ``processing_delay`` has passed
(FILE_UPLOAD), ``PROCESSING_DOWNLOAD`` while the emulator "downloads" a PULL_FROM_URL video
(fetched for real, loopback only), then ``PUBLISH_COMPLETE`` (direct) or
``SEND_TO_USER_INBOX`` (inbox), or ``FAILED`` with ``fail_reason``: ``file_format_check_failed``
(not MP4/MOV/WebM), ``duration_check_failed`` (longer than the creator's
``max_video_post_duration_sec``), ``video_pull_failed`` (the URL did not answer 200), or the
reason set with ``fail_next_publishes``. ``publicaly_available_post_id`` stays empty until
``moderation_delay`` has passed for ``PUBLIC_TO_EVERYONE`` posts.

Errors: 401 ``access_token_invalid`` (unknown, expired, revoked token), 401
``scope_not_authorized``; 400 ``invalid_params`` (bad body, bad chunk plan, unknown
publish_id); 400 ``privacy_level_option_mismatch`` (privacy not among the creator's options);
403 ``url_ownership_unverified`` (PULL_FROM_URL from a non-loopback host: the sandbox's
"verified domains" are the loopback ones); 429 ``rate_limit_exceeded`` past ``init_limit``
inits (6) or ``status_limit`` status fetches (30) per token per ``rate_window`` (60 s,
sliding).

``GET /_posts`` answers ``{"data": [{publish_id, open_id, username, kind, source, status,
fail_reason, post_id, share_url, title, privacy_level, video_size, video_url, duration_sec,
created_at}], "meta": {"count"}}`` oldest first: published posts (and inbox drafts) only, or
every attempt with ``all=true``; ``account`` (an open_id or username) narrows it.

Video stats (Display API ``video/query``): the creator's own published direct posts whose id
TikTok has made public (``publicaly_available_post_id``), with their figures from
:func:`mbv_desktop.sandbox.social.growth.figures` (post id, the moment the post was published,
the emulator's clock plus ``clock_skew_s``, ``metrics_time_scale``): ``view_count`` = views,
``like_count`` = likes, ``comment_count`` = comments, ``share_count`` = shares. ``fields`` is
required and takes the Video Object's names (``id``, ``create_time``, ``cover_image_url``,
``share_url``, ``video_description``, ``duration``, ``height``, ``width``, ``title``,
``embed_html``, ``embed_link``, ``like_count``, ``comment_count``, ``share_count``,
``view_count``); only those asked are answered (``height``/``width`` are left out: the
emulator does not decode the picture). A video that is unknown, deleted, someone else's,
still processing, only in the inbox, or private while ``private_in_query`` is 0, is simply
absent from ``videos``, as on TikTok. 400 ``invalid_params``: no or unknown ``fields``, no
``filters.video_ids``, an id that is not a string, more than 20 ids. 429
``rate_limit_exceeded`` past ``video_query_limit`` queries per token per ``rate_window``.
TikTok's account figures (``GET /v2/user/info/`` with ``user.info.stats``) are the sign-in
emulator's (:mod:`mbv_desktop.sandbox.oauth.tiktok`).

``DELETE /_posts/{id}`` (a video id or a publish_id) deletes that video as its creator would
in the TikTok app: it is gone from ``video/query``, ``status/fetch`` and ``/_posts``;
``{"removed": 1}``, or 404 ``{"removed": 0}`` when there is no such post.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mbv_desktop.sandbox.common import bearer_token
from mbv_desktop.sandbox.oauth.core import DemoAccount, OAuthCore, avatar_url, base_url
from mbv_desktop.sandbox.social import growth
from mbv_desktop.sandbox.social.common import (
    Reply,
    SlidingWindows,
    Tunables,
    answering,
    digits,
    iso_x,
    json_object,
    settings_endpoint,
    truthy,
)
from mbv_desktop.sandbox.social.media import (
    HEAD_BYTES,
    FetchError,
    fetch_loopback,
    is_loopback_url,
    mp4_duration,
    sniff,
)
from mbv_desktop.sandbox.social.store import SocialStore

MIB = 1024 * 1024
MAX_VIDEO = 4 * 1024 * MIB
MAX_PULL = 1024 * MIB
MAX_CHUNKS = 1000
MAX_TITLE = 2200
VIDEO_TYPES = ("video/mp4", "video/quicktime", "video/webm")
PRIVACY = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
MAX_QUERY_IDS = 20
VIDEO_FIELDS = ("id", "create_time", "cover_image_url", "share_url", "video_description",
                "duration", "height", "width", "title", "embed_html", "embed_link",
                "like_count", "comment_count", "share_count", "view_count")
#: Video Object field → the figure it reports (:func:`growth.figures`).
COUNT_FIELDS = {"view_count": "views", "like_count": "likes", "comment_count": "comments",
                "share_count": "shares"}
POST_BOOLS = ("disable_duet", "disable_comment", "disable_stitch", "brand_content_toggle",
              "brand_organic_toggle", "is_aigc")

CREATORS: dict[str, dict[str, Any]] = {
    "maya.creates": {"privacy": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
                     "comment": False, "duet": False, "stitch": False, "max_duration": 600},
    "leo.lens": {"privacy": ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"],
                 "comment": False, "duet": False, "stitch": True, "max_duration": 300},
    "nia.demo": {"privacy": ["FOLLOWER_OF_CREATOR", "SELF_ONLY"], "comment": False,
                 "duet": True, "stitch": True, "max_duration": 60},
}
"""What ``creator_info/query`` answers for each demo account (Nia's is a private account)."""
DEFAULT_CREATOR: dict[str, Any] = {"privacy": ["SELF_ONLY"], "comment": False, "duet": False,
                                   "stitch": False, "max_duration": 600}


def log_id() -> str:
    """A TikTok-style log id: UTC time to the second, then hex."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(10).upper()


def ok(data: Mapping[str, Any], status: int = 200) -> Response:
    return JSONResponse({"data": dict(data), "error": {"code": "ok", "message": "",
                                                       "log_id": log_id()}}, status)


def fail(code: str, message: str, status: int) -> Reply:
    return Reply(JSONResponse({"data": {}, "error": {"code": code, "message": message,
                                                     "log_id": log_id()}}, status))


def bad(message: str) -> Reply:
    return fail("invalid_params", message, 400)


@dataclass
class TikTokSettings(Tunables):
    """Tunables of the TikTok posting emulator.

    processing_delay: seconds from the last chunk (or from init, for PULL_FROM_URL) to the
    final status. moderation_delay: extra seconds before a public post's id appears.
    min_chunk_size / max_chunk_size: the chunk rules (5 MiB / 64 MiB).
    init_limit / status_limit / creator_info_limit per rate_window seconds per token (6 / 30 /
    20 per 60 s).
    upload_ttl: seconds an upload URL works. fail_next_publishes: the next N publishes end
    FAILED with ``fail_reason``.
    metrics_time_scale: how much faster than the clock a video's audience grows (60: a real
    minute is an hour of views). clock_skew_s: seconds TikTok's clock runs ahead of the
    emulator's (negative: behind) when it works out figures and ``create_time``.
    video_query_limit: ``video/query`` calls per token per rate_window (600 per minute, as
    TikTok documents). private_in_query: 1 (default) lets ``video/query`` find the creator's
    non-public videos too; 0 leaves them out (TikTok describes ``video.list`` as reading
    public videos), so they look deleted.
    """

    processing_delay: float = 0.0
    moderation_delay: float = 0.0
    min_chunk_size: int = 5 * MIB
    max_chunk_size: int = 64 * MIB
    init_limit: int = 6
    status_limit: int = 30
    creator_info_limit: int = 20
    rate_window: float = 60.0
    upload_ttl: float = 3600.0
    fail_next_publishes: int = 0
    fail_reason: str = "internal"
    metrics_time_scale: float = 60.0
    clock_skew_s: float = 0.0
    video_query_limit: int = 600
    private_in_query: int = 1

    def update(self, changes: Mapping[str, Any]) -> None:
        """As :meth:`Tunables.update`, but ``clock_skew_s`` may be negative (a clock behind)."""
        if "clock_skew_s" not in changes:
            super().update(changes)
            return
        skew = changes["clock_skew_s"]
        if isinstance(skew, bool) or not isinstance(skew, int | float) or not math.isfinite(skew):
            raise ValueError("clock_skew_s must be a number of seconds")
        super().update({k: v for k, v in changes.items() if k != "clock_skew_s"})
        self.clock_skew_s = float(skew)


class TikTokPosting:
    """TikTok's direct post / inbox upload flow around the sign-in emulator's core."""

    def __init__(self, core: OAuthCore) -> None:
        self.core = core
        self.store = SocialStore(core.ctx.state.path.parent)
        demo = core.ctx.stream_delay > 0
        self.settings = TikTokSettings(processing_delay=4.0 if demo else 0.0)
        self.windows = SlidingWindows()

    # -- plumbing ----------------------------------------------------------------------------

    def _auth(self, request: Request, any_of: Sequence[str]) -> tuple[str, DemoAccount]:
        token = bearer_token(request.headers.get("authorization"))
        grant, _ = self.core.authenticate(token)
        account = self.core.account(grant.account) if grant else None
        if grant is None or account is None or token is None:
            raise fail("access_token_invalid", "The access token is invalid or not found in "
                                               "the request.", 401)
        if not set(any_of) & set(grant.scopes):
            raise fail("scope_not_authorized", "The user did not authorize the scope required "
                       f"for completing this request: {' or '.join(any_of)}.", 401)
        return token, account

    def _rate(self, key: str, limit: int) -> None:
        if not self.windows.hit(key, limit, self.settings.rate_window, self.core.now()):
            raise fail("rate_limit_exceeded", "The API rate limit was exceeded. Please try "
                                              "again later.", 429)

    @staticmethod
    def _creator(account: DemoAccount) -> dict[str, Any]:
        return CREATORS.get(account.username, DEFAULT_CREATOR)

    # -- creator info and init -------------------------------------------------------------

    async def creator_info(self, request: Request) -> Response:
        """``POST /v2/post/publish/creator_info/query/``."""
        token, account = self._auth(request, ("video.publish",))
        self._rate(f"creator:{token}", self.settings.creator_info_limit)
        creator = self._creator(account)
        return ok({"creator_avatar_url": avatar_url(request, account.username),
                   "creator_username": account.username, "creator_nickname": account.name,
                   "privacy_level_options": list(creator["privacy"]),
                   "comment_disabled": creator["comment"], "duet_disabled": creator["duet"],
                   "stitch_disabled": creator["stitch"],
                   "max_video_post_duration_sec": creator["max_duration"]})

    async def init_direct(self, request: Request) -> Response:
        """``POST /v2/post/publish/video/init/``."""
        return await self._init(request, "direct")

    async def init_inbox(self, request: Request) -> Response:
        """``POST /v2/post/publish/inbox/video/init/``."""
        return await self._init(request, "inbox")

    async def _init(self, request: Request, kind: str) -> Response:
        scope = "video.publish" if kind == "direct" else "video.upload"
        token, account = self._auth(request, (scope,))
        self._rate(f"init:{kind}:{token}", self.settings.init_limit)
        body = await json_object(request)
        if body is None:
            raise bad("The request body must be a JSON object.")
        creator = self._creator(account)
        post_info = self._post_info(body.get("post_info"), creator) if kind == "direct" else {}
        source = body.get("source_info")
        if not isinstance(source, dict) or source.get("source") not in ("FILE_UPLOAD",
                                                                         "PULL_FROM_URL"):
            raise bad("source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")
        now = self.core.now()
        fail_reason = None
        if self.settings.fail_next_publishes > 0:
            self.settings.fail_next_publishes -= 1
            fail_reason = self.settings.fail_reason
        number = digits("7", 19)
        upload_token = secrets.token_urlsafe(24)
        values: dict[str, Any] = {
            "open_id": account.id, "kind": kind, "source": source["source"],
            "post_info": json.dumps(post_info), "created_at": now, "fail_reason": fail_reason,
            "post_id": digits("74", 19)}
        data: dict[str, Any] = {}
        if source["source"] == "FILE_UPLOAD":
            size, chunk, total = self._chunk_plan(source)
            publish_id = f"v_inbox_file~v2-1.{number}" if kind == "inbox" \
                else f"v_pub_file~v2-1.{number}"
            values.update(video_size=size, chunk_size=chunk, total_chunks=total,
                          upload_token=upload_token)
            data["upload_url"] = (f"{base_url(request)}/video/?upload_id={number}"
                                  f"&upload_token={upload_token}")
        else:
            url = source.get("video_url")
            if not isinstance(url, str) or not url:
                raise bad("source_info.video_url is required for PULL_FROM_URL.")
            if not is_loopback_url(url):
                raise fail("url_ownership_unverified", "Please review our URL ownership "
                           "verification rules: the sandbox only pulls from loopback URLs "
                           "(127.0.0.1, ::1, localhost).", 403)
            publish_id = f"v_inbox_url~v2-1.{number}" if kind == "inbox" \
                else f"v_pub_url~v2-1.{number}"
            values.update(video_url=url, transfer_done=now + self.settings.processing_delay / 2,
                          ready_at=now + self.settings.processing_delay)
            try:
                video = await fetch_loopback(url, MAX_PULL)
            except FetchError:
                values["fail_reason"] = fail_reason or "video_pull_failed"
            else:
                duration = mp4_duration(video)
                values.update(video_size=len(video), received=len(video), duration=duration,
                              head=video[:HEAD_BYTES])
                values["fail_reason"] = fail_reason or self._content_problem(
                    video[:HEAD_BYTES], duration, creator)
        values["id"] = publish_id
        values["public_at"] = self._public_at(values.get("ready_at"), post_info)
        data = {"publish_id": publish_id, **data}
        names = ", ".join(values)
        with self.store.connect(write=True) as db:
            db.execute(f"INSERT INTO tt_publish ({names}) VALUES "
                       f"({', '.join('?' * len(values))})", list(values.values()))
        return ok(data)

    def _public_at(self, ready_at: float | None, post_info: Mapping[str, Any]) -> float | None:
        if ready_at is None:
            return None
        public = post_info.get("privacy_level") == "PUBLIC_TO_EVERYONE"
        return ready_at + (self.settings.moderation_delay if public else 0.0)

    @staticmethod
    def _post_info(raw: Any, creator: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise bad("post_info is required for a direct post.")
        title = raw.get("title", "")
        if not isinstance(title, str) or len(title.encode("utf-16-le")) // 2 > MAX_TITLE:
            raise bad(f"post_info.title must be a string of at most {MAX_TITLE} UTF-16 units.")
        privacy = raw.get("privacy_level")
        if privacy not in PRIVACY:
            raise bad(f"post_info.privacy_level must be one of {', '.join(PRIVACY)}.")
        if privacy not in creator["privacy"]:
            raise fail("privacy_level_option_mismatch", f"privacy_level {privacy} is not one "
                       "of the creator's privacy_level_options "
                       f"({', '.join(creator['privacy'])}).", 400)
        for name in POST_BOOLS:
            if name in raw and not isinstance(raw[name], bool):
                raise bad(f"post_info.{name} must be a boolean.")
        if raw.get("brand_content_toggle") and privacy == "SELF_ONLY":
            raise bad("Branded content cannot be posted with privacy_level SELF_ONLY.")
        cover = raw.get("video_cover_timestamp_ms", 0)
        if isinstance(cover, bool) or not isinstance(cover, int) or cover < 0:
            raise bad("post_info.video_cover_timestamp_ms must be a non-negative integer.")
        return {k: raw[k] for k in ("title", "privacy_level", "video_cover_timestamp_ms",
                                    *POST_BOOLS) if k in raw}

    def _chunk_plan(self, source: Mapping[str, Any]) -> tuple[int, int, int]:
        def integer(name: str) -> int:
            value = source.get(name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise bad(f"source_info.{name} must be a positive integer.")
            return value

        size, chunk, total = (integer("video_size"), integer("chunk_size"),
                              integer("total_chunk_count"))
        low, high = self.settings.min_chunk_size, self.settings.max_chunk_size
        if size > MAX_VIDEO:
            raise bad(f"video_size must be at most {MAX_VIDEO} bytes.")
        if size < low:
            if chunk != size or total != 1:
                raise bad(f"A video smaller than {low} bytes is uploaded as one chunk: "
                          "chunk_size must equal video_size and total_chunk_count be 1.")
            return size, chunk, total
        if not low <= chunk <= high:
            raise bad(f"chunk_size must be between {low} and {high} bytes.")
        if total != size // chunk:
            raise bad(f"total_chunk_count must be floor(video_size / chunk_size) = "
                      f"{size // chunk}.")
        if not 1 <= total <= MAX_CHUNKS:
            raise bad(f"total_chunk_count must be between 1 and {MAX_CHUNKS}.")
        if size > high and total < 2:
            raise bad(f"A video larger than {high} bytes must be uploaded in several chunks.")
        if size - (total - 1) * chunk > 2 * high:
            raise bad(f"The last chunk would be larger than {2 * high} bytes.")
        return size, chunk, total

    @staticmethod
    def _content_problem(head: bytes, duration: float | None,
                         creator: Mapping[str, Any]) -> str | None:
        if sniff(head) not in VIDEO_TYPES:
            return "file_format_check_failed"
        if duration is not None and duration > creator["max_duration"]:
            return "duration_check_failed"
        return None

    # -- upload ----------------------------------------------------------------------------

    async def upload(self, request: Request) -> Response:
        """``PUT /video/?upload_id=&upload_token=``: one chunk."""
        params = request.query_params
        now = self.core.now()
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM tt_publish WHERE upload_token=?",
                             (params.get("upload_token", ""),)).fetchone()
        if (row is None or not row["id"].endswith("." + params.get("upload_id", "-"))
                or now >= row["created_at"] + self.settings.upload_ttl):
            raise fail("invalid_params", "The upload URL is invalid or has expired.", 404)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in VIDEO_TYPES:
            raise fail("invalid_file_upload", "Content-Type must be video/mp4, "
                                              "video/quicktime or video/webm.", 400)
        found = RANGE_RE.match(request.headers.get("content-range", "").strip())
        if found is None:
            raise fail("invalid_file_upload", "Content-Range must be bytes FIRST-LAST/TOTAL.",
                       400)
        first, last, total = (int(g) for g in found.groups())
        body = await request.body()
        if total != row["video_size"] or last < first or last >= total:
            raise fail("invalid_file_upload", f"Content-Range {first}-{last}/{total} does not "
                       f"fit a video of {row['video_size']} bytes.", 400)
        if len(body) != last - first + 1:
            raise fail("invalid_file_upload", f"The body has {len(body)} bytes; "
                       f"Content-Range announces {last - first + 1}.", 400)
        chunk, count = row["chunk_size"], row["total_chunks"]
        index = min(first // chunk, count - 1)
        start = index * chunk
        end = total - 1 if index == count - 1 else start + chunk - 1
        if (first, last) != (start, end):
            raise fail("invalid_file_upload", f"Chunk {index} must cover bytes {start}-{end}.",
                       400)
        done = row["chunks_done"]
        if index == done - 1:  # the previous chunk again (its answer was lost): accepted
            return Response(status_code=201 if done == count else 206)
        if index != done:
            raise fail("invalid_file_upload", f"Chunks must be uploaded in order: expected "
                       f"chunk {done} (bytes {done * chunk}-), got chunk {index}.", 400)
        head = row["head"] if index else body[:HEAD_BYTES]
        duration = row["duration"] if row["duration"] is not None else mp4_duration(body)
        updates: dict[str, Any] = {"received": last + 1, "chunks_done": done + 1,
                                   "head": head, "duration": duration}
        if done + 1 == count:
            creator = self._creator(self.core.account(row["open_id"]) or self.core.accounts[0])
            ready = now + self.settings.processing_delay
            updates.update(transfer_done=now, ready_at=ready,
                           public_at=self._public_at(ready, json.loads(row["post_info"])),
                           fail_reason=row["fail_reason"] or self._content_problem(
                               bytes(head or b""), duration, creator))
        with self.store.connect(write=True) as db:
            db.execute(f"UPDATE tt_publish SET {', '.join(f'{k}=?' for k in updates)} WHERE"
                       " id=? AND chunks_done=?", [*updates.values(), row["id"], done])
        return Response(status_code=201 if done + 1 == count else 206)

    # -- status ------------------------------------------------------------------------------

    def _status(self, row: Any, now: float) -> str:
        waiting = ("PROCESSING_UPLOAD" if row["source"] == "FILE_UPLOAD"
                   else "PROCESSING_DOWNLOAD")
        if row["ready_at"] is None or now < row["ready_at"]:
            return waiting
        if row["fail_reason"]:
            return "FAILED"
        return "SEND_TO_USER_INBOX" if row["kind"] == "inbox" else "PUBLISH_COMPLETE"

    def _status_data(self, row: Any, now: float) -> dict[str, Any]:
        status = self._status(row, now)
        data: dict[str, Any] = {"status": status}
        if status == "FAILED":
            data["fail_reason"] = row["fail_reason"]
        public = (status == "PUBLISH_COMPLETE" and row["public_at"] is not None
                  and now >= row["public_at"])
        data["publicaly_available_post_id"] = [int(row["post_id"])] if public else []
        if row["source"] == "FILE_UPLOAD":
            data["uploaded_bytes"] = row["received"]
        else:
            done = row["transfer_done"]
            span = max(1e-9, done - row["created_at"])
            share = 1.0 if now >= done else (now - row["created_at"]) / span
            data["downloaded_bytes"] = int(row["video_size"] * share)
        return data

    async def status(self, request: Request) -> Response:
        """``POST /v2/post/publish/status/fetch/``."""
        token, account = self._auth(request, ("video.upload", "video.publish"))
        self._rate(f"status:{token}", self.settings.status_limit)
        body = await json_object(request)
        publish_id = body.get("publish_id") if body else None
        if not isinstance(publish_id, str) or not publish_id:
            raise bad("publish_id is required.")
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM tt_publish WHERE id=?", (publish_id,)).fetchone()
        if row is None or row["open_id"] != account.id:
            raise bad(f"publish_id {publish_id} is invalid.")
        return ok(self._status_data(row, self.core.now()))

    # -- video stats (Display API) ----------------------------------------------------------

    async def video_query(self, request: Request) -> Response:
        """``POST /v2/video/query/?fields=…``: the asked videos of the token's creator."""
        token, account = self._auth(request, ("video.list",))
        self._rate(f"query:{token}", self.settings.video_query_limit)
        fields = self._video_fields(request.query_params.get("fields"))
        ids = self._video_ids(await json_object(request))
        now = self.core.now()
        marks = ", ".join("?" * len(ids))
        with self.store.connect() as db:
            rows = db.execute(f"SELECT * FROM tt_publish WHERE open_id=? AND kind='direct' "
                              f"AND post_id IN ({marks}) ORDER BY ready_at DESC, id",
                              [account.id, *ids]).fetchall()
        videos = [self._video(row, fields, account, request, now) for row in rows
                  if self._queryable(row, now)]
        return ok({"videos": videos, "cursor": 0, "has_more": False})

    @staticmethod
    def _video_fields(raw: str | None) -> list[str]:
        fields = [f.strip() for f in (raw or "").split(",") if f.strip()]
        if not fields:
            raise bad("The fields parameter is required.")
        unknown = [f for f in fields if f not in VIDEO_FIELDS]
        if unknown:
            raise bad(f"Invalid fields: {','.join(unknown)}.")
        return list(dict.fromkeys(fields))

    @staticmethod
    def _video_ids(body: Mapping[str, Any] | None) -> list[str]:
        filters = body.get("filters") if body else None
        ids = filters.get("video_ids") if isinstance(filters, dict) else None
        if not isinstance(ids, list) or not ids:
            raise bad("filters.video_ids is required: a list of 1 to "
                      f"{MAX_QUERY_IDS} video ids.")
        if not all(isinstance(i, str) and i for i in ids):
            raise bad("filters.video_ids must hold video ids as strings.")
        if len(ids) > MAX_QUERY_IDS:
            raise bad(f"filters.video_ids takes at most {MAX_QUERY_IDS} video ids; got "
                      f"{len(ids)}.")
        return list(dict.fromkeys(ids))

    def _queryable(self, row: Any, now: float) -> bool:
        """Published, with its id made public, and visible to the app's ``video.list``."""
        if not self._status_data(row, now)["publicaly_available_post_id"]:
            return False
        public = json.loads(row["post_info"]).get("privacy_level") == "PUBLIC_TO_EVERYONE"
        return public or bool(self.settings.private_in_query)

    def _video(self, row: Any, fields: Sequence[str], account: DemoAccount, request: Request,
               now: float) -> dict[str, Any]:
        post_id = str(row["post_id"])
        skew = self.settings.clock_skew_s
        published = float(row["ready_at"])
        counts = growth.figures(post_id, published, now + skew,
                                time_scale=self.settings.metrics_time_scale)
        title = json.loads(row["post_info"]).get("title", "")
        share = f"https://www.tiktok.com/@{account.username}/video/{post_id}"
        embed = f"https://www.tiktok.com/player/v1/{post_id}"
        values: dict[str, Any] = {
            "id": post_id, "create_time": int(published + skew),
            "cover_image_url": avatar_url(request, f"video-{post_id}"), "share_url": share,
            "video_description": title, "title": title,
            "duration": round(row["duration"]) if row["duration"] is not None else None,
            "embed_link": embed,
            "embed_html": f'<blockquote class="tiktok-embed" cite="{share}" '
                          f'data-video-id="{post_id}"></blockquote>',
            **{name: counts[metric] for name, metric in COUNT_FIELDS.items()},
        }
        return {f: values[f] for f in fields if values.get(f) is not None}

    # -- sandbox-only -----------------------------------------------------------------------

    async def delete_post(self, request: Request) -> Response:
        """``DELETE /_posts/{id}``: the creator deletes a video (by video id or publish_id)."""
        key = request.path_params["post_id"]
        with self.store.connect(write=True) as db:
            removed = db.execute("DELETE FROM tt_publish WHERE id=? OR post_id=?",
                                 (key, key)).rowcount
        return JSONResponse({"removed": removed}, 200 if removed else 404)


    async def posts(self, request: Request) -> Response:
        """``GET /_posts`` (listing) and ``DELETE /_posts`` (forget everything)."""
        if request.method == "DELETE":
            with self.store.connect(write=True) as db:
                removed = db.execute("DELETE FROM tt_publish").rowcount
            self.windows.clear()
            return JSONResponse({"removed": removed})
        who = request.query_params.get("account")
        everything = truthy(request.query_params.get("all"))
        now = self.core.now()
        with self.store.connect() as db:
            rows = db.execute("SELECT * FROM tt_publish ORDER BY created_at, id").fetchall()
        data = []
        for row in rows:
            account = self.core.account(row["open_id"])
            username = account.username if account else None
            if who and who not in (row["open_id"], username):
                continue
            state = self._status_data(row, now)
            if not everything and state["status"] not in ("PUBLISH_COMPLETE",
                                                           "SEND_TO_USER_INBOX"):
                continue
            info = json.loads(row["post_info"])
            post_id = row["post_id"] if state["status"] == "PUBLISH_COMPLETE" else None
            data.append({"publish_id": row["id"], "open_id": row["open_id"],
                         "username": username, "kind": row["kind"], "source": row["source"],
                         "status": state["status"], "fail_reason": row["fail_reason"]
                         if state["status"] == "FAILED" else None,
                         "post_id": post_id,
                         "share_url": f"https://www.tiktok.com/@{username}/video/{post_id}"
                         if post_id else None,
                         "title": info.get("title"), "privacy_level": info.get("privacy_level"),
                         "video_size": row["video_size"], "video_url": row["video_url"],
                         "duration_sec": row["duration"],
                         "created_at": iso_x(row["created_at"])})
        return JSONResponse({"data": data, "meta": {"count": len(data)}})

    async def social_settings(self, request: Request) -> Response:
        """``GET|POST /_social_settings``."""
        response = await settings_endpoint(request, self.settings, self.core.now)
        if request.method == "POST" and response.status_code == 200:
            self.windows.clear()
        return response

    def routes(self) -> list[Route]:
        return [
            Route("/v2/post/publish/creator_info/query/", answering(self.creator_info),
                  methods=["POST"]),
            Route("/v2/post/publish/video/init/", answering(self.init_direct),
                  methods=["POST"]),
            Route("/v2/post/publish/inbox/video/init/", answering(self.init_inbox),
                  methods=["POST"]),
            Route("/v2/post/publish/status/fetch/", answering(self.status), methods=["POST"]),
            Route("/video/", answering(self.upload), methods=["PUT"]),
            Route("/v2/video/query/", answering(self.video_query), methods=["POST"]),
            Route("/_posts", self.posts, methods=["GET", "DELETE"]),
            Route("/_posts/{post_id}", self.delete_post, methods=["DELETE"]),
            Route("/_social_settings", self.social_settings, methods=["GET", "POST"]),
        ]


def routes(core: OAuthCore) -> list[Route]:
    """The posting routes to mount in the TikTok emulator's app (beside its sign-in routes)."""
    return TikTokPosting(core).routes()
