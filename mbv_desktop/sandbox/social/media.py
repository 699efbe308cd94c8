"""Looking at media the way the platforms do, without decoding them: the file type from its
first bytes, an image's pixel size from its header (JPEG, PNG, GIF), an MP4/MOV's duration
from its ``mvhd`` box, and fetching a media URL over loopback HTTP (what Instagram and
TikTok's ``PULL_FROM_URL`` do with a public URL; the sandbox only fetches loopback URLs).
"""

from __future__ import annotations

import ipaddress
import struct
from urllib.parse import urlsplit

import httpx

HEAD_BYTES = 256 * 1024
"""How much of the start of a file is kept to recognise it (JPEG headers with EXIF fit)."""

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
                         "image/tiff"})
VIDEO_TYPES = frozenset({"video/mp4", "video/quicktime", "video/webm"})


def sniff(head: bytes) -> str | None:
    """The MIME type the first bytes of a file show, or None when unrecognised."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:2] == b"BM":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def same_family(declared: str, actual: str | None) -> bool:
    """Whether bytes of type ``actual`` may be sent as ``declared`` (``image/pjpeg`` is JPEG;
    MP4 and MOV share their container)."""
    if actual is None:
        return False
    declared = {"image/pjpeg": "image/jpeg"}.get(declared, declared)
    if declared in ("video/mp4", "video/quicktime"):
        return actual in ("video/mp4", "video/quicktime")
    return declared == actual


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG, PNG or GIF header, or None."""
    kind = sniff(head)
    if kind == "image/png" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if kind == "image/gif" and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return int(width), int(height)
    if kind == "image/jpeg":
        return _jpeg_size(head)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        # SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC) carry the frame size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return int(width), int(height)
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def mp4_duration(data: bytes) -> float | None:
    """Seconds from the first ``mvhd`` box found in ``data`` (any part of an MP4/MOV file),
    or None when there is none."""
    at = data.find(b"mvhd")
    while at != -1:
        version = data[at + 4] if at + 4 < len(data) else None
        try:
            if version == 0:
                timescale, duration = struct.unpack(">II", data[at + 16:at + 24])
            elif version == 1:
                timescale, duration = struct.unpack(">IQ", data[at + 24:at + 36])
            else:
                timescale = 0
        except struct.error:
            return None
        if timescale:
            return float(duration) / float(timescale)
        at = data.find(b"mvhd", at + 4)
    return None


class FetchError(Exception):
    """A media URL that could not be used. ``reason``: ``not_loopback``, ``bad_url``,
    ``unreachable``, ``status`` (answered with ``status``), ``too_large``."""

    def __init__(self, reason: str, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` is http(s) on the loopback interface (127.0.0.0/8, ::1, localhost)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def fetch_loopback(url: str, max_bytes: int, timeout: float = 15.0) -> bytes:
    """The body at ``url`` (a loopback http(s) URL), at most ``max_bytes`` long; raises
    :class:`FetchError`. Redirects are not followed; proxies from the environment are not
    used (``trust_env=False``)."""
    if not url:
        raise FetchError("bad_url", "No media URL was given.")
    if not is_loopback_url(url):
        raise FetchError("not_loopback", f"The sandbox only fetches media from loopback URLs "
                                         f"(127.0.0.1, ::1, localhost); got {url!r}.")
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False,
                                     follow_redirects=False) as client, \
                client.stream("GET", url) as response:
            if response.status_code != 200:
                raise FetchError("status", f"GET {url} answered HTTP {response.status_code}.",
                                 response.status_code)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError("too_large", f"The media at {url} is larger than "
                                                  f"{max_bytes} bytes.")
            return bytes(body)
    except httpx.HTTPError as exc:
        raise FetchError("unreachable", f"GET {url} failed: {exc}.") from exc
