"""A newcomer on the sandbox, in the real window: connect X, Instagram and TikTok from the
Accounts panel, write a thread, a carousel and a video post in Create, schedule each with the
Schedule dialog, press "Publish due now" and see each post's state and link in the Schedule
panel. The emulators' own records say each went out once.

With ``PUBLISHING_SCREENSHOTS`` set, the Schedule panel's queue and week are saved there as PNGs
(how the README's publishing screenshots are made).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import close_window, eventually
from integration.test_publishing_sandbox import THREAD, fast_emulators, portrait_clip
from integration.test_social_clients import get_json, picture
from PySide6.QtCore import QDate, QDateTime, QTime
from support.s3 import s3, s3_server  # noqa: F401 - fixtures

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.sandbox.s3 import SandboxS3
from mbv_desktop.services.container import open_services
from mbv_desktop.services.sandbox_consent import answer_consent
from mbv_desktop.ui.main_window import MainWindow


@pytest.fixture
def sandbox_window(data_dir: Path, tmp_path: Path, loop: Any,
                   s3: SandboxS3) -> Iterator[tuple[Any, SandboxHost]]:  # noqa: F811
    from PySide6.QtCore import QCoreApplication, QEvent

    host = SandboxHost(tmp_path / "sandbox")
    host.start()
    fast_emulators(host)
    services = open_services(data_dir, env={},
                             overrides=sandbox_overrides(host.urls() | {"r2": s3.endpoint_url}),
                             sandbox=True, sandbox_control_url=host.control_url)
    asyncio.set_event_loop(loop)
    window = MainWindow(services, show_dialogs=False, remember_state=False)
    window.resize(1280, 800)
    window.show()
    loop.run_until_complete(eventually(lambda: window.create_panel.generate_box is not None))
    services.publishing.start()  # as the app does after its first paint: retries come by
    yield window, host
    loop.run_until_complete(close_window(window))
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    services.close()
    host.stop()



async def connect_all(window: Any) -> None:
    window.show_panel("accounts")
    panel = window.panels["accounts"]
    panel.open_url = answer_consent
    for provider in ("x", "instagram", "tiktok"):
        before = panel.publishing.count()
        button = panel.connect_buttons[provider]
        button.click()
        await eventually(lambda n=before: panel.publishing.count() > n, timeout=15)
        await eventually(button.isEnabled)


async def write_and_schedule(window: Any, text: str, files: list[Path],
                             account_provider: str) -> None:
    services = window.services
    create = window.create_panel
    window.show_panel("create")
    previous = create.current_draft_id
    create.new_draft()
    await eventually(lambda: create.current_draft_id not in (None, previous))
    create.editor.setPlainText(text)
    await eventually(lambda: create.current_draft_id is not None and not create.dirty)
    if files:
        added = await services.library.add_files(files)
        create.attach_assets([a.asset.id for a in added if a.asset is not None])
        await window.tasks.wait_idle()
    dialog = window.schedule_open_draft()
    await eventually(lambda: bool(dialog.account_boxes))
    box = next(b for b in dialog.account_boxes.values()
               if b.property("provider") == account_provider)
    now = datetime.now()
    dialog.zone.setCurrentText("UTC")
    utc = datetime.utcnow()
    dialog.when.setDateTime(QDateTime(QDate(utc.year, utc.month, utc.day),
                                      QTime(utc.hour, utc.minute)))
    box.setChecked(True)
    await eventually(dialog.schedule_button.isEnabled, timeout=10)
    dialog.schedule_button.click()
    await eventually(lambda: dialog.result() == dialog.DialogCode.Accepted)
    assert (datetime.now() - now).total_seconds() < 30


def test_a_thread_a_carousel_and_a_video_scheduled_and_published_from_the_window(
        sandbox_window: tuple[Any, SandboxHost], loop: Any, tmp_path: Path) -> None:
    """Everything runs in one coroutine on the loop: Qt events handled between separate
    run_until_complete calls would step asyncio tasks with no running loop (seen under load
    as a post left "Sending")."""

    async def scenario() -> None:
        window, host = sandbox_window
        await connect_all(window)
        photos = [picture(tmp_path / f"frame{i}.jpg", (60 + 50 * i, 110, 170)) for i in range(3)]
        await write_and_schedule(window, THREAD, [], "x")
        await write_and_schedule(window, "Dawn in three frames #sunrise", photos, "instagram")
        await write_and_schedule(window, "Sixty seconds of dawn #timelapse",
                                 [portrait_clip(tmp_path / "dawn.mp4")], "tiktok")

        panel = window.panels["schedule"]
        window.show_panel("schedule")
        panel.tabs.setCurrentWidget(panel.queue)
        await eventually(lambda: panel.queue.topLevelItemCount() == 3)
        panel.publish_button.click()

        def states() -> list[str]:
            return [panel.queue.topLevelItem(i).text(3)
                    for i in range(panel.queue.topLevelItemCount())]

        try:
            await eventually(lambda: states() == ["Published"] * 3, timeout=90)
        except AssertionError:  # say why: each target's history
            rows = await window.services.scheduling.targets()
            history = {r.provider: [e.reason for e in
                                    await window.services.scheduling.history(r.id)]
                       for r in rows}
            raise AssertionError(f"not all published: {states()} {history}") from None
        rows = await window.services.scheduling.targets()
        by = {r.provider: r for r in rows}
        assert {p: r.post_type for p, r in by.items()} == {"x": "thread", "instagram": "carousel",
                                                           "tiktok": "video"}
        links = {panel.queue.topLevelItem(i).text(4) for i in range(3)}
        assert links == {r.url for r in rows} and all(link.startswith("https://") for link in links)
        urls = host.urls()
        assert len(get_json(f"{urls['x']}/_posts")["data"]) >= 2  # the thread's parts
        [carousel] = get_json(f"{urls['facebook']}/_posts")["data"]
        assert carousel["media_type"] == "CAROUSEL_ALBUM" and len(carousel["children"]) == 3
        assert len(get_json(f"{urls['tiktok']}/_posts")["data"]) == 1

        shots = os.environ.get("PUBLISHING_SCREENSHOTS")
        if shots:
            from PySide6.QtWidgets import QApplication

            from mbv_desktop.ui.theme import apply_theme

            apply_theme(QApplication.instance(), "light")  # type: ignore[arg-type]
            panel.queue.setCurrentItem(panel.queue.topLevelItem(0))
            await window.tasks.wait_idle()
            await asyncio.sleep(0.3)
            window.grab().save(str(Path(shots) / "screenshot-publishing-queue.png"), "PNG")
            panel.tabs.setCurrentWidget(panel.month_tab)
            await asyncio.sleep(0.3)
            window.grab().save(str(Path(shots) / "screenshot-publishing-month.png"), "PNG")

    loop.run_until_complete(scenario())
