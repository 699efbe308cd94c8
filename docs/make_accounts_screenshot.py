"""Makes the README's screenshot of the Accounts panel on the sandbox: signed in with Google
and GitHub, X, Instagram and TikTok connected through the sandbox's consent pages (answered over
HTTP as a person's click would be), one X account whose grant was revoked ("needs reconnect").

    .venv/bin/python docs/make_accounts_screenshot.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))


def main() -> None:
    from sandbox_window import sandbox_window

    from mbv_desktop.services.sandbox_consent import answer_consent

    with sandbox_window(1100, 720) as (loop, _host, services, window):
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


if __name__ == "__main__":
    main()
