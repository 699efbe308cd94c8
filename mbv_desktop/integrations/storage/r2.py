"""Cloudflare R2 object storage through its S3 API (boto3), with resumable multipart uploads.

Blocking code: callers run every method in a worker thread, never on the GUI thread. One
:class:`R2Client` may be shared by several threads (the boto3 client is made once, lazily, and
boto3 clients are thread-safe).

Keys and metadata (reliability.md 27)
    Object keys are content-addressed: ``{account}/{sha256}.{ext}`` (:func:`object_key`),
    checked against :data:`KEY_PATTERN` and R2's 1,024-byte limit. The user's file name never
    reaches a key; it is kept only as sanitised ASCII metadata (:func:`upload_metadata`,
    ``x-amz-meta-originalname`` with non-ASCII percent-encoded). Every object gets
    ``Cache-Control: public, max-age=31536000``.

Multipart uploads (reliability.md 20, providers.md "12. Cloudflare R2")
    A file larger than the part size is sent as a multipart upload. All parts have the same size
    (:func:`choose_part_size`: at least 5 MiB, grown for huge files so there are at most 10,000
    parts), the last one no larger. Each part is read from the file at its offset when it is sent,
    so memory stays at ``max_concurrency × part_size``; parts go out in parallel from a bounded
    thread pool. The caller persists :class:`UploadState` (upload id, part size, part ETags and
    CRC32s; JSON via :meth:`UploadState.to_json`) after every part (``on_part_done``), and after a
    crash resumes with :meth:`R2Client.resume_state`, which asks R2 for the parts it holds
    (ListParts), keeps those of the *same* part size whose ETag (and CRC32, when both sides know
    it) agrees with the record, and leaves the rest to be sent again (tusd#1137: a resume with
    another part size fails). Each part's ETag is checked against the MD5 of the bytes read, so a
    damaged part is never recorded.

    Uploads declare CRC32 checksums (``ChecksumAlgorithm="CRC32"`` on CreateMultipartUpload; R2's
    S3 API lists CRC32 among the checksums it supports for multipart uploads, as the composite
    type: a CRC32 of the part CRC32s, ``-<part count>``). Each UploadPart carries its part's
    ``x-amz-checksum-crc32``, computed here (:func:`part_crc32`) and sent as an ordinary signed
    header: left to botocore it would go as an ``aws-chunked`` trailer over https (unsigned
    payload), a form R2 has been reported to refuse. The server refuses a part whose bytes don't
    match it (BadDigest: the part is reported damaged and the upload stays resumable), and
    CompleteMultipartUpload names every part's CRC32, as S3 requires for such an upload. The
    client keeps ``request_checksum_calculation="when_required"``, so no other request gets
    flexible checksums. An upload started before checksums were declared (its saved state has no
    ``checksum_algorithm``) is resumed and completed without them, as it began.

    ``should_stop()`` pauses: parts in flight finish and are recorded, nothing new starts, and the
    upload stays resumable. Cancelling is the caller's :meth:`R2Client.abort` (R2 also aborts
    unfinished uploads after 7 days). :meth:`R2Client.complete` writes with ``If-None-Match: *`` by
    default; when the object already exists with the same content it is treated as done.

A file that changes while it is uploaded
    The upload records the file's size and modification time. If the file is deleted, changes
    size or modification time, or reads short, :class:`SourceChanged` is raised and the multipart
    upload is **aborted** (its parts hold the old bytes and can't be combined with the new ones,
    and the content-addressed key no longer names the file): the caller hashes the file again and
    starts over. A small (single-request) upload sends ``Content-MD5``, so R2 refuses bytes that
    changed between hashing and sending and nothing is stored.

Errors and retries
    boto3's own retries are off (``max_attempts=1``): the project has one retry policy
    (:mod:`mbv_desktop.integrations.http`) and a failed upload is resumed, not retried blindly.
    Failures become project errors: wrong credentials → :class:`AuthExpired` naming the settings
    ``r2.access_key_id``/``r2.secret_access_key``; a missing bucket → :class:`Rejected`
    ("The R2 bucket 'x' does not exist."); a failed condition → :class:`PreconditionFailed`; an
    unreachable endpoint, timeouts and 5xx → :class:`ProviderUnavailable`; empty settings →
    :class:`NotConfigured`. TLS certificates are always verified; plain ``http://`` is accepted
    only for a loopback endpoint (the sandbox's S3 emulator).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import re
import threading
import unicodedata
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    MbvError,
    NotConfigured,
    NotFound,
    ProviderError,
    ProviderUnavailable,
    Rejected,
)

if TYPE_CHECKING:  # boto3 costs ~100 ms to import: only when the first request is made
    from botocore.client import BaseClient

__all__ = [
    "CACHE_CONTROL",
    "KEY_PATTERN",
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "ObjectInfo",
    "PreconditionFailed",
    "R2Client",
    "R2Config",
    "SourceChanged",
    "UploadGone",
    "UploadState",
    "UploadStopped",
    "choose_part_size",
    "clean_original_name",
    "multipart_etag",
    "object_key",
    "part_crc32",
    "upload_metadata",
]

log = logging.getLogger(__name__)

PROVIDER = "r2"
MiB = 2**20
GiB = 2**30
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_KEY_BYTES = 1024
MAX_SINGLE_PUT = 5 * GiB - 5 * MiB
MAX_OBJECT_SIZE = 5 * 1024 * GiB - 5 * GiB
MAX_METADATA_BYTES = 8192
CACHE_CONTROL = "public, max-age=31536000"

#: Every key :func:`object_key` makes matches this.
KEY_PATTERN = re.compile(r"^[a-z0-9_-]+/[0-9a-f]{64}\.[a-z0-9]{1,5}$")
_ACCOUNT = re.compile(r"^[a-z0-9_-]+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]{1,5}$")
_META_KEY = re.compile(r"^[a-z0-9_-]{1,64}$")
_MD5_ETAG = re.compile(r"^[0-9a-f]{32}$")
#: The checksum algorithm new multipart uploads declare (UploadState.checksum_algorithm).
CHECKSUM_ALGORITHM = "CRC32"
_ORIGINAL_NAME_MAX = 255
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_CREDENTIAL_CODES = frozenset({
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken",
    "ExpiredToken", "InvalidArgumentAuthorization", "Unauthorized",
})


# --- errors --------------------------------------------------------------------------------------

class PreconditionFailed(Rejected):
    """A conditional write (``If-None-Match: *`` or ``If-Match: <etag>``) did not hold (HTTP 412);
    nothing was written."""

    def __init__(self, key: str, *, condition: str = "") -> None:
        self.key = key
        self.condition = condition
        if condition == "If-Match":
            text = (f"Cloudflare R2 did not store '{key}': the file there changed since it was "
                    "read, so it was not overwritten.")
        else:
            text = (f"Cloudflare R2 did not store '{key}': a file with that name already "
                    "exists, so it was not overwritten.")
        super().__init__("precondition failed", provider=PROVIDER, status=412,
                         code="PreconditionFailed", message=text)


class UploadGone(Rejected):
    """R2 no longer knows the multipart upload (aborted, expired after 7 days, or completed)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__("the upload no longer exists", provider=PROVIDER, status=404,
                         code="NoSuchUpload",
                         message=(f"Cloudflare R2 no longer has the unfinished upload of '{key}' "
                                  "(it was cancelled or expired); it has to start again."))


