"""Text typed about a second before the process is killed with SIGKILL is there after restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

SUPPORT = Path(__file__).resolve().parents[1] / "support"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("kill_after_s", [0.6, 1.9, 3.2])
def test_kill_9_while_typing_loses_at_most_the_last_second(data_dir: Path,
                                                            kill_after_s: float) -> None:
    sys.path.insert(0, str(SUPPORT))
    from typing_app import TEXT

    proc = subprocess.Popen([sys.executable, str(SUPPORT / "typing_app.py"), str(data_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.stdout is not None
    try:
        stamps: list[tuple[float, int]] = []
        started: float | None = None
        while True:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"the app ended early: {proc.stderr.read()}")  # type: ignore[union-attr]
            now = time.monotonic()
            started = started or now
            stamps.append((now, int(line.split()[1])))
            if now - started >= kill_after_s + 1.0:
                break
        proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        proc.kill()
        proc.wait()

    # Everything typed up to a second before the kill must have reached the disk.
    must_have = max((n for t, n in stamps if t <= killed_at - 1.0), default=0)
    assert must_have > 0
    conn = sqlite3.connect(data_dir / "mbv.sqlite3")
    rows = conn.execute("SELECT body FROM drafts WHERE deleted_at IS NULL").fetchall()
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(rows) == 1, "exactly one draft, created once"
    body = rows[0][0]
    assert TEXT.startswith(body)
    assert len(body) >= must_have, f"saved {len(body)} chars, typed {must_have} a second earlier"
