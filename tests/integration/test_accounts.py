"""Signing in and connecting accounts through the accounts service, against the sandbox's OAuth
emulators over real loopback sockets: the browser step is the sandbox's consent page answered
by ``services.sandbox_consent`` (as ``login --yes`` does), the keyring is the tests' in-memory
one. What a creator would notice: each account appears with its handle; Deny connects nothing;
an expired token is refreshed by itself; a grant the provider revoked shows "needs reconnect"
instead of retrying; signing out removes everything; no token is ever written to the data dir.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.helpers import run

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.integrations.auth import AuthDenied, NeedsReconnect, token_key
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.sandbox_consent import answer_consent
from mbv_desktop.store.accounts import AccountRecord
from tests.integration.test_cli import mbv

PROVIDERS = ("google", "github", "x", "instagram", "tiktok")
EMULATOR = {"instagram": "facebook"}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


@pytest.fixture
def profile(sandbox: SandboxHost, data_dir: Path) -> Iterator[Services]:
    overrides = sandbox_overrides(sandbox.urls()) | {"analytics.opt_in": True}
    services = open_services(data_dir, env={}, overrides=overrides, sandbox=True)
    yield services
    services.close()  # each test closes its clients in its own loop (they belong to it)


def _post_json(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        resp.read()


async def _stored(services: Services, provider: str, account_id: str) -> str | None:
    return await services.secrets.get(token_key(provider, account_id))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_each_provider_connects_and_keeps_no_token_on_disk(
        profile: Services, data_dir: Path, provider: str) -> None:
    async def connect() -> tuple[AccountRecord, str, str | None]:
        account = await profile.accounts.authorize(provider, open_url=answer_consent, timeout=10)
        token = await profile.accounts.access_token(provider, account.account_id)
        stored = await _stored(profile, provider, account.account_id)
        await profile.aclose()
        return account, token, stored

    account, access, stored = run(connect())
    assert account.provider == provider and account.handle and account.status == "ok"
    assert account.role == ("sign_in" if provider in ("google", "github") else "publish")
    assert stored  # the refresh (or long-lived) token is in the keyring
    # The canaries: neither the keyring entry nor the access token is anywhere in the data dir
    # (SQLite, its WAL, settings, logs).
    secrets = [access, json.loads(stored)["token"]]
    for path in data_dir.rglob("*"):
        if path.is_file() and "sandbox" not in path.parts:
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"a token was written to {path}"


def test_deny_connects_nothing(profile: Services) -> None:
    async def deny(url: str) -> None:
        await answer_consent(url, allow=False)

    async def scenario() -> list[AccountRecord]:
        with pytest.raises(AuthDenied):
            await profile.accounts.authorize("x", open_url=deny, timeout=10)
        await profile.aclose()
        return await profile.accounts.accounts()

    assert run(scenario()) == []


def test_expired_tokens_refresh_and_a_revoked_grant_needs_reconnect(
        profile: Services, sandbox: SandboxHost) -> None:
    accounts = profile.accounts
    settings_url = sandbox.urls()["x"] + "/_settings"

    async def scenario() -> None:
        account = await accounts.authorize("x", open_url=answer_consent, timeout=10)
        first_grant = await _stored(profile, "x", account.account_id)
        # X answered 401 to a call (the token expired early): ten callers at once then get one
        # refresh between them and the same new token.
        old = await accounts.access_token("x", account.account_id)
        (await accounts.token_manager()).invalidate("x", account.account_id, old)
        tokens = await asyncio.gather(*(accounts.access_token("x", account.account_id)
                                        for _ in range(10)))
        assert len(set(tokens)) == 1 and tokens[0] != old
        assert sandbox.request_count("x", "/x/2/oauth2/token") == 2  # the code, one refresh
        assert await _stored(profile, "x", account.account_id) != first_grant  # rotated, kept

        # A stale copy of the old refresh token comes back (a restored backup, a crash before
        # the keyring write): using it makes X revoke the whole family. The account is marked,
        # not retried.
        await profile.secrets.set(token_key("x", account.account_id), first_grant or "")
        await asyncio.to_thread(_post_json, settings_url, {"advance": 3 * 3600})
        await accounts.aclose()
        accounts._tokens = None  # as after a restart: nothing in memory
        with pytest.raises(NeedsReconnect):
            await accounts.access_token("x", account.account_id)
        [marked] = await accounts.accounts()
        assert marked.status == "needs_reconnect"
        refreshes = sandbox.request_count("x", "/x/2/oauth2/token")
        with pytest.raises(NeedsReconnect):
            await accounts.access_token("x", account.account_id)
        assert sandbox.request_count("x", "/x/2/oauth2/token") == refreshes  # no retry loop
        again = await accounts.authorize("x", open_url=answer_consent, timeout=10)
        assert again.status == "ok"  # reconnecting makes it usable again
        await profile.aclose()

    run(scenario())


def test_sign_out_revokes_and_forgets(profile: Services, sandbox: SandboxHost) -> None:
    async def scenario() -> None:
        account = await profile.accounts.authorize("github", open_url=answer_consent,
                                                   timeout=10)
        assert await profile.accounts.disconnect("github", account.account_id) is True
        assert await _stored(profile, "github", account.account_id) is None
        assert await profile.accounts.accounts() == []
        await profile.aclose()

    run(scenario())


def test_sign_in_events_go_to_ga4_when_opted_in(profile: Services,
                                                sandbox: SandboxHost) -> None:
    async def twice() -> None:
        for _ in range(2):
            await profile.accounts.authorize("google", open_url=answer_consent, timeout=10)
        await profile.aclose()

    run(twice())
    with urllib.request.urlopen(sandbox.urls()["ga4"] + "/events", timeout=5) as resp:
        events = json.loads(resp.read())
    assert [(e["name"], e["params"]["method"]) for e in events] == [
        ("sign_up", "Google"), ("login", "Google")]
    assert "maya" not in json.dumps(events).lower()  # no handle or e-mail leaves


def test_login_and_logout_from_the_command_line(tmp_path: Path) -> None:
    data = tmp_path / "cli"
    r = mbv("--sandbox", "login", "x", "--yes", "--json", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["handle"] == "maya_creates"
    r = mbv("--sandbox", "login", "github", "--no-browser", "--yes", "--as", "1", data_dir=data)
    assert r.returncode == 0 and "@leo-lens" in r.stdout, r.stderr  # the device flow
    listed = json.loads(mbv("--sandbox", "accounts", "--json", data_dir=data).stdout)
    assert {(a["provider"], a["status"]) for a in listed} == {("x", "ok"), ("github", "ok")}
    assert mbv("--sandbox", "logout", "x", data_dir=data).returncode == 0
    listed = json.loads(mbv("--sandbox", "accounts", "--json", data_dir=data).stdout)
    assert [a["provider"] for a in listed] == ["github"]
    refused = mbv("login", "x", "--yes", data_dir=data)
    assert refused.returncode == 1 and "--sandbox" in refused.stderr


def test_a_real_token_never_reaches_a_sentry_event(profile: Services) -> None:
    import logging

    import sentry_sdk
    from sentry_sdk.transport import Transport

    from mbv_desktop.integrations.monitoring.sentry import init_sentry

    sent: list[str] = []

    class Capture(Transport):
        def capture_envelope(self, envelope: object) -> None:
            sent.extend(json.dumps(item.payload.json, default=str)
                        for item in envelope.items if item.payload.json)  # type: ignore[attr-defined]

    async def scenario() -> tuple[str, str]:
        account = await profile.accounts.authorize("x", open_url=answer_consent, timeout=10)
        token = await profile.accounts.access_token("x", account.account_id)
        grant = json.loads(await _stored(profile, "x", account.account_id) or "{}")["token"]
        await profile.aclose()
        return token, grant

    access, refresh = run(scenario())
    assert init_sentry("https://public@o0.ingest.sentry.invalid/1", release="test",
                       transport=Capture)
    try:
        logging.getLogger("mbv_desktop.test").info("posting with %s", access)  # a breadcrumb
        sentry_sdk.add_breadcrumb(message=f"refresh {refresh}")
        try:
            raise RuntimeError(f"X refused {access} (refresh {refresh})")
        except RuntimeError:
            sentry_sdk.capture_exception()
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()
    text = "".join(sent)
    assert "X refused" in text  # the event went out...
    assert access not in text and refresh not in text  # ...without the tokens


def test_without_a_keyring_the_sign_in_lasts_the_session_and_writes_nothing(
        sandbox: SandboxHost, data_dir: Path) -> None:
    from keyring.backends.fail import Keyring as NoKeyring

    from mbv_desktop.config.secrets import SecretStore

    services = open_services(data_dir, env={}, overrides=sandbox_overrides(sandbox.urls()),
                             sandbox=True)
    services.secrets = SecretStore(backend=NoKeyring())
    try:
        async def scenario() -> tuple[str, str]:
            account = await services.accounts.authorize("x", open_url=answer_consent,
                                                        timeout=10)
            token = await services.accounts.access_token("x", account.account_id)
            await services.aclose()
            return services.secrets.mode, token

        mode, token = run(scenario())
        assert mode == "session-only"
        for path in data_dir.rglob("*"):
            if path.is_file() and "sandbox" not in path.parts:
                assert token.encode() not in path.read_bytes()
        assert not (data_dir / "secrets.json").exists()
    finally:
        services.close()


def test_kill_9_before_the_rotated_token_is_stored_leads_to_a_clean_reconnect(
        tmp_path: Path) -> None:
    """A real process is killed (SIGKILL) the moment it tries to store X's rotated refresh
    token. The next start finds the old token, X refuses it (and revokes the family): the
    account says "needs reconnect", nothing loops, and connecting again works."""
    import sqlite3

    data = tmp_path / "killed"
    env = {"PYTHON_KEYRING_BACKEND": "file_keyring.FileKeyring",
           "MBV_TEST_KEYRING_FILE": str(tmp_path / "keyring.json")}

    def token_requests() -> int:
        with sqlite3.connect(data / "sandbox" / "sandbox.sqlite3") as conn:
            return int(conn.execute("SELECT count(*) FROM requests WHERE provider = 'x'"
                                    " AND path = '/x/2/oauth2/token'").fetchone()[0])

    assert mbv("--sandbox", "login", "x", "--yes", data_dir=data, env=env).returncode == 0
    crashed = mbv("--sandbox", "accounts", "--check", data_dir=data,
                  env=env | {"MBV_TEST_KEYRING_KILL_ON_SET": "oauth:x:"})
    assert crashed.returncode == -9  # killed between X's answer and the keyring write
    assert token_requests() == 2  # the code exchange, then the refresh that rotated
    after = mbv("--sandbox", "accounts", "--check", data_dir=data, env=env)
    assert after.returncode == 1 and "Needs reconnect" in after.stdout, after.stderr
    assert token_requests() == 3  # one try with the old token: refused
    again = mbv("--sandbox", "accounts", "--check", data_dir=data, env=env)
    assert "Needs reconnect" in again.stdout and token_requests() == 3  # no loop
    assert mbv("--sandbox", "login", "x", "--yes", data_dir=data, env=env).returncode == 0
    fixed = mbv("--sandbox", "accounts", "--check", data_dir=data, env=env)
    assert fixed.returncode == 0 and "Connected" in fixed.stdout
