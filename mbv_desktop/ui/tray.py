"""The system tray icon: the app keeps publishing while its window is hidden.

Built after the window's first frame, and only where a system tray exists
(:func:`create_tray`); without one (offscreen, some Linux desktops) there is no tray and closing
the window quits as before.

The menu shows or hides the window, publishes what is due now, says how many posts are waiting
and quits. Publishing outcomes (published, failed, needs a reconnect) become tray messages.
With ``app.close_to_tray`` on, closing the window hides it to the tray instead of quitting, and
the first time says so.

The decisions are plain functions (:func:`outcome_message`, :func:`waiting_text`,
:func:`hides_on_close`, :func:`close_to_tray_enabled`) so they are tested without a tray.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from mbv_desktop.core.platforms import platform_label
from mbv_desktop.ui.resources import icon

if TYPE_CHECKING:
    from mbv_desktop.services.container import Services
    from mbv_desktop.services.publishing import PublishOutcome, PublishReport
    from mbv_desktop.ui.main_window import MainWindow
    from mbv_desktop.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

CLOSE_TO_TRAY_SETTING = "app.close_to_tray"
MESSAGE_MS = 8000
SNIPPET_CHARS = 60
HIDDEN_NOTICE = ("Must Be Viral is still running in the tray. Posts keep going out while the "
                 "app runs here; choose Quit in the tray menu to stop it.")


# --- decisions (plain, tested without a tray) --------------------------------------------------


@dataclass(frozen=True)
class TrayMessage:
    title: str
    body: str
    level: str = "info"  # "info", "warning" or "critical"
    panel: str = "schedule"  # where clicking the message leads


def _snippet(body: str) -> str:
    line = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
    return line if len(line) <= SNIPPET_CHARS else line[:SNIPPET_CHARS - 1].rstrip() + "…"


def outcome_message(outcome: PublishOutcome) -> TrayMessage | None:
    """What the tray says about a post that reached an end state (None: nothing to say)."""
    target = outcome.target
    name = platform_label(target.provider)
    snippet = _snippet(target.body)
    quoted = f"“{snippet}”" if snippet else f"Your {target.post_type}"
    if outcome.state == "published":
        lines = [quoted]
        if "(late" in outcome.reason:
            lines.append("It went out late: the computer was asleep or off at its time.")
        if outcome.url:
            lines.append(outcome.url)
        return TrayMessage(f"Posted to {name}", "\n".join(lines))
    if outcome.state == "failed":
        reason = outcome.reason.strip().rstrip(".") or "the reason was not given"
        return TrayMessage(f"A post to {name} failed", f"{quoted}: {reason}.", "warning")
    if outcome.state == "needs_attention":
        return TrayMessage(f"Reconnect {name}",
                           f"{name} needs the account reconnected before {quoted} can go out. "
                           "Open Accounts to reconnect it.", "warning", panel="accounts")
    return None


def report_message(report: PublishReport) -> TrayMessage | None:
    """After "Publish due now" from the tray: only when nothing happened (outcomes speak for
    the rest)."""
    if report.published or report.failed or report.needs_attention:
        return None
    if report.delayed:
        return TrayMessage("Publishing", f"{report.delayed} due post"
                           f"{'s are' if report.delayed != 1 else ' is'} waiting to be tried "
                           "again.")
    return TrayMessage("Publishing", "Nothing is due right now.")


def waiting_text(count: int) -> str:
    if count <= 0:
        return "No posts waiting"
    return f"{count:,} post{'s' if count != 1 else ''} waiting"


def hides_on_close(*, has_tray: bool, close_to_tray: bool, quitting: bool) -> bool:
    """Closing the window hides it to the tray (the app keeps publishing) when there is a tray,
    the setting is on and the person did not ask to quit."""
    return has_tray and close_to_tray and not quitting


def close_to_tray_enabled(settings: Any) -> bool:
    """``app.close_to_tray`` (on by default)."""
    return bool(settings.get_bool(CLOSE_TO_TRAY_SETTING))


# --- the tray icon ---------------------------------------------------------------------------


_LEVELS = {"info": QSystemTrayIcon.MessageIcon.Information,
           "warning": QSystemTrayIcon.MessageIcon.Warning,
           "critical": QSystemTrayIcon.MessageIcon.Critical}


def create_tray(window: MainWindow, services: Services, tasks: TaskRunner
                ) -> TrayController | None:
    """The tray controller, or None when this desktop has no system tray."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        log.info("no system tray here: closing the window quits the app")
        return None
    return TrayController(window, services, tasks)


