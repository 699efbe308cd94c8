"""The Analytics charts: each draws what it is given, hovering shows the nearest values, 100k
points are downsampled, the PNG and CSV exports hold what is drawn (from code, the right-click
menu and the keyboard), and an empty chart says so instead of showing empty axes."""

from __future__ import annotations

import csv
import gc
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QContextMenuEvent, QImage, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMenu, QVBoxLayout, QWidget

from mbv_desktop.ui.widgets.charts import (
    EMPTY_TEXT,
    BarChart,
    ChartBase,
    HeatmapChart,
    Series,
    TimeSeriesChart,
)
from mbv_desktop.ui.widgets.charts.data import format_value

T0 = 1_717_200_000.0  # Sat 1 Jun 2024 00:00 UTC
HOUR = 3_600.0
C = TypeVar("C", bound=QWidget)


@pytest.fixture
def shown(qtbot: Any) -> Iterator[Callable[[C], C]]:
    """Shows a widget at a fixed size; afterwards deletes it on the GUI thread (pyqtgraph's
    reference cycles must not be left to a collection on some other thread)."""
    widgets: list[QWidget] = []

    def show(widget: C) -> C:
        widgets.append(widget)
        widget.resize(760, 420)
        widget.show()
        qtbot.waitExposed(widget)
        return widget

    yield show
    for widget in widgets:
        widget.close()
        widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


def line(name: str, count: int, start: float = T0, step: float = HOUR, scale: float = 1.0,
         color: str | None = None) -> Series:
    x = start + np.arange(count, dtype=np.float64) * step
    y = np.round(np.cumsum(np.linspace(1.0, 3.0, count)) * scale, 2)
    return Series(name, x, y, color)


def render(widget: QWidget) -> None:
    """Lays out and paints the widget now, as it is before a person sees it."""
    QApplication.processEvents()
    widget.repaint()


def hover(chart: ChartBase, x: float, y: float) -> float:
    """Moves the mouse over data point (x, y) of the chart; returns the x under the pixel the
    pointer really landed on."""
    render(chart)
    scene = chart.view_box.mapViewToScene(QPointF(x, y))
    pixel = chart.plot_widget.mapFromScene(scene)
    time.sleep(0.012)  # pyqtgraph ignores mouse moves less than 10 ms apart
    QTest.mouseMove(chart.plot_widget.viewport(), pixel)
    return float(chart.view_box.mapSceneToView(chart.plot_widget.mapToScene(pixel)).x())


def local_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC).astimezone()
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M}"


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


def as_text(table: tuple[list[str], list[list[object]]]) -> list[list[str]]:
    """A data table as CSV writes it: None as empty, numbers as Python prints them."""
    header, rows = table
    return [header] + [["" if v is None else str(v) for v in row] for row in rows]


# --- time series --------------------------------------------------------------------------


def test_time_chart_draws_each_series_in_full(shown: Any) -> None:
    given = [line("Launch teaser", 40), line("Behind the scenes", 25, start=T0 + 5 * HOUR)]
    chart = shown(TimeSeriesChart(title="Likes over time", y_label="Likes"))
    chart.set_series(given)

    assert not chart.is_empty and chart.plot_widget.isVisible()
    assert len(chart.curves) == 2
    by_name = {s.name: s for s in given}
    for series, curve in zip(chart.shown_series, chart.curves, strict=True):
        x, y = curve.getOriginalDataset()
        np.testing.assert_array_equal(x, by_name[series.name].x)
        np.testing.assert_array_equal(y, by_name[series.name].y)
        assert curve.opts["autoDownsample"] and curve.opts["downsampleMethod"] == "peak"
        assert curve.opts["clipToView"]
    legend = chart.legend.text.toPlainText()
    assert "Launch teaser" in legend and "Behind the scenes" in legend
    assert chart.title_text() == "Likes over time"
    assert chart.accessibleName() == "Likes over time"


