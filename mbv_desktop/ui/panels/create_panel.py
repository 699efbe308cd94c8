"""The Create panel: the draft list (search, filters, sort) beside the editor with tags, target
platforms, live per-platform counters and autosave.

Autosave runs at most ``drafts.autosave_ms`` after the first unsaved change, serialised through
one lock, so a draft typed into before it exists is created exactly once. Deletes are soft and
can be undone.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core import platforms as platform_rules
from mbv_desktop.core.drafts import (
    DraftQuery,
    DraftState,
    SearchResult,
    SortOrder,
    parse_tag_list,
)
from mbv_desktop.core.errors import InvalidInput, MbvError, NotFound
from mbv_desktop.core.platforms import Platform, check_all
from mbv_desktop.services.container import Services
from mbv_desktop.services.events import DraftChange, DraftsChanged
from mbv_desktop.ui.models.asset_grid_model import AssetGridModel
from mbv_desktop.ui.models.draft_list_model import DraftIdRole, DraftListModel
from mbv_desktop.ui.tasks import TaskRunner
from mbv_desktop.ui.widgets.draft_delegate import DraftDelegate
from mbv_desktop.ui.widgets.file_drops import accept_file_drag, dropped_paths
from mbv_desktop.ui.widgets.platform_counters import PlatformCounters

if TYPE_CHECKING:
    from mbv_desktop.ui.panels.generate_box import GenerateBox

log = logging.getLogger(__name__)

SEARCH_DEBOUNCE_MS = 150
COUNTER_DEBOUNCE_MS = 80
UNDO_VISIBLE_MS = 15_000
TAGS_REFRESH_MS = 1500


@dataclass(frozen=True)
class _Snapshot:
    """What the editor shows at one moment, to be saved."""

    draft_id: int | None
    body: str
    tags: tuple[str, ...]
    platforms: tuple[Platform, ...]
    generation: int


class CreatePanel(QWidget):
    draft_opened = Signal(int)
    saved = Signal(int)

    # made by the _build_* methods
    model: DraftListModel
    _list_side: QWidget
    _editor_side: QWidget
    _undo_bar: QWidget

    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("createPanel")
        self.setAcceptDrops(True)
        self._services = services
        self._drafting = services.drafting
        self._tasks = tasks
        self._reader = services.drafting.reader()
        self._current_id: int | None = None
        self._loading = False
        self._generation = 0  # bumps on every edit; a save only clears "dirty" if none came after
        self._saved_generation = 0
        self._save_lock = asyncio.Lock()
        self._undo_ids: tuple[int, ...] = ()
        self._tag_error: str | None = None

        self._build_list_side()
        self._build_editor_side()
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self._list_side)
        splitter.addWidget(self._editor_side)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._autosave = _timer(self, services.settings.get_int("drafts.autosave_ms"),
                                self.save_now)
        self._search_timer = _timer(self, SEARCH_DEBOUNCE_MS, self._run_search)
        self._counter_timer = _timer(self, COUNTER_DEBOUNCE_MS, self._update_counters)
        self._undo_timer = _timer(self, UNDO_VISIBLE_MS, self._undo_bar.hide)
        self._tags_timer = _timer(self, TAGS_REFRESH_MS, self._refresh_tag_filter)
        self._unsubscribe = self._drafting.events.subscribe(self._on_drafts_changed)
        self.destroyed.connect(self._reader.close)

        self.model.set_query(DraftQuery())
        self._update_count_label()
        self._update_counters()
        self._show_empty_editor()
        if self.model.rowCount() > 0:
            self._select_row(0)
        self._refresh_tag_filter()

    # --- construction ----------------------------------------------------------------------

    def _build_list_side(self) -> None:
        side = QWidget(self)
        self.search = QLineEdit(side)
        self.search.setPlaceholderText("Search drafts  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search drafts")
        self.search.textChanged.connect(lambda _: self._search_timer.start())

        self.tag_filter = _combo(side, "Filter by tag")
        self.tag_filter.addItem("All tags", None)
        self.platform_filter = _combo(side, "Filter by platform")
        self.platform_filter.addItem("All platforms", None)
        for p in Platform:
            self.platform_filter.addItem(p.label, p)
        self.state_filter = _combo(side, "Filter by state")
        self.state_filter.addItem("Any state", None)
        for s in DraftState:
            self.state_filter.addItem(s.value.capitalize(), s)
        self.sort_box = _combo(side, "Sort")
        for label, order in (("Last edited", SortOrder.UPDATED), ("Newest", SortOrder.CREATED),
                             ("Oldest", SortOrder.OLDEST), ("Best match", SortOrder.RELEVANCE)):
            self.sort_box.addItem(label, order)
        for box in (self.tag_filter, self.platform_filter, self.state_filter, self.sort_box):
            box.currentIndexChanged.connect(lambda _: self._run_search())
        filters = QHBoxLayout()
        for box in (self.tag_filter, self.platform_filter, self.state_filter, self.sort_box):
            filters.addWidget(box)

        self.model = DraftListModel(self._reader, self)
        self.list = QListView(side)
        self.list.setAccessibleName("Drafts")
        self.list.setModel(self.model)
        self.list.setItemDelegate(DraftDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.selectionModel().currentChanged.connect(
            lambda current, _previous: self._open_index(current))

        self.count_label = QLabel(side)
        self.count_label.setObjectName("muted")
        self.new_button = _button("New draft", side, "New draft (Ctrl+N)")
        self.new_button.clicked.connect(self.new_draft)
        self.duplicate_button = _button("Duplicate", side, "Duplicate (Ctrl+D)")
        self.duplicate_button.clicked.connect(self.duplicate_current)
        self.delete_button = _button("Delete", side, "Delete (Del)")
        self.delete_button.clicked.connect(self.delete_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.new_button)
        buttons.addWidget(self.duplicate_button)
        buttons.addWidget(self.delete_button)
        buttons.addStretch(1)
        buttons.addWidget(self.count_label)

        self._undo_bar = QWidget(side)
        self._undo_bar.setObjectName("undoBar")
        self._undo_label = QLabel(self._undo_bar)
        self.undo_button = _button("Undo", self._undo_bar, "Undo delete (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo_delete)
        undo_layout = QHBoxLayout(self._undo_bar)
        undo_layout.setContentsMargins(8, 4, 8, 4)
        undo_layout.addWidget(self._undo_label, 1)
        undo_layout.addWidget(self.undo_button)
        self._undo_bar.hide()

        layout = QVBoxLayout(side)
        layout.setContentsMargins(12, 12, 6, 12)
        layout.addWidget(self.search)
        layout.addLayout(filters)
        layout.addWidget(self.list, 1)
        layout.addWidget(self._undo_bar)
        layout.addLayout(buttons)
        self._list_side = side

        for text, key, slot in (("Delete draft", QKeySequence.StandardKey.Delete,
                                 self.delete_selected),
                                ("Undo delete", QKeySequence.StandardKey.Undo, self.undo_delete)):
            action = QAction(text, self.list)
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            action.triggered.connect(slot)
            self.list.addAction(action)

    def _build_editor_side(self) -> None:
        side = QWidget(self)
        self.editor = QPlainTextEdit(side)
        self.editor.setAccessibleName("Draft text")
        self.editor.setPlaceholderText("Write your post here. It is saved as you type.")
        self.editor.textChanged.connect(self._on_edited)
        self.editor.viewport().installEventFilter(self)
        self.tags_edit = QLineEdit(side)
        self.tags_edit.setPlaceholderText("Tags, separated by commas or spaces")
        self.tags_edit.setAccessibleName("Tags")
        self.tags_edit.textEdited.connect(lambda _: self._on_edited())
        self.platform_boxes: dict[Platform, QCheckBox] = {}
        platforms_row = QHBoxLayout()
        platforms_row.addWidget(QLabel("Post to:", side))
        for p in Platform:
            box = QCheckBox(p.label, side)
            box.toggled.connect(lambda _checked: self._on_edited())
            self.platform_boxes[p] = box
            platforms_row.addWidget(box)
        platforms_row.addStretch(1)
        self.save_status = QLabel("", side)
        self.save_status.setObjectName("muted")
        platforms_row.addWidget(self.save_status)
        self.counters = PlatformCounters(side)
        self.attachments_model = AssetGridModel(self)
        self.attachments = QListView(side)
        self.attachments.setAccessibleName("Attached media")
        self.attachments.setToolTip("Media attached to this draft. Drop files on the editor "
                                    "to add more; Delete removes the selected one.")
        self.attachments.setModel(self.attachments_model)
        self.attachments.setViewMode(QListView.ViewMode.IconMode)
        self.attachments.setFlow(QListView.Flow.LeftToRight)
        self.attachments.setWrapping(False)
        self.attachments.setIconSize(QSize(64, 64))
        self.attachments.setFixedHeight(96)
        self.attachments.hide()
        detach = QAction("Remove from draft", self.attachments)
        detach.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        detach.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        detach.triggered.connect(self._detach_selected)
        self.attachments.addAction(detach)
        self._attached: list[Any] = []

        top = QWidget(side)
        layout = QVBoxLayout(top)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.attachments)
        layout.addWidget(self.tags_edit)
        layout.addLayout(platforms_row)
        layout.addWidget(self.counters)
        # The Generate box is built after the first paint (see build_deferred): the window
        # shows sooner, and its imports stay off the path to the first frame.
        self.generate_box: GenerateBox | None = None
        split = QSplitter(Qt.Orientation.Vertical, side)
        split.addWidget(top)
        split.setChildrenCollapsible(False)
        self._editor_split = split
        outer = QVBoxLayout(side)
        outer.setContentsMargins(6, 12, 12, 12)
        outer.addWidget(split)
        self._editor_side = side

    # --- attached media ---------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Files dropped on the editor are attached, not pasted in as their paths."""
        if event.type() in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and isinstance(
                event, QDragMoveEvent) and accept_file_drag(event):
            return True
        if event.type() == QEvent.Type.Drop and isinstance(event, QDropEvent) \
                and event.mimeData().hasUrls():
            self.dropEvent(event)
            return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        accept_file_drag(event)

    def dropEvent(self, event: QDropEvent) -> None:
        if paths := dropped_paths(event):
            self.attach_files(paths)

    def attach_files(self, paths: list[Path]) -> None:
        """Files dropped on the editor: checked into the library and attached to this draft
        (which is created first if there is none yet)."""
        library = self._services.library

        async def attach() -> list[Any]:
            draft_id = await self._ensure_draft()
            results = await library.add_files(paths)
            await library.attach(draft_id, [r.asset.id for r in results if r.asset])
            return list(results)

        self._tasks.run(attach(), label="Attaching media", on_success=self._attached_done)

    def attach_assets(self, asset_ids: list[int]) -> None:
        """Media already in the library (chosen in the Library panel) attached to this draft."""
        async def attach() -> list[Any]:
            draft_id = await self._ensure_draft()
            await self._services.library.attach(draft_id, asset_ids)
            return []

        self._tasks.run(attach(), label="Attaching media", on_success=self._attached_done)

    async def _ensure_draft(self) -> int:
        """The open draft's id, saving what is typed first; a new draft when none is open."""
        self.save_now()
        async with self._save_lock:
            if self._current_id is None:
                draft = await self._drafting.create(self.editor.toPlainText(),
                                                    platforms=self._checked_platforms(),
                                                    origin=self)
                self._current_id = draft.id
                self._saved_generation = self._generation
            return self._current_id

    def _attached_done(self, results: list[Any]) -> None:
        refused = [r.error for r in results if r.error]
        self.save_status.setText("Skipped: " + " ".join(refused[:3]) if refused else "Saved")
        self._refresh_attachments()

    def _refresh_attachments(self) -> None:
        draft_id = self._current_id
        if draft_id is None:
            self._show_attachments([])
            return
        self._tasks.run(self._services.library.attached(draft_id), label="Loading media",
                        progress=False, latest_wins="attachments",
                        on_success=self._show_attachments)

    def _show_attachments(self, items: list[Any]) -> None:
        self._attached = items
        self.attachments_model.reset_items(items)
        self.attachments.setVisible(bool(items))
        for item in items:
            self._tasks.run(self._services.library.thumbnail(item.asset),
                            label="Making thumbnails", progress=False,
                            on_success=functools.partial(self._attachment_thumb, item.asset.id))
        self._update_counters()

    def _attachment_thumb(self, asset_id: int, path: Path | None) -> None:
        if path is not None:
            self.attachments_model.set_thumbnail(asset_id, path)

    def _detach_selected(self) -> None:
        index = self.attachments.currentIndex()
        if not index.isValid() or self._current_id is None:
            return
        asset_id = self._attached[index.row()].asset.id
        self._tasks.run(self._services.library.detach(self._current_id, asset_id),
                        label="Removing media",
                        on_success=lambda _r: self._refresh_attachments())

    def _media_problems(self, platforms: tuple[Platform, ...]) -> list[str]:
        if not self._attached:  # the rules load only once a draft has media
            return []
        from mbv_desktop.core.media_rules import check_attachments

        return check_attachments(platforms, [i.media_info() for i in self._attached])

    def build_deferred(self) -> None:
        """Builds what the first frame does not need; called once the window has painted."""
        if self.generate_box is not None:
            return
        from mbv_desktop.ui.panels.generate_box import GenerateBox

        self.generate_box = GenerateBox(
            self._services, self._tasks,
            lambda: (self.editor.toPlainText(), self._current_id), self._editor_side)
        self.generate_box.use_text.connect(self._use_generated)
        self._editor_split.addWidget(self.generate_box)
        self._editor_split.setStretchFactor(0, 3)
        self._editor_split.setStretchFactor(1, 2)

    # --- public actions (buttons, shortcuts, tests) ----------------------------------------

    @property
    def current_draft_id(self) -> int | None:
        return self._current_id

    @property
    def dirty(self) -> bool:
        return self._generation != self._saved_generation

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    def new_draft(self) -> None:
        self.save_now()
        self._tasks.run(self._drafting.create(platforms=self._checked_platforms(), origin=self),
                        label="Creating a draft", on_success=self._after_created)

    def duplicate_current(self) -> None:
        if self._current_id is None:
            return
        self.save_now()
        draft_id = self._current_id

        async def duplicate() -> int:
            async with self._save_lock:  # after the save above has landed
                return (await self._drafting.duplicate(draft_id)).id

        self._tasks.run(duplicate(), label="Duplicating the draft",
                        on_success=lambda new_id: self.open_draft(new_id))

    def delete_selected(self) -> None:
        ids = tuple(sorted({int(i.data(DraftIdRole))
                            for i in self.list.selectionModel().selectedIndexes()}))
        if not ids and self._current_id is not None:
            ids = (self._current_id,)
        if not ids:
            return
        self.save_now()

        async def delete() -> int:
            async with self._save_lock:
                return await self._drafting.delete(ids)

        def done(n: int) -> None:
            self._undo_ids = ids
            self._undo_label.setText(f"Deleted {n} draft{'s' if n != 1 else ''}.")
            self._undo_bar.show()
            self._undo_timer.start()

        self._tasks.run(delete(), label="Deleting drafts", on_success=done)

    def undo_delete(self) -> None:
        if not self._undo_ids:
            return
        ids, self._undo_ids = self._undo_ids, ()
        self._undo_bar.hide()
        self._tasks.run(self._drafting.restore(ids), label="Restoring drafts",
                        on_success=lambda _n: self.open_draft(ids[0]))

    def save_now(self) -> None:
        """Saves pending edits now (switching drafts, closing the window)."""
        self._autosave.stop()
        if not self.dirty:
            return
        snap = self._snapshot()
        self._tasks.run(self._persist(snap), label="Saving the draft", progress=False,
                        on_error=self._save_failed)

    async def flush(self) -> None:
        """Saves pending edits and waits until they are on disk."""
        self.save_now()
        async with self._save_lock:
            pass

    async def shut_down(self) -> None:
        """Saves, then stops every timer and listener: nothing starts after the window closes."""
        await self.flush()
        for timer in (self._autosave, self._search_timer, self._counter_timer,
                      self._undo_timer, self._tags_timer):
            timer.stop()
        self._unsubscribe()
        if self.generate_box is not None:
            self.generate_box.shut_down()

    def open_draft(self, draft_id: int) -> None:
        row = self.model.row_of(draft_id)
        if row is not None:
            self._select_row(row)
        else:
            self._load(draft_id)

    # --- editing and saving ----------------------------------------------------------------

    def _snapshot(self) -> _Snapshot:
        try:
            tags = parse_tag_list(self.tags_edit.text())
            self._tag_error = None
        except InvalidInput as e:
            tags = ()
            self._tag_error = str(e)
        return _Snapshot(self._current_id, self.editor.toPlainText(), tags,
                         self._checked_platforms(), self._generation)

    def _checked_platforms(self) -> tuple[Platform, ...]:
        return tuple(p for p, box in self.platform_boxes.items() if box.isChecked())

    def _on_edited(self) -> None:
        if self._loading:
            return
        self._generation += 1
        self.save_status.setText("Editing…")
        # Not restarted on every keystroke: someone typing without pause still gets a save
        # every autosave interval (a pure debounce would never fire).
        if not self._autosave.isActive():
            self._autosave.start()
        self._counter_timer.start()

    async def _persist(self, snap: _Snapshot) -> None:
        async with self._save_lock:
            if self._tag_error:
                raise InvalidInput(self._tag_error)
            draft_id = snap.draft_id
            if draft_id is None:
                draft_id = self._current_id  # created by a save that was queued before us
            if draft_id is None:
                if not snap.body.strip() and not snap.tags:
                    self._saved_generation = snap.generation
                    return
                draft = await self._drafting.create(snap.body, tags=snap.tags,
                                                    platforms=snap.platforms, origin=self)
                if self._current_id is None:
                    self._current_id = draft.id
            else:
                await self._drafting.update(draft_id, body=snap.body, tags=snap.tags,
                                            platforms=snap.platforms, origin=self)
            if draft_id == self._current_id or snap.draft_id is None:
                self._saved_generation = max(self._saved_generation, snap.generation)
                if not self.dirty:
                    self.save_status.setText("Saved")
            self.saved.emit(self._current_id or 0)

    def _save_failed(self, error: BaseException) -> bool:
        if isinstance(error, NotFound):
            self.save_status.setText("This draft was deleted elsewhere; your text is still here.")
            self._current_id = None
            return True
        if isinstance(error, MbvError):
            # Shown beside the editor rather than as a dialog on every keystroke; the text
            # stays in the editor, nothing is lost.
            self.save_status.setText(f"Not saved: {error}")
            self.save_status.setToolTip(str(error))
            return True
        return False

    def _use_generated(self, text: str, replace: bool) -> None:
        """A generated variant goes into the draft as an edit (so it autosaves and undoes)."""
        cursor = self.editor.textCursor()
        cursor.beginEditBlock()
        if replace:
            cursor.select(cursor.SelectionType.Document)
            cursor.insertText(text)
        else:
            cursor.movePosition(cursor.MoveOperation.End)
            sep = "\n\n" if self.editor.toPlainText().strip() else ""
            cursor.insertText(sep + text)
        cursor.endEditBlock()
        self.editor.setFocus()

    def _update_counters(self) -> None:
        platforms = self._checked_platforms()
        if Platform.X in platforms and not platform_rules.is_loaded():
            # The X rules take ~300 ms to load the first time: never on the GUI thread.
            self.counters.show_pending(platforms)
            self._tasks.run(asyncio.to_thread(platform_rules.preload), label="Loading X rules",
                            progress=False, latest_wins="x-rules",
                            on_success=lambda _r: self._update_counters())
            return
        self.counters.show_checks(check_all(self.editor.toPlainText(), platforms),
                                  self._media_problems(platforms))

    # --- list, search and selection --------------------------------------------------------

    def _current_query(self) -> DraftQuery:
        return DraftQuery(
            text=self.search.text(),
            tag=self.tag_filter.currentData(),
            platform=self.platform_filter.currentData(),
            state=self.state_filter.currentData(),
            sort=self.sort_box.currentData(),
        )

    def _run_search(self) -> None:
        self._search_timer.stop()
        self._tasks.run(self._drafting.search(self._current_query()), label="Searching drafts",
                        latest_wins="draft-search", progress=False,
                        on_success=self._apply_search)

    def _apply_search(self, result: SearchResult) -> None:
        self.model.apply_search(result)
        self._update_count_label()
        self._reselect_current()

    def _update_count_label(self) -> None:
        n = self.model.total
        self.count_label.setText(f"{n:,} draft{'s' if n != 1 else ''}")

    def _select_row(self, row: int) -> None:
        index = self.model.index(row)
        self.list.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.list.scrollTo(index)

    def _reselect_current(self) -> None:
        if self._current_id is None:
            return
        row = self.model.row_of(self._current_id)
        if row is not None:
            self.list.selectionModel().blockSignals(True)
            self._select_row(row)
            self.list.selectionModel().blockSignals(False)

    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            draft_id = int(index.data(DraftIdRole))
            if draft_id != self._current_id:
                self._load(draft_id)

    def _load(self, draft_id: int) -> None:
        self.save_now()
        try:
            draft = self._reader.get(draft_id)
        except NotFound:
            self._show_empty_editor()
            return
        self._loading = True
        try:
            self._current_id = draft.id
            self.editor.setPlainText(draft.body)
            self.tags_edit.setText(", ".join(draft.tags))
            for p, box in self.platform_boxes.items():
                box.setChecked(p in draft.platforms)
        finally:
            self._loading = False
        self._generation = self._saved_generation = 0
        self.save_status.setText("Saved")
        self._update_counters()
        self._refresh_attachments()
        self.draft_opened.emit(draft.id)

    def _show_empty_editor(self) -> None:
        self._loading = True
        try:
            self._current_id = None
            self.editor.clear()
            self.tags_edit.clear()
        finally:
            self._loading = False
        self._generation = self._saved_generation = 0
        self.save_status.setText("")
        self._attached = []
        self.attachments_model.reset_items([])
        self.attachments.hide()
        self._update_counters()

    def _after_created(self, draft: object) -> None:
        draft_id = getattr(draft, "id", None)
        if isinstance(draft_id, int):
            self.open_draft(draft_id)
            self.editor.setFocus()

    def _refresh_tag_filter(self) -> None:
        def fill(tags: list[tuple[str, int]]) -> None:
            current = self.tag_filter.currentData()
            self.tag_filter.blockSignals(True)
            self.tag_filter.clear()
            self.tag_filter.addItem("All tags", None)
            for tag, n in tags:
                self.tag_filter.addItem(f"#{tag} ({n})", tag)
            i = self.tag_filter.findData(current)
            self.tag_filter.setCurrentIndex(max(i, 0))
            self.tag_filter.blockSignals(False)

        self._tasks.run(self._drafting.tags(), label="Loading tags", progress=False,
                        latest_wins="tag-filter", on_success=fill)

    def _on_drafts_changed(self, event: DraftsChanged) -> None:
        if event.kind is DraftChange.UPDATED and event.origin is self:
            self.model.refresh_rows(event.ids)
        else:
            self.model.reload()
            self._update_count_label()
            self._reselect_current()
            if (event.kind is DraftChange.DELETED and self._current_id in event.ids):
                self._show_empty_editor()
        self._tags_timer.start()


def _timer(parent: QWidget, interval_ms: int, slot: Callable[[], object]) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(interval_ms)
    timer.timeout.connect(slot)
    return timer


def _combo(parent: QWidget, accessible_name: str) -> QComboBox:
    box = QComboBox(parent)
    box.setAccessibleName(accessible_name)
    return box


def _button(text: str, parent: QWidget, tooltip: str) -> QPushButton:
    button = QPushButton(text, parent)
    button.setToolTip(tooltip)
    return button
