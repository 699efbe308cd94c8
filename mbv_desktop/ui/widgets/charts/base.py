"""What every chart shares: the pyqtgraph set-up, theme colours, the empty state, the hover
readout, export to PNG and CSV (from code, the right-click menu, or Ctrl+Shift+E / Ctrl+Shift+C
on the focused chart), the focus ring and accessible name.

A chart subclass creates its pyqtgraph items after ``ChartBase.__init__`` and then calls
``_apply_theme()``; it implements ``_table_builder`` (the data it draws, as a table) and, for
hover, ``_hover_at``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, ClassVar

import pyqtgraph as pg
from pyqtgraph.exporters import ImageExporter
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QFocusEvent,
    QFont,
    QImage,
    QImageWriter,
    QKeySequence,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QStackedLayout,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.ui.widgets.charts.data import EMPTY_TEXT, format_compact
from mbv_desktop.ui.widgets.charts.export import Table, TableSource, collect, write_csv

log = logging.getLogger(__name__)

EXPORT_IMAGE_SHORTCUT = "Ctrl+Shift+E"
EXPORT_DATA_SHORTCUT = "Ctrl+Shift+C"
READOUT_OFFSET = 14  # px between the pointer and the hover readout
FOCUS_MARGIN = 3  # px around the plot where the focus ring is drawn

_configured = False


def configure() -> None:
    """pyqtgraph's global options, once: no antialiasing on screen (exports are antialiased),
    no numba, no OpenGL, default colours from the theme (each chart also sets its own, and
    follows theme changes)."""
    global _configured
    if _configured:
        return
    palette = QApplication.palette()
    pg.setConfigOptions(antialias=False, useNumba=False, useOpenGL=False, useCupy=False,
                        segmentedLineMode="auto",
                        background=palette.color(QPalette.ColorRole.Base),
                        foreground=palette.color(QPalette.ColorRole.WindowText))
    _configured = True


@dataclass(frozen=True)
class ThemeColors:
    background: QColor
    foreground: QColor
    muted: QColor
    grid: QColor
    neutral: QColor  # cells and areas with no data
    accent: QColor


def theme_colors(widget: QWidget) -> ThemeColors:
    """The chart colours from the widget's palette, so light and dark themes both read."""
    pal = widget.palette()
    background = pal.color(QPalette.ColorRole.Base)
    foreground = pal.color(QPalette.ColorRole.WindowText)
    dark = background.lightness() < 128
    return ThemeColors(
        background=background,
        foreground=foreground,
        muted=pal.color(QPalette.ColorRole.PlaceholderText),
        grid=pal.color(QPalette.ColorRole.Mid),
        # "No data" must differ from the colour scale's dark end on a dark background too.
        neutral=_mix(background, foreground, 0.25 if dark else 0.12),
        accent=pal.color(QPalette.ColorRole.Highlight),
    )


def _mix(a: QColor, b: QColor, amount: float) -> QColor:
    return QColor(round(a.red() + (b.red() - a.red()) * amount),
                  round(a.green() + (b.green() - a.green()) * amount),
                  round(a.blue() + (b.blue() - a.blue()) * amount))


class CompactAxis(pg.AxisItem):
    """A value axis that labels ticks 950, 15k, 1.2M instead of 1.2e+06."""

    def __init__(self, orientation: str, **kwargs: Any) -> None:
        super().__init__(orientation, **kwargs)
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        return [format_compact(v * scale) for v in values]


def discard_item(plot_item: pg.PlotItem, item: QObject) -> None:
    """Takes a graphics object out of the plot and has Qt delete it on this (the GUI) thread.
    Left to Python, its reference cycles could be collected on any thread that happens to run
    the garbage collector, which Qt does not survive."""
    plot_item.removeItem(item)
    item.deleteLater()


def file_stem(title: str) -> str:
    """A file name from a chart title: "Likes over time" -> "likes-over-time"."""
    stem = re.sub(r"[^\w]+", "-", title.lower()).strip("-")
    return stem or "chart"


