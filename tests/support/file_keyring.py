"""A keyring back-end for subprocess tests that keeps its entries in a JSON file
(``MBV_TEST_KEYRING_FILE``), so they outlive the process, as an OS keyring's do.

``MBV_TEST_KEYRING_KILL_ON_SET=<prefix>`` makes the process kill itself (SIGKILL) the moment it
tries to store an entry whose name starts with ``<prefix>``, before anything is written: a crash
between a token response and the keyring write.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["MBV_TEST_KEYRING_FILE"])

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._path.read_text()))
        except (OSError, ValueError):
            return {}

    def _save(self, entries: dict[str, str]) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries))
        tmp.replace(self._path)

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}|{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        prefix = os.environ.get("MBV_TEST_KEYRING_KILL_ON_SET")
        if prefix and username.startswith(prefix):
            os.kill(os.getpid(), signal.SIGKILL)
        entries = self._load()
        entries[f"{service}|{username}"] = password
        self._save(entries)

    def delete_password(self, service: str, username: str) -> None:
        entries = self._load()
        if entries.pop(f"{service}|{username}", None) is None:
            raise PasswordDeleteError(username)
        self._save(entries)
