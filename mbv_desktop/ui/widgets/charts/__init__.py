"""The Analytics panel's charts: lines over time, grouped bars and the best-hours heatmap, on
pyqtgraph, each with hover values, PNG and CSV export.

pyqtgraph and numpy take about 300 ms to import, so importing this package does not import
them: the chart classes load on first use (``from ...charts import TimeSeriesChart`` does), and
``preload()`` imports them ahead of time from a worker thread after the first paint.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mbv_desktop.ui.widgets.charts.data import (
    EMPTY_TEXT,
    HOURS,
    PLATFORM_COLORS,
    WEEKDAYS,
    Series,
    platform_color,
)

if TYPE_CHECKING:
    from mbv_desktop.ui.widgets.charts.bars import BarChart
    from mbv_desktop.ui.widgets.charts.base import ChartBase
    from mbv_desktop.ui.widgets.charts.heatmap import HeatmapChart
    from mbv_desktop.ui.widgets.charts.timeseries import TimeSeriesChart

__all__ = [
    "EMPTY_TEXT",
    "HOURS",
    "PLATFORM_COLORS",
    "WEEKDAYS",
    "BarChart",
    "ChartBase",
    "HeatmapChart",
    "Series",
    "TimeSeriesChart",
    "platform_color",
    "preload",
]

_LAZY = {
    "BarChart": "bars",
    "ChartBase": "base",
    "HeatmapChart": "heatmap",
    "TimeSeriesChart": "timeseries",
}


def preload() -> None:
    """Imports numpy and pyqtgraph (with its exporters) now, so that the first chart is quick.
    Meant for a worker thread after the first paint; safe to call more than once."""
    import numpy  # noqa: F401
    import pyqtgraph.exporters  # noqa: F401  (imports pyqtgraph itself)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