class ChartBase(QWidget):
    """A titled pyqtgraph plot with an empty state, hover readout and exports."""

    exported = Signal(object)  # the Path written from the menu or a shortcut
    export_failed = Signal(str)  # why, as a sentence
    _csv_finished = Signal(object, str)  # from the export thread: path, error ("" when written)

    last_dir: ClassVar[Path | None] = None  # where the last export went, for the next dialog

    def __init__(self, parent: QWidget | None, *, title: str) -> None:
        super().__init__(parent)
        configure()
        self._title = title
        self._shown_title: tuple[str, str] | None = None  # what the plot title shows
        self._note = ""
        self._empty = True
        self._hover_plain = ""
        self._menu: QMenu | None = None
        self._message: QMessageBox | None = None
        self._colors = theme_colors(self)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(title)
        self.setMinimumSize(240, 160)

        self.plot_widget = pg.PlotWidget(self, axisItems=self._make_axes())
        self.plot_widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the chart itself takes focus
        self.plot_item = self.plot_widget.getPlotItem()
        self.view_box = self.plot_item.getViewBox()
        self.plot_item.setMenuEnabled(False)  # ours replaces pyqtgraph's expert menu
        self.plot_item.hideButtons()
        self._build_empty_page()
        self._pages = QStackedLayout()
        self._pages.addWidget(self.plot_widget)
        self._pages.addWidget(self._empty_page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(FOCUS_MARGIN, FOCUS_MARGIN, FOCUS_MARGIN, FOCUS_MARGIN)
        layout.addLayout(self._pages)
        self._build_readout()
        self._build_actions()
        self.plot_widget.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.plot_widget.viewport().installEventFilter(self)
        self._csv_finished.connect(self._on_csv_finished, Qt.ConnectionType.QueuedConnection)
        self._show_page(empty=True)  # not _set_empty: the subclass's items do not exist yet

    # --- for subclasses ---------------------------------------------------------------------

    def _make_axes(self) -> dict[str, pg.AxisItem]:
        return {}

    def _table_source(self) -> TableSource:
        """A function giving the table of what is drawn now, its rows in chunks. It must only
        read state that ``set_*`` replaces (never mutates): exports run it in a worker
        thread."""
        raise NotImplementedError

    def _hover_at(self, point: QPointF) -> tuple[str, str] | None:
        """(rich text, plain text) to show for the pointer at ``point`` in data coordinates,
        or None for nothing there."""
        return None

    def _clear_hover_marks(self) -> None:
        """Removes crosshairs and the like drawn while hovering."""

    def _restyle(self, colors: ThemeColors) -> None:
        """Applies the theme colours to the subclass's own items."""

    def _key_html(self) -> str:
        """A colour key drawn after the title (rich text), where a legend would cover data."""
        return ""

    def _describe(self) -> str:
        """A sentence for screen readers about what the chart shows."""
        return self._note

    # --- public -----------------------------------------------------------------------------

    @property
    def title(self) -> str:
        return self._title

    def set_title(self, title: str) -> None:
        self._title = title
        self.setAccessibleName(title)
        self._empty_title.setText(title)
        self._refresh_title()

    def title_text(self) -> str:
        """The title line as drawn, in plain text (the title and its note)."""
        return f"{self._title}  {self._note}".strip()

    @property
    def is_empty(self) -> bool:
        return self._empty

    def set_empty_text(self, text: str) -> None:
        """The sentence shown instead of the chart when there is no data."""
        self.empty_label.setText(text)

    def hover_text(self) -> str:
        """What the hover readout shows now, in plain text ("" when it is hidden)."""
        return self._hover_plain if self.readout.isVisible() else ""

    def data_table(self) -> Table:
        """The header and rows of exactly the data the chart draws, at full resolution."""
        return collect(self._table_source()())

    def export_csv(self, path: Path) -> None:
        """Writes ``data_table()`` as CSV. Raises OSError."""
        write_csv(path, *self._table_source()())

    def export_png(self, path: Path, width: int = 1200) -> None:
        """Writes the chart as a PNG ``width`` pixels wide. Raises OSError."""
        writer = QImageWriter(str(path), b"png")
        if not writer.write(self.render_image(width)):
            raise OSError(writer.errorString())

    def render_image(self, width: int = 1200) -> QImage:
        """The chart drawn ``width`` pixels wide (height in the chart's proportions), without
        the hover readout; works offscreen and before the chart is shown."""
        if width < 1:
            raise ValueError("width must be at least 1 pixel")
        self._hide_hover()
        if self._empty:
            return self._render_empty(width)
        exporter = ImageExporter(self.plot_item)
        params = exporter.parameters()
        params["background"] = self._colors.background
        params["antialias"] = True
        params["width"] = width  # sets the height too, keeping the proportions
        image = exporter.export(toBytes=True)
        assert isinstance(image, QImage)
        return image

    def context_menu(self) -> QMenu:
        """The right-click menu: this chart's actions."""
        menu = QMenu(self)
        for action in self.actions():
            menu.addAction(action)
        return menu

    def export_image_interactive(self) -> Path | None:
        """Asks where to save, then writes the PNG. Returns the path written."""
        path = self._ask_path("Export image", ".png", "PNG image (*.png)")
        if path is None:
            return None
        try:
            self.export_png(path)
        except OSError as e:
            self._report_failure(_os_error_sentence(path, e))
            return None
        self.exported.emit(path)
        return path

    def export_data_interactive(self) -> Path | None:
        """Asks where to save, then writes the CSV in a worker thread (a big chart's table takes
        longer than the GUI may stall); ``exported`` says when it is written."""
        path = self._ask_path("Export data", ".csv", "CSV (*.csv)")
        if path is None:
            return None
        threading.Thread(target=self._write_csv_in_background,
                         args=(path, self._table_source()),
                         name="mbv-chart-csv").start()
        return path

    # --- building ---------------------------------------------------------------------------

    def _build_empty_page(self) -> None:
        self._empty_page = QWidget(self)
        self._empty_title = QLabel(self._title, self._empty_page)
        font = self._empty_title.font()
        font.setBold(True)
        self._empty_title.setFont(font)
        self._empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label = QLabel(EMPTY_TEXT, self._empty_page)
        self.empty_label.setObjectName("muted")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        page = QVBoxLayout(self._empty_page)
        page.addWidget(self._empty_title)
        page.addStretch(1)
        page.addWidget(self.empty_label)
        page.addStretch(2)

    def _build_readout(self) -> None:
        self.readout = QLabel(self.plot_widget)
        self.readout.setObjectName("chartReadout")
        self.readout.setTextFormat(Qt.TextFormat.RichText)
        self.readout.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.readout.setStyleSheet(
            "QLabel { background: palette(base); color: palette(text);"
            " border: 1px solid palette(mid); border-radius: 4px; padding: 4px 6px; }")
        self.readout.hide()

    def _build_actions(self) -> None:
        self.export_image_action = self._add_action(
            "Export image…", self.export_image_interactive, EXPORT_IMAGE_SHORTCUT)
        self.export_data_action = self._add_action(
            "Export data…", self.export_data_interactive, EXPORT_DATA_SHORTCUT)

    def _add_action(self, text: str, slot: Callable[[], object],
                    shortcut: str | None = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    # --- state ------------------------------------------------------------------------------

    def _set_empty(self, empty: bool) -> None:
        self._hide_hover()
        self._show_page(empty)

    def _show_page(self, empty: bool) -> None:
        self._empty = empty
        self._pages.setCurrentWidget(self._empty_page if empty else self.plot_widget)
        self.export_image_action.setEnabled(not empty)
        self.export_data_action.setEnabled(not empty)
        self.setAccessibleDescription(self.empty_label.text() if empty else self._describe())

    def _set_note(self, note: str) -> None:
        self._note = note
        self._refresh_title()

    def _refresh_title(self) -> None:
        colors = self._colors
        html = escape(self._title)
        if self._note:
            html += (f"&nbsp;&nbsp;<span style='font-size:9pt; color:{colors.muted.name()}'>"
                     f"{escape(self._note)}</span>")
        key = self._key_html()
        if key:
            html += f"&nbsp;&nbsp;<span style='font-size:9pt'>{key}</span>"
        shown = (html, colors.foreground.name())
        if shown != self._shown_title:  # the title's layout costs milliseconds: only on change
            self._shown_title = shown
            self.plot_item.setTitle(html, color=colors.foreground.name(), size="11pt")
        if not self._empty:
            self.setAccessibleDescription(self._describe())

    def _apply_theme(self) -> None:
        colors = self._colors = theme_colors(self)
        self.plot_widget.setBackground(colors.background)
        for name in ("left", "bottom", "right", "top"):
            axis = self.plot_item.getAxis(name)
            axis.setPen(colors.grid)
            axis.setTextPen(colors.foreground)
            if axis.labelText:
                axis.setLabel(axis.labelText, color=colors.foreground.name())
        self._refresh_title()
        self._restyle(colors)

    # --- hover ------------------------------------------------------------------------------

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self._empty or not self.view_box.sceneBoundingRect().contains(scene_pos):
            self._hide_hover()
            return
        shown = self._hover_at(self.view_box.mapSceneToView(scene_pos))
        if shown is None:
            self._hide_hover()
            return
        html, self._hover_plain = shown
        self.readout.setText(html)
        self.readout.adjustSize()
        self._place_readout(self.plot_widget.mapFromScene(scene_pos))
        self.readout.show()
        self.readout.raise_()

    def _place_readout(self, pointer: QPoint) -> None:
        """Beside the pointer, flipped to the other side where it would leave the chart."""
        area = self.plot_widget.rect()
        size = self.readout.size()
        x = pointer.x() + READOUT_OFFSET
        if x + size.width() > area.width():
            x = pointer.x() - READOUT_OFFSET - size.width()
        y = pointer.y() + READOUT_OFFSET
        if y + size.height() > area.height():
            y = pointer.y() - READOUT_OFFSET - size.height()
        self.readout.move(max(0, x), max(0, y))

    def _hide_hover(self) -> None:
        self.readout.hide()
        self._hover_plain = ""
        self._clear_hover_marks()

    # --- exports ----------------------------------------------------------------------------

    def _ask_path(self, caption: str, suffix: str, file_filter: str) -> Path | None:
        folder = ChartBase.last_dir or Path.home()
        chosen, _ = QFileDialog.getSaveFileName(
            self, caption, str(folder / (file_stem(self._title) + suffix)), file_filter,
            options=QFileDialog.Option.DontUseNativeDialog)
        if not chosen:
            return None
        path = Path(chosen)
        if path.suffix.lower() != suffix:
            path = path.with_name(path.name + suffix)
        ChartBase.last_dir = path.parent
        return path

    def _write_csv_in_background(self, path: Path, table: TableSource) -> None:
        error = ""
        try:
            write_csv(path, *table())
        except OSError as e:
            error = _os_error_sentence(path, e)
        except Exception:
            log.exception("Exporting chart data failed")
            error = f"Could not export the data to {path.name}: something went wrong."
        with contextlib.suppress(RuntimeError):  # the chart was closed while writing
            self._csv_finished.emit(path, error)

    def _on_csv_finished(self, path: Path, error: str) -> None:
        if error:
            self._report_failure(error)
        else:
            self.exported.emit(path)

    def _report_failure(self, sentence: str) -> None:
        self.export_failed.emit(sentence)
        box = QMessageBox(QMessageBox.Icon.Warning, "Export failed", sentence,
                          QMessageBox.StandardButton.Ok, self)
        box.open()  # not exec(): the GUI keeps running behind it
        self._message = box

    # --- Qt events --------------------------------------------------------------------------

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self._menu is not None:
            self._menu.deleteLater()
        self._menu = self.context_menu()
        self._menu.popup(event.globalPos())
        event.accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Leave:
            self._hide_hover()
        return False

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_theme()

    def focusInEvent(self, event: QFocusEvent) -> None:
        super().focusInEvent(event)
        self.update()

    def focusOutEvent(self, event: QFocusEvent) -> None:
        super().focusOutEvent(event)
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if self.hasFocus():
            painter = QPainter(self)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(self._colors.accent, 2))
            painter.drawRoundedRect(QRectF(self.rect()).adjusted(1, 1, -1, -1), 4, 4)
            painter.end()

    def _render_empty(self, width: int) -> QImage:
        ratio = self.height() / self.width() if self.width() > 0 and self.height() > 0 else 0.5
        height = max(1, round(width * ratio))
        image = QImage(width, height, QImage.Format.Format_ARGB32)
        image.fill(self._colors.background)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFont(self.font())
        font.setPixelSize(max(12, width // 50))
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(self._colors.foreground)
        top = QRectF(0, height * 0.04, width, font.pixelSize() * 2)
        painter.drawText(top, Qt.AlignmentFlag.AlignCenter, self._title)
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(self._colors.muted)
        painter.drawText(QRectF(0, 0, width, height), Qt.AlignmentFlag.AlignCenter,
                         self.empty_label.text())
        painter.end()
        return image


def _os_error_sentence(path: Path, error: OSError) -> str:
    reason = error.strerror or str(error)
    return f"Could not write {path.name}: {reason}."
