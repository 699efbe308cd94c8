"""Makes the README's screenshots of the Create panel on the sandbox: drafts in the list and
a generation with three variants and an image. Offscreen, so it runs anywhere.

    .venv/bin/python docs/make_screenshots.py
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
DOCS = Path(__file__).resolve().parent


def main() -> None:
    import qasync
    from PySide6.QtWidgets import QApplication

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.core.generation import Provider, TaskKind
    from mbv_desktop.core.platforms import Platform
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow
    from mbv_desktop.ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(4))
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        host = SandboxHost(Path(tmp) / "sandbox", stream_delay=0.002)
        host.start()
        services = open_services(Path(tmp) / "data", env={},
                                 overrides=sandbox_overrides(host.urls()), sandbox=True,
                                 sandbox_control_url=host.control_url)
        drafting = services.drafting

        async def fill() -> None:
            for body, tags, platforms in [
                ("Behind the scenes of the studio shoot, part 2", ["bts"], [Platform.TIKTOK]),
                ("Thread: what 100 days of daily posting taught me", ["growth"], [Platform.X]),
                ("週末のカフェ巡り ☕ おすすめはどこ？ #tokyo #cafe", ["travel"],
                 [Platform.INSTAGRAM]),
            ]:
                await drafting.create(body, tags=tags, platforms=platforms)

        loop.run_until_complete(fill())
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.resize(1280, 860)
        window.show()

        async def scenario() -> None:
            await asyncio.sleep(0.3)
            panel = window.create_panel
            panel.new_draft()
            await asyncio.sleep(0.3)
            panel.platform_boxes[Platform.INSTAGRAM].setChecked(True)
            box = panel.generate_box
            assert box is not None
            box.provider_box.setCurrentIndex(box.provider_box.findData(Provider.OPENAI))
            box.task_box.setCurrentIndex(box.task_box.findData(TaskKind.INSTAGRAM_CAPTION))
            box.topic_edit.setText("our sunrise coffee cart opening on Friday")
            box.variants_box.setValue(3)
            box.generate()
            deadline = time.monotonic() + 20
            while not box.use_button.isEnabled() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            box.use_button.click()
            await asyncio.sleep(0.2)
            box.make_image(prompt="a coffee cart on a harbour at sunrise",
                           draft_id=panel.current_draft_id)
            while not box.image_button.isEnabled() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await window.tasks.wait_idle()
            await asyncio.sleep(0.3)
            window.repaint()
            target = DOCS / "screenshot-generate.png"
            window.grab().save(str(target), "PNG")
            print(f"Saved {target}")

        loop.run_until_complete(scenario())
        loop.run_until_complete(services.aclose())
        host.stop()


if __name__ == "__main__":
    main()
