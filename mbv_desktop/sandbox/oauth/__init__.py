"""Sign-in and connect emulators: Google (OpenID Connect), GitHub (web and device flow), X
(OAuth 2.0 with PKCE), Facebook Login (for Instagram) and TikTok (Login Kit v2).

Each is mounted by the sandbox host under its own prefix and serves the browser pages and the
API paths of its provider under that one base URL, at the real paths::

    http://127.0.0.1:PORT/google     /.well-known/openid-configuration, /o/oauth2/v2/auth, /token,
                                     /revoke, /v1/userinfo, /oauth2/v3/certs
    http://127.0.0.1:PORT/github     /login/oauth/authorize, /login/oauth/access_token,
                                     /login/device/code, /login/device, /user,
                                     DELETE /applications/{client_id}/grant
    http://127.0.0.1:PORT/x          /i/oauth2/authorize, /2/oauth2/token, /2/oauth2/revoke,
                                     /2/users/me
    http://127.0.0.1:PORT/facebook   /v21.0/dialog/oauth, /v21.0/oauth/access_token, /v21.0/me,
                                     /v21.0/me/accounts, /v21.0/{ig-id}, /v21.0/me/permissions
    http://127.0.0.1:PORT/tiktok     /v2/auth/authorize/, /v2/oauth/token/, /v2/oauth/revoke/,
                                     /v2/user/info/

Demo clients: any client id starting ``sandbox-`` is registered; its secret is the id plus
``-secret``. The documented ones are ``sandbox-google``, ``sandbox-github``, ``sandbox-x``,
``sandbox-facebook`` and ``sandbox-tiktok`` (TikTok calls it the client key). Redirect URIs must
be ``http://127.0.0.1:<any port>/<path>`` and repeated exactly in the token request.

Completing the consent page without a browser (what the app's ``login --yes`` and the tests
do):

1. ``GET`` the authorization URL. The answer is an HTML page (200) whose form is
   ``<form method="post" action="/<prefix>/_consent/<consent_id>" data-consent-id="<consent_id>">``
   with ``<input type="hidden" name="consent_id" value="<consent_id>">``, radio inputs
   ``name="account"`` (values ``0``, ``1``, ``2``: the demo accounts) and buttons
   ``name="decision"`` ``value="allow"`` / ``value="deny"``. A request that cannot be redirected
   (unknown client, bad redirect URI) gets a 400 page with ``<main data-error="<code>">``
   (``unauthorized_client``, ``redirect_uri_mismatch``); other problems (PKCE missing or
   ``plain``, bad scope, wrong response type) redirect to the app with ``error=…&state=…``.
2. ``POST {base}/_consent/<consent_id>`` with form fields ``decision=allow|deny`` and
   optionally ``account=<n>`` (default 0). The answer is a 302 to the redirect URI with
   ``code`` and ``state`` (Allow) or ``error=access_denied`` and ``state`` (Deny). A consent id
   works once and for ten minutes.

GitHub's device flow is approved the same way: ``POST {base}/_device/<user_code>`` with
``decision`` and ``account`` (JSON answer), or through the ``/login/device`` page.

Every emulator also has ``GET|POST {base}/_settings`` (JSON): ``access_ttl``, ``refresh_ttl``,
``code_ttl`` (60 s), ``consent_ttl``, ``device_ttl``, ``device_interval``, ``long_lived_ttl`` and
``clock_offset``, plus ``{"advance": seconds}`` to move the emulator's clock forward (expire
tokens without waiting) and ``{"reset": true}`` to restore the defaults. A factory also takes a
:class:`~mbv_desktop.sandbox.oauth.core.Settings` for hosts built with custom specs.

Grants and tokens persist in ``oauth.sqlite3`` in the sandbox state directory (digests only),
so a restart keeps the app signed in; codes, consents and device codes are in memory.
"""

from __future__ import annotations

from mbv_desktop.sandbox.oauth.core import DEMO_CLIENT_PREFIX, Settings, demo_secret

__all__ = ["DEMO_CLIENT_PREFIX", "Settings", "demo_secret"]
