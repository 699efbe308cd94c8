"""The Create panel driven like a person would: typing, autosave, search, delete and undo,
platform counters. Everything goes through the real services and SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

from helpers import eventually
from PySide6.QtCore import Qt

from mbv_desktop.core.drafts import DraftQuery
from mbv_desktop.core.platforms import Platform


def _all_drafts(services: Any) -> list[Any]:
    async def load() -> list[Any]:
        result = await services.drafting.search(DraftQuery(), limit=1000)
        return [await services.drafting.get(s.id) for s in result.first_page]

    return asyncio.get_event_loop().run_until_complete(load())


def test_typing_into_an_empty_studio_creates_and_saves_a_draft(window: Any, loop: Any,
                                                                qtbot: Any) -> None:
    panel = window.create_panel
    assert panel.model.rowCount() == 0
    panel.editor.setFocus()
    qtbot.keyClicks(panel.editor, "My first post")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 1 and not panel.dirty))
    drafts = _all_drafts(window.services)
    assert [d.body for d in drafts] == ["My first post"]
    assert panel.save_status.text() == "Saved"
    assert panel.model.summary_at(0).title == "My first post"


def test_new_draft_shortcut_then_edit_tags_and_platforms(window: Any, loop: Any,
                                                         qtbot: Any) -> None:
    panel = window.create_panel
    qtbot.keySequence(window, "Ctrl+N")
    loop.run_until_complete(eventually(lambda: panel.current_draft_id is not None))
    qtbot.keyClicks(panel.editor, "Launch thread")
    panel.tags_edit.setFocus()
    qtbot.keyClicks(panel.tags_edit, "#launch, promo")
    panel.platform_boxes[Platform.X].click()
    panel.platform_boxes[Platform.TIKTOK].click()
    loop.run_until_complete(eventually(lambda: not panel.dirty, timeout=5))
    (draft,) = _all_drafts(window.services)
    assert draft.body == "Launch thread"
    assert draft.tags == ("launch", "promo")
    assert draft.platforms == (Platform.X, Platform.TIKTOK)


def test_x_counter_shows_weighted_length_and_the_problem(window: Any, loop: Any) -> None:
    panel = window.create_panel
    panel.platform_boxes[Platform.X].click()
    panel.platform_boxes[Platform.INSTAGRAM].click()
    panel.editor.setPlainText("日本語 https://example.com/a/very/long/path/indeed")
    loop.run_until_complete(eventually(
        lambda: any("/ 280" in t for t in panel.counters.counter_texts())))
    texts = panel.counters.counter_texts()
    assert "X  30 / 280" in texts  # 3 CJK x 2 + space + URL 23
    panel.editor.setPlainText("a" * 281)
    loop.run_until_complete(eventually(lambda: "X  281 / 280" in panel.counters.counter_texts()))
    assert any("280" in p for p in panel.counters.problem_texts())
    loop.run_until_complete(eventually(lambda: not panel.dirty))


def test_search_filters_the_list_and_clearing_brings_everything_back(window: Any, loop: Any,
                                                                     qtbot: Any) -> None:
    services = window.services

    async def fill() -> None:
        for text in ["Summer sale", "Winter coats", "Summer nights playlist"]:
            await services.drafting.create(text)

    loop.run_until_complete(fill())
    panel = window.create_panel
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 3))
    panel.search.setFocus()
    qtbot.keyClicks(panel.search, "summ")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 2))
    assert all("\x02" in panel.model.summary_at(i).snippet for i in range(2))
    assert panel.count_label.text() == "2 drafts"
    panel.search.clear()
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 3))


def test_ctrl_f_focuses_search(window: Any, loop: Any, qtbot: Any) -> None:
    window.create_panel.editor.setFocus()
    qtbot.keySequence(window, "Ctrl+F")
    loop.run_until_complete(eventually(window.create_panel.search.hasFocus))


def test_delete_then_undo_restores_the_draft(window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    loop.run_until_complete(services.drafting.create("keep me safe"))
    panel = window.create_panel
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 1))
    panel.list.setFocus()
    panel.list.setCurrentIndex(panel.model.index(0))
    qtbot.keyClick(panel.list, Qt.Key.Key_Delete)
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 0))
    assert panel.undo_button.isVisible()
    qtbot.keySequence(panel.list, "Ctrl+Z")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 1))
    assert panel.editor.toPlainText() == "keep me safe"


def test_switching_drafts_saves_the_one_being_left(window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services

    async def fill() -> tuple[int, int]:
        a = await services.drafting.create("first")
        b = await services.drafting.create("second")
        return a.id, b.id

    a_id, b_id = loop.run_until_complete(fill())
    panel = window.create_panel
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 2))
    panel.open_draft(a_id)
    assert panel.editor.toPlainText() == "first"
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(panel.editor, " edited")
    panel.open_draft(b_id)  # before the autosave timer fired
    assert panel.editor.toPlainText() == "second"
    loop.run_until_complete(window.tasks.wait_idle())
    bodies = {d.id: d.body for d in _all_drafts(services)}
    assert bodies[a_id] == "first edited"


def test_text_too_long_to_save_stays_in_the_editor_with_a_clear_message(window: Any, loop: Any,
                                                                        qtbot: Any) -> None:
    panel = window.create_panel
    qtbot.keyClicks(panel.editor, "start")
    loop.run_until_complete(eventually(lambda: not panel.dirty))
    panel.editor.setPlainText("y" * 300_000)
    loop.run_until_complete(eventually(lambda: panel.save_status.text().startswith("Not saved")))
    assert "200,000" in panel.save_status.text()
    assert len(panel.editor.toPlainText()) == 300_000
    assert window.tasks.last_error is None  # no dialog for it


def test_duplicate_makes_an_independent_copy(window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    original = loop.run_until_complete(
        services.drafting.create("Original text", tags=["promo"], platforms=[Platform.X]))
    panel = window.create_panel
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 1))
    panel.open_draft(original.id)
    qtbot.keySequence(window, "Ctrl+D")
    loop.run_until_complete(eventually(lambda: panel.model.rowCount() == 2
                                       and panel.current_draft_id != original.id))
    copy_id = panel.current_draft_id
    assert panel.editor.toPlainText() == "Original text"
    panel.editor.moveCursor(panel.editor.textCursor().MoveOperation.End)
    qtbot.keyClicks(panel.editor, " changed")
    loop.run_until_complete(eventually(lambda: not panel.dirty))
    drafts = {d.id: d for d in _all_drafts(services)}
    assert drafts[original.id].body == "Original text"
    assert drafts[copy_id].body == "Original text changed"
    assert drafts[copy_id].tags == ("promo",) and drafts[copy_id].platforms == (Platform.X,)


def test_tag_and_platform_filters_narrow_the_list(window: Any, loop: Any) -> None:
    services = window.services

    async def fill() -> None:
        await services.drafting.create("a", tags=["promo"], platforms=[Platform.X])
        await services.drafting.create("b", tags=["bts"], platforms=[Platform.TIKTOK])
        await services.drafting.create("c", tags=["promo"], platforms=[Platform.TIKTOK])

    loop.run_until_complete(fill())
    panel = window.create_panel
    loop.run_until_complete(eventually(lambda: panel.tag_filter.count() == 3, timeout=5))
    panel.tag_filter.setCurrentIndex(panel.tag_filter.findData("promo"))
    loop.run_until_complete(eventually(lambda: panel.model.total == 2))
    panel.platform_filter.setCurrentIndex(panel.platform_filter.findData(Platform.TIKTOK))
    loop.run_until_complete(eventually(lambda: panel.model.total == 1))
    assert panel.model.summary_at(0).title == "c"
