"""One window per data folder: an OS file lock on ``<data_dir>/window.lock``.

Two windows on the same profile would race on the database, the outbox and the log files, so the
second one is refused with a sentence that says which process holds the folder.

The lock is an OS lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows), not a pid file:
the OS drops it when the process ends, also when it crashes or is killed, so a stale lock can
never keep the user out. The pid written into the file is only there for the message. The file
itself is left in place on release; deleting it would let two processes lock two different files.
The descriptor is not inherited by child processes (Python's default), so a helper process the
app starts does not keep the folder locked after the app has gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from pathlib import Path
from types import TracebackType

from mbv_desktop.config.paths import data_dir_error
from mbv_desktop.core.errors import InstanceLocked

__all__ = ["LOCK_FILE_NAME", "InstanceLock"]

LOCK_FILE_NAME = "window.lock"

# On Windows the lock covers one byte well past the pid, so another process can still read the
# pid (a locked range cannot be read there).
_WINDOWS_LOCK_OFFSET = 1024

if sys.platform == "win32":  # pragma: no cover - exercised on Windows CI only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class InstanceLock:
    """The exclusive claim of one process on a data folder.

    >>> with InstanceLock(data_dir):   # doctest: +SKIP
    ...     run_the_window()

    :meth:`acquire` raises :class:`InstanceLocked` if another process (or another
    ``InstanceLock`` in this one) holds the folder, and :class:`DataDirError` if the lock file
    cannot be created.
    """

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = Path(data_dir)
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        """The lock file, ``<data_dir>/window.lock``."""
        return self._data_dir / LOCK_FILE_NAME

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def _read_pid(self, fd: int) -> int | None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 64).decode("ascii", "replace").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def acquire(self) -> InstanceLock:
        """Take the lock and write this process's pid into the file; returns ``self``.

        Creates the data folder if it does not exist yet.
        """
        if self._fd is not None:
            return self
        try:
            self._data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
        except OSError as exc:
            raise data_dir_error(self._data_dir, exc) from exc
        try:
            locked = _try_lock(fd)
        except OSError as exc:
            os.close(fd)
            raise data_dir_error(self._data_dir, exc) from exc
        if not locked:
            pid = self._read_pid(fd)
            os.close(fd)
            holder = f" (process {pid})" if pid is not None else ""
            raise InstanceLocked(
                f"Must Be Viral is already open on {self._data_dir}{holder}. "
                f"Switch to that window, or use another --data-dir."
            )
        try:
            payload = f"{os.getpid()}\n".encode("ascii")
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, payload)
            if sys.platform != "win32":
                os.ftruncate(fd, len(payload))
        except OSError:
            pass  # the pid is only for the message; the lock is what matters
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the folder up (safe to call twice). The lock file stays."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            _unlock(fd)
        with contextlib.suppress(OSError):
            os.close(fd)

    def __enter__(self) -> InstanceLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.release()
