"""The Resend emulator: sending e-mail with idempotency keys, in Resend's wire format.

Mounted by the host at ``/resend``; the app's ``resend.api_base`` is
``http://127.0.0.1:PORT/resend`` (like ``https://api.resend.com``)::

    POST /emails          send one e-mail                           Bearer re_…  → 200 {"id"}
    GET  /emails/{id}     the e-mail as Resend reports it           Bearer re_…  → 200 Email
    GET  /_sent           sandbox only, no auth: what was "delivered", oldest first

Authentication: ``Authorization: Bearer re_…``. No header → 401 ``missing_api_key``; a key not
starting with ``re_``, the key ``re_invalid`` or a key revoked through the control API → 403
``invalid_api_key``. Keys are recorded in the sandbox state as digests only.

Errors are Resend's ``{"statusCode", "name", "message"}``:

* 400 ``invalid_idempotency_key`` — ``Idempotency-Key`` empty or longer than 256 characters;
* 400 ``validation_error`` — the body is not a JSON object;
* 422 ``missing_required_field`` — no ``from``, ``to`` or ``subject``;
* 422 ``invalid_from_address`` — ``from`` is not ``a@b.c`` or ``Name <a@b.c>``;
* 422 ``validation_error`` — a bad or empty ``to``/``cc``/``bcc``/``reply_to`` address, more than
  50 recipients, a non-string ``subject``/``html``/``text``, or neither ``html`` nor ``text``;
* 409 ``invalid_idempotent_request`` — the key was used (within 24 h) with another body;
* 404 ``not_found`` — unknown e-mail id or path; 405 ``method_not_allowed``;
* 429 ``rate_limit_exceeded`` with ``retry-after`` — more than :data:`REQUESTS_PER_SECOND`
  requests in one second for one key. Every authenticated answer carries ``ratelimit-limit``,
  ``ratelimit-remaining`` and ``ratelimit-reset``. (Resend's documented default is 2 per second;
  the sandbox allows more so scripted demos and tests are not slowed, and the app keeps to 2 on
  its own.)

Idempotency (Resend's rules; keys kept 24 h): the same ``Idempotency-Key`` with the same body
returns the first answer (the same id) and sends nothing; with a different body → 409. Every
sandbox API key belongs to one team, so a key is remembered across API keys (Resend does not
document the scope; per team is the cautious reading).
Nothing awaits between checking a key and recording its answer, so Resend's 409
``concurrent_idempotent_requests`` cannot happen here.

``GET /_sent`` answers ``{"data": [{"id", "from", "to": [...], "cc": [...], "bcc": [...],
"reply_to": [...], "subject", "text", "html", "created_at", "idempotency_key", "last_event"}],
"count": n}`` (``text``/``html``/``idempotency_key`` null when absent). Sent e-mails and keys live
in memory: a host restart forgets them.

``GET /emails/{id}`` follows ``components.schemas.Email`` of Resend's OpenAPI spec: lists for the
address fields (empty when not given; the live API may send null), ``html``/``text`` only when the
e-mail had them, and ``last_event`` ``delivered`` (the sandbox delivers at once).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mbv_desktop.sandbox.common import (
    EmulatorContext,
    EmulatorSpec,
    FaultReply,
    bearer_token,
    dump_json,
    retry_after_seconds,
)
from mbv_desktop.sandbox.faults import Fault

#: Requests per second per key the sandbox allows (Resend's own default is 2).
REQUESTS_PER_SECOND = 10
MAX_RECIPIENTS = 50
MAX_IDEMPOTENCY_KEY = 256
IDEMPOTENCY_TTL = 24 * 3600.0
INVALID_KEY = "re_invalid"

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = rf"[^\s@<>\"(),;:]+@{_LABEL}(?:\.{_LABEL})+"
_PLAIN = re.compile(rf"^{_ADDRESS}$")
_NAMED = re.compile(rf"^[^<>]*<{_ADDRESS}>$")
_FORMAT_HINT = ("The email address needs to follow the `email@example.com` or "
                "`Name <email@example.com>` format.")


class ResendError(Exception):
    """An error answer in Resend's shape."""

    def __init__(self, status: int, name: str, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"statusCode": self.status, "name": self.name, "message": self.message}

    def response(self, extra_headers: Mapping[str, str] | None = None) -> JSONResponse:
        return JSONResponse(self.body(), self.status, {**(extra_headers or {}), **self.headers})


