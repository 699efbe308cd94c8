"""The Schedule panel: every scheduled post per account, as a queue or a week, with its state.

Queue: one row per post and account, newest time first, with the state (pending, sending,
published with its link, failed or needing attention with the reason), and the history of each
row's states underneath when selected. Week: the same posts placed on a 7-day × 24-hour grid in
the local time zone; double-click an empty hour to schedule the draft open in Create there.
Actions: Cancel (before anything was sent), Retry (a failed one), Open link, Publish due now.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner

NAMES = {"x": "X", "instagram": "Instagram", "tiktok": "TikTok"}
STATE_TEXT = {"pending": "Scheduled", "in_flight": "Sending", "published": "Published",
              "failed": "Failed", "needs_attention": "Needs attention",
              "cancelled": "Cancelled"}
STATE_COLOUR = {"failed": "#b3261e", "needs_attention": "#b3261e", "published": "#1e7b34",
                "in_flight": "#8a5a00"}
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _local(value: datetime) -> datetime:
    return value.astimezone().replace(tzinfo=None)


class SchedulePanel(QWidget):
    schedule_requested = Signal(object)  # a local datetime: schedule the open draft there

    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("schedulePanel")
        self._services = services
        self._tasks = tasks
        self._built = False
        self._loaded = False
        self.rows: list[Any] = []

    def build_deferred(self) -> None:
        """Built after the window's first frame."""
        if self._built:
            return
        self._built = True
        self.queue = QTreeWidget(self)
        self.queue.setAccessibleName("Scheduled posts")
        self.queue.setHeaderLabels(["When", "Account", "Type", "State", "Link or reason"])
        self.queue.setRootIsDecorated(False)
        self.queue.setColumnWidth(0, 150)
        self.queue.setColumnWidth(3, 120)
        self.queue.itemSelectionChanged.connect(self._selected_changed)
        self.queue.itemDoubleClicked.connect(lambda *_: self._open_link())
        self.history = QPlainTextEdit(self)
        self.history.setReadOnly(True)
        self.history.setPlaceholderText("Select a post to see what happened to it.")
        self.history.setMaximumHeight(140)
        queue_page = QSplitter(Qt.Orientation.Vertical, self)
        queue_page.addWidget(self.queue)
        queue_page.addWidget(self.history)

        self.week = QTableWidget(24, 7, self)
        self.week.setAccessibleName("Week")
        self.week.setVerticalHeaderLabels([f"{h:02d}:00" for h in range(24)])
        self.week.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.week.cellDoubleClicked.connect(self._week_double_clicked)
        self.week_start = date.today() - timedelta(days=date.today().weekday())
        self.prev_week = QPushButton("◀", self)
        self.next_week = QPushButton("▶", self)
        self.week_label = QLabel(self)
        self.prev_week.clicked.connect(functools.partial(self._shift_week, -7))
        self.next_week.clicked.connect(functools.partial(self._shift_week, 7))
        week_bar = QHBoxLayout()
        for w in (self.prev_week, self.week_label, self.next_week):
            week_bar.addWidget(w)
        week_bar.addStretch(1)
        week_page = QWidget(self)
        week_layout = QVBoxLayout(week_page)
        week_layout.setContentsMargins(0, 0, 0, 0)
        week_layout.addLayout(week_bar)
        week_layout.addWidget(self.week)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(queue_page, "Queue")
        self.tabs.addTab(week_page, "Week")
        self.cancel_button = QPushButton("Cancel post", self)
        self.retry_button = QPushButton("Retry", self)
        self.open_button = QPushButton("Open link", self)
        self.publish_button = QPushButton("Publish due now", self)
        self.cancel_button.clicked.connect(self._cancel)
        self.retry_button.clicked.connect(self._retry)
        self.open_button.clicked.connect(self._open_link)
        self.publish_button.clicked.connect(self.publish_now)
        self.status = QLabel(self)
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        actions = QHBoxLayout()
        for button in (self.cancel_button, self.retry_button, self.open_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.publish_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        self._selected_changed()
        self._services.scheduling.events.subscribe(lambda _e: self.refresh())

    def showEvent(self, event: QShowEvent) -> None:
        self.build_deferred()
        super().showEvent(event)
        if not self._loaded:
            self._loaded = True
            self.refresh()

    def refresh(self) -> None:
        if not self._built:
            return
        self._tasks.run(self._services.scheduling.targets(), label="Loading the schedule",
                        latest_wins="schedule", progress=False, on_success=self._show)

    # -- showing --

    def _show(self, rows: list[Any]) -> None:
        selected = self._current()
        self.rows = rows
        self.queue.clear()
        for row in rows:
            when = _local(row.scheduled_at)
            detail = row.url or row.last_error or ""
            if row.late and row.state == "published":
                detail = f"(late) {detail}"
            item = QTreeWidgetItem([f"{when:%a %d %b %H:%M}",
                                    f"{NAMES.get(row.provider, row.provider)} {row.account_id}",
                                    row.post_type, STATE_TEXT.get(row.state, row.state),
                                    detail])
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
            item.setToolTip(4, detail)
            colour = STATE_COLOUR.get(row.state)
            if colour:
                item.setForeground(3, QColor(colour))
            self.queue.addTopLevelItem(item)
            if selected is not None and row.id == selected.id:
                self.queue.setCurrentItem(item)
        self._fill_week()
        self._selected_changed()

    def _fill_week(self) -> None:
        self.week.clearContents()
        days = [self.week_start + timedelta(days=n) for n in range(7)]
        self.week.setHorizontalHeaderLabels([f"{DAYS[d.weekday()]} {d:%d %b}" for d in days])
        self.week_label.setText(f"Week of {self.week_start:%d %B %Y}")
        cells: dict[tuple[int, int], list[Any]] = {}
        for row in self.rows:
            when = _local(row.scheduled_at)
            column = (when.date() - self.week_start).days
            if 0 <= column < 7 and row.state != "cancelled":
                cells.setdefault((when.hour, column), []).append(row)
        for (hour, column), rows in cells.items():
            text = "\n".join(f"{_local(r.scheduled_at):%H:%M} {NAMES.get(r.provider)} · "
                             f"{STATE_TEXT.get(r.state)}" for r in rows)
            item = QTableWidgetItem(text)
            item.setToolTip("\n".join(r.body[:80] for r in rows))
            if any(r.state in ("failed", "needs_attention") for r in rows):
                item.setForeground(QColor(STATE_COLOUR["failed"]))
            self.week.setItem(hour, column, item)

    def _shift_week(self, days: int) -> None:
        self.week_start += timedelta(days=days)
        self._fill_week()

    def _week_double_clicked(self, hour: int, column: int) -> None:
        if self.week.item(hour, column) is None:
            day = self.week_start + timedelta(days=column)
            self.schedule_requested.emit(datetime(day.year, day.month, day.day, hour))

    # -- the selected row --

    def _current(self) -> Any:
        item = self.queue.currentItem() if self._built else None
        if item is None:
            return None
        target_id = item.data(0, Qt.ItemDataRole.UserRole)
        return next((r for r in self.rows if r.id == target_id), None)

    def _selected_changed(self) -> None:
        row = self._current()
        self.cancel_button.setEnabled(row is not None and row.state == "pending"
                                      and not row.progress)
        self.retry_button.setEnabled(row is not None and row.state in ("failed",
                                                                       "needs_attention"))
        self.open_button.setEnabled(row is not None and bool(row.url))
        if row is None:
            self.history.clear()
            return
        self._tasks.run(self._services.scheduling.history(row.id), label="Loading history",
                        progress=False, latest_wins="schedule-history",
                        on_success=self._show_history)

    def _show_history(self, events: list[Any]) -> None:
        self.history.setPlainText("\n".join(
            f"{_local(e.at):%Y-%m-%d %H:%M:%S}  {STATE_TEXT.get(e.to_state, e.to_state)}: "
            f"{e.reason}" for e in events))

    def _cancel(self) -> None:
        row = self._current()
        if row is not None:
            self._tasks.run(self._services.scheduling.cancel(row.id), label="Cancelling")

    def _retry(self) -> None:
        row = self._current()
        if row is not None:
            self._tasks.run(self._services.scheduling.retry(row.id), label="Retrying",
                            on_success=lambda _r: self.publish_now())

    def _open_link(self) -> None:
        row = self._current()
        if row is not None and row.url:
            QDesktopServices.openUrl(QUrl(row.url))

    def publish_now(self) -> None:
        self.status.setText("Publishing what is due…")
        self._tasks.run(self._services.publishing.publish_due(), label="Publishing",
                        on_success=self._published)

    def _published(self, report: Any) -> None:
        self.status.setText(f"Published {report.published}, failed {report.failed}, waiting "
                            f"{report.delayed}, need attention {report.needs_attention}.")
        self.refresh()
