"""The week: seven days × 24 hours in this machine's time zone, today's column tinted, every
account's weekly time slots as faint marks. A post dropped on another hour keeps its minute."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QHeaderView, QWidget

from mbv_desktop.core.errors import MbvError
from mbv_desktop.core.scheduling import plan_instant
from mbv_desktop.ui.widgets.calendar_entries import SHORT, Entry, to_local
from mbv_desktop.ui.widgets.calendar_grid import CalendarGrid, Cell

FIRST_HOUR = 7
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
ARROWS = {Qt.Key.Key_Up: timedelta(hours=-1), Qt.Key.Key_Down: timedelta(hours=1),
          Qt.Key.Key_Left: timedelta(days=-1), Qt.Key.Key_Right: timedelta(days=1)}


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


class WeekView(CalendarGrid):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(24, 7, parent)
        self.setAccessibleName("Week")
        self.start = monday_of(date.today())
        self.slots: list[Any] = []
        self._scrolled = False
        self.slot_label: Callable[[Any], str] = lambda s: SHORT.get(s.provider, s.provider)
        self.setVerticalHeaderLabels([f"{h:02d}:00" for h in range(24)])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(2 * (self.fontMetrics().height() + 6) + 4)
        self._label_days()

    def _label_days(self) -> None:
        today = date.today()
        self.setHorizontalHeaderLabels(
            [f"{DAYS[n]} {self.start + timedelta(days=n):%d %b}" for n in range(7)])
        for n in range(7):
            item = self.horizontalHeaderItem(n)
            if item is not None:
                is_today = self.start + timedelta(days=n) == today
                font = item.font()
                font.setBold(is_today)
                item.setFont(font)
                item.setToolTip("Today" if is_today else "")
                if is_today:
                    item.setText("● " + item.text())

    def cell_start(self, row: int, column: int) -> datetime:
        return datetime.combine(self.start + timedelta(days=column), time(row))

    def cell_of(self, when: datetime) -> Cell | None:
        column = (when.date() - self.start).days
        return (when.hour, column) if 0 <= column < 7 else None

    def drop_time(self, entry: Entry, row: int, column: int) -> datetime:
        return self.cell_start(row, column).replace(minute=entry.when.minute)

    def step_for(self, key: int) -> timedelta | None:
        return ARROWS.get(key)  # type: ignore[call-overload]

    def shift(self, step: int) -> None:
        self.start += timedelta(days=7 * step)
        self._label_days()

    def go_today(self) -> None:
        self.start = monday_of(date.today())
        self._label_days()

    def reveal(self, when: datetime) -> None:
        self.start = monday_of(when.date())
        self._label_days()

    def title(self) -> str:
        end = self.start + timedelta(days=6)
        if end.year != self.start.year:
            return f"{self.start:%d %b %Y} – {end:%d %b %Y}"
        if end.month != self.start.month:
            return f"{self.start:%d %b} – {end:%d %b %Y}"
        return f"{self.start:%d} – {end:%d %B %Y}"

    def set_slots(self, slots: Iterable[Any], label: Callable[[Any], str]) -> None:
        """Weekly slots (``TimeSlot``); ``label`` names a slot's account."""
        self.slots = list(slots)
        self.slot_label = label
        self.place()

    def update_marks(self) -> None:
        """A slot is a wall-clock time in its own zone: each day of the week shown is
        planned there (DST-correct) and then placed at this machine's local time."""
        self.marks = {}
        for slot in self.slots:
            for offset in range(-1, 8):
                day = self.start + timedelta(days=offset)
                if day.weekday() != slot.weekday:
                    continue
                try:
                    planned = plan_instant(datetime.combine(day, slot.at), slot.time_zone)
                except MbvError:  # a zone this computer doesn't know: nothing to mark
                    continue
                local = to_local(planned.instant)
                cell = self.cell_of(local)
                if cell is not None:
                    self.marks.setdefault(cell, []).append(
                        (f"slot {self.slot_label(slot)}",
                         f"Time slot {local:%H:%M}: {self.slot_label(slot)}"))

    def scroll_to_hour(self, hour: int) -> None:
        self.scrollTo(self.model().index(hour, 0), self.ScrollHint.PositionAtTop)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._scrolled:  # the working day, not midnight, when first seen
            self._scrolled = True
            self.scroll_to_hour(FIRST_HOUR)
