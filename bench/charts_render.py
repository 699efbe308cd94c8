"""The Analytics charts on their own (offscreen): time to build and first-render

- a TimeSeriesChart given 100,000 points across 1,000 series, 50 of them drawn (and the
  same with the default 12 drawn),
- a BarChart with 10 categories x 3 groups (30 bars),
- a HeatmapChart (7 x 24),
- all three together in one page (the charts' share of the panel's 500 ms budget),
- a TimeSeriesChart with one line of 100,000 points,

each the median of 5 runs (the first run is also shown: it pays pyqtgraph's one-off set-up).
"Render" is a synchronous repaint of the chart's plot on screen, after show and layout. Also:
how many points the time chart really draws after downsampling, the longest a hover takes on
the GUI thread, and the time to build the CSV table of all 100,000 points (done in a worker
thread when exporting from the menu).

    python bench/charts_render.py [--runs 5] [--series 1000] [--points 100000] [--shown 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

T0 = 1_717_200_000.0  # 2024-06-01


def make_series(count: int, points: int) -> list[Any]:
    """``count`` posts, ``points`` in all: each post's engagement grows after publishing,
    measured densely at first and sparsely later, as collection does."""
    import numpy as np

    from mbv_desktop.ui.widgets.charts import Series

    rng = np.random.default_rng(7)
    per = points // count
    series = []
    for i in range(count):
        published = T0 + i * 3_600.0
        offsets = np.cumsum(np.geomspace(300.0, 86_400.0, per))
        growth = np.cumsum(rng.random(per) * (1 + i % 40))
        series.append(Series(f"Post {i:04d}", published + offsets, growth))
    return series


def render(widget: Any, app: Any, height: int = 420) -> None:
    widget.resize(1200, height)
    widget.show()
    app.processEvents()  # layout, resize events
    widget.repaint()  # the first frame (the widget and its children), painted now


def timed(build: Callable[[], Any], app: Any) -> float:
    """Milliseconds to build and first-render; the charts are then closed and deleted (not
    counted), so each measurement starts from the same state."""
    from PySide6.QtCore import QCoreApplication, QEvent

    app.processEvents()
    start = time.perf_counter()
    widget = build()
    render(widget, app, height=widget.property("bench_height") or 420)
    elapsed = (time.perf_counter() - start) * 1000
    widget.close()
    widget.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # gone now, not later
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--series", type=int, default=1_000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--shown", type=int, default=50)
    args = parser.parse_args()

    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication, QGridLayout, QWidget

    from mbv_desktop.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)  # type: ignore[arg-type]
    start = time.perf_counter()
    from mbv_desktop.ui.widgets import charts

    charts.preload()
    print(f"import numpy + pyqtgraph (preload): {(time.perf_counter() - start) * 1000:.0f} ms "
          "(in a worker thread after the first paint in the app; not counted below)")
    from mbv_desktop.ui.widgets.charts import BarChart, HeatmapChart, TimeSeriesChart
    from mbv_desktop.ui.widgets.charts.timeseries import MAX_SERIES

    series = make_series(args.series, args.points)
    total = sum(len(s.x) for s in series)
    import numpy as np

    long_line = [charts.Series("one post", T0 + np.arange(args.points) * 60.0,
                               np.cumsum(np.random.default_rng(5).random(args.points)))]
    rng = np.random.default_rng(3)
    grid = rng.random((7, 24)) * 120
    grid[rng.random((7, 24)) < 0.3] = np.nan
    categories = [f"@account{i}" for i in range(10)]
    groups = {name: list(rng.random(10) * 5_000) for name in ("Views", "Likes", "Comments")}

    def time_chart() -> Any:
        chart = TimeSeriesChart(title="Engagement over time, per post", y_label="Engagement",
                                max_series=args.shown)
        chart.set_series(series)
        return chart

    def time_chart_default() -> Any:
        chart = TimeSeriesChart(title="Engagement over time, per post", y_label="Engagement")
        chart.set_series(series)
        return chart

    def bar_chart() -> Any:
        chart = BarChart(title="By account", y_label="Total", show_values=True)
        chart.set_data(categories, groups)
        return chart

    def heatmap() -> Any:
        chart = HeatmapChart(title="Best hours to post")
        chart.set_grid(grid, value_label="mean engagement")
        return chart

    def together() -> Any:
        """The three in one page, laid out as the Analytics panel lays them out."""
        page = QWidget()
        grid = QGridLayout(page)
        grid.addWidget(time_chart(), 0, 0, 1, 2)
        grid.addWidget(bar_chart(), 1, 0)
        grid.addWidget(heatmap(), 1, 1)
        page.setProperty("bench_height", 800)
        return page

    def one_long_line() -> Any:
        chart = TimeSeriesChart(title="One post, every minute", y_label="Views")
        chart.set_series(long_line)
        return chart

    figures: dict[str, list[float]] = {}
    measured = ((f"time chart, {total:,} points in {len(series):,} series, {args.shown} drawn",
                 time_chart),
                (f"time chart, the same, {MAX_SERIES} drawn (the default)", time_chart_default),
                ("bar chart, 10 x 3 bars", bar_chart),
                ("heatmap, 7 x 24", heatmap),
                (f"time chart, one line of {args.points:,} points", one_long_line),
                ("all three together", together))
    for _ in range(args.runs):
        for label, build in measured:
            figures.setdefault(label, []).append(timed(build, app))

    for label, values in figures.items():
        print(f"{label}: median {statistics.median(values):.0f} ms "
              f"(first run {values[0]:.0f} ms, runs {len(values)})")

    chart = one_long_line()
    render(chart, app)
    print(f"one line of {args.points:,} points is drawn with "
          f"{len(chart.curves[0].getData()[0]):,} after downsampling")
    chart = time_chart()
    render(chart, app)
    drawn = sum(len(c.getData()[0]) for c in chart.curves)
    given = sum(len(s.x) for s in chart.shown_series)
    print(f"time chart draws {drawn:,} points for the {given:,} of its {len(chart.curves)} "
          f"lines ({chart.hidden_count:,} more series in the data only)")
    box = chart.view_box.sceneBoundingRect()
    hovers = []
    for i in range(200):
        point = QPointF(box.left() + box.width() * (i + 0.5) / 200, box.center().y())
        start = time.perf_counter()
        chart._on_mouse_moved(point)
        hovers.append((time.perf_counter() - start) * 1000)
    print(f"hover readout: median {statistics.median(hovers):.2f} ms, "
          f"longest {max(hovers):.2f} ms on the GUI thread")
    start = time.perf_counter()
    _header, rows = chart.data_table()
    print(f"CSV table of {len(rows):,} rows: {(time.perf_counter() - start) * 1000:.0f} ms "
          "(menu exports build it in a worker thread)")
    del rows  # not kept alive through the export: the app would not hold such a table
    freeze_as_the_app_does()
    export_from_menu([chart, one_long_line()], app)


def freeze_as_the_app_does() -> None:
    """What the window does after its first frame (MainWindow._build_deferred): long-lived
    objects out of the garbage collector's sight, and fewer collections."""
    import gc

    from mbv_desktop.ui.main_window import GC_THRESHOLDS

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def export_from_menu(charts: list[Any], app: Any) -> None:
    """Export data… as from the menu (the file dialog answered at once), with a 5 ms GUI
    heartbeat running until the file is written."""
    import tempfile
    from pathlib import Path

    from PySide6.QtCore import QEventLoop, QTimer
    from qt_bench import Heartbeat

    for chart in charts:
        render(chart, app)
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "data.csv"
            chart._ask_path = lambda *_a, target=target: target
            loop = QEventLoop()
            chart.exported.connect(loop.quit)
            heartbeat = Heartbeat()
            heartbeat.start()
            start = time.perf_counter()
            QTimer.singleShot(0, chart.export_data_interactive)
            loop.exec()
            heartbeat.stop()
            rows = sum(1 for _ in target.open(encoding="utf-8-sig")) - 1
            print(f"Export data… of {rows:,} rows: written in "
                  f"{(time.perf_counter() - start) * 1000:.0f} ms; {heartbeat.summary()}")


if __name__ == "__main__":
    main()
