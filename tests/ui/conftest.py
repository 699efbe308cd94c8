"""UI fixtures: the real main window on real services, driven through a qasync loop."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import close_window, eventually
from PySide6.QtCore import QCoreApplication, QEvent


@pytest.fixture
def window(services: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    from mbv_desktop.ui.main_window import MainWindow

    asyncio.set_event_loop(loop)  # asyncio.run() in other tests resets the current loop
    w = MainWindow(services, show_dialogs=False)
    # Everything runs inside the asyncio loop: Qt events processed outside it (qtbot.wait*)
    # would step asyncio tasks with no running loop.
    w.show()
    loop.run_until_complete(eventually(lambda w=w: w.create_panel.generate_box is not None))
    yield w

    loop.run_until_complete(close_window(w))
    # Destroy it here, on the GUI thread. Left to the garbage collector, a window caught in a
    # reference cycle may be freed on whatever thread runs the next collection (a worker),
    # which Qt does not survive.
    w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del w
    gc.collect()
