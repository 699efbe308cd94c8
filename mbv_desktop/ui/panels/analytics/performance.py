"""The Performance tab: each post's figures over time, platforms and accounts side by side, the
best hours to post (from the creator's own posts), and the top posts.

Everything shown comes from one :class:`~mbv_desktop.services.analytics_queries.Overview` read
off the GUI thread; this tab only hands arrays to the charts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.analytics import METRIC_LABELS, METRICS
from mbv_desktop.core.platforms import platform_label
from mbv_desktop.services.analytics_queries import ENGAGEMENT, Overview, top_posts
from mbv_desktop.ui.widgets.charts.bars import BarChart
from mbv_desktop.ui.widgets.charts.data import Series, format_value, platform_color
from mbv_desktop.ui.widgets.charts.heatmap import HeatmapChart
from mbv_desktop.ui.widgets.charts.timeseries import (
    PreparedSeries,
    TimeSeriesChart,
    prepare_series,
)

TOP_POSTS = 10
TOP_COLUMNS = ("Post", "Platform", "Published", "Views", "Engagement", "Rate")


class PerformanceTab(QWidget):
    metric_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metric_choice = QComboBox(self)
        self.metric_choice.setAccessibleName("Figure over time")
        self.metric_choice.addItem(METRIC_LABELS[ENGAGEMENT], ENGAGEMENT)
        for name in METRICS:
            self.metric_choice.addItem(METRIC_LABELS[name], name)
        self.metric_choice.currentIndexChanged.connect(
            lambda *_: self.metric_changed.emit(self.metric_choice.currentData()))
        # Charts are made one per turn of the event loop (``build_steps``): each costs ~10 ms
        # of the GUI thread, too much to pay all at once.
        self.over_time: Any = None
        self.by_platform: Any = None
        self.by_account: Any = None
        self.heatmap: Any = None
        self.followers: Any = None
        self.top = QTableWidget(0, len(TOP_COLUMNS), self)
        self.top.setHorizontalHeaderLabels(TOP_COLUMNS)
        self.top.setAccessibleName("Top posts")
        self.top.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.top.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.top.verticalHeader().setVisible(False)
        header = self.top.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.top.itemActivated.connect(self._open_post)
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)

        pick = QHBoxLayout()
        pick.addWidget(QLabel("Show:", self))
        pick.addWidget(self.metric_choice)
        pick.addWidget(self.summary, 1)
        grid = self._grid = QGridLayout()
        top_box = QVBoxLayout()
        top_box.addWidget(QLabel("Top posts (Enter opens the post):", self))
        top_box.addWidget(self.top)
        grid.addLayout(top_box, 2, 1, 1, 2)
        for row, stretch in ((0, 3), (1, 2), (2, 2)):
            grid.setRowStretch(row, stretch)
        for column, stretch in ((0, 2), (1, 1), (2, 1)):  # the heatmap needs its 24 hours
            grid.setColumnStretch(column, stretch)
        layout = QVBoxLayout(self)
        layout.addLayout(pick)
        layout.addLayout(grid, 1)

    def build_steps(self) -> list[Callable[[], None]]:
        """The charts, one step each, in reading order."""
        def chart(attr: str, make: Callable[[], QWidget], *cell: int) -> Callable[[], None]:
            def step() -> None:
                widget = make()
                setattr(self, attr, widget)
                self._grid.addWidget(widget, *cell)
            return step

        def curves(count: int) -> Callable[[], None]:
            return lambda: self.over_time.reserve_curves(count)

        return [
            chart("over_time", lambda: TimeSeriesChart(
                self, title="Engagement over time, per post", y_label="Engagement"), 0, 0, 1, 3),
            curves(6), curves(12),  # its lines, made ahead, a few per step
            chart("by_platform", lambda: BarChart(self, title="By platform", y_label="Total"),
                  1, 0),
            chart("by_account", lambda: BarChart(self, title="By account", y_label="Total"),
                  1, 1),
            chart("heatmap", lambda: HeatmapChart(
                self, title="Best hours (your posts, local time)"), 2, 0),
            chart("followers", lambda: TimeSeriesChart(
                self, title="Followers per account", y_label="Followers"), 1, 2),
        ]

    def overview_steps(self, overview: Overview, account_labels: dict[str, str],
                       lines: PreparedSeries | None = None) -> list[Callable[[], None]]:
        """Drawing ``overview``, one chart per step: the caller runs a step per turn of the
        event loop, so each chart is painted before the next is filled. ``lines``: the
        per-post lines made ready off the GUI thread with :func:`prepare_lines`."""
        label = METRIC_LABELS[self.metric_choice.currentData()]
        totals = ("views", ENGAGEMENT)

        def over_time() -> None:
            self.over_time.set_title(f"{label} over time, per post")
            self.over_time.set_y_label(label)
            self.over_time.set_series(lines if lines is not None else prepare_lines(overview))

        def bars() -> None:
            self.by_platform.set_data(
                [platform_label(g.key) for g in overview.by_platform],
                {METRIC_LABELS[m]: [g.totals.get(m, math.nan) for g in overview.by_platform]
                 for m in totals})
            self.by_account.set_data(
                [account_labels.get(g.key, g.label) for g in overview.by_account],
                {METRIC_LABELS[m]: [g.totals.get(m, math.nan) for g in overview.by_account]
                 for m in totals})

        def followers() -> None:
            self.followers.set_series([
                Series(account_labels.get(s.key, s.label), s.times, s.values,
                       platform_color(s.provider)) for s in overview.followers])

        def heatmap_and_top() -> None:
            self.heatmap.set_grid(overview.heatmap.values,
                                  value_label="mean engagement")
            self._fill_top(overview)
            self.summary.setText(_summary(overview))

        return [over_time, bars, followers, heatmap_and_top]

    def _fill_top(self, overview: Overview) -> None:
        best = top_posts(overview.posts, TOP_POSTS)
        self.top.setRowCount(len(best))
        for row, post in enumerate(best):
            rate = post.engagement_rate
            cells = (post.title, platform_label(post.provider),
                     post.published_at.astimezone().strftime("%Y-%m-%d %H:%M"),
                     format_value(post.values.get("views")), format_value(post.engagement),
                     "—" if rate is None or math.isnan(rate) else f"{rate:.1%}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                item.setData(Qt.ItemDataRole.UserRole, post.url)
                self.top.setItem(row, col, item)

    def _open_post(self, item: QTableWidgetItem) -> None:
        url: Any = item.data(Qt.ItemDataRole.UserRole)
        if url:
            QDesktopServices.openUrl(QUrl(str(url)))


def prepare_lines(overview: Overview) -> PreparedSeries:
    """The per-post lines, checked and ranked (numpy only: run it in a worker thread)."""
    return prepare_series([Series(s.label, s.times, s.values, platform_color(s.provider))
                           for s in overview.series])


def _summary(overview: Overview) -> str:
    posts = len(overview.posts)
    tracked = sum(1 for p in overview.posts if p.values)
    gone = sum(1 for p in overview.posts if p.tracking == "deleted")
    blocked = sum(1 for p in overview.posts if p.tracking == "unavailable")
    parts = [f"{posts} published post{'s' * (posts != 1)}, {tracked} with figures",
             f"{overview.points:,} data points"]
    if gone:
        parts.append(f"{gone} removed from the platform (figures stopped)")
    if blocked:
        parts.append(f"{blocked} without insights permission (reconnect the account)")
    return " · ".join(parts)
