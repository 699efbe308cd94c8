"""Pieces the three posting emulators share: ids in each platform's style, timestamps, rate-limit
windows, a ``multipart/form-data`` reader, run-time tunables behind ``{base}/_social_settings``,
and the early-answer exception the handlers use for errors.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

TWEPOCH_MS = 1288834974657
"""X's snowflake epoch (2010-11-04T01:42:54.657Z)."""


class Reply(Exception):
    """Raised by a handler (or a check it calls) to answer at once with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


Handler = Callable[[Request], Awaitable[Response]]


def answering(handler: Handler) -> Handler:
    """Wraps a handler so a :class:`Reply` raised inside becomes its answer."""
    async def run(request: Request) -> Response:
        try:
            return await handler(request)
        except Reply as early:
            return early.response
    run.__name__ = getattr(handler, "__name__", "handler")
    run.__doc__ = handler.__doc__
    return run


# -- ids and times ---------------------------------------------------------------------------

def snowflake(now: float) -> int:
    """An X-style 64-bit id: milliseconds since X's epoch, then 22 random bits (ids made later
    are larger, as X's are)."""
    millis = max(0, int(now * 1000) - TWEPOCH_MS)
    return (millis << 22) | secrets.randbits(22)


def digits(prefix: str, total: int) -> str:
    """``prefix`` followed by random decimal digits, ``total`` characters in all."""
    return prefix + "".join(secrets.choice("0123456789") for _ in range(total - len(prefix)))


def iso_x(at: float) -> str:
    """X's timestamps: ``2026-11-25T22:05:54.000Z``."""
    moment = datetime.fromtimestamp(at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_graph(at: float) -> str:
    """Graph API timestamps: ``2026-11-25T22:05:54+0000``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch from ``YYYY-MM-DDTHH:mm:ss[.sss]Z`` (or an offset); raises
    ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("a time zone is required")
    return moment.timestamp()


def encode_cursor(value: str) -> str:
    """An opaque pagination token for ``value``."""
    return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode()


def decode_cursor(token: str) -> str:
    """The value behind a token from :func:`encode_cursor`; raises ValueError."""
    padded = token + "=" * (-len(token) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("bad pagination token") from exc


def json_list(raw: str | None) -> list[Any]:
    """A JSON array stored in a TEXT column (empty when NULL)."""
    value = json.loads(raw) if raw else []
    return value if isinstance(value, list) else []


# -- rate limits -----------------------------------------------------------------------------

@dataclass
class FixedWindows:
    """Fixed windows per key (X's style: the window starts at the first request and resets
    ``window`` seconds later; ``x-rate-limit-reset`` is that moment)."""

    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)

    def hit(self, key: str, limit: int, window: float, now: float) -> tuple[bool, int, int]:
        """Counts one request: (allowed, remaining, reset as Unix seconds)."""
        start, count = self._windows.get(key, (now, 0))
        if now - start >= window:
            start, count = now, 0
        allowed = count < limit
        count += int(allowed)
        self._windows[key] = (start, count)
        return allowed, max(0, limit - count), math.ceil(start + window)

    def clear(self) -> None:
        self._windows.clear()


@dataclass
class SlidingWindows:
    """Sliding windows per key (TikTok's one-minute windows)."""

    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def hit(self, key: str, limit: int, window: float, now: float) -> bool:
        """Counts one request when allowed; False when ``limit`` were made in ``window``."""
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= window:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        return True

    def clear(self) -> None:
        self._hits.clear()


# -- request bodies --------------------------------------------------------------------------

def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body (field name → raw bytes; a repeated name
    keeps its last value). Raises ValueError when the body is not multipart."""
    boundary = ""
    for item in content_type.split(";")[1:]:
        key, _, value = item.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
    if not content_type.lower().startswith("multipart/form-data") or not boundary:
        raise ValueError("the body must be multipart/form-data with a boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    fields_: dict[str, bytes] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        if part.startswith(b"\r\n"):
            part = part[2:]
        head, sep, data = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        if data.endswith(b"\r\n"):
            data = data[:-2]
        name = None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() != "content-disposition":
                continue
            for param in value.split(";")[1:]:
                key, _, raw = param.strip().partition("=")
                if key.lower() == "name":
                    name = raw.strip().strip('"')
        if name is not None:
            fields_[name] = data
    return fields_


async def json_object(request: Request) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one."""
    try:
        data = json.loads(await request.body() or b"null")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


# -- tunables ----------------------------------------------------------------------------------

@dataclass
class Tunables:
    """Run-time settings of one posting emulator (``GET|POST {base}/_social_settings``).

    Subclasses declare fields with defaults; a field's default decides what it accepts
    (float: a non-negative number; int: a non-negative integer; str: a string). Kept in
    memory: a host restart goes back to the defaults.
    """

    _defaults: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                      compare=False)

    def __post_init__(self) -> None:
        self._defaults = self.to_dict()

    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if not f.name.startswith("_"))

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.names()}

    def update(self, changes: Mapping[str, Any]) -> None:
        """Applies ``changes`` (any setting by name; ``"reset": true`` first restores the
        defaults). Raises ValueError and changes nothing when a name or value is wrong."""
        names = self.names()
        unknown = set(changes) - set(names) - {"reset"}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(names)}, reset")
        values = dict(self._defaults) if changes.get("reset") else self.to_dict()
        for name in names:
            if name not in changes:
                continue
            value, kind = changes[name], type(self._defaults[name])
            if kind is str:
                if not isinstance(value, str):
                    raise ValueError(f"{name} must be a string")
            elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a non-negative number")
            elif kind is int:
                if value != int(value):
                    raise ValueError(f"{name} must be a whole number")
                value = int(value)
            else:
                value = float(value)
            values[name] = value
        for name, value in values.items():
            setattr(self, name, value)


async def settings_endpoint(request: Request, tunables: Tunables,
                            now: Callable[[], float]) -> Response:
    """``GET|POST {base}/_social_settings``: read or change ``tunables``; answers the current
    values and the emulator's clock (``now``)."""
    if request.method == "POST":
        payload = await json_object(request)
        try:
            if payload is None:
                raise ValueError("the body must be a JSON object")
            tunables.update(payload)
        except ValueError as exc:
            return JSONResponse({"error": {"message": str(exc)}}, 400)
    return JSONResponse({**tunables.to_dict(), "now": now()})


def truthy(value: str | None) -> bool:
    """A query flag: ``1``, ``true``, ``yes`` (any case)."""
    return (value or "").strip().lower() in ("1", "true", "yes")
