"""Composition root for the window: QApplication + qasync loop, Services, MainWindow.

Only this module and ``ui/`` import Qt. ``run_window`` is called by the command line when no
subcommand is given.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from mbv_desktop.core.errors import MbvError

log = logging.getLogger(__name__)

HEALTH_SAMPLE_MS = 5_000  # integration health: one sample per provider this often
HEALTH_PERSIST_MS = 60_000  # and folded into today's row this often (and on closing)


@dataclass(frozen=True)
class WindowOptions:
    data_dir: Path
    sandbox: bool = False
    panel: str | None = None
    screenshot: Path | None = None


def _headless() -> bool:
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or sys.platform in ("win32", "darwin"))


def preload_after_first_paint() -> None:
    from mbv_desktop.core import platforms

    platforms.preload()
    from mbv_desktop.ui.widgets.charts import preload as preload_charts

    preload_charts()  # the Analytics panel's plotting library (~300 ms to import)
    gc.freeze()  # as the window does after its first frame: long-lived, out of the GC's walk


def run_window(options: WindowOptions, services_factory: object) -> int:
    """Opens the window and runs until it is closed; returns the process exit code.

    ``services_factory`` is a zero-argument callable returning ``Services`` (the CLI builds it
    so flags, environment and settings resolve in one place).
    """
    if options.screenshot is not None and _headless():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    import qasync
    from PySide6.QtCore import QCoreApplication, QEvent, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    from mbv_desktop import APP_NAME, __version__
    from mbv_desktop.config.instance_lock import InstanceLock
    from mbv_desktop.ui.main_window import PANEL_NAMES, MainWindow
    from mbv_desktop.ui.resources import icon
    from mbv_desktop.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName("Must Be Viral")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("mbv-desktop")
    app.setWindowIcon(icon("app"))
    # The window closes asynchronously (it saves first); the loop below decides when to stop.
    app.setQuitOnLastWindowClosed(False)
    interactive = options.screenshot is None

    def fail(message: str) -> int:
        print(f"mbv-desktop: {message}", file=sys.stderr)
        if interactive and not _headless():
            QMessageBox.critical(None, "Must Be Viral", message)
        return 2

    lock = InstanceLock(options.data_dir)
    try:
        lock.acquire()
        services = services_factory()  # type: ignore[operator]
    except MbvError as e:
        return fail(str(e))
    if options.panel is not None and options.panel not in PANEL_NAMES:
        services.close()
        lock.release()
        return fail(f"There is no panel '{options.panel}'; use one of: {', '.join(PANEL_NAMES)}.")

    apply_theme(app, str(services.settings.get("ui.theme")))
    loop = qasync.QEventLoop(app)
    # qasync's default executor runs on QThreads; their objects, freed later from another
    # thread, make Qt warn and can crash it. Plain threads do the blocking work instead.
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(
        max_workers=4, thread_name_prefix="mbv-blocking"))
    asyncio.set_event_loop(loop)
    # A screenshot neither uses nor changes the window size the person left.
    window = MainWindow(services, show_dialogs=interactive, remember_state=interactive)
    if options.panel:
        window.show_panel(options.panel)
    exit_code = 0

    def after_first_paint() -> None:
        nonlocal exit_code
        # Off the path to the first window: the X counter's rules take ~300 ms to import.
        threading.Thread(target=preload_after_first_paint, name="mbv-preload", daemon=True).start()
        window.tasks.run(services.drafting.purge_old_deleted(), label="Tidying up",
                         progress=False)
        services.sync.start()  # uploads and draft sync, in the background from now on
        services.publishing.start()  # due posts go out while the app runs
        services.metrics_collection.start()  # and published posts' figures come in
        services.analytics.start()  # usage events that waited (opted-in creators only)
        services.billing.start()  # Stripe's events, metered usage and writes left pending
        services.publishing.outcomes.subscribe(
            lambda _o: services.metrics_collection.wake())
        health = services.health_history  # integration health: every 5 s, kept every minute
        health.sample()
        sampler = QTimer(window)
        sampler.timeout.connect(health.sample)
        sampler.start(HEALTH_SAMPLE_MS)
        keeper = QTimer(window)
        keeper.timeout.connect(lambda: window.tasks.run(
            health.persist(), label="Keeping integration health", progress=False))
        keeper.start(HEALTH_PERSIST_MS)
        if interactive:
            window.install_tray()  # where the desktop has one: publishing goes on in the tray
        if interactive and not _headless():
            window.ask_about_analytics_once()
        if options.screenshot is not None:
            window.tasks.run(take_screenshot(options.screenshot), label="Taking a screenshot",
                             progress=False)

    async def take_screenshot(path: Path) -> None:
        nonlocal exit_code
        # What the person would see a moment later: lists filled, counters computed.
        await window.tasks.wait_idle()
        await asyncio.sleep(0.05)
        window.repaint()
        if window.grab().save(str(path), "PNG"):
            print(f"Saved a screenshot to {path}")
        else:
            print(f"mbv-desktop: could not write {path}", file=sys.stderr)
            exit_code = 1
        window.close()

    if os.environ.get("MBV_REPORT_FIRST_PAINT"):  # for bench/first_paint.py
        window.first_frame.connect(
            lambda t: print(f"first-paint {t:.6f}", file=sys.stderr, flush=True))
    window.first_painted.connect(after_first_paint)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    window.show()
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        # Destroyed here on the GUI thread, not by a garbage collection on some worker thread.
        window.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        services.close()
        lock.release()
    return exit_code
