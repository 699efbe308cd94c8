"""The calendar grid the week and month views share: posts painted as coloured chips in day (or
hour) cells, selected by click or keyboard, dragged to another cell to move them, and drafts
dropped in from the unscheduled list.

Keyboard: arrows move between cells, Space steps through the posts of a cell, Enter shows the
selected post's history (or, on an empty cell, schedules the open draft there), Alt+arrows move
the selected post, Page Up/Page Down change the week or month, Home comes back to today.
"""

from __future__ import annotations

import functools
from datetime import date, datetime, timedelta

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QPoint, QRect, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDrag,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.ui.widgets.calendar_entries import (
    MIME_DRAFTS,
    MIME_POST,
    TONES,
    Entry,
    dragged_drafts,
    dragged_post,
    post_mime,
)

Cell = tuple[int, int]
CHIP_GAP = 2
CELL_TEXT_LIMIT = 12  # posts named in a cell's text and tooltip


class CalendarGrid(QTableWidget):
    """A grid of cells, each a span of local time; subclasses say which span."""

    post_selected = Signal(object)  # post id, or None
    post_activated = Signal(int)  # Enter or double-click on a post: show its history
    empty_activated = Signal(object)  # Enter or double-click on an empty cell: its start time
    post_dropped = Signal(int, object)  # post id, the new local time
    drafts_dropped = Signal(list, object)  # draft ids, the local time of the cell
    period_changed = Signal()
    refused = Signal(str)  # a move that can't be done, in a sentence

    def __init__(self, rows: int, columns: int, parent: QWidget | None = None) -> None:
        super().__init__(rows, columns, parent)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.setDragEnabled(False)  # drags start from a chip, below, not from a cell
        self.setAcceptDrops(True)
        self.viewport().setAcceptDrops(True)
        self.setDragDropMode(QTableWidget.DragDropMode.DropOnly)
        self.setWordWrap(False)
        self.setTabKeyNavigation(False)  # Tab leaves the grid; arrows move between cells
        self.setItemDelegate(ChipDelegate(self))
        self.entries: list[Entry] = []
        self.by_id: dict[int, Entry] = {}
        self.cells: dict[Cell, list[Entry]] = {}
        self.marks: dict[Cell, list[tuple[str, str]]] = {}  # (painted, tooltip)
        self.selected_post: int | None = None
        self.drop_cell: Cell | None = None
        self._press: tuple[QPoint, Entry] | None = None
        self.currentCellChanged.connect(self._cell_changed)

    # -- what subclasses define --

    def cell_start(self, row: int, column: int) -> datetime:
        """The local time a cell begins at."""
        raise NotImplementedError

    def cell_of(self, when: datetime) -> Cell | None:
        """The cell showing a local time, or None when it is outside the period shown."""
        raise NotImplementedError

    def drop_time(self, entry: Entry, row: int, column: int) -> datetime:
        """Where a post dropped on a cell goes (local time)."""
        raise NotImplementedError

    def draft_time(self, row: int, column: int) -> datetime:
        """When a draft dropped on a cell is offered to be scheduled."""
        return self.cell_start(row, column)

    def step_for(self, key: int) -> timedelta | None:
        """How far Alt+arrow ``key`` moves a post."""
        raise NotImplementedError

    def shift(self, step: int) -> None:
        """Shows the previous (-1) or next (+1) period."""
        raise NotImplementedError

    def go_today(self) -> None:
        raise NotImplementedError

    def title(self) -> str:
        raise NotImplementedError

    def caption(self, row: int, column: int) -> str:
        """A cell's own label painted at its top (the month's day numbers)."""
        return ""

    def is_today(self, row: int, column: int) -> bool:
        return self.cell_start(row, column).date() == date.today()

    def is_dimmed(self, row: int, column: int) -> bool:
        return False

    def update_marks(self) -> None:
        """Recomputes the faint marks for the period shown."""

    # -- filling --

    def set_entries(self, entries: list[Entry]) -> None:
        self.entries = entries
        self.by_id = {e.post_id: e for e in entries}
        if self.selected_post not in self.by_id:
            self.selected_post = None
        self.place()

    def place(self) -> None:
        """Puts the entries of the period shown into their cells."""
        self.cells = {}
        for entry in self.entries:
            cell = self.cell_of(entry.when)
            if cell is not None:
                self.cells.setdefault(cell, []).append(entry)
        self.update_marks()
        self.clearContents()
        for (row, column), entries in self.cells.items():
            # The text is what assistive technology reads; the delegate paints the chips. A
            # day with hundreds of posts lists the first few (the chips and Space reach all).
            more = len(entries) - CELL_TEXT_LIMIT
            tail = [f"and {more} more"] if more > 0 else []
            item = QTableWidgetItem("\n".join(
                [*(e.label for e in entries[:CELL_TEXT_LIMIT]), *tail]))
            item.setToolTip("\n\n".join(
                [*(e.tooltip for e in entries[:CELL_TEXT_LIMIT]), *tail]))
            self.setItem(row, column, item)
        for (row, column), marks in self.marks.items():
            existing = self.item(row, column)
            item = existing if existing is not None else QTableWidgetItem("")
            item.setToolTip("\n\n".join(filter(None, [item.toolTip(),
                                                        *(long for _short, long in marks)])))
            if existing is None:
                self.setItem(row, column, item)
        self.viewport().update()

    def go(self, step: int) -> None:
        """-1 previous period, +1 next, 0 today."""
        if step:
            self.shift(step)
        else:
            self.go_today()
        self.place()
        self.period_changed.emit()

    def show_entry(self, post_id: int) -> None:
        """Selects a post (bringing its period into view)."""
        entry = self.by_id.get(post_id)
        if entry is None:
            return
        if self.cell_of(entry.when) is None:
            self.reveal(entry.when)
            self.place()
            self.period_changed.emit()
        cell = self.cell_of(entry.when)
        if cell is not None:
            self.setCurrentCell(*cell)
            self.select_post(post_id)
            self.scrollTo(self.model().index(*cell))

    def reveal(self, when: datetime) -> None:
        """Shows the period containing ``when``."""
        raise NotImplementedError

    # -- selection --

    def select_post(self, post_id: int | None) -> None:
        if post_id != self.selected_post:
            self.selected_post = post_id
            self.post_selected.emit(post_id)
        self.viewport().update()

    def selected_entry(self) -> Entry | None:
        return self.by_id.get(self.selected_post) if self.selected_post is not None else None

    def _cell_changed(self, row: int, column: int, _old_row: int, _old_column: int) -> None:
        entries = self.cells.get((row, column), [])
        if not any(e.post_id == self.selected_post for e in entries):
            self.select_post(entries[0].post_id if entries else None)

    def chips(self, row: int, column: int, rect: QRect | None = None
              ) -> tuple[list[tuple[QRect, Entry]], int]:
        """Where each post of a cell is painted, and how many did not fit."""
        if rect is None:
            rect = self.visualRect(self.model().index(row, column))
        entries = self.cells.get((row, column), [])
        top = rect.top() + 2 + (self.fontMetrics().height() + 2 if self.caption(row, column)
                                else 0)
        height = self.fontMetrics().height() + 4
        room = max(0, (rect.bottom() - top + CHIP_GAP) // (height + CHIP_GAP))
        shown = entries if len(entries) <= room else entries[: max(0, room - 1)]
        placed = []
        for n, entry in enumerate(shown):
            y = top + n * (height + CHIP_GAP)
            placed.append((QRect(rect.left() + 3, y, rect.width() - 6, height), entry))
        return placed, len(entries) - len(shown)

    def entry_at(self, pos: QPoint) -> Entry | None:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        placed, _hidden = self.chips(index.row(), index.column())
        return next((e for r, e in placed if r.contains(pos)), None)

    def chip_center(self, post_id: int) -> QPoint | None:
        """Where a post's chip is on the viewport (for tests and accessibility)."""
        entry = self.by_id.get(post_id)
        cell = self.cell_of(entry.when) if entry else None
        if cell is None:
            return None
        placed, _hidden = self.chips(*cell)
        return next((r.center() for r, e in placed if e.post_id == post_id), None)

    # -- mouse --

    def mousePressEvent(self, event: QMouseEvent) -> None:
        super().mousePressEvent(event)
        pos = event.position().toPoint()
        entry = self.entry_at(pos)
        if entry is not None:
            self.select_post(entry.post_id)
        self._press = (pos, entry) if (entry is not None and event.button()
                                       == Qt.MouseButton.LeftButton) else None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            start, entry = self._press
            distance = (event.position().toPoint() - start).manhattanLength()
            if distance >= QApplication.startDragDistance():
                self._press = None
                self.begin_drag(entry)
                return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._press = None
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        pos = event.position().toPoint()
        index = self.indexAt(pos)
        if not index.isValid():
            return
        entry = self.entry_at(pos)
        if entry is not None:
            self.post_activated.emit(entry.post_id)
        elif not self.cells.get((index.row(), index.column())):
            self.empty_activated.emit(self.draft_time(index.row(), index.column()))

    def begin_drag(self, entry: Entry) -> None:
        """Drags a post to another cell; one that can't move says why instead."""
        if not entry.movable:
            self.refused.emit(f"“{entry.text}” can't be moved: {entry.refusal}")
            return
        drag = QDrag(self)
        drag.setMimeData(post_mime(entry))
        drag.setPixmap(self._chip_pixmap(entry))
        drag.exec(Qt.DropAction.MoveAction)

    def _chip_pixmap(self, entry: Entry) -> QPixmap:
        metrics = self.fontMetrics()
        width = min(260, metrics.horizontalAdvance(entry.label) + 12)
        pixmap = QPixmap(width, metrics.height() + 4)
        pixmap.fill(QColor(0, 0, 0, 0))
        painter = QPainter(pixmap)
        paint_chip(painter, pixmap.rect(), entry, selected=True, font=self.font())
        painter.end()
        return pixmap

    # -- drops --

    def _accepts(self, event: QDragMoveEvent | QDragEnterEvent | QDropEvent) -> bool:
        mime = event.mimeData()
        return mime.hasFormat(MIME_POST) or mime.hasFormat(MIME_DRAFTS)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self._accepts(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        index = self.indexAt(event.position().toPoint())
        if not (self._accepts(event) and index.isValid()):
            event.ignore()
            return
        self.drop_cell = (index.row(), index.column())
        self.viewport().update()
        event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_cell = None
        self.viewport().update()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_cell = None
        self.viewport().update()
        index = self.indexAt(event.position().toPoint())
        if not index.isValid():
            event.ignore()
            return
        row, column = index.row(), index.column()
        mime = event.mimeData()
        post_id = dragged_post(mime)
        if post_id is not None:
            entry = self.by_id.get(post_id)
            if entry is None:
                event.ignore()
                return
            event.setDropAction(Qt.DropAction.MoveAction)
            event.accept()
            self.post_dropped.emit(post_id, self.drop_time(entry, row, column))
            return
        drafts = dragged_drafts(mime)
        if drafts:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self.drafts_dropped.emit(drafts, self.draft_time(row, column))
            return
        event.ignore()

    # -- keyboard --

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        plain = modifiers == Qt.KeyboardModifier.NoModifier
        if plain and key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown, Qt.Key.Key_Home):
            self.go(-1 if key == Qt.Key.Key_PageUp else 1 if key == Qt.Key.Key_PageDown else 0)
            return
        if plain and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._activate_current()
            return
        if plain and key == Qt.Key.Key_Space:
            self._next_in_cell()
            return
        if modifiers == Qt.KeyboardModifier.AltModifier:
            step = self.step_for(key)
            entry = self.selected_entry()
            if step is not None and entry is not None:
                if entry.movable:
                    self.post_dropped.emit(entry.post_id, entry.when + step)
                else:
                    self.refused.emit(f"“{entry.text}” can't be moved: {entry.refusal}")
                return
        super().keyPressEvent(event)

    def _activate_current(self) -> None:
        row, column = self.currentRow(), self.currentColumn()
        if row < 0 or column < 0:
            return
        if self.selected_post is not None:
            self.post_activated.emit(self.selected_post)
        elif not self.cells.get((row, column)):
            self.empty_activated.emit(self.draft_time(row, column))

    def _next_in_cell(self) -> None:
        entries = self.cells.get((self.currentRow(), self.currentColumn()), [])
        if not entries:
            return
        ids = [e.post_id for e in entries]
        at = ids.index(self.selected_post) if self.selected_post in ids else -1
        self.select_post(ids[(at + 1) % len(ids)])

    # -- tooltips --

    def tooltip_at(self, pos: QPoint) -> str:
        """The tooltip at a viewport position: the post under it, else its cell's."""
        entry = self.entry_at(pos)
        if entry is not None:
            return entry.tooltip
        item = self.itemAt(pos)
        return item.toolTip() if item is not None else ""

    def viewportEvent(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            assert isinstance(event, QHelpEvent)
            text = self.tooltip_at(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)


def paint_chip(painter: QPainter, rect: QRect, entry: Entry, *, selected: bool,
               font: QFont, highlight: QColor | None = None) -> None:
    background, border, text = TONES[entry.tone]
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(highlight if (selected and highlight is not None) else QColor(border))
    pen.setWidth(2 if selected else 1)
    painter.setPen(pen)
    painter.setBrush(QColor(background))
    painter.drawRoundedRect(rect.adjusted(1, 1, -1, -1), 4, 4)
    painter.setPen(QColor(text))
    painter.setFont(font)
    inner = rect.adjusted(6, 0, -5, 0)
    label = painter.fontMetrics().elidedText(entry.label, Qt.TextElideMode.ElideRight,
                                             inner.width())
    painter.drawText(inner, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
    painter.restore()


class ChipDelegate(QStyledItemDelegate):
    """Paints a cell of a :class:`CalendarGrid` from the grid's own state."""

    def __init__(self, grid: CalendarGrid) -> None:
        super().__init__(grid)
        self._grid = grid

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        grid = self._grid
        row, column = index.row(), index.column()
        rect = QRect(option.rect)
        palette: QPalette = option.palette
        state = option.state
        highlight = palette.color(QPalette.ColorRole.Highlight)
        painter.save()
        if grid.is_dimmed(row, column):
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        if grid.is_today(row, column):
            tint = QColor(highlight)
            tint.setAlpha(28)
            painter.fillRect(rect, tint)
        if state & QStyle.StateFlag.State_Selected:
            tint = QColor(highlight)
            tint.setAlpha(45)
            painter.fillRect(rect, tint)
        if grid.drop_cell == (row, column):
            tint = QColor(highlight)
            tint.setAlpha(70)
            painter.fillRect(rect, tint)
            painter.setPen(QPen(highlight, 2, Qt.PenStyle.DashLine))
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        text_colour = palette.color(QPalette.ColorRole.Text)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        marks = grid.marks.get((row, column))
        if marks:
            mark_colour = QColor(highlight)
            mark_colour.setAlpha(22)
            painter.fillRect(rect.adjusted(1, 1, -1, -1), mark_colour)
            painter.setPen(QPen(muted, 1, Qt.PenStyle.DotLine))
            painter.drawRect(rect.adjusted(2, 2, -3, -3))
            if not grid.cells.get((row, column)):
                small = QFont(option.font)
                small.setPointSizeF(max(6.0, small.pointSizeF() * 0.85))
                painter.setFont(small)
                painter.setPen(muted)
                painter.drawText(rect.adjusted(6, 0, -4, 0),
                                 Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                                 painter.fontMetrics().elidedText(
                                     " · ".join(short for short, _long in marks),
                                     Qt.TextElideMode.ElideRight,
                                     rect.width() - 10))
        caption = grid.caption(row, column)
        font = QFont(option.font)
        if caption:
            caption_font = QFont(font)
            today = grid.is_today(row, column)
            caption_font.setBold(today)
            painter.setFont(caption_font)
            metrics = painter.fontMetrics()
            box = QRect(rect.left() + 4, rect.top() + 2,
                        metrics.horizontalAdvance(caption) + 8, metrics.height())
            if today:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(highlight)
                painter.drawRoundedRect(box, 6, 6)
                painter.setPen(palette.color(QPalette.ColorRole.HighlightedText))
            else:
                painter.setPen(muted if grid.is_dimmed(row, column) else text_colour)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, caption)
        placed, hidden = grid.chips(row, column, rect)
        for chip, entry in placed:
            paint_chip(painter, chip, entry, selected=entry.post_id == grid.selected_post,
                       font=font, highlight=highlight)
        if hidden:
            last = placed[-1][0] if placed else QRect(rect.left() + 3, rect.top(), 0,
                                                      painter.fontMetrics().height())
            painter.setFont(font)
            painter.setPen(muted)
            painter.drawText(QRect(rect.left() + 6, last.bottom() + CHIP_GAP,
                                   rect.width() - 10, painter.fontMetrics().height()),
                             Qt.AlignmentFlag.AlignLeft, f"+{hidden} more")
        if state & QStyle.StateFlag.State_HasFocus:
            painter.setPen(QPen(highlight, 1, Qt.PenStyle.DotLine))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        painter.restore()


class CalendarPage(QWidget):
    """A grid with its navigation bar: previous, today, next and the period shown."""

    def __init__(self, grid: CalendarGrid, unit: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = grid
        grid.setParent(self)
        self.previous_button = QPushButton("◀", self)
        self.previous_button.setToolTip(f"Previous {unit} (Page Up)")
        self.previous_button.setAccessibleName(f"Previous {unit}")
        self.today_button = QPushButton("Today", self)
        self.today_button.setToolTip(f"This {unit} (Home)")
        self.next_button = QPushButton("▶", self)
        self.next_button.setToolTip(f"Next {unit} (Page Down)")
        self.next_button.setAccessibleName(f"Next {unit}")
        self.title = QLabel(self)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        for button, step in ((self.previous_button, -1), (self.today_button, 0),
                             (self.next_button, 1)):
            button.clicked.connect(functools.partial(grid.go, step))
            button.setAutoDefault(False)
        grid.period_changed.connect(self._show_title)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for widget in (self.previous_button, self.today_button, self.next_button):
            bar.addWidget(widget)
        bar.addSpacing(8)
        bar.addWidget(self.title)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(grid, 1)
        self._show_title()

    def _show_title(self) -> None:
        self.title.setText(self.grid.title())