class SourceChanged(InvalidInput):
    """The file being uploaded was deleted or changed during the upload; see the module notes."""


class UploadStopped(MbvError):
    """:meth:`R2Client.upload_file` was asked to stop; ``state`` resumes it (or aborts it)."""

    def __init__(self, state: UploadState) -> None:
        self.state = state
        done = len(state.parts)
        super().__init__(f"The upload to Cloudflare R2 was paused after {done} of "
                         f"{state.part_count} parts; it can be resumed later.")


# --- configuration and plain values --------------------------------------------------------------

@dataclass(frozen=True)
class R2Config:
    """Where and how to reach the bucket. ``secret_access_key`` never appears in ``repr()``."""

    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    region: str = "auto"


@dataclass(frozen=True)
class ObjectInfo:
    """What HEAD tells about an object. ``etag`` is without quotes."""

    key: str
    etag: str
    size: int
    metadata: dict[str, str]
    content_type: str = ""
    cache_control: str = ""


def _unquote_etag(etag: str) -> str:
    return etag.strip().strip('"')


def multipart_etag(etags: Iterable[str]) -> str:
    """The S3/R2 ETag of a completed multipart object: MD5 of the concatenated part MD5s,
    ``-<part count>``. Part ETags that aren't plain MD5s give ``""`` (can't be predicted)."""
    digests = []
    for etag in etags:
        text = _unquote_etag(etag).lower()
        if not _MD5_ETAG.match(text):
            return ""
        digests.append(bytes.fromhex(text))
    if not digests:
        return ""
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


def part_crc32(data: bytes) -> str:
    """The S3 ``ChecksumCRC32`` of ``data``: base64 of its CRC-32 (zlib's, the one S3 uses) as 4
    big-endian bytes."""
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode("ascii")


def choose_part_size(size: int, preferred: int = 8 * MiB) -> int:
    """The part size for a ``size``-byte object: ``preferred`` (at least 5 MiB), grown in whole
    MiB when ``preferred`` would need more than 10,000 parts. Raises InvalidInput when the object
    is larger than R2 allows."""
    if size < 0:
        raise InvalidInput("A file can't have a negative size.")
    if size > MAX_OBJECT_SIZE:
        raise InvalidInput("The file is larger than Cloudflare R2 allows for one object "
                           "(about 4.99 TiB).")
    part = max(MIN_PART_SIZE, min(preferred, MAX_PART_SIZE))
    if math.ceil(size / part) > MAX_PARTS:
        part = math.ceil(math.ceil(size / MAX_PARTS) / MiB) * MiB
    return min(part, MAX_PART_SIZE)


def object_key(account: str, sha256: str, ext: str) -> str:
    """``"{account}/{sha256}.{ext}"``, or InvalidInput.

    ``account`` is lowercase letters, digits, ``-`` and ``_``; ``sha256`` 64 hex digits (either
    case); ``ext`` 1-5 letters or digits (a leading dot and capitals are accepted). The key is at
    most 1,024 bytes and matches :data:`KEY_PATTERN`.
    """
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise InvalidInput("The account name for a stored file may only use lowercase letters, "
                           "digits, '-' and '_'.")
    digest = sha256.lower() if isinstance(sha256, str) else ""
    if not _SHA256.match(digest):
        raise InvalidInput("A stored file is named by its SHA-256: 64 hexadecimal digits.")
    extension = ext.lower().removeprefix(".") if isinstance(ext, str) else ""
    if not _EXT.match(extension):
        raise InvalidInput("A stored file's extension must be 1 to 5 letters or digits.")
    key = f"{account}/{digest}.{extension}"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES or not KEY_PATTERN.match(key):
        raise InvalidInput("The storage key would be longer than Cloudflare R2's 1,024 bytes.")
    return key


