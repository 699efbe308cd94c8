"""Publishing to Instagram through the Graph API's content publishing (providers.md §5): feed
images, carousels, reels and stories.

Instagram fetches media itself from a public address, so every :class:`MediaFile` needs its
``public_url`` (the outbox fills it with the R2 or sandbox address); without one the request is
:class:`InvalidInput` and nothing is sent.

Flow (all paths under ``{api_base}/v21.0``; the token goes in an ``Authorization: Bearer``
header, never in a URL; parameters are form fields, as Graph expects)
    1. **Quota.** ``GET /{ig-user-id}/content_publishing_limit?fields=quota_usage,config``:
       when ``quota_usage`` has reached ``config.quota_total`` the call is
       :class:`RateLimited` (``retry_after`` one hour) before anything is created.
    2. **Containers.** ``POST /{ig-user-id}/media``: ``feed`` ``image_url`` + ``caption``;
       ``reel`` ``media_type=REELS`` + ``video_url`` + ``caption``; ``story``
       ``media_type=STORIES`` + ``image_url`` or ``video_url``; ``carousel`` one child per item
       (``is_carousel_item=true`` with ``image_url``, or ``media_type=VIDEO`` + ``video_url``),
       then ``media_type=CAROUSEL`` with ``children`` (comma-separated ids) and ``caption``.
       Each container id is checkpointed as soon as it is known. Containers are invisible until
       published and expire after 24 hours, so their creation may be repeated by the shared
       policy.
    3. **Processing.** ``GET /{container-id}?fields=status_code,status`` every
       ``poll_interval`` seconds until ``FINISHED`` (children before their carousel).
       ``ERROR`` → :class:`Rejected` with Instagram's status text; ``EXPIRED`` (a resume more
       than a day later) → the containers are made again, as nothing was published from them.
    4. **Publish.** ``POST /{ig-user-id}/media_publish`` with ``creation_id``: the one create
       that matters. It is sent at most once per attempt, after a checkpoint saying it is about
       to go (``pending``); the new media id is checkpointed at once. A container can be
       published only once and its ``status_code`` becomes ``PUBLISHED``, so a resume whose
       container is already ``PUBLISHED`` looks the post up instead of publishing.
    5. **Link.** ``GET /{media-id}?fields=permalink``.

Progress (JSON)::

    {"children": ["1789…", …], "container": "1790…", "pending": {"since": "…Z"},
     "media_id": "1791…"}

Lookup (:meth:`InstagramPublisher.find`)
    With a media id: that post. With a container: ``PUBLISHED`` → the account's recent media
    (``GET /{ig-user-id}/media?fields=id,caption,timestamp,permalink``, stories from
    ``/{ig-user-id}/stories``) since the attempt began, matched by caption; any other state →
    ``None`` (never published). Without a container nothing can have been published from this
    attempt, but the caption is still looked for among media since ``not_before``.

Errors (Graph ``{"error": {"message", "type", "code", "error_subcode", "error_user_msg"}}``)
    190/102 → ``AuthExpired``; 4, 17, 32, 613 (throttling) and the publishing limit
    (subcode 2207042) → ``RateLimited``; 1, 2 or ``is_transient`` → ``ProviderUnavailable``
    (``maybe_sent`` for ``media_publish``); 10 and 200–299 → ``Rejected`` saying the app lacks
    the permission; anything else → ``Rejected("Instagram refused the post: …")`` with
    ``error_user_msg`` (or ``message``).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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
    answer,
    bearer,
    id_of,
    iso_z,
    load_progress,
    normalise_text,
    noted,
    now_utc,
    parse_time,
    reason_text,
    save,
    text_of,
    utc,
)
from ._graph import AUTH_CODES, GRAPH_VERSION, THROTTLE_CODES, graph_api, graph_failure
from .base import Checkpoint, MediaFile, PostRequest, PublishResult

__all__ = ["GRAPH_VERSION", "PROVIDER", "InstagramPublisher", "instagram_policy"]

_log = logging.getLogger(__name__)

PROVIDER = "instagram"
WEB_BASE = "https://www.instagram.com"
MAX_CAROUSEL = 10
QUOTA_RETRY = 3600.0
THROTTLE_RETRY = 600.0
CLOCK_SKEW = timedelta(minutes=2)
LOOKUP_PAGES = 4

_PUBLISH_LIMIT_SUBCODE = 2207042
_POST = "the post"
_ALREADY_PUBLISHED = "already_published"


def instagram_policy() -> ProviderPolicy:
    """Instagram's policy: no local rate limit (the publishing quota is read before posting)."""
    return ProviderPolicy(PROVIDER, deadline=120.0)


