"""The month: six weeks of day cells (Monday first) around the month shown, days of the
neighbouring months dimmed, today's number circled. A post dropped on another day keeps its
time of day; a draft dropped on a day is offered for 09:00 (or the next hour, today)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QWidget

from mbv_desktop.ui.widgets.calendar_entries import Entry
from mbv_desktop.ui.widgets.calendar_grid import CalendarGrid, Cell

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ARROWS = {Qt.Key.Key_Up: timedelta(days=-7), Qt.Key.Key_Down: timedelta(days=7),
          Qt.Key.Key_Left: timedelta(days=-1), Qt.Key.Key_Right: timedelta(days=1)}
DRAFT_HOUR = 9


def first_of(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


class MonthView(CalendarGrid):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(6, 7, parent)
        self.setAccessibleName("Month")
        self.month = first_of(date.today())
        self.setHorizontalHeaderLabels(list(DAYS))
        self.verticalHeader().hide()
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setMinimumSectionSize(3 * (self.fontMetrics().height() + 6))

    @property
    def first_day(self) -> date:
        return self.month - timedelta(days=self.month.weekday())

    def day(self, row: int, column: int) -> date:
        return self.first_day + timedelta(days=row * 7 + column)

    def cell_start(self, row: int, column: int) -> datetime:
        return datetime.combine(self.day(row, column), time())

    def cell_of(self, when: datetime) -> Cell | None:
        offset = (when.date() - self.first_day).days
        return divmod(offset, 7) if 0 <= offset < 42 else None

    def drop_time(self, entry: Entry, row: int, column: int) -> datetime:
        return datetime.combine(self.day(row, column), entry.when.time())

    def draft_time(self, row: int, column: int) -> datetime:
        at = datetime.combine(self.day(row, column), time(DRAFT_HOUR))
        now = datetime.now()
        if at.date() == now.date() and at <= now:
            at = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return at

    def step_for(self, key: int) -> timedelta | None:
        return ARROWS.get(key)  # type: ignore[call-overload]

    def shift(self, step: int) -> None:
        self.month = add_months(self.month, step)

    def go_today(self) -> None:
        self.month = first_of(date.today())

    def reveal(self, when: datetime) -> None:
        self.month = first_of(when.date())

    def title(self) -> str:
        return f"{self.month:%B %Y}"

    def caption(self, row: int, column: int) -> str:
        day = self.day(row, column)
        return f"{day:%d %b}".lstrip("0") if day.day == 1 else str(day.day)

    def is_dimmed(self, row: int, column: int) -> bool:
        return self.day(row, column).month != self.month.month
