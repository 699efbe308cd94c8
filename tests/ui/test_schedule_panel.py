"""The Schedule panel on the real window, real services and SQLite, in Europe/Berlin time.

Posts are placed at the right local day and hour in Month, Week and Queue; a failed post says
why in its tooltip and an account to reconnect is marked; a scheduled post dragged to another
hour moves (in SQLite) and Ctrl+Z moves it back; a published post can't be dragged; a draft
dropped on the calendar opens the Schedule dialog at that time; time slots are added and removed
and "next free slot" skips a taken one; several drafts go into the next free slots at once; a
09:00 post moved across a DST change stays at 09:00.

Drags: the offscreen platform has no drag-and-drop loop (``QDrag.exec`` returns IgnoreAction at
once, checked below), so a drag is started with real mouse events where that matters (a refused
drag never gets to ``exec``) and the drop is delivered as Qt would deliver it: real
QDragEnter/QDragMove/QDrop events, carrying the MIME data the dragging widget itself produced,
sent to the calendar's viewport.
"""

from __future__ import annotations

import asyncio
import time as time_module
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import eventually
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTime
from PySide6.QtGui import QDrag, QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from mbv_desktop.core.scheduling import plan_instant
from mbv_desktop.services.scheduling import PostsChanged
from mbv_desktop.ui.widgets.calendar_entries import post_mime
from mbv_desktop.ui.widgets.calendar_week import monday_of

BERLIN = "Europe/Berlin"
ACTIONS = Qt.DropAction.MoveAction | Qt.DropAction.CopyAction


@pytest.fixture(autouse=True)
def berlin_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's clock is in Berlin for these tests (the panel shows local time)."""
    monkeypatch.setenv("TZ", BERLIN)
    time_module.tzset()
    yield
    monkeypatch.undo()
    time_module.tzset()


# --- helpers -------------------------------------------------------------------------------------

def connect(loop: Any, services: Any, provider: str, account_id: str, handle: str) -> None:
    """A connected publishing account, as the Accounts panel records it (nothing is sent in
    these tests, so no token is needed)."""
    from mbv_desktop.store.accounts import AccountRepository

    loop.run_until_complete(services.worker.call(lambda c: AccountRepository(c).upsert(
        provider=provider, role="publish", account_id=account_id, handle=handle,
        at=datetime.now(UTC))))


def mark_needs_reconnect(loop: Any, services: Any, provider: str, account_id: str) -> None:
    loop.run_until_complete(services.accounts.mark_needs_reconnect(provider, account_id))


def schedule(loop: Any, services: Any, body: str, accounts: list[str], local: datetime,
             zone: str = BERLIN) -> Any:
    async def go() -> Any:
        draft = await services.drafting.create(body)
        return await services.scheduling.schedule(draft.id, accounts, plan_instant(local, zone))

    return loop.run_until_complete(go())


def set_state(loop: Any, services: Any, target_id: int, state: str, **fields: Any) -> None:
    """Moves an outbox row the way the publisher would (published with its link, failed with
    its reason)."""
    from mbv_desktop.store.posts import PostRepository

    loop.run_until_complete(services.worker.call(lambda c: PostRepository(c).move(
        target_id, state, f"test: {state}", at=datetime.now(UTC), **fields)))
    services.scheduling.events.publish(PostsChanged((target_id,)))


async def _local_of(services: Any, target_id: int) -> datetime:
    rows = await services.scheduling.targets()
    row = next(r for r in rows if r.id == target_id)
    return row.scheduled_at.astimezone(ZoneInfo(BERLIN)).replace(tzinfo=None)


def local_of(loop: Any, services: Any, target_id: int) -> datetime:
    """Where a target is scheduled, in Berlin wall-clock time, read back from SQLite."""
    return loop.run_until_complete(_local_of(services, target_id))


def wait_until_at(loop: Any, services: Any, target_id: int, expected: datetime) -> None:
    """Waits until SQLite has the target at ``expected`` (Berlin wall-clock time)."""

    async def poll() -> None:
        deadline = time_module.monotonic() + 5
        while (found := await _local_of(services, target_id)) != expected:
            assert time_module.monotonic() < deadline, f"still at {found}, not {expected}"
            await asyncio.sleep(0.02)

    loop.run_until_complete(poll())


