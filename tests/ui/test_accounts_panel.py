"""The Accounts panel on the sandbox: sign in with Google and GitHub, connect X and Instagram
(the browser step is the sandbox's consent page, answered as a person would), see each with its
status, disconnect, deny, and cancel a sign-in that waits for the browser."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually, shown_window

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.sandbox_consent import answer_consent


@pytest.fixture
def sandbox_window(data_dir: Path, tmp_path: Path, loop: Any) -> Iterator[Any]:
    from mbv_desktop.services.container import open_services

    with SandboxHost(tmp_path / "sandbox") as host:
        services = open_services(data_dir, env={}, overrides=sandbox_overrides(host.urls()),
                                 sandbox=True)
        with shown_window(services, loop) as w:
            yield w
        services.close()


def _texts(view: Any) -> list[str]:
    return [view.item(i).text() for i in range(view.count())]


def test_sign_in_connect_and_disconnect(sandbox_window: Any, loop: Any, qtbot: Any) -> None:
    window = sandbox_window
    qtbot.keySequence(window, "Ctrl+4")
    assert window.current_panel == "accounts"
    panel = window.panels["accounts"]
    panel.open_url = answer_consent  # the person clicks "Allow" on the sandbox's page

    panel.sign_in_buttons["google"].click()
    assert not panel.connect_buttons["x"].isEnabled()  # one browser step at a time
    loop.run_until_complete(eventually(lambda: panel.identities.count() == 1, timeout=15))
    assert "maya.creator@sandbox.example" in _texts(panel.identities)[0]
    assert "Connected" in _texts(panel.identities)[0]
    for provider in ("x", "instagram"):
        loop.run_until_complete(eventually(lambda: panel.connect_buttons["x"].isEnabled()))
        panel.connect_buttons[provider].click()
        loop.run_until_complete(eventually(lambda p=provider: any(
            {"x": "@maya_creates", "instagram": "@maya.makes"}[p] in t
            for t in _texts(panel.publishing)), timeout=15))
    assert panel.publishing.count() == 2

    panel.publishing.setCurrentRow(0)
    assert panel.disconnect_button.isEnabled()
    panel.disconnect_button.click()
    loop.run_until_complete(eventually(lambda: panel.publishing.count() == 1, timeout=10))
    assert "Disconnected" in panel.status.text()


def test_deny_and_cancel_connect_nothing(sandbox_window: Any, loop: Any, qtbot: Any) -> None:
    window = sandbox_window
    qtbot.keySequence(window, "Ctrl+4")
    panel = window.panels["accounts"]

    async def deny(url: str) -> None:
        await answer_consent(url, allow=False)

    panel.open_url = deny
    panel.connect_buttons["tiktok"].click()
    loop.run_until_complete(eventually(lambda: panel.connect_buttons["tiktok"].isEnabled(),
                                       timeout=15))
    assert "nothing was connected" in panel.status.text()
    assert panel.publishing.count() == 0

    panel.open_url = lambda url: None  # the browser opened; the person walked away
    panel.connect_buttons["x"].click()
    loop.run_until_complete(asyncio.sleep(0.2))
    assert panel.cancel_button.isVisible()
    panel.cancel_button.click()
    loop.run_until_complete(eventually(lambda: panel.connect_buttons["x"].isEnabled()))
    assert "Cancelled" in panel.status.text()
    assert panel.publishing.count() == 0


def test_the_first_run_question_about_analytics_is_asked_once(window: Any, loop: Any) -> None:
    from PySide6.QtWidgets import QMessageBox

    settings = window.services.settings
    assert settings.get_bool("analytics.opt_in") is False  # off until the creator says yes
    window.ask_about_analytics_once()
    box = window._analytics_question
    assert box.isVisible() and "never sent" in box.text()
    box.button(QMessageBox.StandardButton.Yes).click()
    loop.run_until_complete(asyncio.sleep(0.05))
    assert settings.get_bool("analytics.opt_in") and settings.get_bool("analytics.asked")
    window.ask_about_analytics_once()
    assert window._analytics_question is box  # not asked again
