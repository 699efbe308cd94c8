"""Baseline for bench/first_paint.py: a bare PySide6 QMainWindow that reports its first paint
the same way the app does (a line on stderr), then exits."""

import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication(sys.argv[:1])
window = QMainWindow()
window.resize(1200, 760)


class FirstPaint(QObject):
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            window.removeEventFilter(self)
            print(f"first-paint {time.perf_counter():.6f}", file=sys.stderr, flush=True)
            QTimer.singleShot(200, app.quit)
        return False


f = FirstPaint()
window.installEventFilter(f)
window.show()
app.exec()
