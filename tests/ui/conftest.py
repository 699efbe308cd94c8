"""UI fixtures: the real main window on real services, driven through a qasync loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import eventually


@pytest.fixture
def window(services: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    from mbv_desktop.ui.main_window import MainWindow

    qapp = loop._QEventLoop__app  # type: ignore[attr-defined]
    qapp.setQuitOnLastWindowClosed(False)  # as app.py does: the loop decides when to stop
    w = MainWindow(services, show_dialogs=False)
    # Everything runs inside the asyncio loop: Qt events processed outside it (qtbot.wait*)
    # would step asyncio tasks with no running loop.
    w.show()
    loop.run_until_complete(eventually(w.isVisible))
    yield w

    async def close() -> None:
        closed = asyncio.Event()
        w.closed.connect(closed.set)
        w.close()
        await asyncio.wait_for(closed.wait(), 10)

    loop.run_until_complete(close())
