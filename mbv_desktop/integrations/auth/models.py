"""The values sign-in produces: :class:`TokenSet`, :class:`Identity` and :class:`Authorization`.

Plain frozen dataclasses. Tokens are never shown: ``repr()`` masks every token, and each token is
registered with :func:`mbv_desktop.core.redaction.register_secret` when a ``TokenSet`` is made, so
the log filter removes it from any line it might still reach.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mbv_desktop.core.redaction import register_secret

__all__ = ["Authorization", "Identity", "TokenSet"]


def _mask(value: str | None) -> str:
    return "None" if value is None else "'***'"


@dataclass(frozen=True, repr=False)
class TokenSet:
    """What a token endpoint answered.

    ``expires_at`` and ``refresh_expires_at`` are Unix times (``time.time()``), ``None`` when the
    provider gave no lifetime. ``long_lived`` marks a Facebook long-lived user token: it has no
    refresh token and is itself what the app keeps in the keyring.
    """

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    scope: str = ""
    id_token: str | None = None
    token_type: str = "Bearer"
    refresh_expires_at: float | None = None
    long_lived: bool = False

    def __post_init__(self) -> None:
        for value in (self.access_token, self.refresh_token, self.id_token):
            if value:
                register_secret(value)

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """Whether the access token is expired or expires in the next ``seconds``."""
        if self.expires_at is None:
            return False
        current = time.time() if now is None else now
        return self.expires_at - seconds <= current

    def __repr__(self) -> str:
        return (f"TokenSet(access_token={_mask(self.access_token)}, "
                f"refresh_token={_mask(self.refresh_token)}, expires_at={self.expires_at!r}, "
                f"scope={self.scope!r}, id_token={_mask(self.id_token)}, "
                f"token_type={self.token_type!r}, long_lived={self.long_lived!r})")


@dataclass(frozen=True)
class Identity:
    """Who signed in, in the provider's own terms.

    ``account_id`` is the provider's stable id (Google ``sub``, GitHub numeric id, X user id,
    Instagram professional account id, TikTok ``open_id``); ``handle`` the name people see
    (``@name``, an email for Google); ``display_name`` the profile name.
    """

    provider: str
    account_id: str
    handle: str
    display_name: str
    avatar_url: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Authorization:
    """The result of a completed sign-in: the tokens and the account they belong to."""

    tokens: TokenSet
    identity: Identity

    @property
    def provider(self) -> str:
        return self.identity.provider
