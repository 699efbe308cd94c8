"""The publishing outbox: due targets go out once each, or say exactly why not.

One pass (:meth:`PublishingService.publish_due`) takes every target that is due, leases it to
this process (``in_flight``, with the owner and a lease that checkpoints renew) and hands it to
the platform's client (``integrations.social``), which checkpoints the provider-side ids it
creates before going on. Outcomes:

``published``
    with the platform's id and link; ``late`` when it went out more than five minutes after its
    time (the computer was asleep or off).
``pending`` again, with a later ``due_at``
    rate limited (the provider's Retry-After), or the provider could not be reached and
    certainly got nothing. After an answer that never came (timeout, reset after the body was
    sent) the target is marked ``check_first``: the next attempt looks the post up before
    sending anything.
``failed``
    the provider refused it for a reason retrying can't fix (the reason is kept), or it could
    not be reached in ``MAX_ATTEMPTS`` tries.
``needs_attention``
    the account must be reconnected; nothing retries it.

A target found ``in_flight`` whose sender is gone (its process died: same host, pid not
running; or its lease ran out) is picked up with ``check_first``: exactly once across kill -9.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    MbvError,
    ProviderUnavailable,
    RateLimited,
    SecretStoreError,
)
from mbv_desktop.core.platforms import platform_label
from mbv_desktop.core.scheduling import LATE_AFTER
from mbv_desktop.services.background import stop_task
from mbv_desktop.services.events import EventHub
from mbv_desktop.services.scheduling import PostsChanged, x_parts
from mbv_desktop.store.posts import PostRepository, TargetRow
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry
    from mbv_desktop.integrations.social.base import (
        MediaFile,
        PostRequest,
        PublishResult,
        SocialPublisher,
    )
    from mbv_desktop.services.accounts import AccountsService
    from mbv_desktop.services.analytics import AnalyticsService
    from mbv_desktop.services.library import LibraryService
    from mbv_desktop.services.uploads import UploadQueue

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=5)
LOOP_INTERVAL_S = 30.0
KEYRING_WAIT = timedelta(minutes=5)


def owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that leased a target still runs (only knowable on this host)."""
    if not owner:
        return False
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine: trust its lease
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min… (capped at 30 min) between tries after a network failure."""
    return timedelta(seconds=min(1800, 30 * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class PublishOutcome:
    """A target reached an end state (``published``, ``failed`` or ``needs_attention``):
    what notifications (email, SMS, the tray) tell the creator about."""

    target: TargetRow
    state: str
    reason: str
    url: str | None = None


@dataclass
class PublishReport:
    published: int = 0
    failed: int = 0
    needs_attention: int = 0
    delayed: int = 0
    found_after_interruption: int = 0
    messages: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"published": self.published, "failed": self.failed,
                "needs_attention": self.needs_attention, "delayed": self.delayed,
                "found_after_interruption": self.found_after_interruption,
                "messages": list(self.messages)}


class PublishingService:
    def __init__(self, worker: StoreWorker, settings: Settings, accounts: AccountsService,
                 library: LibraryService, uploads: UploadQueue,
                 events: EventHub[PostsChanged], analytics: AnalyticsService | None = None, *,
                 publishers: Mapping[str, SocialPublisher] | None = None,
                 lease: timedelta = LEASE, registry: MetricsRegistry | None = None) -> None:
        self._worker = worker
        self._settings = settings
        self._accounts = accounts
        self._library = library
        self._uploads = uploads
        self.events = events
        self.outcomes: EventHub[PublishOutcome] = EventHub()
        self._analytics = analytics
        self._publishers: dict[str, SocialPublisher] = dict(publishers or {})
        self._registry = registry  # the platforms' calls show in integration health
        self._lease = lease
        self._owner = owner_id()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    # -- clients --

    def publisher(self, provider: str) -> SocialPublisher:
        if provider not in self._publishers:
            from mbv_desktop.integrations.http import ProviderClient

            poll = self._settings.get_float("publishing.poll_interval_s")
            if provider == "x":
                from mbv_desktop.integrations.social.x import XPublisher, x_policy

                self._publishers[provider] = XPublisher(
                    str(self._settings.get("x.api_base")), poll_interval=poll,
                    client=ProviderClient(x_policy(), registry=self._registry))
            elif provider == "instagram":
                from mbv_desktop.integrations.social.instagram import (
                    InstagramPublisher,
                    instagram_policy,
                )

                self._publishers[provider] = InstagramPublisher(
                    str(self._settings.get("facebook.graph_base")), poll_interval=poll,
                    client=ProviderClient(instagram_policy(), registry=self._registry))
            elif provider == "tiktok":
                from mbv_desktop.integrations.social.tiktok import TikTokPublisher, tiktok_policy

                self._publishers[provider] = TikTokPublisher(
                    str(self._settings.get("tiktok.api_base")), poll_interval=poll,
                    client=ProviderClient(tiktok_policy(), registry=self._registry))
            else:
                raise InvalidInput(f"Publishing to '{provider}' is not supported.")
        return self._publishers[provider]

    def use_publisher(self, provider: str, publisher: SocialPublisher
                      ) -> SocialPublisher | None:
        """Sends ``provider``'s posts through ``publisher`` from now on (benches and tools
        with their own limits); returns the one it replaces, for the caller to close."""
        old = self._publishers.get(provider)
        self._publishers[provider] = publisher
        return old

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        # taken out first: a second aclose (the window's and the app's) finds nothing to close
        publishers, self._publishers = list(self._publishers.values()), {}
        for publisher in publishers:
            await publisher.aclose()

    # -- one pass --

    async def publish_due(self, *, now: datetime | None = None, limit: int = 200
                          ) -> PublishReport:
        """Sends everything due now, in due order: each account's posts one after another,
        up to ``publishing.concurrency`` accounts at once."""
        report = PublishReport()
        async with self._lock:
            current = now or datetime.now(UTC)
            rows = await self._worker.call(
                lambda c: PostRepository(c).candidates(current, limit), write=False)
            by_account: dict[tuple[str, str], list[TargetRow]] = {}
            for row in rows:
                by_account.setdefault((row.provider, row.account_id), []).append(row)
            queues = list(by_account.values())

            async def worker() -> None:
                while queues:
                    queue = queues.pop(0)
                    for index, row in enumerate(queue):
                        claimed = await self._claim(row)
                        if claimed is None:
                            continue
                        try:
                            blocked_until = await self._send(claimed, report)
                        except Exception as exc:  # a bug: keep the post, never resend blindly
                            log.exception("publishing: target %d failed unexpectedly", row.id)
                            await self._move(claimed, "pending", "stopped by an unexpected "
                                             f"error ({exc!r}); it will be looked up before "
                                             "anything is sent again",
                                             due_at=datetime.now(UTC) + backoff(row.attempts),
                                             last_error=repr(exc), check_first=1)
                            continue
                        if blocked_until is not None:  # the account's limit is used up
                            await self._hold(queue[index + 1:], blocked_until, report)
                            break

            workers = max(1, self._settings.get_int("publishing.concurrency"))
            await asyncio.gather(*(worker() for _ in range(min(workers, len(queues)))))
        return report

    async def _claim(self, row: TargetRow) -> TargetRow | None:
        now = datetime.now(UTC)
        if row.state == "in_flight":
            expired = row.lease_until is None or row.lease_until < now
            if not expired and _owner_alive(row.lease_owner):
                return None  # another live process is sending it
            reason = "picked up after the sender stopped; checking before sending again"
        else:
            reason = f"sending (attempt {row.attempts + 1})"
        lease_until = now + self._lease
        return await self._worker.call(lambda c: PostRepository(c).claim(
            row.id, owner=self._owner, lease_until=lease_until, at=now, expect_state=row.state,
            expect_owner=row.lease_owner, reason=reason))

    async def _move(self, row: TargetRow, state: str, reason: str, **fields: Any) -> None:
        now = datetime.now(UTC)
        await self._worker.call(lambda c: PostRepository(c).move(
            row.id, state, reason, at=now, **fields))
        self.events.publish(PostsChanged((row.id,)))
        if state in ("published", "failed", "needs_attention"):
            self.outcomes.publish(PublishOutcome(row, state, reason, fields.get("url")))

    async def _hold(self, rows: list[TargetRow], until: datetime, report: PublishReport
                    ) -> None:
        """Moves an account's other due posts behind its rate limit without asking again."""
        for row in rows:
            if row.state != "pending":
                continue
            report.delayed += 1
            await self._move(row, "pending", f"waiting for the account's rate limit to reset at "
                             f"{until:%H:%M:%S} UTC", due_at=until)

    async def _send(self, row: TargetRow, report: PublishReport) -> datetime | None:
        """Sends one target and records the outcome; the time the account may post again when
        the provider said its limit is used up."""
        from mbv_desktop.integrations.auth import NeedsReconnect

        name = platform_label(row.provider)
        try:
            request = await self._request(row)
            publisher = self.publisher(row.provider)
            result = await self._publish_once(publisher, row, request)
        except NeedsReconnect:
            report.needs_attention += 1
            reason = f"{name} needs the account reconnected before it can post"
            await self._move(row, "needs_attention", reason, last_error=reason)
            return None
        except RateLimited as exc:
            wait = max(1.0, float(exc.retry_after or 60))
            due = datetime.now(UTC) + timedelta(seconds=wait)
            report.delayed += 1
            await self._move(row, "pending", f"{name} asked to wait; trying again at "
                             f"{due:%H:%M:%S} UTC", due_at=due, last_error=str(exc))
            return due
        except ProviderUnavailable as exc:
            unconfirmed = bool(exc.maybe_sent or row.check_first)
            # Giving up is only honest when the post certainly did not go out; one that may
            # have keeps being looked up (a read, safe to repeat) until it is known.
            if row.attempts >= MAX_ATTEMPTS and not unconfirmed:
                report.failed += 1
                await self._move(row, "failed", f"gave up after {row.attempts} attempts: {exc}",
                                 last_error=str(exc))
                return None
            due = datetime.now(UTC) + backoff(row.attempts)
            report.delayed += 1
            if unconfirmed:
                reason = (f"no answer from {name} after sending; it will look the post up "
                          "before sending anything again")
            else:
                reason = f"{name} could not be reached; trying again at {due:%H:%M:%S} UTC"
            await self._move(row, "pending", reason, due_at=due, last_error=str(exc),
                             check_first=int(unconfirmed))
            return None
        except SecretStoreError as exc:  # a locked keyring: nothing was sent; wait for it
            due = datetime.now(UTC) + KEYRING_WAIT
            report.delayed += 1
            await self._move(row, "pending", f"the sign-in couldn't be read ({exc}); trying "
                             f"again at {due:%H:%M:%S} UTC", due_at=due, last_error=str(exc))
            return None
        except (MbvError, OSError) as exc:  # refused: retrying can't fix it
            report.failed += 1
            report.messages.append(f"{name}: {exc}")
            await self._move(row, "failed", str(exc), last_error=str(exc))
            return None
        published_at = datetime.now(UTC)
        late = published_at - row.scheduled_at > LATE_AFTER
        found = bool(result.extra.get("found"))
        report.published += 1
        report.found_after_interruption += int(found)
        reason = ("found at the provider after an interruption; not sent again" if found
                  else "published")
        if late:
            reason += f" (late: due {row.scheduled_at:%Y-%m-%d %H:%M} UTC)"
        await self._move(row, "published", reason, platform_post_id=result.post_id,
                         url=result.url, published_at=published_at, late=int(late),
                         last_error=None, check_first=0)
        if self._analytics is not None:
            await self._analytics.track("content_publish", {"platform": row.provider,
                                                            "post_type": row.post_type})
        return None

    async def _publish_once(self, publisher: SocialPublisher, row: TargetRow,
                            request: PostRequest) -> PublishResult:
        from mbv_desktop.integrations.social.base import PublishResult

        token = await self._accounts.access_token(row.provider, row.account_id)
        if row.check_first:
            found = await publisher.find(row.account_id, token, request, progress=row.progress)
            if found is not None:
                return PublishResult(found.post_id, found.url, {**found.extra, "found": True})
        progress = dict(row.progress)

        async def checkpoint(update: Mapping[str, Any]) -> None:
            progress.clear()
            progress.update(update)
            now = datetime.now(UTC)
            await self._worker.call(lambda c: PostRepository(c).save_progress(
                row.id, progress, lease_until=now + self._lease, at=now))

        try:
            return await publisher.publish(row.account_id, token, request,
                                           progress=row.progress, checkpoint=checkpoint)
        except AuthExpired as exc:
            from mbv_desktop.integrations.auth import NeedsReconnect

            if isinstance(exc, NeedsReconnect):
                raise
            # The access token was refused (expired early, revoked): one refresh, once more.
            (await self._accounts.token_manager()).invalidate(row.provider, row.account_id,
                                                              token)
            token = await self._accounts.access_token(row.provider, row.account_id)
            return await publisher.publish(row.account_id, token, request,
                                           progress=dict(progress), checkpoint=checkpoint)

    async def _request(self, row: TargetRow) -> PostRequest:
        from mbv_desktop.integrations.social.base import PostRequest

        media = await self._media(row)
        parts = tuple(x_parts(row.body)) if row.provider == "x" else ()
        return PostRequest(target_key=row.uid, post_type=row.post_type, text=row.body,
                           parts=parts, media=tuple(media),
                           not_before=row.attempt_started_at - timedelta(minutes=1)
                           if row.attempt_started_at else None)

    async def _media(self, row: TargetRow) -> list[MediaFile]:
        from mbv_desktop.integrations.social.base import MediaFile

        if not row.media:
            return []
        items = {i.asset.id: i for i in await self._library.attached(row.draft_id)} \
            if row.draft_id is not None else {}
        if len(items) < len(row.media):
            everything = {i.asset.id: i for i in await self._library.items()}
            items = {**everything, **items}
        files = []
        needs_url = row.provider in ("instagram", "tiktok")
        for asset_id in row.media:
            item = items.get(asset_id)
            if item is None:
                raise InvalidInput("A photo or video of this post is no longer in the library.")
            url = await self._public_url(item) if needs_url else None
            a = item.asset
            files.append(MediaFile(path=item.path, mime=a.mime, kind=a.kind, size=a.bytes,
                                   sha256=a.sha256, width=a.width, height=a.height,
                                   duration_s=a.duration_s, public_url=url))
        return files

    async def _public_url(self, item: Any) -> str:
        """A URL the provider can fetch the file from: its R2 object (uploaded first if the
        backup hasn't sent it yet), signed for an hour."""
        from mbv_desktop.integrations.storage import object_key
        from mbv_desktop.services.storage_config import sync_account

        rows = {r.asset_id: r for r in await self._uploads.rows()}
        if rows.get(item.asset.id) is None or rows[item.asset.id].status.value != "done":
            await self._uploads.drain()
            rows = {r.asset_id: r for r in await self._uploads.rows()}
            if rows.get(item.asset.id) is None or rows[item.asset.id].status.value != "done":
                raise ProviderUnavailable(provider="r2", message=(
                    "The post's media hasn't reached Cloudflare R2 yet, which Instagram and "
                    "TikTok fetch it from; it will be tried again."))
        client = await self._uploads.client()
        key = object_key(sync_account(self._settings), item.asset.sha256, item.asset.ext)
        return await asyncio.to_thread(client.presigned_get, key)

    # -- in the background --

    def start(self) -> None:
        """Publishes due posts while the app runs: at each one's time, and every 30 s."""
        if self._task is None:
            self._task = asyncio.get_event_loop().create_task(self._run_forever(),
                                                              name="mbv-publishing")
            self.events.subscribe(lambda _e: self._wake.set())

    async def _run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.publish_due()
            except MbvError as exc:
                log.warning("publishing: a pass failed: %s", exc)
            next_due = await self._worker.call(lambda c: PostRepository(c).next_due(),
                                               write=False)
            wait = LOOP_INTERVAL_S
            if next_due is not None:
                wait = max(0.2, min(wait, (next_due - datetime.now(UTC)).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
