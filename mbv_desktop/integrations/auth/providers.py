"""How each provider does OAuth: endpoints, scopes, client authentication, revocation, profile.

A :class:`ProviderSpec` is plain data built from a flat ``Mapping[str, str]`` of setting values
(:func:`spec_from_settings`), so this package never reads settings or the keyring itself: the
accounts service reads them and passes them in. Every endpoint is derived from a base-URL
setting, so the sandbox's emulators (which serve the real paths under a loopback base URL) and
the live providers are used the same way.

================  ====================================================================
provider          endpoints (``{setting}`` = the setting's value, trailing ``/`` removed)
================  ====================================================================
``google``        OpenID Connect: everything from ``{google.issuer}/.well-known/openid-
                  configuration``; scopes ``openid profile email``; ``access_type=offline``
                  and ``prompt=consent`` (Google returns a refresh token only on a consent);
                  client_id:client_secret as HTTP Basic at the token endpoint (client_id alone
                  in the form when no secret is set)
``github``        authorize ``{github.base_url}/login/oauth/authorize``; token
                  ``{github.base_url}/login/oauth/access_token`` (``Accept: application/json``,
                  client_secret in the form); device code ``{github.base_url}/login/device/code``;
                  user ``{github.api_base}/user``; revoke ``DELETE
                  {github.api_base}/applications/{client_id}/grant`` (Basic client_id:secret)
``x``             authorize ``{x.auth_base}/i/oauth2/authorize``; token
                  ``{x.api_base}/2/oauth2/token``; revoke ``{x.api_base}/2/oauth2/revoke``;
                  me ``{x.api_base}/2/users/me?user.fields=profile_image_url``; public client
``instagram``     Facebook Login: dialog ``{facebook.auth_base}/v21.0/dialog/oauth``; token
                  ``{facebook.graph_base}/v21.0/oauth/access_token`` (code, then
                  ``grant_type=fb_exchange_token`` for a long-lived token); profile via
                  ``/v21.0/me/accounts?fields=instagram_business_account`` and
                  ``/v21.0/{ig_id}?fields=username,profile_picture_url``; no PKCE; revoke
                  ``DELETE {facebook.graph_base}/v21.0/me/permissions``
``tiktok``        authorize ``{tiktok.auth_base}/v2/auth/authorize/`` (``client_key``,
                  comma-separated scopes); token ``{tiktok.api_base}/v2/oauth/token/``; revoke
                  ``{tiktok.api_base}/v2/oauth/revoke/``; scopes also ``user.info.profile``
                  (``username`` needs it); user
                  ``{tiktok.api_base}/v2/user/info/?fields=open_id,avatar_url,display_name,username``
================  ====================================================================

Each spec also turns the provider's profile answer into an :class:`Identity` (the
``identity_from_*`` functions below are pure, so they are tested without a network).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mbv_desktop.core.errors import NotConfigured, provider_display_name

from .errors import AuthError
from .models import Identity

__all__ = [
    "GRAPH_VERSION",
    "PROVIDERS",
    "SETTING_KEYS",
    "ProviderSpec",
    "identity_from_github",
    "identity_from_instagram",
    "identity_from_oidc",
    "identity_from_tiktok",
    "identity_from_x",
    "instagram_account_id",
    "spec_from_settings",
    "specs_from_settings",
]

GRAPH_VERSION = "v21.0"

#: Providers this package knows, in the order the UI lists them.
PROVIDERS = ("google", "github", "x", "instagram", "tiktok")

#: The setting keys each provider's spec is built from (the service passes their values in).
SETTING_KEYS: Mapping[str, tuple[str, ...]] = {
    "google": ("google.issuer", "google.client_id", "google.client_secret"),
    "github": ("github.base_url", "github.api_base", "github.client_id", "github.client_secret"),
    "x": ("x.api_base", "x.auth_base", "x.client_id"),
    "instagram": ("instagram.client_id", "instagram.client_secret", "facebook.auth_base",
                  "facebook.graph_base"),
    "tiktok": ("tiktok.api_base", "tiktok.auth_base", "tiktok.client_key",
               "tiktok.client_secret"),
}

TokenAuth = Literal["client_secret_post", "client_secret_basic", "none"]
RevokeStyle = Literal["rfc7009", "github_grant", "facebook_permissions", "none"]
ProfileStyle = Literal["oidc", "github", "x", "instagram", "tiktok"]

# The real Google issues id_tokens with either form of its issuer (Google's OIDC docs).
_ISSUER_ALIASES = {"https://accounts.google.com": ("accounts.google.com",)}


@dataclass(frozen=True, repr=False)
class ProviderSpec:
    """Everything the flow needs to know about one provider. Plain data; no I/O.

    For OpenID Connect providers (``oidc=True``) the authorization, token, userinfo, revocation
    and JWKS endpoints come from discovery at ``discovery_url``; the ``*_url`` fields are
    ``None``. ``missing`` lists setting keys that are empty although the provider needs them;
    :meth:`require_configured` turns that into :class:`NotConfigured`.
    """

    name: str
    client_id: str
    client_secret: str | None = field(default=None, compare=False)
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    authorize_url: str | None = None
    token_url: str | None = None
    #: the name of the client id parameter (TikTok calls it ``client_key``)
    client_id_param: str = "client_id"
    token_auth: TokenAuth = "client_secret_post"
    pkce: bool = True
    oidc: bool = False
    issuer: str | None = None
    discovery_url: str | None = None
    accepted_issuers: tuple[str, ...] = ()
    authorize_params: tuple[tuple[str, str], ...] = ()
    device_code_url: str | None = None
    revoke_url: str | None = None
    revoke_style: RevokeStyle = "none"
    #: which token the revocation endpoint takes
    revoke_token: Literal["refresh", "access"] = "access"
    profile: ProfileStyle = "oidc"
    profile_url: str | None = None
    graph_base: str | None = None
    #: Facebook: swap the short-lived token for a long-lived one (``fb_exchange_token``)
    long_lived_exchange: bool = False
    #: the browser flow's code exchange needs ``client_secret`` (GitHub); the device flow not
    web_flow_needs_secret: bool = False
    missing: tuple[str, ...] = ()

    @property
    def display_name(self) -> str:
        return provider_display_name(self.name)

    @property
    def configured(self) -> bool:
        return not self.missing

    @property
    def scope(self) -> str:
        """The scope parameter as the provider wants it (space- or comma-separated)."""
        return self.scope_separator.join(self.scopes)

    def require_configured(self) -> None:
        """Raise :class:`NotConfigured` naming the empty settings, if any."""
        if self.missing:
            keys = ", ".join(self.missing)
            raise NotConfigured(
                f"{self.display_name} sign-in is not set up yet: set {keys} in the settings "
                f"(or start the app with --sandbox to try it with the built-in emulator).",
                provider=self.name,
            )

    def require_web_flow(self) -> None:
        """:meth:`require_configured`, plus the secret the browser flow needs (GitHub)."""
        self.require_configured()
        if self.web_flow_needs_secret and not self.client_secret:
            raise NotConfigured(
                f"Signing in to {self.display_name} in the browser needs the "
                f"{self.name}.client_secret setting; set it, or sign in with a device code "
                f"instead.", provider=self.name)

    def __repr__(self) -> str:
        secret = "'***'" if self.client_secret else None
        return (f"ProviderSpec(name={self.name!r}, client_id={self.client_id!r}, "
                f"client_secret={secret}, oidc={self.oidc!r}, configured={self.configured!r})")


def _base(values: Mapping[str, str], key: str, missing: list[str]) -> str:
    value = (values.get(key) or "").strip().rstrip("/")
    if not value:
        missing.append(key)
    return value


def _value(values: Mapping[str, str], key: str, missing: list[str] | None = None) -> str:
    value = (values.get(key) or "").strip()
    if not value and missing is not None:
        missing.append(key)
    return value


def spec_from_settings(provider: str, values: Mapping[str, str]) -> ProviderSpec:
    """The spec for ``provider`` built from setting values keyed like ``"google.client_id"``.

    Missing or empty values needed by the provider are listed in ``spec.missing`` (the spec is
    still returned, so a settings page can show which ones to fill in). Raises ``ValueError``
    for an unknown provider.
    """
    missing: list[str] = []
    if provider == "google":
        issuer = _base(values, "google.issuer", missing)
        return ProviderSpec(
            name="google",
            client_id=_value(values, "google.client_id", missing),
            # A desktop client's secret is not confidential (RFC 8252 §8.5) and optional here.
            client_secret=_value(values, "google.client_secret") or None,
            scopes=("openid", "profile", "email"),
            # HTTP Basic is the client authentication every server must support (RFC 6749
            # §2.3.1); Google takes it as well as form fields.
            token_auth="client_secret_basic",
            oidc=True,
            issuer=issuer,
            discovery_url=f"{issuer}/.well-known/openid-configuration" if issuer else None,
            accepted_issuers=(issuer, *_ISSUER_ALIASES.get(issuer, ())),
            authorize_params=(("access_type", "offline"), ("prompt", "consent")),
            revoke_style="rfc7009",
            revoke_token="refresh",
            profile="oidc",
            missing=tuple(missing),
        )
    if provider == "github":
        base = _base(values, "github.base_url", missing)
        api = _base(values, "github.api_base", missing)
        client_id = _value(values, "github.client_id", missing)
        return ProviderSpec(
            name="github",
            client_id=client_id,
            # Needed for the web flow's token exchange and for revoking; the device flow
            # (device.py) works without it (reliability.md 5).
            client_secret=_value(values, "github.client_secret") or None,
            scopes=("read:user", "user:email"),
            authorize_url=f"{base}/login/oauth/authorize",
            token_url=f"{base}/login/oauth/access_token",
            device_code_url=f"{base}/login/device/code",
            revoke_url=f"{api}/applications/{client_id}/grant",
            revoke_style="github_grant",
            revoke_token="access",
            profile="github",
            profile_url=f"{api}/user",
            web_flow_needs_secret=True,
            missing=tuple(missing),
        )
    if provider == "x":
        api = _base(values, "x.api_base", missing)
        auth = _base(values, "x.auth_base", missing)
        return ProviderSpec(
            name="x",
            client_id=_value(values, "x.client_id", missing),
            scopes=("tweet.read", "tweet.write", "users.read", "media.write", "offline.access"),
            authorize_url=f"{auth}/i/oauth2/authorize",
            token_url=f"{api}/2/oauth2/token",
            token_auth="none",  # a native app is a public client: client_id in the form
            revoke_url=f"{api}/2/oauth2/revoke",
            revoke_style="rfc7009",
            revoke_token="refresh",
            profile="x",
            profile_url=f"{api}/2/users/me?user.fields=profile_image_url",
            missing=tuple(missing),
        )
    if provider == "instagram":
        dialog = _base(values, "facebook.auth_base", missing)
        graph = _base(values, "facebook.graph_base", missing)
        return ProviderSpec(
            name="instagram",
            client_id=_value(values, "instagram.client_id", missing),
            client_secret=_value(values, "instagram.client_secret", missing) or None,
            scopes=("instagram_basic", "instagram_content_publish", "pages_show_list",
                    "pages_read_engagement", "instagram_manage_insights"),
            scope_separator=",",
            authorize_url=f"{dialog}/{GRAPH_VERSION}/dialog/oauth",
            token_url=f"{graph}/{GRAPH_VERSION}/oauth/access_token",
            pkce=False,
            revoke_url=f"{graph}/{GRAPH_VERSION}/me/permissions",
            revoke_style="facebook_permissions",
            revoke_token="access",
            profile="instagram",
            graph_base=f"{graph}/{GRAPH_VERSION}",
            long_lived_exchange=True,
            missing=tuple(missing),
        )
    if provider == "tiktok":
        api = _base(values, "tiktok.api_base", missing)
        auth = _base(values, "tiktok.auth_base", missing)
        return ProviderSpec(
            name="tiktok",
            client_id=_value(values, "tiktok.client_key", missing),
            client_secret=_value(values, "tiktok.client_secret", missing) or None,
            # user.info.basic covers open_id, avatar_url and display_name; the @username needs
            # user.info.profile (TikTok's scope table), and a creator knows the account by it.
            # video.list and user.info.stats are what the Analytics panel reads figures with.
            scopes=("user.info.basic", "user.info.profile", "user.info.stats", "video.publish",
                    "video.upload", "video.list"),
            scope_separator=",",
            authorize_url=f"{auth}/v2/auth/authorize/",
            token_url=f"{api}/v2/oauth/token/",
            client_id_param="client_key",
            revoke_url=f"{api}/v2/oauth/revoke/",
            revoke_style="rfc7009",
            revoke_token="access",
            profile="tiktok",
            profile_url=f"{api}/v2/user/info/?fields=open_id,avatar_url,display_name,username",
            missing=tuple(missing),
        )
    raise ValueError(f"unknown sign-in provider {provider!r}; known: {', '.join(PROVIDERS)}")


def specs_from_settings(values: Mapping[str, str]) -> dict[str, ProviderSpec]:
    """A spec for every provider in :data:`PROVIDERS` (check ``spec.configured``)."""
    return {name: spec_from_settings(name, values) for name in PROVIDERS}


# --- profiles → Identity -------------------------------------------------------------------------


def _unreadable(provider: str) -> AuthError:
    name = provider_display_name(provider)
    return AuthError(f"{name[:1].upper() + name[1:]} sent an account profile the app could not "
                     f"read, so the account was not connected; try again.", provider=provider)


def _text(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def identity_from_oidc(provider: str, claims: Mapping[str, Any],
                       userinfo: Mapping[str, Any] | None = None) -> Identity:
    """An OpenID Connect identity: verified id_token claims, completed by the userinfo answer.

    The userinfo answer is used only when its ``sub`` equals the id_token's (OIDC Core §5.3.2).
    """
    sub = _text(claims.get("sub"))
    if sub is None:
        raise _unreadable(provider)
    merged: dict[str, Any] = {}
    if userinfo and _text(userinfo.get("sub")) == sub:
        merged.update(userinfo)
    merged.update({k: v for k, v in claims.items() if v not in (None, "")})
    email = _text(merged.get("email"))
    name = _text(merged.get("name"))
    return Identity(
        provider=provider,
        account_id=sub,
        handle=email or _text(merged.get("preferred_username")) or sub,
        display_name=name or email or sub,
        avatar_url=_text(merged.get("picture")),
        email=email,
    )


def identity_from_github(body: Mapping[str, Any]) -> Identity:
    """``GET /user``: ``id``, ``login``, ``name``, ``avatar_url``, ``email``."""
    account_id = _text(body.get("id"))
    login = _text(body.get("login"))
    if account_id is None or login is None:
        raise _unreadable("github")
    return Identity("github", account_id, login, _text(body.get("name")) or login,
                    _text(body.get("avatar_url")), _text(body.get("email")))


def identity_from_x(body: Mapping[str, Any]) -> Identity:
    """``GET /2/users/me``: ``data.id``, ``data.username``, ``data.name``,
    ``data.profile_image_url``."""
    data = _object(body.get("data"))
    account_id = _text(data.get("id"))
    username = _text(data.get("username"))
    if account_id is None or username is None:
        raise _unreadable("x")
    return Identity("x", account_id, username, _text(data.get("name")) or username,
                    _text(data.get("profile_image_url")))


def instagram_account_id(accounts: Mapping[str, Any]) -> str | None:
    """The first Instagram professional account linked to one of the person's Facebook Pages,
    from ``GET /me/accounts?fields=instagram_business_account``; ``None`` if there is none."""
    pages = accounts.get("data")
    if not isinstance(pages, list):
        raise _unreadable("instagram")
    for page in pages:
        linked = _object(_object(page).get("instagram_business_account"))
        ig_id = _text(linked.get("id"))
        if ig_id is not None:
            return ig_id
    return None


def identity_from_instagram(ig_id: str, body: Mapping[str, Any]) -> Identity:
    """``GET /{ig_id}?fields=username,profile_picture_url``."""
    username = _text(body.get("username"))
    if username is None:
        raise _unreadable("instagram")
    return Identity("instagram", ig_id, username, username,
                    _text(body.get("profile_picture_url")))


def identity_from_tiktok(body: Mapping[str, Any]) -> Identity:
    """``GET /v2/user/info/``: ``data.user.{open_id, username, display_name, avatar_url}``."""
    user = _object(_object(body.get("data")).get("user"))
    open_id = _text(user.get("open_id"))
    if open_id is None:
        raise _unreadable("tiktok")
    display = _text(user.get("display_name"))
    handle = _text(user.get("username")) or display or open_id
    return Identity("tiktok", open_id, handle, display or handle, _text(user.get("avatar_url")))
