"""Lines over time (engagement of each post, followers of each account): one line per series on
a date axis, downsampled to the pixels on screen and clipped to the visible range, so 100,000
points stay smooth. Many series are cut to the top few by latest value ("and 38 more"); the
exported data keeps them all. Hovering shows a crosshair and each line's nearest point, found
by binary search, never by walking the points.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from itertools import repeat

import numpy as np
import numpy.typing as npt
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsTextItem, QWidget

from mbv_desktop.ui.widgets.charts.base import (
    ChartBase,
    CompactAxis,
    ThemeColors,
)
from mbv_desktop.ui.widgets.charts.data import Series, elide, format_value, series_color
from mbv_desktop.ui.widgets.charts.export import (
    Rows,
    TableSource,
    chunks_of,
    iso_utc,
    values_or_none,
)

MAX_SERIES = 12
SYMBOL_LIMIT = 60  # series with this few points get dots, so a lone point is visible
LEGEND_ROWS = 10
LEGEND_GLYPHS = ("——", "– –", "····", "–·–", "–··")  # like LINE_STYLES, in any font
READOUT_LINES = 12
NAME_LENGTH = 28  # in the legend; the hover readout and the CSV have more
READOUT_NAME_LENGTH = 60
LINE_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine,
               Qt.PenStyle.DashDotLine, Qt.PenStyle.DashDotDotLine)


@dataclass(frozen=True)
class PreparedSeries:
    """Series checked and ranked for drawing (:func:`prepare_series`)."""

    every: tuple[Series, ...] = ()  # all series given, in order, arrays as float64
    shown: tuple[Series, ...] = ()  # the ones drawn, top by latest value
    colors: tuple[str, ...] = ()  # of the shown ones
    drawable: int = 0  # series with at least one value


class TimeSeriesChart(ChartBase):
    """``set_series`` draws one line per ``Series`` (at most ``max_series``)."""

    def __init__(self, parent: QWidget | None = None, *, title: str, y_label: str,
                 max_series: int = MAX_SERIES) -> None:
        super().__init__(parent, title=title)
        self._y_label = y_label
        self._max_series = max(1, max_series)
        self._state = PreparedSeries()
        self.curves: list[pg.PlotDataItem] = []  # the ones drawn, in the order shown
        self._spare: list[pg.PlotDataItem] = []  # made, hidden, ready for more lines
        item = self.plot_item
        item.setLabel("left", y_label)
        item.setMouseEnabled(x=True, y=False)  # zoom and pan through time; values follow
        self.view_box.setAutoVisible(y=True)
        self.legend = _Legend(self.view_box)
        self.crosshair = pg.InfiniteLine(angle=90, movable=False)
        self.markers = pg.ScatterPlotItem(size=8)
        for mark in (self.crosshair, self.markers):
            item.addItem(mark, ignoreBounds=True)
            mark.hide()
        self.show_all_action = self._add_action("Show the whole period", self.show_all)
        self.legend_action = self._add_action("Show legend", self._toggle_legend)
        self.legend_action.setCheckable(True)
        self.legend_action.setChecked(True)
        self._apply_theme()

    def _make_axes(self) -> dict[str, pg.AxisItem]:
        return {"bottom": pg.DateAxisItem(orientation="bottom"), "left": CompactAxis("left")}

    # --- public -----------------------------------------------------------------------------

    def set_series(self, series: Sequence[Series] | PreparedSeries) -> None:
        """Draws ``series`` (replacing what was drawn). Raises ValueError for times that are
        not finite or not ascending. Many series can be checked and ranked beforehand, off
        the GUI thread, with :func:`prepare_series`."""
        state = (series if isinstance(series, PreparedSeries)
                 else prepare_series(series, self._max_series))
        self._state = state
        self._hide_hover()
        self._draw(state)
        hidden = state.drawable - len(state.shown)
        self._set_note(f"top {len(state.shown)} by latest value, and {hidden:,} more"
                       if hidden else "")
        self._set_empty(not state.shown)

    def set_y_label(self, y_label: str) -> None:
        """What the values are (the axis, and the value column of the exported data)."""
        self._y_label = y_label
        self.plot_item.setLabel("left", y_label)

    @property
    def shown_series(self) -> tuple[Series, ...]:
        return self._state.shown

    @property
    def hidden_count(self) -> int:
        """Series with data that are not drawn (only the top ``max_series`` are)."""
        return self._state.drawable - len(self._state.shown)

    def show_all(self) -> None:
        """Back to the whole period after zooming or panning."""
        self.view_box.enableAutoRange(x=True, y=True)
        # Now rather than when next painted: the curves then downsample once, for the range
        # they will be shown in, and positions map to the right times straight away.
        self.view_box.updateAutoRange()

    # --- drawing ----------------------------------------------------------------------------

    def reserve_curves(self, count: int) -> None:
        """Makes curves ahead of the data (about 2 ms each), so a first ``set_series`` with
        many lines does not make them all in one go on the GUI thread."""
        while len(self.curves) + len(self._spare) < min(count, self._max_series):
            curve = self._new_curve()
            curve.setVisible(False)
            self._spare.append(curve)

    def _draw(self, state: PreparedSeries) -> None:
        # Curves are reused from one set_series to the next: making and adding a pyqtgraph
        # curve costs about 1-2 ms, setting new data on one a tenth of that. Lines no longer
        # drawn are emptied, hidden and kept for the next time.
        for curve in self.curves[len(state.shown):]:
            curve.setData(x=[], y=[])
            curve.setVisible(False)
            self._spare.append(curve)
        del self.curves[len(state.shown):]
        seen: dict[str, int] = {}
        styles: list[int] = []
        for n, (series, color) in enumerate(zip(state.shown, state.colors, strict=True)):
            # Lines sharing a colour (a platform's, or the palette come round) differ in dash.
            styles.append(seen.get(color, 0) % len(LINE_STYLES))
            seen[color] = seen.get(color, 0) + 1
            if n == len(self.curves):
                curve = self._spare.pop() if self._spare else self._new_curve()
                curve.setVisible(True)
                self.curves.append(curve)
            _set_curve(self.curves[n], series, color, LINE_STYLES[styles[-1]])
        self.legend.show_entries([(elide(s.name, NAME_LENGTH), c, st) for s, c, st
                                  in zip(state.shown, state.colors, styles, strict=True)])
        self._toggle_legend()
        if state.shown:
            start = min(float(s.x[0]) for s in state.shown)
            end = max(float(s.x[-1]) for s in state.shown)
            pad = max((end - start) * 0.05, 3600.0)
            self.view_box.setLimits(xMin=start - pad, xMax=end + pad)
        self.show_all()

    def _new_curve(self) -> pg.PlotDataItem:
        # Into the plot before its data: clipping to the view needs the view box (given data
        # and clipToView earlier, pyqtgraph fails looking for it).
        curve = pg.PlotDataItem()
        self.plot_item.addItem(curve)
        return curve

    def _toggle_legend(self) -> None:
        self.legend.setVisible(self.legend_action.isChecked() and bool(self.curves))

    def _restyle(self, colors: ThemeColors) -> None:
        self.legend.restyle(colors)
        self.crosshair.setPen(pg.mkPen(colors.muted, style=Qt.PenStyle.DashLine))
        self.markers.setPen(pg.mkPen(colors.background, width=1.5))

    def _describe(self) -> str:
        state = self._state
        text = f"Line chart of {self._y_label} over time, {len(state.shown)} series"
        if state.drawable > len(state.shown):
            text += f" of {state.drawable}"
        return text + ". Export the data for every value."

    # --- hover ------------------------------------------------------------------------------

    def _hover_at(self, point: QPointF) -> tuple[str, str] | None:
        state = self._state
        (left, right), _ = self.view_box.viewRange()
        t = point.x()
        hits: list[tuple[Series, str, int]] = []
        for series, color in zip(state.shown, state.colors, strict=True):
            i = _nearest(series.x, t)
            if left <= series.x[i] <= right:
                hits.append((series, color, i))
        if not hits:
            return None
        anchor = min(hits, key=lambda h: abs(h[0].x[h[2]] - t))
        when = float(anchor[0].x[anchor[2]])
        # Lines that start later (a post not published yet) say nothing about this moment.
        hits = [h for h in hits if h[0].x[0] <= max(t, when)]
        self._mark(when, hits)
        return _readout(when, hits)

    def _mark(self, when: float, hits: list[tuple[Series, str, int]]) -> None:
        finite = [(s, c, i) for s, c, i in hits if math.isfinite(s.y[i])]
        self.crosshair.setPos(when)
        self.crosshair.show()
        self.markers.setData(x=[s.x[i] for s, _c, i in finite],
                             y=[s.y[i] for s, _c, i in finite],
                             brush=[pg.mkBrush(c) for _s, c, _i in finite])
        self.markers.show()

    def _clear_hover_marks(self) -> None:
        self.crosshair.hide()
        self.markers.hide()

    # --- data out ---------------------------------------------------------------------------

    def _table_source(self) -> TableSource:
        state = self._state
        header = ["series", "time_utc", self._y_label or "value", "shown"]

        def chunks() -> Iterator[Rows]:
            shown = {id(s) for s in state.shown}
            for series in state.every:
                flag = "yes" if id(series) in shown else "no"
                for part in chunks_of(len(series.x)):
                    yield zip(repeat(series.name), iso_utc(series.x[part]),
                              values_or_none(series.y[part]), repeat(flag))

        return lambda: (list(header), chunks())


def prepare_series(series: Sequence[Series], limit: int = MAX_SERIES) -> PreparedSeries:
    """Checks ``series`` and picks the top ``limit`` by latest value: numpy only, so it may
    run in a worker thread (for a thousand series it is most of ``set_series``' time)."""
    every = tuple(_coerce(s) for s in series)
    latest = [_latest(s.y) for s in every]
    drawable = [i for i, value in enumerate(latest) if value is not None]
    drawable.sort(key=lambda i: -(latest[i] or 0.0))  # stable: ties keep the given order
    shown = tuple(every[i] for i in drawable[:limit])
    colors = tuple(s.color or series_color(n) for n, s in enumerate(shown))
    return PreparedSeries(every, shown, colors, len(drawable))


def _coerce(series: Series) -> Series:
    x = np.asarray(series.x, dtype=np.float64)
    y = np.asarray(series.y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"series {series.name!r}: times and values must be 1-D arrays")
    if not np.isfinite(x).all():
        raise ValueError(f"series {series.name!r}: every time must be a finite number")
    if len(x) > 1 and bool((np.diff(x) < 0).any()):
        raise ValueError(f"series {series.name!r}: times must be in ascending order")
    if x is series.x and y is series.y:
        return series
    return Series(series.name, x, y, series.color)


def _latest(y: npt.NDArray[np.float64]) -> float | None:
    """The last measured value, or None if there is none."""
    if len(y) and math.isfinite(y[-1]):
        return float(y[-1])
    finite = np.flatnonzero(np.isfinite(y))
    return float(y[finite[-1]]) if finite.size else None


def _nearest(x: npt.NDArray[np.float64], t: float) -> int:
    i = int(np.searchsorted(x, t))
    if i <= 0:
        return 0
    if i >= len(x):
        return len(x) - 1
    return i if x[i] - t < t - x[i - 1] else i - 1


def _set_curve(curve: pg.PlotDataItem, series: Series, color: str,
               style: Qt.PenStyle) -> None:
    """Data, look, downsampling and clipping in one call, so pyqtgraph prepares the curve once
    and only ever handles the 100k points downsampled."""
    sparse = len(series.x) <= SYMBOL_LIMIT
    curve.setData(series.x, series.y, pen=pg.mkPen(color, width=2, style=style),
                  symbol="o" if sparse else None, symbolSize=5, symbolBrush=color,
                  symbolPen=None, autoDownsample=True, downsampleMethod="peak",
                  clipToView=True)


def _readout(when: float, hits: list[tuple[Series, str, int]]) -> tuple[str, str]:
    """The hover text: the time, then each line's value there, highest first."""
    ordered = sorted(hits, key=lambda h: -h[0].y[h[2]] if math.isfinite(h[0].y[h[2]])
                     else math.inf)
    heading = _local_time(when)
    html = [f"<b>{escape(heading)}</b>"]
    plain = [heading]
    for series, color, i in ordered[:READOUT_LINES]:
        name = elide(series.name, READOUT_NAME_LENGTH)
        value = format_value(float(series.y[i]))
        own = f" ({_local_time(float(series.x[i]))})" if series.x[i] != when else ""
        html.append(f"<span style='color:{color}'>■</span> {escape(name)}: <b>{value}</b>"
                    f"{escape(own)}")
        plain.append(f"{name}: {value}{own}")
    if len(ordered) > READOUT_LINES:
        more = f"and {len(ordered) - READOUT_LINES:,} more"
        html.append(escape(more))
        plain.append(more)
    return "<br>".join(html), "\n".join(plain)


def _local_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC).astimezone()
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"


