"""Secrets (OAuth refresh tokens, API keys) in the OS keyring, and what happens when there is none.

One service name, :data:`SERVICE_NAME`; entries are keyed ``oauth:<provider>:<account>`` for
sign-in tokens and ``setting:<key>`` (:func:`setting_secret_key`) for secret settings such as
``openai.api_key``.

Rules (see reference/reliability.md items 7-9):

* **Never on the event loop.** Keyring back-ends talk D-Bus, XPC or Win32 and can block for
  minutes (a locked keyring waits for a password; D-Bus activation can time out twice). Every
  call runs on one dedicated worker thread and is awaited with a timeout; a timeout raises
  :class:`KeyringLocked`, it never falls back to another store.
* **Fail closed.** With no usable keyring (``keyring.backends.fail``, ``keyring.backends.null``,
  a ``NoKeyringError``/``KeyringError`` while probing, or only a ``keyrings.alt`` plain-text
  file "keyring"), secrets are kept in memory for this session only and nothing is written to
  disk. :attr:`SecretStore.warning` says so in one sentence for the UI and ``doctor``.
* **Plain text only on request.** With ``allow_plaintext=True`` *and* no keyring, secrets go to
  a JSON file created with mode 0600, and :attr:`SecretStore.warning` says plainly that they are
  stored in plain text, and where.
* **Small values.** Windows Credential Manager stores at most 2,560 bytes per credential
  (``CRED_MAX_CREDENTIAL_BLOB_SIZE``); keyring writes UTF-16, so about 1,280 characters, and a
  longer value fails with Win32 error 1783 (jaraco/keyring#355). Values longer than
  :data:`MAX_SECRET_CHARS` are refused everywhere with :class:`SecretStoreError`, so the limit is
  the same on every platform and is met in development on Linux rather than first in the field
  on Windows. Store refresh tokens and keys, not whole token responses.

Every value set or read is registered with :func:`mbv_desktop.core.redaction.register_secret`, so
it can never appear in a log line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from mbv_desktop.config.paths import atomic_write_text
from mbv_desktop.core.errors import InvalidInput, KeyringLocked, SecretStoreError
from mbv_desktop.core.redaction import register_secret

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = [
    "MAX_SECRET_CHARS",
    "SERVICE_NAME",
    "SecretStore",
    "oauth_secret_key",
    "setting_secret_key",
]

log = logging.getLogger(__name__)

SERVICE_NAME = "mbv-desktop"

#: Longest secret accepted, in UTF-16 code units (characters, for ordinary text). Windows
#: Credential Manager holds 2,560 bytes = 1,280 UTF-16 units; this leaves some room.
MAX_SECRET_CHARS = 1200

_PROBE_KEY = "mbv-desktop:probe"

T = TypeVar("T")

KEYRING = "keyring"
SESSION_ONLY = "session-only"
PLAINTEXT = "plaintext"
UNKNOWN = "unknown"


def oauth_secret_key(provider: str, account: str) -> str:
    """The keyring entry for a provider account's sign-in secret: ``oauth:<provider>:<account>``."""
    return f"oauth:{provider}:{account}"


def setting_secret_key(setting_key: str) -> str:
    """The keyring entry for a secret setting, e.g. ``setting:openai.api_key``."""
    return f"setting:{setting_key}"


class _WorkerThread(concurrent.futures.Executor):
    """A single-thread executor whose thread is a daemon.

    ``concurrent.futures.ThreadPoolExecutor`` joins its threads when the interpreter exits, so a
    keyring call that never returns (a locked keyring waiting for a password) would hang the
    app's exit as well. Here the thread is a daemon: the process can always quit.
    """

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None
        ] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._closed = False
        self._lock = threading.Lock()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, fn = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
            del job, future, fn

    def submit(  # type: ignore[override]
        self, fn: Callable[[], T], /
    ) -> concurrent.futures.Future[T]:
        with self._lock:
            if self._closed:
                raise RuntimeError("the keyring worker has been shut down")
            if not self._started:
                self._thread.start()
                self._started = True
            future: concurrent.futures.Future[T] = concurrent.futures.Future()
            self._jobs.put((future, fn))
            return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._jobs.put(None)
        if wait and self._started:
            self._thread.join()


