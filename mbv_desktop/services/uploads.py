"""The upload outbox: every asset in the library is backed up to R2 in the background.

Each asset gets one row in ``uploads`` (schema v4). A row is ``pending`` until it is sent,
``paused`` or ``cancelled`` by the creator, ``failed`` when retrying can't help (wrong
credentials, a missing bucket, the kept copy damaged) and ``done`` once R2 holds the object.

Why retrying is safe here
    Keys are content-addressed (``{account}/{sha256}.{ext}``) and written with
    ``If-None-Match: *``: sending the same row twice stores the same bytes under the same key or
    finds them already there, so a crash or a lost answer is simply sent again. A large file goes
    as a multipart upload whose state (upload id, part size, part ETags) is saved in the row after
    every part; after a restart the upload goes on at the next missing part.

Offline
    When R2 can't be reached the row stays ``pending`` and the queue waits (exponential back-off
    with full jitter, at most ``retry_cap_s``) before trying again; ``summary().offline`` says so
    and the status bar shows the count of waiting files. Nothing else in the app waits for it.

Threads
    boto3 is blocking, so each upload runs in a worker thread. Its callbacks come back to the
    event loop through ``call_soon_threadsafe`` (progress, throttled) or write the row through the
    store worker (multipart state, which must be on disk before the next part counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.drafts import format_time
from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    MbvError,
    NotConfigured,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.services.events import EventHub
from mbv_desktop.services.storage_config import load_r2_config, r2_configured, sync_account
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    import sqlite3

    from mbv_desktop.integrations.storage import R2Client, UploadState

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.1


class UploadStatus(enum.StrEnum):
    PENDING = "pending"
    PAUSED = "paused"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class UploadRow:
    """One asset's upload as the Library panel shows it."""

    asset_id: int
    key: str
    status: UploadStatus
    bytes_total: int
    bytes_done: int
    error: str | None
    name: str

    @property
    def fraction(self) -> float:
        return 1.0 if self.bytes_total <= 0 else min(1.0, self.bytes_done / self.bytes_total)


@dataclass(frozen=True)
class UploadSummary:
    """Counts for the status bar: ``waiting`` is pending + paused (not yet in R2)."""

    pending: int = 0
    paused: int = 0
    failed: int = 0
    done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    offline: bool = False
    configured: bool = True
    problem: str | None = None  # why the queue stopped (credentials, bucket), if it did

    @property
    def waiting(self) -> int:
        return self.pending + self.paused


@dataclass(frozen=True)
class UploadsChanged:
    """Published on the loop's thread: ``asset_ids`` changed (empty: the whole queue may have)."""

    asset_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Job:
    asset_id: int
    sha256: str
    ext: str
    mime: str
    size: int
    original_name: str
    multipart: str | None


@dataclass
class _Active:
    job: _Job
    stop: threading.Event
    then: UploadStatus | None = None  # what the creator asked for while it ran
    bytes_done: int = 0


