"""The AI spend tab: what writing and illustrating with AI cost, per day and provider, and this
month's spend against the monthly budget (``ai.monthly_budget_usd``), with a projection."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
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

DAYS = 30
COLUMNS = ("Provider", "Model", "Runs", "Cost (USD)", "Tokens in", "Tokens out", "Images")


def _epoch(day: Any) -> float:
    return datetime.combine(day, time(12), UTC).timestamp()


class SpendTab(QWidget):
    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self._services = services
        self._tasks = tasks
        self.summary = QLabel(self)
        self.summary.setWordWrap(True)
        self.by_day = BarChart(self, title=f"AI spend per day, last {DAYS} days (USD)",
                               y_label="USD")
        self.month = TimeSeriesChart(self, title="This month's spend against the budget",
                                     y_label="USD")
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("AI spend by model")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.by_day, 3)
        layout.addWidget(self.month, 3)
        layout.addWidget(self.table, 2)

    def load(self) -> None:
        async def read() -> tuple[list[Any], Any]:
            now = datetime.now(UTC)
            today = now.date()
            rows = await self._services.ai_spend.by_day(today - timedelta(days=DAYS - 1), today)
            return rows, await self._services.ai_spend.month_status(now)

        self._tasks.run(read(), label="Reading AI spend", latest_wins="analytics-spend",
                        progress=False, on_success=self.show_spend)

    def show_spend(self, loaded: tuple[list[Any], Any]) -> None:
        rows, month = loaded
        days = sorted({r.day for r in rows})
        providers = sorted({r.provider for r in rows})
        per: dict[tuple[Any, str], float] = defaultdict(float)
        for r in rows:
            per[(r.day, r.provider)] += r.cost_usd
        self.by_day.set_data([d.isoformat()[5:] for d in days],
                             {p: [per[(d, p)] for d in days] for p in providers})
        series = []
        if month.cumulative:
            xs = np.array([_epoch(d) for d, _ in month.cumulative], dtype=np.float64)
            series.append(Series("Spent", xs, np.array([v for _, v in month.cumulative],
                                                       dtype=np.float64)))
            if month.has_budget:
                ends = np.array([_epoch(month.month_start), _epoch(month.month_end)])
                series.append(Series("Budget", ends, np.full(2, month.budget_usd)))
                series.append(Series("Projection", np.array([xs[-1], ends[-1]]),
                                     np.array([month.spent_usd, month.projected_usd])))
        self.month.set_series(series)
        text = (f"This month: ${month.spent_usd:,.2f} over {month.runs} "
                f"run{'s' * (month.runs != 1)}")
        if month.has_budget:
            text += (f" — {month.share_used:.0%} of the ${month.budget_usd:,.2f} budget; "
                     f"on this pace ${month.projected_usd:,.2f} by {month.month_end:%d %b}")
            if month.over_budget:
                text += ". The budget is used up: AI generation is paused until next month."
            elif month.projected_over_budget:
                text += ", over the budget"
        else:
            text += " (no monthly budget set: Settings → ai.monthly_budget_usd)"
        if month.unpriced_runs:
            text += f". {month.unpriced_runs} runs had no known price and count as $0"
        self.summary.setText(text + ".")
        totals: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0, 0, 0])
        for r in rows:
            t = totals[(r.provider, r.model)]
            t[0] += r.runs
            t[1] += r.cost_usd
            t[2] += r.tokens_in
            t[3] += r.tokens_out
            t[4] += r.images
        self.table.setRowCount(len(totals))
        for n, ((provider, model), t) in enumerate(sorted(totals.items(),
                                                          key=lambda kv: -kv[1][1])):
            cells = (provider, model, f"{t[0]:,.0f}", f"{t[1]:,.4f}", f"{t[2]:,.0f}",
                     f"{t[3]:,.0f}", f"{t[4]:,.0f}")
            for col, text_ in enumerate(cells):
                item = QTableWidgetItem(text_)
                if col >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(n, col, item)
