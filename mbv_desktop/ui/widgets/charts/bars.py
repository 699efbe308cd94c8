"""Grouped bars: one cluster per category (a platform, an account, a tag), one bar per group in
it (a metric), with a colour key of the groups after the title. Hovering a bar shows its
category, group and value; values can also be written above the bars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QPointF
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QWidget

from mbv_desktop.ui.widgets.charts.base import ChartBase, CompactAxis, ThemeColors, discard_item
from mbv_desktop.ui.widgets.charts.data import elide, format_compact, format_value, series_color
from mbv_desktop.ui.widgets.charts.export import Chunked, Rows, TableSource, values_or_none

CLUSTER_WIDTH = 0.8  # of the space one category has on the axis
LABEL_LENGTH = 18
LABEL_GAP = 12  # px between category names


@dataclass(frozen=True)
class _State:
    categories: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    # groups x categories; NaN: no value
    values: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty((0, 0)))
    colors: tuple[str, ...] = ()


class BarChart(ChartBase):
    """``set_data`` draws grouped bars, with a colour key after the title (a legend over the
    plot would hide the tallest bars); ``show_values`` writes each value above its bar."""

    def __init__(self, parent: QWidget | None = None, *, title: str, y_label: str,
                 show_values: bool = False) -> None:
        super().__init__(parent, title=title)
        self._y_label = y_label
        self._show_values = show_values
        self._state = _State()
        self.bar_items: list[pg.BarGraphItem] = []
        self.value_labels: list[pg.TextItem] = []
        self.labelled_categories: list[str] = []  # the names written under the bars
        item = self.plot_item
        item.setLabel("left", y_label)
        item.setMouseEnabled(x=False, y=False)
        self.view_box.sigResized.connect(self._label_categories)
        self._apply_theme()

    def _make_axes(self) -> dict[str, pg.AxisItem]:
        return {"left": CompactAxis("left")}

    # --- public -----------------------------------------------------------------------------

    def set_data(self, categories: Sequence[str], groups: Mapping[str, Sequence[float]],
                 colors: Mapping[str, str] | None = None) -> None:
        """Draws one cluster per category with one bar per group. Each group has one value per
        category (NaN: no bar). ``colors``: a colour per group name, else a default palette.
        Raises ValueError when a group's length does not match the categories."""
        state = _prepare(categories, groups, colors or {})
        self._state = state
        self._hide_hover()
        self._draw(state)
        self._set_empty(not bool(np.isfinite(state.values).any()))

    # --- drawing ----------------------------------------------------------------------------

    def _draw(self, state: _State) -> None:
        for old in [*self.bar_items, *self.value_labels]:
            discard_item(self.plot_item, old)
        self.bar_items, self.value_labels = [], []
        count = len(state.categories)
        width = _bar_width(len(state.groups))
        for g, color in enumerate(state.colors):
            heights = state.values[g]
            shown = np.flatnonzero(np.isfinite(heights))
            xs = _bar_centres(count, len(state.groups), g)[shown]
            bars = pg.BarGraphItem(x=xs, height=heights[shown], width=width,
                                   brush=color, pen=None)
            self.plot_item.addItem(bars)
            self.bar_items.append(bars)
            if self._show_values:
                self._label_bars(xs, heights[shown])
        self._label_categories()
        self._fit(state)
        self._refresh_title()  # the colour key
        self._restyle(self._colors)

    def _label_bars(self, xs: npt.NDArray[np.float64],
                    heights: npt.NDArray[np.float64]) -> None:
        for x, height in zip(xs.tolist(), heights.tolist(), strict=True):
            label = pg.TextItem(format_compact(height),
                                anchor=(0.5, 1.0 if height >= 0 else 0.0))
            label.setPos(x, height)
            self.plot_item.addItem(label, ignoreBounds=True)
            self.value_labels.append(label)

    def _label_categories(self) -> None:
        """Every category's name under its bars where they fit, else every second (third...)
        one; hovering names any bar."""
        names = [elide(name, LABEL_LENGTH) for name in self._state.categories]
        axis = self.plot_item.getAxis("bottom")
        if not names:
            axis.setTicks([[]])
            self.labelled_categories = []
            return
        metrics = QFontMetrics(axis.style.get("tickFont") or self.font())
        widest = max(metrics.horizontalAdvance(name) for name in names) + LABEL_GAP
        per_category = self.view_box.width() / len(names)
        step = max(1, math.ceil(widest / per_category)) if per_category > 0 else 1
        # Counted from the middle of a step: the first name, centred on the first bars, would
        # often stick out of the axis, and pyqtgraph leaves out names that do.
        labelled = [(i, name) for i, name in enumerate(names) if i % step == step // 2]
        axis.setTicks([labelled, [(i, "") for i in range(len(names)) if i % step != step // 2]])
        self.labelled_categories = [name for _, name in labelled]

    def _fit(self, state: _State) -> None:
        finite = state.values[np.isfinite(state.values)]
        low = min(0.0, float(finite.min())) if finite.size else 0.0
        high = max(0.0, float(finite.max())) if finite.size else 1.0
        room = (high - low) * (0.15 if self._show_values else 0.05) or 1.0
        self.view_box.setRange(xRange=(-0.5, max(len(state.categories), 1) - 0.5),
                               yRange=(low - (room if low < 0 else 0), high + room),
                               padding=0)

    def _key_html(self) -> str:
        state = self._state
        if len(state.groups) < 2:
            return ""
        return "&nbsp;&nbsp;".join(
            f"<span style='color:{color}'>■</span>&nbsp;{escape(group)}"
            for group, color in zip(state.groups, state.colors, strict=True))

    def _restyle(self, colors: ThemeColors) -> None:
        for label in self.value_labels:
            label.setColor(colors.foreground)

    def _describe(self) -> str:
        state = self._state
        return (f"Bar chart of {self._y_label}: {len(state.categories)} categories, "
                f"{len(state.groups)} bars each. Export the data for every value.")

    # --- hover ------------------------------------------------------------------------------

    def _hover_at(self, point: QPointF) -> tuple[str, str] | None:
        state = self._state
        groups = len(state.groups)
        category = round(point.x())
        if not state.categories or not 0 <= category < len(state.categories):
            return None
        offset = point.x() - (category - CLUSTER_WIDTH / 2)
        if not 0 <= offset < CLUSTER_WIDTH:
            return None
        g = min(groups - 1, int(offset // _bar_width(groups)))
        value = float(state.values[g, category])
        if math.isnan(value):
            return None
        name, group = state.categories[category], state.groups[g]
        shown = format_value(value)
        html = (f"<b>{escape(name)}</b><br><span style='color:{state.colors[g]}'>■</span> "
                f"{escape(group)}: <b>{shown}</b>")
        return html, f"{name}\n{group}: {shown}"

    # --- data out ---------------------------------------------------------------------------

    def _table_source(self) -> TableSource:
        state = self._state

        def table() -> Chunked:
            columns = [values_or_none(row) for row in state.values]
            rows: Rows = [[name, *(column[i] for column in columns)]
                          for i, name in enumerate(state.categories)]
            return ["category", *state.groups], iter([rows])

        return table


def _prepare(categories: Sequence[str], groups: Mapping[str, Sequence[float]],
             colors: Mapping[str, str]) -> _State:
    names = tuple(str(c) for c in categories)
    values = np.full((len(groups), len(names)), np.nan)
    for g, (group, column) in enumerate(groups.items()):
        if len(column) != len(names):
            raise ValueError(f"group {group!r} has {len(column)} values for "
                             f"{len(names)} categories")
        values[g] = np.asarray(column, dtype=np.float64)
    palette = tuple(colors.get(group) or series_color(g) for g, group in enumerate(groups))
    return _State(names, tuple(groups), values, palette)


def _bar_width(groups: int) -> float:
    return CLUSTER_WIDTH / max(groups, 1)


def _bar_centres(categories: int, groups: int, group: int) -> npt.NDArray[np.float64]:
    width = _bar_width(groups)
    return np.arange(categories, dtype=np.float64) - CLUSTER_WIDTH / 2 + width * (group + 0.5)