def upcoming(weekday: int, hour: int, minute: int = 0, weeks: int = 0) -> datetime:
    """The next ``weekday`` at least two days ahead (so nothing is due while testing)."""
    start = date.today() + timedelta(days=2)
    day = start + timedelta(days=(weekday - start.weekday()) % 7 + 7 * weeks)
    return datetime.combine(day, time(hour, minute))


def open_panel(window: Any, loop: Any, qtbot: Any) -> Any:
    qtbot.keySequence(window, "Ctrl+3")
    assert window.current_panel == "schedule"
    panel = window.panels["schedule"]
    loop.run_until_complete(eventually(lambda: panel._loaded and not panel._stale))
    return panel


def wait_for_post(loop: Any, panel: Any, post_id: int) -> Any:
    loop.run_until_complete(eventually(lambda: post_id in panel.week.by_id))
    return panel.week.by_id[post_id]


def cell_point(grid: Any, row: int, column: int) -> QPoint:
    index = grid.model().index(row, column)
    grid.scrollTo(index)
    return grid.visualRect(index).center()


def drop_on(grid: Any, mime: QMimeData, row: int, column: int) -> bool:
    """Delivers a drag over, then a drop on, a cell, as Qt does at the end of a drag."""
    pos = cell_point(grid, row, column)
    viewport = grid.viewport()
    enter = QDragEnterEvent(pos, ACTIONS, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, enter)
    assert enter.isAccepted()
    move = QDragMoveEvent(pos, ACTIONS, mime, Qt.MouseButton.LeftButton,
                          Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, move)
    assert move.isAccepted() and grid.drop_cell == (row, column)
    drop = QDropEvent(QPointF(pos), ACTIONS, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, drop)
    assert grid.drop_cell is None
    return drop.isAccepted()


def press_and_drag(qtbot: Any, grid: Any, post_id: int) -> None:
    """A real mouse press on a post's chip and a move past the drag distance."""
    grid.show_entry(post_id)
    start = grid.chip_center(post_id)
    assert start is not None
    qtbot.mousePress(grid.viewport(), Qt.MouseButton.LeftButton, pos=start)
    assert grid.selected_post == post_id
    qtbot.mouseMove(grid.viewport(), start + QPoint(QApplication.startDragDistance() + 12, 0))
    qtbot.mouseRelease(grid.viewport(), Qt.MouseButton.LeftButton, pos=start)


