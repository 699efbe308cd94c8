"""Small pieces the X, Instagram and TikTok publishers share: reading media in a worker thread,
reading JSON answers, comparing post texts, time stamps, and waiting while a provider
processes media.

Private to :mod:`mbv_desktop.integrations.social`; nothing here knows a provider's wire format.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
import re
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from mbv_desktop.core.errors import InvalidInput, ProviderError, ProviderUnavailable
from mbv_desktop.core.redaction import redact
from mbv_desktop.integrations.http import ProviderClient

from .base import Checkpoint, MediaFile

Sleep = Callable[[float], Awaitable[Any]]

#: 4xx answers each publisher reads itself (to say what went wrong in the provider's own terms)
#: instead of the shared policy's generic ``Rejected``; 401, 408 and 429 stay with the policy.
READ_ERROR_STATUSES = frozenset({400, 403, 404, 409, 410, 413, 415, 422})

_MAX_REASON = 200
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header for a user token (kept out of URLs and messages)."""
    return {"Authorization": f"Bearer {token}"}


def snapshot(state: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``state`` to hand to ``checkpoint`` (the caller keeps mutating its own)."""
    return copy.deepcopy(dict(state))


async def save(checkpoint: Checkpoint, state: Mapping[str, Any]) -> None:
    """``checkpoint`` a snapshot of ``state``."""
    await checkpoint(snapshot(state))


def load_progress(progress: Mapping[str, Any] | None) -> dict[str, Any]:
    """A mutable deep copy of a saved progress (``{}`` when there is none)."""
    if not progress:
        return {}
    if not isinstance(progress, Mapping):
        raise InvalidInput("The saved publishing progress is damaged; publish the post again.")
    return copy.deepcopy(dict(progress))


# --- media files ---------------------------------------------------------------------------------

def _read_range(path: Path, offset: int, length: int) -> bytes:
    with path.open("rb") as handle:
        handle.seek(offset)
        return handle.read(length)


def _size(path: Path) -> int:
    return path.stat().st_size


async def read_range(media: MediaFile, offset: int, length: int) -> bytes:
    """``length`` bytes of the file from ``offset``, read in a worker thread. A file that has
    gone or got shorter is ``InvalidInput``."""
    try:
        data = await asyncio.to_thread(_read_range, media.path, offset, length)
    except OSError as exc:
        raise InvalidInput(f"The file {media.path.name} can no longer be read "
                           f"({exc.strerror or type(exc).__name__}).") from exc
    if len(data) != length:
        raise InvalidInput(f"The file {media.path.name} changed while it was being sent; "
                           "add it again.")
    return data


async def file_size(media: MediaFile) -> int:
    """The file's size on disk now (read in a worker thread)."""
    try:
        size = await asyncio.to_thread(_size, media.path)
    except OSError as exc:
        raise InvalidInput(f"The file {media.path.name} can no longer be read "
                           f"({exc.strerror or type(exc).__name__}).") from exc
    if size <= 0:
        raise InvalidInput(f"The file {media.path.name} is empty.")
    return size


# --- answers -------------------------------------------------------------------------------------

def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's JSON object, or ``None`` when the body is not one."""
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def answer(client: ProviderClient, response: httpx.Response, *, created: bool) -> dict[str, Any]:
    """The JSON object of a successful answer. A body that cannot be read is
    ``ProviderUnavailable``; ``created`` says the request may have made something at the provider
    (so the caller reconciles instead of sending it again)."""
    body = json_object(response)
    if body is None:
        name = client.policy.display_name
        error = ProviderUnavailable(
            f"{name} answered with something the app could not read"
            + (", so it is not known whether the post went out." if created else "; try again."),
            provider=client.name, status=response.status_code, maybe_sent=created)
        raise noted(client, error)
    return body


def noted(client: ProviderClient, error: ProviderError) -> ProviderError:
    """Counts ``error`` in the provider's metrics (the policy had counted the call as answered)
    and returns it for raising."""
    client.metrics.record_late_error(error, unavailable=isinstance(error, ProviderUnavailable))
    return error


def text_of(value: object) -> str | None:
    """A non-blank string, else ``None``."""
    return value if isinstance(value, str) and value.strip() else None


def id_of(value: object) -> str | None:
    """A provider id (string or integer) as a string, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value.strip() if isinstance(value, str) and value.strip() else None


def reason_text(reason: str) -> str:
    """A provider's reason, one line, redacted, shortened, without a final full stop (the caller
    puts it inside its own sentence)."""
    text = redact(_SPACE.sub(" ", reason).strip())
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 1].rstrip() + "…"
    return text.rstrip(" .")


def sentence(prefix: str, reason: str) -> str:
    """``"X refused the post: " + reason + "."``."""
    text = reason_text(reason) or "no reason given"
    return f"{prefix}: {text}."


# --- texts and times -----------------------------------------------------------------------------

def normalise_text(text: str) -> str:
    """Text as compared with what a provider returns: HTML entities decoded, NFC, links removed
    (providers shorten or rewrite them), whitespace collapsed."""
    plain = unicodedata.normalize("NFC", html.unescape(text))
    plain = _URL.sub(" ", plain)
    return _SPACE.sub(" ", plain).strip()


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso_z(moment: datetime) -> str:
    """``2025-01-02T03:04:05Z`` (RFC 3339, whole seconds, UTC)."""
    return utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object) -> datetime | None:
    """A provider time stamp (ISO 8601, with ``Z`` or an offset like ``+0000``), else ``None``."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def now_utc() -> datetime:
    return datetime.now(UTC)


class Waiter:
    """Waits between status polls, up to ``limit`` seconds in all (counted from the waits asked
    for, so an injected fake ``sleep`` keeps tests instant)."""

    def __init__(self, sleep: Sleep, limit: float) -> None:
        self._sleep = sleep
        self._limit = limit
        self.waited = 0.0

    async def wait(self, seconds: float) -> bool:
        """Sleeps ``seconds`` (at most what is left); ``False`` when the time is used up."""
        left = self._limit - self.waited
        if left <= 0:
            return False
        delay = max(0.0, min(seconds, left))
        await self._sleep(delay)
        self.waited += delay if delay > 0 else 1e-3
        return True
