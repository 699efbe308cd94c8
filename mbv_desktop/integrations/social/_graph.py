"""What the Instagram publisher and the Instagram insights reader share about Meta's Graph API:
the version pinned, how a base URL gets it, the error codes that mean "signed out" and "slow
down", and reading an error answer (``{"error": {"message", "code", "error_subcode",
"is_transient", "error_user_msg"}}`` plus the ``X-Business-Use-Case-Usage`` header).

Private to :mod:`mbv_desktop.integrations.social`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx

from ._common import json_object, text_of

GRAPH_VERSION = "v21.0"
#: Graph throttling: app (4), user (17), BUC (32, 80001, 80002) and call-type (613) limits.
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80001, 80002})
#: The token is no good: invalid or expired (190), or the session is gone (102).
AUTH_CODES = frozenset({190, 102})
_VERSIONED = re.compile(r"/v\d+(\.\d+)?$")


def graph_api(base: str, version: str = GRAPH_VERSION) -> str:
    """``base`` with the Graph version at its end (kept when ``base`` already names one)."""
    base = base.rstrip("/")
    return base if _VERSIONED.search(base) else f"{base}/{version}"


@dataclass(frozen=True)
class GraphFailure:
    """A Graph error answer, read."""

    status: int
    code: int | None
    subcode: int | None
    message: str  # the user-facing message when Graph gives one, else the developer's
    transient: bool
    retry_after: float | None  # from the usage header, when it says


def graph_failure(response: httpx.Response) -> GraphFailure:
    body = json_object(response) or {}
    error = body.get("error")
    error = error if isinstance(error, dict) else {}
    message = text_of(error.get("error_user_msg")) or text_of(error.get("message")) \
        or f"HTTP {response.status_code}"
    return GraphFailure(status=response.status_code, code=_integer(error.get("code")),
                        subcode=_integer(error.get("error_subcode")), message=message,
                        transient=error.get("is_transient") is True,
                        retry_after=usage_wait(response))


def usage_wait(response: httpx.Response) -> float | None:
    """Seconds until access is back, from ``X-Business-Use-Case-Usage``'s
    ``estimated_time_to_regain_access`` (minutes), when it says."""
    raw = response.headers.get("x-business-use-case-usage")
    try:
        usage = json.loads(raw) if raw else None
    except ValueError:
        return None
    waits: list[float] = []
    for entries in usage.values() if isinstance(usage, dict) else ():
        for entry in entries if isinstance(entries, list) else ():
            minutes = entry.get("estimated_time_to_regain_access") \
                if isinstance(entry, dict) else None
            if isinstance(minutes, int | float) and not isinstance(minutes, bool) \
                    and minutes > 0:
                waits.append(float(minutes) * 60.0)
    return max(waits) if waits else None


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
