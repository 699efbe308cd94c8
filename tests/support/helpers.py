"""Small helpers shared by the tests (this folder is on sys.path)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Lets the loop run until ``condition()`` is truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine without Qt (service and store tests)."""
    return asyncio.run(coro)


@contextlib.contextmanager
def shown_window(services: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """The real MainWindow on ``services``, shown and built (its deferred parts too), then
    closed the way a person closes it and destroyed on the GUI thread."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    from mbv_desktop.ui.main_window import MainWindow

    asyncio.set_event_loop(loop)  # asyncio.run() in other tests resets the current loop
    w = MainWindow(services, show_dialogs=False)
    # Everything runs inside the asyncio loop: Qt events processed outside it (qtbot.wait*)
    # would step asyncio tasks with no running loop.
    w.show()
    loop.run_until_complete(eventually(lambda w=w: w.create_panel.generate_box is not None
                                       and w.panels["library"].uploads_view is not None))
    yield w
    loop.run_until_complete(close_window(w))
    # Destroy it here, on the GUI thread. Left to the garbage collector, a window caught in a
    # reference cycle may be freed on whatever thread runs the next collection (a worker),
    # which Qt does not survive.
    w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    del w
    gc.collect()


async def close_window(window: Any) -> None:
    """Closes a MainWindow the way a person does and waits until its work is saved."""
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    window.close()
    await asyncio.wait_for(closed.wait(), 10)
