"""Publishing a video to TikTok through the Content Posting API's direct post (providers.md §6).

Flow (``Authorization: Bearer`` on every API call; JSON bodies)
    1. ``POST /v2/post/publish/creator_info/query/``: the privacy levels this account may use,
       its username, whether it has comments, duets or stitches turned off, and the longest
       video it may post. The privacy level is ``request.options["privacy_level"]`` when TikTok
       offers it, else ``SELF_ONLY`` (all an app TikTok has not audited may post); the one used
       is in the result's ``extra``. Settings the creator turned off stay off.
    2. ``POST /v2/post/publish/video/init/`` with ``post_info`` and ``source_info``
       ``{"source": "FILE_UPLOAD", "video_size", "chunk_size", "total_chunk_count"}``. The
       ``publish_id`` and ``upload_url`` are checkpointed at once. Init is a create and is never
       repeated blindly; but an init whose upload never happened publishes nothing (TikTok
       waits for the bytes), so starting again after a lost init answer is safe.
    3. ``PUT {upload_url}`` chunk by chunk, in order, each read from the file in a worker thread
       when it is sent (only one chunk in memory), with ``Content-Range: bytes
       {first}-{last}/{total}`` and ``Content-Type: video/mp4``; each chunk done is
       checkpointed, so a resume continues with the next one (from TikTok's own
       ``uploaded_bytes`` when the status tells it). The upload URL is pre-signed: the user
       token is not sent there.
    4. ``POST /v2/post/publish/status/fetch/`` ``{"publish_id"}`` every ``poll_interval``
       seconds until ``PUBLISH_COMPLETE`` (or ``SEND_TO_USER_INBOX``); ``FAILED`` →
       :class:`Rejected` naming TikTok's ``fail_reason`` in words.

Chunk rules (:func:`chunk_plan`): chunks between 5 MiB (``min_chunk_size``) and 64 MiB; the
last one takes the remainder and stays under 128 MiB; ``total_chunk_count`` is
``floor(size / chunk_size)``; a file smaller than the minimum, or no larger than one chunk, goes
as one chunk of its own size; at most 1,000 chunks.

Result: the post id is ``publicaly_available_post_id[0]`` (TikTok's spelling), which appears
after moderation; the link is ``https://www.tiktok.com/@{username}/video/{id}``. A private
(``SELF_ONLY``) video has no public id: the result then carries the ``publish_id`` as its id
and the creator's profile as its link (the id itself when the username is unknown).

Progress (JSON)::

    {"username", "privacy_level", "publish_id", "upload_url", "video_size", "chunk_size",
     "chunk_count", "chunks_done", "uploaded"}

Lookup (:meth:`TikTokPublisher.find`): with a checkpointed ``publish_id``, its status
(complete → the post; ``FAILED`` → ``None``; still processing → ``ProviderUnavailable`` with
``maybe_sent``). Without one, ``None``: TikTok offers apps it has not audited no way to look
posts up by caption, and nothing can have been published without this attempt's upload.

Errors: TikTok's envelope ``{"error": {"code", "message", "log_id"}}`` (also on a 200 whose
code is not ``ok``): ``access_token_invalid``/``scope_not_authorized`` → ``AuthExpired``;
``rate_limit_exceeded`` and ``spam_risk_too_many_posts`` → ``RateLimited``;
``internal_error`` → ``ProviderUnavailable``; others → ``Rejected`` in a sentence.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Mapping
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
from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy

from ._common import (
    READ_ERROR_STATUSES,
    Sleep,
    Waiter,
    bearer,
    file_size,
    id_of,
    json_object,
    load_progress,
    noted,
    read_range,
    reason_text,
    save,
    text_of,
)
from .base import Checkpoint, MediaFile, PostRequest, PublishResult

__all__ = [
    "CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "PROVIDER",
    "TikTokPublisher",
    "chunk_plan",
    "tiktok_policy",
]

_log = logging.getLogger(__name__)

PROVIDER = "tiktok"
WEB_BASE = "https://www.tiktok.com"
MIB = 1024 * 1024
MIN_CHUNK_SIZE = 5 * MIB
CHUNK_SIZE = 10 * MIB
MAX_CHUNK_SIZE = 64 * MIB
MAX_CHUNKS = 1000
SELF_ONLY = "SELF_ONLY"
#: How long to keep asking for the public post id of a public video once it is published.
ID_WAIT = 60.0

_AUTH_CODES = frozenset({"access_token_invalid", "scope_not_authorized",
                         "scope_permission_missed", "token_not_authorized_for_specified_scope"})
_DONE = frozenset({"PUBLISH_COMPLETE", "SEND_TO_USER_INBOX"})
_FAIL_REASONS = {
    "file_format_check_failed": "TikTok does not accept the video's file format",
    "duration_check_failed": "the video is too long or too short for TikTok",
    "frame_rate_check_failed": "TikTok does not accept the video's frame rate",
    "picture_size_check_failed": "TikTok does not accept the video's picture size",
    "internal": "TikTok had an internal problem; try again",
    "video_pull_failed": "TikTok could not download the video",
    "publish_cancelled": "the post was cancelled",
    "auth_removed": "the account no longer allows the app to post",
    "spam_risk_too_many_posts": "the account has posted too many videos for now",
    "spam_risk_user_banned_from_posting": "TikTok has stopped this account from posting",
    "spam_risk_text": "TikTok flagged the caption as spam",
    "spam_risk": "TikTok flagged the post as spam",
}


def tiktok_policy() -> ProviderPolicy:
    """TikTok's policy: a long deadline, as a chunk may take a while on a slow uplink."""
    return ProviderPolicy(PROVIDER, deadline=600.0)


