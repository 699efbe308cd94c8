"""The Hashtags & trends tab: how posts with each hashtag did, what is trending (where a
platform offers trends, and a plain sentence where it doesn't), and hashtag suggestions for a
post being written, each saying where it came from."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.platforms import platform_label
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.charts.bars import BarChart
from mbv_desktop.ui.widgets.charts.data import format_value

CHART_TAGS = 15
COLUMNS = ("Hashtag", "Posts", "Mean engagement", "Mean views", "Mean rate")


class HashtagsTab(QWidget):
    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self._services = services
        self._tasks = tasks
        self.chart = BarChart(self, title="Hashtags by mean engagement of their posts",
                              y_label="Mean engagement")
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setAccessibleName("Hashtag performance")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

        self.trend_platform = QComboBox(self)
        self.trend_platform.setAccessibleName("Trends from")
        for name in ("x", "instagram", "tiktok"):
            self.trend_platform.addItem(platform_label(name), name)
        self.trend_platform.currentIndexChanged.connect(lambda *_: self.load_trends())
        self.trend_refresh = QPushButton("Refresh trends", self)
        self.trend_refresh.clicked.connect(lambda: self.load_trends(refresh=True))
        self.trend_note = QLabel(self)
        self.trend_note.setWordWrap(True)
        self.trends = QListWidget(self)
        self.trends.setAccessibleName("Trending now")

        self.draft = QPlainTextEdit(self)
        self.draft.setPlaceholderText("Type or paste a post to get hashtag suggestions "
                                      "(the post open in Create is put here).")
        self.draft.setAccessibleName("Post for suggestions")
        self.draft.setMaximumHeight(90)
        self.suggest_button = QPushButton("S&uggest hashtags", self)
        self.suggest_button.clicked.connect(self.suggest)
        self.suggestions = QListWidget(self)
        self.suggestions.setAccessibleName("Suggested hashtags")
        self.suggest_note = QLabel(self)
        self.suggest_note.setWordWrap(True)

        trend_head = QHBoxLayout()
        trend_head.addWidget(QLabel("Trending on:", self))
        trend_head.addWidget(self.trend_platform)
        trend_head.addWidget(self.trend_refresh)
        trend_head.addStretch(1)
        right = QVBoxLayout()
        right.addLayout(trend_head)
        right.addWidget(self.trend_note)
        right.addWidget(self.trends, 1)
        right.addWidget(QLabel("Suggestions for a post:", self))
        right.addWidget(self.draft)
        right.addWidget(self.suggest_button)
        right.addWidget(self.suggestions, 1)
        right.addWidget(self.suggest_note)
        grid = QGridLayout(self)
        grid.addWidget(self.chart, 0, 0)
        grid.addWidget(self.table, 1, 0)
        grid.addLayout(right, 0, 1, 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        self._trends_loaded = False

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._trends_loaded:
            self.load_trends()

    def set_draft_text(self, text: str) -> None:
        if text.strip() and not self.draft.toPlainText().strip():
            self.draft.setPlainText(text)

    def show_table(self, rows: list[Any]) -> None:
        shown = rows[:CHART_TAGS]
        self.chart.set_data([r.label for r in shown],
                            {"Mean engagement": [r.mean_engagement or 0.0 for r in shown]})
        self.table.setRowCount(len(rows))
        for n, row in enumerate(rows):
            cells = (row.label, str(row.posts), format_value(row.mean_engagement),
                     format_value(row.totals.get("views", 0.0) / row.posts if row.posts
                                  else None),
                     "—" if row.mean_rate is None else f"{row.mean_rate:.1%}")
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(n, col, item)

    def load_trends(self, refresh: bool = False) -> None:
        self._trends_loaded = True
        platform = self.trend_platform.currentData()
        self.trend_note.setText("Reading trends…")
        self._tasks.run(self._services.trends.trends(platform, refresh=refresh),
                        label="Reading trends", latest_wins="analytics-trends", progress=False,
                        on_success=self._show_trends, on_error=self._trends_failed)

    def _show_trends(self, result: Any) -> None:
        self.trends.clear()
        if not result.available:
            self.trend_note.setText(result.explanation)
            return
        note = result.explanation
        if result.fetched_at is not None:
            note += f" Updated {result.fetched_at.astimezone():%H:%M}."
        if result.stale:
            note += f" Showing the last ones seen: {result.problem}"
        elif result.problem:
            note = result.problem
        self.trend_note.setText(note)
        for trend in result.items:
            volume = f"   {trend.volume:,} posts" if trend.volume else ""
            self.trends.addItem(QListWidgetItem(f"{trend.name}{volume}"))

    def _trends_failed(self, error: BaseException) -> bool:
        self.trend_note.setText(str(error))
        return True

    def suggest(self) -> None:
        self.suggest_note.setText("Looking at your best posts and today's trends…")
        self._tasks.run(self._services.trends.suggest(self.draft.toPlainText()),
                        label="Suggesting hashtags", latest_wins="analytics-suggest",
                        on_success=self._show_suggestions, on_error=self._suggest_failed)

    def _show_suggestions(self, result: Any) -> None:
        self.suggestions.clear()
        for item in result.items:
            self.suggestions.addItem(QListWidgetItem(f"#{item.tag} — {item.reason}"))
        how = ("by meaning (AI embeddings)" if result.by_meaning
               else "by shared words (no AI provider answered)")
        self.suggest_note.setText(
            f"{len(result.items)} suggestions, matched {how}." if result.items else
            "No suggestions yet: publish a few posts with hashtags, or connect X for trends.")

    def _suggest_failed(self, error: BaseException) -> bool:
        self.suggest_note.setText(str(error))
        return True
