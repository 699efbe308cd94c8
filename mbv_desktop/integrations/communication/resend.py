"""Resend (transactional e-mail): ``POST /emails`` with an ``Idempotency-Key``.

Wire format (``reference/providers.md`` §7, ``specs/resend/resend.yaml``)::

    POST {api_base}/emails
    Authorization: Bearer re_…
    Idempotency-Key: <1–256 characters, kept by Resend for 24 h>
    {"from": "Name <a@b.c>", "to": ["x@y.z"], "subject": "…", "text": "…", "html": "…"}
    → 200 {"id": "<uuid>"}

Errors come as ``{"statusCode", "name", "message"}`` and become project errors:

* 401 (``missing_api_key``, ``restricted_api_key``) and 403 ``invalid_api_key`` →
  :class:`AuthExpired` naming the ``resend.api_key`` setting (never the key itself);
* 422 (``validation_error``, ``missing_required_field``, ``invalid_from_address``, …) and other
  4xx → :class:`Rejected` carrying Resend's message and ``name`` as ``code``;
* 409 ``invalid_idempotent_request`` (the key was used for another e-mail) → :class:`Rejected`;
  409 ``concurrent_idempotent_requests`` (the first attempt is still in flight) →
  :class:`ProviderUnavailable` ``(maybe_sent=True)``: try again later with the same key;
* 429 → :class:`RateLimited` with ``Retry-After``; 5xx and transport failures →
  :class:`ProviderUnavailable`.

Every send carries the caller's idempotency key, so the shared policy (``integrations/http.py``)
may retry it after a 5xx or a broken connection: Resend answers a repeat of the same key and body
with the first answer and sends nothing twice. The caller (the notifications outbox) makes the key
once per notification and stores it, so a retry after a restart is just as safe within 24 h.
The client keeps to Resend's default limit of 2 requests per second on its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from mbv_desktop import __version__
from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    NotConfigured,
    ProviderError,
    ProviderUnavailable,
    Rejected,
)
from mbv_desktop.core.redaction import register_secret
from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy

__all__ = [
    "MAX_IDEMPOTENCY_KEY",
    "MAX_RECIPIENTS",
    "PROVIDER",
    "RESEND_POLICY",
    "ResendClient",
    "SentEmail",
]

PROVIDER = "resend"
#: Resend keeps idempotency keys of 1–256 characters for 24 hours.
MAX_IDEMPOTENCY_KEY = 256
#: Recipients per e-mail (``to``), Resend's limit.
MAX_RECIPIENTS = 50

#: The policy a client gets unless it is handed a :class:`ProviderClient`: Resend's documented
#: default limit of 2 requests per second per team, and a short deadline (notifications wait).
RESEND_POLICY = ProviderPolicy(PROVIDER, timeout=20.0, deadline=45.0, rate_limit=(2, 1.0))

_AUTH_NAMES = frozenset({"missing_api_key", "restricted_api_key", "invalid_api_key"})
_USER_AGENT = f"mbv-desktop/{__version__}"


@dataclass(frozen=True)
class SentEmail:
    """An e-mail as Resend reports it (``GET /emails/{id}``)."""

    id: str
    to: tuple[str, ...]
    from_: str
    subject: str
    created_at: str = ""
    #: Resend's latest delivery event: ``queued``, ``sent``, ``delivered``, ``bounced``, …
    last_event: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _check_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidInput(f"An e-mail idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} "
                           "characters long.")
    if not key.isascii() or not key.isprintable():
        raise InvalidInput("An e-mail idempotency key may only use printable ASCII characters.")
    return key


def _recipients(to: str | Sequence[str]) -> list[str]:
    items = [to] if isinstance(to, str) else list(to)
    cleaned = [item.strip() for item in items if isinstance(item, str) and item.strip()]
    if len(cleaned) != len(items) or not cleaned:
        raise InvalidInput("An e-mail needs at least one recipient address, and no empty ones.")
    if len(cleaned) > MAX_RECIPIENTS:
        raise InvalidInput(f"An e-mail can go to at most {MAX_RECIPIENTS} recipients at once; "
                           f"this one has {len(cleaned)}.")
    return cleaned


class ResendClient:
    """Sends e-mail through Resend (or the sandbox's Resend emulator) under the shared policy.

    ``api_base`` is the ``resend.api_base`` setting (``https://api.resend.com``); ``api_key``
    the ``resend.api_key`` secret. ``client`` lets the caller supply the policy client (shared
    metrics registry, a test transport); it must not carry a ``base_url``: this client sends
    absolute URLs and its own ``Authorization`` header on every request.
    """

    def __init__(self, api_base: str, api_key: str, *,
                 client: ProviderClient | None = None) -> None:
        if not api_key or not api_key.strip():
            raise NotConfigured("Resend is not set up yet: set resend.api_key to a Resend API "
                                "key (it starts with re_).", provider=PROVIDER)
        if not api_base or not api_base.strip():
            raise NotConfigured("Resend is not set up yet: resend.api_base is empty.",
                                provider=PROVIDER)
        register_secret(api_key.strip())
        self._base = api_base.strip().rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key.strip()}",
                         "User-Agent": _USER_AGENT, "Accept": "application/json"}
        self._client = client if client is not None else ProviderClient(RESEND_POLICY)

    @property
    def policy_client(self) -> ProviderClient:
        """The shared-policy client (its metrics, breaker and retry budget)."""
        return self._client

    async def send_email(self, *, from_: str, to: str | Sequence[str], subject: str, text: str,
                         html: str | None = None, idempotency_key: str) -> str:
        """Sends one e-mail and returns Resend's id for it.

        ``from_`` is ``"addr@domain"`` or ``"Name <addr@domain>"`` (normally the
        ``resend.from_email`` setting); ``to`` one address or up to 50. ``idempotency_key``
        (1–256 printable ASCII characters) must be the same on every attempt at this e-mail and
        different for every other e-mail: a repeat within 24 h returns the first id and sends
        nothing.

        Raises :class:`InvalidInput` (nothing sent) for an empty sender, subject, body or
        recipient list, more than 50 recipients or a bad key; otherwise the project errors listed
        in the module docstring.
        """
        key = _check_idempotency_key(idempotency_key)
        if not isinstance(from_, str) or not from_.strip():
            raise InvalidInput("Notification e-mails need a sender address: set "
                               "resend.from_email (for example 'Studio <studio@example.com>').")
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidInput("An e-mail needs a subject.")
        if not (isinstance(text, str) and text.strip()) and not (html and html.strip()):
            raise InvalidInput("An e-mail needs a text (or HTML) body.")
        body: dict[str, Any] = {"from": from_.strip(), "to": _recipients(to),
                                "subject": subject}
        if isinstance(text, str) and text.strip():
            body["text"] = text
        if html is not None and html.strip():
            body["html"] = html  # without "text", Resend makes the plain part from the HTML
        response = await self._request("POST", "/emails", json=body, idempotency_key=key)
        message_id = _read_id(response)
        if message_id is None:
            raise ProviderUnavailable(
                "Resend accepted the e-mail but its answer could not be read; sending it again "
                "with the same idempotency key is safe.", provider=PROVIDER, maybe_sent=True)
        return message_id

    async def get_email(self, email_id: str) -> SentEmail:
        """Resend's record of one sent e-mail (needs a full-access key).

        Raises :class:`InvalidInput` for an empty id, :class:`Rejected` (status 404) when Resend
        does not know it, and the errors of :meth:`send_email` otherwise.
        """
        if not isinstance(email_id, str) or not email_id.strip():
            raise InvalidInput("That is not a Resend e-mail id.")
        response = await self._request("GET", f"/emails/{quote(email_id.strip(), safe='')}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise ProviderUnavailable("Resend's answer about the e-mail could not be read.",
                                      provider=PROVIDER)
        to = data.get("to")
        recipients = tuple(str(t) for t in to) if isinstance(to, list) else \
            ((str(to),) if isinstance(to, str) else ())
        known = {"id", "to", "from", "subject", "created_at", "last_event"}
        return SentEmail(id=data["id"], to=recipients, from_=str(data.get("from") or ""),
                         subject=str(data.get("subject") or ""),
                         created_at=str(data.get("created_at") or ""),
                         last_event=str(data.get("last_event") or ""),
                         extra={k: v for k, v in data.items() if k not in known})

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(method, self._base + path, headers=self._headers,
                                              **kwargs)
        except (AuthExpired, Rejected, ProviderUnavailable) as error:
            mapped = _mapped(error)
            if mapped is error:
                raise
            raise mapped from error

    async def aclose(self) -> None:
        """Closes the connection pool (when this client created it)."""
        await self._client.aclose()

    async def __aenter__(self) -> ResendClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _read_id(response: httpx.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def _mapped(error: AuthExpired | Rejected | ProviderUnavailable) -> ProviderError:
    """Resend's error names turned into the project error a person can act on."""
    if isinstance(error, AuthExpired) or (
            isinstance(error, Rejected) and error.status == 403 and error.code in _AUTH_NAMES):
        return AuthExpired("Resend did not accept the API key; check resend.api_key in the "
                           "settings (a Resend key starts with re_ and needs sending access).",
                           provider=PROVIDER, status=error.status)
    if isinstance(error, Rejected) and error.status == 409:
        if error.code == "concurrent_idempotent_requests":
            return ProviderUnavailable(
                "Resend is still handling an earlier attempt at this e-mail; try again in a "
                "moment (the same idempotency key keeps it from being sent twice).",
                provider=PROVIDER, status=409, maybe_sent=True, retry_after=1.0)
        if error.code == "invalid_idempotent_request":
            return Rejected(error.reason, provider=PROVIDER, status=409, code=error.code,
                            message="Resend refused the e-mail: its idempotency key was already "
                                    "used for a different e-mail.")
    return error
