"""Generating copy from the Create panel: variants stream in, one goes into the draft, the cost
and the month's spend show, cancel keeps what arrived, a missing key says where to set it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import close_window, eventually
from tiny_openai_server import TinyOpenAI

from mbv_desktop.core.generation import Provider, TaskKind
from mbv_desktop.services.container import open_services
from mbv_desktop.ui.main_window import MainWindow


@pytest.fixture
def local_window(data_dir: Path, loop: Any) -> Iterator[tuple[Any, TinyOpenAI]]:
    from PySide6.QtCore import QCoreApplication, QEvent

    with TinyOpenAI() as server:
        services = open_services(data_dir, env={}, overrides={
            "local_ai.base_url": server.url, "local_ai.model": "tiny-chat",
            "ai.provider": "local"})
        asyncio.set_event_loop(loop)
        window = MainWindow(services, show_dialogs=False)
        window.show()
        loop.run_until_complete(eventually(lambda: window.create_panel.generate_box is not None))
        yield window, server
        loop.run_until_complete(close_window(window))
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        services.close()


def test_variants_stream_in_and_one_goes_into_the_draft(local_window: Any, loop: Any,
                                                         qtbot: Any) -> None:
    window, _server = local_window
    box = window.create_panel.generate_box
    assert box.provider is Provider.LOCAL
    box.task_box.setCurrentIndex(box.task_box.findData(TaskKind.X_POST))
    qtbot.keyClicks(box.topic_edit, "sunrise coffee")
    box.variants_box.setValue(2)
    qtbot.keySequence(window, "Ctrl+G")
    loop.run_until_complete(eventually(lambda: box.use_button.isEnabled(), timeout=10))
    texts = box.variant_texts()
    assert texts[0].startswith("Fresh v1 coffee") and texts[1].startswith("Fresh v2 coffee")
    assert "tokens" in box.status_label.text() and "$0.00" in box.status_label.text()
    box.variants.setCurrentIndex(1)
    box.use_button.click()
    panel = window.create_panel
    assert panel.editor.toPlainText() == texts[1].strip()
    loop.run_until_complete(eventually(lambda: panel.current_draft_id is not None
                                       and not panel.dirty))
    draft = loop.run_until_complete(window.services.drafting.get(panel.current_draft_id))
    assert draft.body == texts[1].strip()
    loop.run_until_complete(eventually(lambda: box.spend_label.text().startswith("This month")))


def test_a_cut_stream_is_kept_and_marked(local_window: Any, loop: Any) -> None:
    window, server = local_window
    server.cut_after = 3
    box = window.create_panel.generate_box
    box.topic_edit.setText("coffee")
    box.generate()
    loop.run_until_complete(eventually(lambda: box.use_button.isEnabled(), timeout=10))
    assert box.variant_texts()[0] == "Fresh coffee at"
    assert box.variants.tabText(0).endswith("(cut)")
    assert "kept" in box.status_label.text()


def test_missing_api_key_points_to_the_setting(window: Any, loop: Any) -> None:
    box = window.create_panel.generate_box
    box.provider_box.setCurrentIndex(box.provider_box.findData(Provider.OPENAI))
    box.topic_edit.setText("coffee")
    box.generate()
    loop.run_until_complete(eventually(lambda: "openai.api_key" in box.status_label.text()))
    assert box.generate_button.isEnabled()
    assert window.tasks.last_error is None  # said beside the button, not in a dialog


def test_an_edited_prompt_is_what_the_model_receives(local_window: Any, loop: Any) -> None:
    window, server = local_window
    box = window.create_panel.generate_box
    box.task_box.setCurrentIndex(box.task_box.findData(TaskKind.X_POST))
    box.edit_template()
    loop.run_until_complete(eventually(lambda: getattr(box, "_template_dialog", None)
                                       is not None and box._template_dialog.isVisible()))
    dialog = box._template_dialog
    dialog.user_edit.setPlainText("Write a haiku about {topic}.")
    dialog.accept()
    loop.run_until_complete(eventually(lambda: "saved" in box.status_label.text()))
    box.topic_edit.setText("harbour mornings")
    box.generate()
    loop.run_until_complete(eventually(lambda: box.use_button.isEnabled(), timeout=10))
    _method, _path, body = server.requests[-1]
    assert body["messages"][1]["content"] == "Write a haiku about harbour mornings."