@dataclass
class _Email:
    id: str
    payload: dict[str, Any]
    idempotency_key: str | None
    created_at: str

    def addresses(self, name: str) -> list[str]:
        value = self.payload.get(name)
        if value is None:
            return []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def resource(self) -> dict[str, Any]:
        """``components.schemas.Email``."""
        out: dict[str, Any] = {
            "object": "email", "id": self.id, "to": self.addresses("to"),
            "from": self.payload["from"], "created_at": self.created_at,
            "subject": self.payload["subject"], "bcc": self.addresses("bcc"),
            "cc": self.addresses("cc"), "reply_to": self.addresses("reply_to"),
            "last_event": "delivered",
        }
        for name in ("html", "text"):
            if isinstance(self.payload.get(name), str):
                out[name] = self.payload[name]
        return out

    def sent_entry(self) -> dict[str, Any]:
        """One line of ``GET /_sent``."""
        return {"id": self.id, "from": self.payload["from"], "to": self.addresses("to"),
                "cc": self.addresses("cc"), "bcc": self.addresses("bcc"),
                "reply_to": self.addresses("reply_to"), "subject": self.payload["subject"],
                "text": self.payload.get("text"), "html": self.payload.get("html"),
                "created_at": self.created_at, "idempotency_key": self.idempotency_key,
                "last_event": "delivered"}


@dataclass
class _Remembered:
    fingerprint: str
    email_id: str
    at: float


@dataclass
class _State:
    sent: list[_Email] = field(default_factory=list)
    by_id: dict[str, _Email] = field(default_factory=dict)
    idempotency: dict[str, _Remembered] = field(default_factory=dict)
    windows: dict[str, deque[float]] = field(default_factory=dict)

    def forget_expired(self, now: float) -> None:
        stale = [k for k, v in self.idempotency.items() if now - v.at > IDEMPOTENCY_TTL]
        for key in stale:
            del self.idempotency[key]


def _created_at() -> str:
    """Resend's timestamp style: ``2023-04-03 22:13:42.674981+00``."""
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + "+00"


def _valid_address(value: object, *, allow_name: bool) -> bool:
    if not isinstance(value, str) or not value.strip():
        return False
    text = value.strip()
    return bool(_PLAIN.match(text) or (allow_name and _NAMED.match(text)))


def _check_addresses(payload: Mapping[str, Any], name: str, *, required: bool) -> None:
    value = payload.get(name)
    if value is None:
        if required:
            raise ResendError(422, "missing_required_field", f"Missing `{name}` field.")
        return
    items = [value] if isinstance(value, str) else value
    invalid = ResendError(422, "validation_error", f"Invalid `{name}` field. {_FORMAT_HINT}")
    if not isinstance(items, list) or not items:
        raise invalid
    if len(items) > MAX_RECIPIENTS:
        raise ResendError(422, "validation_error",
                          f"Too many recipients in `{name}` field. The maximum is "
                          f"{MAX_RECIPIENTS}.")
    if not all(_valid_address(item, allow_name=True) for item in items):
        raise invalid


def validate_email(payload: Any) -> None:
    """Raises the :class:`ResendError` Resend would answer for this ``POST /emails`` body."""
    if not isinstance(payload, dict):
        raise ResendError(400, "validation_error", "The body must be a JSON object.")
    for name in ("from", "to", "subject"):
        if payload.get(name) is None:
            raise ResendError(422, "missing_required_field", f"Missing `{name}` field.")
    if not _valid_address(payload["from"], allow_name=True):
        raise ResendError(422, "invalid_from_address", f"Invalid `from` field. {_FORMAT_HINT}")
    _check_addresses(payload, "to", required=True)
    for name in ("cc", "bcc", "reply_to"):
        _check_addresses(payload, name, required=False)
    for name in ("subject", "html", "text"):
        if name in payload and payload[name] is not None and not isinstance(payload[name], str):
            raise ResendError(422, "validation_error", f"Invalid `{name}` field. It must be a "
                              "string.")
    if payload.get("html") is None and payload.get("text") is None \
            and payload.get("template") is None:
        raise ResendError(422, "validation_error", "Missing `html` or `text` field.")