def chunk_plan(size: int, *, chunk_size: int = CHUNK_SIZE,
               min_chunk_size: int = MIN_CHUNK_SIZE,
               max_chunk_size: int = MAX_CHUNK_SIZE) -> tuple[int, int]:
    """``(chunk_size, total_chunk_count)`` for a video of ``size`` bytes under TikTok's rules
    (see the module notes); the last chunk is ``size - (count - 1) * chunk_size`` bytes."""
    if size <= 0:
        raise InvalidInput("The video is empty.")
    chunk = max(min_chunk_size, min(chunk_size, max_chunk_size))
    if size < min_chunk_size or size <= chunk:
        return size, 1
    if size // chunk > MAX_CHUNKS:
        chunk = math.ceil(size / MAX_CHUNKS)
        if chunk > max_chunk_size:
            raise InvalidInput("The video is too large for TikTok.")
    return chunk, size // chunk


def chunk_ranges(size: int, chunk: int, count: int) -> list[tuple[int, int]]:
    """``(first, last)`` byte of each chunk (inclusive), the last one taking the remainder."""
    ranges = [(i * chunk, i * chunk + chunk - 1) for i in range(count)]
    first, _ = ranges[-1]
    ranges[-1] = (first, size - 1)
    return ranges


class TikTokPublisher:
    """Direct posts of one video with a caption, for any connected TikTok account (the token
    comes with each call)."""

    platform = PROVIDER

    def __init__(self, api_base: str, *, client: ProviderClient | None = None,
                 poll_interval: float = 2.0, sleep: Sleep = asyncio.sleep,
                 chunk_size: int = CHUNK_SIZE, min_chunk_size: int = MIN_CHUNK_SIZE,
                 processing_timeout: float = 600.0, id_wait: float = ID_WAIT,
                 web_base: str = WEB_BASE) -> None:
        if chunk_size <= 0 or min_chunk_size <= 0:
            raise ValueError("chunk sizes must be positive")
        self._api = api_base.rstrip("/")
        self._web = web_base.rstrip("/")
        self._client = client if client is not None else ProviderClient(tiktok_policy())
        self._poll = poll_interval
        self._sleep = sleep
        self._chunk = chunk_size
        self._min_chunk = min_chunk_size
        self._processing_timeout = processing_timeout
        self._id_wait = id_wait

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the contract ----------------------------------------------------------------------------

    async def publish(self, account_id: str, token: str, request: PostRequest, *,
                      progress: Mapping[str, Any], checkpoint: Checkpoint) -> PublishResult:
        video = _video(request)
        state = load_progress(progress)
        size = await file_size(video)
        if id_of(state.get("publish_id")) is not None and not state.get("uploaded"):
            data = await self._resume_status(token, state, size)
            status = text_of(data.get("status")) or ""
            received = data.get("uploaded_bytes")
            if status in _DONE:
                state["uploaded"] = True  # the last chunk arrived; its checkpoint did not
            elif status != "FAILED" and isinstance(received, int) \
                    and not isinstance(received, bool) and 0 <= received <= size:
                # TikTok says how far it got: go on from there (a chunk sent just before the
                # crash is not sent twice).
                chunk, count = int(state["chunk_size"]), int(state["chunk_count"])
                state["chunks_done"] = count if received >= size else min(received // chunk,
                                                                          count - 1)
            if status == "FAILED":
                for key in ("publish_id", "upload_url", "video_size", "chunk_size",
                            "chunk_count", "chunks_done", "uploaded"):
                    state.pop(key, None)
                await save(checkpoint, state)
        if id_of(state.get("publish_id")) is None:
            await self._start(token, request, video, size, state, checkpoint)
        if not state.get("uploaded"):
            await self._upload(video, state, checkpoint)
        publish_id = str(state["publish_id"])
        return await self._finish(token, request, publish_id, state)

    async def find(self, account_id: str, token: str, request: PostRequest, *,
                   progress: Mapping[str, Any]) -> PublishResult | None:
        """The post, from the checkpointed ``publish_id``; ``None`` without one (TikTok has no
        lookup by caption for apps it has not audited, and nothing is published without this
        attempt's upload), when TikTok says the attempt failed, or while it is still uploading
        or processing (``publish`` with the same progress resumes it)."""
        _video(request)
        state = load_progress(progress)
        publish_id = id_of(state.get("publish_id"))
        if publish_id is None:
            return None
        data = await self._fetch_status(token, publish_id)
        status = text_of(data.get("status")) or ""
        if status in _DONE:
            return self._result(request, publish_id, state, data)
        # FAILED, or still uploading or processing: nothing is out yet, and publish() with
        # this progress carries on from where TikTok says it got (or starts again if FAILED).
        return None

    # --- steps -----------------------------------------------------------------------------------

    async def _start(self, token: str, request: PostRequest, video: MediaFile, size: int,
                     state: dict[str, Any], checkpoint: Checkpoint) -> None:
        creator = await self._call("/v2/post/publish/creator_info/query/", token,
                                   what="the account's posting settings", body={},
                                   idempotent=True)
        options = creator.get("privacy_level_options")
        allowed = [o for o in options if isinstance(o, str)] if isinstance(options, list) else []
        wanted = request.options.get("privacy_level")
        if isinstance(wanted, str) and wanted in allowed:
            privacy = wanted
        elif SELF_ONLY in allowed:
            privacy = SELF_ONLY
            if wanted and wanted != SELF_ONLY:
                _log.info("tiktok: %s privacy %s not offered; posting as %s",
                          request.target_key, wanted, SELF_ONLY)
        else:
            raise Rejected("no privacy setting the app can use", provider=PROVIDER,
                           code="privacy_level_option_mismatch", message=(
                               "TikTok offers this account none of the privacy settings the app "
                               "can use."))
        longest = creator.get("max_video_post_duration_sec")
        if (isinstance(longest, (int, float)) and video.duration_s is not None
                and video.duration_s > longest):
            raise InvalidInput(f"The video is {round(video.duration_s)} seconds long; TikTok lets "
                               f"this account post videos of up to {round(longest)} seconds.")
        username = _username(request) or text_of(creator.get("creator_username"))
        post_info: dict[str, Any] = {
            "title": request.text,
            "privacy_level": privacy,
            "disable_comment": _flag(request, "disable_comment", creator, "comment_disabled"),
            "disable_duet": _flag(request, "disable_duet", creator, "duet_disabled"),
            "disable_stitch": _flag(request, "disable_stitch", creator, "stitch_disabled"),
        }
        for key in ("video_cover_timestamp_ms",):
            value = request.options.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                post_info[key] = value
        for key in ("brand_content_toggle", "brand_organic_toggle", "is_aigc"):
            value = request.options.get(key)
            if isinstance(value, bool):
                post_info[key] = value
        chunk, count = chunk_plan(size, chunk_size=self._chunk, min_chunk_size=self._min_chunk)
        data = await self._call("/v2/post/publish/video/init/", token, what="the video",
                                idempotent=False, created=True, body={
                                    "post_info": post_info,
                                    "source_info": {"source": "FILE_UPLOAD", "video_size": size,
                                                    "chunk_size": chunk,
                                                    "total_chunk_count": count}})
        publish_id = id_of(data.get("publish_id"))
        upload_url = text_of(data.get("upload_url"))
        if publish_id is None or upload_url is None:
            raise noted(self._client, ProviderUnavailable(
                "TikTok started the post but named no upload address; try again.",
                provider=PROVIDER))
        state.update({"username": username, "privacy_level": privacy,
                      "publish_id": publish_id, "upload_url": upload_url, "video_size": size,
                      "chunk_size": chunk, "chunk_count": count, "chunks_done": 0,
                      "uploaded": False})
        await save(checkpoint, state)
        _log.info("tiktok: %s started (%d bytes in %d chunks)", request.target_key, size, count)

    async def _resume_status(self, token: str, state: Mapping[str, Any],
                             size: int) -> dict[str, Any]:
        """The status of an upload an earlier attempt left unfinished; ``FAILED`` (start
        again) also when the file or the saved plan no longer fits."""
        if state.get("video_size") != size or not isinstance(state.get("upload_url"), str) \
                or not isinstance(state.get("chunk_size"), int) \
                or not isinstance(state.get("chunk_count"), int) or state["chunk_count"] < 1:
            return {"status": "FAILED"}
        return await self._fetch_status(token, str(state["publish_id"]))

    async def _upload(self, video: MediaFile, state: dict[str, Any],
                      checkpoint: Checkpoint) -> None:
        size = int(state["video_size"])
        chunk = int(state["chunk_size"])
        count = int(state["chunk_count"])
        url = str(state["upload_url"])
        mime = video.mime if (video.mime or "").startswith("video/") else "video/mp4"
        done = state.get("chunks_done")
        start = done if isinstance(done, int) and 0 <= done <= count else 0
        for index, (first, last) in enumerate(chunk_ranges(size, chunk, count)):
            if index < start:
                continue
            data = await read_range(video, first, last - first + 1)
            response = await self._client.request(
                "PUT", url, content=data, allow_statuses=READ_ERROR_STATUSES,
                headers={"Content-Type": mime, "Content-Range": f"bytes {first}-{last}/{size}"})
            del data
            if response.status_code >= 400:
                raise noted(self._client, _error(response, "the video upload", created=False))
            state["chunks_done"] = index + 1
            state["uploaded"] = index + 1 == count
            await save(checkpoint, state)

    async def _finish(self, token: str, request: PostRequest, publish_id: str,
                      state: Mapping[str, Any]) -> PublishResult:
        waiter = Waiter(self._sleep, self._processing_timeout)
        waited_for_id = 0.0
        while True:
            data = await self._fetch_status(token, publish_id)
            status = text_of(data.get("status")) or ""
            if status == "FAILED":
                reason = _fail_reason(data.get("fail_reason"))
                raise noted(self._client, Rejected(
                    reason, provider=PROVIDER, code=text_of(data.get("fail_reason")) or "failed",
                    message=f"TikTok could not publish the video: {reason}."))
            if status in _DONE:
                has_id = _post_id(data) is not None
                private = state.get("privacy_level") == SELF_ONLY
                if has_id or private or status != "PUBLISH_COMPLETE" \
                        or waited_for_id >= self._id_wait:
                    _log.info("tiktok: %s %s", request.target_key, status.lower())
                    return self._result(request, publish_id, state, data)
                waited_for_id += self._poll
            if not await waiter.wait(self._poll):
                raise noted(self._client, ProviderUnavailable(
                    "TikTok is still processing the video; the app will check again.",
                    provider=PROVIDER, maybe_sent=True, retry_after=30.0))

    async def _fetch_status(self, token: str, publish_id: str) -> dict[str, Any]:
        return await self._call("/v2/post/publish/status/fetch/", token, what="the video",
                                body={"publish_id": publish_id}, idempotent=True)

    def _result(self, request: PostRequest, publish_id: str, state: Mapping[str, Any],
                data: Mapping[str, Any]) -> PublishResult:
        post_id = _post_id(data)
        username = _username(request) or text_of(state.get("username"))
        status = text_of(data.get("status")) or ""
        extra: dict[str, Any] = {"publish_id": publish_id, "status": status,
                                 "privacy_level": state.get("privacy_level")}
        if post_id is not None:
            url = f"{self._web}/@{username}/video/{post_id}" if username else post_id
            return PublishResult(post_id=post_id, url=url, extra=extra)
        url = f"{self._web}/@{username}" if username else publish_id
        return PublishResult(post_id=publish_id, url=url, extra=extra)

    # --- one request -----------------------------------------------------------------------------

    async def _call(self, path: str, token: str, *, what: str, body: Mapping[str, Any],
                    idempotent: bool, created: bool = False) -> dict[str, Any]:
        """POSTs JSON and returns the envelope's ``data``; TikTok's ``error`` (on any status)
        becomes a project error."""
        response = await self._client.request(
            "POST", f"{self._api}{path}", json=dict(body), idempotent=idempotent,
            allow_statuses=READ_ERROR_STATUSES, headers=bearer(token))
        envelope = json_object(response)
        if response.status_code >= 400 or envelope is None or _error_code(envelope) != "ok":
            raise noted(self._client, _error(response, what, created=created))
        data = envelope.get("data")
        return dict(data) if isinstance(data, dict) else {}


