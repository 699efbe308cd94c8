"""Backups in progress: each unfinished upload with its progress, and Pause / Resume / Cancel.

The view reads rows from the upload queue (services.uploads) and redraws when the queue
publishes a change; a progress event for one file updates that row only. It hides itself when
nothing is waiting, so a creator whose library is backed up sees just the grid.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    Qt,
    QTimer,
)
from PySide6.QtGui import QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.services.uploads import UploadQueue, UploadRow, UploadsChanged, UploadStatus
from mbv_desktop.ui.tasks import TaskRunner

_Index = QModelIndex | QPersistentModelIndex

STATUS_TEXT = {
    UploadStatus.PENDING: "Uploading",
    UploadStatus.PAUSED: "Paused",
    UploadStatus.FAILED: "Failed",
    UploadStatus.CANCELLED: "Cancelled",
    UploadStatus.DONE: "Backed up",
}
COLUMNS = ("File", "Progress", "Status")
PROGRESS_COLUMN = 1
REFRESH_MS = 200
SHOWN_ROWS = 200  # the list shows the first unfinished ones; the summary counts them all


def _size(n: int) -> str:
    if n < 1_000_000:
        return f"{n / 1e3:.0f} KB"
    return f"{n / 1e6:.1f} MB"


class UploadsModel(QAbstractTableModel):
    """Unfinished uploads; ``update_row`` changes one without resetting the rest."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[UploadRow] = []

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return row.name or row.key.rsplit("/", 1)[-1]
            if column == PROGRESS_COLUMN:
                return f"{_size(row.bytes_done)} of {_size(row.bytes_total)}"
            return STATUS_TEXT[row.status]
        if role == Qt.ItemDataRole.UserRole:
            return row.fraction
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.error or f"{STATUS_TEXT[row.status]}: {row.key}"
        return None

    def reset_rows(self, rows: list[UploadRow]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def replace_values(self, rows: list[UploadRow]) -> None:
        """The same uploads with new progress: one change signal for all of them."""
        self.rows = rows
        if rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(COLUMNS) - 1))

    def update_row(self, row: UploadRow) -> bool:
        """Replaces the row of the same asset; False when it isn't shown."""
        for number, old in enumerate(self.rows):
            if old.asset_id == row.asset_id:
                self.rows[number] = row
                self.dataChanged.emit(self.index(number, 0),
                                      self.index(number, len(COLUMNS) - 1))
                return True
        return False


class ProgressDelegate(QStyledItemDelegate):
    """Draws the Progress column as a progress bar with its text."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        fraction = index.data(Qt.ItemDataRole.UserRole)
        if not isinstance(fraction, float):
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = QRect(option.rect.adjusted(2, 3, -2, -3))
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = int(fraction * 1000)
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole))
        bar.textVisible = True
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class UploadsView(QWidget):
    """The backups list under the Library grid."""

    def __init__(self, uploads: UploadQueue, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("uploadsView")
        self._uploads = uploads
        self._tasks = tasks
        self.summary_label = QLabel(self)
        self.pause_all_button = QPushButton("Pause all", self)
        self.resume_all_button = QPushButton("Resume all", self)
        self.pause_button = QPushButton("Pause", self)
        self.resume_button = QPushButton("Resume", self)
        self.cancel_button = QPushButton("Cancel upload", self)
        for button, action in ((self.pause_all_button, uploads.pause_all),
                               (self.resume_all_button, uploads.resume_all)):
            button.clicked.connect(lambda _c=False, a=action: self._run(a()))
        self.pause_button.clicked.connect(lambda: self._on_selected(uploads.pause))
        self.resume_button.clicked.connect(lambda: self._on_selected(uploads.resume))
        self.cancel_button.clicked.connect(lambda: self._on_selected(uploads.cancel))

        self.model = UploadsModel(self)
        self.table = QTableView(self)
        self.table.setAccessibleName("Uploads")
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(PROGRESS_COLUMN, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(
            PROGRESS_COLUMN, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(PROGRESS_COLUMN, 220)
        self.table.setMaximumHeight(160)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self.table, self._cancel_shortcut,
                  context=Qt.ShortcutContext.WidgetShortcut)

        buttons = QHBoxLayout()
        buttons.addWidget(self.summary_label, 1)
        for button in (self.pause_button, self.resume_button, self.cancel_button,
                       self.pause_all_button, self.resume_all_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.table)
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)
        self._unsubscribe = uploads.events.subscribe(self._on_change)
        self.destroyed.connect(lambda *_: self._unsubscribe())
        self.hide()
        self.refresh()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tasks.run(coro, label="Changing uploads", progress=False)

    def _selected(self) -> list[UploadRow]:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        return [self.model.rows[r] for r in sorted(rows) if r < len(self.model.rows)]

    def _on_selected(self, action: Callable[[int], Coroutine[Any, Any, None]]) -> None:
        for row in self._selected():
            self._run(action(row.asset_id))

    def _cancel_shortcut(self) -> None:
        self._on_selected(self._uploads.cancel)

    def _update_buttons(self) -> None:
        selected = self._selected()
        statuses = {r.status for r in selected}
        self.pause_button.setEnabled(UploadStatus.PENDING in statuses)
        self.resume_button.setEnabled(bool(statuses & {UploadStatus.PAUSED, UploadStatus.FAILED,
                                                        UploadStatus.CANCELLED}))
        self.cancel_button.setEnabled(bool(statuses - {UploadStatus.DONE,
                                                       UploadStatus.CANCELLED}))

    # -- keeping up with the queue --

    def _on_change(self, event: UploadsChanged) -> None:
        # Progress comes ten times a second per file: redraw at most five times a second.
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh(self) -> None:
        self._tasks.run(self._load(), label="Reading uploads", latest_wins="uploads-view",
                        progress=False)

    async def _load(self) -> None:
        rows = await self._uploads.rows(include_done=False, limit=SHOWN_ROWS)
        summary = await self._uploads.summary()
        selected = {r.asset_id for r in self._selected()}
        if [r.asset_id for r in rows] == [r.asset_id for r in self.model.rows]:
            self.model.replace_values(rows)
        else:
            self.model.reset_rows(rows)
            for number, row in enumerate(rows):
                if row.asset_id in selected:
                    self.table.selectRow(number)
        self.setVisible(bool(rows))
        self.summary_label.setText(self._summary_text(summary))
        self._update_buttons()

    @staticmethod
    def _summary_text(summary: Any) -> str:
        if not summary.configured:
            return "Backup is off: set up Cloudflare R2 in the settings to back up your media."
        if summary.problem:
            return f"Backups stopped: {summary.problem}"
        parts = []
        if summary.waiting:
            percent = (100 * summary.bytes_done // summary.bytes_total
                       if summary.bytes_total else 0)
            parts.append(f"Backing up {summary.waiting} file"
                         f"{'s' if summary.waiting != 1 else ''} ({percent}%)")
        if summary.offline:
            parts.append("waiting for the connection")
        if summary.failed:
            parts.append(f"{summary.failed} failed")
        return ", ".join(parts) or "Everything is backed up."
