"""Shared set-up for the benchmarks that drive the real window: a QApplication and a qasync loop
made the way app.py makes them, and a GUI heartbeat that measures how late the GUI thread gets
to a 5 ms timer (each gap is the extra delay beyond the interval)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import statistics
import sys
import time
from typing import Any


def qt_loop() -> Any:
    """A QApplication (offscreen unless told otherwise) driven by a qasync loop, as app.py runs
    it: plain worker threads for blocking work, quitting left to the loop."""
    import qasync
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # type: ignore[union-attr]
    loop = qasync.QEventLoop(app)
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(4))
    asyncio.set_event_loop(loop)
    return loop


class Heartbeat:
    """A QTimer every ``interval_ms`` on the GUI thread; ``gaps`` are the extra delays in ms."""

    def __init__(self, interval_ms: int = 5) -> None:
        from PySide6.QtCore import QTimer

        self.interval_ms = interval_ms
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self._timer = QTimer(interval=interval_ms)
        self._timer.timeout.connect(self._beat)

    def _beat(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000 - self.interval_ms)
        self._last = now

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def percentile(self, p: float) -> float:
        ordered = sorted(self.gaps)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def summary(self) -> str:
        if not self.gaps:
            return "no heartbeat recorded"
        return (f"heartbeat beats: {len(self.gaps)}; extra gap median "
                f"{statistics.median(self.gaps):.1f} ms, p99 {self.percentile(99):.1f} ms, "
                f"longest {max(self.gaps):.1f} ms (target <= 50 ms)")
