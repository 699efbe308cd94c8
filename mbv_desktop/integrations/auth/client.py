"""Token-endpoint work for one provider: code exchange, refresh, revocation and the profile.

:class:`OAuthClient` wraps one :class:`ProviderSpec` and an ``httpx.AsyncClient``; the browser
flow, the device flow and :class:`ProviderRefresher` (what :class:`~.tokens.TokenManager` calls)
all go through it. Every request is spelled out in :mod:`._wire`'s terms: form bodies, tokens in
bodies or ``Authorization`` headers, no automatic retries.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from mbv_desktop.core.errors import NotConfigured, ProviderError, Rejected

from . import _wire
from .errors import AuthError, NeedsReconnect
from .models import Identity, TokenSet
from .oidc import OidcCache, OidcMetadata
from .providers import (
    ProviderSpec,
    identity_from_github,
    identity_from_instagram,
    identity_from_oidc,
    identity_from_tiktok,
    identity_from_x,
    instagram_account_id,
)

__all__ = ["Endpoints", "OAuthClient", "ProviderRefresher"]

log = logging.getLogger(__name__)

_GITHUB_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


@dataclass(frozen=True)
class Endpoints:
    """Where to send the person and the app's requests (from the spec, or from discovery)."""

    authorize: str
    token: str
    revoke: str | None = None
    userinfo: str | None = None


class OAuthClient:
    """The token endpoint and profile calls of one provider.

    ``http`` is not closed here; whoever made it closes it. ``oidc_cache`` keeps discovery
    documents and signing keys between sign-ins (pass one per app; a fresh one per call works).
    """

    def __init__(self, spec: ProviderSpec, http: httpx.AsyncClient, *,
                 oidc_cache: OidcCache | None = None) -> None:
        self.spec = spec
        self.http = http
        self.oidc_cache = oidc_cache or OidcCache()

    async def metadata(self) -> OidcMetadata | None:
        """The discovery document for an OpenID Connect provider, else ``None``."""
        if not self.spec.oidc:
            return None
        return await self.oidc_cache.metadata(self.http, self.spec)

    async def endpoints(self) -> Endpoints:
        spec = self.spec
        meta = await self.metadata()
        if meta is not None:
            return Endpoints(meta.authorization_endpoint, meta.token_endpoint,
                             meta.revocation_endpoint, meta.userinfo_endpoint)
        if not spec.authorize_url or not spec.token_url:
            spec.require_configured()
            raise NotConfigured(provider=spec.name)
        return Endpoints(spec.authorize_url, spec.token_url, spec.revoke_url, None)

    # -- tokens --

    async def exchange_code(self, code: str, *, redirect_uri: str,
                            code_verifier: str | None) -> TokenSet:
        """Swap the authorization code for tokens (with the PKCE verifier when PKCE was used)."""
        endpoints = await self.endpoints()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if self.spec.pkce:
            if not code_verifier:
                raise ValueError("a PKCE provider needs the attempt's code_verifier")
            form["code_verifier"] = code_verifier
        try:
            body = await _wire.token_request(self.http, self.spec, endpoints.token, form)
        except _wire.OAuthErrorAnswer as answer:
            raise _wire.exchange_error(self.spec, answer) from None
        return _wire.token_set(body, self.spec)

    async def long_lived(self, tokens: TokenSet) -> TokenSet:
        """Facebook: swap a short-lived user token for a long-lived one (about 60 days)."""
        endpoints = await self.endpoints()
        form = {"grant_type": "fb_exchange_token", "fb_exchange_token": tokens.access_token}
        try:
            body = await _wire.token_request(self.http, self.spec, endpoints.token, form)
        except _wire.OAuthErrorAnswer as answer:
            raise _wire.exchange_error(self.spec, answer) from None
        return _wire.token_set(body, self.spec, long_lived=True)

    async def refresh(self, refresh_token: str, *, account_id: str = "") -> TokenSet:
        """A new access token (and, at rotating providers, a new refresh token).

        ``invalid_grant`` (and any other refusal of the grant) raises :class:`NeedsReconnect`.
        """
        endpoints = await self.endpoints()
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        try:
            body = await _wire.token_request(self.http, self.spec, endpoints.token, form)
        except _wire.OAuthErrorAnswer as answer:
            raise _wire.refresh_error(self.spec, answer, account_id) from None
        return _wire.token_set(body, self.spec)

    async def revoke(self, *, access_token: str | None, refresh_token: str | None) -> bool:
        """Ask the provider to revoke the grant. ``True`` when it confirmed (or it was already
        gone); ``False`` when this provider or configuration cannot revoke."""
        spec = self.spec
        token = refresh_token if spec.revoke_token == "refresh" else access_token
        token = token or access_token or refresh_token
        if spec.revoke_style == "none" or not token:
            return False
        endpoints = await self.endpoints()
        if not endpoints.revoke:
            return False
        if spec.revoke_style == "github_grant":
            if not spec.client_secret or token != access_token:
                return False  # GitHub revokes only with the app's secret and an access token
            response = await _wire.send(
                self.http, spec.name, "DELETE", endpoints.revoke, json={"access_token": token},
                headers=_GITHUB_HEADERS, auth=httpx.BasicAuth(spec.client_id, spec.client_secret))
        elif spec.revoke_style == "facebook_permissions":
            response = await _wire.send(self.http, spec.name, "DELETE", endpoints.revoke,
                                        headers={"Authorization": f"Bearer {token}"})
        else:  # RFC 7009
            hint = "refresh_token" if token == refresh_token else "access_token"
            form = {"token": token, "token_type_hint": hint}
            auth = _wire.client_credentials(spec, form)
            response = await _wire.send(self.http, spec.name, "POST", endpoints.revoke,
                                        data=form, auth=auth)
        status = response.status_code
        if 200 <= status < 300 or (status == 404 and spec.revoke_style == "github_grant"):
            return True  # revoked, or (GitHub's 404) there was no such grant any more
        error = _wire.oauth_error(_safe_json(response))
        if status in (400, 401) and error and error[0] in ("invalid_token", "invalid_grant"):
            return True  # already revoked or expired: the grant is gone either way
        try:
            _wire.checked_json(response, spec.name)
        except _wire.OAuthErrorAnswer as answer:
            raise _wire.api_error(spec, answer) from None
        raise Rejected(provider=spec.name, status=status)

    # -- who signed in --

    async def identity(self, tokens: TokenSet,
                       claims: Mapping[str, Any] | None = None) -> Identity:
        """The account ``tokens`` belong to. For OpenID Connect, ``claims`` are the verified
        id_token claims (the userinfo answer only completes them)."""
        try:
            return await self._identity(tokens, claims)
        except NeedsReconnect as exc:  # just signed in: not a "saved sign-in" problem
            raise AuthError(f"{self.spec.display_name} did not accept the new sign-in when the "
                            f"app asked which account it is; sign in again.",
                            provider=self.spec.name, status=exc.status) from exc

    async def _identity(self, tokens: TokenSet,
                        claims: Mapping[str, Any] | None) -> Identity:
        spec = self.spec
        access = tokens.access_token
        if spec.profile == "oidc":
            if claims is None:
                raise AuthError(provider=spec.name)
            userinfo: Mapping[str, Any] | None = None
            endpoints = await self.endpoints()
            if endpoints.userinfo:
                try:
                    userinfo = await _wire.get_json(self.http, spec, endpoints.userinfo,
                                                    access_token=access)
                except ProviderError as exc:  # the verified claims are enough to go on
                    log.info("%s userinfo was not available (%s); using the id_token claims.",
                             spec.display_name, type(exc).__name__)
            return identity_from_oidc(spec.name, claims, userinfo)
        if spec.profile == "github":
            assert spec.profile_url
            body = await _wire.get_json(self.http, spec, spec.profile_url, access_token=access,
                                        headers=_GITHUB_HEADERS)
            return identity_from_github(body)
        if spec.profile == "x":
            assert spec.profile_url
            return identity_from_x(await _wire.get_json(self.http, spec, spec.profile_url,
                                                        access_token=access))
        if spec.profile == "tiktok":
            assert spec.profile_url
            return identity_from_tiktok(await _wire.get_json(self.http, spec, spec.profile_url,
                                                             access_token=access))
        assert spec.profile == "instagram" and spec.graph_base
        accounts = await _wire.get_json(
            self.http, spec, f"{spec.graph_base}/me/accounts?fields=instagram_business_account",
            access_token=access)
        ig_id = instagram_account_id(accounts)
        if ig_id is None:
            raise AuthError(
                "No Instagram professional account is linked to a Facebook Page you manage, so "
                "there is nothing to connect; link one in Instagram's settings (Account type: "
                "Business or Creator) and connect again.", provider=spec.name)
        body = await _wire.get_json(
            self.http, spec,
            f"{spec.graph_base}/{urllib.parse.quote(ig_id, safe='')}"
            f"?fields=username,profile_picture_url",
            access_token=access)
        return identity_from_instagram(ig_id, body)


