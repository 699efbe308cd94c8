"""Secrets: OS keyring off the event loop, typed timeout, fail closed, plain text only on opt-in."""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest
from keyring.backend import KeyringBackend

from mbv_desktop.config.secrets import (
    MAX_SECRET_CHARS,
    SERVICE_NAME,
    SecretStore,
    oauth_secret_key,
    setting_secret_key,
)
from mbv_desktop.core.errors import InvalidInput, KeyringLocked, SecretStoreError
from mbv_desktop.core.redaction import redact

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


class DictKeyring(KeyringBackend):
    """In-memory keyring; records the threads it was called on."""

    priority = 1
    viable = False  # never picked by keyring's own discovery in other tests

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}
        self.threads: set[int] = set()

    def get_password(self, service: str, username: str) -> str | None:
        self.threads.add(threading.get_ident())
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.threads.add(threading.get_ident())
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.threads.add(threading.get_ident())
        try:
            del self.store[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None


class HangingKeyring(DictKeyring):
    """A keyring that never answers until ``release`` is set (a locked keyring)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.calls += 1
        self.release.wait()
        return super().get_password(service, username)


class RefusingKeyring(DictKeyring):
    """Reads work, writes are refused (e.g. a read-only collection)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("refused")


class FakeAltKeyring(DictKeyring):
    """Looks like keyrings.alt's plain-text file keyring."""


FakeAltKeyring.__module__ = "keyrings.alt.file"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "profile"
    path.mkdir()
    return path


@pytest.fixture
def hanging() -> Iterator[HangingKeyring]:
    backend = HangingKeyring()
    yield backend
    backend.release.set()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def files_under(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*"))


# --- with a keyring -------------------------------------------------------------------------------


def test_round_trip_in_the_keyring_off_the_loop_thread() -> None:
    backend = DictKeyring()
    store = SecretStore(backend=backend)
    key = oauth_secret_key("x", "@creator")
    assert key == "oauth:x:@creator"

    async def scenario() -> tuple[str, str | None, str | None]:
        mode = await store.probe()
        await store.set(key, "refresh-canary-0001")
        got = await store.get(key)
        await store.delete(key)
        return mode, got, await store.get(key)

    assert run(scenario()) == ("keyring", "refresh-canary-0001", None)
    assert store.mode == "keyring"
    assert store.warning is None
    assert store.backend_name.endswith("test_secrets.DictKeyring")
    assert threading.get_ident() not in backend.threads
    assert len(backend.threads) == 1  # one dedicated thread


def test_values_are_stored_under_the_app_service_name() -> None:
    backend = DictKeyring()
    store = SecretStore(backend=backend)
    run(store.set(setting_secret_key("openai.api_key"), "sk-proj-canary-aaaaaaaaaaaaaaaa"))
    assert backend.store == {
        (SERVICE_NAME, "setting:openai.api_key"): "sk-proj-canary-aaaaaaaaaaaaaaaa"
    }


def test_deleting_a_missing_secret_is_fine() -> None:
    run(SecretStore(backend=DictKeyring()).delete("oauth:x:nobody"))


def test_set_and_got_values_can_never_be_logged() -> None:
    backend = DictKeyring()
    backend.store[(SERVICE_NAME, "oauth:github:me")] = "stored-before-canary-77"
    store = SecretStore(backend=backend)
    run(store.set("oauth:google:me", "written-canary-value-88"))
    assert run(store.get("oauth:github:me")) == "stored-before-canary-77"
    line = redact("refresh with written-canary-value-88 and stored-before-canary-77")
    assert "canary" not in line


def test_plaintext_opt_in_is_not_used_when_a_keyring_exists(folder: Path) -> None:
    path = folder / "secrets.json"
    store = SecretStore(allow_plaintext=True, plaintext_path=path, backend=DictKeyring())
    run(store.set("oauth:x:me", "keyring-canary-value"))
    assert store.mode == "keyring"
    assert not path.exists()


def test_keyrings_alt_plain_file_is_not_accepted_as_a_keyring(folder: Path) -> None:
    backend = FakeAltKeyring()
    store = SecretStore(backend=backend)
    run(store.set("oauth:x:me", "not-to-a-file-canary"))
    assert store.mode == "session-only"
    assert backend.store == {}
    assert store.warning is not None and "plain-text file keyring" in store.warning


def test_default_backend_comes_from_keyring_get_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring, "get_keyring", keyring.backends.fail.Keyring)
    store = SecretStore()
    assert run(store.probe()) == "session-only"


# --- too long -------------------------------------------------------------------------------------


def test_a_value_too_long_for_windows_is_refused_everywhere() -> None:
    backend = DictKeyring()
    store = SecretStore(backend=backend)
    run(store.set("oauth:x:ok", "a" * MAX_SECRET_CHARS))
    with pytest.raises(SecretStoreError) as info:
        run(store.set("oauth:x:big", "a" * 2000))
    assert "too long for the OS keyring" in str(info.value)
    assert (SERVICE_NAME, "oauth:x:big") not in backend.store
    # characters outside the BMP take two UTF-16 units in Credential Manager
    with pytest.raises(SecretStoreError):
        run(store.set("oauth:x:emoji", "😀" * (MAX_SECRET_CHARS // 2 + 1)))


def test_keys_must_be_named() -> None:
    with pytest.raises(InvalidInput):
        run(SecretStore(backend=DictKeyring()).set("  ", "value-value"))


# --- a keyring that does not answer ---------------------------------------------------------------


def test_a_hanging_keyring_times_out_as_locked_and_the_loop_keeps_running(
    hanging: HangingKeyring, folder: Path
) -> None:
    path = folder / "secrets.json"
    store = SecretStore(allow_plaintext=True, plaintext_path=path, timeout_s=0.2, backend=hanging)

    async def scenario() -> tuple[BaseException, int, float]:
        ticks = 0
        stop = asyncio.Event()

        async def heartbeat() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        beat = asyncio.create_task(heartbeat())
        started = time.monotonic()
        try:
            await store.get("oauth:x:me")
        except KeyringLocked as exc:
            error: BaseException = exc
        else:  # pragma: no cover
            raise AssertionError("no timeout")
        elapsed = time.monotonic() - started
        stop.set()
        await beat
        return error, ticks, elapsed

    error, ticks, elapsed = run(scenario())
    assert str(error) == "The OS keyring did not answer within 0.2 s; it may be locked."
    assert ticks >= 5  # the event loop was never blocked
    assert elapsed < 5
    # never a silent downgrade: nothing written, no plain-text mode
    assert store.mode != "plaintext"
    assert not path.exists()
    with pytest.raises(KeyringLocked):
        run(store.set("oauth:x:me", "must-not-be-written-canary"))
    assert files_under(folder) == []


def test_calls_fail_fast_while_the_keyring_is_stuck_and_work_once_it_answers(
    hanging: HangingKeyring,
) -> None:
    store = SecretStore(timeout_s=0.2, backend=hanging)
    with pytest.raises(KeyringLocked):
        run(store.probe())
    started = time.monotonic()
    with pytest.raises(KeyringLocked):
        run(store.set("oauth:x:me", "queued-canary-value"))
    assert hanging.store == {}
    hanging.release.set()  # the user typed the keyring password

    async def later() -> str | None:
        for _ in range(100):
            try:
                await store.set("oauth:x:me", "after-unlock-canary")
                return await store.get("oauth:x:me")
            except KeyringLocked:
                await asyncio.sleep(0.05)
        return None

    assert run(later()) == "after-unlock-canary"
    assert store.mode == "keyring"
    assert time.monotonic() - started < 10


# --- no keyring -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", [keyring.backends.fail.Keyring(), keyring.backends.null.Keyring()]
)
def test_no_keyring_keeps_secrets_for_this_session_only_and_writes_nothing(
    backend: KeyringBackend, folder: Path, tmp_path: Path
) -> None:
    store = SecretStore(plaintext_path=folder / "secrets.json", backend=backend)

    async def scenario() -> str | None:
        assert await store.probe() == "session-only"
        await store.set("oauth:x:me", "session-canary-value-1")
        return await store.get("oauth:x:me")

    assert run(scenario()) == "session-canary-value-1"
    assert store.warning is not None
    assert "No OS keyring was found" in store.warning
    assert "for this session only" in store.warning
    assert store.backend_name == "none"
    assert files_under(folder) == []
    home_files = files_under(tmp_path / "home") if (tmp_path / "home").exists() else []
    assert not any(
        "session-canary" in p.read_text(errors="ignore") for p in home_files if p.is_file()
    )
    # a new process (store) does not know it
    other = SecretStore(backend=backend)
    assert run(other.get("oauth:x:me")) is None
    run(store.delete("oauth:x:me"))
    assert run(store.get("oauth:x:me")) is None


@posix_only
def test_plaintext_only_on_opt_in_with_mode_0600_and_a_plain_warning(folder: Path) -> None:
    path = folder / "secrets.json"
    store = SecretStore(
        allow_plaintext=True, plaintext_path=path, backend=keyring.backends.fail.Keyring()
    )
    run(store.set("oauth:x:me", "plaintext-canary-1"))
    run(store.set("oauth:github:me", "plaintext-canary-2"))
    assert store.mode == "plaintext"
    assert store.warning == (
        f"Secrets are stored in plain text in {path}, because no OS keyring was found and "
        f"plain-text storage is switched on."
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {
        "oauth:x:me": "plaintext-canary-1",
        "oauth:github:me": "plaintext-canary-2",
    }
    assert [p.name for p in folder.iterdir()] == ["secrets.json"]  # no temp files left
    # it survives the process
    again = SecretStore(
        allow_plaintext=True, plaintext_path=path, backend=keyring.backends.fail.Keyring()
    )
    assert run(again.get("oauth:x:me")) == "plaintext-canary-1"
    run(again.delete("oauth:x:me"))
    assert json.loads(path.read_text()) == {"oauth:github:me": "plaintext-canary-2"}


@pytest.mark.allow_warnings
def test_a_damaged_plaintext_file_is_reported_then_moved_aside(folder: Path) -> None:
    path = folder / "secrets.json"
    path.write_text("{not json")
    store = SecretStore(
        allow_plaintext=True, plaintext_path=path, backend=keyring.backends.fail.Keyring()
    )
    with pytest.raises(SecretStoreError, match="damaged"):
        run(store.get("oauth:x:me"))
    run(store.set("oauth:x:me", "fresh-canary-value"))
    assert json.loads(path.read_text()) == {"oauth:x:me": "fresh-canary-value"}
    assert any(p.name.startswith("secrets.json.corrupt-") for p in folder.iterdir())


def test_a_refused_write_keeps_the_secret_for_the_session_never_in_a_file(folder: Path) -> None:
    backend = RefusingKeyring()
    backend.store[(SERVICE_NAME, "oauth:github:me")] = "existing-canary-value"
    path = folder / "secrets.json"
    store = SecretStore(allow_plaintext=True, plaintext_path=path, backend=backend)
    run(store.set("oauth:x:me", "refused-canary-value"))
    assert store.mode == "session-only"
    assert store.warning is not None and "session only" in store.warning
    assert run(store.get("oauth:x:me")) == "refused-canary-value"
    assert run(store.get("oauth:github:me")) == "existing-canary-value"  # reads still work
    assert not path.exists()


def test_plaintext_needs_a_path() -> None:
    with pytest.raises(ValueError):
        SecretStore(allow_plaintext=True)