class UploadQueue:
    """Runs the outbox. ``start()`` begins the background task; ``drain()`` runs until nothing
    can be sent now (the command line's ``sync --once``)."""

    def __init__(self, worker: StoreWorker, settings: Settings, secrets: SecretStore,
                 path_of: Callable[[str, str], Path], *, concurrency: int = 2,
                 retry_cap_s: float = 60.0, part_size: int | None = None,
                 part_concurrency: int = 4) -> None:
        self._worker = worker
        self._settings = settings
        self._secrets = secrets
        self._path_of = path_of  # (sha256, ext) -> the kept copy
        self._concurrency = max(1, concurrency)
        self._retry_cap_s = retry_cap_s
        self._part_size = part_size
        self._part_concurrency = part_concurrency
        self.events: EventHub[UploadsChanged] = EventHub()
        self._client: R2Client | None = None
        self._active: dict[int, _Active] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._offline_since: float | None = None
        self._failures = 0
        self._next_try = 0.0
        self._problem: str | None = None
        self._last_progress: dict[int, float] = {}

    # -- the client ----------------------------------------------------------------------------

    @property
    def configured(self) -> bool:
        return r2_configured(self._settings)

    async def client(self) -> R2Client:
        """The R2 client (made once); NotConfigured while the settings are empty."""
        if self._client is None:
            config = await load_r2_config(self._settings, self._secrets)
            if config is None:
                raise NotConfigured(provider="r2", message=(
                    "Cloudflare R2 is not set up yet; set r2.endpoint_url, r2.bucket, "
                    "r2.access_key_id and r2.secret_access_key."))
            from mbv_desktop.integrations.storage import R2Client

            kwargs = {"part_size": self._part_size} if self._part_size else {}
            self._client = R2Client(config, max_concurrency=self._part_concurrency, **kwargs)
        return self._client

    # -- the rows ------------------------------------------------------------------------------

    async def enqueue_missing(self) -> int:
        """Adds a pending row for every asset that has none; returns how many were added."""
        account = sync_account(self._settings)
        now = format_time(datetime.now(UTC))

        def run(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO uploads (asset_id, key, state, bytes_total, created_at, updated_at)"
                " SELECT a.id, ? || '/' || a.sha256 || '.' || a.ext, 'pending', a.bytes, ?, ?"
                " FROM assets a WHERE NOT EXISTS (SELECT 1 FROM uploads u"
                " WHERE u.asset_id = a.id)", (account, now, now))
            return cur.rowcount

        added = await self._worker.call(run)
        if added:
            self.events.publish(UploadsChanged())
            self._wake.set()
        return added

    async def mark_done(self, asset_ids: Iterable[int]) -> None:
        """Records assets that are already in R2 (downloaded from it) as uploaded."""
        ids = list(asset_ids)
        account = sync_account(self._settings)
        now = format_time(datetime.now(UTC))

        def run(c: sqlite3.Connection) -> None:
            for asset_id in ids:
                c.execute(
                    "INSERT INTO uploads (asset_id, key, state, bytes_total, bytes_done,"
                    " created_at, updated_at) SELECT id, ? || '/' || sha256 || '.' || ext,"
                    " 'done', bytes, bytes, ?, ? FROM assets WHERE id = ?"
                    " ON CONFLICT (asset_id) DO UPDATE SET state = 'done', multipart = NULL,"
                    " bytes_done = bytes_total, error = NULL, updated_at = excluded.updated_at",
                    (account, now, now, asset_id))

        await self._worker.call(run)
        self.events.publish(UploadsChanged(tuple(ids)))

    async def rows(self, *, include_done: bool = True, limit: int = -1) -> list[UploadRow]:
        """Uploads, unfinished first (at most ``limit``; -1: all), with live progress for those
        being sent."""
        def run(c: sqlite3.Connection) -> list[tuple[int, str, str, int, int, str | None, str]]:
            return c.execute(
                "SELECT u.asset_id, u.key, u.state, u.bytes_total, u.bytes_done, u.error,"
                " a.original_name FROM uploads u JOIN assets a ON a.id = u.asset_id"
                " WHERE ? OR u.state != 'done'"
                # being sent, then paused part-way, then the rest; finished ones last
                " ORDER BY CASE u.state WHEN 'pending' THEN 0 WHEN 'paused' THEN 1"
                " WHEN 'failed' THEN 2 WHEN 'cancelled' THEN 3 ELSE 4 END,"
                " u.bytes_done > 0 DESC, u.asset_id LIMIT ?", (include_done, limit)).fetchall()

        rows = []
        for asset_id, key, state, total, done, error, name in await self._worker.call(
                run, write=False):
            active = self._active.get(asset_id)
            if active is not None:
                done = active.bytes_done
            rows.append(UploadRow(asset_id, key, UploadStatus(state), total, done, error,
                                  name or ""))
        return rows

    async def summary(self) -> UploadSummary:
        def run(c: sqlite3.Connection) -> list[tuple[str, int, int, int]]:
            return c.execute("SELECT state, count(*), sum(bytes_total), sum(bytes_done)"
                             " FROM uploads GROUP BY state").fetchall()

        counts = {UploadStatus(state): (n, total or 0, done or 0)
                  for state, n, total, done in await self._worker.call(run, write=False)}
        open_states = (UploadStatus.PENDING, UploadStatus.PAUSED)
        live = sum(a.bytes_done for a in self._active.values())
        return UploadSummary(
            pending=counts.get(UploadStatus.PENDING, (0, 0, 0))[0],
            paused=counts.get(UploadStatus.PAUSED, (0, 0, 0))[0],
            failed=counts.get(UploadStatus.FAILED, (0, 0, 0))[0],
            done=counts.get(UploadStatus.DONE, (0, 0, 0))[0],
            bytes_total=sum(counts.get(s, (0, 0, 0))[1] for s in open_states),
            bytes_done=sum(counts.get(s, (0, 0, 0))[2] for s in open_states) + live,
            offline=self._offline_since is not None,
            configured=self.configured,
            problem=self._problem,
        )

    async def _set_state(self, asset_id: int, status: UploadStatus, *,
                         only_from: tuple[UploadStatus, ...] = (), error: str | None = None,
                         clear_multipart: bool = False, done: bool = False) -> bool:
        now = format_time(datetime.now(UTC))
        sql = ["UPDATE uploads SET state = ?, error = ?, updated_at = ?"]
        params: list[object] = [status.value, error, now]
        if clear_multipart:
            sql.append(", multipart = NULL")
        if done:
            sql.append(", bytes_done = bytes_total")
        sql.append(" WHERE asset_id = ?")
        params.append(asset_id)
        if only_from:
            sql.append(f" AND state IN ({', '.join('?' * len(only_from))})")
            params.extend(s.value for s in only_from)
        changed = await self._worker.call(
            lambda c: c.execute("".join(sql), params).rowcount)
        if changed:
            self.events.publish(UploadsChanged((asset_id,)))
        return bool(changed)

    # -- what the creator can do ---------------------------------------------------------------

    async def pause(self, asset_id: int) -> None:
        """Stops sending it after the parts in flight; it can be resumed where it stopped."""
        if await self._set_state(asset_id, UploadStatus.PAUSED,
                                 only_from=(UploadStatus.PENDING,)):
            active = self._active.get(asset_id)
            if active is not None:
                active.then = UploadStatus.PAUSED
                active.stop.set()

    async def resume(self, asset_id: int) -> None:
        """Sends it again (after a pause, a cancel or a failure)."""
        if await self._set_state(asset_id, UploadStatus.PENDING,
                                 only_from=(UploadStatus.PAUSED, UploadStatus.FAILED,
                                            UploadStatus.CANCELLED)):
            self._problem = None
            self._next_try = 0.0
            self._wake.set()

    async def cancel(self, asset_id: int) -> None:
        """Stops it and discards what was sent (the unfinished multipart upload is aborted)."""
        active = self._active.get(asset_id)
        if active is not None:
            active.then = UploadStatus.CANCELLED
            active.stop.set()
            await self._set_state(asset_id, UploadStatus.CANCELLED,
                                  only_from=(UploadStatus.PENDING, UploadStatus.PAUSED))
            return
        multipart = await self._worker.call(lambda c: c.execute(
            "SELECT multipart FROM uploads WHERE asset_id = ?", (asset_id,)).fetchone(),
            write=False)
        cancelled = await self._set_state(
            asset_id, UploadStatus.CANCELLED, clear_multipart=True,
            only_from=(UploadStatus.PENDING, UploadStatus.PAUSED, UploadStatus.FAILED))
        if cancelled and multipart and multipart[0]:
            await self._abort(str(multipart[0]))

    async def pause_all(self) -> None:
        ids = await self._worker.call(lambda c: [r[0] for r in c.execute(
            "SELECT asset_id FROM uploads WHERE state = 'pending'")], write=False)
        for asset_id in ids:
            await self.pause(asset_id)

    async def resume_all(self) -> None:
        """Resumes everything paused and retries everything that failed."""
        ids = await self._worker.call(lambda c: [r[0] for r in c.execute(
            "SELECT asset_id FROM uploads WHERE state IN ('paused', 'failed')")], write=False)
        for asset_id in ids:
            await self.resume(asset_id)
        self._problem = None
        self._next_try = 0.0
        self._wake.set()

    def reconfigure(self) -> None:
        """The R2 settings changed: make a new client and try again."""
        self._client = None
        self._problem = None
        self.kick()

    def notify_new(self) -> None:
        """New assets were added: the running queue records them (and sends them unless it is
        waiting for the endpoint)."""
        self._wake.set()

    def kick(self) -> None:
        """Try again now (the network came back, settings changed)."""
        self._next_try = 0.0
        self._wake.set()

    async def _abort(self, multipart_json: str) -> None:
        from mbv_desktop.integrations.storage import UploadState

        try:
            client = await self.client()
            await asyncio.to_thread(client.abort, UploadState.from_json(multipart_json))
        except (MbvError, ValueError) as exc:  # R2 drops unfinished uploads after 7 days
            log.info("uploads: could not abort an unfinished upload: %s", exc)

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Runs the queue in the background until ``aclose()``."""
        if self._task is None:
            self._task = asyncio.get_event_loop().create_task(self._run_forever(),
                                                                name="mbv-uploads")

    async def aclose(self) -> None:
        """Pauses what is in flight (it resumes at the next start) and stops the task."""
        for active in self._active.values():
            active.stop.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # it had died already; closing must still finish
                log.info("uploads: the background queue had stopped: %r", exc)

    async def _run_forever(self) -> None:
        while True:
            self._wake.clear()
            await self.enqueue_missing()
            delay = self._next_try - time.monotonic()
            if delay <= 0 and self.configured and self._problem is None:
                await self.drain()
                delay = self._next_try - time.monotonic()
            timeout = delay if delay > 0 else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def drain(self) -> UploadSummary:
        """Sends pending rows (``concurrency`` at a time) until none is left or R2 is out of
        reach; returns the summary afterwards."""
        await self.enqueue_missing()
        running: set[asyncio.Task[bool]] = set()
        while True:
            while len(running) < self._concurrency and self._next_try <= time.monotonic() \
                    and self._problem is None:
                job = await self._next_job()
                if job is None:
                    break
                self._active[job.asset_id] = _Active(job, threading.Event())
                running.add(asyncio.ensure_future(self._send(job)))
            if not running:
                break
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        return await self.summary()

    async def _next_job(self) -> _Job | None:
        busy = tuple(self._active)

        def run(c: sqlite3.Connection) -> tuple[int, str, str, str, int, str, str | None] | None:
            # NOT IN () is not SQL, and NOT IN (NULL) is never true
            marks = ", ".join("?" * len(busy)) or "-1"
            row: tuple[int, str, str, str, int, str, str | None] | None = c.execute(
                "SELECT a.id, a.sha256, a.ext, a.mime, a.bytes, a.original_name, u.multipart"
                " FROM uploads u JOIN assets a ON a.id = u.asset_id WHERE u.state = 'pending'"
                f" AND u.asset_id NOT IN ({marks})"
                " ORDER BY u.multipart IS NULL, u.asset_id LIMIT 1", busy).fetchone()
            return row

        row = await self._worker.call(run, write=False)
        if row is None:
            return None
        asset_id, sha, ext, mime, size, name, multipart = row
        return _Job(asset_id, sha, ext, mime, size, name or "", multipart or None)

    async def _send(self, job: _Job) -> bool:
        """One attempt at one row; returns whether it is done."""
        active = self._active[job.asset_id]
        try:
            client = await self.client()
            etag = await asyncio.to_thread(self._upload_blocking, client, job, active,
                                           asyncio.get_running_loop())
        except Exception as exc:  # each kind of failure is sorted out there
            return await self._after_failure(job, active, exc)
        finally:
            self._active.pop(job.asset_id, None)
            self._last_progress.pop(job.asset_id, None)
        log.debug("uploads: asset %d stored (%s)", job.asset_id, etag)
        self._online()
        await self._set_state(job.asset_id, UploadStatus.DONE, clear_multipart=True, done=True,
                              only_from=(UploadStatus.PENDING, UploadStatus.PAUSED,
                                         UploadStatus.CANCELLED))
        return True

    def _upload_blocking(self, client: R2Client, job: _Job, active: _Active,
                         loop: asyncio.AbstractEventLoop) -> str:
        """Worker thread: one upload, resumed from the saved multipart state if there is one."""
        from mbv_desktop.integrations.storage import (
            UploadState,
            object_key,
            upload_metadata,
        )

        account = sync_account(self._settings)
        key = object_key(account, job.sha256, job.ext)
        state = UploadState.from_json(job.multipart) if job.multipart else None
        path = self._path_of(job.sha256, job.ext)
        if not path.is_file():
            raise InvalidInput(f"The library's copy of '{job.original_name or key}' is missing "
                               "from the data folder, so it can't be backed up; add the file "
                               "again.")

        def save_state(s: UploadState) -> None:
            text = s.to_json()
            self._worker.submit(lambda c: c.execute(
                "UPDATE uploads SET multipart = ?, key = ?, bytes_done = ? WHERE asset_id = ?",
                (text, s.key, s.bytes_done, job.asset_id))).result()

        def progress(done: int, total: int) -> None:
            active.bytes_done = done
            now = time.monotonic()
            if done >= total or now - self._last_progress.get(job.asset_id, 0.0) \
                    >= PROGRESS_INTERVAL_S:
                self._last_progress[job.asset_id] = now
                loop.call_soon_threadsafe(self.events.publish, UploadsChanged((job.asset_id,)))

        metadata = upload_metadata(uploaded_by=account, original_name=job.original_name or key)
        return client.upload_file(key, path, content_type=job.mime, metadata=metadata,
                                  state=state, on_progress=progress, on_state=save_state,
                                  should_stop=active.stop.is_set)

    async def _after_failure(self, job: _Job, active: _Active, exc: BaseException) -> bool:
        from mbv_desktop.integrations.storage import SourceChanged, UploadStopped

        if isinstance(exc, UploadStopped):
            if active.then is UploadStatus.CANCELLED:
                await self._abort(exc.state.to_json())
                await self._worker.call(lambda c: c.execute(
                    "UPDATE uploads SET multipart = NULL, bytes_done = 0 WHERE asset_id = ?",
                    (job.asset_id,)))
            self.events.publish(UploadsChanged((job.asset_id,)))
            return False
        if isinstance(exc, (ProviderUnavailable, RateLimited, OSError)) and not isinstance(
                exc, SourceChanged):
            self._offline(exc)
            await self._worker.call(lambda c: c.execute(
                "UPDATE uploads SET attempts = attempts + 1, error = ? WHERE asset_id = ?",
                (f"Waiting to try again: {exc}", job.asset_id)))
            self.events.publish(UploadsChanged((job.asset_id,)))
            return False
        message = str(exc) if isinstance(exc, MbvError) else f"The upload failed: {exc!r}"
        if isinstance(exc, (AuthExpired, NotConfigured)) or (
                isinstance(exc, Rejected) and getattr(exc, "code", "") == "NoSuchBucket"):
            # Every other file would fail the same way: stop until the settings change.
            self._problem = message
        if not isinstance(exc, MbvError):
            log.error("uploads: asset %d failed unexpectedly", job.asset_id, exc_info=exc)
        await self._set_state(job.asset_id, UploadStatus.FAILED, error=message,
                              only_from=(UploadStatus.PENDING,))
        return False

    def _offline(self, exc: BaseException) -> None:
        self._failures += 1
        if self._offline_since is None:
            self._offline_since = time.monotonic()
            log.info("uploads: R2 is out of reach (%s); waiting", exc)
        # Exponential back-off with full jitter (AWS architecture blog), never below 0.2 s so an
        # endpoint that refuses at once does not turn into a busy loop.
        ceiling = min(self._retry_cap_s, 0.5 * 2 ** min(self._failures, 16))
        seconds = max(0.2, random.uniform(0, ceiling))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            seconds = max(seconds, float(retry_after))
        self._next_try = time.monotonic() + seconds
        self.events.publish(UploadsChanged())

    def _online(self) -> None:
        if self._offline_since is not None:
            log.info("uploads: R2 answers again")
            self._offline_since = None
            self.events.publish(UploadsChanged())
        self._failures = 0
