"""Sync: one pass backs up media, brings in what other machines added, and syncs drafts.

Order matters: uploads first (so drafts that name a new asset find it in the bucket on the other
machine), then a small JSON record for each AI-made picture (services.generated_content), then
assets from the bucket (so drafts that name them can be attached here), then the drafts
themselves (services.draft_sync). While the app is open a pass runs every ``sync.interval_s``
seconds and a few seconds after drafts change; ``mbv-desktop sync --once`` runs one pass
headless. When R2 can't be reached the pass ends early and says so; the next one picks up where
it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import MbvError, ProviderUnavailable
from mbv_desktop.services.events import DraftChange, DraftsChanged, EventHub
from mbv_desktop.services.storage_config import r2_configured, sync_account
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from mbv_desktop.services.asset_sync import AssetPuller
    from mbv_desktop.services.drafting import DraftingService
    from mbv_desktop.services.uploads import UploadQueue

log = logging.getLogger(__name__)

AFTER_EDIT_DELAY_S = 5.0


@dataclass
class SyncReport:
    """What one pass did; ``error`` is set when it could not finish."""

    uploaded: int = 0
    upload_waiting: int = 0
    upload_failed: int = 0
    assets_downloaded: int = 0
    generated_records: int = 0
    drafts_uploaded: int = 0
    drafts_downloaded: int = 0
    drafts_merged: int = 0
    conflicts: int = 0
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    finished_at: datetime | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "uploaded": self.uploaded, "upload_waiting": self.upload_waiting,
            "upload_failed": self.upload_failed, "assets_downloaded": self.assets_downloaded,
            "generated_records": self.generated_records,
            "drafts_uploaded": self.drafts_uploaded, "drafts_downloaded": self.drafts_downloaded,
            "drafts_merged": self.drafts_merged, "conflicts": self.conflicts,
            "problems": list(self.problems), "error": self.error,
        }


@dataclass(frozen=True)
class SyncState:
    """Published after each pass (and when one starts), for the status bar."""

    running: bool
    last: SyncReport | None


class SyncService:
    def __init__(self, worker: StoreWorker, settings: Settings, secrets: SecretStore,
                 data_dir: Path, uploads: UploadQueue, drafting: DraftingService) -> None:
        self._worker = worker
        self._settings = settings
        self._secrets = secrets
        self._media = data_dir / "media"
        self._uploads = uploads
        self._drafting = drafting
        self.events: EventHub[SyncState] = EventHub()
        self.last: SyncReport | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._due = 0.0

    @property
    def configured(self) -> bool:
        return r2_configured(self._settings)

    @property
    def running(self) -> bool:
        return self._lock.locked()

    async def sync_once(self) -> SyncReport:
        """One pass; a pass already running is waited for and then another runs."""
        async with self._lock:
            self.events.publish(SyncState(True, self.last))
            report = SyncReport()
            try:
                await self._pass(report)
            except ProviderUnavailable as exc:
                report.error = f"Could not reach Cloudflare R2; it will be tried again. ({exc})"
            except MbvError as exc:
                report.error = str(exc)
            report.finished_at = datetime.now(UTC)
            self.last = report
        self.events.publish(SyncState(False, report))
        return report

    async def _pass(self, report: SyncReport) -> None:
        from mbv_desktop.services.asset_sync import AssetPuller
        from mbv_desktop.services.draft_sync import DraftSync
        from mbv_desktop.services.generated_content import publish_generated

        account = sync_account(self._settings)
        before = (await self._uploads.summary()).done
        summary = await self._uploads.drain()
        report.uploaded = max(0, summary.done - before)
        report.upload_waiting, report.upload_failed = summary.waiting, summary.failed
        if summary.problem:
            report.error = summary.problem
            return
        client = await self._uploads.client()
        report.generated_records = await publish_generated(self._worker, client, account)
        puller = AssetPuller(self._worker, client, account, self._media, self._uploads)
        pulled = await puller.pull()
        report.assets_downloaded = pulled.downloaded
        report.problems.extend(pulled.errors)
        drafts = DraftSync(self._worker, client, account, fetch_asset=self._fetch(puller),
                           notify=self._notify)
        result = await drafts.sync()
        report.drafts_uploaded = result.uploaded
        report.drafts_downloaded = result.downloaded
        report.drafts_merged = result.merged
        report.conflicts = result.conflicts
        report.problems.extend(result.errors)

    @staticmethod
    def _fetch(puller: AssetPuller) -> Callable[[str, str], Awaitable[int | None]]:
        async def fetch(sha256: str, ext: str) -> int | None:
            try:
                return await puller.fetch(sha256, ext)
            except MbvError as exc:
                log.warning("sync: asset %s.%s unavailable: %s", sha256[:12], ext, exc)
                return None

        return fetch

    def _notify(self, kind: DraftChange, ids: Iterable[int]) -> None:
        self._drafting.publish_change(kind, list(ids))

    # -- in the background ---------------------------------------------------------------------

    def start(self) -> None:
        """Runs the upload queue and a pass every ``sync.interval_s`` (and soon after edits)."""
        if self._task is not None:
            return
        self._uploads.start()
        self._unsubscribe = self._drafting.events.subscribe(self._on_drafts_changed)
        self._task = asyncio.get_event_loop().create_task(self._run_forever(),
                                                            name="mbv-sync")

    def _on_drafts_changed(self, event: DraftsChanged) -> None:
        if event.origin is not self._drafting:  # not the changes a sync itself wrote
            self._soon()

    def _soon(self) -> None:
        self._due = min(self._due, time.monotonic() + AFTER_EDIT_DELAY_S)
        self._wake.set()

    async def _run_forever(self) -> None:
        interval = float(str(self._settings.get("sync.interval_s") or 60))
        self._due = time.monotonic()
        while True:
            self._wake.clear()
            now = time.monotonic()
            if now >= self._due:
                self._due = now + interval
                if self.configured:
                    report = await self.sync_once()
                    if report.error:  # out of reach: try again sooner than the interval
                        self._due = time.monotonic() + min(interval, 30.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, self._due - time.monotonic()))

    async def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
