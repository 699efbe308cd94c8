"""One-time values for one sign-in attempt: PKCE (RFC 7636, S256 only), ``state`` and ``nonce``.

Every attempt gets fresh values from :mod:`secrets`; nothing is reused between attempts, and
``plain`` PKCE is never offered (RFC 9700 §2.1.1: no downgrade). A verifier is
``secrets.token_urlsafe(32)``: 43 characters of ``[A-Za-z0-9_-]``, which matches RFC 7636's
``^[A-Za-z0-9._~-]{43,128}$``. The challenge is ``BASE64URL(SHA256(ASCII(verifier)))`` without
padding.

None of these values is ever logged; the ``repr`` of :class:`Attempt` hides them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass

__all__ = [
    "CHALLENGE_METHOD",
    "VERIFIER_PATTERN",
    "Attempt",
    "new_nonce",
    "new_state",
    "new_verifier",
    "s256_challenge",
]

#: The only PKCE method this app sends.
CHALLENGE_METHOD = "S256"

#: RFC 7636 §4.1: the verifier's alphabet and length.
VERIFIER_PATTERN = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def new_verifier() -> str:
    """A fresh PKCE code verifier (43 URL-safe characters, 256 bits of randomness)."""
    verifier = secrets.token_urlsafe(32)
    if not VERIFIER_PATTERN.fullmatch(verifier):  # cannot happen; token_urlsafe is URL-safe
        raise AssertionError("secrets.token_urlsafe produced an invalid PKCE verifier")
    return verifier


def s256_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` with the ``=`` padding removed (RFC 7636 §4.2)."""
    if not VERIFIER_PATTERN.fullmatch(verifier):
        raise ValueError("a PKCE verifier must be 43-128 characters of [A-Za-z0-9._~-]")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_state() -> str:
    """A fresh, unguessable ``state`` value (CSRF and mix-up protection, RFC 9700 §2.1)."""
    return secrets.token_urlsafe(32)


def new_nonce() -> str:
    """A fresh OpenID Connect ``nonce`` (binds the id_token to this attempt)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, repr=False)
class Attempt:
    """The secrets of one authorization attempt. Make a new one for every attempt."""

    state: str
    verifier: str
    nonce: str | None = None

    @classmethod
    def new(cls, *, oidc: bool = False) -> Attempt:
        """Fresh ``state`` and PKCE verifier, and a ``nonce`` when ``oidc`` is true."""
        return cls(state=new_state(), verifier=new_verifier(),
                   nonce=new_nonce() if oidc else None)

    @property
    def challenge(self) -> str:
        """The S256 code challenge sent on the authorization URL."""
        return s256_challenge(self.verifier)

    def __repr__(self) -> str:
        return f"Attempt(state=***, verifier=***, nonce={'***' if self.nonce else None})"
