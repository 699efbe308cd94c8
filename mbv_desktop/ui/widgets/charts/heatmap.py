"""The best-hours grid: weekdays down, hours across, each cell coloured by how posts published
then did, with a colour scale beside it. Cells without posts are a neutral grey, the best cell
is outlined and starred, and hovering a cell names its day, hour and value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

from mbv_desktop.ui.widgets.charts.base import ChartBase, ThemeColors
from mbv_desktop.ui.widgets.charts.data import HOURS, WEEKDAYS, format_value
from mbv_desktop.ui.widgets.charts.export import Chunked, TableSource, values_or_none

BEST_MARK = "#111111"  # the colour scale's top end is bright in every map we use
NO_DATA = "no posts"


@dataclass(frozen=True)
class _State:
    values: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 0)))
    row_labels: tuple[str, ...] = ()
    col_labels: tuple[str, ...] = ()
    value_label: str = "value"
    best: tuple[int, int] | None = None  # (row, column)


class HeatmapChart(ChartBase):
    """``set_grid`` colours a rows x columns grid (weekday x hour by default)."""

    def __init__(self, parent: QWidget | None = None, *, title: str,
                 color_map: str = "viridis") -> None:
        super().__init__(parent, title=title)
        self._state = _State()
        item = self.plot_item
        item.setMouseEnabled(x=False, y=False)
        self.view_box.invertY(True)  # the first row (Monday) on top
        self.color_map = pg.colormap.get(color_map)
        self.no_data = QGraphicsRectItem()
        self.no_data.setZValue(-10)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.best_mark = QGraphicsRectItem()
        self.best_mark.setZValue(10)
        self.best_mark.setPen(pg.mkPen(BEST_MARK, width=3))
        self.best_star = pg.TextItem("★", color=BEST_MARK, anchor=(0.5, 0.5))
        for part in (self.no_data, self.image_item, self.best_mark, self.best_star):
            item.addItem(part)
        self.color_bar = pg.ColorBarItem(values=(0, 1), colorMap=self.color_map, width=14,
                                         interactive=False, colorMapMenu=False)
        self.color_bar.setImageItem(self.image_item, insert_in=item)
        self._apply_theme()

    # --- public -----------------------------------------------------------------------------

    def set_grid(self, values: npt.ArrayLike, row_labels: Sequence[str] = WEEKDAYS,
                 col_labels: Sequence[str] = HOURS, value_label: str = "value") -> None:
        """Colours the grid: ``values[row, column]``, NaN where there is no data. Raises
        ValueError when the shape does not match the labels."""
        grid = np.asarray(values, dtype=np.float64)
        if grid.shape != (len(row_labels), len(col_labels)):
            raise ValueError(f"grid shape {grid.shape} does not match {len(row_labels)} rows "
                             f"and {len(col_labels)} columns")
        best: tuple[int, int] | None = None
        if np.isfinite(grid).any():
            r, c = np.unravel_index(np.nanargmax(grid), grid.shape)
            best = (int(r), int(c))
        state = _State(grid, tuple(row_labels), tuple(col_labels), value_label, best)
        self._state = state
        self._hide_hover()
        self._draw(state)
        self._set_empty(best is None)

    @property
    def best_cell(self) -> tuple[int, int] | None:
        """(row, column) of the highest value, or None when there is none."""
        return self._state.best

    # --- drawing ----------------------------------------------------------------------------

    def _draw(self, state: _State) -> None:
        rows, cols = state.values.shape
        finite = state.values[np.isfinite(state.values)]
        if finite.size:
            low, high = float(finite.min()), float(finite.max())
            levels = (low, high if high > low else low + 1.0)
            self.image_item.setImage(state.values, autoLevels=False, levels=levels)
            self.color_bar.setLevels(levels)
        self.color_bar.axis.setLabel(state.value_label, color=self._colors.foreground.name())
        self.no_data.setRect(QRectF(0, 0, cols, rows))
        self._mark_best(state)
        left = self.plot_item.getAxis("left")
        left.setTicks([[(r + 0.5, label) for r, label in enumerate(state.row_labels)]])
        self.plot_item.getAxis("bottom").setTicks(_column_ticks(state.col_labels))
        self.view_box.setRange(xRange=(0, max(cols, 1)), yRange=(0, max(rows, 1)), padding=0)
        note = ""
        if state.best is not None:
            r, c = state.best
            note = (f"best: {_cell_name(state, r, c)}, "
                    f"{format_value(float(state.values[r, c]))} {state.value_label}")
        self._set_note(note)

    def _mark_best(self, state: _State) -> None:
        if state.best is None:
            self.best_mark.hide()
            self.best_star.hide()
            return
        r, c = state.best
        self.best_mark.setRect(QRectF(c, r, 1, 1))
        self.best_star.setPos(c + 0.5, r + 0.5)
        self.best_mark.show()
        self.best_star.show()

    def _restyle(self, colors: ThemeColors) -> None:
        self.no_data.setBrush(QBrush(colors.neutral))
        self.no_data.setPen(QPen(Qt.PenStyle.NoPen))
        self.color_bar.axis.setPen(colors.grid)
        self.color_bar.axis.setTextPen(colors.foreground)
        self.color_bar.axis.setLabel(self._state.value_label, color=colors.foreground.name())

    def _describe(self) -> str:
        text = "Heatmap of the best days and hours to post"
        return f"{text}, {self._note}." if self._note else f"{text}."

    # --- hover ------------------------------------------------------------------------------

    def _hover_at(self, point: QPointF) -> tuple[str, str] | None:
        state = self._state
        rows, cols = state.values.shape
        r, c = math.floor(point.y()), math.floor(point.x())
        if not (0 <= r < rows and 0 <= c < cols):
            return None
        value = float(state.values[r, c])
        name = _cell_name(state, r, c)
        shown = NO_DATA if math.isnan(value) else f"{state.value_label}: {format_value(value)}"
        return f"<b>{escape(name)}</b><br>{escape(shown)}", f"{name}\n{shown}"

    # --- data out ---------------------------------------------------------------------------

    def _table_source(self) -> TableSource:
        state = self._state

        def table() -> Chunked:
            rows: list[list[object]] = []
            for r, day in enumerate(state.row_labels):
                values = values_or_none(state.values[r])
                rows.extend([day, hour, value]
                            for hour, value in zip(state.col_labels, values, strict=True))
            return ["day", "hour", state.value_label], iter([rows])

        return table


def _cell_name(state: _State, row: int, col: int) -> str:
    day, hour = state.row_labels[row], state.col_labels[col]
    return f"{day} {hour}:00" if hour.isdigit() else f"{day} {hour}"


def _column_ticks(labels: Sequence[str]) -> list[list[tuple[float, str]]]:
    """Every third column labelled first; the others only where there is room."""
    step = 3 if len(labels) > 12 else 1
    major = [(c + 0.5, label) for c, label in enumerate(labels) if c % step == 0]
    minor = [(c + 0.5, label) for c, label in enumerate(labels) if c % step]
    return [major, minor]
