"""Makes the README's screenshots of the Billing panel on the sandbox: the plans side by side on
Free, the proration preview of moving from Creator to Pro, and Pro active with its card,
invoices and this period's usage. Checkout is the sandbox's page, paid over HTTP with the test
card as a person's browser would.

    .venv/bin/python docs/make_billing_screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))


async def until(condition: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the panel did not get there")
        await asyncio.sleep(0.05)


def main() -> None:
    from sandbox_window import sandbox_window

    from mbv_desktop.core.generation import TaskKind
    from mbv_desktop.services.sandbox_consent import answer_consent, pay_sandbox_checkout

    with sandbox_window(1200, 860) as (loop, _host, services, window):
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


if __name__ == "__main__":
    main()
