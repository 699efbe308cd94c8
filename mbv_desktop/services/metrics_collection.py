"""Collecting published posts' figures from X, Instagram and TikTok, in the background.

Every published target has a job (see :mod:`mbv_desktop.store.metrics`). A pass claims the due
jobs (a lease, so two processes never collect the same post at once), groups them by account,
and for each account asks its platform for the figures of up to ``max_batch`` posts at a time,
accounts in parallel (at most :data:`CONCURRENCY`), each account's batches one after another.
What happens to a job:

- figures came back: they are stored with this computer's time, and the next collection is
  planned (dense after publishing, sparse later; :func:`core.analytics.next_collection`);
- the post is gone from the platform: its job stops as ``deleted`` (its history stays); where
  the platform can't tell "removed" from "hidden for now" (TikTok), only after a second look;
- the account did not grant the insights permission: the account's jobs stop as
  ``unavailable`` with the reason, and start again once the account is connected again;
- the platform said "too many requests": the account's remaining jobs wait until its reset
  (or a back-off), nothing is asked again sooner and no zero is recorded for the gap;
- the token was refused: one refresh and one more try; a grant that is gone waits for a
  reconnect;
- anything else failing (platform down, network): those jobs back off and try again.

Clock skew: samples carry this computer's time, never the platform's; if this clock went back
since a post's last sample, the new one is stamped just after it so a series stays in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mbv_desktop.config.settings import Settings
from mbv_desktop.core.analytics import next_collection, retry_after_failure
from mbv_desktop.core.errors import AuthExpired, InvalidInput, MbvError, RateLimited
from mbv_desktop.core.platforms import platform_label
from mbv_desktop.services.background import stop_task
from mbv_desktop.services.events import EventHub
from mbv_desktop.store.metrics import MetricJob, MetricsRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry
    from mbv_desktop.integrations.social.insights import InsightsReader, PostStats
    from mbv_desktop.services.accounts import AccountsService

log = logging.getLogger(__name__)

#: Accounts collected at the same time.
CONCURRENCY = 4
#: Account-wide figures (followers…) are read at most this often.
ACCOUNT_EVERY = timedelta(hours=1)
#: The background loop looks again at least this often.
LOOP_INTERVAL_S = 60.0
#: A rate limit without a reset time holds the account this long.
DEFAULT_HOLD = timedelta(minutes=15)
#: Claimed jobs are put off this long while a pass collects them (see ``claim_due``).
LEASE = timedelta(minutes=10)
#: The note a post not found once carries until it is looked for again.
NOT_FOUND_ONCE = "The platform did not find this post; it will look once more before stopping."


@dataclass
class CollectReport:
    """What one pass did, for the command line and the tests."""

    collected: int = 0
    deleted: int = 0
    unavailable: int = 0
    deferred: int = 0
    rate_limited: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stored: list[int] = field(default_factory=list)  # targets with new figures

    def to_json(self) -> dict[str, object]:
        return {"collected": self.collected, "deleted": self.deleted,
                "unavailable": self.unavailable, "deferred": self.deferred,
                "rate_limited": self.rate_limited, "errors": self.errors}


@dataclass(frozen=True)
class MetricsChanged:
    """Figures were stored for these targets (the Analytics panel refreshes)."""

    target_ids: tuple[int, ...]


class MetricsCollector:
    def __init__(self, worker: StoreWorker, settings: Settings, accounts: AccountsService,
                 registry: MetricsRegistry | None = None,
                 readers: Mapping[str, InsightsReader] | None = None) -> None:
        self._worker = worker
        self._settings = settings
        self._accounts = accounts
        self._registry = registry
        self._readers: dict[str, InsightsReader] = dict(readers or {})
        self.events: EventHub[MetricsChanged] = EventHub()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # --- clients -----------------------------------------------------------------------------

    def reader(self, provider: str) -> InsightsReader:
        if provider not in self._readers:
            if provider == "x":
                from mbv_desktop.integrations.social.x_insights import XInsights

                self._readers[provider] = XInsights(str(self._settings.get("x.api_base")),
                                                    registry=self._registry)
            elif provider == "instagram":
                from mbv_desktop.integrations.social.instagram_insights import InstagramInsights

                self._readers[provider] = InstagramInsights(
                    str(self._settings.get("facebook.graph_base")), registry=self._registry)
            elif provider == "tiktok":
                from mbv_desktop.integrations.social.tiktok_insights import TikTokInsights

                self._readers[provider] = TikTokInsights(
                    str(self._settings.get("tiktok.api_base")), registry=self._registry)
            else:
                raise InvalidInput(f"There are no figures to collect from '{provider}'.")
        return self._readers[provider]

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await stop_task(task)
        readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            await reader.aclose()

    @property
    def _first_interval(self) -> timedelta:
        return timedelta(seconds=self._settings.get_float("analytics.collect_first_interval_s"))

    # --- one pass ----------------------------------------------------------------------------

    async def collect_due(self, *, now: datetime | None = None, limit: int = 2000
                          ) -> CollectReport:
        """Collects every job due now (at most ``limit``)."""
        async with self._lock:
            moment = now or datetime.now(UTC)

            def claim(c: sqlite3.Connection) -> list[MetricJob]:
                repo = MetricsRepository(c)
                repo.reactivate_reconnected(moment)
                return repo.claim_due(moment, limit, moment + LEASE)

            jobs = await self._worker.call(claim)
            report = CollectReport()
            if not jobs:
                return report
            by_account: dict[tuple[str, str], list[MetricJob]] = defaultdict(list)
            for job in jobs:
                by_account[(job.provider, job.account_id)].append(job)
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(key: tuple[str, str], group: list[MetricJob]) -> None:
                async with gate:
                    await self._collect_account(key[0], key[1], group, report, now)

            # Every account's pass ends before the lock is let go; one that fails unexpectedly
            # leaves its jobs leased (due again when the lease ends) and is logged.
            results = await asyncio.gather(*(one(k, g) for k, g in by_account.items()),
                                           return_exceptions=True)
            for (provider, _account), result in zip(by_account, results, strict=True):
                if isinstance(result, Exception):
                    log.error("analytics: collecting %s figures failed unexpectedly",
                              platform_label(provider), exc_info=result)
                    report.errors.append(f"{platform_label(provider)}: {result}")
            if report.stored:  # once per pass: the panel redraws when the pass is over
                self.events.publish(MetricsChanged(tuple(report.stored)))
            return report

    async def _collect_account(self, provider: str, account_id: str, jobs: list[MetricJob],
                               report: CollectReport, fixed_now: datetime | None) -> None:
        from mbv_desktop.integrations.auth import NeedsReconnect
        from mbv_desktop.integrations.social.insights import InsightsNotAllowed

        label = platform_label(provider)
        try:
            reader = self.reader(provider)
        except InvalidInput as exc:
            await self._stop(jobs, "done", str(exc), fixed_now)
            return
        remaining = list(jobs)
        try:
            token = await self._accounts.access_token(provider, account_id)
            while remaining:
                batch = remaining[:reader.max_batch]
                try:
                    stats = await reader.post_stats(account_id, token,
                                                    [j.platform_post_id for j in batch])
                except AuthExpired:
                    (await self._accounts.token_manager()).invalidate(provider, account_id,
                                                                      token)
                    token = await self._accounts.access_token(provider, account_id)
                    stats = await reader.post_stats(account_id, token,
                                                    [j.platform_post_id for j in batch])
                await self._store(batch, stats, report, fixed_now)
                remaining = remaining[len(batch):]
            await self._account_figures(provider, account_id, reader, token)
        except RateLimited as exc:
            now = fixed_now or datetime.now(UTC)
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after else DEFAULT_HOLD
            await self._defer(remaining, now + wait, f"{label} asked to wait: {exc}", now,
                              failed=False)
            report.rate_limited.append(f"{provider}:{account_id}")
            report.deferred += len(remaining)
        except InsightsNotAllowed as exc:
            await self._stop(remaining, "unavailable", str(exc), fixed_now)
            report.unavailable += len(remaining)
        except NeedsReconnect:
            now = fixed_now or datetime.now(UTC)
            await self._defer(remaining, now + timedelta(hours=1),
                              f"Reconnect your {label} account to collect its figures.", now)
            report.deferred += len(remaining)
        except MbvError as exc:
            now = fixed_now or datetime.now(UTC)
            failures = max(j.failures for j in remaining) + 1
            await self._defer(remaining, retry_after_failure(now, failures,
                                                             self._first_interval),
                              str(exc), now)
            report.deferred += len(remaining)
            report.errors.append(f"{label}: {exc}")
            log.info("analytics: collecting %s figures failed: %s", label, exc)

    async def _store(self, batch: list[MetricJob], stats: list[PostStats],
                     report: CollectReport, fixed_now: datetime | None) -> None:
        by_id = {s.post_id: s for s in stats}
        first = self._first_interval

        def write(conn: sqlite3.Connection) -> tuple[list[int], int]:
            repo = MetricsRepository(conn)
            now = fixed_now or datetime.now(UTC)
            stamp = now.timestamp()
            stored: list[int] = []
            deleted = 0
            for job in batch:
                stat = by_id.get(job.platform_post_id)
                if stat is None:  # the platform skipped it: try again later
                    repo.defer([job.target_id], retry_after_failure(now, job.failures + 1, first),
                               "The platform gave no figures for this post.", now)
                    continue
                if stat.deleted:
                    if stat.certain or job.last_error == NOT_FOUND_ONCE:
                        repo.mark([job.target_id], "deleted",
                                  "The post was removed from the platform.", now)
                        deleted += 1
                    else:  # maybe hidden for a while: one more look later
                        repo.defer([job.target_id], now + first, NOT_FOUND_ONCE, now,
                                   failed=False)
                    continue
                last = repo.last_sample_at(job.target_id)
                at = stamp if last is None or stamp > last else last + 0.001
                due = next_collection(job.published_at, now, job.collections + 1, first)
                repo.record(job.target_id, at, dict(stat.values), due, now, stat.note or None)
                stored.append(job.target_id)
            return stored, deleted

        stored, deleted = await self._worker.call(write)
        report.collected += len(stored)
        report.deleted += deleted
        report.stored.extend(stored)

    async def _account_figures(self, provider: str, account_id: str, reader: InsightsReader,
                               token: str) -> None:
        """Followers and the like, at most once an hour; a failure here only loses that."""
        last = await self._worker.call(
            lambda c: MetricsRepository(c).last_account_sample_at(provider, account_id),
            write=False)
        if last is not None and time.time() - last < ACCOUNT_EVERY.total_seconds():
            return
        try:
            values = await reader.account_stats(account_id, token)
        except MbvError as exc:
            log.info("analytics: %s account figures not read: %s", platform_label(provider), exc)
            return
        if values:
            stamp = time.time()
            await self._worker.call(lambda c: MetricsRepository(c).add_account_sample(
                provider, account_id, stamp, values))

    async def _defer(self, jobs: list[MetricJob], until: datetime, reason: str, now: datetime,
                     *, failed: bool = True) -> None:
        ids = [j.target_id for j in jobs]
        if ids:
            await self._worker.call(
                lambda c: MetricsRepository(c).defer(ids, until, reason, now, failed=failed))

    async def _stop(self, jobs: list[MetricJob], state: str, reason: str,
                    fixed_now: datetime | None) -> None:
        ids = [j.target_id for j in jobs]
        now = fixed_now or datetime.now(UTC)
        if ids:
            await self._worker.call(lambda c: MetricsRepository(c).mark(ids, state, reason, now))

    # --- in the background -------------------------------------------------------------------

    def start(self) -> None:
        """Collects while the app runs: when the next job is due, and at least every minute."""
        if self._task is None:
            self._task = asyncio.get_event_loop().create_task(self._run_forever(),
                                                              name="mbv-metrics")

    def wake(self) -> None:
        """Look now (a post was just published)."""
        self._wake.set()

    async def _run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.collect_due()
            except MbvError as exc:
                log.warning("analytics: a collection pass failed: %s", exc)
            except Exception:  # the loop must outlive any one pass
                log.exception("analytics: a collection pass failed unexpectedly")
            next_due = await self._worker.call(lambda c: MetricsRepository(c).next_due(),
                                               write=False)
            wait = LOOP_INTERVAL_S
            if next_due is not None:
                wait = max(0.5, min(wait, (next_due - datetime.now(UTC)).total_seconds()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
