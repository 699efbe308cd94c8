"""The Analytics panel's filter bar: period, platform, account and hashtag.

Changes are gathered for a moment (typing a tag, stepping through dates) and then announced
once as an :class:`~mbv_desktop.services.analytics_queries.AnalyticsFilter`.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QDate, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QCompleter,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QWidget,
)

from mbv_desktop.core.analytics import AnalyticsFilter
from mbv_desktop.core.platforms import platform_label
from mbv_desktop.core.scheduling import local_zone_name

#: (label, days back; 0 = all time, -1 = custom dates)
PERIODS: tuple[tuple[str, int], ...] = (
    ("Last 7 days", 7), ("Last 30 days", 30), ("Last 90 days", 90), ("Last year", 365),
    ("All time", 0), ("Custom dates", -1))
PLATFORMS = ("x", "instagram", "tiktok")
DEBOUNCE_MS = 250


class AnalyticsFilterBar(QWidget):
    changed = Signal(object)  # AnalyticsFilter

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.zone = local_zone_name()
        self.period = QComboBox(self)
        self.period.setAccessibleName("Period")
        for label, days in PERIODS:
            self.period.addItem(label, days)
        self.period.setCurrentIndex(4)  # all time: a newcomer's few posts are all there
        today = QDate.currentDate()
        self.first = QDateEdit(today.addDays(-30), self)
        self.last = QDateEdit(today, self)
        for edit, name in ((self.first, "From"), (self.last, "To")):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setAccessibleName(name)
            edit.setVisible(False)
        self.platform = QComboBox(self)
        self.platform.setAccessibleName("Platform")
        self.platform.addItem("All platforms", "")
        for name in PLATFORMS:
            self.platform.addItem(platform_label(name), name)
        self.account = QComboBox(self)
        self.account.setAccessibleName("Account")
        self.account.addItem("All accounts", None)
        self.tag = QLineEdit(self)
        self.tag.setPlaceholderText("#hashtag")
        self.tag.setAccessibleName("Hashtag")
        self.tag.setClearButtonEnabled(True)
        self.tag.setMaximumWidth(180)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        rows: tuple[tuple[str, QWidget], ...] = (
            ("Period", self.period), ("", self.first), ("", self.last),
            ("Platform", self.platform), ("Account", self.account), ("Tag", self.tag))
        for label, widget in rows:
            if label:
                caption = QLabel(f"&{label}:" if label != "Tag" else "Ta&g:", self)
                caption.setBuddy(widget)
                layout.addWidget(caption)
            layout.addWidget(widget)
        layout.addStretch(1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(lambda: self.changed.emit(self.current()))
        self.period.currentIndexChanged.connect(self._period_changed)
        for signal in (self.first.dateChanged, self.last.dateChanged,
                       self.platform.currentIndexChanged, self.account.currentIndexChanged,
                       self.tag.textChanged):
            signal.connect(lambda *_: self._timer.start())

    def _period_changed(self) -> None:
        custom = self.period.currentData() == -1
        self.first.setVisible(custom)
        self.last.setVisible(custom)
        self._timer.start()

    def set_accounts(self, accounts: list[Any]) -> None:
        """The connected publishing accounts, for the account filter."""
        chosen = self.account.currentData()
        self.account.blockSignals(True)
        self.account.clear()
        self.account.addItem("All accounts", None)
        for account in accounts:
            if account.role == "publish":
                self.account.addItem(f"{platform_label(account.provider)} {account.label}",
                                     (account.provider, account.account_id))
        index = self.account.findData(chosen)
        self.account.setCurrentIndex(max(0, index))
        self.account.blockSignals(False)

    def set_hashtags(self, tags: list[str]) -> None:
        completer = QCompleter([f"#{t}" for t in tags], self.tag)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.tag.setCompleter(completer)

    def days(self) -> tuple[date | None, date | None]:
        back = self.period.currentData()
        today = date.today()
        if back == -1:
            return self.first.date().toPython(), self.last.date().toPython()  # type: ignore[return-value]
        if back == 0:
            return None, None
        return today - timedelta(days=back - 1), today

    def current(self) -> AnalyticsFilter:
        first, last = self.days()
        platform = self.platform.currentData()
        account = self.account.currentData()
        return AnalyticsFilter(
            platforms=(platform,) if platform else (),
            accounts=(tuple(account),) if account else (),
            tag=self.tag.text().strip().lstrip("#").lower(),
        ).with_days(first, last, self.zone)