def _kr_errors() -> ModuleType:
    """``keyring.errors``, imported on first use.

    Importing keyring costs about 30 ms (entry-point discovery), so it is kept off the start-up
    path: the probe imports it on the worker thread, and by the time an ``except`` clause here
    evaluates this, it is a dictionary look-up.
    """
    import keyring.errors

    return keyring.errors


def _backend_label(backend: KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__name__}"


def _usable(backend: KeyringBackend) -> bool:
    """Whether ``backend`` is a real OS keyring (not "no keyring", not a plain-text file)."""
    import keyring.backends.fail
    import keyring.backends.null

    if isinstance(backend, keyring.backends.fail.Keyring | keyring.backends.null.Keyring):
        return False
    # keyrings.alt's back-ends write plain-text or weakly protected files in the home folder;
    # using one silently would be exactly the silent plaintext fallback this module forbids.
    return not type(backend).__module__.startswith("keyrings.alt")


def _choose_backend(backend: KeyringBackend) -> KeyringBackend:
    """Unwrap keyring's chainer into its best real member (or leave it for :func:`_usable`)."""
    import keyring.backends.chainer
    import keyring.backends.fail

    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        members = [b for b in backend.backends if _usable(b)]
        if members:
            return members[0]  # highest priority first
        return keyring.backends.fail.Keyring()
    return backend


