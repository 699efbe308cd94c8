"""What went wrong with one attempt, and what the caller is told about it.

A :class:`Failure` describes one failed attempt in provider-neutral terms: the HTTP status when the
provider answered, or for a transport failure whether the request may have been sent and whether
trying again can help. Classifiers turn an httpx response, an httpx exception or an SDK exception
into a ``Failure``; :func:`to_error` turns the last one into a project error
(:class:`~mbv_desktop.core.errors.AuthExpired`, ``RateLimited``, ``ProviderUnavailable``,
``Rejected``) whose message is a plain sentence naming the provider.

Error bodies are read for a short reason in the shapes providers use: OpenAI/Stripe/Instagram/
TikTok ``{"error": {"message"}}``, OAuth ``{"error", "error_description"}``, Cloudflare and X
``{"errors": [{"message"}]}``, RFC 7807 ``{"title", "detail"}``, Resend/Twilio ``{"message"}``.
Reasons are redacted (:func:`mbv_desktop.core.redaction.redact`) and shortened; request headers,
tokens and URLs never appear in a message.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mbv_desktop.core.errors import (
    AuthExpired,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    Rejected,
)
from mbv_desktop.core.redaction import redact

__all__ = [
    "Classifier",
    "Failure",
    "classify_exception",
    "extract_error_details",
    "failure_from_response",
    "failure_from_transport",
    "parse_retry_after",
    "to_error",
]

#: Transport failures that happen before any byte of the request left this computer.
NOT_SENT_RETRYABLE: tuple[type[Exception], ...] = (
    httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout,
)
#: Transport failures after (part of) the request was sent: the provider may have acted on it.
MAYBE_SENT: tuple[type[Exception], ...] = (
    httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
    httpx.RemoteProtocolError, httpx.CloseError,
)

_MAX_REASON = 200
_MAX_BODY_PARSE = 64 * 1024
_MAX_RETRY_AFTER = 7 * 24 * 3600.0  # a hint longer than a week is nonsense; ignore it


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt.

    ``status`` is the HTTP status when the provider answered, else ``None`` (transport failure).
    For transport failures ``sent`` says whether the request may have reached the provider and
    ``transient`` whether trying again can help (connection refused: yes; bad URL scheme: no).
    ``retry_after`` is the provider's hint in seconds; ``reason``/``code`` come from the body.
    """

    status: int | None = None
    sent: bool = False
    transient: bool = True
    retry_after: float | None = None
    reason: str | None = None
    code: str | None = None
    kind: str = ""  # short technical label for logs: "HTTP 503", "ReadTimeout"

    @property
    def counts_against_provider(self) -> bool:
        """Whether this failure says the provider is unwell (breaker, budget, availability)."""
        if self.status is None:
            return self.transient
        return self.status >= 500 or self.status in (408, 429)


#: Turns an exception raised by an SDK call (or httpx) into a :class:`Failure`; ``None`` means
#: "not a provider failure": the exception propagates unchanged and is not retried.
Classifier = Callable[[BaseException], "Failure | None"]


# --- Retry-After ---------------------------------------------------------------------------------

def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    if isinstance(headers, httpx.Headers):
        return headers.get(name)
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if isinstance(key, str) and key.lower() == lowered:
            return val
    return None


def _finite_delay(value: float) -> float | None:
    if not math.isfinite(value) or value < 0 or value > _MAX_RETRY_AFTER:
        return None
    return value


def parse_retry_after(headers: Mapping[str, str] | None, *,
                      now: float | None = None) -> float | None:
    """Seconds to wait according to the response headers, or ``None`` (absent or malformed).

    Reads ``retry-after-ms`` (OpenAI), then ``Retry-After`` as delay-seconds or HTTP-date
    (RFC 9110 §10.2.3); a date is taken relative to the response's ``Date`` header when present
    (immune to this computer's clock skew), else to ``now`` (default: :func:`time.time`). Falls
    back to ``x-rate-limit-reset`` (X: epoch seconds).
    """
    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms is not None:
        try:
            delay = _finite_delay(float(raw_ms.strip()) / 1000.0)
        except ValueError:
            delay = None
        if delay is not None:
            return delay
    raw = _header(headers, "retry-after")
    if raw is not None:
        raw = raw.strip()
        if raw.isdigit() or (raw.replace(".", "", 1).isdigit() and raw.count(".") == 1):
            return _finite_delay(float(raw))
        when = _parse_http_date(raw)
        if when is not None:
            reference = _parse_http_date(_header(headers, "date") or "")
            if reference is None:
                reference = time.time() if now is None else now
            return _finite_delay(max(0.0, when - reference))
        return None
    reset = _header(headers, "x-rate-limit-reset")
    if reset is not None and reset.strip().isdigit():
        epoch = float(reset.strip())
        if epoch > 1e9:  # an epoch timestamp, not a duration
            reference = time.time() if now is None else now
            return _finite_delay(max(0.0, epoch - reference))
    return None


