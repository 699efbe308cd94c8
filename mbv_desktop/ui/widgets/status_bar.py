"""The status bar: network state, sandbox or live, and background work with Cancel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtNetwork import QNetworkInformation
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar, QWidget

from mbv_desktop.ui.tasks import TaskRunner

if TYPE_CHECKING:  # kept off the import path to the first frame
    from mbv_desktop.services.sync import SyncState
    from mbv_desktop.services.uploads import UploadSummary


class AppStatusBar(QStatusBar):
    def __init__(self, tasks: TaskRunner, *, sandbox: bool, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._slow: list[int] = []

        self.network_label = QLabel(self)
        self.network_label.setObjectName("muted")
        self.mode_badge = QLabel("Sandbox" if sandbox else "Live", self)
        self.mode_badge.setObjectName("modeBadge")
        self.mode_badge.setProperty("mode", "sandbox" if sandbox else "live")
        self.mode_badge.setToolTip(
            "Providers are emulated on this computer; nothing leaves it." if sandbox
            else "Providers with credentials are used for real.")
        self.pending_label = QLabel(self)
        self.pending_label.setObjectName("muted")
        self.backup_label = QLabel(self)
        self.backup_label.setObjectName("muted")
        self.backup_label.setAccessibleName("Backup")
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(120)
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 0)  # busy indicator
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self._cancel_slow)

        self.addPermanentWidget(self.progress)
        self.addPermanentWidget(self.cancel_button)
        self.addPermanentWidget(self.pending_label)
        self.addPermanentWidget(self.backup_label)
        self.addPermanentWidget(self.network_label)
        self.addPermanentWidget(self.mode_badge)

        tasks.slow_task_started.connect(self._on_slow)
        tasks.task_finished.connect(self._on_finished)
        tasks.pending_changed.connect(self._on_pending)
        self._watch_network()
        self._on_pending(tasks.pending)

    def _watch_network(self) -> None:
        info = None
        if QNetworkInformation.loadBackendByFeatures(QNetworkInformation.Feature.Reachability):
            info = QNetworkInformation.instance()
        if info is None:
            self.network_label.setText("Network: unknown")
            self.network_label.setToolTip("This system does not report its network state; "
                                          "everything works offline regardless.")
            return
        info.reachabilityChanged.connect(lambda _r: self._show_reachability(info))
        self._show_reachability(info)

    def _show_reachability(self, info: QNetworkInformation) -> None:
        online = info.reachability() in (QNetworkInformation.Reachability.Online,
                                         QNetworkInformation.Reachability.Site)
        self.network_label.setText("Online" if online else "Offline")
        self.network_label.setToolTip("" if online else
                                      "Working offline: everything is saved on this computer.")

    def show_backup(self, summary: UploadSummary, sync: SyncState | None = None) -> None:
        """Uploads waiting (and why), or when drafts and media were last synced."""
        tip = ""
        if not summary.configured:
            text = ""
        elif summary.problem:
            text, tip = "Backup stopped", summary.problem
        elif summary.waiting:
            text = f"{summary.waiting} waiting to upload"
            if summary.offline:
                text += " (offline)"
                tip = "Cloudflare R2 can't be reached; uploads resume by themselves."
        elif sync is not None and sync.running:
            text = "Syncing…"
        elif sync is not None and sync.last is not None and sync.last.error:
            text, tip = "Sync waiting", sync.last.error
        elif sync is not None and sync.last is not None and sync.last.finished_at is not None:
            text = "Synced " + sync.last.finished_at.astimezone().strftime("%H:%M")
        else:
            text = "Backed up"
        if summary.failed:
            text += f", {summary.failed} failed"
        self.backup_label.setText(text)
        self.backup_label.setToolTip(tip)

    def _on_pending(self, n: int) -> None:
        self.pending_label.setText(f"{n} in progress" if n else "")

    def _on_slow(self, task_id: int, label: str) -> None:
        self._slow.append(task_id)
        self._show_slow()

    def _on_finished(self, task_id: int) -> None:
        if task_id in self._slow:
            self._slow.remove(task_id)
            self._show_slow()

    def _show_slow(self) -> None:
        if not self._slow:
            self.progress.hide()
            self.cancel_button.hide()
            self.clearMessage()
            return
        task_id = self._slow[-1]
        self.showMessage(f"{self._tasks.label(task_id)}…")
        self.progress.show()
        self.cancel_button.setVisible(self._tasks.is_cancellable(task_id))

    def _cancel_slow(self) -> None:
        if self._slow:
            self._tasks.cancel(self._slow[-1])
