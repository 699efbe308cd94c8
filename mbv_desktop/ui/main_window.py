"""The main window: navigation rail, one stacked page per panel, menus, shortcuts and the status
bar. Geometry and the last panel are restored from ``window.ini`` in the data dir.

Closing is asynchronous: the first close hides nothing yet, flushes pending saves and waits for
running work, then closes for real, so text typed just before closing is never lost.
"""

from __future__ import annotations

import functools
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from mbv_desktop import __version__
from mbv_desktop.services.container import Services
from mbv_desktop.services.sandbox_control import FAULT_PRESETS, FaultPreset, SandboxControl
from mbv_desktop.ui.panels.accounts_panel import AccountsPanel
from mbv_desktop.ui.panels.analytics.panel import AnalyticsPanel
from mbv_desktop.ui.panels.billing.panel import BillingPanel
from mbv_desktop.ui.panels.create_panel import CreatePanel
from mbv_desktop.ui.panels.library_panel import LibraryPanel
from mbv_desktop.ui.panels.schedule_panel import SchedulePanel
from mbv_desktop.ui.resources import icon
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.nav_rail import NavigationRail
from mbv_desktop.ui.widgets.status_bar import AppStatusBar

if TYPE_CHECKING:
    from datetime import datetime

    from mbv_desktop.core.errors import PlanLimitReached
    from mbv_desktop.services.publish_timer import PublishTimer
    from mbv_desktop.services.sync import SyncState
    from mbv_desktop.ui.dialogs.publish_timer_dialog import PublishTimerDialog
    from mbv_desktop.ui.dialogs.schedule_dialog import ScheduleDialog
    from mbv_desktop.ui.tray import TrayController

log = logging.getLogger(__name__)

GC_THRESHOLDS = (5000, 20, 100)  # Python's defaults are (700, 10, 10)


@dataclass(frozen=True)
class PanelSpec:
    name: str
    label: str
    icon: str
    factory: Callable[[Services, TaskRunner, QWidget], QWidget]


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("create", "Create", "create", CreatePanel),
    PanelSpec("library", "Library", "library", LibraryPanel),
    PanelSpec("schedule", "Schedule", "schedule", SchedulePanel),
    PanelSpec("accounts", "Accounts", "accounts", AccountsPanel),
    PanelSpec("analytics", "Analytics", "analytics", AnalyticsPanel),
    PanelSpec("billing", "Billing", "billing", BillingPanel),
)
PANEL_NAMES = tuple(p.name for p in PANELS)


