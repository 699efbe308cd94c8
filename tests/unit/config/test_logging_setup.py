"""The log file: rotating, private, never holding a secret, optional when it cannot be written."""

from __future__ import annotations

import logging
import logging.handlers
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mbv_desktop.config.logging_setup import RedactingFilter, configure_logging
from mbv_desktop.core.redaction import register_secret

log = logging.getLogger("mbv_desktop.tests.logging")


@pytest.fixture(autouse=True)
def _restore_app_logger() -> Iterator[None]:
    logger = logging.getLogger("mbv_desktop")
    level = logger.level
    yield
    configure_logging(None)  # removes (and closes) the handlers configure_logging added
    logger.setLevel(level)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "profile"
    path.mkdir()
    return path


def our_handlers() -> list[logging.Handler]:
    return [
        h for h in logging.getLogger("mbv_desktop").handlers if hasattr(h, "_mbv_desktop_handler")
    ]


def flush() -> None:
    for handler in our_handlers():
        handler.flush()


def test_log_file_location_and_rotation_policy(data_dir: Path) -> None:
    path = configure_logging(data_dir)
    assert path == data_dir / "logs" / "mbv-desktop.log"
    (handler,) = our_handlers()
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    assert handler.maxBytes == 1_000_000
    assert handler.backupCount == 5
    log.info("hello from the test")
    flush()
    assert "hello from the test" in path.read_text(encoding="utf-8")


def test_calling_twice_does_not_duplicate_lines(data_dir: Path) -> None:
    configure_logging(data_dir)
    path = configure_logging(data_dir, "DEBUG")
    assert path is not None
    assert len(our_handlers()) == 1
    log.debug("only once please")
    flush()
    assert path.read_text(encoding="utf-8").count("only once please") == 1


@pytest.mark.allow_warnings
def test_level_is_respected(data_dir: Path) -> None:
    path = configure_logging(data_dir, "warning")
    assert path is not None
    log.info("too chatty")
    log.error("worth keeping")
    flush()
    text = path.read_text(encoding="utf-8")
    assert "worth keeping" in text and "too chatty" not in text


@pytest.mark.allow_warnings
def test_canary_secrets_never_reach_the_log_file(data_dir: Path) -> None:
    path = configure_logging(data_dir, "DEBUG")
    assert path is not None
    registered = "runtime-loaded-canary-4711"
    register_secret(registered)
    bearer = "ya29.canaryAccessToken_0123456789"
    code = "CANARYAUTHCODE9876"
    stripe = "sk_live_canary51HxYzAbCdEf"

    log.debug("calling with headers %s", {"Authorization": f"Bearer {bearer}"})
    log.info("callback http://127.0.0.1:5000/cb?code=%s&state=st4te", code)
    log.info("token response %s", f'{{"access_token": "{bearer}", "expires_in": 3600}}')
    log.warning("the key %s was refused", stripe)
    log.info("loaded %s from the keyring", registered)
    try:
        raise RuntimeError(f"provider said: invalid api_key={stripe} for {registered}")
    except RuntimeError:
        log.exception("request failed")
    log.info("stack here", stack_info=True, extra={"detail": "x"})
    flush()
    text = path.read_text(encoding="utf-8")
    for canary in (registered, bearer, code, stripe, "st4te"):
        assert canary not in text, canary
    assert "[REDACTED]" in text
    assert "request failed" in text and "RuntimeError" in text  # still useful
    assert "callback http://127.0.0.1:5000/cb?code=[REDACTED]" in text


def test_records_other_handlers_see_are_redacted_too(data_dir: Path, caplog: Any) -> None:
    configure_logging(data_dir)
    with caplog.at_level(logging.INFO, logger="mbv_desktop"):
        log.info("secret %s", "sk-proj-canary0123456789abcdefgh")
    assert "sk-proj-canary" not in caplog.text


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_log_files_are_private(data_dir: Path) -> None:
    path = configure_logging(data_dir)
    assert path is not None
    log.info("x")
    flush()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


@pytest.mark.allow_warnings
def test_an_unwritable_log_folder_means_no_file_not_a_crash(data_dir: Path, caplog: Any) -> None:
    (data_dir / "logs").write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="mbv_desktop"):
        assert configure_logging(data_dir) is None
    assert our_handlers() == []
    assert "runs without a log file" in caplog.text
    log.info("still fine")


def test_no_data_dir_means_no_file(data_dir: Path) -> None:
    assert configure_logging(None) is None
    assert our_handlers() == []


def test_console_output_is_redacted(data_dir: Path, capsys: Any) -> None:
    configure_logging(None, "INFO", console=True)
    log.info("password=%s", "hunter2-canary")
    err = capsys.readouterr().err
    assert "password=[REDACTED]" in err
    assert "hunter2-canary" not in err


def test_the_filter_works_on_any_handler() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "got %s and %d", ("Bearer abc.def.ghi", 3), None
    )
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "got Bearer [REDACTED] and 3"
    broken = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", ("only one",), None)
    assert RedactingFilter().filter(broken) is True  # bad arguments do not raise
