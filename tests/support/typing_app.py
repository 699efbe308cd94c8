"""A real window on a real profile that types into the editor by itself, one character every
20 ms, printing how many characters it has typed. The crash test kills it with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from mbv_desktop.services.container import open_services
from mbv_desktop.ui.main_window import MainWindow

TEXT = "".join(f"word{i:04d} " for i in range(2000))


def main() -> None:
    app = QApplication([sys.argv[0]])
    services = open_services(Path(sys.argv[1]), env={})
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    window = MainWindow(services, show_dialogs=False)
    window.show()
    editor = window.create_panel.editor
    editor.setFocus()
    typed = 0

    def type_one() -> None:
        nonlocal typed
        QTest.keyClicks(editor, TEXT[typed])
        typed += 1
        print(f"typed {typed}", flush=True)

    timer = QTimer(interval=20)
    timer.timeout.connect(type_one)
    timer.start()
    with loop:
        loop.run_forever()


if __name__ == "__main__":
    main()