def test_many_series_show_the_top_ones_by_latest_value_and_export_them_all(
        shown: Any, tmp_path: Path) -> None:
    given = [line(f"Post {i}", 30, scale=1 + (i * 7) % 20) for i in range(20)]
    chart = shown(TimeSeriesChart(title="Views", y_label="Views", max_series=12))
    chart.set_series(given)

    latest = sorted(given, key=lambda s: -s.y[-1])
    assert [s.name for s in chart.shown_series] == [s.name for s in latest[:12]]
    assert len(chart.curves) == 12
    assert "and 8 more" in chart.title_text()
    assert chart.hidden_count == 8
    chart.export_csv(tmp_path / "views.csv")
    rows = read_csv(tmp_path / "views.csv")[1:]
    assert {r[0] for r in rows} == {s.name for s in given}
    assert len(rows) == 20 * 30
    drawn = {s.name for s in latest[:12]}
    assert all((r[3] == "yes") == (r[0] in drawn) for r in rows)


def test_hover_shows_the_nearest_point_of_each_line(shown: Any) -> None:
    first = line("Reel", 48)
    second = line("Carousel", 48, start=T0 + 0.5 * HOUR, scale=2)
    chart = shown(TimeSeriesChart(title="Engagement", y_label="Engagement"))
    chart.set_series([first, second])

    target = float(first.x[20]) + 0.1 * HOUR
    at = hover(chart, target, float(first.y[20]))
    text = chart.hover_text()
    i = int(np.argmin(np.abs(first.x - at)))
    j = int(np.argmin(np.abs(second.x - at)))
    assert chart.readout.isVisible()
    assert f"Reel: {format_value(float(first.y[i]))}" in text
    assert f"Carousel: {format_value(float(second.y[j]))}" in text
    nearest = first.x[i] if abs(first.x[i] - at) <= abs(second.x[j] - at) else second.x[j]
    assert text.splitlines()[0] == local_time(float(nearest))
    assert chart.crosshair.isVisible() and chart.crosshair.value() == nearest

    box = chart.view_box.sceneBoundingRect()
    QTest.mouseMove(chart.plot_widget.viewport(),
                    chart.plot_widget.mapFromScene(QPointF(box.left() - 20, box.top() + 5)))
    time.sleep(0.012)
    QTest.mouseMove(chart.plot_widget.viewport(),
                    chart.plot_widget.mapFromScene(QPointF(box.left() - 25, box.top() + 5)))
    assert chart.hover_text() == "" and not chart.crosshair.isVisible()


def test_100k_points_are_drawn_downsampled_and_clipped_to_the_view(shown: Any,
                                                                   qtbot: Any) -> None:
    x = T0 + np.arange(100_000, dtype=np.float64) * 60
    y = np.cumsum(np.random.default_rng(1).random(100_000))
    chart = shown(TimeSeriesChart(title="Views", y_label="Views"))
    chart.set_series([Series("Viral post", x, y)])
    render(chart)

    curve = chart.curves[0]
    drawn_x, _ = curve.getData()
    assert 0 < len(drawn_x) < 20_000  # a few per pixel of a 760 px chart, not 100k
    assert len(curve.getOriginalDataset()[0]) == 100_000
    chart.view_box.setXRange(x[40_000], x[41_000], padding=0)
    render(chart)
    zoomed_x, _ = curve.getData()
    assert 0 < len(zoomed_x) <= 1_100  # only what is in view
    assert zoomed_x[0] >= x[39_990] and zoomed_x[-1] <= x[41_010]
    assert len(chart.data_table()[1]) == 100_000  # the data behind it is all there


