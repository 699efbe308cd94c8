"""GitHub's device flow (RFC 8628) against a fake GitHub behind ``httpx.MockTransport``.

``sleep`` is replaced by a recorder, so polling intervals are asserted exactly and take no time.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from mbv_desktop.core.errors import NotConfigured
from mbv_desktop.integrations.auth import (
    AuthDenied,
    Authorization,
    DeviceCode,
    DeviceCodeExpired,
    device_authorize,
    spec_from_settings,
)

SETTINGS = {"github.base_url": "https://github.test", "github.api_base": "https://api.github.test",
            "github.client_id": "Iv1.device", "github.client_secret": "must-not-be-sent-0000"}


class FakeGitHub:
    def __init__(self, *answers: str, interval: int = 5, expires_in: int = 900) -> None:
        self.answers = list(answers)  # error codes in order; "ok" issues the token
        self.interval = interval
        self.expires_in = expires_in
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        form = dict(urllib.parse.parse_qsl(request.content.decode()))
        self.requests.append((request.method, request.url.path, form))
        assert request.headers["accept"].startswith("application/")
        if request.url.path == "/login/device/code":
            if self.answers and self.answers[0] == "device_flow_disabled":
                return httpx.Response(400, json={"error": "device_flow_disabled"})
            return httpx.Response(200, json={
                "device_code": "dc-secret-3584d83530557fdd1f46af8289938c8ef79f9dc5",
                "user_code": "WDJB-MJHT", "verification_uri": "https://github.test/login/device",
                "expires_in": self.expires_in, "interval": self.interval})
        if request.url.path == "/login/oauth/access_token":
            answer = self.answers.pop(0)
            if answer == "ok":
                return httpx.Response(200, json={"access_token": "ghu_devicetoken0000000000",
                                                 "token_type": "bearer", "scope": "read:user",
                                                 "expires_in": 28800,
                                                 "refresh_token": "ghr_refresh000000000000"})
            # GitHub answers errors with 200 and an error field.
            return httpx.Response(200, json={"error": answer, "error_description": "..."})
        if request.url.path == "/user":
            assert request.headers["authorization"] == "Bearer ghu_devicetoken0000000000"
            return httpx.Response(200, json={"id": 583231, "login": "octocat",
                                             "name": "The Octocat",
                                             "avatar_url": "https://avatars.test/u/583231"})
        return httpx.Response(404)


def device(github: FakeGitHub, *, clock: Callable[[], float] | None = None,
           sleeps: list[float] | None = None) -> Coroutine[Any, Any, Authorization]:
    shown: list[DeviceCode] = []
    recorded = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)
        await asyncio.sleep(0)

    async def main() -> Authorization:
        async with httpx.AsyncClient(transport=httpx.MockTransport(github.handler)) as http:
            result = await device_authorize(spec_from_settings("github", SETTINGS),
                                            show_code=shown.append, http=http, sleep=sleep,
                                            **({"clock": clock} if clock else {}))
            assert shown and shown[0].user_code == "WDJB-MJHT"
            assert "dc-secret" not in repr(shown[0])
            return result
    return main()


def test_pending_then_slow_down_then_success() -> None:
    github = FakeGitHub("authorization_pending", "slow_down", "authorization_pending", "ok")
    sleeps: list[float] = []
    result = asyncio.run(device(github, sleeps=sleeps))
    assert sleeps == [5, 5, 10, 10]  # slow_down adds 5 s for good
    assert result.identity.account_id == "583231" and result.identity.handle == "octocat"
    assert result.tokens.refresh_token == "ghr_refresh000000000000"
    code_request = github.requests[0]
    assert code_request[:2] == ("POST", "/login/device/code")
    assert code_request[2] == {"client_id": "Iv1.device", "scope": "read:user user:email"}
    polls = [r for r in github.requests if r[1] == "/login/oauth/access_token"]
    assert len(polls) == 4
    for _method, _path, form in polls:
        assert form == {"client_id": "Iv1.device",
                        "device_code": "dc-secret-3584d83530557fdd1f46af8289938c8ef79f9dc5",
                        "grant_type": "urn:ietf:params:oauth:grant-type:device_code"}
        assert "client_secret" not in form


def test_expired_token_and_access_denied() -> None:
    with pytest.raises(DeviceCodeExpired) as expired:
        asyncio.run(device(FakeGitHub("authorization_pending", "expired_token")))
    assert "expired" in str(expired.value) and "GitHub" in str(expired.value)
    with pytest.raises(AuthDenied):
        asyncio.run(device(FakeGitHub("access_denied")))


def test_local_deadline_stops_polling() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 500  # each look at the clock: 500 s later
        return now[0]

    github = FakeGitHub(*["authorization_pending"] * 10, expires_in=900)
    with pytest.raises(DeviceCodeExpired):
        asyncio.run(device(github, clock=clock))
    assert len([r for r in github.requests if r[1] == "/login/oauth/access_token"]) == 1


def test_device_flow_disabled_is_a_setup_problem() -> None:
    with pytest.raises(NotConfigured) as info:
        asyncio.run(device(FakeGitHub("device_flow_disabled")))
    assert "Enable Device Flow" in str(info.value)


def test_cancel_stops_polling() -> None:
    async def main() -> int:
        github = FakeGitHub(*["authorization_pending"] * 1000, interval=0)

        async def slow_sleep(seconds: float) -> None:
            await asyncio.sleep(0.01)

        async with httpx.AsyncClient(transport=httpx.MockTransport(github.handler)) as http:
            task = asyncio.create_task(device_authorize(
                spec_from_settings("github", SETTINGS), show_code=lambda code: None, http=http,
                sleep=slow_sleep))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            polls = len(github.requests)
            await asyncio.sleep(0.1)
            assert len(github.requests) == polls  # nothing after the cancel
            return polls
    assert asyncio.run(main()) > 1
