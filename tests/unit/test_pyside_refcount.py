"""Regression guard for PySide6 6.12.0 on Python 3.11, which drops a reference to None on every
void Qt call and to True on every signal emit, until the process aborts (none_dealloc)."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel


class _Emitter(QObject):
    ping = Signal()


def test_void_qt_calls_and_emits_keep_refcounts(qapp: object) -> None:
    label = QLabel()
    emitter = _Emitter()
    emitter.ping.connect(lambda: None)
    none_before = sys.getrefcount(None)
    true_before = sys.getrefcount(True)
    for i in range(20_000):
        label.setText("x" if i % 2 else "y")  # returns nothing
        emitter.ping.emit()
    # allow a little noise from the interpreter itself, far below 20,000
    assert abs(sys.getrefcount(None) - none_before) < 100
    assert abs(sys.getrefcount(True) - true_before) < 100
