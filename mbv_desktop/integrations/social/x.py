"""Publishing to X through API v2: a post or a thread, with up to four images, one GIF or one
video on the first part (providers.md §4).

Flow
    1. **Media.** An image goes in one request, ``POST /2/media/upload`` (multipart ``media``,
       ``media_category=tweet_image``). A GIF or a video goes in chunks:
       ``POST /2/media/upload/initialize`` (JSON ``media_type``, ``total_bytes``,
       ``media_category`` ``tweet_gif``/``tweet_video``), ``POST /2/media/upload/{id}/append``
       (multipart ``media`` and ``segment_index``, segments of at most 4 MiB read one at a time in
       a worker thread), ``POST /2/media/upload/{id}/finalize``, then
       ``GET /2/media/upload?command=STATUS&media_id=…`` every ``check_after_secs`` until the
       state is ``succeeded`` (``failed`` → :class:`Rejected` with X's message).
       Each media id is checkpointed with its expiry (X keeps uploads 24 hours) and whether X
       has finished processing it; a resume reuses an id with more than 15 minutes left.
       A media upload makes nothing anyone can see, so its requests may be repeated by the
       shared policy; an orphan upload simply expires.
    2. **Posts.** ``POST /2/tweets`` with ``{"text", "media": {"media_ids"}}`` for the first part
       and ``{"text", "reply": {"in_reply_to_tweet_id"}}`` for each following part. This is a
       create: the policy never repeats it once it may have been sent. Before each one the
       client checkpoints which part it is about to send (``pending``); after it, the new post's
       id. A resume continues after the last post it knows; when the part it was sending may
       have gone out, it first looks for it at X (as :meth:`XPublisher.find` does) and adopts it
       instead of posting it again.

Progress (JSON, what ``checkpoint`` receives)::

    {"media": [{"sha256", "id", "media_key", "expires_at", "ready"}, ...],
     "pending": {"index": 1, "since": "2025-01-02T03:04:05Z"},   # a post that may have gone out
     "tweets": ["1879…", "1879…"]}                                 # posted parts, in order

Lookup
    :meth:`XPublisher.find` reads ``GET /2/users/{account_id}/tweets`` since the attempt began
    (``start_time``, less two minutes for clock skew; up to five pages of 100) and matches each
    missing part's text, whitespace-normalised with links removed (X shortens them to t.co
    links) and HTML entities decoded, and for thread parts the ``replied_to`` post. It returns
    the whole thread when every part is there, ``None`` when a part is missing (then
    ``publish(progress=…)`` carries on from there).

Errors
    401 → ``AuthExpired``; 429 → ``RateLimited`` whose ``retry_after`` comes from
    ``x-rate-limit-reset`` when X sends no ``Retry-After`` (and when a post's answer says
    ``x-rate-limit-remaining: 0`` with parts of a thread still to go, the client waits for the
    reset, or raises ``RateLimited`` at once when that is more than the policy's
    ``long_retry_after``: the thread carries on from the next part); 403 duplicate content →
    ``Rejected("X refused the post: it is the same as a recent one.", code="duplicate")``;
    other 4xx → ``Rejected`` with X's ``detail`` in a sentence; a broken connection after
    ``POST /2/tweets`` was sent → ``ProviderUnavailable(maybe_sent=True)``, never a second POST.
    A successful answer that cannot be read is ``ProviderUnavailable`` too (``maybe_sent`` for a
    post). No token ever appears in a message or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from mbv_desktop.core.errors import (
    InvalidInput,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Rejected,
    describe_wait,
)
from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy, parse_retry_after

from ._common import (
    READ_ERROR_STATUSES,
    Sleep,
    Waiter,
    answer,
    bearer,
    file_size,
    id_of,
    iso_z,
    json_object,
    load_progress,
    normalise_text,
    noted,
    now_utc,
    parse_time,
    read_range,
    reason_text,
    save,
    text_of,
    utc,
)
from .base import Checkpoint, MediaFile, PostRequest, PublishResult

__all__ = ["PROVIDER", "SEGMENT_SIZE", "WEB_BASE", "XPublisher", "x_policy"]

_log = logging.getLogger(__name__)

PROVIDER = "x"
WEB_BASE = "https://x.com"
#: Largest append segment sent (X's v2 docs use 1 MB in examples; v1.1 allowed up to 5 MB).
SEGMENT_SIZE = 4 * 1024 * 1024
MAX_IMAGES = 4
#: A checkpointed media id with less than this left before X forgets it is uploaded again.
MEDIA_REUSE_MARGIN = 15 * 60.0
#: Default lifetime of an upload when X does not say (``expires_after_secs``).
MEDIA_LIFETIME = 24 * 3600.0
#: How far before ``not_before`` the lookup starts (this computer's clock may run ahead of X's).
CLOCK_SKEW = timedelta(minutes=2)
LOOKUP_PAGES = 5

_POST = "the post"


def x_policy() -> ProviderPolicy:
    """X's policy: X allows 300 posts per 15 minutes per app (only ``POST /2/tweets`` counts
    against it here); a generous deadline for media segments on a slow uplink."""
    return ProviderPolicy(PROVIDER, rate_limit=(300, 900.0), deadline=300.0)


class XPublisher:
    """Posts and threads on X for any connected account (the token comes with each call)."""

    platform = PROVIDER

    def __init__(self, api_base: str, *, client: ProviderClient | None = None,
                 poll_interval: float = 2.0, sleep: Sleep = asyncio.sleep,
                 web_base: str = WEB_BASE, segment_size: int = SEGMENT_SIZE,
                 processing_timeout: float = 600.0,
                 now: Callable[[], float] = time.time) -> None:
        if segment_size <= 0:
            raise ValueError("segment_size must be positive")
        self._api = api_base.rstrip("/")
        self._web = web_base.rstrip("/")
        self._client = client if client is not None else ProviderClient(x_policy())
        self._poll = poll_interval
        self._sleep = sleep
        self._segment = segment_size
        self._processing_timeout = processing_timeout
        self._now = now

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the contract ----------------------------------------------------------------------------

    async def publish(self, account_id: str, token: str, request: PostRequest, *,
                      progress: Mapping[str, Any], checkpoint: Checkpoint) -> PublishResult:
        parts = _parts(request)
        _check_media(request.media)
        state = load_progress(progress)
        tweets = _ids(state.get("tweets"))
        state["tweets"] = tweets
        pending = _pending(state)
        if pending is not None and pending[0] == len(tweets) < len(parts):
            # The last attempt may have posted this part without learning its id: look first.
            found = await self._lookup(account_id, token, parts, tweets, request,
                                       since=parse_time(pending[1]), only_next=True)
            if found:
                _log.info("x: %s part %d was already posted; adopting it", request.target_key,
                          len(tweets) + 1)
                tweets.extend(found)
                state.pop("pending", None)
                await save(checkpoint, state)
        if len(tweets) >= len(parts):
            return self._result(tweets[: len(parts)])
        media_ids: list[str] = []
        if not tweets and request.media:
            media_ids = await self._upload_all(token, request.media, state, checkpoint)
        for index in range(len(tweets), len(parts)):
            body: dict[str, Any] = {"text": parts[index]}
            if index == 0 and media_ids:
                body["media"] = {"media_ids": media_ids}
            if index > 0:
                body["reply"] = {"in_reply_to_tweet_id": tweets[index - 1]}
            state["pending"] = {"index": index, "since": iso_z(now_utc())}
            await save(checkpoint, state)
            tweet_id, wait = await self._create(token, body)
            tweets.append(tweet_id)
            state.pop("pending", None)
            await save(checkpoint, state)
            _log.info("x: %s part %d of %d posted", request.target_key, index + 1, len(parts))
            if wait is not None and index + 1 < len(parts):
                # X says this account has no posts left in the window: wait for it, or let the
                # outbox come back when it resets (the thread goes on from the next part).
                if wait > self._client.policy.long_retry_after:
                    raise RateLimited(wait, provider=PROVIDER, message=(
                        "X's limit of posts for this account is used up for now; the rest of "
                        f"the thread goes out {describe_wait(wait)}."))
                await self._sleep(wait)
        return self._result(tweets)

    async def find(self, account_id: str, token: str, request: PostRequest, *,
                   progress: Mapping[str, Any]) -> PublishResult | None:
        """The thread if all its parts are at X. ``None`` when a part is missing: either nothing
        was posted or ``publish(progress=…)`` must carry on (it adopts a part that went out
        without its id being saved)."""
        parts = _parts(request)
        state = load_progress(progress)
        tweets = _ids(state.get("tweets"))
        if len(tweets) >= len(parts):
            return self._result(tweets[: len(parts)])
        pending = _pending(state)
        found = await self._lookup(account_id, token, parts, tweets, request,
                                   since=parse_time(pending[1]) if pending else None,
                                   only_next=False)
        tweets = tweets + found
        if len(tweets) >= len(parts):
            return self._result(tweets[: len(parts)])
        return None

    # --- posts -----------------------------------------------------------------------------------

    async def _create(self, token: str, body: dict[str, Any]) -> tuple[str, float | None]:
        """Posts once: the new post's id, and the seconds until X's window resets when its
        ``x-rate-limit-remaining`` says no post is left (else ``None``)."""
        response = await self._call("POST", "/2/tweets", token, what=_POST, json=body,
                                    idempotent=False, rate_limited=True)
        data = answer(self._client, response, created=True).get("data")
        tweet_id = id_of(data.get("id")) if isinstance(data, dict) else None
        if tweet_id is None:
            raise noted(self._client, ProviderUnavailable(
                "X accepted the post but its answer named no post id, so it is not known "
                "whether the post went out.", provider=PROVIDER, maybe_sent=True))
        wait = None
        if response.headers.get("x-rate-limit-remaining", "").strip() == "0":
            wait = parse_retry_after({"x-rate-limit-reset":
                                      response.headers.get("x-rate-limit-reset", "")},
                                     now=self._now())
        return tweet_id, wait

    def _result(self, tweets: Sequence[str]) -> PublishResult:
        return PublishResult(post_id=tweets[0], url=self.url_for(tweets[0]),
                             extra={"tweet_ids": list(tweets)})

    def url_for(self, tweet_id: str) -> str:
        """A link to the post a person can open."""
        return f"{self._web}/i/web/status/{tweet_id}"

    async def _lookup(self, account_id: str, token: str, parts: Sequence[str],
                      known: Sequence[str], request: PostRequest, *,
                      since: datetime | None, only_next: bool) -> list[str]:
        """Ids of the parts after ``known`` found among the account's posts since the earlier
        of ``since`` and ``request.not_before``, in order (stops at the first part not found).
        """
        starts = [utc(moment) for moment in (since, request.not_before) if moment is not None]
        start = min(starts) if starts else None
        recent = await self._recent(account_id, token, start)
        wanted = [normalise_text(part) for part in parts]
        found: list[str] = []
        previous = known[-1] if known else None
        used = set(known)
        for index in range(len(known), len(parts)):
            match = _match(recent, wanted[index], previous, used)
            if match is None:
                break
            found.append(match)
            used.add(match)
            previous = match
            if only_next:
                break
        return found

    async def _recent(self, account_id: str, token: str,
                      start: datetime | None) -> list[dict[str, Any]]:
        params: dict[str, str] = {
            "max_results": "100",
            "tweet.fields": "created_at,text,referenced_tweets,conversation_id"}
        if start is not None:
            params["start_time"] = iso_z(start - CLOCK_SKEW)
        tweets: list[dict[str, Any]] = []
        for _ in range(LOOKUP_PAGES):
            response = await self._call("GET", f"/2/users/{account_id}/tweets", token,
                                        what="the account's recent posts", params=params)
            body = answer(self._client, response, created=False)
            data = body.get("data")
            if isinstance(data, list):
                tweets.extend(item for item in data if isinstance(item, dict))
            meta = body.get("meta")
            next_token = text_of(meta.get("next_token")) if isinstance(meta, dict) else None
            if next_token is None:
                break
            params = {**params, "pagination_token": next_token}
        tweets.reverse()  # oldest first: the first match is the one this attempt posted
        return tweets

    # --- media -----------------------------------------------------------------------------------

    async def _upload_all(self, token: str, media: Sequence[MediaFile], state: dict[str, Any],
                          checkpoint: Checkpoint) -> list[str]:
        raw = state.get("media")
        entries: list[Any] = list(raw) if isinstance(raw, list) else []
        entries = entries[: len(media)] + [None] * (len(media) - len(entries))
        state["media"] = entries
        ids: list[str] = []
        for index, item in enumerate(media):
            entry = entries[index]
            if not self._reusable(entry, item):
                entry = None
            elif not entry["ready"]:
                if await self._processed(token, entry["id"]):
                    entry["ready"] = True
                    await save(checkpoint, state)
                else:
                    entry = None  # X no longer knows it: upload again
            if entry is None:
                entry = await self._upload(token, item)
                entries[index] = entry
                await save(checkpoint, state)
                if not entry["ready"]:
                    if not await self._processed(token, entry["id"]):
                        raise noted(self._client, Rejected(
                            "X lost the upload", provider=PROVIDER,
                            message="X lost the uploaded media while processing it; "
                                    "try again."))
                    entry["ready"] = True
                    await save(checkpoint, state)
            ids.append(str(entry["id"]))
        return ids

    def _reusable(self, entry: Any, item: MediaFile) -> bool:
        if not isinstance(entry, dict) or id_of(entry.get("id")) is None:
            return False
        if entry.get("sha256") != item.sha256:
            return False
        expires = entry.get("expires_at")
        if not isinstance(expires, (int, float)) or expires - self._now() < MEDIA_REUSE_MARGIN:
            return False
        entry["ready"] = bool(entry.get("ready"))
        return True

    async def _upload(self, token: str, item: MediaFile) -> dict[str, Any]:
        size = await file_size(item)
        category = _category(item)
        what = "the video" if category == "tweet_video" else (
            "the GIF" if category == "tweet_gif" else "the image")
        if category == "tweet_image":
            data = await read_range(item, 0, size)
            response = await self._call(
                "POST", "/2/media/upload", token, what=what, idempotent=True,
                data={"media_category": category},
                files={"media": (item.path.name, data, item.mime or "application/octet-stream")})
            info = _data(answer(self._client, response, created=False))
        else:
            response = await self._call(
                "POST", "/2/media/upload/initialize", token, what=what, idempotent=True,
                json={"media_type": item.mime, "total_bytes": size, "media_category": category})
            init = _data(answer(self._client, response, created=False))
            media_id = id_of(init.get("id"))
            if media_id is None:
                raise noted(self._client, ProviderUnavailable(
                    "X started the upload but named no media id; try again.",
                    provider=PROVIDER))
            for index, offset in enumerate(range(0, size, self._segment)):
                chunk = await read_range(item, offset, min(self._segment, size - offset))
                await self._call(
                    "POST", f"/2/media/upload/{media_id}/append", token, what=what,
                    idempotent=True, data={"segment_index": str(index)},
                    files={"media": ("blob", chunk, "application/octet-stream")})
                del chunk
            response = await self._call("POST", f"/2/media/upload/{media_id}/finalize", token,
                                        what=what, idempotent=True)
            finalized = answer(self._client, response, created=False)
            info = _data(finalized)
            info.setdefault("errors", finalized.get("errors"))
            info.setdefault("id", media_id)
            info.setdefault("media_key", init.get("media_key"))
        media_id = id_of(info.get("id"))
        if media_id is None:
            raise noted(self._client, ProviderUnavailable(
                "X took the upload but named no media id; try again.", provider=PROVIDER))
        lifetime = info.get("expires_after_secs")
        lifetime = float(lifetime) if isinstance(lifetime, (int, float)) and lifetime > 0 \
            else MEDIA_LIFETIME
        processing = info.get("processing_info")
        processing = processing if isinstance(processing, dict) else {}
        state = processing.get("state")
        if state == "failed":
            raise self._processing_failed(processing, what, info.get("errors"))
        return {"sha256": item.sha256, "id": media_id,
                "media_key": text_of(info.get("media_key")),
                "expires_at": self._now() + lifetime,
                "ready": state in (None, "succeeded")}

    async def _processed(self, token: str, media_id: str) -> bool:
        """Waits until X has processed the upload: ``True`` when it succeeded, ``False`` when X
        does not know the id (any more); ``Rejected`` when processing failed."""
        waiter = Waiter(self._sleep, self._processing_timeout)
        while True:
            response = await self._call("GET", "/2/media/upload", token, what="the upload",
                                        params={"command": "STATUS", "media_id": media_id},
                                        allow_statuses=(404,))
            if response.status_code == 404:
                return False
            body = answer(self._client, response, created=False)
            processing = _data(body).get("processing_info")
            if not isinstance(processing, dict):
                return True
            state = processing.get("state")
            if state == "succeeded":
                return True
            if state == "failed":
                raise self._processing_failed(processing, "the media", body.get("errors"))
            after = processing.get("check_after_secs")
            delay = float(after) if isinstance(after, (int, float)) and after >= 0 \
                else self._poll
            if not await waiter.wait(max(delay, self._poll)):
                raise noted(self._client, ProviderUnavailable(
                    "X is still processing the video; the app will try again later.",
                    provider=PROVIDER, retry_after=60.0))

    def _processing_failed(self, processing: Mapping[str, Any], what: str,
                           errors: object = None) -> ProviderError:
        """X's reason is in ``processing_info.error`` (v1.1's shape) or, as a problem, in the
        answer's top-level ``errors``."""
        error = processing.get("error")
        reason = None
        code = None
        if isinstance(error, dict):
            reason = text_of(error.get("message")) or text_of(error.get("name"))
            code = id_of(error.get("code"))
        if reason is None and isinstance(errors, list) and errors \
                and isinstance(errors[0], dict):
            reason = text_of(errors[0].get("detail")) or text_of(errors[0].get("message")) \
                or text_of(errors[0].get("title"))
        reason = reason_text(reason) if reason else "it could not process the file"
        return noted(self._client, Rejected(
            reason, provider=PROVIDER, code=code or "processing_failed",
            message=f"X could not process {what}: {reason}."))

    # --- one request -----------------------------------------------------------------------------

    async def _call(self, method: str, path: str, token: str, *, what: str,
                    idempotent: bool | None = None, rate_limited: bool = False,
                    allow_statuses: Sequence[int] = (), **kwargs: Any) -> httpx.Response:
        allowed = READ_ERROR_STATUSES | set(allow_statuses)
        response = await self._client.request(
            method, f"{self._api}{path}", idempotent=idempotent, rate_limited=rate_limited,
            allow_statuses=allowed, headers=bearer(token), **kwargs)
        if response.status_code >= 400 and response.status_code not in allow_statuses:
            raise noted(self._client, _rejection(response, what))
        return response


