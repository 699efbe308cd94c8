"""The Integration health tab: for every provider the app has called, latency (p50/p95/p99),
error rate, rate-limit use, availability, circuit-breaker state and the last error; p95
latency over this session; and the daily history kept in the database.

The figures come from the integration layer's metrics (sampled every few seconds by the app);
while the tab is visible it redraws every :data:`REDRAW_MS`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.charts.bars import BarChart
from mbv_desktop.ui.widgets.charts.data import Series
from mbv_desktop.ui.widgets.charts.timeseries import TimeSeriesChart

REDRAW_MS = 5_000
HISTORY_DAYS = 14
COLUMNS = ("Provider", "Calls", "Error rate", "p50 ms", "p95 ms", "p99 ms", "Rate-limit use",
           "Availability", "Breaker", "Last error")
PROBLEM = QColor("#b3261e")


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


class HealthTab(QWidget):
    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self._services = services
        self._tasks = tasks
        self.note = QLabel("Every provider the app has called in this session. Figures are "
                           "kept per day; the breaker opens after repeated failures and "
                           "stops calls for a while.", self)
        self.note.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Integration health")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(len(COLUMNS) - 1,
                                                           QHeaderView.ResizeMode.Stretch)
        self.latency = TimeSeriesChart(self, title="p95 latency this session (ms)",
                                       y_label="ms")
        self.daily = BarChart(self, title=f"Calls and errors per day, last {HISTORY_DAYS} days",
                              y_label="Calls")
        for chart in (self.latency, self.daily):
            chart.set_empty_text("No provider has been called yet.")
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 2)
        layout.addWidget(self.latency, 2)
        layout.addWidget(self.daily, 2)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.load)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._timer.start(REDRAW_MS)

    def hideEvent(self, event: Any) -> None:
        super().hideEvent(event)
        self._timer.stop()

    def load(self) -> None:
        history = self._services.health_history
        rows = history.current()
        self._fill(rows)
        series = []
        for row in rows:
            samples = [s for s in history.session(row.provider) if s.p95_ms is not None]
            if samples:
                series.append(Series(row.name,
                                     np.array([s.at.timestamp() for s in samples]),
                                     np.array([s.p95_ms for s in samples], dtype=np.float64)))
        self.latency.set_series(series)
        today = datetime.now(UTC).date()

        async def days() -> list[Any]:
            await history.persist()  # this session's figures so far count in today's bar
            return await history.days(today - timedelta(days=HISTORY_DAYS - 1), today)

        self._tasks.run(days(), label="Reading integration history",
                        latest_wins="analytics-health", progress=False,
                        on_success=self._show_days)

    def _fill(self, rows: list[Any]) -> None:
        self.table.setRowCount(len(rows))
        for n, row in enumerate(rows):
            cells = (row.name, f"{row.calls:,}", _share(row.error_rate), _ms(row.p50_ms),
                     _ms(row.p95_ms), _ms(row.p99_ms), _share(row.rate_limit_use),
                     _share(row.availability), row.breaker, row.last_error or "")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if 1 <= col <= 7:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if (col == 8 and row.breaker != "closed") or (col == 2 and row.error_rate > 0.1):
                    item.setForeground(PROBLEM)
                if col == 9 and row.last_error_at is not None:
                    item.setToolTip(f"{row.last_error_at.astimezone():%Y-%m-%d %H:%M:%S}")
                self.table.setItem(n, col, item)

    def _show_days(self, days: list[Any]) -> None:
        dates = sorted({d.day for d in days})
        totals: dict[str, dict[Any, float]] = {"Calls": {}, "Errors": {}, "Unavailable": {}}
        for d in days:
            for name, value in (("Calls", d.calls), ("Errors", d.errors),
                                ("Unavailable", d.unavailable)):
                totals[name][d.day] = totals[name].get(d.day, 0.0) + value
        self.daily.set_data([d.isoformat()[5:] for d in dates],
                            {name: [by_day.get(d, 0.0) for d in dates]
                             for name, by_day in totals.items()})
