"""The tray (its decisions, and its controller on the real window with a tray icon that is never
shown: offscreen has no tray) and the "Publish while the app is closed" dialog, whose timer
writes to a temp config folder and runs a fake systemctl."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import close_window, eventually
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSystemTrayIcon

from mbv_desktop.services import publish_timer
from mbv_desktop.services.publish_timer import COMPUTER_ON, TIMER_NAME, CommandResult, TimerReport
from mbv_desktop.services.publishing import PublishOutcome, PublishReport
from mbv_desktop.services.scheduling import PostsChanged
from mbv_desktop.store.posts import PostRepository, TargetRow
from mbv_desktop.ui.dialogs.publish_timer_dialog import status_text
from mbv_desktop.ui.main_window import MainWindow
from mbv_desktop.ui.tray import (
    HIDDEN_NOTICE,
    TrayController,
    close_to_tray_enabled,
    create_tray,
    hides_on_close,
    outcome_message,
    report_message,
    waiting_text,
)


def target(provider: str = "x", body: str = "Launch day! Our new app is out", **extra: Any
           ) -> TargetRow:
    now = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    fields: dict[str, Any] = dict(
        id=1, uid="u1", post_id=1, provider=provider, account_id="42", post_type="post",
        state="published", due_at=now, attempts=1, lease_owner=None, lease_until=None,
        check_first=False, progress={}, attempt_started_at=None, platform_post_id="9",
        url=None, last_error=None, late=False, published_at=now, body=body, media=[],
        scheduled_at=now, time_zone="UTC", local_time="2026-11-26T10:00", draft_id=None)
    fields.update(extra)
    return TargetRow(**fields)


# --- the decisions ---------------------------------------------------------------------------


def test_a_published_post_names_the_platform_and_its_link() -> None:
    message = outcome_message(PublishOutcome(target("instagram"), "published", "published",
                                             "https://instagram.com/p/abc"))
    assert message is not None
    assert message.title == "Posted to Instagram"
    assert message.body == "“Launch day! Our new app is out”\nhttps://instagram.com/p/abc"
    assert message.level == "info"


def test_a_late_post_says_why_it_was_late() -> None:
    message = outcome_message(PublishOutcome(
        target(), "published", "published (late: due 2026-11-26 10:00 UTC)", None))
    assert message is not None and "asleep or off" in message.body


def test_a_failed_post_gives_the_reason() -> None:
    message = outcome_message(PublishOutcome(target("tiktok", body="x" * 200), "failed",
                                             "TikTok refused the video: it is too long.", None))
    assert message is not None
    assert message.title == "A post to TikTok failed"
    assert message.body.endswith(": TikTok refused the video: it is too long.")
    assert "…" in message.body and message.level == "warning"


def test_a_post_that_needs_a_reconnect_leads_to_accounts() -> None:
    message = outcome_message(PublishOutcome(target("x"), "needs_attention",
                                             "X needs the account reconnected", None))
    assert message is not None
    assert message.title == "Reconnect X" and message.panel == "accounts"
    assert "reconnect" in message.body.lower()


def test_other_states_say_nothing() -> None:
    assert outcome_message(PublishOutcome(target(), "pending", "retrying", None)) is None


def test_publish_now_speaks_only_when_nothing_happened() -> None:
    assert report_message(PublishReport(published=1)) is None
    nothing = report_message(PublishReport())
    assert nothing is not None and nothing.body == "Nothing is due right now."
    waiting = report_message(PublishReport(delayed=2))
    assert waiting is not None and waiting.body.startswith("2 due posts are waiting")


def test_waiting_text() -> None:
    assert [waiting_text(n) for n in (0, 1, 1200)] == [
        "No posts waiting", "1 post waiting", "1,200 posts waiting"]


@pytest.mark.parametrize(("has_tray", "setting", "quitting", "hides"), [
    (True, True, False, True),
    (True, True, True, False),  # Quit (menu, Ctrl+Q, tray, logging out) quits
    (True, False, False, False),  # the setting is off
    (False, True, False, False),  # no tray: closing quits, as before
])
def test_when_closing_hides_to_the_tray(has_tray: bool, setting: bool, quitting: bool,
                                        hides: bool) -> None:
    assert hides_on_close(has_tray=has_tray, close_to_tray=setting, quitting=quitting) is hides


def test_close_to_tray_is_on_until_the_setting_says_otherwise(services: Any) -> None:
    class Off:
        def get_bool(self, key: str) -> bool:
            assert key == "app.close_to_tray"
            return False

    assert close_to_tray_enabled(services.settings) is True  # also before the setting exists
    assert close_to_tray_enabled(Off()) is False


# --- the tray controller on the real window ---------------------------------------------------


# Showing the window from the tray raises it, which the offscreen platform can't do.
RAISE_UNSUPPORTED = pytest.mark.qt_log_ignore("This plugin does not support raise")


class QuietTrayIcon(QSystemTrayIcon):
    """A tray icon that is never really shown (offscreen has no tray) and keeps its
    messages."""

    def __init__(self) -> None:
        super().__init__()
        self.shown_messages: list[tuple[str, str, QSystemTrayIcon.MessageIcon]] = []
        self.visible = False

    def show(self) -> None:
        self.visible = True

    def hide(self) -> None:
        self.visible = False

    def showMessage(self, title: str, body: str, icon: Any = None, ms: int = 0
                    ) -> None:
        self.shown_messages.append((title, body, icon))


def test_offscreen_has_no_tray_and_nothing_breaks(window: Any) -> None:
    assert create_tray(window, window.services, window.tasks) is None
    assert window.install_tray() is None and window.tray is None


def attach_tray(window: Any) -> tuple[TrayController, QuietTrayIcon]:
    icon = QuietTrayIcon()
    tray = TrayController(window, window.services, window.tasks, tray_icon=icon)
    window.tray = tray
    return tray, icon


def schedule_rows(services: Any, count: int) -> None:
    at = datetime.now(UTC) + timedelta(days=1)

    def write(c: Any) -> None:
        for n in range(count):
            PostRepository(c).create(draft_id=None, body=f"post {n}", media=[],
                                     scheduled_at=at, time_zone="UTC", local_time="later",
                                     targets=[("x", "42", "post")], at=datetime.now(UTC))

    asyncio.get_event_loop().run_until_complete(services.worker.call(write))


@RAISE_UNSUPPORTED
def test_the_tray_menu_counts_waiting_posts_and_announces_outcomes(window: Any, loop: Any
                                                                   ) -> None:
    tray, icon = attach_tray(window)
    assert icon.visible
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == ["Hide window", "Publish due now", "No posts waiting", "Quit Must Be Viral"]
    assert not tray.waiting_action.isEnabled()

    schedule_rows(window.services, 2)
    window.services.publishing.events.publish(PostsChanged((1, 2)))
    loop.run_until_complete(eventually(lambda: tray.waiting == 2))
    assert tray.waiting_action.text() == "2 posts waiting"
    assert "2 posts waiting" in icon.toolTip()

    window.services.publishing.outcomes.publish(PublishOutcome(
        target("tiktok"), "failed", "TikTok refused it", None))
    (title, body, level), = icon.shown_messages
    assert title == "A post to TikTok failed" and "TikTok refused it" in body
    assert level == QSystemTrayIcon.MessageIcon.Warning

    tray.publish_now()  # nothing is due: it says so
    loop.run_until_complete(eventually(lambda: len(icon.shown_messages) == 2))
    assert icon.shown_messages[-1][1] == "Nothing is due right now."

    tray.toggle_window()
    assert not window.isVisible()
    tray._update_show_action()
    assert tray.show_action.text() == "Show window"
    tray.toggle_window()
    assert window.isVisible()

    tray.dispose()  # stops listening
    window.services.publishing.outcomes.publish(PublishOutcome(target(), "published", "ok"))
    assert len(icon.shown_messages) == 2 and not icon.visible
    window.tray = None


@RAISE_UNSUPPORTED
def test_closing_hides_to_the_tray_and_says_so_once_then_quit_quits(services: Any, loop: Any
                                                                    ) -> None:
    asyncio.set_event_loop(loop)
    window = MainWindow(services, show_dialogs=False, remember_state=False)
    window.show()
    loop.run_until_complete(eventually(lambda: window.create_panel.generate_box is not None))
    tray, icon = attach_tray(window)
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))

    window.close()
    loop.run_until_complete(asyncio.sleep(0.05))
    assert not window.isVisible() and not closed  # hidden, still running
    assert [m[1] for m in icon.shown_messages] == [HIDDEN_NOTICE]

    tray.show_window()
    window.close()
    loop.run_until_complete(asyncio.sleep(0.05))
    assert not window.isVisible() and not closed
    assert len(icon.shown_messages) == 1  # said once

    tray.quit_action.trigger()  # Quit from the tray really quits, also while hidden
    loop.run_until_complete(eventually(lambda: closed == [True], timeout=10))
    assert not icon.visible  # the icon went with the window
    window.deleteLater()


def test_without_close_to_tray_closing_quits(services: Any, loop: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from mbv_desktop.ui import tray as tray_module

    monkeypatch.setattr(tray_module, "close_to_tray_enabled", lambda _settings: False)
    asyncio.set_event_loop(loop)
    window = MainWindow(services, show_dialogs=False, remember_state=False)
    window.show()
    loop.run_until_complete(eventually(lambda: window.create_panel.generate_box is not None))
    _tray, icon = attach_tray(window)
    loop.run_until_complete(close_window(window))  # closes for real
    assert icon.shown_messages == []
    window.deleteLater()


# --- the timer dialog -------------------------------------------------------------------------


class FakeSystemctl:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.enabled = False

    def __call__(self, args: Sequence[str]) -> CommandResult:
        args = list(args)
        assert args[:2] == ["systemctl", "--user"], args
        self.calls.append(args)
        verb = args[2]
        if verb == "enable":
            self.enabled = True
        elif verb == "disable":
            self.enabled = False
        elif verb == "is-enabled":
            return CommandResult(0 if self.enabled else 1,
                                 "enabled\n" if self.enabled else "disabled\n")
        elif verb == "is-active":
            return CommandResult(0 if self.enabled else 3,
                                 "active\n" if self.enabled else "inactive\n")
        return CommandResult(0)


@pytest.fixture
def fake_timer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[FakeSystemctl, Path]:
    """Every PublishTimer the window makes writes under tmp_path and runs a fake systemctl."""
    systemctl = FakeSystemctl()
    config = tmp_path / "cfg"
    monkeypatch.setattr(publish_timer, "PublishTimer", functools.partial(
        publish_timer.PublishTimer, platform="linux", home=tmp_path / "user",
        env={"XDG_CONFIG_HOME": str(config)}, runner=systemctl,
        which=lambda name: "/usr/bin/systemctl" if name == "systemctl" else None))
    return systemctl, config / "systemd" / "user"


def open_from_menu(window: Any) -> Any:
    (action,) = [a for a in window.actions()
                 if a.text() == "&Publish while the app is closed…"]
    action.trigger()
    return window._publish_timer_dialog


def test_the_dialog_installs_and_removes_the_timer(window: Any, loop: Any, qtbot: Any,
                                                   fake_timer: tuple[FakeSystemctl, Path]
                                                   ) -> None:
    systemctl, unit_dir = fake_timer
    dialog = open_from_menu(window)
    assert dialog.isVisible()
    assert dialog.computer_on.text() == COMPUTER_ON
    assert not dialog.sandbox_note.isVisible()
    loop.run_until_complete(eventually(lambda: dialog.report is not None))
    assert dialog.status.text().startswith("No systemd user timer is installed")
    assert dialog.install_button.isEnabled() and not dialog.remove_button.isEnabled()

    # the recipes: this computer's with the real paths, the others with placeholders
    tabs = [dialog.recipes.tabText(i) for i in range(dialog.recipes.count())]
    assert tabs == ["Linux (this computer)", "macOS", "Windows"]
    linux = dialog.recipe_views["systemd"].toPlainText()
    assert str(window.services.data_dir) in linux and str(unit_dir) in linux
    assert "StartInterval" in dialog.recipe_views["launchd"].toPlainText()
    assert "schtasks /Create /SC MINUTE /MO 5" in dialog.recipe_views["schtasks"].toPlainText()

    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    assert not dialog.install_button.isEnabled()  # while it works
    loop.run_until_complete(eventually(lambda: dialog.report.action == "install"))
    assert (unit_dir / TIMER_NAME).exists()
    assert ["systemctl", "--user", "enable", "--now", TIMER_NAME] in systemctl.calls
    assert dialog.status.text().startswith("The systemd user timer is on")
    assert dialog.remove_button.isEnabled() and dialog.install_button.text() == "Reinstall"

    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    loop.run_until_complete(eventually(lambda: dialog.report.action == "remove"))
    assert not (unit_dir / TIMER_NAME).exists()
    assert dialog.status.text().startswith("The systemd user timer is removed")
    assert not dialog.remove_button.isEnabled()
    dialog.close()


def test_the_dialog_shows_a_failure_in_place(window: Any, loop: Any, qtbot: Any,
                                             fake_timer: tuple[FakeSystemctl, Path]) -> None:
    _systemctl, unit_dir = fake_timer
    unit_dir.parent.parent.write_text("a file where the config folder should be")
    dialog = window.open_publish_timer_dialog()
    loop.run_until_complete(eventually(lambda: dialog.report is not None))
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    loop.run_until_complete(eventually(lambda: "could not be written" in dialog.status.text()))
    assert dialog.install_button.isEnabled()
    assert window.tasks.last_error is None  # shown in the dialog, not as a second error
    dialog.close()


def test_commands_left_to_run_get_a_line_each() -> None:
    report = TimerReport(
        "install", "systemd", True, True, None, None,
        "The timer's files are written, but it is not on yet because systemctl was not found. "
        "To turn it on, run: systemctl --user daemon-reload; systemctl --user enable --now x",
        run_yourself=("systemctl --user daemon-reload", "systemctl --user enable --now x"))
    assert status_text(report).splitlines() == [
        "The timer's files are written, but it is not on yet because systemctl was not found. "
        "To turn it on, run:",
        "    systemctl --user daemon-reload",
        "    systemctl --user enable --now x"]


def test_the_sandbox_window_does_not_install_the_live_timer(services: Any, loop: Any,
                                                            fake_timer: Any) -> None:
    services.sandbox = True
    asyncio.set_event_loop(loop)
    window = MainWindow(services, show_dialogs=False, remember_state=False)
    window.show()
    dialog = window.open_publish_timer_dialog()
    loop.run_until_complete(eventually(lambda: dialog.report is not None))
    assert dialog.sandbox_note.isVisible()
    assert not dialog.install_button.isEnabled()
    dialog.close()
    loop.run_until_complete(close_window(window))
    window.deleteLater()