def _ascii_safe(value: str) -> str:
    """Percent-encodes non-ASCII characters and control characters; keeps printable ASCII
    (including ``%``, so an already-clean value is unchanged)."""
    out = []
    for char in value:
        if " " <= char <= "~":
            out.append(char)
        else:
            out.append(urllib.parse.quote(char, safe=""))
    return "".join(out)


def clean_original_name(name: str) -> str:
    """A user's file name made safe to keep as metadata: only the last path component, no
    control characters, NFC, at most 255 characters, then ``%`` and every non-ASCII character
    percent-encoded (``"café.png"`` → ``"caf%C3%A9.png"``). Never used in a key."""
    base = re.split(r"[\\/]", str(name))[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    if base in ("", ".", ".."):
        base = "file"
    base = base[:_ORIGINAL_NAME_MAX]
    return urllib.parse.quote(base, safe=" !#$&'()*+,-.:;=?@[]^_`{|}~")


def upload_metadata(*, uploaded_by: str, original_name: str,
                    uploaded_at: datetime | None = None) -> dict[str, str]:
    """The metadata every upload carries (sent as ``x-amz-meta-uploadedby``, ``-uploadedat``
    (ISO 8601, UTC) and ``-originalname`` (:func:`clean_original_name`))."""
    when = (uploaded_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "uploadedby": _ascii_safe(uploaded_by)[:256],
        "uploadedat": when.isoformat(timespec="seconds"),
        "originalname": clean_original_name(original_name),
    }


def _clean_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for raw_key, raw_value in (metadata or {}).items():
        key = str(raw_key).lower()
        key = key.removeprefix("x-amz-meta-")
        if not _META_KEY.match(key):
            raise InvalidInput(f"'{_ascii_safe(key)[:64]}' can't be used as a metadata name; use "
                               "lowercase letters, digits, '-' and '_'.")
        cleaned[key] = _ascii_safe(str(raw_value))
    total = sum(len(k) + len(v) for k, v in cleaned.items())
    if total > MAX_METADATA_BYTES:
        raise InvalidInput("The file's metadata is larger than Cloudflare R2's 8 KB limit.")
    return cleaned


def _check_key(key: str) -> str:
    if not isinstance(key, str) or not key or len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidInput("A storage key must be 1 to 1,024 bytes long.")
    if any(unicodedata.category(c)[0] == "C" for c in key) or key.startswith("/"):
        raise InvalidInput("A storage key can't contain control characters or start with '/'.")
    return key


def _check_content_type(content_type: str) -> str:
    if not content_type or not all(" " <= c <= "~" for c in content_type):
        raise InvalidInput("A file's content type must be plain ASCII text, like 'image/png'.")
    return content_type


# --- upload state --------------------------------------------------------------------------------

@dataclass
class UploadState:
    """Everything needed to resume a multipart upload; persist it after every part.

    ``parts`` maps part number (1-based) to ETag. ``checksum_algorithm`` is what the upload
    declared when it was created (``"CRC32"``, or ``""`` for an upload begun before checksums
    were declared: its saved JSON has no such field) and ``checksums`` maps part number to that
    part's ``ChecksumCRC32`` where known. ``source_size`` is the file's size and
    ``source_mtime_ns`` its modification time when the upload began (``None`` until the first
    part is read); a resume checks both.
    """

    key: str
    upload_id: str
    part_size: int
    size: int
    parts: dict[int, str] = field(default_factory=dict)
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    source_mtime_ns: int | None = None
    checksum_algorithm: str = ""
    checksums: dict[int, str] = field(default_factory=dict)

    @property
    def part_count(self) -> int:
        """How many parts the object has."""
        return max(1, math.ceil(self.size / self.part_size))

    def part_range(self, number: int) -> tuple[int, int]:
        """``(offset, length)`` of part ``number`` in the file."""
        if not 1 <= number <= self.part_count:
            raise ValueError(f"part {number} is outside 1..{self.part_count}")
        offset = (number - 1) * self.part_size
        return offset, min(self.part_size, self.size - offset)

    def missing_parts(self) -> list[int]:
        """Part numbers not yet recorded, in order."""
        return [n for n in range(1, self.part_count + 1) if n not in self.parts]

    @property
    def is_complete(self) -> bool:
        """Whether every part has been sent and recorded."""
        return not self.missing_parts()

    @property
    def bytes_done(self) -> int:
        """Bytes of the recorded parts."""
        return sum(self.part_range(n)[1] for n in self.parts if 1 <= n <= self.part_count)

    def to_json(self) -> str:
        """A JSON text :meth:`from_json` reads back (``checksum_algorithm`` and ``checksums`` are
        optional fields of version 1: a state saved before them still reads)."""
        return json.dumps({
            "version": 1, "key": self.key, "upload_id": self.upload_id,
            "part_size": self.part_size, "size": self.size,
            "parts": {str(n): etag for n, etag in sorted(self.parts.items())},
            "content_type": self.content_type, "metadata": self.metadata,
            "source_mtime_ns": self.source_mtime_ns,
            "checksum_algorithm": self.checksum_algorithm,
            "checksums": {str(n): crc for n, crc in sorted(self.checksums.items())},
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> UploadState:
        """Reads :meth:`to_json`'s output; InvalidInput when it is damaged."""
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("version") != 1:
                raise ValueError("unknown version")
            parts_raw = data["parts"]
            metadata = data.get("metadata") or {}
            checksums_raw = data.get("checksums") or {}
            if not isinstance(parts_raw, dict) or not isinstance(metadata, dict) \
                    or not isinstance(checksums_raw, dict):
                raise ValueError("bad parts")
            algorithm = _str(data.get("checksum_algorithm") or "")
            if algorithm not in ("", CHECKSUM_ALGORITHM):
                raise ValueError("unknown checksum algorithm")
            state = cls(
                key=_str(data["key"]), upload_id=_str(data["upload_id"]),
                part_size=_int(data["part_size"]), size=_int(data["size"]),
                parts={_int(int(n)): _str(etag) for n, etag in parts_raw.items()},
                content_type=_str(data.get("content_type", "")),
                metadata={_str(k): _str(v) for k, v in metadata.items()},
                source_mtime_ns=(None if data.get("source_mtime_ns") is None
                                 else _int(data["source_mtime_ns"])),
                checksum_algorithm=algorithm,
                checksums={_int(int(n)): _str(crc) for n, crc in checksums_raw.items()},
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("The saved state of an unfinished upload is damaged; the upload "
                               "has to start again.") from exc
        if not (MIN_PART_SIZE <= state.part_size <= MAX_PART_SIZE) or state.size < 1 \
                or state.part_count > MAX_PARTS or not state.upload_id:
            raise InvalidInput("The saved state of an unfinished upload is damaged; the upload "
                               "has to start again.")
        return state


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a non-negative integer")
    return value


# --- the client ----------------------------------------------------------------------------------

class R2Client:
    """Blocking R2 client for one bucket. See the module notes for the rules it keeps."""

    def __init__(self, config: R2Config, *, part_size: int = 8 * MiB,
                 max_concurrency: int = 4) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise ValueError("part_size must be between 5 MiB and 5 GiB")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.config = config
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self._lock = threading.Lock()
        self._s3: BaseClient | None = None

    # -- plumbing --

    @property
    def bucket(self) -> str:
        """The bucket every call uses."""
        return self.config.bucket

    @property
    def s3(self) -> BaseClient:
        """The underlying boto3 client, made on first use (for event hooks in tests and
        diagnostics; calls made on it directly bypass this module's checks and error mapping)."""
        return self._client()

    def _client(self) -> BaseClient:
        with self._lock:
            if self._s3 is None:
                self._s3 = self._make_client()
            return self._s3

    def _make_client(self) -> BaseClient:
        cfg = self.config
        missing = [name for name, value in (
            ("r2.endpoint_url", cfg.endpoint_url), ("r2.bucket", cfg.bucket),
            ("r2.access_key_id", cfg.access_key_id),
            ("r2.secret_access_key", cfg.secret_access_key)) if not value]
        if missing:
            raise NotConfigured(provider=PROVIDER, message=(
                "Cloudflare R2 is not set up yet; set " + ", ".join(missing) + "."))
        parsed = urllib.parse.urlsplit(cfg.endpoint_url)
        host = (parsed.hostname or "").lower()
        if parsed.scheme != "https" and not (parsed.scheme == "http" and host in _LOOPBACK_HOSTS):
            raise NotConfigured(provider=PROVIDER, message=(
                "The setting r2.endpoint_url must be an https:// address, like "
                "https://<account id>.r2.cloudflarestorage.com."))
        import boto3.session
        from botocore.config import Config

        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=cfg.endpoint_url,
            region_name=cfg.region or "auto",
            aws_access_key_id=cfg.access_key_id,
            aws_secret_access_key=cfg.secret_access_key,
            verify=True,
            config=Config(
                signature_version="s3v4",
                retries={"max_attempts": 1, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
                s3={"addressing_style": "path"},
                max_pool_connections=max(10, self.max_concurrency + 2),
                # Integrity is checked with MD5 (Content-MD5 / part ETags); the newer default
                # CRC checksums on every request are not needed and R2 supports them only in part.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _error(self, exc: BaseException, *, key: str = "") -> BaseException:
        """The project error for a botocore exception (other exceptions come back unchanged)."""
        return map_error(exc, bucket=self.bucket, key=key)

    # -- keys --

    def object_key(self, account: str, sha256: str, ext: str) -> str:
        """See :func:`object_key`."""
        return object_key(account, sha256, ext)

    # -- single requests --

    def head(self, key: str) -> ObjectInfo | None:
        """The object's ETag, size and metadata, or ``None`` when there is none.

        HEAD answers a bare 404 for a missing bucket too, so that also gives ``None``; the next
        write names the missing bucket.
        """
        _check_key(key)
        client = self._client()
        try:
            resp = client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            raise self._error(exc, key=key) from exc
        return ObjectInfo(
            key=key, etag=_unquote_etag(resp.get("ETag", "")),
            size=int(resp.get("ContentLength", 0)), metadata=dict(resp.get("Metadata") or {}),
            content_type=resp.get("ContentType", ""), cache_control=resp.get("CacheControl", ""))

    def put_small(self, key: str, path_or_bytes: Path | str | bytes, *, content_type: str,
                  metadata: Mapping[str, str] | None = None, if_none_match: bool = False,
                  if_match: str | None = None) -> str:
        """One PutObject (up to 5 GiB - 5 MiB); returns the ETag.

        ``if_none_match`` writes only when no object has the key, ``if_match`` only when the
        object's ETag is still that one; otherwise :class:`PreconditionFailed`. ``Content-MD5``
        is sent, so bytes that change between hashing and sending are refused
        (:class:`SourceChanged`).
        """
        _check_key(key)
        kwargs: dict[str, Any] = {
            "Bucket": self.bucket, "Key": key, "ContentType": _check_content_type(content_type),
            "CacheControl": CACHE_CONTROL, "Metadata": _clean_metadata(metadata),
        }
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        if if_match is not None:
            kwargs["IfMatch"] = f'"{_unquote_etag(if_match)}"'
        client = self._client()
        if isinstance(path_or_bytes, bytes):
            if len(path_or_bytes) > MAX_SINGLE_PUT:
                raise InvalidInput("The data is too large for one request; upload it in parts.")
            md5 = hashlib.md5(path_or_bytes, usedforsecurity=False)
            return self._put(client, kwargs, path_or_bytes, md5, key)
        path = Path(path_or_bytes)
        try:
            with path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > MAX_SINGLE_PUT:
                    raise InvalidInput("The file is too large for one request; upload it in "
                                       "parts.")
                md5 = hashlib.md5(usedforsecurity=False)
                while chunk := fh.read(MiB):
                    md5.update(chunk)
                fh.seek(0)
                kwargs["ContentLength"] = size
                return self._put(client, kwargs, fh, md5, key)
        except FileNotFoundError as exc:
            raise SourceChanged(f"The file '{path.name}' is no longer there, so it was not "
                                "uploaded.") from exc

    def _put(self, client: BaseClient, kwargs: dict[str, Any], body: Any,
             md5: Any, key: str) -> str:
        import base64

        kwargs["ContentMD5"] = base64.b64encode(md5.digest()).decode("ascii")
        try:
            resp = client.put_object(Body=body, **kwargs)
        except Exception as exc:
            raise self._error(exc, key=key) from exc
        return _unquote_etag(resp.get("ETag", ""))

    def _get(self, key: str) -> tuple[bytes, dict[str, Any]]:
        """GetObject: the whole body and the response's headers; NotFound when there is none."""
        _check_key(key)
        client = self._client()
        try:
            resp = client.get_object(Bucket=self.bucket, Key=key)
            body = resp["Body"]
            try:
                data = body.read()
            finally:
                body.close()
        except Exception as exc:
            raise self._error(exc, key=key) from exc
        return data, resp

    def presigned_get(self, key: str, *, expires_s: int = 3600) -> str:
        """A time-limited URL anyone can GET the object with (computed locally, no request):
        how Instagram and TikTok fetch media they are given by URL."""
        _check_key(key)
        client = self._client()
        return str(client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_s))

    def get_bytes(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and content type; NotFound when there is none."""
        data, resp = self._get(key)
        return data, str(resp.get("ContentType", ""))

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every key that starts with ``prefix``, in R2's (lexicographic) order."""
        client = self._client()
        keys: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            try:
                resp = client.list_objects_v2(**kwargs)
            except Exception as exc:
                raise self._error(exc) from exc
            keys.extend(item["Key"] for item in resp.get("Contents") or [])
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                return keys
            kwargs["ContinuationToken"] = token

    def list_objects(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix``, with its ETag (unquoted) and size, in
        R2's (lexicographic) order; ``metadata`` is empty (a listing does not carry it)."""
        client = self._client()
        found: list[ObjectInfo] = []
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            try:
                resp = client.list_objects_v2(**kwargs)
            except Exception as exc:
                raise self._error(exc) from exc
            found.extend(
                ObjectInfo(key=item["Key"], etag=_unquote_etag(item.get("ETag", "")),
                           size=int(item.get("Size", 0)), metadata={})
                for item in resp.get("Contents") or [])
            token = resp.get("NextContinuationToken")
            if not resp.get("IsTruncated") or not token:
                return found
            kwargs["ContinuationToken"] = token

    def get_object(self, key: str) -> tuple[bytes, str]:
        """The object's bytes and the ETag (unquoted) of exactly those bytes, for a later
        ``put_small(..., if_match=etag)``; NotFound when there is none."""
        data, resp = self._get(key)
        return data, _unquote_etag(str(resp.get("ETag", "")))

    # -- multipart --

    def start_upload(self, key: str, *, content_type: str,
                     metadata: Mapping[str, str] | None = None, size: int) -> UploadState:
        """CreateMultipartUpload declaring CRC32 checksums; the part size is chosen for ``size``
        (:func:`choose_part_size`)."""
        _check_key(key)
        if size < 1:
            raise InvalidInput("An empty file can't be sent as a multipart upload.")
        part_size = choose_part_size(size, self.part_size)
        meta = _clean_metadata(metadata)
        client = self._client()
        try:
            resp = client.create_multipart_upload(
                Bucket=self.bucket, Key=key, ContentType=_check_content_type(content_type),
                CacheControl=CACHE_CONTROL, Metadata=meta, ChecksumAlgorithm=CHECKSUM_ALGORITHM)
        except Exception as exc:
            raise self._error(exc, key=key) from exc
        log.debug("r2: started multipart upload of %s (%d bytes, %d-byte parts)",
                  key, size, part_size)
        return UploadState(key=key, upload_id=resp["UploadId"], part_size=part_size, size=size,
                           content_type=content_type, metadata=meta,
                           checksum_algorithm=CHECKSUM_ALGORITHM)

    def upload_parts(self, state: UploadState, path: Path | str, *,
                     on_progress: Callable[[int, int], object] | None = None,
                     should_stop: Callable[[], bool] | None = None,
                     on_part_done: Callable[[UploadState], object] | None = None) -> UploadState:
        """Sends the parts ``state`` lacks, at most ``max_concurrency`` at a time.

        Callbacks run on the calling thread: ``on_part_done(state)`` after each part is recorded
        (persist ``state.to_json()`` there), ``on_progress(bytes_done, total)`` after that, and
        ``should_stop()`` before each part starts. Returns ``state`` (the same object, updated);
        ``state.is_complete`` tells whether it stopped early. Raises :class:`SourceChanged` (the
        upload aborted) or a provider error (the upload left resumable).
        """
        path = Path(path)
        self._check_source(state, path)
        if on_progress is not None:
            on_progress(state.bytes_done, state.size)
        missing = state.missing_parts()
        if not missing:
            return state
        client = self._client()
        workers = min(self.max_concurrency, len(missing))
        queue = iter(missing)
        pending: dict[Future[tuple[str, str]], int] = {}
        error: BaseException | None = None
        stopped = False
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="r2-part")
        try:
            while True:
                while error is None and not stopped and len(pending) < workers:
                    if should_stop is not None and should_stop():
                        stopped = True
                        break
                    number = next(queue, None)
                    if number is None:
                        break
                    future = executor.submit(self._send_part, client, state, path, number)
                    pending[future] = number
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: pending[f]):
                    number = pending.pop(future)
                    try:
                        etag, checksum = future.result()
                    except BaseException as exc:
                        error = error or exc
                        continue
                    if checksum:
                        state.checksums[number] = checksum
                    state.parts[number] = etag
                    try:
                        if on_part_done is not None:
                            on_part_done(state)
                        if on_progress is not None:
                            on_progress(state.bytes_done, state.size)
                    except BaseException as exc:
                        error = error or exc
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        if error is None and state.is_complete:
            try:
                self._check_source(state, path)
            except SourceChanged as exc:
                error = exc
        if isinstance(error, SourceChanged):
            self._abort_quietly(state)
        if error is not None:
            raise error
        if stopped:
            log.debug("r2: upload of %s paused after %d of %d parts", state.key,
                      len(state.parts), state.part_count)
        return state

    def _check_source(self, state: UploadState, path: Path) -> None:
        try:
            info = path.stat()
        except FileNotFoundError:
            self._abort_quietly(state)
            raise SourceChanged(f"The file '{path.name}' was deleted during the upload; the "
                                "unfinished upload was cancelled.") from None
        if info.st_size != state.size or (state.source_mtime_ns is not None
                                          and info.st_mtime_ns != state.source_mtime_ns):
            self._abort_quietly(state)
            raise SourceChanged(f"The file '{path.name}' changed during the upload; the "
                                "unfinished upload was cancelled, so add the file again.")
        if state.source_mtime_ns is None:
            state.source_mtime_ns = info.st_mtime_ns

    def _send_part(self, client: BaseClient, state: UploadState, path: Path,
                   number: int) -> tuple[str, str]:
        """Worker thread: reads one part at its offset, sends it (with its CRC32 when the upload
        declared CRC32) and checks its ETag; returns the ETag and the CRC32 (``""`` if none)."""
        offset, length = state.part_range(number)
        try:
            with path.open("rb") as fh:
                fh.seek(offset)
                data = fh.read(length)
        except FileNotFoundError:
            data = b""
        if len(data) != length:
            raise SourceChanged(f"The file '{path.name}' became shorter during the upload; the "
                                "unfinished upload was cancelled.")
        # Both checks stay. The server checks the CRC32 against the bytes it received (BadDigest
        # otherwise); the MD5-vs-ETag check compares with the hash R2 reports for what it stored
        # (the object's ETag is made of these, see multipart_etag) and still guards an upload
        # begun without checksums. It costs a few ms per part, hashed while other parts are on
        # the wire (hashlib drops the GIL), and the bench meets its target with it.
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        kwargs: dict[str, Any] = {}
        checksum = ""
        if state.checksum_algorithm == CHECKSUM_ALGORITHM:
            # Computed here, not by botocore: over https botocore would send it as an unsigned
            # aws-chunked trailer (see the module notes); a value given here is a plain header.
            checksum = part_crc32(data)
            kwargs = {"ChecksumAlgorithm": CHECKSUM_ALGORITHM, "ChecksumCRC32": checksum}
        try:
            resp = client.upload_part(Bucket=self.bucket, Key=state.key,
                                      UploadId=state.upload_id, PartNumber=number, Body=data,
                                      ContentLength=length, **kwargs)
        except Exception as exc:
            if _code(exc) in ("BadDigest", "InvalidDigest"):
                # The bytes sent are the ones checksummed: damaged in transit, not a changed file.
                raise self._damaged_part(state, number) from exc
            raise self._error(exc, key=state.key) from exc
        etag = _unquote_etag(resp.get("ETag", ""))
        if _MD5_ETAG.match(etag.lower()) and etag.lower() != digest:
            raise self._damaged_part(state, number)
        return etag, checksum

    @staticmethod
    def _damaged_part(state: UploadState, number: int) -> ProviderUnavailable:
        return ProviderUnavailable(provider=PROVIDER, maybe_sent=True, message=(
            f"Part {number} of '{state.key}' arrived damaged at Cloudflare R2; resume the "
            "upload to send it again."))

    def resume_state(self, state: UploadState) -> UploadState:
        """A copy of ``state`` holding the parts R2 really has (ListParts).

        A listed part is kept when its size is the one this upload's part size gives it and its
        ETag matches the recorded one (or none was recorded: the part was sent but the crash came
        before it was saved), and so does its CRC32 when both the record and the listing have
        one; a CRC32 only the listing has is recorded. Other parts are dropped and will be sent
        again. Raises :class:`UploadGone` when R2 no longer knows the upload.
        """
        listed = self._list_parts(state)
        parts: dict[int, str] = {}
        checksums: dict[int, str] = {}
        for number, (etag, size, listed_crc) in listed.items():
            if not 1 <= number <= state.part_count or size != state.part_range(number)[1]:
                log.debug("r2: part %d of %s has size %d; it will be sent again",
                          number, state.key, size)
                continue
            recorded = state.parts.get(number)
            if recorded is not None and _unquote_etag(recorded) != etag:
                log.debug("r2: part %d of %s differs from the record; it will be sent again",
                          number, state.key)
                continue
            recorded_crc = state.checksums.get(number)
            if recorded_crc and listed_crc and recorded_crc != listed_crc:
                log.debug("r2: part %d of %s has another CRC32 than the record; it will be sent "
                          "again", number, state.key)
                continue
            parts[number] = etag
            if recorded_crc or listed_crc:
                checksums[number] = recorded_crc or listed_crc
        return replace(state, parts=parts, checksums=checksums, metadata=dict(state.metadata))

    def _list_parts(self, state: UploadState) -> dict[int, tuple[str, int, str]]:
        """``{part number: (ETag, size, ChecksumCRC32 or "")}`` of every part R2 holds."""
        client = self._client()
        listed: dict[int, tuple[str, int, str]] = {}
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": state.key,
                                  "UploadId": state.upload_id, "MaxParts": 1000}
        while True:
            try:
                resp = client.list_parts(**kwargs)
            except Exception as exc:
                if _code(exc) == "NoSuchUpload":
                    raise UploadGone(state.key) from exc
                raise self._error(exc, key=state.key) from exc
            for part in resp.get("Parts") or []:
                listed[int(part["PartNumber"])] = (_unquote_etag(part.get("ETag", "")),
                                                   int(part.get("Size", -1)),
                                                   str(part.get("ChecksumCRC32") or ""))
            marker = resp.get("NextPartNumberMarker")
            if not resp.get("IsTruncated") or not marker:
                return listed
            kwargs["PartNumberMarker"] = marker

    def complete(self, state: UploadState, *, if_none_match: bool = True) -> str:
        """CompleteMultipartUpload with every part in order; returns the object's ETag.

        An upload that declared CRC32 names each part's CRC32 too (S3 requires it); when the
        state lacks one, the missing ones are taken from ListParts first.

        With ``if_none_match`` an existing object is not overwritten: if it holds the same
        content (:meth:`_same_content`) the upload counts as done (its parts are discarded),
        otherwise :class:`PreconditionFailed`. An upload R2 no longer knows is done when the
        object is there with the same content (a crash after completing), else UploadGone.
        """
        missing = state.missing_parts()
        if missing:
            raise InvalidInput(f"The upload of '{state.key}' still lacks {len(missing)} of "
                               f"{state.part_count} parts; send them before completing it.")
        numbers = [n for n in sorted(state.parts) if 1 <= n <= state.part_count]
        checksums = dict(state.checksums)
        if state.checksum_algorithm == CHECKSUM_ALGORITHM \
                and any(n not in checksums for n in numbers):
            try:
                listed = self._list_parts(state)
            except UploadGone:
                listed = {}  # CompleteMultipartUpload below says NoSuchUpload and handles it
            for n in numbers:
                if n not in checksums and n in listed and listed[n][2] \
                        and listed[n][0] == _unquote_etag(state.parts[n]):
                    checksums[n] = listed[n][2]
        parts: list[dict[str, Any]] = []
        for n in numbers:
            part: dict[str, Any] = {"PartNumber": n, "ETag": f'"{_unquote_etag(state.parts[n])}"'}
            if state.checksum_algorithm == CHECKSUM_ALGORITHM and checksums.get(n):
                part["ChecksumCRC32"] = checksums[n]
            parts.append(part)
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": state.key,
                                  "UploadId": state.upload_id,
                                  "MultipartUpload": {"Parts": parts}}
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        client = self._client()
        try:
            resp = client.complete_multipart_upload(**kwargs)
        except Exception as exc:
            code = _code(exc)
            if code == "PreconditionFailed" or _status(exc) == 412:
                existing = self.head(state.key)
                if existing is not None and self._same_content(existing, state):
                    self._abort_quietly(state)
                    return existing.etag
                raise PreconditionFailed(state.key, condition="If-None-Match") from exc
            if code == "NoSuchUpload":
                existing = self.head(state.key)
                if existing is not None and self._same_content(existing, state):
                    return existing.etag
                raise UploadGone(state.key) from exc
            raise self._error(exc, key=state.key) from exc
        log.debug("r2: completed %s (%d parts)", state.key, len(parts))
        return _unquote_etag(resp.get("ETag", ""))

    @staticmethod
    def _same_content(existing: ObjectInfo, state: UploadState) -> bool:
        """Whether an existing object holds what ``state`` uploads: same size, and the ETag the
        parts give or a content-addressed key (``…/<sha256>.ext``: same key, same bytes)."""
        if existing.size != state.size:
            return False
        expected = multipart_etag(state.parts[n] for n in sorted(state.parts))
        return existing.etag == expected or bool(KEY_PATTERN.match(state.key))

    def abort(self, state: UploadState) -> None:
        """AbortMultipartUpload (on cancel); an upload already gone is fine."""
        client = self._client()
        try:
            client.abort_multipart_upload(Bucket=self.bucket, Key=state.key,
                                          UploadId=state.upload_id)
        except Exception as exc:
            if _code(exc) == "NoSuchUpload" or _status(exc) == 404:
                return
            raise self._error(exc, key=state.key) from exc

    def _abort_quietly(self, state: UploadState) -> None:
        try:
            self.abort(state)
        except (ProviderError, MbvError, OSError) as exc:  # R2 aborts it after 7 days anyway
            log.info("r2: could not abort the upload of %s: %s", state.key, exc)

    # -- the convenience path --

    def upload_file(self, key: str, path: Path | str, *, content_type: str,
                    metadata: Mapping[str, str] | None = None, state: UploadState | None = None,
                    on_progress: Callable[[int, int], object] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    on_state: Callable[[UploadState], object] | None = None,
                    if_none_match: bool = True) -> str:
        """Uploads ``path`` to ``key`` and returns the object's ETag.

        A content-addressed key that already holds an object of the file's size is not sent
        again. A file no larger than the part size is one PutObject; a larger one a multipart
        upload: started (``on_state`` gets the new state to persist), or resumed from ``state``
        (ListParts), parts sent (``on_state`` after each), then completed. If ``should_stop()``
        turns true, :class:`UploadStopped` carries the state to resume or abort later.
        """
        _check_key(key)
        path = Path(path)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise SourceChanged(f"The file '{path.name}' is no longer there, so it was not "
                                "uploaded.") from exc
        if state is not None and (state.key != key or state.size != size):
            self._abort_quietly(state)
            state = None
        if state is None and KEY_PATTERN.match(key):
            existing = self.head(key)
            if existing is not None and existing.size == size:
                log.debug("r2: %s is already stored", key)
                return existing.etag
        if state is None and size <= self.part_size:
            try:
                return self.put_small(key, path, content_type=content_type, metadata=metadata,
                                      if_none_match=if_none_match)
            except PreconditionFailed:
                existing = self.head(key)
                if existing is not None and existing.size == size and KEY_PATTERN.match(key):
                    return existing.etag
                raise
        if state is not None:
            try:
                state = self.resume_state(state)
            except UploadGone:
                existing = self.head(key)
                if existing is not None and existing.size == size and KEY_PATTERN.match(key):
                    return existing.etag
                state = None
        if state is None:
            state = self.start_upload(key, content_type=content_type, metadata=metadata,
                                      size=size)
            if on_state is not None:
                on_state(state)
        state = self.upload_parts(state, path, on_progress=on_progress, should_stop=should_stop,
                                  on_part_done=on_state)
        if not state.is_complete:
            raise UploadStopped(state)
        return self.complete(state, if_none_match=if_none_match)


# --- error mapping -------------------------------------------------------------------------------

def _response(exc: BaseException) -> dict[str, Any] | None:
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else None


def _status(exc: BaseException) -> int | None:
    response = _response(exc)
    meta = response.get("ResponseMetadata") if response else None
    status = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
    return status if isinstance(status, int) else None


def _code(exc: BaseException) -> str:
    response = _response(exc)
    error = response.get("Error") if response else None
    code = error.get("Code") if isinstance(error, dict) else None
    return str(code) if code is not None else ""


def map_error(exc: BaseException, *, bucket: str, key: str = "") -> BaseException:
    """The project error for an exception from boto3/botocore; anything else (already a project
    error, or not from boto) is returned unchanged."""
    if isinstance(exc, MbvError):
        return exc
    from botocore import exceptions as bex

    if isinstance(exc, bex.ClientError):
        code, status = _code(exc), _status(exc)
        if code in _CREDENTIAL_CODES or status in (401, 403):
            return AuthExpired(provider=PROVIDER, status=status, message=(
                "Cloudflare R2 did not accept the access key; check the settings "
                "r2.access_key_id and r2.secret_access_key (the API token needs Object Read & "
                "Write permission for the bucket)."))
        if code == "NoSuchBucket":
            return Rejected("no such bucket", provider=PROVIDER, status=status, code=code,
                            message=(f"The R2 bucket '{bucket}' does not exist. Check the setting "
                                     "r2.bucket."))
        if code in ("NoSuchKey", "NotFound") or (status == 404 and code == "404"):
            return NotFound(f"There is no file '{key}' in the R2 bucket '{bucket}'.")
        if code == "PreconditionFailed" or status == 412:
            condition = (exc.response.get("Error") or {}).get("Condition", "")
            return PreconditionFailed(key, condition=str(condition))
        if code == "NoSuchUpload":
            return UploadGone(key)
        if code in ("BadDigest", "InvalidDigest"):
            return SourceChanged(f"The bytes of '{key}' changed on the way to Cloudflare R2, so "
                                 "nothing was stored; add the file again.")
    if isinstance(exc, (bex.NoCredentialsError, bex.PartialCredentialsError)):
        return NotConfigured(provider=PROVIDER, message=(
            "Cloudflare R2 is not set up yet; set r2.access_key_id and r2.secret_access_key."))
    if isinstance(exc, bex.SSLError):
        return ProviderUnavailable(provider=PROVIDER, message=(
            "The certificate of the Cloudflare R2 endpoint could not be verified, so nothing was "
            "sent; check the setting r2.endpoint_url."))
    from mbv_desktop.integrations.policy.failures import classify_exception, to_error

    failure = classify_exception(exc)
    if failure is not None:
        return to_error(failure, provider=PROVIDER)
    if isinstance(exc, (bex.HTTPClientError, bex.IncompleteReadError)):
        return ProviderUnavailable(provider=PROVIDER, maybe_sent=True)
    return exc
