"""Crash reports to Sentry: off unless a DSN is set, and scrubbed before anything leaves.

Sentry's own scrubber matches exact key names and does not look inside values, so tokens in an
exception message, a URL or a nested dict would get through (reliability.md 23). Every event and
breadcrumb therefore passes through the same redaction as the logs, by value and by key, and
local variables and personal data are never collected.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

from mbv_desktop.core.redaction import redact, redact_mapping

log = logging.getLogger(__name__)


def scrub_event(event: dict[str, Any], _hint: object = None) -> dict[str, Any]:
    """``before_send``: every string redacted, sensitive keys blanked, locals dropped."""
    for exc in (event.get("exception") or {}).get("values", []) or []:
        for frame in (exc.get("stacktrace") or {}).get("frames", []) or []:
            frame.pop("vars", None)
    cleaned = redact_mapping(event)
    assert isinstance(cleaned, dict)
    return cleaned


def scrub_breadcrumb(crumb: dict[str, Any], _hint: object = None) -> dict[str, Any]:
    cleaned = redact_mapping(crumb)
    assert isinstance(cleaned, dict)
    if isinstance(cleaned.get("message"), str):
        cleaned["message"] = redact(cleaned["message"])
    return cleaned


def init_sentry(dsn: str, *, release: str, environment: str = "production",
                transport: Callable[..., Any] | type | None = None) -> bool:
    """Starts crash reporting when ``dsn`` is set; returns whether it is on."""
    if not dsn:
        return False
    import sentry_sdk

    options: dict[str, Any] = {
        "dsn": dsn,
        "release": release,
        "environment": environment,
        "send_default_pii": False,
        "include_local_variables": False,
        "before_send": scrub_event,
        "before_breadcrumb": scrub_breadcrumb,
        "max_breadcrumbs": 50,
        "traces_sample_rate": 0.0,
    }
    if transport is not None:
        options["transport"] = transport
    with warnings.catch_warnings():
        # 2.x deprecates send_default_pii in favour of data_collection; both mean "no PII" here.
        warnings.simplefilter("ignore", DeprecationWarning)
        sentry_sdk.init(**options)
    log.info("crash reporting is on")
    return True