def _safe_json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class ProviderRefresher:
    """What :class:`~.tokens.TokenManager` calls to refresh and revoke, for every provider.

    ``specs`` maps provider names to specs (e.g. :func:`~.providers.specs_from_settings`).
    Without ``http`` it makes its own client; :meth:`aclose` closes only that one.
    """

    def __init__(self, specs: Mapping[str, ProviderSpec], *,
                 http: httpx.AsyncClient | None = None,
                 oidc_cache: OidcCache | None = None) -> None:
        self._specs = dict(specs)
        self._own_http = http is None
        self._http = http
        self._oidc_cache = oidc_cache or OidcCache()

    def _client(self, provider: str) -> OAuthClient:
        spec = self._specs.get(provider)
        if spec is None:
            raise NotConfigured(provider=provider)
        spec.require_configured()
        if self._http is None:
            self._http = _wire.new_http_client()
        return OAuthClient(spec, self._http, oidc_cache=self._oidc_cache)

    def update_specs(self, specs: Mapping[str, ProviderSpec]) -> None:
        """Use new specs from now on (after the settings changed)."""
        self._specs = dict(specs)

    async def refresh(self, provider: str, account_id: str, refresh_token: str) -> TokenSet:
        return await self._client(provider).refresh(refresh_token, account_id=account_id)

    async def revoke(self, provider: str, account_id: str, *, access_token: str | None,
                     refresh_token: str | None) -> bool:
        return await self._client(provider).revoke(access_token=access_token,
                                                   refresh_token=refresh_token)

    async def aclose(self) -> None:
        if self._own_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