class _Expired(Exception):
    """A container from an earlier attempt expired unpublished: make new ones."""


class InstagramPublisher:
    """Feed posts, carousels, reels and stories for any connected Instagram professional
    account (``account_id`` is the Instagram user id; the token comes with each call)."""

    platform = PROVIDER

    def __init__(self, api_base: str, *, client: ProviderClient | None = None,
                 poll_interval: float = 2.0, sleep: Sleep = asyncio.sleep,
                 graph_version: str = GRAPH_VERSION, processing_timeout: float = 600.0,
                 web_base: str = WEB_BASE) -> None:
        self._api = graph_api(api_base, graph_version)
        self._web = web_base.rstrip("/")
        self._client = client if client is not None else ProviderClient(instagram_policy())
        self._poll = poll_interval
        self._sleep = sleep
        self._processing_timeout = processing_timeout

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- the contract ----------------------------------------------------------------------------

    async def publish(self, account_id: str, token: str, request: PostRequest, *,
                      progress: Mapping[str, Any], checkpoint: Checkpoint) -> PublishResult:
        items = _plan(request)
        state = load_progress(progress)
        media_id = id_of(state.get("media_id"))
        if media_id is not None:
            return await self._result(token, media_id, request)
        container = id_of(state.get("container"))
        if container is not None and state.get("pending") is not None:
            code, _ = await self._status(token, container)
            if code == "PUBLISHED":  # published, but the answer never arrived
                found = await self._locate(account_id, token, request, state)
                if found is None:
                    raise noted(self._client, ProviderUnavailable(
                        "Instagram published the post but does not list it yet; the app will "
                        "check again.", provider=PROVIDER, maybe_sent=True, retry_after=60.0))
                state["media_id"] = found.post_id
                state.pop("pending", None)
                await save(checkpoint, state)
                return found
        await self._check_quota(account_id, token)
        for _ in range(2):
            try:
                container = await self._prepare(account_id, token, request, items, state,
                                                 checkpoint)
                break
            except _Expired:
                _log.info("instagram: %s containers expired unpublished; making new ones",
                          request.target_key)
                for key in ("children", "container", "pending"):
                    state.pop(key, None)
                await save(checkpoint, state)
        else:
            raise noted(self._client, ProviderUnavailable(
                "Instagram let the media expire before it could be posted; try again.",
                provider=PROVIDER))
        state["pending"] = {"since": iso_z(now_utc())}
        await save(checkpoint, state)
        try:
            media_id = await self._publish(account_id, token, container)
        except Rejected as error:
            if error.code != _ALREADY_PUBLISHED:
                raise
            # Published a moment ago by an attempt whose answer was lost: adopt that post.
            found = await self._locate(account_id, token, request, state)
            if found is None:
                raise noted(self._client, ProviderUnavailable(
                    "Instagram published the post but does not list it yet; the app will "
                    "check again.", provider=PROVIDER, maybe_sent=True,
                    retry_after=60.0)) from error
            media_id = found.post_id
        state["media_id"] = media_id
        state.pop("pending", None)
        await save(checkpoint, state)
        _log.info("instagram: %s published", request.target_key)
        return await self._result(token, media_id, request)

    async def find(self, account_id: str, token: str, request: PostRequest, *,
                   progress: Mapping[str, Any]) -> PublishResult | None:
        """The post if Instagram has it; ``None`` when it was certainly not published."""
        _plan(request, need_urls=False)
        state = load_progress(progress)
        media_id = id_of(state.get("media_id"))
        if media_id is not None:
            return await self._result(token, media_id, request)
        container = id_of(state.get("container"))
        if container is not None:
            code, _ = await self._status(token, container)
            if code != "PUBLISHED":
                return None  # a container publishes once, and this one has not
            found = await self._locate(account_id, token, request, state)
            if found is None:
                raise noted(self._client, ProviderUnavailable(
                    "Instagram published the post but does not list it yet; the app will "
                    "check again.", provider=PROVIDER, maybe_sent=True, retry_after=60.0))
            return found
        if request.post_type == "story":
            return None  # a story needs this attempt's container, which was never made
        return await self._locate(account_id, token, request, state)

    # --- containers ------------------------------------------------------------------------------

    async def _prepare(self, account_id: str, token: str, request: PostRequest,
                       items: Sequence[MediaFile], state: dict[str, Any],
                       checkpoint: Checkpoint) -> str:
        """The ready (``FINISHED``) container to publish, made or resumed."""
        container = id_of(state.get("container"))
        kind = request.post_type
        if container is None and kind == "carousel":
            raw = state.get("children")
            children = [c for c in (id_of(v) for v in raw) if c] if isinstance(raw, list) \
                else []
            children = children[: len(items)]
            state["children"] = children
            for item in items[len(children):]:
                fields: dict[str, str] = {"is_carousel_item": "true"}
                if item.kind == "video":
                    fields |= {"media_type": "VIDEO", "video_url": _url(item)}
                else:
                    fields["image_url"] = _url(item)
                children.append(await self._container(account_id, token, fields))
                await save(checkpoint, state)
            for child in children:
                await self._wait(token, child)
            container = await self._container(account_id, token, {
                "media_type": "CAROUSEL", "children": ",".join(children),
                "caption": request.text})
            state["container"] = container
            await save(checkpoint, state)
        elif container is None:
            item = items[0]
            fields = {}
            if kind == "feed":
                fields = {"image_url": _url(item), "caption": request.text}
            elif kind == "reel":
                fields = {"media_type": "REELS", "video_url": _url(item),
                          "caption": request.text}
                share = request.options.get("share_to_feed")
                if isinstance(share, bool):
                    fields["share_to_feed"] = "true" if share else "false"
            else:  # story
                key = "video_url" if item.kind == "video" else "image_url"
                fields = {"media_type": "STORIES", key: _url(item)}
            container = await self._container(account_id, token, fields)
            state["container"] = container
            await save(checkpoint, state)
        await self._wait(token, container)
        return container

    async def _container(self, account_id: str, token: str, fields: Mapping[str, str]) -> str:
        response = await self._call("POST", f"/{account_id}/media", token, what="the media",
                                    idempotent=True, data=dict(fields))
        container = id_of(answer(self._client, response, created=False).get("id"))
        if container is None:
            raise noted(self._client, ProviderUnavailable(
                "Instagram took the media but named no container; try again.",
                provider=PROVIDER))
        return container

    async def _status(self, token: str, container: str) -> tuple[str, str]:
        response = await self._call("GET", f"/{container}", token, what="the media",
                                    params={"fields": "status_code,status"})
        body = answer(self._client, response, created=False)
        code = text_of(body.get("status_code")) or "IN_PROGRESS"
        return code.upper(), text_of(body.get("status")) or ""

    async def _wait(self, token: str, container: str) -> None:
        """Polls until the container is ``FINISHED`` (or already ``PUBLISHED``); an expired
        one (made by an attempt more than a day ago) is :class:`_Expired`."""
        waiter = Waiter(self._sleep, self._processing_timeout)
        while True:
            code, text = await self._status(token, container)
            if code in ("FINISHED", "PUBLISHED"):
                return
            if code == "ERROR":
                reason = reason_text(_status_reason(text)) or "the media could not be used"
                raise noted(self._client, Rejected(
                    reason, provider=PROVIDER, code="container_error",
                    message=f"Instagram could not use the media: {reason}."))
            if code == "EXPIRED":
                raise _Expired
            if not await waiter.wait(self._poll):
                raise noted(self._client, ProviderUnavailable(
                    "Instagram is still processing the media; the app will try again later.",
                    provider=PROVIDER, retry_after=60.0))

    # --- quota, publish, lookup ------------------------------------------------------------------

    async def _check_quota(self, account_id: str, token: str) -> None:
        response = await self._call(
            "GET", f"/{account_id}/content_publishing_limit", token,
            what="the publishing limit", params={"fields": "quota_usage,config"})
        data = answer(self._client, response, created=False).get("data")
        first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
        used = first.get("quota_usage")
        config = first.get("config")
        total = config.get("quota_total") if isinstance(config, dict) else None
        if isinstance(used, int) and isinstance(total, int) and total > 0 and used >= total:
            raise RateLimited(QUOTA_RETRY, provider=PROVIDER, message=(
                f"Instagram allows {total} posts a day from apps and this account has used "
                f"them all; the app will try again {describe_wait(QUOTA_RETRY)}."))

    async def _publish(self, account_id: str, token: str, container: str) -> str:
        response = await self._call("POST", f"/{account_id}/media_publish", token, what=_POST,
                                    idempotent=False, created=True,
                                    data={"creation_id": container})
        media_id = id_of(answer(self._client, response, created=True).get("id"))
        if media_id is None:
            raise noted(self._client, ProviderUnavailable(
                "Instagram accepted the post but named no media id, so it is not known whether "
                "it went out.", provider=PROVIDER, maybe_sent=True))
        return media_id

    async def _result(self, token: str, media_id: str, request: PostRequest) -> PublishResult:
        response = await self._call("GET", f"/{media_id}", token, what=_POST,
                                    params={"fields": "id,permalink"})
        body = answer(self._client, response, created=False)
        permalink = text_of(body.get("permalink"))
        return PublishResult(post_id=media_id, url=permalink or self._fallback_url(request),
                             extra={"media_id": media_id})

    def _fallback_url(self, request: PostRequest) -> str:
        username = request.options.get("username")
        if isinstance(username, str) and username.strip():
            return f"{self._web}/{username.strip().lstrip('@')}/"
        return f"{self._web}/"

    async def _locate(self, account_id: str, token: str, request: PostRequest,
                      state: Mapping[str, Any]) -> PublishResult | None:
        """This attempt's post among the account's recent media (stories: its recent stories)."""
        starts: list[datetime] = [utc(request.not_before)] if request.not_before else []
        pending = state.get("pending")
        if isinstance(pending, dict):
            since = parse_time(pending.get("since"))
            if since is not None:
                starts.append(since)
        start = (min(starts) - CLOCK_SKEW) if starts else None
        story = request.post_type == "story"
        edge = "stories" if story else "media"
        params: dict[str, str] = {"fields": "id,caption,timestamp,permalink", "limit": "50"}
        wanted = normalise_text(request.text)
        candidates: list[Mapping[str, Any]] = []
        for _ in range(LOOKUP_PAGES):
            response = await self._call("GET", f"/{account_id}/{edge}", token,
                                        what="the account's recent posts", params=params)
            body = answer(self._client, response, created=False)
            data = body.get("data")
            items = [item for item in data if isinstance(item, dict)] \
                if isinstance(data, list) else []
            older = False
            for item in items:
                stamp = parse_time(item.get("timestamp"))
                if start is not None and stamp is not None and stamp < start:
                    older = True
                    continue
                if story or normalise_text(str(item.get("caption") or "")) == wanted:
                    candidates.append(item)
            after = _next_cursor(body)
            if older or after is None or not items:
                break
            params = {**params, "after": after}
        for item in reversed(candidates):  # oldest first: the one this attempt made
            media_id = id_of(item.get("id"))
            if media_id is not None:
                permalink = text_of(item.get("permalink"))
                return PublishResult(post_id=media_id,
                                     url=permalink or self._fallback_url(request),
                                     extra={"media_id": media_id})
        return None

    # --- one request -----------------------------------------------------------------------------

    async def _call(self, method: str, path: str, token: str, *, what: str,
                    idempotent: bool | None = None, created: bool = False,
                    **kwargs: Any) -> httpx.Response:
        response = await self._client.request(
            method, f"{self._api}{path}", idempotent=idempotent,
            allow_statuses=READ_ERROR_STATUSES, headers=bearer(token), **kwargs)
        if response.status_code >= 400:
            raise noted(self._client, _graph_error(response, what, created=created))
        return response


