"""One window per data folder, and a crashed window never locks the user out."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mbv_desktop.config.instance_lock import InstanceLock
from mbv_desktop.core.errors import DataDirError, InstanceLocked

REPO = Path(__file__).resolve().parents[3]

HOLDER = """
import sys
from pathlib import Path
from mbv_desktop.config.instance_lock import InstanceLock
lock = InstanceLock(Path(sys.argv[1])).acquire()
print("ready", flush=True)
sys.stdin.read()  # hold until the test closes stdin or kills us
lock.release()
"""


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "profile"
    path.mkdir()
    return path


@pytest.fixture
def holder(data_dir: Path) -> Iterator[subprocess.Popen[str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def test_a_second_window_on_the_same_folder_is_refused_with_the_holder_named(
    data_dir: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(InstanceLocked) as info:
        InstanceLock(data_dir).acquire()
    assert str(info.value) == (
        f"Must Be Viral is already open on {data_dir} (process {holder.pid}). "
        f"Switch to that window, or use another --data-dir."
    )


def test_the_lock_goes_away_when_the_holder_is_killed(
    data_dir: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(InstanceLocked):
        InstanceLock(data_dir).acquire()
    holder.kill()  # no clean-up code runs: the OS drops the lock
    holder.wait(timeout=10)
    lock = InstanceLock(data_dir).acquire()
    try:
        assert lock.held
        assert (data_dir / "window.lock").read_text().strip() == str(os.getpid())
    finally:
        lock.release()


def test_another_folder_is_not_affected(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    with InstanceLock(tmp_path / "other") as lock:
        assert lock.held


def test_acquire_writes_the_pid_and_refuses_a_second_holder(data_dir: Path) -> None:
    first = InstanceLock(data_dir).acquire()
    try:
        assert (data_dir / "window.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(InstanceLocked, match=f"process {os.getpid()}"):
            InstanceLock(data_dir).acquire()
        assert first.acquire() is first  # re-acquiring the same object is harmless
    finally:
        first.release()
    first.release()  # twice is fine
    assert not first.held


def test_context_manager_releases(data_dir: Path) -> None:
    with InstanceLock(data_dir) as lock:
        assert lock.held
    assert not lock.held
    with InstanceLock(data_dir):
        pass
    assert (data_dir / "window.lock").exists()  # the file stays; only the lock goes


def test_a_missing_data_folder_is_created(tmp_path: Path) -> None:
    with InstanceLock(tmp_path / "new" / "profile") as lock:
        assert lock.path.exists()


def test_an_unusable_folder_is_a_data_dir_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataDirError, match="a file, not a folder"):
        InstanceLock(blocker).acquire()
