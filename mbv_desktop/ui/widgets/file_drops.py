"""Files dragged in from the desktop: the one place that reads them off a drag or drop."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QDragMoveEvent, QDropEvent


def accept_file_drag(event: QDragMoveEvent) -> bool:
    """Accepts a drag that carries files (URLs); says whether it did."""
    if event.mimeData().hasUrls():
        event.acceptProposedAction()
        return True
    return False


def dropped_paths(event: QDropEvent) -> list[Path]:
    """The local files of a drop (accepting it when there are any)."""
    paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
    if paths:
        event.acceptProposedAction()
    return paths