# --- helpers -------------------------------------------------------------------------------------

def _plan(request: PostRequest, *, need_urls: bool = True) -> tuple[MediaFile, ...]:
    """The media of a valid request (``InvalidInput`` otherwise; nothing is sent)."""
    kind = request.post_type
    media = request.media
    if kind not in ("feed", "carousel", "reel", "story"):
        raise InvalidInput(f"Instagram takes feed posts, carousels, reels and stories, not "
                           f"'{kind}'.")
    if kind == "feed":
        if len(media) != 1 or media[0].kind != "image":
            raise InvalidInput("An Instagram feed post takes exactly one image (post a video as "
                               "a reel, several pictures as a carousel).")
    elif kind == "carousel":
        if not 2 <= len(media) <= MAX_CAROUSEL:
            raise InvalidInput(f"An Instagram carousel takes 2 to {MAX_CAROUSEL} images or "
                               "videos.")
    elif kind == "reel":
        if len(media) != 1 or media[0].kind != "video":
            raise InvalidInput("An Instagram reel takes exactly one video.")
    elif len(media) != 1:
        raise InvalidInput("An Instagram story takes exactly one image or video.")
    for item in media:
        if item.kind not in ("image", "video"):
            raise InvalidInput(f"Instagram cannot take {item.path.name}: it is neither an image "
                               "nor a video.")
        if need_urls:
            _url(item)
    return media


