"""Schedule a draft: which connected accounts, when (in which time zone), and every problem that
would stop it, checked live before the Schedule button can be pressed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QDate, QDateTime, QTime
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.platforms import platform_label
from mbv_desktop.core.scheduling import best_times, local_zone_name, plan_instant
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner

COMMON_ZONES = ("UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York",
                "America/Chicago", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ScheduleDialog(QDialog):
    def __init__(self, services: Services, tasks: TaskRunner, draft_id: int, *,
                 at: datetime | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Schedule post")
        self._services = services
        self._tasks = tasks
        self.draft_id = draft_id
        self.scheduled: Any = None
        self.account_boxes: dict[str, QCheckBox] = {}

        self.accounts_area = QVBoxLayout()
        self.accounts_hint = QLabel("Loading your accounts…", self)
        self.accounts_area.addWidget(self.accounts_hint)
        self.zone = QComboBox(self)
        self.zone.setEditable(True)
        here = local_zone_name()
        self.zone.addItems(list(dict.fromkeys((here, *COMMON_ZONES))))
        self.zone.setCurrentText(here)
        self.when = QDateTimeEdit(self)
        self.when.setCalendarPopup(True)
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        start = at or (datetime.now() + timedelta(hours=1)).replace(minute=0, second=0,
                                                                     microsecond=0)
        self.when.setDateTime(QDateTime(QDate(start.year, start.month, start.day),
                                        QTime(start.hour, start.minute)))
        self.next_free_button = QPushButton("Next &free slot", self)
        self.next_free_button.setToolTip("The chosen accounts' next time slot with no post yet")
        self.next_free_button.clicked.connect(self._next_free)
        self.story = QCheckBox("Instagram: post as a story", self)
        self.problems = QLabel(self)
        self.problems.setWordWrap(True)
        self.problems.setObjectName("problems")
        self.hint = QLabel(self)
        self.hint.setObjectName("muted")
        self.hint.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.schedule_button = self.buttons.addButton(
            "Schedule", QDialogButtonBox.ButtonRole.AcceptRole)
        self.schedule_button.setEnabled(False)
        self.buttons.rejected.connect(self.reject)
        self.schedule_button.clicked.connect(self._schedule)

        form = QFormLayout()
        form.addRow("Post to", self.accounts_area)
        when_row = QHBoxLayout()
        when_row.addWidget(self.when, 1)
        when_row.addWidget(self.next_free_button)
        form.addRow("When", when_row)
        form.addRow("Time zone", self.zone)
        form.addRow("", self.story)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.hint)
        layout.addWidget(self.problems)
        layout.addWidget(self.buttons)
        for signal in (self.when.dateTimeChanged, self.zone.currentTextChanged,
                       self.story.toggled):
            signal.connect(lambda *_: self._recheck())
        self._tasks.run(services.accounts.accounts(), label="Loading accounts", progress=False,
                        on_success=self._show_accounts)

    def _show_accounts(self, accounts: list[Any]) -> None:
        publishing = [a for a in accounts if a.role == "publish"]
        self.accounts_hint.setText("" if publishing else
                                   "Connect an X, Instagram or TikTok account first (Accounts).")
        self.accounts_hint.setVisible(not publishing)
        for account in publishing:
            box = QCheckBox(f"{platform_label(account.provider)}  {account.label}", self)
            box.setProperty("account_id", account.account_id)
            box.setProperty("provider", account.provider)
            box.toggled.connect(lambda *_: self._recheck())
            self.account_boxes[account.account_id] = box
            self.accounts_area.addWidget(box)
        platforms = sorted({a.provider for a in publishing})
        if platforms:
            self._show_best_times({p: best_times(p) for p in platforms})
            # then from the creator's own figures, where there are enough of them
            self._tasks.run(self._services.analytics_queries.best_times(
                platforms, self.zone.currentText().strip() or "UTC"),
                label="Reading your best posting times", progress=False,
                on_success=self._show_best_times)

    def _show_best_times(self, by_platform: dict[str, list[Any]]) -> None:
        tips = []
        for platform, hints in by_platform.items():
            if hints:
                tips.append(f"{platform_label(platform)}: " + ", ".join(
                    f"{DAYS[b.weekday]} {b.hour:02d}:00" for b in hints)
                    + f" ({hints[0].source})")
        if tips:
            self.hint.setText("Good times to post — " + "; ".join(tips) + ".")

    def chosen(self) -> list[str]:
        return [k for k, box in self.account_boxes.items() if box.isChecked()]

    def _next_free(self) -> None:
        chosen = [(str(self.account_boxes[a].property("provider")), a) for a in self.chosen()]
        if not chosen:
            self.problems.setText("Choose at least one account.")
            return
        self._tasks.run(self._services.time_slots.next_free_for(chosen),
                        label="Finding a free time slot", progress=False,
                        on_success=self._show_free)

    def _show_free(self, planned: Any) -> None:
        if planned is None:
            self.problems.setText("These accounts have no free time slot in the next weeks; "
                                  "add slots with Time slots… in the Schedule panel.")
            return
        local = planned.local
        self.zone.setCurrentText(planned.zone)
        self.when.setDateTime(QDateTime(QDate(local.year, local.month, local.day),
                                        QTime(local.hour, local.minute)))

    def planned(self) -> Any:
        chosen = self.when.dateTime()
        d, t = chosen.date(), chosen.time()
        wall = datetime(d.year(), d.month(), d.day(), t.hour(), t.minute())
        return plan_instant(wall, self.zone.currentText())

    def _recheck(self) -> None:
        chosen = self.chosen()
        if not chosen:
            self.problems.setText("Choose at least one account.")
            self.schedule_button.setEnabled(False)
            return

        async def check() -> list[str]:
            _targets, problems = await self._services.scheduling.check(
                self.draft_id, chosen, story=self.story.isChecked())
            try:
                planned = self.planned()
            except InvalidInput as exc:  # an unknown zone typed in
                return [*problems, str(exc)]
            if planned.instant < datetime.now(UTC) - timedelta(minutes=1):
                problems.append("That time has passed; it would go out right away.")
            if planned.note:
                problems.append(planned.note)
            return problems

        self._tasks.run(check(), label="Checking the post", progress=False,
                        latest_wins="schedule-check", on_success=self._show_problems)

    def _show_problems(self, problems: list[str]) -> None:
        blocking = [p for p in problems if "has passed" not in p and "clocks go" not in p]
        self.problems.setText("\n".join(f"• {p}" for p in problems))
        self.schedule_button.setEnabled(not blocking)

    def _schedule(self) -> None:
        self.schedule_button.setEnabled(False)
        self._tasks.run(self._services.scheduling.schedule(
            self.draft_id, self.chosen(), self.planned(), story=self.story.isChecked()),
            label="Scheduling", on_success=self._done,
            on_error=self._failed)

    def _failed(self, error: BaseException) -> bool:
        self.problems.setText(str(error))
        self.schedule_button.setEnabled(True)
        return True

    def _done(self, scheduled: Any) -> None:
        self.scheduled = scheduled
        self.accept()