# --- helpers -------------------------------------------------------------------------------------

def _parts(request: PostRequest) -> tuple[str, ...]:
    if request.post_type not in ("post", "thread"):
        raise InvalidInput(f"X takes posts and threads, not '{request.post_type}'.")
    parts = request.parts or (request.text,)
    if any(not isinstance(part, str) for part in parts):
        raise InvalidInput("Every part of an X thread must be text.")
    for number, part in enumerate(parts, start=1):
        if not part.strip() and not (number == 1 and request.media):
            raise InvalidInput(f"Part {number} of the X post is empty." if len(parts) > 1
                               else "The X post is empty.")
    return parts


def _check_media(media: Sequence[MediaFile]) -> None:
    if not media:
        return
    kinds = [_category(item) for item in media]
    if any(kind != "tweet_image" for kind in kinds) and len(media) > 1:
        raise InvalidInput("An X post takes one GIF or one video on its own, or up to four "
                           "images.")
    if len(media) > MAX_IMAGES:
        raise InvalidInput(f"An X post takes at most {MAX_IMAGES} images.")


def _category(item: MediaFile) -> str:
    mime = (item.mime or "").lower()
    if mime == "image/gif":
        return "tweet_gif"
    if item.kind == "video" or mime.startswith("video/"):
        return "tweet_video"
    if item.kind == "image" or mime.startswith("image/"):
        return "tweet_image"
    raise InvalidInput(f"X cannot take {item.path.name}: it is neither an image nor a video.")


