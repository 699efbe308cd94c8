"""Publish while the app is closed: what the OS timer does, whether it is installed and on,
Install / Remove, and the recipes for other systems.

All work (files, systemctl) runs through the window's task runner off the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.errors import MbvError
from mbv_desktop.services.publish_timer import (
    COMPUTER_ON,
    INTERVAL_MINUTES,
    PublishTimer,
    TimerReport,
)
from mbv_desktop.ui.tasks import TaskRunner

SYSTEM_TABS = (("systemd", "Linux"), ("launchd", "macOS"), ("schtasks", "Windows"))


def explanation(system: str) -> str:
    what = {"systemd": "a systemd user timer", "launchd": "a launchd agent",
            "schtasks": "a Task Scheduler task"}.get(system, "an OS timer")
    return (f"While Must Be Viral is open (also when it is hidden in the tray) it publishes "
            f"each post at its time. To publish when the app is closed, install {what} that "
            f"runs mbv-desktop publish-due every {INTERVAL_MINUTES} minutes for this profile. "
            "It uses the accounts you connected here; no password or token is written into "
            "it.")


def status_text(report: TimerReport) -> str:
    """The report for the dialog: commands left to run each on a line of their own."""
    lines = [report.message]
    commands = "; ".join(report.run_yourself)
    if commands and report.message.endswith(commands):
        lines = [report.message[:-len(commands)].rstrip(),
                 *(f"    {c}" for c in report.run_yourself)]
    if report.next_run:
        lines.append(f"Next run: {report.next_run}.")
    if report.last_run:
        lines.append(f"Last run: {report.last_run}"
                     + (f" ({report.last_result})." if report.last_result else "."))
    return "\n".join(lines)


class PublishTimerDialog(QDialog):
    def __init__(self, timer: PublishTimer, tasks: TaskRunner, *, sandbox: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Publish while the app is closed")
        self.setMinimumWidth(560)
        self._timer = timer
        self._tasks = tasks
        self.report: TimerReport | None = None

        intro = QLabel(explanation(timer.system), self)
        intro.setWordWrap(True)
        self.computer_on = QLabel(COMPUTER_ON, self)
        self.computer_on.setWordWrap(True)
        self.computer_on.setObjectName("emphasis")
        font = self.computer_on.font()
        font.setBold(True)
        self.computer_on.setFont(font)
        self.status = QLabel("Checking the timer…", self)
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setAccessibleName("Timer status")
        self.sandbox_note = QLabel(
            "This window runs the sandbox. The timer publishes with your live accounts, so it "
            "can't be installed from here; open Must Be Viral without --sandbox.", self)
        self.sandbox_note.setWordWrap(True)
        self.sandbox_note.setObjectName("problems")
        self.sandbox_note.setVisible(sandbox)
        self._sandbox = sandbox

        self.install_button = QPushButton("Install", self)
        self.remove_button = QPushButton("Remove", self)
        self.install_button.clicked.connect(self.install)
        self.remove_button.clicked.connect(self.remove)
        for button in (self.install_button, self.remove_button):
            button.setEnabled(False)  # until the status is known
        actions = QHBoxLayout()
        actions.addWidget(self.install_button)
        actions.addWidget(self.remove_button)
        actions.addStretch(1)

        self.recipes = QTabWidget(self)
        self.recipes.setAccessibleName("Recipes for other systems")
        fixed = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.recipe_views: dict[str, QPlainTextEdit] = {}
        all_recipes = timer.recipes()
        for system, label in SYSTEM_TABS:
            view = QPlainTextEdit(self)
            view.setReadOnly(True)
            view.setFont(fixed)
            view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
            view.setPlainText(all_recipes[system].as_text())
            self.recipe_views[system] = view
            suffix = " (this computer)" if system == timer.system else ""
            self.recipes.addTab(view, label + suffix)
        self.recipes.setCurrentWidget(self.recipe_views[timer.system])
        recipes_label = QLabel("To set it up by hand, or on another computer:", self)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.computer_on)
        layout.addWidget(self.sandbox_note)
        layout.addWidget(self.status)
        layout.addLayout(actions)
        layout.addWidget(recipes_label)
        layout.addWidget(self.recipes, 1)
        layout.addWidget(buttons)
        self.refresh()

    # -- actions --

    def refresh(self) -> None:
        self._start(self._timer.status(), "Checking the publish timer", progress=False)

    def install(self) -> None:
        self.status.setText("Installing the timer…")
        self._start(self._timer.install(), "Installing the publish timer")

    def remove(self) -> None:
        self.status.setText("Removing the timer…")
        self._start(self._timer.remove(), "Removing the publish timer")

    def _start(self, coro: Any, label: str, *, progress: bool = True) -> None:
        for button in (self.install_button, self.remove_button):
            button.setEnabled(False)
        self._tasks.run(coro, label=label, progress=progress, latest_wins="publish-timer",
                        on_success=self._show, on_error=self._failed)

    # -- showing --

    def _show(self, report: TimerReport) -> None:
        self.report = report
        self.status.setText(status_text(report))
        self._enable(report)

    def _failed(self, error: BaseException) -> bool:
        """Our errors are shown here; a surprise also goes to the task runner's dialog."""
        self.status.setText(str(error))
        self._enable(self.report)
        return isinstance(error, MbvError)

    def _enable(self, report: TimerReport | None) -> None:
        known = report is not None
        self.install_button.setEnabled(known and not self._sandbox)
        self.install_button.setText(
            "Update" if report is not None and report.installed and not report.up_to_date
            else "Reinstall" if report is not None and report.installed else "Install")
        self.remove_button.setEnabled(known and bool(report and (report.installed
                                                                 or report.files)))