def _parse_http_date(value: str) -> float | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.timestamp()


# --- error bodies --------------------------------------------------------------------------------

def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    return None


def _code(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        text = str(value).strip()
        return text[:64] or None
    return None


def extract_error_details(body: object) -> tuple[str | None, str | None]:
    """``(reason, code)`` from a decoded JSON error body, or ``(None, None)``."""
    if not isinstance(body, dict):
        return None, None
    reason: str | None = None
    code: str | None = None
    error = body.get("error")
    if isinstance(error, dict):  # OpenAI, Stripe, Instagram Graph, TikTok
        reason = _text(error.get("message")) or _text(error.get("error_user_msg"))
        code = _code(error.get("code")) or _code(error.get("type"))
    elif isinstance(error, str):  # OAuth: {"error": "invalid_grant", "error_description": ...}
        reason = _text(body.get("error_description")) or _text(body.get("message"))
        code = _code(error)
    errors = body.get("errors")
    if reason is None and isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]  # Cloudflare, X v2 (partial errors)
        reason = _text(first.get("message")) or _text(first.get("detail"))
        code = code or _code(first.get("code"))
    if reason is None:  # RFC 7807 problem details, Resend, Twilio
        reason = (_text(body.get("detail")) or _text(body.get("message"))
                  or _text(body.get("title")) or _text(error))
    if code is None:
        code = _code(body.get("code")) or _code(body.get("type")) or _code(body.get("name"))
    return (_tidy(reason) if reason else None), code


def _tidy(reason: str) -> str:
    text = redact(" ".join(reason.split()))
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 1].rstrip() + "…"
    return text


def _body_details(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return None, None
    if not content or len(content) > _MAX_BODY_PARSE:
        return None, None
    stripped = content.lstrip()
    if not stripped.startswith((b"{", b"[")):
        return None, None
    try:
        return extract_error_details(json.loads(content))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, None


# --- classifiers ---------------------------------------------------------------------------------

def failure_from_response(response: httpx.Response) -> Failure:
    """A :class:`Failure` for an error response whose body (if any) has been read."""
    status = response.status_code
    reason: str | None = None
    code: str | None = None
    if 400 <= status < 500:
        reason, code = _body_details(response)
    retry_after = parse_retry_after(response.headers) if status in (408, 429) or status >= 500 \
        else None
    return Failure(status=status, sent=True, transient=True, retry_after=retry_after,
                   reason=reason, code=code, kind=f"HTTP {status}")


def failure_from_transport(exc: BaseException) -> Failure:
    """A :class:`Failure` for an httpx transport exception (or an OS-level connection error)."""
    kind = type(exc).__name__
    if isinstance(exc, (*NOT_SENT_RETRYABLE, ConnectionRefusedError)):
        return Failure(sent=False, transient=True, kind=kind)
    if isinstance(exc, MAYBE_SENT):
        return Failure(sent=True, transient=True, kind=kind)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return Failure(sent=False, transient=False, kind=kind)
    return Failure(sent=True, transient=True, kind=kind)  # unknown: assume it may have been sent


def _sdk_status(exc: BaseException) -> int | None:
    for attr in ("status_code", "http_status", "status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
    return None


_NOT_SENT_NAMES = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})


def classify_exception(exc: BaseException) -> Failure | None:
    """The default classifier for :meth:`ProviderClient.run`: httpx errors, and SDK errors by
    shape (no SDK is imported).

    * project :class:`ProviderError` → ``None`` (already mapped; propagates, never retried again)
    * ``httpx.HTTPStatusError`` and SDK errors with ``status_code``/``http_status`` (openai
      ``APIStatusError``, stripe ``StripeError``) → the status, Retry-After and body reason
    * botocore ``ClientError`` (``response["ResponseMetadata"]["HTTPStatusCode"]``) → the same
    * httpx transport errors, also as ``__cause__`` of an SDK error (openai
      ``APIConnectionError``/``APITimeoutError`` wrap them) → sent / not sent; botocore
      ``EndpointConnectionError``/``ConnectTimeoutError`` → not sent, ``ReadTimeoutError`` → sent
    * ``ConnectionRefusedError`` → not sent; other ``ConnectionError``/``TimeoutError`` → maybe sent
    * anything else → ``None``
    """
    if isinstance(exc, ProviderError):
        return None
    if isinstance(exc, httpx.HTTPStatusError):
        return failure_from_response(exc.response)
    if isinstance(exc, httpx.TransportError):
        return failure_from_transport(exc)
    status = _sdk_status(exc)
    if status is not None:
        return _sdk_status_failure(exc, status)
    boto = _botocore_failure(exc)
    if boto is not None:
        return boto
    seen = 0
    cause: BaseException | None = exc
    while cause is not None and seen < 5:
        if isinstance(cause, httpx.TransportError):
            return failure_from_transport(cause)
        # The openai SDK bundles its own httpx fork ("httpx2"): same names, other classes.
        if type(cause).__name__ in _NOT_SENT_NAMES or isinstance(cause, ConnectionRefusedError):
            return Failure(sent=False, transient=True, kind=type(cause).__name__)
        cause = cause.__cause__ or cause.__context__
        seen += 1
    name = type(exc).__name__
    if name in _NAMED_NOT_SENT:
        return Failure(sent=False, transient=True, kind=name)
    if name in _NAMED_MAYBE_SENT:
        return Failure(sent=True, transient=True, kind=name)
    if isinstance(exc, ConnectionRefusedError):
        return Failure(sent=False, transient=True, kind=name)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return Failure(sent=True, transient=True, kind=name)
    return None