def _ids(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    ids = [id_of(item) for item in value]
    return [item for item in ids if item is not None]


def _pending(state: Mapping[str, Any]) -> tuple[int, str] | None:
    pending = state.get("pending")
    if not isinstance(pending, dict):
        return None
    index = pending.get("index")
    since = pending.get("since")
    if not isinstance(index, int) or isinstance(index, bool) or not isinstance(since, str):
        return None
    return index, since


def _data(body: Mapping[str, Any]) -> dict[str, Any]:
    data = body.get("data")
    return dict(data) if isinstance(data, dict) else {}


def _match(recent: Sequence[Mapping[str, Any]], wanted: str, previous: str | None,
           used: set[str]) -> str | None:
    for tweet in recent:
        tweet_id = id_of(tweet.get("id"))
        if tweet_id is None or tweet_id in used:
            continue
        text = tweet.get("text")
        if not isinstance(text, str) or normalise_text(text) != wanted:
            continue
        replied = _replied_to(tweet)
        if replied != previous and (previous is None or replied is not None):
            continue  # a reply elsewhere (or, for a thread part, to another post)
        return tweet_id
    return None


def _replied_to(tweet: Mapping[str, Any]) -> str | None:
    """The post this one replies to (``referenced_tweets``, or the 2026 OpenAPI's
    ``referenced_posts``)."""
    refs = tweet.get("referenced_tweets") or tweet.get("referenced_posts")
    if not isinstance(refs, list):
        return None
    for ref in refs:
        if isinstance(ref, dict) and ref.get("type") == "replied_to":
            return id_of(ref.get("id"))
    return None


_DUPLICATE = ("duplicate content", "duplicate")
_TOO_LONG = ("too long", "a bit shorter")


def _rejection(response: httpx.Response, what: str) -> ProviderError:
    """X's 4xx answer as a sentence: problem objects (``detail``/``title``/``type``), the v2
    ``errors[]`` list, or the plain ``{"code", "message"}`` error."""
    body = json_object(response) or {}
    status = response.status_code
    reason = text_of(body.get("detail")) or text_of(body.get("message"))
    kind = text_of(body.get("type"))
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        reason = reason or text_of(first.get("detail")) or text_of(first.get("message"))
        kind = kind or text_of(first.get("type"))
    reason = reason or text_of(body.get("title")) or f"HTTP {status}"
    lowered = reason.lower()
    code = kind.rsplit("/", 1)[-1] if kind else None
    if what == _POST and any(word in lowered for word in _DUPLICATE):
        return Rejected("it is the same as a recent one", provider=PROVIDER, status=status,
                        code="duplicate",
                        message="X refused the post: it is the same as a recent one.")
    if what == _POST and any(word in lowered for word in _TOO_LONG):
        return Rejected("the text is longer than X allows", provider=PROVIDER, status=status,
                        code="too_long",
                        message="X refused the post: the text is longer than X allows.")
    if code == "client-forbidden":
        return Rejected("the app's X developer access does not allow this", provider=PROVIDER,
                        status=status, code=code,
                        message=f"X refused {what}: the app's X developer access does not "
                                "allow this.")
    text = reason_text(reason)
    return Rejected(text, provider=PROVIDER, status=status, code=code,
                    message=f"X refused {what}: {text}.")