def test_times_must_be_ascending(qtbot: Any) -> None:
    chart = TimeSeriesChart(title="Views", y_label="Views")
    qtbot.addWidget(chart)
    backwards = Series("odd", np.array([T0 + HOUR, T0]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="ascending"):
        chart.set_series([backwards])
    with pytest.raises(ValueError, match="values"):
        Series("short", np.array([T0, T0 + HOUR]), np.array([1.0]))


# --- bars and heatmap -----------------------------------------------------------------------


def test_bar_chart_draws_grouped_bars_and_hover_names_the_bar(shown: Any) -> None:
    chart = shown(BarChart(title="By platform", y_label="Total", show_values=True))
    chart.set_data(["X", "Instagram", "TikTok"],
                   {"Views": [12_000.0, 54_000.0, 230_000.0],
                    "Likes": [800.0, math.nan, 9_100.0]})

    assert [len(bars.opts["x"]) for bars in chart.bar_items] == [3, 2]  # no bar for NaN
    np.testing.assert_array_equal(chart.bar_items[1].opts["height"], [800.0, 9_100.0])
    assert len(chart.value_labels) == 5
    key = chart.plot_item.titleLabel.text  # the colour key after the title
    assert "Views" in key and "Likes" in key

    likes_on_tiktok = chart.bar_items[1].opts["x"][1]
    hover(chart, likes_on_tiktok, 4_000)
    assert chart.hover_text() == "TikTok\nLikes: 9,100"
    hover(chart, chart.bar_items[0].opts["x"][0], 100)
    assert chart.hover_text() == "X\nViews: 12,000"


def test_bar_names_that_do_not_fit_are_thinned_out_and_hover_still_names_each(
        shown: Any) -> None:
    chart = shown(BarChart(title="Hashtags", y_label="Mean engagement"))
    tags = [f"#summercollection{i}" for i in range(20)]
    chart.set_data(tags, {"Mean engagement": [float(10 + i) for i in range(20)]})
    render(chart)

    assert 1 < len(chart.labelled_categories) < 10  # not 20 names on top of each other
    hover(chart, 11.0, 5.0)
    assert chart.hover_text() == "#summercollection11\nMean engagement: 21"

    chart.set_data(["X", "TikTok"], {"Views": [1.0, 2.0]})
    render(chart)
    assert chart.labelled_categories == ["X", "TikTok"]


def test_heatmap_colours_the_grid_marks_the_best_hour_and_names_cells(shown: Any) -> None:
    values = np.full((7, 24), np.nan)
    values[0, 9] = 120.0  # Monday 09:00
    values[4, 18] = 340.5  # Friday 18:00, the best
    values[6, 21] = 80.0
    chart = shown(HeatmapChart(title="Best hours to post"))
    chart.set_grid(values, value_label="mean engagement")

    np.testing.assert_array_equal(chart.image_item.image, values)  # NaN where NaN
    assert chart.image_item.levels is not None
    assert tuple(chart.image_item.levels) == (80.0, 340.5)
    assert chart.best_cell == (4, 18)
    assert chart.best_mark.isVisible() and chart.best_mark.rect().topLeft() == QPointF(18, 4)
    assert "best: Fri 18:00, 340.5 mean engagement" in chart.title_text()

    hover(chart, 18.5, 4.5)
    assert chart.hover_text() == "Fri 18:00\nmean engagement: 340.5"
    hover(chart, 2.5, 1.5)
    assert chart.hover_text() == "Tue 02:00\nno posts"


def test_inputs_that_do_not_fit_are_refused(qtbot: Any) -> None:
    bars = BarChart(title="b", y_label="y")
    heatmap = HeatmapChart(title="h")
    qtbot.addWidget(bars)
    qtbot.addWidget(heatmap)
    with pytest.raises(ValueError, match="2 values for 3 categories"):
        bars.set_data(["a", "b", "c"], {"Views": [1.0, 2.0]})
    with pytest.raises(ValueError, match="does not match"):
        heatmap.set_grid(np.zeros((24, 7)))


# --- empty state ----------------------------------------------------------------------------


def test_without_data_a_chart_says_so_instead_of_drawing_empty_axes(shown: Any) -> None:
    time_chart = shown(TimeSeriesChart(title="Likes", y_label="Likes"))
    bars = shown(BarChart(title="By account", y_label="Total"))
    heatmap = shown(HeatmapChart(title="Best hours"))
    time_chart.set_series([Series("never measured", np.array([T0]), np.array([np.nan])),
                           Series("new", np.array([]), np.array([]))])
    bars.set_data([], {"Views": []})
    heatmap.set_grid(np.full((7, 24), np.nan))

    for chart in (time_chart, bars, heatmap):
        assert chart.is_empty
        assert chart.empty_label.isVisible() and chart.empty_label.text() == EMPTY_TEXT
        assert not chart.plot_widget.isVisible()
        assert not chart.export_image_action.isEnabled()
        assert chart.accessibleDescription() == EMPTY_TEXT

    time_chart.set_series([line("Reel", 5)])
    assert not time_chart.empty_label.isVisible() and time_chart.plot_widget.isVisible()
    assert time_chart.export_image_action.isEnabled()


# --- exports --------------------------------------------------------------------------------


def _time_chart() -> ChartBase:
    chart = TimeSeriesChart(title="Likes", y_label="Likes")
    chart.set_series([line("Reel", 50, color="#d62976")])
    return chart


def _bar_chart() -> ChartBase:
    chart = BarChart(title="By platform", y_label="Total")
    chart.set_data(["X", "TikTok"], {"Views": [10.0, 30.0], "Likes": [2.0, 5.0]})
    return chart


def _heatmap() -> ChartBase:
    chart = HeatmapChart(title="Best hours")
    chart.set_grid(np.arange(7 * 24, dtype=np.float64).reshape(7, 24))
    return chart


@pytest.mark.parametrize("make", [_time_chart, _bar_chart, _heatmap])
def test_export_png_is_a_picture_of_the_requested_width(shown: Any, tmp_path: Path,
                                                        make: Callable[[], ChartBase]) -> None:
    chart = shown(make())
    path = tmp_path / "chart.png"
    chart.export_png(path, width=900)

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = QImage(str(path))
    assert not image.isNull()
    assert image.width() == 900
    assert 0.3 < image.height() / image.width() < 1.0  # the chart's proportions
    colours = {image.pixel(x, y) for x in range(0, 900, 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 4  # axes, text and data, not a blank page


def test_a_chart_never_shown_exports_its_picture_too(qtbot: Any, tmp_path: Path) -> None:
    chart = _heatmap()  # e.g. on a tab not opened yet
    qtbot.addWidget(chart)
    chart.export_png(tmp_path / "hours.png", width=640)
    assert QImage(str(tmp_path / "hours.png")).width() == 640


def test_exported_image_shows_the_line_in_its_colour(shown: Any, tmp_path: Path) -> None:
    chart = shown(_time_chart())
    chart.export_png(tmp_path / "likes.png", width=600)
    image = QImage(str(tmp_path / "likes.png"))
    magenta = QColor("#d62976")

    def near(pixel: int) -> bool:
        c = QColor.fromRgb(pixel)
        return (abs(c.red() - magenta.red()) + abs(c.green() - magenta.green())
                + abs(c.blue() - magenta.blue())) < 60

    assert sum(near(image.pixel(x, y)) for x in range(0, 600, 2)
               for y in range(0, image.height(), 2)) > 50


def test_time_chart_csv_matches_what_it_draws(shown: Any, tmp_path: Path) -> None:
    reel = line("Reel, with a comma", 30)
    reel.y[7] = np.nan  # not measured: no value, not zero
    story = Series("Story ✨", np.array([T0 + 0.5, T0 + 90.25]), np.array([3.0, 4.5]))
    chart = shown(TimeSeriesChart(title="Likes", y_label="likes"))
    chart.set_series([reel, story])
    path = tmp_path / "likes.csv"
    chart.export_csv(path)

    written = read_csv(path)
    assert written == as_text(chart.data_table())
    assert written[0] == ["series", "time_utc", "likes", "shown"]
    for series in (reel, story):
        rows = [r for r in written[1:] if r[0] == series.name]
        times = [datetime.fromisoformat(r[1]).timestamp() for r in rows]
        assert all(r[1].endswith("Z") for r in rows)
        np.testing.assert_array_equal(times, series.x)
        values = [float(r[2]) if r[2] else math.nan for r in rows]
        np.testing.assert_array_equal(values, series.y)
    assert written[8][2] == ""  # the NaN
    assert written[1][1] == "2024-06-01T00:00:00Z"
    assert {r[0] for r in written[1:] if r[3] == "yes"} == {s.name for s in (reel, story)}


def test_bar_and_heatmap_csv_match_what_they_draw(shown: Any, tmp_path: Path) -> None:
    bars = shown(BarChart(title="By account", y_label="Total"))
    bars.set_data(["@studio", "@shop"], {"Views": [1_500.0, 320.5], "Saves": [math.nan, 12.0]})
    bars.export_csv(tmp_path / "bars.csv")
    assert read_csv(tmp_path / "bars.csv") == [
        ["category", "Views", "Saves"], ["@studio", "1500.0", ""], ["@shop", "320.5", "12.0"]]
    assert read_csv(tmp_path / "bars.csv") == as_text(bars.data_table())

    grid = np.full((7, 24), np.nan)
    grid[2, 13] = 42.25
    heatmap = shown(HeatmapChart(title="Best hours"))
    heatmap.set_grid(grid, value_label="mean engagement")
    heatmap.export_csv(tmp_path / "hours.csv")
    written = read_csv(tmp_path / "hours.csv")
    assert written == as_text(heatmap.data_table())
    assert written[0] == ["day", "hour", "mean engagement"]
    assert len(written) == 1 + 7 * 24
    assert [r for r in written[1:] if r[2]] == [["Wed", "13", "42.25"]]
    np.testing.assert_array_equal(heatmap.image_item.image, grid)


@pytest.mark.qt_log_ignore("This plugin does not support (raise|grabbing)")
def test_right_click_menu_exports_data_and_image_through_the_file_dialog(
        shown: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chart = shown(_time_chart())
    asked: list[tuple[str, str]] = []

    def choose(parent: Any, caption: str, folder: str, file_filter: str,
               **options: Any) -> tuple[str, str]:
        asked.append((caption, folder))
        assert options["options"] & QFileDialog.Option.DontUseNativeDialog
        suffix = ".csv" if "CSV" in file_filter else ".png"
        return str(tmp_path / f"likes-export{suffix if 'image' in caption else ''}"), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", choose)
    viewport = chart.plot_widget.viewport()
    QApplication.sendEvent(viewport, QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, QPoint(50, 50), viewport.mapToGlobal(QPoint(50, 50))))
    menu = chart.findChild(QMenu)
    assert menu is not None and menu.isVisible()
    actions = {a.text(): a for a in menu.actions()}
    assert {"Export image…", "Export data…"} <= set(actions)

    with qtbot.waitSignal(chart.exported, timeout=5000) as written:
        actions["Export data…"].trigger()  # written by a worker thread
    csv_path = tmp_path / "likes-export.csv"  # the suffix added to the name typed
    assert written.args == [csv_path]
    assert read_csv(csv_path) == as_text(chart.data_table())
    assert asked[0][1].endswith("likes.csv")  # suggested from the title

    with qtbot.waitSignal(chart.exported, timeout=5000):
        actions["Export image…"].trigger()
    assert QImage(str(tmp_path / "likes-export.png")).width() == 1200
    assert Path(asked[1][1]).parent == tmp_path  # the next dialog opens where the last saved


def test_keyboard_reaches_the_chart_and_exports_it(shown: Any, qtbot: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    page = QWidget()
    search = QLineEdit(page)
    chart = _bar_chart()
    chart.setParent(page)
    layout = QVBoxLayout(page)
    layout.addWidget(search)
    layout.addWidget(chart)
    shown(page)
    page.activateWindow()
    search.setFocus()
    qtbot.waitUntil(search.hasFocus)
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *a, **k: (str(tmp_path / "bars.png"), ""))

    QTest.keyClick(search, Qt.Key.Key_Tab)
    assert chart.hasFocus()
    assert chart.accessibleName() == "By platform"
    with qtbot.waitSignal(chart.exported, timeout=5000):
        QTest.keySequence(chart, "Ctrl+Shift+E")
    assert not QImage(str(tmp_path / "bars.png")).isNull()


def test_a_failed_export_is_reported_and_leaves_no_file(
        shown: Any, qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chart = shown(_heatmap())
    target = tmp_path / "missing folder" / "hours.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    with qtbot.waitSignal(chart.export_failed, timeout=5000) as failed:
        chart.export_data_action.trigger()
    assert failed.args[0].startswith("Could not write hours.csv: No such file or directory")
    assert not target.parent.exists()
    with pytest.raises(OSError):
        chart.export_png(tmp_path / "missing folder" / "hours.png")


# --- theme and import cost ------------------------------------------------------------------


def test_charts_follow_a_theme_change(shown: Any, qapp: Any) -> None:
    chart = shown(_time_chart())
    before = qapp.palette()
    dark = QPalette(before)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    try:
        qapp.setPalette(dark)
        QCoreApplication.sendPostedEvents()
        assert chart.plot_widget.backgroundBrush().color() == QColor("#1e1e1e")
        assert chart.plot_item.getAxis("left").textPen().color() == QColor("#eeeeee")
        assert chart.legend.text.defaultTextColor() == QColor("#eeeeee")
    finally:
        qapp.setPalette(before)


def test_importing_the_package_leaves_pyqtgraph_for_later() -> None:
    code = ("import sys\n"
            "import mbv_desktop.ui.widgets.charts as charts\n"
            "assert 'pyqtgraph' not in sys.modules and 'numpy' not in sys.modules\n"
            "charts.Series\n"
            "charts.preload()\n"
            "assert 'pyqtgraph' in sys.modules and 'pyqtgraph.exporters' in sys.modules\n"
            "assert charts.TimeSeriesChart.__name__ == 'TimeSeriesChart'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