class TrayController(QObject):
    """Owns the tray icon and its menu for one window.

    ``tray_icon`` is for tests (a QSystemTrayIcon that is never shown); by default a real one
    is made and shown.
    """

    def __init__(self, window: MainWindow, services: Services, tasks: TaskRunner, *,
                 tray_icon: QSystemTrayIcon | None = None) -> None:
        super().__init__(window)
        self._window = window
        self._services = services
        self._tasks = tasks
        self.waiting = 0
        self.hidden_notice_shown = False
        self.messages: list[TrayMessage] = []  # shown so far (newest last)
        self._clicked_panel = "schedule"

        self.icon = tray_icon or QSystemTrayIcon(icon("app"), self)
        self.icon.setToolTip("Must Be Viral")
        self.menu = QMenu(window)
        self.show_action = QAction("Hide window", self.menu)
        self.show_action.triggered.connect(lambda _c=False: self.toggle_window())
        self.publish_action = QAction("Publish due now", self.menu)
        self.publish_action.triggered.connect(lambda _c=False: self.publish_now())
        self.waiting_action = QAction(waiting_text(0), self.menu)
        self.waiting_action.setEnabled(False)
        self.quit_action = QAction("Quit Must Be Viral", self.menu)
        self.quit_action.triggered.connect(lambda _c=False: window.quit_app())
        for action in (self.show_action, self.publish_action, self.waiting_action):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.menu.aboutToShow.connect(self._update_show_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)

        self._unsubscribe: list[Callable[[], None]] = [
            services.publishing.outcomes.subscribe(self._on_outcome),
            services.publishing.events.subscribe(lambda _e: self.refresh_waiting()),
        ]
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):  # logging out: quit, don't hide
            app.commitDataRequest.connect(self._session_ending)
        window.closed.connect(self.dispose)
        self.icon.show()
        self.refresh_waiting()

    # -- the window --

    def toggle_window(self) -> None:
        if self._window.isVisible() and not self._window.isMinimized():
            self._window.hide()
        else:
            self.show_window()

    def show_window(self, panel: str | None = None) -> None:
        self._window.showNormal()
        self._window.raise_()
        self._window.activateWindow()
        if panel:
            self._window.show_panel(panel)

    def _update_show_action(self) -> None:
        shown = self._window.isVisible() and not self._window.isMinimized()
        self.show_action.setText("Hide window" if shown else "Show window")

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.toggle_window()

    def _session_ending(self, _manager: object) -> None:
        self._window.prepare_to_quit()

    def _message_clicked(self) -> None:
        self.show_window(self._clicked_panel)

    def hidden_to_tray(self) -> None:
        """The window was closed into the tray: says once what that means."""
        if not self.hidden_notice_shown:
            self.hidden_notice_shown = True
            self.show_message(TrayMessage("Must Be Viral keeps running", HIDDEN_NOTICE))

    # -- publishing --

    def publish_now(self) -> None:
        self._tasks.run(self._services.publishing.publish_due(), label="Publishing",
                        on_success=self._published)

    def _published(self, report: PublishReport) -> None:
        message = report_message(report)
        if message is not None:
            self.show_message(message)
        self.refresh_waiting()

    def _on_outcome(self, outcome: PublishOutcome) -> None:
        message = outcome_message(outcome)
        if message is not None:
            self.show_message(message)

    def refresh_waiting(self) -> None:
        async def count() -> int:
            scheduling = self._services.scheduling
            return (len(await scheduling.targets("pending"))
                    + len(await scheduling.targets("in_flight")))

        self._tasks.run(count(), label="Counting waiting posts", progress=False,
                        latest_wins="tray-waiting", on_success=self._show_waiting)

    def _show_waiting(self, count: int) -> None:
        self.waiting = count
        text = waiting_text(count)
        self.waiting_action.setText(text)
        self.icon.setToolTip(f"Must Be Viral — {text.lower()}")

    def show_message(self, message: TrayMessage) -> None:
        self.messages.append(message)
        del self.messages[:-20]
        self._clicked_panel = message.panel
        if QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(message.title, message.body, _LEVELS[message.level],
                                  MESSAGE_MS)

    # -- the end --

    def dispose(self) -> None:
        """Stops listening and takes the icon away (a Windows tray keeps a dead icon
        otherwise)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self.icon.hide()
