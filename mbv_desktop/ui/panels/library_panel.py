"""The Library panel: every photo and video kept in the library, as a grid of thumbnails.

Drop files or folders anywhere on the panel, paste (Ctrl+V) an image or copied files, or use
"Add files…"; each is checked before it is kept, and the reasons for any file that is refused are
listed. Thumbnails are made off the GUI thread for the items the grid is about to show, so a
library of 10,000 stays quick. Selected media can be attached to the draft open in Create
(Ctrl+Enter). Under the grid, the backups still uploading to R2, with Pause / Resume / Cancel.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.services.container import Services
from mbv_desktop.ui.models.asset_grid_model import AssetGridModel
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.file_drops import accept_file_drag, dropped_paths

log = logging.getLogger(__name__)

MAX_FOLDER_FILES = 2000


class LibraryPanel(QWidget):
    attach_requested = Signal(list)  # asset ids, for the draft open in Create

    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("libraryPanel")
        self.setAcceptDrops(True)
        self._services = services
        self._tasks = tasks
        self._loaded = False

        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Search by name, type, prompt or #tag of a draft")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self.refresh())
        self.add_button = QPushButton("Add files…", self)
        self.add_button.clicked.connect(self._pick_files)
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.add_button)

        self.model = AssetGridModel(self)
        self.grid = QListView(self)
        self.grid.setAccessibleName("Media")
        self.grid.setModel(self.model)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setIconSize(QSize(160, 160))
        self.grid.setGridSize(QSize(184, 204))
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setWordWrap(True)
        self.grid.setSpacing(8)
        self.status = QLabel("Drop photos and videos here.", self)
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)

        self.grid.setUniformItemSizes(True)  # lays out 10,000 items without measuring each
        self.grid.setLayoutMode(QListView.LayoutMode.Batched)
        self.grid.setBatchSize(500)
        self.grid.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.model.thumbnail_wanted.connect(self._make_thumbnail)
        self.attach_button = QPushButton("Attach to draft", self)
        self.attach_button.setToolTip("Attach the selected media to the draft open in Create "
                                      "(Ctrl+Enter)")
        self.attach_button.clicked.connect(self._attach_selected)
        top.addWidget(self.attach_button)
        QShortcut(QKeySequence("Ctrl+Return"), self.grid, self._attach_selected,
                  context=Qt.ShortcutContext.WidgetShortcut)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Paste), self, self.paste)

        self.uploads_view: Any = None  # an UploadsView, built after the first frame
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addLayout(top)
        layout.addWidget(self.grid, 1)
        layout.addWidget(self.status)
        self._layout = layout

    def build_deferred(self) -> None:
        """After the first frame: the backups list under the grid."""
        from mbv_desktop.ui.widgets.uploads_view import UploadsView

        self.uploads_view = UploadsView(self._services.uploads, self._tasks, self)
        self._layout.addWidget(self.uploads_view)

    # --- loading ---------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._loaded:  # nothing is read until the panel is first looked at
            self._loaded = True
            self.refresh()

    def refresh(self) -> None:
        self._tasks.run(self._services.library.items(self.search.text()),
                        label="Loading the library", latest_wins="library-items",
                        progress=False, on_success=self._show_items)

    def _show_items(self, items: list[Any]) -> None:
        self.model.reset_items(items)

    def _make_thumbnail(self, item: Any) -> None:
        """The grid asked for an item it is about to show: thumbnails are made for what is on
        screen, not for all 10,000 at once."""
        self._tasks.run(self._services.library.thumbnail(item.asset),
                        label="Making thumbnails", progress=False,
                        on_success=functools.partial(self._thumbnail_ready, item.asset.id))

    def _thumbnail_ready(self, asset_id: int, path: Path | None) -> None:
        if path is not None:
            self.model.set_thumbnail(asset_id, path)

    # --- adding ----------------------------------------------------------------------------

    def _pick_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add to the library", "",
            "Photos and videos (*.jpg *.jpeg *.png *.webp *.gif *.heic *.mp4 *.mov *.webm);;"
            "All files (*)")
        if files:
            self.add_paths([Path(f) for f in files])

    def add_paths(self, paths: list[Path]) -> None:
        """Files, and the files inside folders (not their subfolders' hidden files)."""
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files.extend(p for p in sorted(path.rglob("*"))
                             if p.is_file() and not p.name.startswith("."))
            else:
                files.append(path)
        files = files[:MAX_FOLDER_FILES]
        self.status.setText(f"Checking {len(files)} file{'s' if len(files) != 1 else ''}…")
        self._tasks.run(self._services.library.add_files(files), label="Adding to the library",
                        on_success=self._added)

    def _added(self, results: list[Any]) -> None:
        kept = [r for r in results if r.error is None]
        refused = [r for r in results if r.error is not None]
        text = f"Added {len(kept)} file{'s' if len(kept) != 1 else ''}."
        if refused:
            text += " Skipped: " + " ".join(r.error for r in refused[:5])
            if len(refused) > 5:
                text += f" … and {len(refused) - 5} more."
        self.status.setText(text)
        self.refresh()

    # --- paste and attach --------------------------------------------------------------------

    def paste(self) -> None:
        """Ctrl+V: an image on the clipboard becomes a PNG in the library; copied files are
        added like dropped ones."""
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return
        if mime.hasUrls():
            paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
            if paths:
                self.add_paths(paths)
                return
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.status.setText("Adding the pasted image…")
                self._tasks.run(self._add_pasted(image), label="Adding the pasted image",
                                on_success=self._added)
                return
        self.status.setText("The clipboard holds no picture or file to add.")

    async def _add_pasted(self, image: QImage) -> list[Any]:
        folder = Path(tempfile.mkdtemp(prefix="mbv-paste-"))
        target = folder / f"Pasted image {datetime.now():%Y-%m-%d %H.%M.%S}.png"
        try:
            # QImage is not a QObject: encoding it on a worker thread is allowed (PNG: by name).
            if not await asyncio.to_thread(lambda: image.save(str(target))):
                raise InvalidInput("The pasted image could not be encoded as PNG.")
            return await self._services.library.add_files([target])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def selected_asset_ids(self) -> list[int]:
        rows = sorted(i.row() for i in self.grid.selectionModel().selectedIndexes())
        return [self.model.items[r].asset.id for r in rows]

    def _attach_selected(self) -> None:
        ids = self.selected_asset_ids()
        if not ids:
            self.status.setText("Select the media to attach first.")
            return
        self.attach_requested.emit(ids)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        accept_file_drag(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if paths := dropped_paths(event):
            self.add_paths(paths)
