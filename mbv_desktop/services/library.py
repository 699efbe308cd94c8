"""Adding media to the library: every file is checked first (services.media_check), then kept
once, by content, under ``<data dir>/media/<sha[:2]>/<sha256>.<ext>`` and recorded in SQLite.

The checks, copying and hashing are blocking work and run on a worker thread. (The Library
panel, thumbnails and uploads build on this; see issue 4.)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mbv_desktop.core.errors import MbvError
from mbv_desktop.store.assets import AssetRecord, AssetRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.core.media_rules import MediaInfo
    from mbv_desktop.services.plan_limits import PlanGuard

MEDIA_DIR = "media"
THUMBS_DIR = "thumbnails"
THUMB_SIZE = 256
ADD_CONCURRENCY = 2


@dataclass(frozen=True)
class LibraryItem:
    asset: AssetRecord
    name: str
    path: Path

    def media_info(self) -> MediaInfo:
        """What the per-platform media rules need to know about it."""
        from mbv_desktop.core.media_rules import MediaInfo, MediaKind

        a = self.asset
        return MediaInfo(mime=a.mime, kind=MediaKind(a.kind), bytes=a.bytes, width=a.width,
                         height=a.height, duration_s=a.duration_s)


@dataclass(frozen=True)
class AddResult:
    source: Path
    asset: AssetRecord | None = None
    path: Path | None = None  # where the kept copy lives
    already_there: bool = False
    duration_s: float | None = None
    error: str | None = None


def _make_thumbnail(source: Path, target: Path) -> Path | None:
    from PIL import Image, ImageOps

    try:
        with Image.open(source) as img:
            img.draft("RGB", (THUMB_SIZE, THUMB_SIZE))  # JPEG: decode at a fraction of the size
            thumb = ImageOps.exif_transpose(img)
            thumb.thumbnail((THUMB_SIZE, THUMB_SIZE))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".part")
            # zlib level 1: a third of the time of the default for a few KB more
            thumb.convert("RGBA").save(tmp, "PNG", compress_level=1)
            tmp.replace(target)
    except OSError:
        return None
    return target


def _first_copy_is_new(results: list[AddResult]) -> list[AddResult]:
    """Files with the same bytes in one batch are added at once and either may be kept first;
    report it in the order given: the first copy is the new one, the others are already there."""
    new_in_batch = {r.asset.sha256 for r in results
                    if r.asset is not None and not r.already_there}
    seen: set[str] = set()
    out = []
    for r in results:
        if r.asset is not None and r.asset.sha256 in new_in_batch:
            sha = r.asset.sha256
            r = replace(r, already_there=sha in seen)
            seen.add(sha)
        out.append(r)
    return out


@dataclass(frozen=True)
class _Kept:
    sha256: str
    path: Path
    size: int
    already_there: bool


class LibraryService:
    def __init__(self, worker: StoreWorker, data_dir: Path,
                 on_added: Callable[[], object] | None = None) -> None:
        self._on_added = on_added  # new files to back up (the upload queue's kick)
        #: Holds media to the plan's storage (None: no limits known).
        self.plan_guard: PlanGuard | None = None
        self._worker = worker
        self._media = data_dir / MEDIA_DIR
        self._thumbs = data_dir / THUMBS_DIR

    def path_of(self, asset: AssetRecord) -> Path:
        return self._media / asset.sha256[:2] / f"{asset.sha256}.{asset.ext}"

    async def items(self, text: str = "") -> list[LibraryItem]:
        rows = await self._worker.call(lambda c: AssetRepository(c).recent(text=text),
                                       write=False)
        return [LibraryItem(a, name or a.prompt or a.sha256[:12], self.path_of(a))
                for a, name in rows]

    async def attach(self, draft_id: int, asset_ids: Iterable[int]) -> None:
        ids = list(asset_ids)

        def run(c: sqlite3.Connection) -> None:
            repo = AssetRepository(c)
            for asset_id in ids:
                repo.attach(draft_id, asset_id)

        await self._worker.call(run)

    async def detach(self, draft_id: int, asset_id: int) -> None:
        await self._worker.call(lambda c: c.execute(
            "DELETE FROM draft_assets WHERE draft_id = ? AND asset_id = ?", (draft_id, asset_id)))

    async def attached(self, draft_id: int) -> list[LibraryItem]:
        rows = await self._worker.call(lambda c: AssetRepository(c).for_draft(draft_id),
                                       write=False)
        return [LibraryItem(a, name or a.prompt or a.sha256[:12], self.path_of(a))
                for a, name in rows]

    async def thumbnail(self, asset: AssetRecord) -> Path | None:
        """A small PNG of an image, or a poster frame of a video (made once, off the event loop,
        and kept in the thumbnails folder); None when it cannot be made."""
        if asset.kind not in ("image", "video"):
            return None
        target = self._thumbs / asset.sha256[:2] / f"{asset.sha256}.png"
        if target.exists():
            return target
        if asset.kind == "video":
            from mbv_desktop.services.video_probe import make_poster

            return await asyncio.to_thread(make_poster, self.path_of(asset), target, THUMB_SIZE)
        return await asyncio.to_thread(_make_thumbnail, self.path_of(asset), target)

    async def add_files(self, paths: Iterable[Path], *, strip_gps: bool = False
                        ) -> list[AddResult]:
        """Adds each file it can; a file it cannot use gets its reason and changes nothing.

        A few files are worked on at once: checking, copying and hashing are mostly C code that
        lets other threads run, so this is about a third faster than one by one on two cores.
        Results come back in the order of ``paths``.
        """
        todo = [Path(p) for p in paths]
        results: list[AddResult | None] = [None] * len(todo)
        numbers = iter(range(len(todo)))

        async def worker() -> None:  # a few workers, not a task per file: 2,000 tasks stall
            for n in numbers:
                try:
                    results[n] = await self._add_one(todo[n], strip_gps)
                except MbvError as e:
                    results[n] = AddResult(todo[n], error=str(e))

        await asyncio.gather(*(worker() for _ in range(min(ADD_CONCURRENCY, len(todo)))))
        done = _first_copy_is_new([r for r in results if r is not None])
        if self._on_added is not None and any(r.asset and not r.already_there for r in done):
            self._on_added()
        return done

    async def _add_one(self, path: Path, strip_gps: bool) -> AddResult:
        from mbv_desktop.services.media_check import inspect_file

        if not path.is_file():
            raise MbvError(f"There is no file {path}.")
        checked = await asyncio.to_thread(inspect_file, path, strip_gps=strip_gps,
                                          decode_video=True)
        if self.plan_guard is not None:
            await self.plan_guard.check_storage(path.stat().st_size)
        kept = await asyncio.to_thread(self._keep, checked, strip_gps)

        def record(c: object) -> AssetRecord:
            return AssetRepository(c).add(  # type: ignore[arg-type]
                sha256=kept.sha256, kind=checked.kind.value, mime=checked.mime,
                ext=checked.ext, size=kept.size, width=checked.width, height=checked.height,
                source="imported", at=datetime.now(UTC), original_name=checked.original_name,
                duration_s=checked.duration_s)

        asset = await self._worker.call(record)
        return AddResult(path, asset, kept.path, kept.already_there, checked.duration_s)

    def _keep(self, checked: object, strip_gps: bool) -> _Kept:
        from mbv_desktop.services.media_check import normalized_copy

        incoming = self._media / ".incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / uuid.uuid4().hex
        try:
            normalized_copy(checked, tmp, strip_gps=strip_gps)  # type: ignore[arg-type]
            digest = hashlib.sha256()
            with tmp.open("rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            sha = digest.hexdigest()
            ext = getattr(checked, "ext")  # noqa: B009
            final = self._media / sha[:2] / f"{sha}.{ext}"
            size = tmp.stat().st_size
            final.parent.mkdir(parents=True, exist_ok=True)
            try:  # atomic "create unless there": two files with the same bytes may arrive at once
                os.link(tmp, final)
            except FileExistsError:
                return _Kept(sha, final, size, True)
            return _Kept(sha, final, size, False)
        finally:
            tmp.unlink(missing_ok=True)
