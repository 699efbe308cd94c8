"""Sign-in errors: what can go wrong while connecting an account or keeping it connected.

Every class extends one of :mod:`mbv_desktop.core.errors`, so code that already handles
``ProviderError``/``AuthExpired`` handles these too. Each builds a sentence a creator can act on
and names the provider; none ever carries a token, a code, a ``state`` value or a URL with
parameters (the callback's query string never reaches an exception message).

=====================  ==============================  =============================================
class                  base                            raised when
=====================  ==============================  =============================================
``AuthError``          ``ProviderError``               a sign-in attempt failed (generic)
``AuthDenied``         ``AuthError``                   the person declined on the provider's page
                                                       (``error=access_denied``)
``AuthTimeout``        ``AuthError``                   no answer from the browser in time
``LoopbackUnavailable`` ``AuthError``                  the local callback port could not be opened
``InvalidIdToken``     ``AuthError``                   an OpenID Connect id_token failed a check
``DeviceCodeExpired``  ``AuthError``                   the device-flow code ran out before approval
``NeedsReconnect``     ``AuthExpired``                 the saved sign-in is gone for good
                                                       (``invalid_grant``, no refresh token, expired
                                                       long-lived token): the person must connect
                                                       the account again; nothing retries
=====================  ==============================  =============================================
"""

from __future__ import annotations

from mbv_desktop.core.errors import AuthExpired, ProviderError

__all__ = [
    "AuthDenied",
    "AuthError",
    "AuthTimeout",
    "DeviceCodeExpired",
    "InvalidIdToken",
    "LoopbackUnavailable",
    "NeedsReconnect",
]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class AuthError(ProviderError):
    """Signing in to a provider did not complete. ``str()`` says what to do next."""

    def _default_message(self) -> str:
        return f"Signing in to {self.display_name} did not complete; try again."


class AuthDenied(AuthError):
    """The person declined (or the provider refused) the request on the provider's own page.

    ``error`` is the OAuth error code the provider sent (``"access_denied"`` usually).
    """

    def __init__(self, message: str = "", *, provider: str = "",
                 error: str = "access_denied") -> None:
        self.error = error
        super().__init__(message, provider=provider)

    def _default_message(self) -> str:
        return (f"Access was not granted on {self.display_name}'s page, so nothing was "
                f"connected; start the sign-in again and choose Allow to connect.")


class AuthTimeout(AuthError):
    """The browser did not come back with an answer in time; the local port is closed."""

    def __init__(self, message: str = "", *, provider: str = "",
                 timeout: float | None = None) -> None:
        self.timeout = timeout
        super().__init__(message, provider=provider)

    def _default_message(self) -> str:
        waited = ""
        if self.timeout is not None:
            minutes = self.timeout / 60
            waited = (f" within {round(minutes)} minute{'s' if round(minutes) != 1 else ''}"
                      if minutes >= 1.5 else f" within {round(self.timeout)} seconds")
        return (f"The sign-in to {self.display_name} was not finished in the browser{waited}; "
                f"start it again when you are ready.")


class LoopbackUnavailable(AuthError):
    """The app could not open a port on 127.0.0.1 to receive the browser's answer."""

    def __init__(self, message: str = "", *, provider: str = "", reason: str = "") -> None:
        self.reason = reason
        super().__init__(message, provider=provider)

    def _default_message(self) -> str:
        why = f" ({self.reason})" if self.reason else ""
        return (f"The app could not open a local port on 127.0.0.1 to finish signing in to "
                f"{self.display_name}{why}; check that no firewall or security tool blocks "
                f"local connections, then try again.")


class InvalidIdToken(AuthError):
    """An OpenID Connect id_token failed verification; nothing was saved.

    ``reason`` is a short phrase (``"its signature does not match"``), never the token.
    """

    def __init__(self, reason: str = "", *, provider: str = "", message: str = "") -> None:
        self.reason = reason or "it did not pass the checks"
        super().__init__(message, provider=provider)

    def _default_message(self) -> str:
        return (f"{_cap(self.display_name)} sent a sign-in answer that failed a security check "
                f"({self.reason}), so nothing was saved; sign in again, and if it keeps happening "
                f"check that this computer's clock is right.")


class DeviceCodeExpired(AuthError):
    """The one-time code shown for device sign-in expired before it was approved."""

    def _default_message(self) -> str:
        return (f"The code for signing in to {self.display_name} expired before it was entered; "
                f"start the sign-in again to get a new code.")


class NeedsReconnect(AuthExpired):
    """The saved sign-in can no longer be used and cannot be renewed: connect the account again.

    Raised for ``invalid_grant`` on refresh (revoked, expired, or a rotated refresh token that
    was reused), for an account with no saved sign-in, and for an expired long-lived token.
    Nothing retries after this; the caller marks the account as needing reconnection.
    """

    def __init__(self, message: str = "", *, provider: str = "", account_id: str = "",
                 status: int | None = None) -> None:
        self.account_id = account_id
        super().__init__(message, provider=provider, status=status)

    def _default_message(self) -> str:
        name = self.display_name
        return (f"{_cap(name)} no longer accepts the saved sign-in for this account; "
                f"connect the account to {name} again.")
