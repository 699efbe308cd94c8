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


def test_files_dropped_on_the_editor_are_attached_and_checked_per_platform(
        window: Any, loop: Any, qtbot: Any, tmp_path: Path) -> None:
    from mbv_desktop.core.platforms import Platform

    files = []
    for i in range(5):
        f = tmp_path / f"photo {i}.jpg"
        Image.new("RGB", (1080, 1350), (40 * i, 80, 160)).save(f, quality=85)
        files.append(f)
    panel = window.create_panel
    qtbot.keyClicks(panel.editor, "Five photos from the shoot")
    panel.platform_boxes[Platform.X].click()
    panel.platform_boxes[Platform.INSTAGRAM].click()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(f)) for f in files])
    drop = QDropEvent(QPointF(QPoint(20, 20)), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    # Qt delivers drops only during a real drag, so hand the event to the editor's filter the
    # way Qt would.
    assert panel.eventFilter(panel.editor.viewport(), drop)
    loop.run_until_complete(eventually(lambda: panel.attachments_model.rowCount() == 5,
                                       timeout=10))
    assert panel.attachments.isVisible()
    assert panel.editor.toPlainText() == "Five photos from the shoot"  # no paths pasted in
    loop.run_until_complete(eventually(
        lambda: any("at most 4" in p for p in panel.counters.problem_texts())))
    problems = panel.counters.problem_texts()
    assert not any("Instagram" in p for p in problems)  # a 5-photo carousel is fine
    # remove one: X is happy with 4
    panel.attachments.setFocus()
    panel.attachments.setCurrentIndex(panel.attachments_model.index(0))
    qtbot.keyClick(panel.attachments, Qt.Key.Key_Delete)
    loop.run_until_complete(eventually(lambda: panel.attachments_model.rowCount() == 4))
    loop.run_until_complete(eventually(
        lambda: not any("at most 4" in p for p in panel.counters.problem_texts())))
