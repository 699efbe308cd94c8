"""The Library panel: files dropped in are checked and shown with thumbnails; refused ones are
explained; Ctrl+2 gets there."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually, shown_window
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from support.s3 import r2_env, s3, s3_server  # noqa: F401 - fixtures


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


# --- backups, paste, attach ----------------------------------------------------------------------

@pytest.fixture
def r2_window(data_dir: Path, r2_env: dict[str, str], loop: Any) -> Iterator[Any]:  # noqa: F811
    from mbv_desktop.services.container import open_services

    services = open_services(data_dir, env=r2_env)
    with shown_window(services, loop) as w:
        yield w
    services.close()


def _photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"shot {i}.png"
        Image.new("RGB", (200 + i, 150), (30 * i, 90, 200)).save(path)
        paths.append(path)
    return paths


def test_uploads_show_pause_resume_and_reach_the_bucket(r2_window: Any, loop: Any, qtbot: Any,
                                                         s3: Any, tmp_path: Path) -> None:  # noqa: F811
    window = r2_window
    qtbot.keySequence(window, "Ctrl+2")
    panel = window.panels["library"]
    view = panel.uploads_view
    uploads = window.services.uploads
    panel.add_paths(_photos(tmp_path / "shoot", 3))
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 3, timeout=10))
    loop.run_until_complete(uploads.enqueue_missing())
    loop.run_until_complete(eventually(lambda: view.model.rowCount() == 3, timeout=10))
    assert view.isVisible()
    view.pause_all_button.click()
    loop.run_until_complete(eventually(
        lambda: [view.model.data(view.model.index(r, 2)) for r in range(3)] == ["Paused"] * 3))
    loop.run_until_complete(eventually(
        lambda: window.status.backup_label.text() == "3 waiting to upload"))
    uploads.start()
    loop.run_until_complete(asyncio.sleep(0.3))
    assert s3.keys() == []  # paused means paused
    view.resume_all_button.click()
    loop.run_until_complete(eventually(lambda: len(s3.keys("default/")) == 3, timeout=15))
    loop.run_until_complete(eventually(lambda: not view.isVisible(), timeout=10))
    loop.run_until_complete(eventually(
        lambda: window.status.backup_label.text() == "Backed up"))


def test_paste_an_image_then_attach_it_to_the_draft(window: Any, loop: Any, qtbot: Any) -> None:
    from PySide6.QtGui import QGuiApplication, QImage

    qtbot.keySequence(window, "Ctrl+2")
    panel = window.panels["library"]
    image = QImage(120, 80, QImage.Format.Format_RGB32)
    image.fill(0x3366CC)
    QGuiApplication.clipboard().setImage(image)
    panel.grid.setFocus()
    qtbot.keySequence(panel, "Ctrl+V")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 1, timeout=10))
    name = panel.model.data(panel.model.index(0))
    assert name.startswith("Pasted image ") and name.endswith(".png")
    assert panel.model.items[0].asset.width == 120
    QGuiApplication.clipboard().setText("just words")
    panel.paste()
    assert "no picture" in panel.status.text()
    assert panel.model.rowCount() == 1  # nothing added, nothing lost

    panel.grid.setCurrentIndex(panel.model.index(0))
    qtbot.keySequence(panel.grid, "Ctrl+Return")
    create = window.create_panel
    loop.run_until_complete(eventually(lambda: create.attachments_model.rowCount() == 1,
                                       timeout=10))
    assert window.current_panel == "create"
    assert create.current_draft_id is not None


def test_only_items_on_screen_get_thumbnails(window: Any, loop: Any, qtbot: Any,
                                             tmp_path: Path) -> None:
    qtbot.keySequence(window, "Ctrl+2")
    panel = window.panels["library"]
    panel.add_paths(_photos(tmp_path / "many", 60))
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 60, timeout=30))
    loop.run_until_complete(asyncio.sleep(0.3))
    asked = len(panel.model._asked)
    assert 0 < asked < 60  # the window shows a few rows, not all sixty
    panel.grid.scrollToBottom()
    loop.run_until_complete(eventually(lambda: 59 in {
        panel.model._rows[a] for a in panel.model._asked}, timeout=10))


def test_search_finds_media_by_the_tags_of_their_drafts(window: Any, loop: Any, qtbot: Any,
                                                        tmp_path: Path) -> None:
    services = window.services
    [first, _second] = loop.run_until_complete(services.library.add_files(
        _photos(tmp_path / "tagged", 2)))
    draft = loop.run_until_complete(services.drafting.create("Launch", tags=["launch"]))
    loop.run_until_complete(services.library.attach(draft.id, [first.asset.id]))
    qtbot.keySequence(window, "Ctrl+2")
    panel = window.panels["library"]
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 2))
    panel.search.setText("#launch")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 1))
    assert panel.model.items[0].asset.id == first.asset.id
    panel.search.setText("image/png")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 2))