class MainWindow(QMainWindow):
    closed = Signal()
    first_frame = Signal(float)  # once, as the first frame is painted (perf_counter time)
    first_painted = Signal()  # once, right after the first frame: time to build the rest

    def __init__(self, services: Services, *, show_dialogs: bool = True,
                 remember_state: bool = True) -> None:
        super().__init__()
        self._painted = False  # before anything else: Qt sends events while we build
        self.first_paint_at: float | None = None
        self.services = services
        self.setWindowTitle("Must Be Viral" + ("  —  Sandbox" if services.sandbox else ""))
        self.setWindowIcon(icon("app"))
        self.setMinimumSize(760, 520)
        self.tasks = TaskRunner(self, show_dialogs=show_dialogs)
        self._state = QSettings(str(services.data_dir / "window.ini"),
                                QSettings.Format.IniFormat)
        self._closing = False
        self._ready_to_close = False
        self._quitting = False  # Quit asked for: closing must not hide to the tray
        self.tray: TrayController | None = None  # see install_tray
        self._remember_state = remember_state

        self.rail = NavigationRail(self)
        self.stack = QStackedWidget(self)
        self.panels: dict[str, QWidget] = {}
        for n, spec in enumerate(PANELS, start=1):
            panel = spec.factory(services, self.tasks, self.stack)
            self.panels[spec.name] = panel
            self.stack.addWidget(panel)
            self.rail.add_panel(spec.name, spec.label, icon(spec.icon), f"Ctrl+{n}")
        self.rail.panel_selected.connect(self.show_panel)
        library = self.panels["library"]
        assert isinstance(library, LibraryPanel)
        library.attach_requested.connect(self._attach_from_library)
        schedule = self.panels["schedule"]
        assert isinstance(schedule, SchedulePanel)
        schedule.schedule_requested.connect(self.schedule_open_draft)
        billing = self.panels["billing"]
        assert isinstance(billing, BillingPanel)
        billing.open_panel_requested.connect(self.show_panel)
        self.tasks.upgrade = self.open_upgrade  # "Upgrade…" when a plan limit is reached

        central = QWidget(self)
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.rail)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.status = AppStatusBar(self.tasks, sandbox=services.sandbox, parent=self)
        self.setStatusBar(self.status)
        self._build_menus()
        self._restore_state()
        self.first_painted.connect(self._build_deferred)

    def event(self, event: QEvent) -> bool:
        if not self._painted and event.type() == QEvent.Type.Paint:
            self._painted = True
            self.first_paint_at = time.perf_counter()
            self.first_frame.emit(self.first_paint_at)
            QTimer.singleShot(0, self.first_painted.emit)
        return super().event(event)

    def _build_deferred(self) -> None:
        for panel in self.panels.values():
            build = getattr(panel, "build_deferred", None)
            if build is not None:
                build()
        self._sync_state: SyncState | None = None
        self.services.uploads.events.subscribe(lambda _e: self._refresh_backup_status())
        self.services.sync.events.subscribe(self._on_sync_state)
        self._refresh_backup_status()
        # Everything made so far (modules, widgets, services) lives as long as the app: move it
        # out of the garbage collector's sight. A full collection walks every tracked object,
        # and with start-up's left in, one took ~70 ms of the GUI thread while publishing; and
        # collect less often (publishing 1,000 posts made 23 full collections of 50-65 ms).
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    def _on_sync_state(self, state: SyncState) -> None:
        self._sync_state = state
        self._refresh_backup_status()

    def _refresh_backup_status(self) -> None:
        async def refresh() -> None:
            self.status.show_backup(await self.services.uploads.summary(), self._sync_state)

        self.tasks.run(refresh(), label="Checking backups", latest_wins="backup-status",
                       progress=False)

    def _show_usage_events(self) -> None:
        """What anonymous usage events (GA4) are sent, queued or dropped, and the opt-in."""
        from mbv_desktop.ui.dialogs.analytics_events_dialog import AnalyticsEventsDialog

        dialog = AnalyticsEventsDialog(self.services, self, tasks=self.tasks)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def ask_about_analytics_once(self) -> None:
        """First run only: may anonymous usage events (sign-ins, features used) and crash reports
        be sent? Off unless the creator says yes; asked once, changeable in the settings."""
        settings = self.services.settings
        if settings.get_bool("analytics.asked"):
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Help improve Must Be Viral",
                          "May Must Be Viral send anonymous usage events (sign-ins and which "
                          "features are used) and crash reports? Your drafts, media, handles "
                          "and tokens are never sent. Help → Usage events sent… shows what is sent "
                          "and changes this.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)

        def answered(button: int) -> None:
            settings.set("analytics.opt_in",
                         "true" if button == QMessageBox.StandardButton.Yes else "false")
            settings.set("analytics.asked", "true")

        box.finished.connect(answered)
        box.open()  # not exec(): the event loop keeps running behind it
        self._analytics_question = box

    def schedule_open_draft(self, at: datetime | None = None) -> ScheduleDialog | None:
        """The Schedule dialog for the draft open in Create (Ctrl+Shift+S)."""
        from mbv_desktop.ui.dialogs.schedule_dialog import ScheduleDialog

        self.create_panel.save_now()
        draft_id = self.create_panel.current_draft_id
        if draft_id is None:
            self.status.showMessage("Write or open a draft first, then schedule it.", 5000)
            return None
        dialog = ScheduleDialog(self.services, self.tasks, draft_id, at=at, parent=self)
        dialog.accepted.connect(lambda: self.show_panel("schedule"))
        dialog.open()
        self._schedule_dialog = dialog
        return dialog

    def _attach_from_library(self, asset_ids: list[int]) -> None:
        self.create_panel.attach_assets(asset_ids)
        self.show_panel("create")

    def open_upgrade(self, error: PlanLimitReached) -> None:
        """The Billing panel, with the plan that allows more marked."""
        billing = self.panels["billing"]
        assert isinstance(billing, BillingPanel)
        self.show_panel("billing")
        billing.suggest_plan(error.upgrade_to)

    @property
    def create_panel(self) -> CreatePanel:
        panel = self.panels["create"]
        assert isinstance(panel, CreatePanel)
        return panel

    @property
    def current_panel(self) -> str:
        return PANEL_NAMES[self.stack.currentIndex()]

    def show_panel(self, name: str) -> None:
        if name not in self.panels:
            return
        self.stack.setCurrentWidget(self.panels[name])
        self.rail.set_current(name)

    # --- menus and shortcuts ---------------------------------------------------------------

    def _action(self, text: str, slot: Callable[[], object],
                shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None
                ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _build_menus(self) -> None:
        create = self.create_panel
        file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(
            self._action("&New draft", self._new_draft, QKeySequence.StandardKey.New))
        file_menu.addAction(self._action("&Duplicate draft", create.duplicate_current, "Ctrl+D"))
        file_menu.addAction(self._action("&Schedule draft…", self.schedule_open_draft,
                                         "Ctrl+Shift+S"))
        file_menu.addAction(self._action("&Publish while the app is closed…",
                                         self.open_publish_timer_dialog))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Import drafts…", self._import_drafts))
        file_menu.addAction(self._action("&Export drafts…", self._export_drafts))
        file_menu.addSeparator()
        file_menu.addAction(self._action("&Quit", self.quit_app, QKeySequence.StandardKey.Quit))

        edit_menu = self.menuBar().addMenu("&Edit")
        edit_menu.addAction(self._action("&Find drafts", self._find, QKeySequence.StandardKey.Find))

        view_menu = self.menuBar().addMenu("&View")
        for n, spec in enumerate(PANELS, start=1):
            view_menu.addAction(self._action(
                spec.label, functools.partial(self.show_panel, spec.name), f"Ctrl+{n}"))

        if self.services.sandbox_control is not None:
            self._build_sandbox_menu(self.services.sandbox_control)

        help_menu = self.menuBar().addMenu("&Help")
        help_menu.addAction(self._action("Usage &events sent…", self._show_usage_events))
        help_menu.addAction(self._action("&About Must Be Viral", self._about))

    def _build_sandbox_menu(self, control: SandboxControl) -> None:
        """Faults on demand, to see how the app behaves when providers misbehave."""
        menu = self.menuBar().addMenu("&Sandbox")
        for provider, name in (("openai", "OpenAI"), ("workers_ai", "Workers AI")):
            sub = menu.addMenu(name)
            for preset in FAULT_PRESETS:
                sub.addAction(self._action(preset.label, functools.partial(
                    self._inject_fault, control, provider, preset)))
        menu.addSeparator()
        menu.addAction(self._action("Clear all faults", lambda: self.tasks.run(
            control.clear_faults(), label="Clearing sandbox faults",
            on_success=lambda _r: self.status.showMessage("Sandbox faults cleared.", 5000))))

    def _inject_fault(self, control: SandboxControl, provider: str, preset: FaultPreset) -> None:
        self.tasks.run(control.add_fault(provider, preset), label="Setting a sandbox fault",
                       on_success=lambda _r: self.status.showMessage(
                           f"Sandbox: {preset.label.lower()} ({provider}).", 8000))

    def open_publish_timer_dialog(self, timer: PublishTimer | None = None
                                  ) -> PublishTimerDialog:
        """Publish while the app is closed: the OS timer that runs publish-due."""
        from mbv_desktop.services.publish_timer import PublishTimer
        from mbv_desktop.ui.dialogs.publish_timer_dialog import PublishTimerDialog

        dialog = PublishTimerDialog(timer or PublishTimer(self.services.data_dir), self.tasks,
                                    sandbox=self.services.sandbox, parent=self)
        dialog.open()
        self._publish_timer_dialog = dialog
        return dialog

    def _new_draft(self) -> None:
        self.show_panel("create")
        self.create_panel.new_draft()

    def _find(self) -> None:
        self.show_panel("create")
        self.create_panel.focus_search()

    def _import_drafts(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import drafts", "",
                                              "JSON Lines (*.jsonl *.json);;All files (*)")
        if path:
            self.tasks.run(self._import_from(Path(path)), label="Importing drafts",
                           on_success=self._show_import_report)

    async def _import_from(self, path: Path) -> str:
        with path.open("rb") as f:
            report = await self.services.drafting.import_jsonl(f)
        c = report.counts
        text = f"Imported {c.added:,} new and {c.updated:,} updated drafts."
        if report.problems:
            shown = "\n".join(str(p) for p in report.problems[:10])
            more = len(report.problems) - 10
            text += (f"\n\n{len(report.problems):,} lines were skipped:\n{shown}"
                     + (f"\n… and {more:,} more." if more > 0 else ""))
        return text

    def _show_import_report(self, text: str) -> None:
        QMessageBox.information(self, "Import finished", text)

    def _export_drafts(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export drafts", "drafts.jsonl",
                                              "JSON Lines (*.jsonl)")
        if path:
            self.tasks.run(self._export_to(Path(path)), label="Exporting drafts",
                           on_success=lambda n: self.status.showMessage(
                               f"Exported {n:,} drafts to {path}", 8000))

    async def _export_to(self, path: Path) -> int:
        with path.open("w", encoding="utf-8") as f:
            return await self.services.drafting.export_jsonl(f)

    def _about(self) -> None:
        QMessageBox.about(self, "About Must Be Viral",
                          f"Must Be Viral Desktop {__version__}\n\n"
                          f"Your drafts live in {self.services.data_dir}.")

    # --- state and closing -----------------------------------------------------------------

    def _restore_state(self) -> None:
        geometry = self._state.value("geometry") if self._remember_state else None
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 760)
        last = self._state.value("panel", "create")
        self.show_panel(last if last in self.panels else "create")

    def _save_state(self) -> None:
        if not self._remember_state:
            return
        self._state.setValue("geometry", self.saveGeometry())
        self._state.setValue("panel", self.current_panel)
        self._state.sync()

    # --- the tray ------------------------------------------------------------------------------

    def install_tray(self) -> TrayController | None:
        """The tray icon, where the desktop has a tray; called after the first frame."""
        if self.tray is None:
            from mbv_desktop.ui.tray import create_tray

            self.tray = create_tray(self, self.services, self.tasks)
        return self.tray

    def prepare_to_quit(self) -> None:
        """The next close quits (Quit, logging out) instead of hiding to the tray."""
        self._quitting = True

    def quit_app(self) -> None:
        self.prepare_to_quit()
        self.close()

    def _hides_to_tray(self) -> bool:
        if self.tray is None:
            return False
        from mbv_desktop.ui.tray import close_to_tray_enabled, hides_on_close

        return hides_on_close(has_tray=True, quitting=self._quitting or self._closing,
                              close_to_tray=close_to_tray_enabled(self.services.settings))

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._ready_to_close:
            event.accept()
            self.closed.emit()
            return
        event.ignore()
        if self._hides_to_tray():
            assert self.tray is not None
            self._save_state()
            self.create_panel.save_now()
            self.hide()
            self.tray.hidden_to_tray()
            return
        if self._closing:
            return
        self._closing = True
        self._save_state()
        self.tasks.run(self._shutdown(), label="Saving your work", cancellable=False,
                       on_error=self._close_despite_error)

    async def _shutdown(self) -> None:
        await self.create_panel.shut_down()
        await self.tasks.wait_idle()
        await self.services.aclose()
        # A service's last change event (a final collection pass, say) may have started a
        # panel's re-read meanwhile: let it end while the loop still runs.
        await self.tasks.wait_idle()
        self._finish_close()

    def _close_despite_error(self, error: BaseException) -> bool:
        """A failure while saving on the way out is shown, but never keeps the window open."""
        self.tasks.report(error, "Saving your work")
        self._finish_close()
        return True

    def _finish_close(self) -> None:
        self._ready_to_close = True
        self.tasks.close()
        self.close()
