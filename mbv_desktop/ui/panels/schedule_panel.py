"""The Schedule panel: every scheduled post as a month, a week or a queue, with its state.

Month and Week place each post (all its accounts together) in this machine's local time as a
chip coloured by state; a failed post, or one whose account must be reconnected, is marked and
says why in its tooltip. Drag a scheduled post to another day or hour to move it (Ctrl+Z moves
it back); drag a draft from "Drafts not scheduled yet" onto the calendar to schedule it there,
or select several and put them into an account's next free time slots. Queue lists one row per
post and account, newest first, with the history of the selected row underneath.
Actions: Cancel (before anything was sent), Retry (a failed one), Open link, Undo move,
Time slots…, Publish due now. Everything runs through the task runner; nothing here blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.drafts import DraftQuery, DraftState, title_of
from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.core.platforms import platform_label
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.calendar_drafts import UnscheduledDrafts
from mbv_desktop.ui.widgets.calendar_entries import (
    PROBLEM_STATES,
    STATE_TEXT,
    Entry,
    account_key,
    build_entries,
    parse_account_key,
    short_text,
    to_local,
)
from mbv_desktop.ui.widgets.calendar_grid import CalendarGrid, CalendarPage
from mbv_desktop.ui.widgets.calendar_month import MonthView
from mbv_desktop.ui.widgets.calendar_week import WeekView

STATE_COLOUR = {"failed": "#b3261e", "needs_attention": "#b3261e", "published": "#1e7b34",
                "in_flight": "#8a5a00"}
#: The unscheduled list shows this many of the most recently edited drafts.
DRAFT_LIMIT = 50
UNDO_LIMIT = 50
REFRESH_MS = 250  # at most one reload per this many ms while posts change
EMPTY_TITLE = title_of("")


def _local(value: datetime) -> datetime:
    return to_local(value)


def wall_clock_in(zone_name: str, local: datetime) -> datetime:
    """This machine's wall-clock time ``local`` as a wall-clock time in ``zone_name`` (a post
    keeps the zone it was planned in when it moves)."""
    return local.astimezone().astimezone(ZoneInfo(zone_name)).replace(tzinfo=None)


@dataclass(frozen=True)
class Loaded:
    rows: list[Any]
    accounts: list[Any]
    slots: list[Any]
    drafts: list[Any]
    entries: list[Any]  # the calendar's, made off the GUI thread


@dataclass(frozen=True)
class Move:
    """A move to undo: where the post was, in its own zone."""

    post_id: int
    planned: datetime
    zone: str
    text: str


def _unsubscribe(unsubscribes: list[Callable[[], None]]) -> None:
    for unsubscribe in unsubscribes:
        with contextlib.suppress(ValueError):  # already gone
            unsubscribe()


class SchedulePanel(QWidget):
    schedule_requested = Signal(object)  # a local datetime: schedule the open draft there

    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("schedulePanel")
        self._services = services
        self._tasks = tasks
        self._built = False
        self._loaded = False
        self._stale = False
        self._queue_stale = True
        self._calendars = False
        self._follow: int | None = None
        self.rows: list[Any] = []
        self.accounts: list[Any] = []
        self.undo_moves: list[Move] = []
        self.schedule_dialog: QWidget | None = None
        self.slots_dialog: QWidget | None = None

    # -- building (after the window's first frame) --

    def build_deferred(self) -> None:
        if self._built:
            return
        self._built = True
        self.queue = QTreeWidget(self)
        self.queue.setAccessibleName("Scheduled posts")
        self.queue.setHeaderLabels(["When", "Account", "Type", "State", "Link or reason"])
        self.queue.setRootIsDecorated(False)
        self.queue.setColumnWidth(0, 150)
        self.queue.setColumnWidth(3, 120)
        self.queue.itemSelectionChanged.connect(self._selected_changed)
        self.queue.itemActivated.connect(lambda *_: self._selected_changed())
        self.queue.itemDoubleClicked.connect(lambda *_: self._open_link())

        # The calendars themselves are made when the panel is first shown (_build_calendars).
        self.month_tab = QWidget(self)
        self.week_tab = QWidget(self)
        for tab in (self.month_tab, self.week_tab):
            QVBoxLayout(tab).setContentsMargins(0, 0, 0, 0)

        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.month_tab, "&Month")
        self.tabs.addTab(self.week_tab, "&Week")
        self.tabs.addTab(self.queue, "&Queue")
        self.tabs.currentChanged.connect(lambda _i: self._tab_changed())
        self.history = QPlainTextEdit(self)
        self.history.setReadOnly(True)
        self.history.setAccessibleName("History")
        self.history.setPlaceholderText("Select a post and press Enter to see what happened "
                                        "to it.")
        left = QSplitter(Qt.Orientation.Vertical, self)
        left.addWidget(self.tabs)
        left.addWidget(self.history)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 0)
        left.setSizes([1000, 90])

        self.drafts = UnscheduledDrafts(self)
        self.drafts.draft_activated.connect(lambda draft_id: self.open_schedule_dialog(draft_id))
        self.drafts.itemSelectionChanged.connect(self._enable_bulk)
        drafts_label = QLabel("&Drafts not scheduled yet", self)
        drafts_label.setBuddy(self.drafts)
        drafts_hint = QLabel("Drag one onto a day or an hour, or press Enter.", self)
        drafts_hint.setObjectName("muted")
        drafts_hint.setWordWrap(True)
        self.bulk_account = QComboBox(self)
        self.bulk_account.setAccessibleName("Account for the time slots")
        self.bulk_account.currentIndexChanged.connect(lambda _i: self._enable_bulk())
        account_label = QLabel("For &account", self)
        account_label.setBuddy(self.bulk_account)
        self.bulk_button = QPushButton("Schedule into &next free slots", self)
        self.bulk_button.setToolTip("Each selected draft goes to the account's next free time "
                                    "slot in turn; drafts with problems are skipped and named.")
        self.bulk_button.clicked.connect(self.schedule_into_slots)
        self.slots_button = QPushButton("Time s&lots…", self)
        self.slots_button.setToolTip("The weekly times each account posts at")
        self.slots_button.clicked.connect(self.open_time_slots)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(8, 0, 0, 0)
        side_layout.addWidget(drafts_label)
        side_layout.addWidget(drafts_hint)
        side_layout.addWidget(self.drafts, 1)
        side_layout.addWidget(account_label)
        side_layout.addWidget(self.bulk_account)
        side_layout.addWidget(self.bulk_button)
        side_layout.addWidget(self.slots_button)
        body = QSplitter(Qt.Orientation.Horizontal, self)
        body.addWidget(left)
        body.addWidget(side)
        body.setStretchFactor(0, 1)
        body.setSizes([800, 250])

        self.cancel_button = QPushButton("&Cancel post", self)
        self.retry_button = QPushButton("&Retry", self)
        self.open_button = QPushButton("&Open link", self)
        self.undo_button = QPushButton("&Undo move", self)
        self.undo_button.setToolTip("Moves the last post you moved back (Ctrl+Z)")
        self.publish_button = QPushButton("&Publish due now", self)
        self.cancel_button.clicked.connect(self._cancel)
        self.retry_button.clicked.connect(self._retry)
        self.open_button.clicked.connect(self._open_link)
        self.undo_button.clicked.connect(self.undo_move)
        self.publish_button.clicked.connect(self.publish_now)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), self, self.undo_move,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.status = QLabel(self)
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        actions = QHBoxLayout()
        for button in (self.cancel_button, self.retry_button, self.open_button,
                       self.undo_button):
            actions.addWidget(button)
        actions.addStretch(1)
        actions.addWidget(self.publish_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(body, 1)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        self._selected_changed()
        self._enable_bulk()

        services = self._services
        # Publishing 1,000 posts moves each one three or four times: one reload for a burst
        # of changes, at most every REFRESH_MS, instead of one per change.
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)

        def soon(_event: object) -> None:
            if not self._refresh_timer.isActive():
                self._refresh_timer.start()

        unsubscribes = [
            services.scheduling.events.subscribe(soon),
            services.time_slots.events.subscribe(soon),
            services.accounts.events.subscribe(soon),
            services.drafting.events.subscribe(soon),
        ]
        self.destroyed.connect(functools.partial(_unsubscribe, unsubscribes))

        if self.isVisible():  # shown before the window's first frame: finish in the next pass
            QTimer.singleShot(0, self, self._first_shown)

    def _build_calendars(self) -> None:
        """The month and week grids: made on the panel's first show, not with the window."""
        if self._calendars:
            return
        self._calendars = True
        self.month = MonthView(self)
        self.week = WeekView(self)
        self.month_page = CalendarPage(self.month, "month", self.month_tab)
        self.week_page = CalendarPage(self.week, "week", self.week_tab)
        for tab, page in ((self.month_tab, self.month_page), (self.week_tab, self.week_page)):
            layout = tab.layout()
            assert layout is not None
            layout.addWidget(page)
        for grid in (self.week, self.month):
            grid.post_selected.connect(lambda _id: self._selected_changed())
            grid.post_activated.connect(self.show_post_history)
            grid.empty_activated.connect(self.schedule_requested.emit)
            grid.post_dropped.connect(self.move_post)
            grid.drafts_dropped.connect(self._drafts_dropped)
            grid.refused.connect(self._say)

    def showEvent(self, event: QShowEvent) -> None:
        # Not built yet: the window builds every panel after its first frame (build_deferred),
        # so opening on this panel doesn't make the first frame wait for it.
        super().showEvent(event)
        if self._built:
            self._first_shown()

    def _first_shown(self) -> None:
        if not self.isVisible():
            return
        self._build_calendars()
        if not self._loaded or self._stale:
            self._loaded = True
            self.refresh()

    def refresh(self) -> None:
        """Reloads everything shown; while the panel is hidden it only notes that it must."""
        if not self._built:
            return
        if not (self.isVisible() and self._calendars):
            self._stale = True
            return
        self._stale = False
        self._tasks.run(self._load(), label="Loading the schedule", latest_wins="schedule",
                        progress=False, on_success=self._show)

    async def _load(self) -> Loaded:
        services = self._services
        rows = await services.scheduling.targets()
        accounts = await services.accounts.accounts()
        slots = await services.time_slots.slots()
        found = await services.drafting.search(DraftQuery(), limit=2 * DRAFT_LIMIT)
        # A draft that is waiting to go out, or went out, is not "unscheduled"; one whose
        # post failed or was cancelled is.
        waiting = {r.draft_id for r in rows if r.state in ("pending", "in_flight", "published")}
        drafts = [d for d in found.first_page
                  if d.id not in waiting and d.title != EMPTY_TITLE
                  and d.state not in (DraftState.ARCHIVED, DraftState.PUBLISHED)]
        # Labels, tooltips and local times for 1,000 posts take tens of ms of pure Python:
        # on a worker thread, the GUI thread keeps getting its turns.
        entries = await asyncio.to_thread(build_entries, rows, accounts)
        return Loaded(rows, accounts, slots, drafts[:DRAFT_LIMIT], entries)

    # -- showing --

    def _show(self, loaded: Loaded) -> None:
        selected = self._current()
        self.rows = loaded.rows
        self.accounts = loaded.accounts
        self._queue_stale = True
        if self.tabs.currentWidget() is self.queue:
            self._fill_queue(selected)
        entries = loaded.entries
        labels = {(a.provider, a.account_id): f"{platform_label(a.provider)} {a.label}"
                  for a in loaded.accounts}
        self.week.set_slots(loaded.slots, lambda s: labels.get((s.provider, s.account_id),
                                                               s.account_id))
        for grid in (self.week, self.month):
            grid.set_entries(entries)
        self.drafts.set_drafts(loaded.drafts)
        self._fill_accounts(loaded.accounts)
        if self._follow is not None:
            shown = self._grid()
            if shown is not None:
                shown.show_entry(self._follow)
            self._follow = None
        self._selected_changed()
        self._enable_bulk()

    def _tab_changed(self) -> None:
        if self.tabs.currentWidget() is self.queue and self._queue_stale:
            self._fill_queue(self._current())
        self._selected_changed()

    def _fill_queue(self, selected: Any) -> None:
        """The queue's rows; only while it is the tab shown (else on showing it)."""
        self._queue_stale = False
        self.queue.blockSignals(True)
        self.queue.clear()
        items = []
        handles = {(a.provider, a.account_id): a.label for a in self.accounts}
        for row in self.rows:
            when = _local(row.scheduled_at)
            detail = row.url or row.last_error or ""
            if row.late and row.state == "published":
                detail = f"(late) {detail}"
            handle = handles.get((row.provider, row.account_id), row.account_id)
            item = QTreeWidgetItem([f"{when:%a %d %b %H:%M}",
                                    f"{platform_label(row.provider)} {handle}",
                                    row.post_type, STATE_TEXT.get(row.state, row.state),
                                    detail])
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
            item.setToolTip(4, detail)
            colour = STATE_COLOUR.get(row.state)
            if colour:
                item.setForeground(3, QColor(colour))
            items.append(item)
        self.queue.addTopLevelItems(items)
        if selected is not None:
            for item in items:
                if item.data(0, Qt.ItemDataRole.UserRole) == selected.id:
                    self.queue.setCurrentItem(item)
                    break
        self.queue.blockSignals(False)

    def _fill_accounts(self, accounts: list[Any]) -> None:
        current = self.bulk_account.currentData()
        self.bulk_account.blockSignals(True)
        self.bulk_account.clear()
        for a in accounts:
            if a.role == "publish" and a.status == "ok":
                self.bulk_account.addItem(f"{platform_label(a.provider)}  {a.label}",
                                          account_key(a.provider, a.account_id))
        index = self.bulk_account.findData(current) if current is not None else -1
        self.bulk_account.setCurrentIndex(max(index, 0) if self.bulk_account.count() else -1)
        self.bulk_account.blockSignals(False)

    def _say(self, text: str) -> None:
        self.status.setText(text)

    # -- the selection --

    def _grid(self) -> CalendarGrid | None:
        if not self._calendars:
            return None
        tab = self.tabs.currentWidget()
        return self.month if tab is self.month_tab else self.week if tab is self.week_tab \
            else None

    def _entry(self, post_id: int) -> Entry | None:
        return self.week.by_id.get(post_id) if self._calendars else None

    def _current(self) -> Any:
        item = self.queue.currentItem() if self._built else None
        if item is None:
            return None
        target_id = item.data(0, Qt.ItemDataRole.UserRole)
        return next((r for r in self.rows if r.id == target_id), None)

    def selected_targets(self) -> list[Any]:
        """The outbox rows the buttons act on: the queue's row, or every account of the post
        selected in the calendar."""
        grid = self._grid()
        if grid is None:
            row = self._current()
            return [row] if row is not None else []
        entry = grid.selected_entry()
        ids = set(entry.target_ids) if entry is not None else set()
        return [r for r in self.rows if r.id in ids]

    def _selected_changed(self) -> None:
        targets = self.selected_targets()
        self.cancel_button.setEnabled(any(r.state == "pending" and not r.progress
                                          for r in targets))
        self.retry_button.setEnabled(any(r.state in PROBLEM_STATES for r in targets))
        self.open_button.setEnabled(any(r.url for r in targets))
        self.undo_button.setEnabled(bool(self.undo_moves))
        if self._grid() is not None:
            return
        row = self._current()
        if row is None:
            self.history.clear()
            return
        self._tasks.run(self._services.scheduling.history(row.id), label="Loading history",
                        progress=False, latest_wins="schedule-history",
                        on_success=self._show_history)

    def _show_history(self, events: list[Any]) -> None:
        self.history.setPlainText(_history_lines(events))

    def show_post_history(self, post_id: int) -> None:
        """Every account's history of a post (Enter or double-click in the calendar)."""
        entry = self._entry(post_id)
        if entry is None:
            return
        targets = [r for r in self.rows if r.id in set(entry.target_ids)]
        labels = {(a.provider, a.account_id): a.label for a in self.accounts}

        async def load() -> str:
            parts = []
            for row in targets:
                events = await self._services.scheduling.history(row.id)
                name = (f"{platform_label(row.provider)} "
                        f"{labels.get((row.provider, row.account_id), row.account_id)}")
                parts.append(f"{name} — {STATE_TEXT.get(row.state, row.state)}"
                             + (f" — {row.last_error}" if row.last_error else "")
                             + "\n" + _history_lines(events))
            return f"“{entry.text}”\n" + "\n\n".join(parts)

        self._tasks.run(load(), label="Loading history", progress=False,
                        latest_wins="schedule-history", on_success=self.history.setPlainText)

    # -- moving posts --

    def move_post(self, post_id: int, local: datetime) -> None:
        """Moves a scheduled post to this machine's wall-clock time ``local`` (kept in the
        zone the post was planned in); only a post that hasn't started going out can move."""
        entry = self._entry(post_id)
        if entry is None:
            return
        if not entry.movable:
            self._say(f"“{entry.text}” can't be moved: {entry.refusal}")
            return
        if local == entry.when:
            return
        self._reschedule(entry, wall_clock_in(entry.zone, local), entry.zone, undoing=False)

    def undo_move(self) -> None:
        """Ctrl+Z: the last move, back."""
        if not self.undo_moves:
            self._say("There is no move to undo.")
            return
        move = self.undo_moves.pop()
        self.undo_button.setEnabled(bool(self.undo_moves))
        entry = self._entry(move.post_id)
        if entry is None or not entry.movable:
            why = entry.refusal if entry is not None else "it is no longer scheduled."
            self._say(f"“{move.text}” can't be moved back: {why}")
            return
        self._reschedule(entry, move.planned, move.zone, undoing=True)

    def _reschedule(self, entry: Entry, local: datetime, zone: str, *, undoing: bool) -> None:
        scheduling = self._services.scheduling
        move = Move(entry.post_id, entry.planned, entry.zone, entry.text)

        async def go() -> Any:
            # Read again: the post may have started going out since it was shown.
            rows = [r for r in await scheduling.targets()
                    if r.post_id == entry.post_id and r.state != "cancelled"]
            if not rows or any(r.state != "pending" or r.progress for r in rows):
                raise InvalidInput(f"“{entry.text}” can't be moved any more: it has started "
                                   "going out.")
            return await scheduling.reschedule(entry.post_id, local, zone)

        self._follow = entry.post_id
        self._tasks.run(go(), label="Moving the post",
                        on_success=lambda planned: self._moved(move, planned, undoing),
                        on_error=self._move_failed)

    def _moved(self, move: Move, planned: Any, undoing: bool) -> None:
        when = _local(planned.instant)
        if undoing:
            text = f"Moved “{move.text}” back to {when:%a %d %b %H:%M}."
        else:
            self.undo_moves = [*self.undo_moves, move][-UNDO_LIMIT:]
            text = f"Moved “{move.text}” to {when:%a %d %b %H:%M}. Ctrl+Z moves it back."
        if planned.note:
            text += f" {planned.note}"
        self.undo_button.setEnabled(bool(self.undo_moves))
        self._say(text)

    def _move_failed(self, error: BaseException) -> bool:
        self._follow = None
        if isinstance(error, InvalidInput):
            self._say(str(error))
            self.refresh()
            return True
        return False

    # -- scheduling drafts --

    def _drafts_dropped(self, draft_ids: list[int], at: datetime) -> None:
        if len(draft_ids) != 1:
            self._say("Drop one draft at a time on the calendar; to schedule several, select "
                      "them and use “Schedule into next free slots”.")
            return
        self.open_schedule_dialog(draft_ids[0], at)

    def open_schedule_dialog(self, draft_id: int, at: datetime | None = None) -> QWidget:
        """The Schedule dialog for a draft, at ``at`` (this machine's local time)."""
        from mbv_desktop.ui.dialogs.schedule_dialog import ScheduleDialog

        dialog = ScheduleDialog(self._services, self._tasks, draft_id, at=at,
                                parent=self.window())
        dialog.accepted.connect(lambda: self._say("Scheduled."))
        dialog.open()
        self.schedule_dialog = dialog
        return dialog

    def _enable_bulk(self) -> None:
        self.bulk_button.setEnabled(bool(self.drafts.selected_ids())
                                    and self.bulk_account_choice() is not None)

    def bulk_account_choice(self) -> tuple[str, str] | None:
        """The account chosen for "Schedule into next free slots" (provider, account id)."""
        return parse_account_key(self.bulk_account.currentData())

    def schedule_into_slots(self) -> None:
        """The selected drafts, each into the chosen account's next free time slot."""
        ids = self.drafts.selected_ids()
        account = self.bulk_account_choice()
        if not ids or account is None:
            self._say("Select drafts in the list and an account first.")
            return
        self.bulk_button.setEnabled(False)
        self._say(f"Scheduling {len(ids)} drafts into free time slots…")
        self._tasks.run(self._services.time_slots.schedule_into_slots(ids, *account),
                        label="Scheduling into time slots", on_success=self._bulk_done,
                        on_error=self._bulk_failed)

    def _bulk_done(self, result: Any) -> None:
        parts = []
        if result.scheduled:
            parts.append(f"Scheduled {len(result.scheduled)} into free time slots: " + "; ".join(
                f"“{short_text(title, 30)}” {_local(p.instant):%a %d %b %H:%M}"
                for _id, title, p in result.scheduled) + ".")
        if result.skipped:
            parts.append(f"Skipped {len(result.skipped)}: " + " ".join(
                f"“{short_text(title, 30)}”: {reason.rstrip('.')}."
                for _id, title, reason in result.skipped))
        self._say(" ".join(parts) or "Nothing to schedule.")
        self._enable_bulk()

    def _bulk_failed(self, error: BaseException) -> bool:
        self._enable_bulk()
        return False

    def open_time_slots(self) -> QWidget:
        from mbv_desktop.ui.dialogs.time_slots_dialog import TimeSlotsDialog

        dialog = TimeSlotsDialog(self._services, self._tasks,
                                 account=self.bulk_account_choice(), parent=self.window())
        dialog.open()
        self.slots_dialog = dialog
        return dialog

    # -- actions on the selection --

    def _cancel(self) -> None:
        targets = [r for r in self.selected_targets()
                   if r.state == "pending" and not r.progress]
        if not targets:
            return

        async def cancel() -> None:
            for row in targets:
                await self._services.scheduling.cancel(row.id)

        self._tasks.run(cancel(), label="Cancelling")

    def _retry(self) -> None:
        targets = [r for r in self.selected_targets() if r.state in PROBLEM_STATES]
        if not targets:
            return

        async def retry() -> None:
            for row in targets:
                await self._services.scheduling.retry(row.id)

        self._tasks.run(retry(), label="Retrying", on_success=lambda _r: self.publish_now())

    def _open_link(self) -> None:
        url = next((r.url for r in self.selected_targets() if r.url), None)
        if url:
            QDesktopServices.openUrl(QUrl(url))

    def publish_now(self) -> None:
        self._say("Publishing what is due…")
        self._tasks.run(self._services.publishing.publish_due(), label="Publishing",
                        on_success=self._published)

    def _published(self, report: Any) -> None:
        self._say(f"Published {report.published}, failed {report.failed}, waiting "
                  f"{report.delayed}, need attention {report.needs_attention}.")
        self.refresh()


def _history_lines(events: list[Any]) -> str:
    return "\n".join(f"{_local(e.at):%Y-%m-%d %H:%M:%S}  {STATE_TEXT.get(e.to_state, e.to_state)}:"
                     f" {e.reason}" for e in events)
