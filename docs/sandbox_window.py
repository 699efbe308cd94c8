"""What the screenshot scripts share: the real window on a fresh sandbox profile, offscreen,
with an in-memory keyring (never the keyring of the machine making the docs).

    with sandbox_window(1200, 860) as (loop, host, services, window):
        loop.run_until_complete(scenario())
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "bench"))
sys.path.insert(0, str(DOCS.parent / "tests" / "support"))


@contextmanager
def sandbox_window(width: int, height: int) -> Iterator[tuple[Any, Any, Any, Any]]:
    """``(loop, sandbox host, services, main window)``; closes them all afterwards."""
    import keyring
    from memory_keyring import MemoryKeyring
    from qt_bench import qt_loop

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow
    from mbv_desktop.ui.theme import apply_theme

    keyring.set_keyring(MemoryKeyring())
    loop = qt_loop()
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance())  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        host = SandboxHost(Path(tmp) / "sandbox")
        host.start()
        services = open_services(Path(tmp) / "data", env={},
                                 overrides=sandbox_overrides(host.urls()), sandbox=True,
                                 sandbox_control_url=host.control_url)
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.resize(width, height)
        window.show()
        try:
            yield loop, host, services, window
        finally:
            loop.run_until_complete(services.aclose())
            window.close()
            services.close()
            host.stop()
