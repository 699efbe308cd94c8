"""The project's error types.

Every layer raises these instead of library exceptions, so the UI and the command line can turn
any failure into one clear sentence (``str(error)``) without knowing where it came from.
"""

from __future__ import annotations


class MbvError(Exception):
    """Base of every error the app reports to a person. ``str()`` is a full, plain sentence."""


class InvalidInput(MbvError):
    """Something the user typed or supplied is not acceptable; nothing was changed."""


class NotFound(MbvError):
    """The thing asked for does not exist (any more)."""


class StoreError(MbvError):
    """The local database cannot be used as it is."""


class NotADatabase(StoreError):
    """The database file exists but is not an SQLite database."""


class SchemaTooNew(StoreError):
    """The database was written by a newer version of the app."""


class DataDirError(MbvError):
    """The data directory cannot be created, read or written (read-only, full disk, ...)."""


class InstanceLocked(MbvError):
    """Another window of the app already uses this data directory."""


class SecretStoreError(MbvError):
    """The OS keyring could not be used."""


class KeyringUnavailable(SecretStoreError):
    """There is no OS keyring on this machine; secrets are kept for this session only."""


class KeyringLocked(SecretStoreError):
    """The OS keyring did not answer in time (often: it is locked and waiting for a password)."""


# --- provider errors -----------------------------------------------------------------------------
# Raised by ``mbv_desktop.integrations`` (the shared HTTP policy and every provider client) instead
# of SDK or httpx exceptions. Each carries the provider's machine name (``"openai"``, ``"x"``) and
# builds its own plain-English sentence naming the provider when no message is given. No message
# ever contains request headers, tokens or URLs.

_PROVIDER_NAMES = {
    "openai": "OpenAI",
    "workers_ai": "Cloudflare Workers AI",
    "local_ai": "the local AI server",
    "local": "the local AI server",
    "ollama": "Ollama",
    "r2": "Cloudflare R2",
    "stripe": "Stripe",
    "x": "X",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "resend": "Resend",
    "twilio": "Twilio",
    "ga4": "Google Analytics",
    "sentry": "Sentry",
    "google": "Google",
    "github": "GitHub",
}


def provider_display_name(provider: str) -> str:
    """The name a person knows a provider by: ``"openai"`` → ``"OpenAI"``, ``"x"`` → ``"X"``."""
    if not provider:
        return "The provider"
    known = _PROVIDER_NAMES.get(provider.lower())
    if known is not None:
        return known
    return provider.replace("_", " ").strip().title() or "The provider"


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


def describe_wait(seconds: float | None) -> str:
    """``"in about 7 seconds"``, ``"in about 3 minutes"``; ``"later"`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:  # None, NaN or negative
        return "later"
    if seconds < 1.5:
        return "in a moment"
    if seconds < 90:
        return f"in about {round(seconds)} seconds"
    if seconds < 90 * 60:
        return f"in about {round(seconds / 60)} minutes"
    hours = round(seconds / 3600)
    return f"in about {hours} hour{'s' if hours != 1 else ''}"


def _restore_provider_error(cls: type[ProviderError], message: str,
                            state: dict[str, object]) -> ProviderError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ProviderError(MbvError):
    """A call to an outside service (a provider) failed.

    ``provider`` is the machine name (``"openai"``, ``"x"``); ``status`` the HTTP status when the
    provider answered. ``str()`` is a full sentence naming the provider.
    """

    def __init__(self, message: str = "", *, provider: str = "", status: int | None = None) -> None:
        self.provider = provider
        self.status = status
        super().__init__(message or self._default_message())

    @property
    def display_name(self) -> str:
        """The provider's name as a person knows it."""
        return provider_display_name(self.provider)

    def _default_message(self) -> str:
        return f"{_capitalised(self.display_name)} could not complete the request."

    def __reduce__(self) -> tuple[object, ...]:  # keep keyword-only attributes through copy/pickle
        return (_restore_provider_error, (type(self), str(self), dict(self.__dict__)))


