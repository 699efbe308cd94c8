"""Sign-in (OAuth 2.0 / OpenID Connect) for Google, GitHub, X, Instagram (Facebook Login) and
TikTok: the browser flow over a loopback redirect with PKCE, GitHub's device flow, id_token
verification, and a token manager that refreshes once per account and stores rotated refresh
tokens before using them.

What a service calls::

    specs = specs_from_settings(values)              # values: {"google.client_id": ..., ...}
    result = await authorize(specs["x"], open_url=open_in_browser, timeout=300)
    result = await device_authorize(specs["github"], show_code=show)   # GitHub, no secret
    tokens = TokenManager(secret_store, ProviderRefresher(specs))
    await tokens.save(result.provider, result.identity.account_id, result.tokens)
    token = await tokens.access_token("x", account_id)     # valid; refreshed if needed
    tokens.invalidate("x", account_id, token)              # after a 401, then ask once more
    await tokens.revoke("x", account_id)                   # sign out

Modules: :mod:`.loopback` (the redirect listener), :mod:`.pkce` (one-time values),
:mod:`.providers` (specs and profile parsing), :mod:`.flow` (the browser flow), :mod:`.device`
(RFC 8628), :mod:`.oidc` (discovery, keys, id_token checks), :mod:`.client` (token endpoint,
refresh, revoke, profile), :mod:`.tokens` (TokenManager), :mod:`.errors`. No Qt here; nothing
blocks the event loop; authlib is not imported at all and joserfc only when an id_token is
checked.
"""

from __future__ import annotations

from .client import OAuthClient, ProviderRefresher
from .device import DeviceCode, device_authorize
from .errors import (
    AuthDenied,
    AuthError,
    AuthTimeout,
    DeviceCodeExpired,
    InvalidIdToken,
    LoopbackUnavailable,
    NeedsReconnect,
)
from .flow import authorization_url, authorize
from .loopback import LoopbackListener
from .models import Authorization, Identity, TokenSet
from .oidc import OidcCache
from .pkce import Attempt
from .providers import (
    PROVIDERS,
    SETTING_KEYS,
    ProviderSpec,
    spec_from_settings,
    specs_from_settings,
)
from .tokens import MemoryTokenStore, Refresher, StoredGrant, TokenManager, TokenStore, token_key

__all__ = [
    "PROVIDERS",
    "SETTING_KEYS",
    "Attempt",
    "AuthDenied",
    "AuthError",
    "AuthTimeout",
    "Authorization",
    "DeviceCode",
    "DeviceCodeExpired",
    "Identity",
    "InvalidIdToken",
    "LoopbackListener",
    "LoopbackUnavailable",
    "MemoryTokenStore",
    "NeedsReconnect",
    "OAuthClient",
    "OidcCache",
    "ProviderRefresher",
    "ProviderSpec",
    "Refresher",
    "StoredGrant",
    "TokenManager",
    "TokenSet",
    "TokenStore",
    "authorization_url",
    "authorize",
    "device_authorize",
    "spec_from_settings",
    "specs_from_settings",
    "token_key",
]
