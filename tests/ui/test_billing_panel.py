"""The Billing panel in the real window, on the sandbox's Stripe.

A newcomer opens Billing before signing in (one sentence and the way to Accounts), signs in with
Google, sees the plans side by side with Free current, chooses Creator, pays on the sandbox's
Checkout page (its real HTML form, posted as a browser would) and sees Creator active with the
card and a taxed invoice; upgrades to Pro through the proration preview; generates a post and
sees it counted, then recorded by Stripe's meter; opens an invoice; cancels at period end and
resumes. Stripe's own records (the emulator's) are checked, not only what the panel says.

Also: a declined card leaves the creator on Free; closing the window while Checkout is open
does not wait for the browser; cards are added (Checkout in setup mode), made default and
removed, a charge the bank refuses is said in the error dialog and a failed renewal shows "past
due" in the warning colour; Stripe out of reach keeps the known plan on screen under a banner
with Retry; a plan limit anywhere offers "Upgrade…", which opens Billing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from billing_helpers import customers_of, fast_policy, live_subscriptions, sign_in, subscribe
from helpers import close_window, eventually, shown_window
from integration.test_social_clients import post_json
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.core.errors import PlanLimitReached
from mbv_desktop.core.generation import TaskKind
from mbv_desktop.core.money import day
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.sandbox_consent import answer_consent, pay_sandbox_checkout
from mbv_desktop.ui.panels.billing.panel import NOT_CONFIGURED, SIGN_IN_FIRST

EMAIL = "maya.creator@sandbox.example"
DECLINED = "4000 0000 0000 0002"
CHARGES_FAIL = "4000 0000 0000 0341"  # saved fine; every charge to it is declined


@pytest.fixture
def sandbox_window(data_dir: Path, tmp_path: Path, loop: Any
                   ) -> Iterator[tuple[Any, SandboxHost]]:
    from mbv_desktop.services.container import open_services

    with SandboxHost(tmp_path / "sandbox") as host:
        services = open_services(data_dir, env={}, overrides=sandbox_overrides(host.urls()),
                                 sandbox=True, sandbox_control_url=host.control_url)
        services.billing.policy_client = fast_policy()  # faults cost milliseconds
        with shown_window(services, loop) as window:
            window.resize(1200, 860)
            yield window, host
        services.close()


def billing_panel(window: Any) -> tuple[Any, list[str]]:
    """The panel, with the browser replaced by a list of the pages it was asked to open."""
    panel = window.panels["billing"]
    pages: list[str] = []
    panel.open_url = pages.append
    panel.checkout_poll_s = 0.05
    return panel, pages


def cell(table: Any, row: int, column: int) -> str:
    item = table.item(row, column)
    return "" if item is None else str(item.text())


def test_ctrl_6_opens_billing_which_says_how_to_set_it_up(window: Any, loop: Any,
                                                          qtbot: Any) -> None:
    qtbot.keySequence(window, "Ctrl+6")
    assert window.current_panel == "billing"
    assert window.rail.buttons["billing"].isChecked()
    panel = window.panels["billing"]
    loop.run_until_complete(eventually(lambda: panel.status is not None))
    assert panel.notice.isVisible() and panel.notice_label.text() == NOT_CONFIGURED
    assert not panel.accounts_button.isVisible()
    assert not panel.plans_box.isVisible() and not panel.invoices_box.isVisible()


def test_a_newcomer_subscribes_upgrades_uses_and_cancels(
        sandbox_window: tuple[Any, SandboxHost], loop: Any) -> None:
    """One coroutine on the loop: Qt events handled between separate run_until_complete calls
    would step asyncio tasks with no running loop."""

    async def scenario() -> None:
        window, host = sandbox_window
        services = window.services
        panel, pages = billing_panel(window)

        # Before signing in: the plans, and the way forward in one sentence.
        window.show_panel("billing")
        await eventually(lambda: "creator" in panel.plans.cards, timeout=15)
        assert panel.notice.isVisible() and panel.notice_label.text() == SIGN_IN_FIRST
        assert not panel.plans.cards["creator"].button.isEnabled()
        panel.accounts_button.click()
        assert window.current_panel == "accounts"
        accounts = window.panels["accounts"]
        accounts.open_url = answer_consent  # the person clicks "Allow" on the sandbox's page
        accounts.sign_in_buttons["google"].click()
        await eventually(lambda: accounts.identities.count() == 1, timeout=15)

        # Signed in: Free is current, the others can be chosen.
        window.show_panel("billing")
        cards = panel.plans.cards
        await eventually(lambda: panel.title.text() == "Free · no payment needed"
                         and not panel.notice.isVisible(), timeout=15)
        assert panel.account.text() == f"Signed in as {EMAIL}"
        assert list(cards) == ["free", "creator", "pro"]
        assert cards["free"].badge.isVisible() and not cards["free"].button.isVisible()
        assert [cards[k].price.text() for k in cards] == ["$0 / month", "$12 / month",
                                                          "$29 / month"]
        assert "1,000 AI generations a month" in cards["creator"].points.text()
        assert [cards[k].button.text() for k in ("creator", "pro")] == ["Choose", "Choose"]
        assert not panel.cards.table.isVisible() and panel.cards.empty.isVisible()
        assert not panel.cancel_now_button.isVisible()

        # Sent here by a plan limit's "Upgrade…": the plan that allows more is marked.
        window.show_panel("create")
        window.open_upgrade(PlanLimitReached("Free allows 50.", limit="ai_generations",
                                             upgrade_to="Creator"))
        assert window.current_panel == "billing"
        assert cards["creator"].property("suggested") is True
        assert not cards["pro"].property("suggested")
        assert panel.message.text().startswith("Creator allows more.")

        # Choose Creator: Stripe's Checkout opens in the browser, the panel waits for it.
        cards["creator"].button.click()
        await eventually(lambda: bool(pages), timeout=15)
        assert "/checkout/pay/cs_" in pages[0]
        assert panel.waiting.isVisible()
        assert panel.waiting_label.text().startswith("Waiting for payment in your browser")
        assert not cards["pro"].button.isEnabled()  # one Checkout page at a time
        assert await pay_sandbox_checkout(pages[0]) == "complete"
        await eventually(lambda: panel.title.text().startswith("Creator · active · renews "),
                         timeout=15)
        await eventually(lambda: not panel.waiting.isVisible())
        sub = panel.status.subscription
        assert panel.title.text() == f"Creator · active · renews {day(sub.current_period_end)}"
        assert panel.message.text().startswith("You are on Creator now")
        assert cards["creator"].badge.isVisible() and not cards["free"].badge.isVisible()
        await eventually(lambda: panel.cards.table.rowCount() == 1)
        assert [cell(panel.cards.table, 0, c) for c in range(3)] == \
            ["Visa \u2022\u2022\u2022\u2022 4242", "12/2034", "Default"]
        await eventually(lambda: panel.invoices.table.rowCount() == 1)
        # Creator's $12.00 and the sandbox's 8 % tax, as Stripe computed them
        assert [cell(panel.invoices.table, 0, c) for c in (2, 3, 4)] == \
            ["Paid", "$12.96", "$0.96"]

        # Upgrade to Pro: what it costs now, then the change.
        assert cards["pro"].button.text() == "Upgrade"
        assert cards["free"].button.text() == "Downgrade"
        cards["pro"].button.click()
        await eventually(lambda: panel.preview_dialog is not None, timeout=15)
        dialog = panel.preview_dialog
        lines = [(what.text(), amount.text()) for what, amount in dialog.lines]
        assert lines[0][0].startswith("Unused time on Creator") and lines[0][1] == "\u2212$12.00"
        assert lines[1][0].startswith("Remaining time on Pro") and lines[1][1] == "$29.00"
        assert dialog.tax.text() == "$1.36" and "$18.36" in dialog.total.text()
        assert "Visa \u2022\u2022\u2022\u2022 4242" in dialog.note.text()
        dialog.change_button.click()
        await eventually(lambda: panel.title.text().startswith("Pro · active · renews "),
                         timeout=15)
        await eventually(lambda: panel.invoices.table.rowCount() == 2, timeout=15)
        assert cell(panel.invoices.table, 0, 3) == "$18.36"  # the newest first
        assert [cards[k].button.text() for k in ("free", "creator")] == ["Downgrade",
                                                                         "Downgrade"]

        # A generation counts against the plan, then Stripe's meter records it.
        figure = panel.usage.figures["ai_generations"]
        note = panel.usage.notes["ai_generations"]
        await services.generation.generate_text(TaskKind.X_POST, topic="harbour at dawn")
        await eventually(lambda: figure.text() == "1 of 10,000")
        assert "1 waiting to send" in note.text()
        assert panel.usage.figures["connected_accounts"].text() == "0 of 15"
        report = await services.billing.sync.flush_usage()
        assert report.sent == 1
        window.activateWindow()  # the preview dialog had it
        await eventually(lambda: QApplication.activeWindow() is window)
        panel.invoices.table.setFocus()
        QTest.keyClick(panel.invoices.table, Qt.Key.Key_F5)  # Refresh: ask Stripe again
        await eventually(lambda: note.text() == "Stripe has recorded 1", timeout=15)

        # Enter on the selected invoice opens Stripe's page for it; PDF its file.
        newest = panel.status.invoices[0]
        pages.clear()
        panel.invoices.table.setFocus()
        panel.invoices.table.selectRow(0)
        QTest.keyClick(panel.invoices.table, Qt.Key.Key_Return)
        assert pages == [newest.hosted_invoice_url]
        panel.invoices.pdf_button.click()
        assert pages[-1] == newest.invoice_pdf

        # Cancel at the end of the period, then change one's mind.
        panel.cancel_end_button.click()
        assert panel.confirm_box is not None
        assert panel.confirm_box.windowTitle() == "Cancel Pro?"
        assert "nothing more is charged" in panel.confirm_box.text()
        panel.confirm_yes.click()
        await eventually(lambda: " · ends on " in panel.title.text(), timeout=15)
        assert panel.title.text() == f"Pro · active · ends on {day(sub.current_period_end)}"
        assert panel.resume_button.isVisible() and not panel.cancel_end_button.isVisible()
        assert cards["free"].note.text().startswith("From ")
        panel.resume_button.click()
        await eventually(lambda: " · renews " in panel.title.text(), timeout=15)
        await eventually(lambda: "goes on" in panel.message.text())

        # What Stripe itself holds: one customer, one live Pro subscription, not ending.
        [account] = await services.accounts.accounts()
        [customer] = customers_of(host, f"google:{account.account_id}")
        assert customer["id"] == panel.status.customer_id
        [live] = live_subscriptions(host, customer["id"])
        assert live["cancel_at_period_end"] is False
        assert panel.status.plan is not None and panel.status.plan.name == "Pro"
        assert window.tasks.last_error is None

    loop.run_until_complete(asyncio.wait_for(scenario(), 120))


def test_a_declined_card_leaves_the_creator_on_free(
        sandbox_window: tuple[Any, SandboxHost], loop: Any) -> None:
    from mbv_desktop.integrations.payments.errors import CardDeclined

    async def scenario() -> None:
        window, host = sandbox_window
        panel, pages = billing_panel(window)
        await sign_in(window.services)
        window.show_panel("billing")
        await eventually(lambda: panel.title.text().startswith("Free")
                         and panel.plans.cards["creator"].button.isEnabled(), timeout=15)
        panel.plans.cards["creator"].button.click()
        await eventually(lambda: bool(pages), timeout=15)
        with pytest.raises(CardDeclined, match="declined"):
            await pay_sandbox_checkout(pages[0], card=DECLINED)
        await asyncio.sleep(0.3)  # the panel goes on following the page: it stays payable
        assert panel.waiting_for_checkout and panel.waiting.isVisible()
        assert panel.title.text().startswith("Free")
        panel.wait_cancel_button.click()
        await eventually(lambda: not panel.waiting.isVisible())
        assert panel.message.text().startswith("Stopped waiting")
        assert panel.plans.cards["creator"].button.isEnabled()
        panel.refresh_button.click()
        await window.tasks.wait_idle()
        assert panel.title.text() == "Free · no payment needed"
        assert panel.status.subscription is None and not panel.status.invoices
        assert live_subscriptions(host, panel.status.customer_id) == []

    loop.run_until_complete(asyncio.wait_for(scenario(), 60))


def test_closing_the_window_does_not_wait_for_the_browser(data_dir: Path, tmp_path: Path,
                                                          loop: Any) -> None:
    from PySide6.QtCore import QCoreApplication, QEvent

    from mbv_desktop.services.container import open_services
    from mbv_desktop.ui.main_window import MainWindow

    async def scenario(window: Any) -> None:
        panel, pages = billing_panel(window)
        await sign_in(window.services)
        window.show_panel("billing")
        await eventually(lambda: panel.plans.cards.get("pro") is not None
                         and panel.plans.cards["pro"].button.isEnabled(), timeout=15)
        panel.plans.cards["pro"].button.click()
        await eventually(lambda: bool(pages), timeout=15)
        assert panel.waiting_for_checkout
        await asyncio.wait_for(close_window(window), 5)  # the page is never paid
        assert not panel.waiting_for_checkout

    with SandboxHost(tmp_path / "sandbox") as host:
        services = open_services(data_dir, env={}, overrides=sandbox_overrides(host.urls()),
                                 sandbox=True)
        asyncio.set_event_loop(loop)
        window = MainWindow(services, show_dialogs=False, remember_state=False)
        window.show()
        try:
            loop.run_until_complete(scenario(window))
        finally:
            window.deleteLater()
            QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
            services.close()


def test_cards_are_added_made_default_and_removed_and_a_refused_charge_is_said(
        sandbox_window: tuple[Any, SandboxHost], loop: Any) -> None:
    async def scenario() -> None:
        window, host = sandbox_window
        services = window.services
        panel, pages = billing_panel(window)
        await sign_in(services)
        assert (await subscribe(services, "creator")).status == "paid"
        window.show_panel("billing")
        table = panel.cards.table
        await eventually(lambda: table.rowCount() == 1, timeout=15)

        # Add card: Stripe's page in setup mode, followed like a payment.
        panel.cards.add_button.click()
        await eventually(lambda: bool(pages), timeout=15)
        assert panel.waiting_label.text().startswith("Waiting for your card in your browser")
        await pay_sandbox_checkout(pages[0], card=CHARGES_FAIL)
        await eventually(lambda: table.rowCount() == 2, timeout=15)
        await eventually(lambda: not panel.waiting.isVisible())
        rows = {cell(table, r, 0): cell(table, r, 2) for r in range(2)}
        assert rows == {"Visa •••• 4242": "",
                        "Visa •••• 0341": "Default"}

        # The bank refuses the upgrade's charge: said in the error dialog, nothing changes.
        panel.plans.cards["pro"].button.click()
        await eventually(lambda: panel.preview_dialog is not None, timeout=15)
        assert "Visa •••• 0341" in panel.preview_dialog.note.text()
        panel.preview_dialog.change_button.click()
        await eventually(lambda: window.tasks.last_error is not None, timeout=15)
        assert window.tasks.last_error == "Your card was declined."
        assert panel.title.text().startswith("Creator · active")
        await eventually(lambda: table.rowCount() == 2, timeout=15)  # read back from Stripe

        # A month later the renewal is charged to the refusing card: past due, in warning.
        await asyncio.to_thread(post_json, f"{host.urls()['stripe']}/_settings",
                                {"advance": 32 * 86400})
        panel.refresh_button.click()
        await eventually(lambda: panel.title.text().startswith("Creator · past due"),
                         timeout=15)
        assert panel.title.property("state") == "warning"
        assert "could not charge your card" in panel.hint.text()
        assert panel.hint.property("state") == "warning"

        # Back to the card that works, and the other one removed.
        row_of = {cell(table, r, 0): r for r in range(2)}
        table.selectRow(row_of["Visa •••• 4242"])
        assert panel.cards.default_button.isEnabled()
        panel.cards.default_button.click()
        await eventually(lambda: any(cell(table, r, 0).endswith("4242")
                                     and cell(table, r, 2) == "Default" for r in range(2)),
                         timeout=15)
        row_of = {cell(table, r, 0): r for r in range(2)}
        table.selectRow(row_of["Visa •••• 0341"])
        panel.cards.remove_button.click()
        assert panel.confirm_box is not None
        assert panel.confirm_box.windowTitle() == "Remove Visa •••• 0341?"
        panel.confirm_yes.click()
        await eventually(lambda: table.rowCount() == 1, timeout=15)
        assert cell(table, 0, 0).endswith("4242") and cell(table, 0, 2) == "Default"

    loop.run_until_complete(asyncio.wait_for(scenario(), 90))


def test_stripe_out_of_reach_keeps_the_known_plan_under_a_banner(
        sandbox_window: tuple[Any, SandboxHost], loop: Any) -> None:
    async def scenario() -> None:
        window, host = sandbox_window
        services = window.services
        panel, _pages = billing_panel(window)
        await sign_in(services)
        assert (await subscribe(services, "creator")).status == "paid"
        window.show_panel("billing")
        await eventually(lambda: panel.title.text().startswith("Creator · active"), timeout=15)
        assert not panel.stale_banner.isVisible()

        host.faults.add("stripe", Fault("503", times=None))
        panel.retry_button.click()  # as the banner's Retry, or Refresh, would
        await eventually(panel.stale_banner.isVisible, timeout=20)
        assert panel.stale_label.text().startswith(
            "Stripe could not be reached \u2014 showing what was known at ")
        assert "Stripe could not be reached" in panel.stale_label.toolTip()
        assert panel.title.text().startswith("Creator · active")  # what was known stays
        assert panel.cards.table.rowCount() == 1 and panel.invoices.table.rowCount() == 1
        assert window.tasks.last_error is None  # said in the banner, not in a dialog

        host.faults.clear("stripe")
        # Stripe is back: once the circuit breaker's pause is over, one Retry clears it.
        await eventually(panel.retry_button.isEnabled, timeout=20)
        await asyncio.sleep(0.3)  # the breaker's pause (fast_policy) is over
        panel.retry_button.click()
        await eventually(panel.retry_button.isEnabled, timeout=20)
        await window.tasks.wait_idle()
        assert not panel.stale_banner.isVisible()
        assert panel.title.text().startswith("Creator · active")

    loop.run_until_complete(asyncio.wait_for(scenario(), 90))


def test_a_plan_limit_offers_upgrade_which_opens_billing(window: Any, loop: Any) -> None:
    """Any task stopped by a plan limit (here one whose widget handles errors itself, as the
    Generate box does) shows the limit's sentence with "Upgrade…"."""
    limit = PlanLimitReached("Your Free plan includes 50 AI generations a period and 50 are "
                             "used until 01 Dec. Creator allows 1,000.",
                             limit="ai_generations", upgrade_to="Creator")

    async def generate() -> None:
        raise limit

    window.tasks._show_dialogs = True  # the real dialog, as the app shows it
    handled: list[BaseException] = []
    window.tasks.run(generate(), label="Generating",
                     on_error=lambda e: handled.append(e) or True)
    loop.run_until_complete(eventually(lambda: bool(window.findChildren(QMessageBox))))
    [box] = window.findChildren(QMessageBox)
    assert handled == [limit]  # the widget heard of it too
    assert box.text() == str(limit)
    [upgrade] = [b for b in box.buttons() if b.text() == "Upgrade\u2026"]
    assert window.current_panel != "billing"
    upgrade.click()
    assert window.current_panel == "billing"
    loop.run_until_complete(eventually(lambda: not any(
        b.isVisible() for b in window.findChildren(QMessageBox))))

    # The biggest plan has nothing to upgrade to: the sentence alone.
    window.tasks.run(_raise(PlanLimitReached("Pro allows 15 accounts.",
                                             limit="connected_accounts")), label="Connecting")
    loop.run_until_complete(eventually(lambda: any(
        b.isVisible() for b in window.findChildren(QMessageBox))))
    [box] = [b for b in window.findChildren(QMessageBox) if b.isVisible()]
    assert "Upgrade\u2026" not in [b.text() for b in box.buttons()]
    box.close()
    window.tasks._show_dialogs = False


async def _raise(error: BaseException) -> None:
    raise error
