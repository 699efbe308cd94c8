"""Choosing the data folder and reporting, in one sentence, why it cannot be used."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import pytest

from mbv_desktop.config import paths
from mbv_desktop.config.paths import (
    atomic_write_text,
    backups_dir,
    database_path,
    ensure_data_dir,
    logs_dir,
    resolve_data_dir,
    settings_path,
)
from mbv_desktop.core.errors import DataDirError, InvalidInput

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


def test_flag_wins_over_env_and_default(tmp_path: Path) -> None:
    env = {"MBV_DATA_DIR": str(tmp_path / "from-env")}
    assert resolve_data_dir(str(tmp_path / "from-flag"), env) == (tmp_path / "from-flag", "flag")


def test_env_wins_over_default(tmp_path: Path) -> None:
    env = {"MBV_DATA_DIR": str(tmp_path / "from-env")}
    assert resolve_data_dir(None, env) == (tmp_path / "from-env", "env")


@pytest.mark.skipif(sys.platform != "linux", reason="XDG layout")
def test_default_is_the_platform_user_data_dir(tmp_path: Path) -> None:
    assert resolve_data_dir(None, {}) == (tmp_path / "xdg" / "mbv-desktop", "default")


def test_empty_env_counts_as_unset() -> None:
    path, source = resolve_data_dir(None, {"MBV_DATA_DIR": "  "})
    assert source == "default"
    assert path.is_absolute()


def test_empty_flag_is_refused_rather_than_opening_the_default_profile() -> None:
    with pytest.raises(InvalidInput, match="--data-dir"):
        resolve_data_dir("", {})


def test_tilde_and_relative_paths_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir("~/profile", {})[0] == tmp_path / "home" / "profile"
    assert resolve_data_dir("rel/../profile", {})[0] == tmp_path / "profile"
    assert resolve_data_dir(None, {"MBV_DATA_DIR": "~/p"})[0] == tmp_path / "home" / "p"


def test_file_names_inside_the_data_dir(tmp_path: Path) -> None:
    assert database_path(tmp_path) == tmp_path / "mbv.sqlite3"
    assert settings_path(tmp_path) == tmp_path / "settings.json"
    assert logs_dir(tmp_path) == tmp_path / "logs"
    assert backups_dir(tmp_path) == tmp_path / "backups"


@posix_only
def test_ensure_creates_a_private_folder_and_leaves_no_probe(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "profile"
    assert ensure_data_dir(target) == target
    assert target.is_dir()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert list(target.iterdir()) == []
    assert ensure_data_dir(target) == target  # existing folder is fine


def test_a_file_in_the_way_is_named_in_the_error(tmp_path: Path) -> None:
    target = tmp_path / "profile"
    target.write_text("not a folder")
    with pytest.raises(DataDirError) as info:
        ensure_data_dir(target)
    message = str(info.value)
    assert str(target) in message
    assert "is a file, not a folder" in message
    assert "--data-dir" in message
    assert target.read_text() == "not a folder"  # nothing was touched


def test_a_file_as_parent_is_reported_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(DataDirError, match="is a file, not a folder"):
        ensure_data_dir(tmp_path / "blocker" / "profile")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.EROFS, "is read-only"),
        (errno.ENOSPC, "the disk is full"),
        (errno.EACCES, "permission denied"),
        (errno.EPERM, "permission denied"),
    ],
)
def test_write_failures_become_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    real_open = os.open

    def failing_open(path: object, flags: int, mode: int = 0o777) -> int:
        if ".mbv-write-probe-" in str(path):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(paths.os, "open", failing_open)
    with pytest.raises(DataDirError) as info:
        ensure_data_dir(tmp_path / "profile")
    message = str(info.value)
    assert reason in message
    assert str(tmp_path / "profile") in message
    assert message.count(".") <= 2 and message.endswith(".")  # one sentence (and "--data-dir")
    assert "Traceback" not in message


@posix_only
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_a_real_read_only_folder_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        with pytest.raises(DataDirError, match="permission denied"):
            ensure_data_dir(target)
    finally:
        target.chmod(0o700)


@posix_only
def test_atomic_write_is_private_and_complete(tmp_path: Path) -> None:
    folder = tmp_path / "profile"
    folder.mkdir()
    target = folder / "settings.json"
    target.write_text("old")
    target.chmod(0o644)
    atomic_write_text(target, '{"ui.theme": "dark"}\n')
    assert target.read_text() == '{"ui.theme": "dark"}\n'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in folder.iterdir()] == ["settings.json"]  # no temp file left


def test_atomic_write_failure_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "profile"
    folder.mkdir()
    target = folder / "settings.json"
    target.write_text("old")

    def no_space(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(paths.os, "write", no_space)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert [p.name for p in folder.iterdir()] == ["settings.json"]