#: SDK transport errors recognised by class name (the SDKs are not imported here).
_NAMED_NOT_SENT = frozenset({"EndpointConnectionError", "ConnectTimeoutError"})  # botocore
_NAMED_MAYBE_SENT = frozenset({
    "APITimeoutError", "APIConnectionError",  # openai (no httpx cause kept)
    "ReadTimeoutError", "ConnectionClosedError",  # botocore
})


def _sdk_status_failure(exc: BaseException, status: int) -> Failure:
    """openai ``APIStatusError`` (status_code, response, body = the decoded ``error`` object),
    stripe ``StripeError`` (http_status, headers, json_body, user_message), and the like."""
    response = getattr(exc, "response", None)
    if isinstance(response, httpx.Response) and response.status_code == status:
        failure = failure_from_response(response)
        if failure.reason is not None or not 400 <= status < 500:
            return failure
    headers = getattr(exc, "headers", None)
    if not isinstance(headers, Mapping) and isinstance(response, httpx.Response):
        headers = response.headers
    body: Any = getattr(exc, "body", None)
    if not isinstance(body, dict):
        body = getattr(exc, "json_body", None)
    reason, code = extract_error_details(body)
    if reason is None:
        message = getattr(exc, "user_message", None)
        reason = _tidy(message) if isinstance(message, str) and message.strip() else None
    retry_after = parse_retry_after(headers if isinstance(headers, Mapping) else None)
    return Failure(status=status, sent=True, transient=True, retry_after=retry_after,
                   reason=reason if 400 <= status < 500 else None,
                   code=code or _code(getattr(exc, "code", None)), kind=f"HTTP {status}")


def _botocore_failure(exc: BaseException) -> Failure | None:
    """botocore ``ClientError``: ``response = {"Error": {...}, "ResponseMetadata": {...}}``."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    meta = response.get("ResponseMetadata")
    status = meta.get("HTTPStatusCode") if isinstance(meta, dict) else None
    if not isinstance(status, int) or not 100 <= status <= 599:
        return None
    raw_error = response.get("Error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    headers = meta.get("HTTPHeaders") if isinstance(meta, dict) else None
    message = _text(error.get("Message"))
    return Failure(status=status, sent=True, transient=True,
                   retry_after=parse_retry_after(headers if isinstance(headers, Mapping)
                                                 else None),
                   reason=_tidy(message) if message and 400 <= status < 500 else None,
                   code=_code(error.get("Code")), kind=f"HTTP {status}")


# --- mapping to project errors -------------------------------------------------------------------

def to_error(failure: Failure, *, provider: str, maybe_sent: bool | None = None,
             retry_after: float | None = None) -> ProviderError:
    """The project error for a final failure.

    401 → AuthExpired; 429 → RateLimited; 408, 5xx and transport failures → ProviderUnavailable
    (``maybe_sent`` true when the provider may have acted on the request); other 4xx → Rejected.
    ``retry_after`` overrides the failure's own hint (e.g. a longer breaker cooldown).
    """
    wait = retry_after if retry_after is not None else failure.retry_after
    status = failure.status
    if status is None:
        sent = failure.sent if maybe_sent is None else maybe_sent
        return ProviderUnavailable(provider=provider, maybe_sent=sent, retry_after=wait)
    if status == 401:
        return AuthExpired(provider=provider, status=status)
    if status == 429:
        return RateLimited(wait, provider=provider, status=status)
    if status == 408 or status >= 500:
        sent = (status >= 500) if maybe_sent is None else maybe_sent
        return ProviderUnavailable(provider=provider, status=status, maybe_sent=sent,
                                   retry_after=wait)
    return Rejected(failure.reason or f"HTTP {status}", provider=provider, status=status,
                    code=failure.code)
