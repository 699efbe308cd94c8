"""The Library panel: files dropped in are checked and shown with thumbnails; refused ones are
explained; Ctrl+2 gets there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers import eventually
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


def test_drop_files_and_a_folder_then_see_thumbnails(window: Any, loop: Any, qtbot: Any,
                                                      tmp_path: Path) -> None:
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i, colour in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (320 + i, 200), colour).save(folder / f"frame {i}.jpg", quality=90)
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture at all, just text that pretends")
    qtbot.keySequence(window, "Ctrl+2")
    assert window.current_panel == "library"
    panel = window.panels["library"]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(bad))])
    drop = QDropEvent(QPointF(QPoint(50, 50)), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    panel.dropEvent(drop)
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 3, timeout=10))
    assert "Added 3 files." in panel.status.text()
    assert "notes.png" in panel.status.text()  # the refused one, with its reason
    loop.run_until_complete(eventually(
        lambda: all(panel.model.data(panel.model.index(r), Qt.ItemDataRole.DecorationRole)
                    is not None for r in range(3)), timeout=10))
    names = {panel.model.data(panel.model.index(r)) for r in range(3)}
    assert names == {"frame 0.jpg", "frame 1.jpg", "frame 2.jpg"}
    panel.search.setText("frame 1")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 1))