def _fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def create_app(ctx: EmulatorContext) -> ASGIApp:
    """The Resend emulator (see the module docstring)."""
    state = _State()

    def authenticate(request: Request) -> str:
        key = bearer_token(request.headers.get("authorization"))
        if key is None:
            raise ResendError(401, "missing_api_key",
                              "Missing API key in the authorization header. Include the "
                              "following header `Authorization: Bearer YOUR_API_KEY` in the "
                              "request.")
        accepted = key.startswith("re_") and key != INVALID_KEY
        if not ctx.state.authenticate(ctx.provider, key, accepted):
            raise ResendError(403, "invalid_api_key", "API key is invalid")
        return hashlib.sha256(key.encode("utf-8")).hexdigest()  # the rate window's name

    def rate_headers(key_digest: str) -> dict[str, str]:
        now = time.monotonic()
        window = state.windows.setdefault(key_digest, deque())
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= REQUESTS_PER_SECOND:
            wait = max(1, int(1.0 - (now - window[0]) + 0.999))
            raise ResendError(429, "rate_limit_exceeded",
                              f"Too many requests. You can only make {REQUESTS_PER_SECOND} "
                              "requests per second. See rate limit response headers for more "
                              "information.",
                              {"retry-after": str(wait), "ratelimit-limit":
                               str(REQUESTS_PER_SECOND), "ratelimit-remaining": "0",
                               "ratelimit-reset": str(wait)})
        window.append(now)
        return {"ratelimit-limit": str(REQUESTS_PER_SECOND),
                "ratelimit-remaining": str(REQUESTS_PER_SECOND - len(window)),
                "ratelimit-reset": "1"}

    async def send(request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            digest = authenticate(request)
            headers = rate_headers(digest)
            key = request.headers.get("idempotency-key")
            if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
                raise ResendError(400, "invalid_idempotency_key",
                                  f"The key must be between 1-{MAX_IDEMPOTENCY_KEY} chars.")
            try:
                payload = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError):
                raise ResendError(400, "validation_error",
                                  "The body must be valid JSON.") from None
            validate_email(payload)
            now = time.time()
            fingerprint = _fingerprint(payload)
            if key is not None:
                state.forget_expired(now)
                seen = state.idempotency.get(key)
                if seen is not None:
                    if seen.fingerprint != fingerprint:
                        raise ResendError(409, "invalid_idempotent_request",
                                          "Same idempotency key used with a different request "
                                          "payload. Change your idempotency key or payload.")
                    return JSONResponse({"id": seen.email_id}, 200, headers)
            email = _Email(str(uuid.uuid4()), payload, key, _created_at())
            state.sent.append(email)
            state.by_id[email.id] = email
            if key is not None:
                state.idempotency[key] = _Remembered(fingerprint, email.id, now)
            return JSONResponse({"id": email.id}, 200, headers)
        except ResendError as error:
            return error.response(headers)

    async def get_email(request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            digest = authenticate(request)
            headers = rate_headers(digest)
            email = state.by_id.get(request.path_params["email_id"])
            if email is None:
                raise ResendError(404, "not_found", "Email not found")
            return JSONResponse(email.resource(), 200, headers)
        except ResendError as error:
            return error.response(headers)

    async def sent(request: Request) -> Response:
        data = [email.sent_entry() for email in state.sent]
        return JSONResponse({"data": data, "count": len(data)})

    async def not_found(request: Request, exc: Exception) -> Response:
        return ResendError(404, "not_found", "The requested endpoint does not exist.").response()

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return ResendError(405, "method_not_allowed",
                           "Method is not allowed for the requested path.").response()

    return Starlette(routes=[
        Route("/emails", send, methods=["POST"]),
        Route("/emails/{email_id}", get_email, methods=["GET"]),
        Route("/_sent", sent, methods=["GET"]),
    ], exception_handlers={404: not_found, 405: not_allowed})


def fault_reply(fault: Fault) -> FaultReply:
    """Resend's answer for an injected 429, 500 or 503."""
    status = int(fault.kind)
    headers: dict[str, str] = {}
    if status == 429:
        wait = retry_after_seconds(fault)
        headers.update({"retry-after": str(wait), "ratelimit-limit": str(REQUESTS_PER_SECOND),
                        "ratelimit-remaining": "0", "ratelimit-reset": str(wait)})
        error = ResendError(429, "rate_limit_exceeded",
                            f"Too many requests. You can only make {REQUESTS_PER_SECOND} "
                            "requests per second. See rate limit response headers for more "
                            "information.")
    elif status == 500:
        error = ResendError(500, "application_error",
                            "An unexpected error occurred. Please try again later.")
    else:
        if fault.retry_after is not None:
            headers["retry-after"] = str(retry_after_seconds(fault))
        error = ResendError(503, "internal_server_error",
                            "The service is temporarily unavailable. Please try again later.")
    return FaultReply(status, dump_json(error.body()), headers)


SPEC = EmulatorSpec("resend", "/resend", create_app, "", fault_reply, key_prefix="re_")
"""The host's registry entry: mounted at ``/resend``, base URL ``http://127.0.0.1:PORT/resend``
(the Resend API host; paths below it as on the real API)."""
