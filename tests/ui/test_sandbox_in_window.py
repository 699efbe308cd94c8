"""The window on the sandbox: generation end to end through the OpenAI emulator, an image into
the draft, and faults switched from the Sandbox menu."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import close_window, eventually

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.generation import Provider, TaskKind
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import open_services
from mbv_desktop.ui.main_window import MainWindow


@pytest.fixture
def sandbox_window(data_dir: Path, tmp_path: Path, loop: Any) -> Iterator[Any]:
    from PySide6.QtCore import QCoreApplication, QEvent

    host = SandboxHost(tmp_path / "sandbox")
    host.start()
    services = open_services(data_dir, env={}, overrides=sandbox_overrides(host.urls()),
                             sandbox=True, sandbox_control_url=host.control_url)
    asyncio.set_event_loop(loop)
    window = MainWindow(services, show_dialogs=False)
    window.show()
    loop.run_until_complete(eventually(lambda: window.create_panel.generate_box is not None))
    yield window
    loop.run_until_complete(close_window(window))
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    services.close()
    host.stop()


def _menu_action(window: Any, *path: str) -> Any:
    actions = window.menuBar().actions()
    for name in path:
        action = next(a for a in actions if a.text().replace("&", "") == name)
        actions = action.menu().actions() if action.menu() else []
    return action


def test_generate_copy_and_an_image_on_the_sandbox(sandbox_window: Any, loop: Any) -> None:
    window = sandbox_window
    assert window.status.mode_badge.text() == "Sandbox"
    box = window.create_panel.generate_box
    box.provider_box.setCurrentIndex(box.provider_box.findData(Provider.OPENAI))
    box.task_box.setCurrentIndex(box.task_box.findData(TaskKind.INSTAGRAM_CAPTION))
    box.topic_edit.setText("sunrise coffee cart")
    box.variants_box.setValue(3)
    box.generate()
    loop.run_until_complete(eventually(lambda: box.use_button.isEnabled(), timeout=15))
    texts = box.variant_texts()
    assert len(texts) == 3 and all("coffee" in t.lower() for t in texts)
    assert len(set(texts)) == 3  # three different variants
    assert "$" in box.status_label.text()  # the run's cost is shown
    box.use_button.click()
    panel = window.create_panel
    loop.run_until_complete(eventually(lambda: panel.current_draft_id is not None
                                       and not panel.dirty))
    box.generate_image()
    loop.run_until_complete(eventually(lambda: box._image_dialog.isVisible()))
    dialog = box._image_dialog
    assert dialog.values()["prompt"] == "sunrise coffee cart"  # prefilled from the topic
    dialog.quality_box.setCurrentText("hd")
    dialog.accept()
    loop.run_until_complete(eventually(lambda: box.image_button.isEnabled()
                                       and "Image" in box.status_label.text(), timeout=15))
    assert "attached to this draft" in box.status_label.text()
    assert "$0.08" in box.status_label.text()  # DALL-E 3, 1024x1024, hd
    loop.run_until_complete(eventually(
        lambda: box.spend_label.text().startswith("This month: $0.1")))  # 0.08 + the copy
    assets = loop.run_until_complete(window.services.worker.call(
        lambda c: c.execute("SELECT prompt, source FROM assets").fetchall(), write=False))
    assert [tuple(a) for a in assets] == [("sunrise coffee cart", "generated")]


def test_sandbox_menu_cuts_the_next_stream(sandbox_window: Any, loop: Any) -> None:
    window = sandbox_window
    _menu_action(window, "Sandbox", "OpenAI", "Cut the next stream half-way").trigger()
    loop.run_until_complete(eventually(
        lambda: "cut the next stream" in window.status.currentMessage().lower()))
    box = window.create_panel.generate_box
    box.provider_box.setCurrentIndex(box.provider_box.findData(Provider.OPENAI))
    box.topic_edit.setText("sunrise coffee cart")
    box.generate()
    loop.run_until_complete(eventually(lambda: box.use_button.isEnabled(), timeout=15))
    assert box.variants.tabText(0).endswith("(cut)")
    assert "unfinished" in box.status_label.text() or "kept" in box.status_label.text()
