"""Library items as a Qt list model. Thumbnails are asked for (``thumbnail_wanted``) the first
time the view wants to draw an item, and arrive later through ``set_thumbnail``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QWidget

_Index = QModelIndex | QPersistentModelIndex


class AssetGridModel(QAbstractListModel):
    """Library items; thumbnails arrive later through ``set_thumbnail``."""

    thumbnail_wanted = Signal(object)  # the item, once per item

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.items: list[Any] = []
        self._icons: dict[int, QIcon] = {}
        self._asked: set[int] = set()
        self._rows: dict[int, int] = {}

    def rowCount(self, parent: _Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.name
        if role == Qt.ItemDataRole.DecorationRole:
            icon = self._icons.get(item.asset.id)
            if icon is None and item.asset.id not in self._asked:
                self._asked.add(item.asset.id)
                self.thumbnail_wanted.emit(item)
            return icon
        if role == Qt.ItemDataRole.ToolTipRole:
            a = item.asset
            size = f"{a.width}×{a.height}, " if a.width else ""
            return f"{item.name}\n{a.mime}, {size}{a.bytes / 1e6:.1f} MB"
        return None

    def reset_items(self, items: list[Any]) -> None:
        self.beginResetModel()
        self.items = items
        self._rows = {item.asset.id: row for row, item in enumerate(items)}
        self._asked &= set(self._icons)  # a failed or cancelled request may be asked again
        self.endResetModel()

    def set_thumbnail(self, asset_id: int, path: Path) -> None:
        pixmap = QPixmap(str(path))
        if pixmap.isNull():
            return
        self._icons[asset_id] = QIcon(pixmap)
        row = self._rows.get(asset_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