# --- helpers -------------------------------------------------------------------------------------

def _video(request: PostRequest) -> MediaFile:
    if request.post_type != "video":
        raise InvalidInput(f"TikTok takes videos, not '{request.post_type}'.")
    if len(request.media) != 1 or request.media[0].kind != "video":
        raise InvalidInput("A TikTok post takes exactly one video.")
    return request.media[0]


def _username(request: PostRequest) -> str | None:
    for key in ("username", "handle"):
        value = request.options.get(key)
        if isinstance(value, str) and value.strip().lstrip("@"):
            return value.strip().lstrip("@")
    return None


def _flag(request: PostRequest, option: str, creator: Mapping[str, Any], locked: str) -> bool:
    return bool(request.options.get(option)) or creator.get(locked) is True


def _post_id(data: Mapping[str, Any]) -> str | None:
    ids = data.get("publicaly_available_post_id")
    if isinstance(ids, list):
        for value in ids:
            post_id = id_of(value)
            if post_id is not None:
                return post_id
    return None


def _fail_reason(value: object) -> str:
    code = text_of(value)
    if code is None:
        return "TikTok gave no reason"
    return _FAIL_REASONS.get(code, reason_text(code.replace("_", " ")))


def _error_code(envelope: Mapping[str, Any]) -> str | None:
    error = envelope.get("error")
    if not isinstance(error, dict):
        return "ok"  # no error object: nothing went wrong
    return text_of(error.get("code"))


