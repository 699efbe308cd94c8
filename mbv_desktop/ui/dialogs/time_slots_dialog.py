"""Time slots: the weekly times each account posts at (a weekday and a time in a zone), added
and removed here; "next free slot" fills them in order, skipping the ones already taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt, QTime
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTimeEdit,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.platforms import platform_label
from mbv_desktop.core.scheduling import local_zone_name
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.calendar_entries import account_key, parse_account_key

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
                "America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney")
SlotRole = Qt.ItemDataRole.UserRole


class TimeSlotsDialog(QDialog):
    def __init__(self, services: Services, tasks: TaskRunner, *,
                 account: tuple[str, str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Time slots")
        self._services = services
        self._tasks = tasks
        self._wanted = account

        intro = QLabel("The times each account posts at, every week. “Next free slot” and "
                       "“Schedule into next free slots” use them in order and skip the ones "
                       "that already have a post.", self)
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        self.account = QComboBox(self)
        self.account.setAccessibleName("Account")
        self.slots = QListWidget(self)
        self.slots.setAccessibleName("Time slots of this account")
        self.weekday = QComboBox(self)
        self.weekday.addItems(list(WEEKDAYS))
        self.time = QTimeEdit(QTime(9, 0), self)
        self.time.setDisplayFormat("HH:mm")
        self.zone = QComboBox(self)
        self.zone.setEditable(True)
        here = local_zone_name()
        self.zone.addItems(list(dict.fromkeys((here, *COMMON_ZONES))))
        self.zone.setCurrentText(here)
        self.add_button = QPushButton("&Add slot", self)
        self.remove_button = QPushButton("&Remove slot", self)
        self.next_free = QLabel(self)
        self.next_free.setObjectName("muted")
        self.problems = QLabel(self)
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        new_slot = QHBoxLayout()
        for widget in (self.weekday, self.time, self.zone, self.add_button):
            new_slot.addWidget(widget)
        form = QFormLayout()
        form.addRow("A&ccount", self.account)
        new_label = QLabel("&New slot", self)
        new_label.setBuddy(self.weekday)
        form.addRow(new_label, new_slot)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.slots, 1)
        row = QHBoxLayout()
        row.addWidget(self.next_free, 1)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        layout.addWidget(self.problems)
        layout.addWidget(buttons)
        self.resize(520, 380)

        self.account.currentIndexChanged.connect(lambda _i: self._load())
        self.add_button.clicked.connect(self.add_slot)
        self.remove_button.clicked.connect(self.remove_slot)
        self.slots.currentItemChanged.connect(lambda *_: self._enable())
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.slots, self.remove_slot,
                  context=Qt.ShortcutContext.WidgetShortcut)
        self._enable()
        self._tasks.run(services.accounts.accounts(), label="Loading accounts", progress=False,
                        on_success=self._show_accounts)

    def _show_accounts(self, accounts: list[Any]) -> None:
        publishing = [a for a in accounts if a.role == "publish"]
        self.account.blockSignals(True)
        for a in publishing:
            self.account.addItem(f"{platform_label(a.provider)}  {a.label}",
                                 account_key(a.provider, a.account_id))
        if self._wanted is not None:
            index = self.account.findData(account_key(*self._wanted))
            if index >= 0:
                self.account.setCurrentIndex(index)
        self.account.blockSignals(False)
        if not publishing:
            self.problems.setText("Connect an X, Instagram or TikTok account first (Accounts).")
        self._load()

    def current_account(self) -> tuple[str, str] | None:
        return parse_account_key(self.account.currentData())

    def _enable(self) -> None:
        has_account = self.current_account() is not None
        self.add_button.setEnabled(has_account)
        self.remove_button.setEnabled(has_account and self.slots.currentItem() is not None)

    def _load(self) -> None:
        account = self.current_account()
        self._enable()
        if account is None:
            self.slots.clear()
            self.next_free.clear()
            return

        async def load() -> tuple[list[Any], Any]:
            slots = self._services.time_slots
            return await slots.slots(*account), await slots.next_free(*account)

        self._tasks.run(load(), label="Loading time slots", progress=False,
                        latest_wins="time-slots-dialog", on_success=self._show)

    def _show(self, loaded: tuple[list[Any], Any]) -> None:
        slots, free = loaded
        current = self.slots.currentItem()
        keep = current.data(SlotRole) if current is not None else None
        self.slots.clear()
        for slot in slots:
            item = QListWidgetItem(slot.describe(), self.slots)
            item.setData(SlotRole, slot.id)
            if slot.id == keep:
                self.slots.setCurrentItem(item)
        if not slots:
            self.next_free.setText("No slots yet: add the times this account posts at.")
        elif free is None:
            self.next_free.setText("Every slot of the next weeks already has a post.")
        else:
            self.next_free.setText(f"Next free slot: {describe_planned(free)}")
        self._enable()

    def add_slot(self) -> None:
        account = self.current_account()
        if account is None:
            return
        at = self.time.time()
        self.problems.clear()
        self._tasks.run(self._services.time_slots.add(
            account[0], account[1], self.weekday.currentIndex(),
            f"{at.hour():02d}:{at.minute():02d}", self.zone.currentText().strip()),
            label="Adding a time slot", on_success=lambda _s: self._load(),
            on_error=self._failed)

    def remove_slot(self) -> None:
        item = self.slots.currentItem()
        if item is None:
            return
        self.problems.clear()
        self._tasks.run(self._services.time_slots.remove(int(item.data(SlotRole))),
                        label="Removing a time slot", on_success=lambda _r: self._load(),
                        on_error=self._failed)

    def _failed(self, error: BaseException) -> bool:
        from mbv_desktop.core.errors import MbvError

        if isinstance(error, MbvError):
            self.problems.setText(str(error))
            return True
        return False


def describe_planned(planned: Any) -> str:
    when: datetime = planned.local
    return f"{when:%a %d %b %H:%M} ({planned.zone})"
