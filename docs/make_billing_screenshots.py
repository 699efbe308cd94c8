"""Makes the README's screenshots of the Billing panel on the sandbox: the plans side by side on
Free, the proration preview of moving from Creator to Pro, and Pro active with its card,
invoices and this period's usage. Checkout is the sandbox's page, paid over HTTP with the test
card as a person's browser would.

    .venv/bin/python docs/make_billing_screenshots.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "bench"))


async def until(condition: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the panel did not get there")
        await asyncio.sleep(0.05)


def main() -> None:
    import keyring
    from keyring.backend import KeyringBackend
    from qt_bench import qt_loop

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.core.generation import TaskKind
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.services.container import open_services
    from mbv_desktop.services.sandbox_consent import answer_consent, pay_sandbox_checkout
    from mbv_desktop.ui.main_window import MainWindow
    from mbv_desktop.ui.theme import apply_theme

    class MemoryKeyring(KeyringBackend):  # never the real keyring of the machine making docs
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    keyring.set_keyring(MemoryKeyring())
    loop = qt_loop()
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance())  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        host = SandboxHost(Path(tmp) / "sandbox")
        host.start()
        services = open_services(Path(tmp) / "data", env={},
                                 overrides=sandbox_overrides(host.urls()), sandbox=True,
                                 sandbox_control_url=host.control_url)
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.resize(1200, 860)
        window.show()
        panel: Any = window.panels["billing"]
        pages: list[str] = []
        panel.open_url = pages.append
        panel.checkout_poll_s = 0.2

        async def shot(widget: Any, name: str) -> None:
            await window.tasks.wait_idle()
            await asyncio.sleep(0.3)
            widget.repaint()
            target = DOCS / name
            widget.grab().save(str(target), "PNG")
            print(f"Saved {target}")

        async def scenario() -> None:
            await asyncio.sleep(0.3)
            await services.accounts.authorize("google", open_url=answer_consent, timeout=20)
            window.show_panel("billing")
            await until(lambda: panel.title.text().startswith("Free"))
            await shot(window, "screenshot-billing-plans.png")

            panel.plans.cards["creator"].button.click()
            await until(lambda: pages)
            await pay_sandbox_checkout(pages[-1])
            await until(lambda: panel.title.text().startswith("Creator"))
            for _ in range(3):
                await services.generation.generate_text(TaskKind.X_POST, topic="sunrise")
            panel.plans.cards["pro"].button.click()
            await until(lambda: panel.preview_dialog is not None)
            dialog = panel.preview_dialog
            await shot(dialog, "screenshot-billing-preview.png")

            dialog.change_button.click()
            await until(lambda: panel.title.text().startswith("Pro"))
            for _ in range(4):
                await services.generation.generate_text(TaskKind.X_POST, topic="harbour")
            await services.billing.sync.flush_usage()
            for _ in range(2):
                await services.generation.generate_text(TaskKind.INSTAGRAM_CAPTION, topic="dawn")
            panel.refresh_from_stripe(force=True)
            await until(lambda: panel.invoices.table.rowCount() == 2)
            panel.say("")
            await shot(window, "screenshot-billing-active.png")

        loop.run_until_complete(scenario())
        loop.run_until_complete(services.aclose())
        window.close()
        services.close()
        host.stop()


if __name__ == "__main__":
    main()
