"""Logging for the app: one rotating file per profile, with secrets removed from every record.

Everything the app logs goes through the ``mbv_desktop`` logger (modules use
``logging.getLogger(__name__)``). :func:`configure_logging` gives it a
:class:`~logging.handlers.RotatingFileHandler` on ``<data_dir>/logs/mbv-desktop.log``
(1 MB × 5 files, mode 0600) and, on request, a console handler. A :class:`RedactingFilter` sits on
each handler, so every record is redacted after its arguments are merged in, including exception
tracebacks and stack traces, whichever module logged it.

If the log folder cannot be written (read-only data folder, full disk), the app keeps running
without a log file rather than failing to start.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from pathlib import Path
from typing import cast

from mbv_desktop.config.paths import logs_dir
from mbv_desktop.core.redaction import redact

__all__ = [
    "LOGGER_NAME",
    "LOG_FILE_NAME",
    "RedactingFilter",
    "configure_logging",
    "log_file_path",
]

LOGGER_NAME = "mbv_desktop"
LOG_FILE_NAME = "mbv-desktop.log"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 5

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(threadName)s] %(message)s"
_CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"

# Marks the handlers configure_logging installed, so a second call replaces them.
_OURS = "_mbv_desktop_handler"


class RedactingFilter(logging.Filter):
    """Removes secrets from a record before a handler writes it (see ``core.redaction``).

    The message is formatted with its arguments first and the result redacted, so a secret
    passed as an argument (``log.info("got %s", token)``) is caught; ``args`` is then cleared.
    Exception and stack text are formatted and redacted too. The record is changed in place,
    which also protects handlers that see it later. Always returns ``True``.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad format arguments: keep what we can, redacted
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler whose files are created readable by the user only (0600)."""

    def _open(self) -> io.TextIOWrapper:
        def opener(path: str, flags: int) -> int:
            return os.open(path, flags, 0o600)

        stream = open(  # noqa: SIM115 - the handler owns and closes the stream
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors, opener=opener
        )
        return cast(io.TextIOWrapper, stream)


def log_file_path(data_dir: Path) -> Path:
    """Where :func:`configure_logging` writes the log of ``data_dir``."""
    return logs_dir(data_dir) / LOG_FILE_NAME


def _remove_ours(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        if getattr(handler, _OURS, False):
            logger.removeHandler(handler)
            handler.close()


def configure_logging(
    data_dir: Path | None, level: str = "INFO", *, console: bool = False
) -> Path | None:
    """Set up the ``mbv_desktop`` logger; return the log file's path, or ``None`` if there is none.

    Args:
        data_dir: the profile's folder; logs go to ``<data_dir>/logs/mbv-desktop.log``.
            ``None`` means no log file (e.g. ``--version``).
        level: ``DEBUG``, ``INFO``, ``WARNING`` or ``ERROR`` (case-insensitive; anything else
            is taken as ``INFO``).
        console: also write to standard error (for the command line and ``--debug`` runs).

    Calling it again replaces the handlers it installed before (no duplicates). Records still
    propagate to the root logger, so test tools that capture logs keep working.
    """
    logger = logging.getLogger(LOGGER_NAME)
    numeric = logging.getLevelName(level.strip().upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logger.setLevel(numeric)
    _remove_ours(logger)

    path: Path | None = None
    problem: str | None = None
    if data_dir is not None:
        candidate = log_file_path(Path(data_dir))
        try:
            candidate.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            file_handler = _PrivateRotatingFileHandler(
                candidate, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
            )
        except OSError as exc:
            problem = (
                f"The log file {candidate} cannot be written "
                f"({(exc.strerror or str(exc)).lower()}); the app runs without a log file."
            )
        else:
            file_handler.setFormatter(logging.Formatter(_FORMAT))
            file_handler.addFilter(RedactingFilter())
            setattr(file_handler, _OURS, True)
            logger.addHandler(file_handler)
            path = candidate

    if console:
        stream_handler = logging.StreamHandler(sys.stderr)
        stream_handler.setFormatter(logging.Formatter(_CONSOLE_FORMAT))
        stream_handler.addFilter(RedactingFilter())
        setattr(stream_handler, _OURS, True)
        logger.addHandler(stream_handler)

    if problem is not None:
        logger.warning("%s", problem)
    return path
