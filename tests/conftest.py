"""Test-wide set-up: Qt offscreen, a temp data dir and home, an in-memory keyring, a qasync
loop for async UI tests, and a failure for any unexpected warning logged by the app."""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything imports Qt
SUPPORT = Path(__file__).parent / "support"
sys.path.insert(0, str(SUPPORT))

import asyncio  # noqa: E402
import concurrent.futures  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import keyring  # noqa: E402
import pytest  # noqa: E402
from memory_keyring import MemoryKeyring  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No test touches the real home, profile or keyring."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    data_dir = tmp_path / "data"
    monkeypatch.setenv("MBV_DATA_DIR", str(data_dir))
    for name in list(os.environ):
        if name.startswith("MBV_") and name != "MBV_DATA_DIR":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "memory_keyring.MemoryKeyring")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SUPPORT), str(REPO)]))
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield data_dir
    keyring.set_keyring(previous)


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def fail_on_app_warnings(request: pytest.FixtureRequest) -> Iterator[_WarningCollector]:
    """An unexpected warning from the app fails the test; tests that provoke one on purpose
    take this fixture and clear ``records`` after checking them."""
    collector = _WarningCollector()
    app_logger = logging.getLogger("mbv_desktop")
    app_logger.addHandler(collector)
    yield collector
    app_logger.removeHandler(collector)
    if collector.records and not request.node.get_closest_marker("allow_warnings"):
        lines = "\n".join(f"{r.name}: {r.getMessage()}" for r in collector.records)
        pytest.fail(f"unexpected warnings were logged:\n{lines}")


@pytest.fixture
def data_dir(isolated_profile: Path) -> Path:
    return isolated_profile


@pytest.fixture
def services(data_dir: Path) -> Iterator[Any]:
    from mbv_desktop.services.container import open_services

    s = open_services(data_dir, env={})
    yield s
    s.close()


@pytest.fixture(scope="session")
def loop(qapp: Any) -> Iterator[asyncio.AbstractEventLoop]:
    """One qasync loop driving Qt for the whole session: tests call
    ``loop.run_until_complete(...)``.

    Session-wide on purpose: a qasync loop owns a QObject with a running timer, and a loop
    dropped after each test would be freed by whichever thread next runs the garbage collector,
    which Qt does not survive.
    """
    import qasync

    qapp.setQuitOnLastWindowClosed(False)  # as app.py does: the loop decides when to stop
    event_loop = qasync.QEventLoop(qapp)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=4)
    event_loop.set_default_executor(executor)  # as app.py does: no QThread executor
    asyncio.set_event_loop(event_loop)
    yield event_loop
    event_loop.run_until_complete(asyncio.sleep(0))
    asyncio.set_event_loop(None)
    event_loop.close()
    gc.collect()
