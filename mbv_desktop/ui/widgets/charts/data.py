"""What the charts are given and how their numbers read: the ``Series`` a time chart draws, the
default labels of the best-hours grid, the colours, and number formats.

Free of pyqtgraph (and of numpy at import), so code that prepares chart data in a worker thread
can import it without paying for the plotting library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

WEEKDAYS: tuple[str, ...] = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS: tuple[str, ...] = tuple(f"{h:02d}" for h in range(24))
EMPTY_TEXT = "No data for these filters yet"

# Chosen to read on both the light and the dark theme (pure black or white would vanish on one).
PLATFORM_COLORS: dict[str, str] = {
    "x": "#8b98a5",
    "instagram": "#d62976",
    "tiktok": "#00b2c2",
}
# Tableau 10: distinct for most colour vision, readable on white and on dark grey.
SERIES_COLORS: tuple[str, ...] = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)


@dataclass(frozen=True, eq=False)
class Series:
    """One line of a time chart. ``x``: epoch seconds (float64, ascending); ``y``: the values
    (float64, NaN where nothing was measured). The chart keeps references, not copies: do not
    change the arrays after handing them over."""

    name: str
    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    color: str | None = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"series {self.name!r}: {len(self.x)} times but "
                             f"{len(self.y)} values")


def platform_color(platform: str) -> str | None:
    """The colour of a platform by its machine name ("x", "instagram", "tiktok")."""
    return PLATFORM_COLORS.get(platform.lower())


def series_color(index: int) -> str:
    return SERIES_COLORS[index % len(SERIES_COLORS)]


def format_value(value: float | None) -> str:
    """A value as hover and notes show it: whole numbers with thousands separators, others
    with a few significant digits; missing values as a dash."""
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def format_compact(value: float) -> str:
    """An axis tick: 950, 15k, 1.2M."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    if value == int(value):
        return f"{value:.0f}"
    return f"{value:.3g}"


def elide(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
