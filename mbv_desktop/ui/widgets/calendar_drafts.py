"""The Schedule panel's "Drafts not scheduled yet": the most recently edited drafts with no post
waiting to go out (or already out), dragged onto a day or an hour of the calendar (or scheduled
with Enter), or several at once into an account's free time slots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QMimeData, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem, QWidget

from mbv_desktop.core.platforms import platform_label
from mbv_desktop.ui.widgets.calendar_entries import MIME_DRAFTS, drafts_mime, short_text

IdRole = Qt.ItemDataRole.UserRole


class UnscheduledDrafts(QListWidget):
    draft_activated = Signal(int)  # Enter or double-click: schedule this draft

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Unscheduled drafts")
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setUniformItemSizes(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.itemActivated.connect(
            lambda item: self.draft_activated.emit(int(item.data(IdRole))))

    def set_drafts(self, drafts: Sequence[Any]) -> None:
        """``DraftSummary`` rows, newest first; the selection is kept."""
        selected = set(self.selected_ids())
        current = self.currentItem()
        current_id = current.data(IdRole) if current is not None else None
        self.clear()
        for draft in drafts:
            platforms = ", ".join(platform_label(str(p)) for p in draft.platforms)
            item = QListWidgetItem(short_text(draft.title, 80), self)
            item.setData(IdRole, draft.id)
            item.setToolTip(f"{draft.title}\n" + (f"For {platforms}. " if platforms else "")
                            + "Drag onto the calendar to schedule it, or press Enter.")
            item.setSelected(draft.id in selected)
            if draft.id == current_id:
                self.setCurrentItem(item, QItemSelectionModel.SelectionFlag.NoUpdate)
        if self.count() == 0:
            self.setToolTip("Every draft is scheduled. New drafts show up here.")
        else:
            self.setToolTip("")

    def ids(self) -> list[int]:
        return [int(self.item(n).data(IdRole)) for n in range(self.count())]

    def selected_ids(self) -> list[int]:
        """In list order."""
        return [int(self.item(n).data(IdRole)) for n in range(self.count())
                if self.item(n).isSelected()]

    def select_ids(self, ids: Sequence[int]) -> None:
        wanted = set(ids)
        for n in range(self.count()):
            item = self.item(n)
            item.setSelected(int(item.data(IdRole)) in wanted)

    def mimeTypes(self) -> list[str]:
        return [MIME_DRAFTS]

    def mimeData(self, items: Sequence[QListWidgetItem]) -> QMimeData:
        ids = [int(i.data(IdRole)) for i in items]
        return drafts_mime(ids, "\n".join(i.text() for i in items))
