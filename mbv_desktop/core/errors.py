"""The project's error types.

Every layer raises these instead of library exceptions, so the UI and the command line can turn
any failure into one clear sentence (``str(error)``) without knowing where it came from.
"""

from __future__ import annotations


class MbvError(Exception):
    """Base of every error the app reports to a person. ``str()`` is a full, plain sentence."""


class InvalidInput(MbvError):
    """Something the user typed or supplied is not acceptable; nothing was changed."""


class NotFound(MbvError):
    """The thing asked for does not exist (any more)."""


class StoreError(MbvError):
    """The local database cannot be used as it is."""


class NotADatabase(StoreError):
    """The database file exists but is not an SQLite database."""


class SchemaTooNew(StoreError):
    """The database was written by a newer version of the app."""


class DataDirError(MbvError):
    """The data directory cannot be created, read or written (read-only, full disk, ...)."""


class InstanceLocked(MbvError):
    """Another window of the app already uses this data directory."""


class SecretStoreError(MbvError):
    """The OS keyring could not be used."""


class KeyringUnavailable(SecretStoreError):
    """There is no OS keyring on this machine; secrets are kept for this session only."""


class KeyringLocked(SecretStoreError):
    """The OS keyring did not answer in time (often: it is locked and waiting for a password)."""
