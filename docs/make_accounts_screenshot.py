"""Makes the README's screenshot of the Accounts panel on the sandbox: signed in with Google
and GitHub, X, Instagram and TikTok connected through the sandbox's consent pages (answered over
HTTP as a person's click would be), one X account whose grant was revoked ("needs reconnect").

    .venv/bin/python docs/make_accounts_screenshot.py
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


def main() -> None:
    import keyring
    from keyring.backend import KeyringBackend
    from qt_bench import qt_loop

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.services.container import open_services
    from mbv_desktop.services.sandbox_consent import answer_consent
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
        window.resize(1100, 720)
        window.show()
        panel: Any = window.panels["accounts"]

        async def scenario() -> None:
            await asyncio.sleep(0.3)
            accounts = services.accounts
            for provider, person in (("google", 0), ("github", 0), ("x", 0), ("x", 1),
                                     ("instagram", 0), ("tiktok", 0)):
                async def answer(url: str, person: int = person) -> None:
                    await answer_consent(url, account=person)

                await accounts.authorize(provider, open_url=answer, timeout=20)
            second_x = [a for a in await accounts.accounts() if a.provider == "x"][1]
            await accounts.mark_needs_reconnect("x", second_x.account_id)
            window.show_panel("accounts")
            await asyncio.sleep(0.3)
            await window.tasks.wait_idle()
            panel.status.setText("TikTok account @maya.creates is connected.")
            await asyncio.sleep(0.2)
            window.repaint()
            target = DOCS / "screenshot-accounts.png"
            window.grab().save(str(target), "PNG")
            print(f"Saved {target}")

        loop.run_until_complete(scenario())
        loop.run_until_complete(services.aclose())
        window.close()
        services.close()
        host.stop()


if __name__ == "__main__":
    main()
