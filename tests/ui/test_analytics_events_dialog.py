"""The "what is sent" dialog on real services, SQLite and the sandbox's GA4 emulator: it lists
sent and waiting events newest first with their parameters, says what is and is not sent and
shows the pseudonymous id; "Send now" sends what waited; unticking the opt-in box deletes the
queue and saves the choice."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually

from mbv_desktop.sandbox import ga4_emulator
from mbv_desktop.sandbox.common import EmulatorSpec
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.ui.dialogs.analytics_events_dialog import AnalyticsEventsDialog

GA4 = EmulatorSpec("ga4", "/ga4", ga4_emulator.create_app, "", ga4_emulator.fault_reply)
UNREACHABLE = "http://127.0.0.1:9/mp/collect"


@pytest.fixture
def ga4(tmp_path: Path) -> Iterator[str]:
    with SandboxHost(tmp_path / "sandbox", emulators=[GA4]) as host:
        yield host.urls()["ga4"]


@pytest.fixture
def profile(data_dir: Path, loop: asyncio.AbstractEventLoop) -> Iterator[Services]:
    """Opted in through settings.json (as the first-run question saves it), so the dialog's
    box can change it."""
    services = open_services(data_dir, env={"MBV_GA4_MEASUREMENT_ID": "G-SANDBOX1",
                                            "MBV_GA4_API_SECRET": "sandbox-secret"})
    services.settings.set("analytics.opt_in", "true")
    yield services
    loop.run_until_complete(services.aclose())
    services.close()


def received(base: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{base}/events", timeout=5) as resp:
        return list(json.loads(resp.read()))


def test_the_dialog_shows_what_is_sent_and_sends_what_waits(
        profile: Services, ga4: str, loop: asyncio.AbstractEventLoop, qtbot: Any) -> None:
    settings, analytics = profile.settings, profile.analytics
    settings.set("ga4.endpoint", f"{ga4}/mp/collect")
    loop.run_until_complete(analytics.track("login", {"method": "Google"}))
    dialog = AnalyticsEventsDialog(profile)
    qtbot.addWidget(dialog)
    dialog.show()
    loop.run_until_complete(eventually(lambda: [r[3] for r in dialog.rows()] == ["Sent"]))

    settings.set("ga4.endpoint", UNREACHABLE)  # offline now
    loop.run_until_complete(analytics.track("content_publish",
                                            {"platform": "x", "post_type": "thread"}))
    # The dialog follows the queue as it changes: the new event waits, with the reason.
    loop.run_until_complete(eventually(lambda: len(dialog.rows()) == 2
                                       and "Could not reach" in dialog.rows()[0][4]))
    newest, oldest = dialog.rows()
    assert (newest[1], newest[3]) == ("content_publish", "Waiting")
    assert json.loads(newest[2])["platform"] == "x" and json.loads(newest[2])["post_type"] \
        == "thread"
    assert (oldest[1], oldest[3], oldest[4]) == ("login", "Sent", "")
    assert json.loads(oldest[2])["method"] == "Google"
    assert dialog.summary.text() == "1 waiting, 1 sent."
    assert "Never your name, e-mail address, handles, prompts or post texts" in \
        dialog.header.text()
    client_id = (profile.data_dir / "analytics-id").read_text()
    assert client_id in dialog.client_id.text()
    assert dialog.opt_in.isChecked() and dialog.send_now.isEnabled()

    settings.set("ga4.endpoint", f"{ga4}/mp/collect")  # back online
    dialog.send_now.click()
    loop.run_until_complete(eventually(lambda: [r[3] for r in dialog.rows()] == ["Sent"] * 2))
    assert "1 sent" in dialog.problems.text()
    assert [e["name"] for e in received(ga4)] == ["login", "content_publish"]

    settings.set("ga4.endpoint", UNREACHABLE)
    loop.run_until_complete(analytics.track("sign_up", {"method": "GitHub"}))
    loop.run_until_complete(eventually(lambda: len(dialog.rows()) == 3))
    dialog.opt_in.click()  # opting out deletes what waits; what was sent stays listed
    loop.run_until_complete(eventually(lambda: len(dialog.rows()) == 2))
    assert [r[1] for r in dialog.rows()] == ["content_publish", "login"]
    assert settings.get_bool("analytics.opt_in") is False
    assert not dialog.send_now.isEnabled()
    assert loop.run_until_complete(analytics.track("login", {"method": "Google"})) is False
    dialog.close_button.click()
    assert not dialog.isVisible()
