"""Bringing media that another machine uploaded into this profile's library.

The bucket holds ``{account}/{sha256}.{ext}`` for every asset any of the creator's profiles has
added. An object this profile lacks is downloaded into ``media/.incoming``, then treated like a
dropped file from a stranger: its SHA-256 must be the one its key names (so a damaged or
replaced object is refused), and it passes the same checks as any import (type sniffed from its
bytes, size cap, Pillow's pixel limit). Only then is it moved to its content-addressed place and
recorded, with the original name and upload time from the object's metadata, and marked as
already uploaded so it is never sent back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import urllib.parse
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mbv_desktop.core.errors import InvalidInput, MbvError
from mbv_desktop.store.assets import AssetRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    import sqlite3

    from mbv_desktop.integrations.storage import R2Client
    from mbv_desktop.services.uploads import UploadQueue

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass
class AssetPullReport:
    downloaded: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class AssetPuller:
    """Downloads the assets in ``{account}/`` that this profile does not have yet."""

    def __init__(self, worker: StoreWorker, client: R2Client, account: str, media_dir: Path,
                 uploads: UploadQueue | None = None, *,
                 max_bytes: int | None = None) -> None:
        self._worker = worker
        self._client = client
        self._account = account
        self._media = media_dir
        self._uploads = uploads
        self._max_bytes = max_bytes

    async def remote_assets(self) -> list[tuple[str, str]]:
        """(sha256, ext) of every asset object in the creator's folder."""
        from mbv_desktop.integrations.storage import KEY_PATTERN

        keys = await asyncio.to_thread(self._client.list_keys, f"{self._account}/")
        found = []
        for key in keys:
            if KEY_PATTERN.match(key):
                sha, ext = key.split("/", 1)[1].split(".", 1)
                found.append((sha, ext))
        return found

    async def pull(self) -> AssetPullReport:
        """Downloads every missing asset; one that fails is reported and the rest go on."""
        report = AssetPullReport()
        remote = await self.remote_assets()

        def local(c: sqlite3.Connection) -> set[str]:
            return {row[0] for row in c.execute("SELECT sha256 FROM assets")}

        have = await self._worker.call(local, write=False)
        for sha, ext in remote:
            if sha in have:
                continue
            try:
                await self.fetch(sha, ext)
                report.downloaded += 1
            except MbvError as exc:
                report.failed += 1
                report.errors.append(str(exc))
                log.warning("sync: could not bring in %s.%s: %s", sha[:12], ext, exc)
        return report

    async def fetch(self, sha256: str, ext: str) -> int:
        """The asset's id, downloading and checking it first if this profile lacks it."""
        def existing(c: sqlite3.Connection) -> int | None:
            row = c.execute("SELECT id FROM assets WHERE sha256 = ?", (sha256,)).fetchone()
            return int(row[0]) if row else None

        found = await self._worker.call(existing, write=False)
        if found is not None:
            return found
        from mbv_desktop.integrations.storage import object_key
        from mbv_desktop.services.media_check import inspect_file

        key = object_key(self._account, sha256, ext)
        incoming = self._media / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / f"{uuid.uuid4().hex}.{ext}"
        try:
            metadata = await asyncio.to_thread(self._download, key, tmp)
            if self._max_bytes:
                checked = await asyncio.to_thread(inspect_file, tmp, max_bytes=self._max_bytes)
            else:
                checked = await asyncio.to_thread(inspect_file, tmp)
            if checked.ext != ext:
                raise InvalidInput(f"The file '{key}' in the bucket is not the type its name "
                                   "says, so it was not added to the library.")
            final = self._media / sha256[:2] / f"{sha256}.{ext}"
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp.replace(final)
        finally:
            tmp.unlink(missing_ok=True)
        name = urllib.parse.unquote(metadata.get("originalname", "")) or f"{sha256[:12]}.{ext}"
        when = _parse_when(metadata.get("uploadedat", ""))

        def record(c: sqlite3.Connection) -> int:
            return AssetRepository(c).add(
                sha256=sha256, kind=checked.kind.value, mime=checked.mime, ext=ext,
                size=checked.size, width=checked.width, height=checked.height,
                source="synced", at=when, original_name=name).id

        asset_id = await self._worker.call(record)
        if self._uploads is not None:
            await self._uploads.mark_done([asset_id])
        return asset_id

    def _download(self, key: str, target: Path) -> dict[str, str]:
        """Worker thread: streams the object to ``target`` checking its SHA-256 against the key;
        returns its metadata."""
        from mbv_desktop.integrations.storage.r2 import map_error

        expected = key.rsplit("/", 1)[1].split(".", 1)[0]
        try:
            resp = self._client.s3.get_object(Bucket=self._client.bucket, Key=key)
            body = resp["Body"]
            digest = hashlib.sha256()
            size = 0
            try:
                with target.open("wb") as out:
                    while chunk := body.read(_CHUNK):
                        size += len(chunk)
                        if self._max_bytes and size > self._max_bytes:
                            raise InvalidInput(f"The file '{key}' in the bucket is larger than "
                                               "the library accepts, so it was not added.")
                        digest.update(chunk)
                        out.write(chunk)
            finally:
                body.close()
        except MbvError:
            raise
        except Exception as exc:
            raise map_error(exc, bucket=self._client.bucket, key=key) from exc
        if digest.hexdigest() != expected:
            raise InvalidInput(f"The file '{key}' in the bucket does not hold the bytes its name "
                               "promises (damaged or replaced), so it was not added.")
        return {str(k).lower(): str(v) for k, v in (resp.get("Metadata") or {}).items()}


def _parse_when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)
