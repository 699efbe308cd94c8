"""GA4 events through the real client and the sandbox's Measurement Protocol emulator: sent only
after opting in, with a pseudonymous client id, and never failing what they report on."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.helpers import run

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.integrations.analytics.ga4 import Ga4Client
from mbv_desktop.sandbox import ga4_emulator
from mbv_desktop.sandbox.common import EmulatorSpec
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import open_services

GA4 = EmulatorSpec("ga4", "/ga4", ga4_emulator.create_app, "", ga4_emulator.fault_reply)


@pytest.fixture
def ga4(tmp_path: Path) -> Iterator[str]:
    with SandboxHost(tmp_path / "sandbox", emulators=[GA4]) as host:
        yield host.urls()["ga4"]


def _received(base: str) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{base}/events", timeout=5) as resp:
        return list(json.loads(resp.read()))


def _env(base: str, opt_in: bool) -> dict[str, str]:
    return {"MBV_GA4_ENDPOINT": f"{base}/mp/collect", "MBV_GA4_MEASUREMENT_ID": "G-SANDBOX1",
            "MBV_GA4_API_SECRET": "sandbox-secret",
            "MBV_ANALYTICS_OPT_IN": "true" if opt_in else "false"}


def test_events_are_sent_only_after_opting_in(ga4: str, data_dir: Path) -> None:
    services = open_services(data_dir, env=_env(ga4, opt_in=False))
    try:
        assert not run(services.analytics.track("login", {"method": "Google"}))
        assert _received(ga4) == []
    finally:
        services.close()
    services = open_services(data_dir, env=_env(ga4, opt_in=True))
    try:
        async def both() -> tuple[bool, bool]:
            first = await services.analytics.track("login", {"method": "Google"})
            second = await services.analytics.track("sign_up", {"method": "GitHub"})
            await services.analytics.aclose()
            return first, second

        assert run(both()) == (True, True)
    finally:
        services.close()
    events = _received(ga4)
    assert [(e["name"], e["params"]) for e in events] == [
        ("login", {"method": "Google"}), ("sign_up", {"method": "GitHub"})]
    client_ids = {e["client_id"] for e in events}
    assert len(client_ids) == 1  # one pseudonymous id per profile, kept between runs
    assert (data_dir / "analytics-id").read_text() in client_ids


def test_an_unreachable_endpoint_never_fails_the_action(data_dir: Path) -> None:
    services = open_services(data_dir, env=_env("http://127.0.0.1:9", opt_in=True))
    try:
        assert run(services.analytics.track("login", {"method": "Google"})) is False
    finally:
        run(services.analytics.aclose())
        services.close()


def test_the_debug_endpoint_validates_like_ga4(ga4: str) -> None:
    request = urllib.request.Request(
        f"{ga4}/debug/mp/collect?measurement_id=G-1", method="POST",
        data=json.dumps({"events": [{"name": "1bad"}]}).encode())
    with urllib.request.urlopen(request, timeout=5) as resp:
        messages = json.loads(resp.read())["validationMessages"]
    assert {m["fieldPath"] for m in messages} == {"api_secret", "client_id", "events[0].name"}


def test_bad_event_names_are_refused_before_sending() -> None:
    client = Ga4Client("http://127.0.0.1:9/mp/collect", "G-1", "s")
    with pytest.raises(InvalidInput):
        run(client.send("cid", [("has space", {})]))
    run(client.aclose())