def photos(folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(n):
        path = folder / f"p{i}.png"
        Image.new("RGB", (64 + i, 64), (40 * i, 90, 200)).save(path)
        paths.append(path)
    return paths


# --- tests ---------------------------------------------------------------------------------------

def test_a_post_shows_at_its_local_day_and_hour_in_month_week_and_queue(
        window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    when = upcoming(1, 14, 30, weeks=5)  # a Tuesday, five weeks on: the views must page there
    done = schedule(loop, services, "Launch day: the new preset pack", ["1001"], when)
    panel = open_panel(window, loop, qtbot)
    wait_for_post(loop, panel, done.post_id)

    assert panel.tabs.currentWidget() is panel.month_tab  # the calendar first
    month = panel.month
    month.setFocus()
    pages = 0
    while month.month != when.date().replace(day=1):
        qtbot.keyClick(month, Qt.Key.Key_PageDown)
        pages += 1
        assert pages < 4
    row, column = month.cell_of(when)
    assert month.day(row, column) == when.date() and column == 1
    assert month.cells[(row, column)][0].post_id == done.post_id
    assert "14:30 X Launch day" in month.item(row, column).text()
    assert panel.month_page.title.text() == f"{when:%B %Y}"
    qtbot.keyClick(month, Qt.Key.Key_Home)
    assert month.month == date.today().replace(day=1)

    qtbot.keySequence(panel, "Alt+W")
    assert panel.tabs.currentWidget() is panel.week_tab
    week = panel.week
    week.setFocus()
    for _ in range((monday_of(when.date()) - monday_of(date.today())).days // 7):
        qtbot.keyClick(week, Qt.Key.Key_PageDown)
    assert week.start == monday_of(when.date())
    assert [e.post_id for e in week.cells[(14, 1)]] == [done.post_id]
    assert week.horizontalHeaderItem(1).text() == f"Tue {when:%d %b}"
    qtbot.keyClick(week, Qt.Key.Key_PageUp)
    assert week.cells == {} or all(e.post_id != done.post_id for es in week.cells.values()
                                   for e in es)
    qtbot.keyClick(week, Qt.Key.Key_Home)
    assert week.start == monday_of(date.today())

    qtbot.keySequence(panel, "Alt+Q")
    assert panel.tabs.currentWidget() is panel.queue
    assert panel.queue.topLevelItem(0).text(0) == f"{when:%a %d %b %H:%M}"
    assert panel.queue.topLevelItem(0).text(3) == "Scheduled"


def test_problems_show_on_the_calendar_item_with_their_reason(
        window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    connect(loop, services, "x", "2002", "maya_studio")
    failed = schedule(loop, services, "This one was refused", ["1001"], upcoming(2, 9))
    waiting = schedule(loop, services, "This one waits for a reconnect", ["2002"],
                       upcoming(2, 11))
    fine = schedule(loop, services, "This one is fine", ["1001"], upcoming(2, 15))
    set_state(loop, services, failed.targets[0].id, "failed",
              last_error="X refused it: you already posted this text.")
    mark_needs_reconnect(loop, services, "x", "2002")
    panel = open_panel(window, loop, qtbot)
    loop.run_until_complete(eventually(
        lambda: panel.week.by_id.get(failed.post_id) is not None
        and panel.week.by_id[failed.post_id].tone == "warning"
        and panel.week.by_id.get(waiting.post_id) is not None
        and panel.week.by_id[waiting.post_id].tone == "warning"))

    week = panel.week
    qtbot.keySequence(panel, "Alt+W")
    week.show_entry(failed.post_id)
    entry = week.by_id[failed.post_id]
    assert "you already posted this text" in entry.tooltip
    assert entry.label.startswith("⚠ 09:00 X")
    row, column = week.cell_of(entry.when)
    assert "you already posted this text" in week.item(row, column).toolTip()
    # the tooltip a person sees when hovering the chip (showing a real one makes the
    # offscreen platform warn that it can't raise a window)
    assert "you already posted this text" in week.tooltip_at(week.chip_center(failed.post_id))
    assert panel.retry_button.isEnabled() and not panel.cancel_button.isEnabled()

    reconnect = week.by_id[waiting.post_id]
    assert "needs to be reconnected" in reconnect.tooltip and reconnect.movable
    assert week.by_id[fine.post_id].tone == "pending"
    assert week.by_id[fine.post_id].problems == ()

    week.show_entry(fine.post_id)
    week.setFocus()
    qtbot.keyClick(week, Qt.Key.Key_Return)  # Enter: the history of the selected post
    loop.run_until_complete(eventually(lambda: "This one is fine" in
                                       panel.history.toPlainText()))
    assert "Scheduled: scheduled for" in panel.history.toPlainText()


def test_dragging_a_scheduled_post_to_another_hour_moves_it_and_ctrl_z_moves_it_back(
        window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    when = upcoming(2, 10, 15)
    done = schedule(loop, services, "Move me around", ["1001"], when)
    target = done.targets[0].id
    panel = open_panel(window, loop, qtbot)
    qtbot.keySequence(panel, "Alt+W")
    week = panel.week
    entry = wait_for_post(loop, panel, done.post_id)
    week.show_entry(done.post_id)

    # The real mouse starts the drag; offscreen Qt has no drag loop, so exec() returns at once.
    probe = QDrag(week)
    probe.setMimeData(post_mime(entry))
    assert probe.exec(Qt.DropAction.MoveAction) == Qt.DropAction.IgnoreAction
    press_and_drag(qtbot, week, done.post_id)
    assert local_of(loop, services, target) == when  # nothing moved by itself

    column = week.cell_of(entry.when)[1]
    assert drop_on(week, post_mime(entry), 13, column)
    wait_until_at(loop, services, target, when.replace(hour=13))
    loop.run_until_complete(eventually(lambda: week.cell_of(
        week.by_id[done.post_id].when) == (13, column)))
    assert "Ctrl+Z" in panel.status.text()
    assert panel.undo_button.isEnabled()

    week.setFocus()
    qtbot.keySequence(week, "Ctrl+Z")
    wait_until_at(loop, services, target, when)
    loop.run_until_complete(eventually(lambda: "back to" in panel.status.text()))

    # the keyboard way: Alt+Down is an hour later, Alt+Right a day later
    loop.run_until_complete(eventually(lambda: week.by_id[done.post_id].when.hour == 10))
    week.show_entry(done.post_id)
    qtbot.keyClick(week, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    wait_until_at(loop, services, target, when.replace(hour=11))
    loop.run_until_complete(eventually(lambda: week.by_id[done.post_id].when.hour == 11))
    qtbot.keyClick(week, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    wait_until_at(loop, services, target, when.replace(hour=11) + timedelta(days=1))
    panel.undo_button.click()
    wait_until_at(loop, services, target, when.replace(hour=11))


def test_a_published_post_cannot_be_dragged(window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    when = upcoming(3, 8, 45)
    done = schedule(loop, services, "Already out there", ["1001"], when)
    set_state(loop, services, done.targets[0].id, "published",
              url="https://x.com/maya_creates/status/1", published_at=datetime.now(UTC))
    panel = open_panel(window, loop, qtbot)
    qtbot.keySequence(panel, "Alt+W")
    week = panel.week
    loop.run_until_complete(eventually(
        lambda: week.by_id.get(done.post_id) is not None
        and week.by_id[done.post_id].tone == "published"))
    entry = week.by_id[done.post_id]
    assert not entry.movable

    press_and_drag(qtbot, week, done.post_id)
    assert panel.status.text() == ("“Already out there” can't be moved: it was already "
                                   "published.")
    assert panel.open_button.isEnabled() and not panel.cancel_button.isEnabled()
    panel.status.clear()
    # dropped anyway (from another window, say): still refused, nothing changes
    assert drop_on(week, post_mime(entry), 20, week.cell_of(entry.when)[1])
    assert "can't be moved" in panel.status.text()
    qtbot.keyClick(week, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
    assert "can't be moved" in panel.status.text()
    loop.run_until_complete(window.tasks.wait_idle())
    assert local_of(loop, services, done.targets[0].id) == when


def test_a_draft_dropped_on_the_calendar_opens_the_schedule_dialog_at_that_time(
        window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    draft = loop.run_until_complete(services.drafting.create("A fresh idea for Friday"))
    other = loop.run_until_complete(services.drafting.create("Another idea"))
    panel = open_panel(window, loop, qtbot)
    loop.run_until_complete(eventually(lambda: draft.id in panel.drafts.ids()))

    # several drafts at once: the calendar says to use the time slots instead
    panel.drafts.select_ids([draft.id, other.id])
    items = panel.drafts.selectedItems()
    several = panel.drafts.model().mimeData([panel.drafts.indexFromItem(i) for i in items])
    month = panel.month
    assert drop_on(month, several, 2, 2)
    assert "one draft at a time" in panel.status.text()
    assert panel.schedule_dialog is None

    # one draft on a day of the month: offered at 09:00 that day
    panel.drafts.select_ids([draft.id])
    item = panel.drafts.selectedItems()[0]
    mime = panel.drafts.model().mimeData([panel.drafts.indexFromItem(item)])
    assert drop_on(month, mime, 4, 4)
    dialog = panel.schedule_dialog
    day = month.day(4, 4)
    assert dialog.draft_id == draft.id
    chosen = dialog.when.dateTime()
    if day != date.today():
        assert (chosen.date().toPython(), chosen.time().hour()) == (day, 9)
    dialog.reject()

    # one draft on an hour of the week, then scheduled from the dialog
    qtbot.keySequence(panel, "Alt+W")
    week = panel.week
    week.go(1)
    assert drop_on(week, mime, 16, 4)
    dialog = panel.schedule_dialog
    at = datetime.combine(week.start + timedelta(days=4), time(16))
    chosen = dialog.when.dateTime()
    assert (chosen.date().toPython(), chosen.time().hour(), chosen.time().minute()) == (
        at.date(), 16, 0)
    assert dialog.zone.currentText() == BERLIN
    loop.run_until_complete(eventually(lambda: "1001" in dialog.account_boxes))
    dialog.account_boxes["1001"].setChecked(True)
    loop.run_until_complete(eventually(lambda: dialog.schedule_button.isEnabled()))
    dialog.schedule_button.click()
    loop.run_until_complete(eventually(lambda: dialog.scheduled is not None))
    target = dialog.scheduled.targets[0].id
    assert local_of(loop, services, target) == at
    loop.run_until_complete(eventually(lambda: draft.id not in panel.drafts.ids()))
    assert other.id in panel.drafts.ids()
    assert [e.post_id for e in week.cells[(16, 4)]] == [dialog.scheduled.post_id]


def test_time_slots_are_added_and_removed_and_next_free_slot_skips_a_taken_one(
        window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    panel = open_panel(window, loop, qtbot)
    loop.run_until_complete(eventually(lambda: panel.bulk_account.count() == 1))

    qtbot.keySequence(panel, "Alt+L")  # Time slots… (a mnemonic clicks after a short flash)
    loop.run_until_complete(eventually(lambda: panel.slots_dialog is not None))
    dialog = panel.slots_dialog
    loop.run_until_complete(eventually(lambda: dialog.current_account() == ("x", "1001")))
    loop.run_until_complete(eventually(lambda: "No slots yet" in dialog.next_free.text()))
    for weekday in (1, 3):  # Tuesday and Thursday at 09:00
        dialog.weekday.setCurrentIndex(weekday)
        dialog.time.setTime(QTime(9, 0))
        dialog.zone.setCurrentText(BERLIN)
        dialog.add_button.click()
        loop.run_until_complete(eventually(lambda n=weekday: dialog.slots.count() == (
            1 if n == 1 else 2)))
    assert [dialog.slots.item(n).text() for n in range(2)] == [
        "Tuesday 09:00 (Europe/Berlin)", "Thursday 09:00 (Europe/Berlin)"]
    dialog.add_button.click()  # Thursday 09:00 again
    loop.run_until_complete(eventually(lambda: "already is a slot" in dialog.problems.text()))
    assert dialog.slots.count() == 2

    # the week shows the slots as faint marks
    week = panel.week
    loop.run_until_complete(eventually(lambda: len(week.marks) == 2))
    assert set(week.marks) == {(9, 1), (9, 3)}
    assert "Time slot 09:00: X @maya_creates" in week.item(9, 1).toolTip()

    # the next Tuesday slot gets a post: "Next free slot" skips it
    tuesday = upcoming(1, 9)
    schedule(loop, services, "Tuesday is taken", ["1001"], tuesday)
    thursday = datetime.combine(
        tuesday.date() + timedelta(days=2), time(9))
    draft = loop.run_until_complete(services.drafting.create("Which slot is mine?"))
    schedule_dialog = panel.open_schedule_dialog(draft.id)
    loop.run_until_complete(eventually(lambda: "1001" in schedule_dialog.account_boxes))
    schedule_dialog.account_boxes["1001"].setChecked(True)
    after = datetime.combine(tuesday.date() - timedelta(days=2), time(0), ZoneInfo(BERLIN))
    free = loop.run_until_complete(services.time_slots.next_free("x", "1001", after))
    assert free.local == thursday
    schedule_dialog.next_free_button.click()
    expected = loop.run_until_complete(services.time_slots.next_free("x", "1001"))
    loop.run_until_complete(eventually(
        lambda: schedule_dialog.when.dateTime().toPython() == expected.local))
    assert schedule_dialog.zone.currentText() == BERLIN
    schedule_dialog.reject()

    # removing a slot (Delete in the list)
    dialog.slots.setCurrentRow(0)
    dialog.remove_button.click()
    loop.run_until_complete(eventually(lambda: dialog.slots.count() == 1))
    assert dialog.slots.item(0).text() == "Thursday 09:00 (Europe/Berlin)"
    loop.run_until_complete(eventually(lambda: set(week.marks) == {(9, 3)}))
    dialog.reject()


def test_bulk_schedule_puts_drafts_into_the_next_free_slots_and_names_the_skipped(
        window: Any, loop: Any, qtbot: Any, tmp_path: Path) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    connect(loop, services, "instagram", "17841", "maya.makes")

    async def prepare() -> list[int]:
        for weekday in (0, 2, 4):
            await services.time_slots.add("x", "1001", weekday, "10:00", BERLIN)
        ids = []
        for body in ("Bulk one", "Bulk two: five photos is too many for X", "Bulk three"):
            ids.append((await services.drafting.create(body)).id)
        items = await services.library.add_files(photos(tmp_path / "five", 5))
        await services.library.attach(ids[1], [i.asset.id for i in items])
        return ids

    ids = loop.run_until_complete(prepare())
    expected = []
    after = datetime.now(UTC)
    for _ in range(2):
        free = loop.run_until_complete(services.time_slots.next_free("x", "1001", after))
        expected.append(free.local)
        after = free.instant
    panel = open_panel(window, loop, qtbot)
    loop.run_until_complete(eventually(lambda: set(ids) <= set(panel.drafts.ids())
                                       and panel.bulk_account.count() == 2))
    assert not panel.bulk_button.isEnabled()  # nothing selected yet
    panel.drafts.select_ids(ids)
    panel.bulk_account.setCurrentIndex(panel.bulk_account.findData("x:1001"))
    assert panel.bulk_button.isEnabled()
    qtbot.keySequence(panel, "Alt+N")
    loop.run_until_complete(eventually(lambda: "Skipped 1" in panel.status.text()))
    status = panel.status.text()
    assert "Scheduled 2 into free time slots" in status
    assert "Skipped 1: “Bulk two" in status and "at most 4 images" in status

    pending = loop.run_until_complete(services.scheduling.targets("pending"))
    placed = {r.draft_id: r.scheduled_at.astimezone(ZoneInfo(BERLIN)).replace(tzinfo=None)
              for r in pending}
    # in the list's order, newest first
    assert placed == {ids[2]: expected[0], ids[0]: expected[1]}
    loop.run_until_complete(eventually(lambda: panel.drafts.ids() == [ids[1]]))


def _next_berlin_switch(after: date) -> date:
    """The next Sunday the clocks change in Berlin (the last Sunday of March or October)."""
    for year in (after.year, after.year + 1):
        for month in (3, 10):
            last = date(year, month, 31)
            sunday = last - timedelta(days=(last.weekday() - 6) % 7)
            if sunday > after:
                return sunday
    raise AssertionError("no switch found")


def test_nine_in_berlin_stays_nine_in_the_week_view_across_the_dst_change(
        window: Any, loop: Any, qtbot: Any) -> None:
    services = window.services
    connect(loop, services, "x", "1001", "maya_creates")
    switch = _next_berlin_switch(date.today() + timedelta(days=7))
    before = datetime.combine(switch - timedelta(days=6), time(9))  # the Monday before
    done = schedule(loop, services, "Monday at nine", ["1001"], before, zone=BERLIN)
    target = done.targets[0].id
    panel = open_panel(window, loop, qtbot)
    entry = wait_for_post(loop, panel, done.post_id)
    assert entry.when == before

    # drag it a week on, across the change, in the month view: the time of day stays
    month = panel.month
    month.show_entry(done.post_id)
    row, column = month.cell_of(before)
    assert drop_on(month, post_mime(entry), row + 1, column)
    after = before + timedelta(days=7)
    wait_until_at(loop, services, target, after)
    rows = loop.run_until_complete(services.scheduling.targets())
    moved = next(r for r in rows if r.id == target)
    assert moved.local_time == after.isoformat(timespec="minutes")
    assert moved.time_zone == BERLIN
    old_instant = plan_instant(before, BERLIN).instant
    assert moved.scheduled_at - old_instant != timedelta(days=7)  # the clocks changed

    qtbot.keySequence(panel, "Alt+W")
    week = panel.week
    loop.run_until_complete(eventually(lambda: week.by_id[done.post_id].when == after))
    week.show_entry(done.post_id)
    assert week.start == after.date()
    assert [e.post_id for e in week.cells[(9, 0)]] == [done.post_id]