class SecretStore:
    """The app's secrets, kept in the OS keyring (or, without one, as the rules above say).

    Args:
        allow_plaintext: the user's explicit opt-in (setting ``secrets.allow_plaintext``) to a
            plain-text file when there is no OS keyring. Never used when a keyring exists.
        plaintext_path: that file, e.g. ``<data_dir>/secrets.json``; required with
            ``allow_plaintext``.
        timeout_s: how long one keyring call may take before :class:`KeyringLocked`.
        backend: the keyring back-end to use; ``None`` asks ``keyring.get_keyring()`` (which
            honours ``PYTHON_KEYRING_BACKEND``) on the worker thread.

    All public methods are coroutines and must be awaited on an asyncio loop; the first call
    probes the back-end (:meth:`probe`).
    """

    def __init__(
        self,
        *,
        allow_plaintext: bool = False,
        plaintext_path: Path | None = None,
        timeout_s: float = 10.0,
        backend: KeyringBackend | None = None,
    ) -> None:
        if allow_plaintext and plaintext_path is None:
            raise ValueError("allow_plaintext=True needs a plaintext_path")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self._allow_plaintext = allow_plaintext
        self._plaintext_path = Path(plaintext_path) if plaintext_path is not None else None
        self._timeout_s = timeout_s
        self._given_backend = backend
        self._backend: KeyringBackend | None = None
        self._mode = UNKNOWN
        self._warning: str | None = None
        self._session: dict[str, str] = {}
        self._worker = _WorkerThread("mbv-keyring")
        # Stop the thread when the store is dropped (the thread does not reference the store).
        self._finalizer = weakref.finalize(self, self._worker.shutdown, False)
        self._state_lock = threading.Lock()
        self._probe_future: concurrent.futures.Future[str] | None = None
        # A call that timed out and is still running on the worker: later calls fail fast
        # instead of queueing behind it (and running long after the user saw "locked").
        self._stuck: concurrent.futures.Future[Any] | None = None

    # -- state --

    @property
    def mode(self) -> str:
        """``"keyring"``, ``"session-only"`` or ``"plaintext"``; ``"unknown"`` before the probe."""
        return self._mode

    @property
    def backend_name(self) -> str:
        """The keyring back-end in use, e.g. ``keyring.backends.SecretService.Keyring``; else
        ``"none"``."""
        if self._backend is not None:
            return _backend_label(self._backend)
        return "none"

    @property
    def warning(self) -> str | None:
        """A sentence for the UI and ``doctor`` when secrets are not in an OS keyring."""
        return self._warning

    @property
    def timeout_s(self) -> float:
        """How long one keyring call may take."""
        return self._timeout_s

    def close(self) -> None:
        """Stop the worker thread (optional: it also stops when the store is dropped, and as a
        daemon it never holds up the process's exit)."""
        self._finalizer()

    # -- the worker --

    def _locked_error(self) -> KeyringLocked:
        return KeyringLocked(
            f"The OS keyring did not answer within {self._timeout_s:g} s; it may be locked."
        )

    async def _await(self, future: concurrent.futures.Future[T]) -> T:
        """Wait at most ``timeout_s`` for a job on the worker thread."""
        inner = asyncio.wrap_future(future)
        # If we stop waiting, nobody reads the result; don't let asyncio log it as unretrieved.
        inner.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            # shield: giving up must not cancel the job's future (others may share it).
            return await asyncio.wait_for(asyncio.shield(inner), self._timeout_s)
        except TimeoutError:
            if not future.cancel():  # already running: it is stuck in the back-end
                self._stuck = future
            raise self._locked_error() from None

    async def _run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker thread and wait at most ``timeout_s`` for it."""
        stuck = self._stuck
        if stuck is not None and not stuck.done():
            raise self._locked_error()
        return await self._await(self._worker.submit(fn))

    # -- probing --

    def _probe_sync(self) -> str:
        backend = self._given_backend
        reason: str | None = None
        try:
            if backend is None:
                import keyring

                backend = keyring.get_keyring()
            backend = _choose_backend(backend)
            if _usable(backend):
                # A real read: the back-end may be present but unusable (no D-Bus session).
                backend.get_password(SERVICE_NAME, _PROBE_KEY)
                self._backend = backend
                self._set_mode(KEYRING, None)
                return KEYRING
            if backend is not None and type(backend).__module__.startswith("keyrings.alt"):
                reason = f"only a plain-text file keyring ({_backend_label(backend)}) was found"
        except _kr_errors().KeyringError as exc:
            reason = f"the keyring back-end failed ({type(exc).__name__})"
            log.info("Keyring probe failed: %s", exc)
        except Exception as exc:  # back-ends raise D-Bus, OS and import errors too
            reason = f"the keyring back-end failed ({type(exc).__name__})"
            log.info("Keyring probe failed: %r", exc)
        self._backend = None
        self._fall_back(reason, at_probe=True)
        return self._mode

    def _fall_back(self, reason: str | None, *, at_probe: bool) -> None:
        """No usable keyring: session-only, or plain text if the user opted in.

        Plain text is chosen only by the probe, before anything is written; a keyring that
        fails later in the session degrades to session-only, never to a file.
        """
        if at_probe and self._allow_plaintext and self._plaintext_path is not None:
            self._set_mode(
                PLAINTEXT,
                f"Secrets are stored in plain text in {self._plaintext_path}, because no OS "
                f"keyring was found and plain-text storage is switched on.",
            )
        else:
            detail = f" ({reason})" if reason else ""
            self._set_mode(
                SESSION_ONLY,
                f"No OS keyring was found{detail}: secrets are kept for this session only.",
            )

    def _set_mode(self, mode: str, warning: str | None) -> None:
        with self._state_lock:
            previous = self._mode
            self._mode = mode
            self._warning = warning
        if warning and previous != mode:
            log.info("Secret storage: %s", warning)

    async def probe(self) -> str:
        """Find the keyring back-end (once; later calls return the same answer) and the mode.

        Runs on the worker thread. Raises :class:`KeyringLocked` if the back-end does not answer
        within ``timeout_s``; the probe keeps running, and a later call picks up its answer.
        """
        if self._mode != UNKNOWN:
            return self._mode
        with self._state_lock:
            if self._probe_future is None:
                self._probe_future = self._worker.submit(self._probe_sync)
            future = self._probe_future
        return await self._await(future)

    # -- plain-text file (only with the opt-in and no keyring) --

    def _read_plaintext(self) -> dict[str, str]:
        assert self._plaintext_path is not None
        try:
            raw = self._plaintext_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretStoreError(
                f"The plain-text secrets file {self._plaintext_path} cannot be read "
                f"({(exc.strerror or str(exc)).lower()})."
            ) from exc
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise SecretStoreError(
                f"The plain-text secrets file {self._plaintext_path} is damaged; "
                f"saving a secret moves it aside and starts a new one."
            )
        return data

    def _write_plaintext(self, change: Callable[[dict[str, str]], object]) -> None:
        assert self._plaintext_path is not None
        try:
            content = self._read_plaintext()
        except SecretStoreError:
            if not self._plaintext_path.is_file():
                raise
            aside = self._plaintext_path.with_name(
                f"{self._plaintext_path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
            )
            os.replace(self._plaintext_path, aside)
            log.warning("Moved the damaged plain-text secrets file aside to %s.", aside)
            content = {}
        change(content)
        try:
            self._plaintext_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write_text(self._plaintext_path, json.dumps(content, indent=2) + "\n")
        except OSError as exc:
            raise SecretStoreError(
                f"The plain-text secrets file {self._plaintext_path} cannot be written "
                f"({(exc.strerror or str(exc)).lower()})."
            ) from exc

    # -- operations --

    @staticmethod
    def _check_key(key: str) -> None:
        if not isinstance(key, str) or not key.strip():
            raise InvalidInput("A secret needs a name, e.g. oauth:<provider>:<account>.")

    def _check_value(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise InvalidInput(f"The secret for {key} must be text.")
        units = len(value.encode("utf-16-le")) // 2
        if units > MAX_SECRET_CHARS:
            raise SecretStoreError(
                f"The secret for {key} is too long for the OS keyring ({units:,} characters; "
                f"at most {MAX_SECRET_CHARS:,} fit in every platform's keyring); it was not "
                f"saved."
            )

    async def _keyring_get(self, key: str) -> str | None:
        backend = self._backend
        assert backend is not None
        try:
            return await self._run(lambda: backend.get_password(SERVICE_NAME, key))
        except _kr_errors().NoKeyringError:
            self._backend = None
            self._fall_back("the keyring went away", at_probe=False)
            return None
        except _kr_errors().KeyringError as exc:
            raise SecretStoreError(
                f"The OS keyring could not read {key} ({type(exc).__name__})."
            ) from exc

    async def get(self, key: str) -> str | None:
        """The secret stored under ``key``, or ``None``."""
        self._check_key(key)
        mode = await self.probe()
        value = self._session.get(key)
        if value is None:
            if mode == PLAINTEXT:
                value = await self._run(lambda: self._read_plaintext().get(key))
            elif self._backend is not None:
                # Keyring mode, or session-only after a refused write (reads may still work).
                value = await self._keyring_get(key)
        if value is not None:
            register_secret(value)
        return value

    async def set(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (replacing any previous value).

        Raises :class:`SecretStoreError` if the value is too long, :class:`KeyringLocked` if the
        keyring does not answer in time. If the keyring refuses the write, the value is kept for
        this session only (the mode becomes ``"session-only"`` and :attr:`warning` says so).
        """
        self._check_key(key)
        self._check_value(key, value)
        register_secret(value)
        mode = await self.probe()
        if mode == KEYRING:
            backend = self._backend
            assert backend is not None
            try:
                await self._run(lambda: backend.set_password(SERVICE_NAME, key, value))
                self._session.pop(key, None)
                return
            except _kr_errors().KeyringError as exc:
                # Fail closed: keep it for this session, never write it anywhere else.
                if isinstance(exc, _kr_errors().NoKeyringError):
                    self._backend = None
                self._set_mode(
                    SESSION_ONLY,
                    f"The OS keyring refused to store a secret ({type(exc).__name__}): "
                    f"secrets are kept for this session only.",
                )
        elif mode == PLAINTEXT:
            await self._run(lambda: self._write_plaintext(lambda c: c.__setitem__(key, value)))
            return
        self._session[key] = value

    async def delete(self, key: str) -> None:
        """Remove the secret under ``key`` wherever it is kept; nothing happens if there is none."""
        self._check_key(key)
        mode = await self.probe()
        self._session.pop(key, None)
        if mode == PLAINTEXT:
            path = self._plaintext_path
            assert path is not None

            def _delete_from_file() -> None:
                if path.exists():
                    self._write_plaintext(lambda c: c.pop(key, None))

            await self._run(_delete_from_file)
        elif self._backend is not None:
            backend = self._backend

            def _delete() -> None:
                with contextlib.suppress(_kr_errors().PasswordDeleteError):
                    backend.delete_password(SERVICE_NAME, key)

            try:
                await self._run(_delete)
            except _kr_errors().NoKeyringError:
                self._backend = None
            except _kr_errors().KeyringError as exc:
                raise SecretStoreError(
                    f"The OS keyring could not delete {key} ({type(exc).__name__})."
                ) from exc
