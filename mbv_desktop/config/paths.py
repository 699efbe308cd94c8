"""Where the app keeps its data, and checking that it can.

The data directory holds one profile: the database, ``settings.json``, logs, backups and media.
It comes from ``--data-dir`` (the flag), else ``MBV_DATA_DIR`` (the environment), else the
platform's user data directory (``~/.local/share/mbv-desktop`` on Linux,
``~/Library/Application Support/mbv-desktop`` on macOS, ``%LOCALAPPDATA%\\mbv-desktop`` on Windows).

:func:`ensure_data_dir` proves the directory is usable by writing a probe file, so a read-only
mount or a full disk is reported in one sentence at start-up instead of as a stack trace later.
:func:`atomic_write_text` is the one way this package replaces a small file (settings, the
plain-text secrets file): never half-written, never readable by other users.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path

from mbv_desktop import APP_NAME
from mbv_desktop.core.errors import DataDirError, InvalidInput

__all__ = [
    "DATA_DIR_ENV",
    "atomic_write_text",
    "backups_dir",
    "data_dir_error",
    "database_path",
    "default_data_dir",
    "ensure_data_dir",
    "logs_dir",
    "resolve_data_dir",
    "settings_path",
]

DATA_DIR_ENV = "MBV_DATA_DIR"

_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600


def default_data_dir() -> Path:
    """The platform's per-user data directory for the app (not created)."""
    import platformdirs  # only when no --data-dir or MBV_DATA_DIR says where

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _absolute(value: str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(value)))


def resolve_data_dir(cli_value: str | None, env: Mapping[str, str]) -> tuple[Path, str]:
    """Choose the data directory and say where the choice came from.

    Returns ``(path, source)`` with ``source`` one of ``"flag"``, ``"env"`` or ``"default"``.
    ``~`` is expanded and the path made absolute; nothing is created. An empty
    ``MBV_DATA_DIR`` counts as unset; an empty ``--data-dir`` is refused, because silently
    falling back to the default profile would open the wrong data.
    """
    if cli_value is not None:
        if not cli_value.strip():
            raise InvalidInput("--data-dir needs a folder path; it was given an empty one.")
        return _absolute(cli_value.strip()), "flag"
    env_value = env.get(DATA_DIR_ENV, "").strip()
    if env_value:
        return _absolute(env_value), "env"
    return default_data_dir(), "default"


def data_dir_error(path: Path, exc: OSError, *, what: str = "data folder") -> DataDirError:
    """Turn an OS error about ``path`` into a :class:`DataDirError` with one plain sentence."""
    code = exc.errno
    if code == errno.EROFS:
        reason = "it is read-only"
    elif code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        reason = "the disk is full"
    elif code in (errno.ENOTDIR, errno.EEXIST) or isinstance(exc, NotADirectoryError):
        reason = "it is a file, not a folder"
    elif code in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif code == errno.ENOENT:
        reason = "a part of the path does not exist"
    else:
        reason = (exc.strerror or str(exc)).rstrip(".").lower()
    remedy = "free some space or choose" if reason == "the disk is full" else "choose"
    return DataDirError(
        f"The {what} {path} cannot be used: {reason}; "
        f"{remedy} another data folder with --data-dir or {DATA_DIR_ENV}."
    )


def ensure_data_dir(path: Path) -> Path:
    """Create ``path`` if needed (mode 0700) and prove it is a writable directory.

    Writability is checked by creating, writing and deleting a probe file, because permission
    bits do not tell about read-only mounts, full disks or ACLs. Returns ``path``. Raises
    :class:`DataDirError` with one sentence naming the path and the reason.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise data_dir_error(path, NotADirectoryError(errno.ENOTDIR, "Not a directory"))
    try:
        path.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
    except FileExistsError as exc:  # a parent (or the path) is a file
        raise data_dir_error(path, NotADirectoryError(errno.ENOTDIR, str(exc))) from exc
    except OSError as exc:
        raise data_dir_error(path, exc) from exc
    probe = path / f".mbv-write-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _PRIVATE_FILE)
        try:
            os.write(fd, b"mbv-desktop write probe\n")
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise data_dir_error(path, exc) from exc
    try:
        probe.unlink()
    except OSError as exc:
        raise data_dir_error(path, exc) from exc
    return path


def database_path(data_dir: Path) -> Path:
    """The SQLite database of the profile."""
    return Path(data_dir) / "mbv.sqlite3"


def settings_path(data_dir: Path) -> Path:
    """The settings file of the profile (non-secret settings only)."""
    return Path(data_dir) / "settings.json"


def logs_dir(data_dir: Path) -> Path:
    """The folder of the rotating log files."""
    return Path(data_dir) / "logs"


def backups_dir(data_dir: Path) -> Path:
    """The folder of database backups taken before migrations."""
    return Path(data_dir) / "backups"


def atomic_write_text(path: Path, text: str, *, mode: int = _PRIVATE_FILE) -> None:
    """Replace ``path`` with ``text`` (UTF-8) so readers see the old or the new file, never half.

    Writes a temporary file in the same folder, created with ``mode`` from the start (0600 by
    default: it never exists with wider permissions, not even for a moment), flushes it to disk,
    then renames it over ``path``. Raises ``OSError``; the temporary file is removed on failure.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    data = text.encode("utf-8")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0), mode)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if sys.platform != "win32":
            os.chmod(tmp, mode)  # in case the umask narrowed or the file system ignored it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sys.platform != "win32":
        # Make the rename itself durable.
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