class _Legend(QGraphicsRectItem):
    """The lines' names in the plot's top-left corner: one rich-text item (pyqtgraph's legend
    lays out two items per entry and re-measures itself on each, ~3 ms an entry)."""

    def __init__(self, view_box: pg.ViewBox) -> None:
        super().__init__(view_box)  # a child of the box, not of its data: it stays put
        self.setZValue(1_000)
        self.setPos(8, 8)
        self.text = QGraphicsTextItem(self)
        self.text.setPos(2, 2)
        self._html = ""
        self.setVisible(False)

    def show_entries(self, entries: list[tuple[str, str, int]]) -> None:
        """(name, colour, line style index) per line."""
        columns = max(1, math.ceil(len(entries) / LEGEND_ROWS))
        rows = math.ceil(len(entries) / columns) if entries else 0
        cells = [f"<td style='padding-right:12px'><span style='color:{color}'>"
                 f"{LEGEND_GLYPHS[style % len(LEGEND_GLYPHS)]}</span>&nbsp;{escape(name)}</td>"
                 for name, color, style in entries]
        table = "".join("<tr>" + "".join(cells[r::rows]) + "</tr>" for r in range(rows))
        html = f"<table cellspacing='0' style='font-size:9pt'>{table}</table>"
        if html != self._html:  # laying the table out again costs milliseconds
            self._html = html
            self.text.setHtml(html)
            self._fit()

    def restyle(self, colors: ThemeColors) -> None:
        background = QColor(colors.background)
        background.setAlpha(215)
        self.setBrush(background)
        self.setPen(pg.mkPen(colors.grid))
        self.text.setDefaultTextColor(colors.foreground)

    def _fit(self) -> None:
        size = self.text.boundingRect().size()
        self.setRect(QRectF(0, 0, size.width() + 4, size.height() + 4))
