"""The window shell: geometry and last panel remembered, status bar, shortcuts."""

from __future__ import annotations

import asyncio
from typing import Any

from helpers import close_window, eventually

from mbv_desktop.ui.main_window import MainWindow


def test_geometry_is_remembered_across_windows(services: Any, loop: Any) -> None:
    asyncio.set_event_loop(loop)
    first = MainWindow(services, show_dialogs=False)
    first.show()
    first.resize(780, 590)  # within the offscreen screen (800 x 600)
    loop.run_until_complete(eventually(lambda: first.width() == 780))

    loop.run_until_complete(close_window(first))
    first.deleteLater()
    second = MainWindow(services, show_dialogs=False)
    assert (second.width(), second.height()) == (780, 590)
    assert second.current_panel == "create"
    second.show()
    loop.run_until_complete(close_window(second))
    second.deleteLater()


def test_status_bar_shows_sandbox_or_live(window: Any) -> None:
    badge = window.status.mode_badge
    assert badge.text() == ("Sandbox" if window.services.sandbox else "Live")
    assert window.status.network_label.text() in {"Online", "Offline", "Network: unknown"}
