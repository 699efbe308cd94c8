"""What every publishing client (X, Instagram, TikTok) offers the publishing outbox.

Exactly once, across crashes and ambiguous failures, rests on three things each client does:

1. **Checkpoints.** Before and after every step that creates something at the provider (an
   uploaded media id, an Instagram container id, a TikTok publish id, each post of an X thread),
   the client calls ``checkpoint(progress)`` with the whole progress so far; the outbox commits it
   to SQLite before the client goes on. ``publish(..., progress=...)`` given a saved progress
   resumes from it and never creates again what it already names.
2. **No blind retry of a create.** A create request (POST a tweet, ``media_publish``, TikTok's
   init) is sent at most once per attempt; the shared http policy retries it only when it was
   certainly not sent. When it may have been sent (timeout, reset after the body), the client
   raises ``ProviderUnavailable(maybe_sent=True)`` and the outbox reconciles with ``find``.
3. **Lookup.** ``find(...)`` looks for the post at the provider (recent posts of the account with
   the same text since the attempt began, or the stored container / publish id) and returns it if
   it exists, ``None`` if it certainly does not.

Clients never import Qt and never touch SQLite; they get tokens as arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

#: ``checkpoint(progress)``: persist this JSON-able progress before going on.
Checkpoint = Callable[[Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class MediaFile:
    """One attachment as the clients need it: the local file, and its R2 address for APIs that
    pull media from a URL (Instagram, TikTok's PULL_FROM_URL)."""

    path: Path
    mime: str
    kind: str  # "image" or "video"
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    public_url: str | None = None


@dataclass(frozen=True)
class PostRequest:
    """What to publish to one account.

    ``post_type``: X ``post`` or ``thread``; Instagram ``feed``, ``carousel``, ``reel`` or
    ``story``; TikTok ``video``. ``parts`` is the X thread's posts in order (a single post is one
    part); other platforms use ``text`` as the caption. ``media`` go with the first part.
    ``target_key`` is the outbox's stable id for this target (for logs and lookups).
    ``not_before`` is when this attempt began: ``find`` ignores posts older than that.
    """

    target_key: str
    post_type: str
    text: str
    parts: tuple[str, ...] = ()
    media: tuple[MediaFile, ...] = ()
    not_before: datetime | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PublishResult:
    """A published post: the platform's id and a link a person can open."""

    post_id: str
    url: str
    extra: Mapping[str, Any] = field(default_factory=dict)


class SocialPublisher(Protocol):
    platform: str

    async def publish(self, account_id: str, token: str, request: PostRequest, *,
                      progress: Mapping[str, Any], checkpoint: Checkpoint) -> PublishResult:
        """Publishes (or resumes publishing from ``progress``); see the module notes."""
        ...

    async def find(self, account_id: str, token: str, request: PostRequest, *,
                   progress: Mapping[str, Any]) -> PublishResult | None:
        """The post if it exists at the provider, ``None`` if it certainly does not."""
        ...

    async def aclose(self) -> None: ...
