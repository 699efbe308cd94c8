"""Builds the services one profile needs, from a data dir and its settings.

The app's composition root and the command line both call ``open_services``; panels receive the
resulting ``Services`` through their constructors, never through a global. Services that the
first window does not need (AI generation and its clients) are built on first use, so their
imports stay off the path to the first frame.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mbv_desktop.config.paths import backups_dir, database_path, ensure_data_dir
from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.services.drafting import DraftingService
from mbv_desktop.store.database import open_database
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry
    from mbv_desktop.services.accounts import AccountsService
    from mbv_desktop.services.ai_spend import AiSpendService
    from mbv_desktop.services.analytics import AnalyticsService
    from mbv_desktop.services.analytics_queries import AnalyticsQueries
    from mbv_desktop.services.billing import BillingService
    from mbv_desktop.services.campaigns import CampaignsService
    from mbv_desktop.services.generation import GenerationService
    from mbv_desktop.services.health_history import HealthHistory
    from mbv_desktop.services.library import LibraryService
    from mbv_desktop.services.metrics_collection import MetricsCollector
    from mbv_desktop.services.notifications import NotificationService
    from mbv_desktop.services.plan_limits import PlanGuard
    from mbv_desktop.services.publishing import PublishingService
    from mbv_desktop.services.sandbox_control import SandboxControl
    from mbv_desktop.services.scheduling import SchedulingService
    from mbv_desktop.services.similarity import SimilarityService
    from mbv_desktop.services.sync import SyncService
    from mbv_desktop.services.time_slots import TimeSlotsService
    from mbv_desktop.services.trends import TrendsService
    from mbv_desktop.services.uploads import UploadQueue

log = logging.getLogger(__name__)


@dataclass
class Services:
    data_dir: Path
    settings: Settings
    secrets: SecretStore
    worker: StoreWorker
    drafting: DraftingService
    sandbox: bool = False
    sandbox_control_url: str | None = None

    @functools.cached_property
    def metrics(self) -> MetricsRegistry:
        from mbv_desktop.integrations.policy.metrics import MetricsRegistry

        return MetricsRegistry()

    @functools.cached_property
    def generation(self) -> GenerationService:
        from mbv_desktop.services.generation import GenerationService

        service = GenerationService(self.worker, self.settings, self.secrets, self.data_dir,
                                    self.metrics, analytics=self.analytics)
        service.plan_guard = self.plan_guard
        return service

    @functools.cached_property
    def similarity(self) -> SimilarityService:
        from mbv_desktop.services.similarity import SimilarityService

        return SimilarityService(self.worker, self.generation)

    @functools.cached_property
    def library(self) -> LibraryService:
        from mbv_desktop.services.library import LibraryService

        # New files wake the upload queue (which does nothing until it is started).
        service = LibraryService(self.worker, self.data_dir,
                                 on_added=lambda: self.uploads.notify_new())
        service.plan_guard = self.plan_guard
        return service

    @functools.cached_property
    def uploads(self) -> UploadQueue:
        from mbv_desktop.services.library import MEDIA_DIR
        from mbv_desktop.services.uploads import UploadQueue

        media = self.data_dir / MEDIA_DIR
        return UploadQueue(self.worker, self.settings, self.secrets,
                           lambda sha, ext: media / sha[:2] / f"{sha}.{ext}")

    @functools.cached_property
    def sync(self) -> SyncService:
        from mbv_desktop.services.sync import SyncService

        return SyncService(self.worker, self.settings, self.secrets, self.data_dir, self.uploads,
                           self.drafting)

    @functools.cached_property
    def scheduling(self) -> SchedulingService:
        from mbv_desktop.services.scheduling import SchedulingService

        return SchedulingService(self.worker, self.drafting, self.library, self.accounts)

    @functools.cached_property
    def time_slots(self) -> TimeSlotsService:
        from mbv_desktop.services.time_slots import TimeSlotsService

        return TimeSlotsService(self.worker, self.drafting, self.scheduling)

    @functools.cached_property
    def publishing(self) -> PublishingService:
        from mbv_desktop.services.publishing import PublishingService

        publishing = PublishingService(self.worker, self.settings, self.accounts, self.library,
                                       self.uploads, self.scheduling.events, self.analytics,
                                       registry=self.metrics)
        # Always attached: the listener does nothing until the creator opts in, so turning
        # notifications on in the settings works without a restart.
        self.notifications.attach(publishing)
        return publishing

    @functools.cached_property
    def notifications(self) -> NotificationService:
        from mbv_desktop.services.notifications import NotificationService

        return NotificationService(self.worker, self.settings, self.secrets, self.metrics)

    @functools.cached_property
    def metrics_collection(self) -> MetricsCollector:
        from mbv_desktop.services.metrics_collection import MetricsCollector

        return MetricsCollector(self.worker, self.settings, self.accounts, self.metrics)

    @functools.cached_property
    def analytics_queries(self) -> AnalyticsQueries:
        from mbv_desktop.services.analytics_queries import AnalyticsQueries

        return AnalyticsQueries(self.worker)

    @functools.cached_property
    def trends(self) -> TrendsService:
        from mbv_desktop.services.trends import TrendsService

        return TrendsService(self.worker, self.settings, self.accounts, self.metrics_collection,
                             self.analytics_queries, self.generation)

    @functools.cached_property
    def campaigns(self) -> CampaignsService:
        from mbv_desktop.services.campaigns import CampaignsService

        return CampaignsService(self.worker, self.analytics)

    @functools.cached_property
    def ai_spend(self) -> AiSpendService:
        from mbv_desktop.services.ai_spend import AiSpendService

        return AiSpendService(self.worker, self.settings)

    @functools.cached_property
    def health_history(self) -> HealthHistory:
        from mbv_desktop.services.health_history import HealthHistory

        return HealthHistory(self.worker, self.metrics)

    @functools.cached_property
    def accounts(self) -> AccountsService:
        from mbv_desktop.services.accounts import AccountsService

        service = AccountsService(self.worker, self.settings, self.secrets, self.analytics)
        service.plan_guard = self.plan_guard
        return service

    @functools.cached_property
    def plan_guard(self) -> PlanGuard:
        from mbv_desktop.services.plan_limits import PlanGuard

        return PlanGuard(self.worker, self.settings)

    @functools.cached_property
    def billing(self) -> BillingService:
        from mbv_desktop.services.billing import BillingService

        return BillingService(self.worker, self.settings, self.secrets, self.accounts,
                              notifications=self.notifications, analytics=self.analytics,
                              registry=self.metrics)

    @functools.cached_property
    def analytics(self) -> AnalyticsService:
        from mbv_desktop.services.analytics import AnalyticsService

        return AnalyticsService(self.settings, self.secrets, self.data_dir, self.worker,
                                registry=self.metrics)

    @functools.cached_property
    def sandbox_control(self) -> SandboxControl | None:
        if not self.sandbox_control_url:
            return None
        from mbv_desktop.services.sandbox_control import SandboxControl

        return SandboxControl(self.sandbox_control_url)

    async def aclose(self) -> None:
        """Closes network clients; call before ``close`` while the loop still runs."""
        if "publishing" in self.__dict__:
            await self.publishing.aclose()
        if "billing" in self.__dict__:
            await self.billing.aclose()
        if "metrics_collection" in self.__dict__:
            await self.metrics_collection.aclose()
        if "notifications" in self.__dict__:  # after publishing: its last outcomes get sent
            await self.notifications.aclose()
        if "accounts" in self.__dict__:
            await self.accounts.aclose()
        if "analytics" in self.__dict__:
            await self.analytics.aclose()
        if "sync" in self.__dict__:
            await self.sync.aclose()
        if "uploads" in self.__dict__:
            await self.uploads.aclose()
        if "generation" in self.__dict__:
            await self.generation.aclose()
        if "health_history" in self.__dict__:  # the session's last figures, into today's row
            await self.health_history.persist()

    def close(self) -> None:
        self.worker.close()


def open_services(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    sandbox: bool = False,
    sandbox_control_url: str | None = None,
) -> Services:
    """Opens (creating and migrating if needed) the profile in ``data_dir``.

    Raises DataDirError, NotADatabase or SchemaTooNew with a sentence a person can act on.
    """
    ensure_data_dir(data_dir)
    settings = Settings(data_dir, env=env, overrides=overrides)
    db_path = database_path(data_dir)
    # Opening migrates (after a backup) on this thread, once, before any worker exists.
    open_database(db_path, backups_dir(data_dir)).close()
    worker = StoreWorker(db_path)
    secrets = SecretStore(
        allow_plaintext=bool(settings.get("secrets.allow_plaintext")),
        plaintext_path=data_dir / "secrets.json",
    )
    return Services(
        data_dir=data_dir,
        settings=settings,
        secrets=secrets,
        worker=worker,
        drafting=DraftingService(worker),
        sandbox=sandbox,
        sandbox_control_url=sandbox_control_url,
    )
