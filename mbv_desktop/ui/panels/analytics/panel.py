"""The Analytics panel (Ctrl+5): how posts do, in charts, with the numbers one click away.

Tabs: Performance (figures over time, platforms and accounts compared, best hours, top posts),
Hashtags & trends, Campaigns, AI spend, and Integration health. The charts' library loads only
when the panel is first shown (the app preloads it in the background after the first frame),
and every read runs off the GUI thread; new figures from the collector refresh what is on
screen at most once a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from mbv_desktop.core.platforms import platform_label
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner

REFRESH_MS = 1000  # new figures redraw at most this often
STEP_MS = 4  # between drawing steps: long enough for Qt to paint the last one


class AnalyticsPanel(QWidget):
    #: A refresh was drawn: the milliseconds from asking to drawn (benches and tests wait on it).
    rendered = Signal(float)

    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("analyticsPanel")
        self._services = services
        self._tasks = tasks
        self._built = False
        self._ready = False  # every step of the build done
        self._stale = True
        self._account_labels: dict[str, str] = {}
        # Everything else is made when the panel is first shown (``_build``): the first
        # window does not wait for any of it.
        self._layout = QVBoxLayout(self)
        self.tabs: Any = None
        self.filters: Any = None
        self.collect: Any = None
        self.status: Any = None
        self._coalesce = QTimer(self)
        self._coalesce.setSingleShot(True)
        self._coalesce.setInterval(REFRESH_MS)
        self._coalesce.timeout.connect(self._refresh_if_visible)
        self.performance: Any = None
        self.hashtags: Any = None
        self.campaigns: Any = None
        self.spend: Any = None
        self.health: Any = None

    # --- building ----------------------------------------------------------------------------

    def build_deferred(self) -> None:
        """After the first frame: listen for new figures (cheap; no chart is made yet)."""
        self._services.metrics_collection.events.subscribe(lambda _e: self._figures_arrived())

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._built:
            self._build()
        if self._stale:
            self.refresh()

    def _build(self) -> None:
        """The tabs, made in steps: the filters and the Performance tab's frame now, then one
        chart per turn of the event loop, then the first view; the other tabs when first
        opened."""
        from mbv_desktop.ui.panels.analytics.filters import AnalyticsFilterBar
        from mbv_desktop.ui.panels.analytics.performance import PerformanceTab

        self._built = True
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self.filters = AnalyticsFilterBar(self)
        self.filters.changed.connect(lambda _f: self.refresh())
        self.collect = QPushButton("&Collect now", self)
        self.collect.setToolTip("Ask the platforms for the figures that are due now")
        self.collect.clicked.connect(self.collect_now)
        self.status = QLabel(self)
        self.status.setObjectName("analyticsStatus")
        top = QHBoxLayout()
        top.addWidget(self.filters, 1)
        top.addWidget(self.collect)
        self._layout.addLayout(top)
        self._layout.addWidget(self.tabs, 1)
        self._layout.addWidget(self.status)
        self.performance = PerformanceTab(self)
        self.performance.metric_changed.connect(lambda _m: self.refresh())
        self.tabs.addTab(self.performance, "&Performance")
        self._holders: list[_LazyTab] = []
        for title, factory in self._later_tabs():
            holder = _LazyTab(factory, self)
            self._holders.append(holder)
            self.tabs.addTab(holder, title)
        self.tabs.currentChanged.connect(lambda _i: self._tab_shown())
        self._load_accounts()
        self._run_steps([*self.performance.build_steps(), self._build_hashtags],
                        self._build_done, key="analytics-build")

    def _run_steps(self, steps: list[Callable[[], None]], then: Callable[[], None] | None = None,
                   *, key: str) -> None:
        """One step now, the rest one per turn of the event loop (paints go in between), as a
        task of the runner: a newer run with the same ``key`` replaces it, closing waits for
        it, and so does a screenshot."""
        async def pause() -> None:  # a Qt timer: asyncio's timers here are coarser
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

            def wake() -> None:
                if not done.done():  # cancelled meanwhile by a newer run
                    done.set_result(None)

            QTimer.singleShot(STEP_MS, wake)
            await done

        async def run() -> None:
            for n, step in enumerate(steps):
                if n:
                    await pause()
                step()
            if then is not None:
                then()

        self._tasks.run(run(), label="Drawing the charts", latest_wins=key, progress=False)

    def _build_done(self) -> None:
        self._ready = True
        self.refresh()

    def _build_hashtags(self) -> None:
        self._holders[0].fill()

    def _later_tabs(self) -> list[tuple[str, Callable[[], QWidget]]]:
        from mbv_desktop.ui.panels.analytics.campaigns import CampaignsTab
        from mbv_desktop.ui.panels.analytics.hashtags import HashtagsTab
        from mbv_desktop.ui.panels.analytics.health import HealthTab
        from mbv_desktop.ui.panels.analytics.spend import SpendTab

        s, t = self._services, self._tasks

        def made(attr: str, tab: QWidget) -> QWidget:
            setattr(self, attr, tab)
            return tab

        return [("&Hashtags && trends", lambda: made("hashtags", HashtagsTab(s, t, self))),
                ("Ca&mpaigns", lambda: made("campaigns", CampaignsTab(s, t, self))),
                ("AI &spend", lambda: made("spend", SpendTab(s, t, self))),
                ("Integration h&ealth", lambda: made("health", HealthTab(s, t, self)))]

    def _load_accounts(self) -> None:
        async def load() -> tuple[list[Any], list[str]]:
            return (await self._services.accounts.accounts(),
                    await self._services.analytics_queries.hashtags_in_use())

        self._tasks.run(load(), label="Reading accounts and hashtags", progress=False,
                        on_success=self._accounts_loaded)

    def _accounts_loaded(self, loaded: tuple[list[Any], list[str]]) -> None:
        accounts, tags = loaded
        self.filters.set_accounts(accounts)
        self.filters.set_hashtags(tags)
        self._account_labels = {f"{a.provider}:{a.account_id}":
                                f"{platform_label(a.provider)} {a.label}" for a in accounts}

    # --- refreshing --------------------------------------------------------------------------

    def _figures_arrived(self) -> None:
        self._stale = True
        self._coalesce.start()

    def _refresh_if_visible(self) -> None:
        if self.isVisible():
            self.refresh()

    def _tab_shown(self) -> None:
        holder = self.tabs.currentWidget()
        if isinstance(holder, _LazyTab) and holder is not self._holders[0]:
            holder.fill().load()  # type: ignore[attr-defined]

    def refresh(self) -> None:
        """Reads the figures for the current filters (off the GUI thread) and redraws."""
        if not self._ready:
            self._stale = True
            return
        self._stale = False
        started = time.perf_counter()
        flt = self.filters.current()
        metric = self.performance.metric_choice.currentData()
        zone = self.filters.zone

        async def read() -> tuple[Any, Any]:
            from mbv_desktop.ui.panels.analytics.performance import prepare_lines

            overview = await self._services.analytics_queries.overview(flt, metric, zone)
            return overview, await asyncio.to_thread(prepare_lines, overview)

        def drawn(loaded: tuple[Any, Any]) -> None:
            overview, lines = loaded
            self.status.setText(f"{len(overview.posts)} posts · {overview.points:,} data points"
                                " · figures are collected in the background")
            steps = [*self.performance.overview_steps(overview, self._account_labels, lines),
                     lambda: self.hashtags.show_table(overview.hashtags)]
            # measured once the frame with the last chart has been painted
            self._run_steps(steps, lambda: QTimer.singleShot(0, self, lambda: self.rendered.emit(
                (time.perf_counter() - started) * 1000)), key="analytics-draw")

        self._tasks.run(read(), label="Reading figures", latest_wins="analytics-overview",
                        progress=False, on_success=drawn)
        self._tab_shown()

    def collect_now(self) -> None:
        def done(report: Any) -> None:
            parts = [f"Collected {report.collected}"]
            if report.deferred:
                parts.append(f"{report.deferred} waiting")
            if report.rate_limited:
                parts.append("a platform asked to wait (rate limit)")
            if report.unavailable:
                parts.append(f"{report.unavailable} without insights permission")
            self.status.setText(", ".join(parts) + ".")
            self.refresh()

        self._tasks.run(self._services.metrics_collection.collect_due(),
                        label="Collecting figures", on_success=done)


class _LazyTab(QWidget):
    """A tab's place, filled with the tab itself the first time it is needed."""

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget) -> None:
        super().__init__(parent)
        self._factory = factory
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self.tab: QWidget | None = None

    def fill(self) -> QWidget:
        if self.tab is None:
            self.tab = self._factory()
            self._layout.addWidget(self.tab)
        return self.tab