def _error(response: httpx.Response, what: str, *, created: bool) -> ProviderError:
    envelope = json_object(response)
    status = response.status_code
    if envelope is None:
        if status < 400:
            return ProviderUnavailable(
                "TikTok answered with something the app could not read"
                + (", so it is not known whether the post was started." if created
                   else "; try again."), provider=PROVIDER, status=status, maybe_sent=created)
        return Rejected(f"HTTP {status}", provider=PROVIDER, status=status,
                        message=f"TikTok refused {what} (HTTP {status}).")
    error = envelope.get("error")
    error = error if isinstance(error, dict) else {}
    code = text_of(error.get("code")) or f"HTTP {status}"
    message = text_of(error.get("message"))
    text = reason_text(message or code.replace("_", " "))
    if code in _AUTH_CODES:
        return AuthExpired(provider=PROVIDER, status=status, message=(
            "TikTok no longer accepts the saved sign-in (or it lacks permission to post); "
            "connect the TikTok account again."))
    if code == "rate_limit_exceeded":
        return RateLimited(60.0, provider=PROVIDER, status=status, message=(
            f"TikTok is limiting requests from the app; try again {describe_wait(60.0)}."))
    if code in ("spam_risk_too_many_posts", "reached_active_user_cap"):
        return RateLimited(3600.0, provider=PROVIDER, status=status, message=(
            "TikTok has limited how many videos this account can post for now; the app will "
            f"try again {describe_wait(3600.0)}."))
    if code == "internal_error" or status >= 500:
        return ProviderUnavailable(provider=PROVIDER, status=status, maybe_sent=created,
                                   retry_after=30.0)
    if code == "spam_risk_user_banned_from_posting":
        return Rejected(text, provider=PROVIDER, status=status, code=code,
                        message="TikTok has stopped this account from posting for now.")
    if code == "unaudited_client_can_only_post_to_private_accounts":
        return Rejected(text, provider=PROVIDER, status=status, code=code, message=(
            "TikTok lets the app post only private (\"only me\") videos until TikTok has "
            "reviewed it."))
    if code == "privacy_level_option_mismatch":
        return Rejected(text, provider=PROVIDER, status=status, code=code, message=(
            "TikTok refused the video: the chosen privacy setting is not available for this "
            "account."))
    return Rejected(text, provider=PROVIDER, status=status, code=code,
                    message=f"TikTok refused {what}: {text}.")