class AuthExpired(ProviderError):
    """The provider no longer accepts the saved sign-in (HTTP 401).

    The caller refreshes the token once (single-flight) and repeats the call, or asks the person
    to sign in again.
    """

    def _default_message(self) -> str:
        name = self.display_name
        return f"{_capitalised(name)} no longer accepts the saved sign-in; sign in to {name} again."


class RateLimited(ProviderError):
    """The provider (or this computer's own limit for it) asks us to slow down.

    ``retry_after`` is the number of seconds to wait, when known; an outbox reschedules by it.
    """

    def __init__(self, retry_after: float | None = None, *, provider: str = "", message: str = "",
                 status: int | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, provider=provider, status=status)

    def _default_message(self) -> str:
        return (f"{_capitalised(self.display_name)} is limiting requests; "
                f"try again {describe_wait(self.retry_after)}.")


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or failed on its side (5xx, connection, timeout).

    ``maybe_sent`` is true when the request may have reached the provider and been acted on (for
    example the connection broke after a POST was sent): reconcile before sending it again.
    ``retry_after`` is the provider's own hint, in seconds, when it gave one.
    """

    def __init__(self, message: str = "", *, provider: str = "", status: int | None = None,
                 maybe_sent: bool = False, retry_after: float | None = None) -> None:
        self.maybe_sent = maybe_sent
        self.retry_after = retry_after
        super().__init__(message, provider=provider, status=status)

    def _default_message(self) -> str:
        name = self.display_name
        if self.maybe_sent and self.status is None:
            return (f"The connection to {name} broke after the request was sent, so it may or may "
                    "not have gone through.")
        if self.status is not None:
            return (f"{_capitalised(name)} is not available right now (HTTP {self.status}); "
                    f"try again {describe_wait(self.retry_after)}.")
        return f"Could not reach {name}; check the internet connection and try again."


class CircuitOpen(ProviderUnavailable):
    """Calls to the provider are paused after repeated failures; nothing was sent."""

    def __init__(self, retry_after: float | None = None, *, provider: str = "",
                 message: str = "") -> None:
        super().__init__(message, provider=provider, retry_after=retry_after)

    def _default_message(self) -> str:
        return (f"{_capitalised(self.display_name)} failed several times in a row, so the app is "
                f"pausing calls to it; it will try again {describe_wait(self.retry_after)}.")


class Rejected(ProviderError):
    """The provider refused the request as it is (a 4xx other than 401/408/429).

    ``reason`` is a short sentence from the provider's error body (or ``"HTTP <code>"``); ``code``
    the provider's own error code when it sent one (``190``, ``"rate_limit_exceeded"``).
    """

    def __init__(self, reason: str = "", *, provider: str = "", status: int | None = None,
                 code: str | None = None, message: str = "") -> None:
        self.reason = reason or (f"HTTP {status}" if status is not None else "no reason given")
        self.code = code
        super().__init__(message, provider=provider, status=status)

    def _default_message(self) -> str:
        reason = self.reason.rstrip()
        if reason and reason[-1] not in ".!?":
            reason += "."
        return f"{_capitalised(self.display_name)} rejected the request: {reason}"


class NotConfigured(ProviderError):
    """The provider has no credentials or address set up yet; nothing was sent."""

    def _default_message(self) -> str:
        return (f"{_capitalised(self.display_name)} is not set up yet; add its settings or sign "
                "in first.")


class MediaRejected(InvalidInput):
    """A media file cannot be used as it is (empty, too big, not an image or video, damaged, a
    possible decompression bomb, ...). ``str()`` names the file and says why; nothing was kept."""


class PlanLimitReached(InvalidInput):
    """The creator's plan does not allow more of something (AI generations this period,
    connected accounts, storage). ``str()`` says how much the plan allows and which plan allows
    more; ``upgrade_to`` names that plan (None on the biggest plan). Nothing was started."""

    def __init__(self, message: str, *, limit: str, upgrade_to: str | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.upgrade_to = upgrade_to