def _url(item: MediaFile) -> str:
    if not item.public_url:
        raise InvalidInput(f"{item.path.name} has no public address for Instagram to fetch it "
                           "from yet; wait until it is uploaded, then publish again.")
    return item.public_url


def _status_reason(text: str) -> str:
    """Instagram's container ``status`` (``"Error: Media upload has failed with error code
    2207026"``) without the leading ``Error:``."""
    cleaned = re.sub(r"^\s*error\s*:\s*", "", text, flags=re.IGNORECASE)
    return cleaned or text


def _next_cursor(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    return text_of(cursors.get("after")) if isinstance(cursors, dict) else None


def _graph_error(response: httpx.Response, what: str, *, created: bool) -> ProviderError:
    failure = graph_failure(response)
    status, code, subcode = failure.status, failure.code, failure.subcode
    text = reason_text(failure.message)
    code_text = str(code) if code is not None else None
    if code in AUTH_CODES:
        return AuthExpired(provider=PROVIDER, status=status, message=(
            "Instagram no longer accepts the saved sign-in; connect the Instagram account "
            "again."))
    if subcode == _PUBLISH_LIMIT_SUBCODE:
        return RateLimited(QUOTA_RETRY, provider=PROVIDER, status=status, message=(
            "Instagram's daily limit of posts from apps is used up for this account; the app "
            f"will try again {describe_wait(QUOTA_RETRY)}."))
    if code in THROTTLE_CODES:
        wait = failure.retry_after or THROTTLE_RETRY
        return RateLimited(wait, provider=PROVIDER, status=status, message=(
            f"Instagram is limiting requests from the app; try again {describe_wait(wait)}."))
    if code in (1, 2) or failure.transient:
        return ProviderUnavailable(provider=PROVIDER, status=status, maybe_sent=created,
                                   retry_after=60.0, message=(
                                       "Instagram had a temporary problem"
                                       + (", so it is not known whether the post went out."
                                          if created else "; try again in a minute.")))
    if code == 10 or (code is not None and 200 <= code <= 299):
        return Rejected(text, provider=PROVIDER, status=status, code=code_text, message=(
            "Instagram refused: the account has not allowed the app to publish "
            f"({text}); connect it again and allow publishing."))
    if code == 368:
        return Rejected(text, provider=PROVIDER, status=status, code=code_text, message=(
            "Instagram has temporarily blocked this account from posting through apps."))
    if code == 100 and "already been published" in text.lower():
        return Rejected(text, provider=PROVIDER, status=status, code=_ALREADY_PUBLISHED,
                        message="Instagram refused the post: it was already published.")
    if code == 506:
        return Rejected("it is the same as a recent one", provider=PROVIDER, status=status,
                        code="duplicate",
                        message="Instagram refused the post: it is the same as a recent one.")
    return Rejected(text, provider=PROVIDER, status=status,
                    code=str(subcode) if subcode is not None else code_text,
                    message=f"Instagram refused {what}: {text}.")
