"""The Billing panel (Ctrl+6): plan and its status, the plans side by side, the subscription's
actions, saved cards, invoices and this period's usage.

Paying and adding a card happen on Stripe-hosted Checkout pages in the system browser; meanwhile
the panel says it waits for the browser (with Cancel) and follows the page until it is paid.
Changing a paid plan first shows what it costs now (Stripe's proration preview).

Showing the panel paints what SQLite knows at once (``cached_status``), then asks Stripe
(``refresh``) in the background; the billing service's change events redraw it. Stripe out of
reach: what was known is kept on screen under a banner with Retry. Every call runs through the
task runner; failures (a declined card included) go to its one error dialog.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.money import day
from mbv_desktop.services.container import Services
from mbv_desktop.ui.panels.billing.format import card_label, headline, renewal_hint, stale_text
from mbv_desktop.ui.panels.billing.plans import PlansView, repolish
from mbv_desktop.ui.tasks import TaskRunner

if TYPE_CHECKING:
    from mbv_desktop.services.billing import CheckoutResult, CheckoutStart
    from mbv_desktop.services.billing_status import BillingStatus, Plan
    from mbv_desktop.ui.panels.billing.preview_dialog import PreviewDialog
    from mbv_desktop.ui.panels.billing.sections import CardsView, InvoicesView, UsageView

log = logging.getLogger(__name__)

REFRESH_MIN_S = 20.0
"""Showing the panel again within this long does not ask Stripe again (Refresh / F5 does)."""
REDRAW_MS = 80  # change events that come in a burst redraw once

NOT_CONFIGURED = ("Billing is not set up: Stripe's address and secret key are missing. Start "
                  "with --sandbox to try it without an account, or set stripe.api_base and "
                  "stripe.secret_key (mbv-desktop config set \u2026).")
SIGN_IN_FIRST = ("Sign in with Google or GitHub under Accounts to choose a plan: your plan "
                 "belongs to your sign-in, not to this computer.")

STYLE = """
#billingTitle { font-size: 20px; font-weight: 600; }
#billingTitle[state="warning"] { color: #b3261e; }
QLabel#billingHint[state="warning"] { color: #b3261e; }
#staleBanner { background: #fff4ce; border: 1px solid #e3c35b; border-radius: 8px; }
#staleBanner QLabel { color: #4d3a00; }
#waitingBar { background: palette(alternate-base); border: 1px solid palette(mid);
              border-radius: 8px; }
#noticeBox { background: palette(alternate-base); border-radius: 8px; }
#planCard { background: palette(base); border: 1px solid palette(mid); border-radius: 10px; }
#planCard[current="true"] { border: 2px solid palette(highlight); }
#planCard[suggested="true"] { border: 2px dashed #c77700; }
#planName { font-size: 15px; font-weight: 600; }
#planPrice { font-size: 18px; }
#planBadge { background: palette(highlight); color: palette(highlighted-text);
             border-radius: 8px; padding: 1px 8px; font-weight: 600; }
QProgressBar#usageBar { border: none; border-radius: 4px; background: palette(midlight); }
QProgressBar#usageBar::chunk { border-radius: 4px; background: palette(highlight); }
QProgressBar#usageBar[state="over"]::chunk { background: #d93a3a; }
"""


def _open_in_browser(url: str) -> None:
    """The system browser: Checkout, invoices and the portal are Stripe's own pages."""
    if not QDesktopServices.openUrl(QUrl(url)):
        log.warning("billing: no browser opened %s", url.split("?")[0])


class BillingPanel(QWidget):
    """``open_panel_requested`` asks the window for another panel (Accounts, to sign in)."""

    open_panel_requested = Signal(str)

    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("billingPanel")
        self._services = services
        self._tasks = tasks
        #: Opens Stripe's pages; tests capture the address, a coroutine function is awaited.
        self.open_url: Callable[[str], object] = _open_in_browser
        self.checkout_poll_s = 1.0
        self.status: BillingStatus | None = None
        self.signed_in_as: str | None = None
        self.confirm_box: QMessageBox | None = None
        self.confirm_yes: QPushButton | None = None
        self.preview_dialog: PreviewDialog | None = None
        self._built = False
        self._listening = False
        self._last_refresh = float("-inf")
        self._flow: asyncio.Task[Any] | None = None
        self._refreshing: asyncio.Task[Any] | None = None
        self._checkout_url: str | None = None
        self._redraw = QTimer(self)
        self._redraw.setSingleShot(True)
        self._redraw.setInterval(REDRAW_MS)
        self._redraw.timeout.connect(self.reload)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    # --- building ----------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._ensure_built()
        self._listen()
        self.reload()
        self.refresh_from_stripe(force=False)

    def _ensure_built(self) -> None:
        if self._built:
            return
        self._built = True
        from mbv_desktop.ui.panels.billing.sections import CardsView, InvoicesView, UsageView

        self.setStyleSheet(STYLE)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget(scroll)
        scroll.setWidget(page)
        self.scroll_area = scroll
        self._layout.addWidget(scroll)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(10)

        self.title = QLabel("Billing", page)
        self.title.setObjectName("billingTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.account = QLabel("", page)
        self.account.setObjectName("muted")
        self.refresh_button = QPushButton("&Refresh", page)
        self.refresh_button.setToolTip("Ask Stripe again (F5)")
        self.refresh_button.clicked.connect(lambda: self.refresh_from_stripe(force=True))
        self.portal_button = QPushButton("Manage in Stripe\u2026", page)
        self.portal_button.setToolTip("Stripe's customer portal in your browser: billing "
                                      "address, tax ids, past invoices")
        self.portal_button.clicked.connect(self.open_portal)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(self.title)
        titles.addWidget(self.account)
        header = QHBoxLayout()
        header.addLayout(titles, 1)
        header.addWidget(self.portal_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(header)

        self.notice = QFrame(page)
        self.notice.setObjectName("noticeBox")
        self.notice_label = QLabel("", self.notice)
        self.notice_label.setWordWrap(True)
        self.accounts_button = QPushButton("Open &Accounts", self.notice)
        self.accounts_button.clicked.connect(lambda: self.open_panel_requested.emit("accounts"))
        row = QHBoxLayout(self.notice)
        row.setContentsMargins(12, 10, 12, 10)
        row.addWidget(self.notice_label, 1)
        row.addWidget(self.accounts_button)
        self.notice.hide()
        layout.addWidget(self.notice)

        self.stale_banner = QFrame(page)
        self.stale_banner.setObjectName("staleBanner")
        self.stale_label = QLabel("", self.stale_banner)
        self.stale_label.setWordWrap(True)
        self.retry_button = QPushButton("Re&try", self.stale_banner)
        self.retry_button.clicked.connect(lambda: self.refresh_from_stripe(force=True))
        row = QHBoxLayout(self.stale_banner)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.stale_label, 1)
        row.addWidget(self.retry_button)
        self.stale_banner.hide()
        layout.addWidget(self.stale_banner)

        self.waiting = QFrame(page)
        self.waiting.setObjectName("waitingBar")
        self.waiting_label = QLabel("", self.waiting)
        self.waiting_label.setWordWrap(True)
        self.reopen_button = QPushButton("Open the page again", self.waiting)
        self.reopen_button.clicked.connect(self._reopen_checkout)
        self.wait_cancel_button = QPushButton("Cancel", self.waiting)
        self.wait_cancel_button.clicked.connect(self.stop_waiting)
        row = QHBoxLayout(self.waiting)
        row.setContentsMargins(12, 8, 12, 8)
        row.addWidget(self.waiting_label, 1)
        row.addWidget(self.reopen_button)
        row.addWidget(self.wait_cancel_button)
        self.waiting.hide()
        layout.addWidget(self.waiting)

        self.hint = QLabel("", page)
        self.hint.setObjectName("billingHint")
        self.hint.setWordWrap(True)
        self.cancel_end_button = QPushButton("Cancel at period end\u2026", page)
        self.cancel_end_button.clicked.connect(self.ask_cancel_at_period_end)
        self.resume_button = QPushButton("Resume", page)
        self.resume_button.setToolTip("Keep your plan going after this period")
        self.resume_button.clicked.connect(self.resume)
        self.cancel_now_button = QPushButton("Cancel now\u2026", page)
        self.cancel_now_button.clicked.connect(self.ask_cancel_now)
        self.subscription_row = QWidget(page)
        row = QHBoxLayout(self.subscription_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.hint, 1)
        row.addWidget(self.resume_button)
        row.addWidget(self.cancel_end_button)
        row.addWidget(self.cancel_now_button)
        layout.addWidget(self.subscription_row)

        self.message = QLabel("", page)
        self.message.setWordWrap(True)
        self.message.hide()
        layout.addWidget(self.message)

        self.plans_box = QGroupBox("Plans", page)
        self.plans = PlansView(self.plans_box)
        self.plans.chosen.connect(self.choose)
        QVBoxLayout(self.plans_box).addWidget(self.plans)
        layout.addWidget(self.plans_box)

        self.usage_box = QGroupBox("Usage", page)
        self.usage: UsageView = UsageView(self.usage_box)
        QVBoxLayout(self.usage_box).addWidget(self.usage)
        self.cards_box = QGroupBox("Payment methods", page)
        self.cards: CardsView = CardsView(self.cards_box)
        self.cards.add_requested.connect(self.add_card)
        self.cards.default_requested.connect(self.set_default_card)
        self.cards.remove_requested.connect(self.ask_remove_card)
        QVBoxLayout(self.cards_box).addWidget(self.cards)
        middle = QWidget(page)  # the two boxes share a height; the row does not grow
        middle.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        row = QHBoxLayout(middle)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(12)
        row.addWidget(self.usage_box, 1)
        row.addWidget(self.cards_box, 1)
        layout.addWidget(middle)

        self.invoices_box = QGroupBox("Invoices", page)
        self.invoices: InvoicesView = InvoicesView(self.invoices_box)
        self.invoices.open_requested.connect(self._open)
        QVBoxLayout(self.invoices_box).addWidget(self.invoices)
        layout.addWidget(self.invoices_box, 1)
        layout.addStretch(0)  # the room left when there is no invoice to show
        self.plans_box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

        for box in (self.plans_box, self.usage_box, self.cards_box, self.invoices_box):
            box.hide()
        self.subscription_row.hide()
        refresh = QShortcut(QKeySequence(QKeySequence.StandardKey.Refresh), self,
                            lambda: self.refresh_from_stripe(force=True))
        refresh.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """The window closing (or hiding to the tray): stop following a Checkout page, so
        closing does not wait for the browser; the background sync still sees the payment."""
        if event.type() == QEvent.Type.Close and watched is self.window():
            self.stop_waiting()
        return False

    def _listen(self) -> None:
        """Once, on first show: billing's and accounts' change events redraw the panel, and so
        does an AI run (it counts against the plan)."""
        if self._listening:
            return
        self._listening = True
        self.window().installEventFilter(self)
        stops = [self._services.billing.events.subscribe(lambda _e: self._changed()),
                 self._services.accounts.events.subscribe(lambda _e: self._accounts_changed()),
                 self._services.generation.events.subscribe(lambda _e: self._changed())]
        self.destroyed.connect(lambda *_: [stop() for stop in stops])

    # --- reading -----------------------------------------------------------------------------

    def _changed(self) -> None:
        """On the loop's thread (the GUI thread): redraw soon, once for a burst of events."""
        if self.isVisible():
            self._redraw.start()

    def _accounts_changed(self) -> None:
        self._last_refresh = float("-inf")  # a sign-in: the plan belongs to someone else now
        if self.isVisible():
            self._redraw.start()
            self.refresh_from_stripe(force=True)

    def reload(self) -> None:
        """Draws what SQLite knows (no network)."""
        async def read() -> tuple[BillingStatus, str | None]:
            status = await self._services.billing.cached_status()
            signed = sorted((a for a in await self._services.accounts.accounts()
                             if a.role == "sign_in"), key=lambda a: a.connected_at)
            return status, (signed[0].email or signed[0].label) if signed else None

        self._tasks.run(read(), label="Reading billing", latest_wins="billing-read",
                        progress=False, on_success=lambda r: self._show(*r))

    def refresh_from_stripe(self, *, force: bool = True) -> None:
        """Asks Stripe for plans, subscription, cards, invoices and usage (at most every
        ``REFRESH_MIN_S`` unless ``force``)."""
        now = time.monotonic()
        if not force and now - self._last_refresh < REFRESH_MIN_S:
            return
        self._last_refresh = now
        billing = self._services.billing

        async def refresh() -> BillingStatus | None:
            if not await billing.configured():
                return None
            return await billing.refresh()

        task = self._tasks.run(refresh(), label="Reading billing from Stripe",
                               latest_wins="billing-refresh", progress=force,
                               on_success=lambda _s: self.reload(),
                               on_error=lambda e: self._refresh_failed(e, force))
        self._refreshing = task
        self._refresh_buttons()
        task.add_done_callback(lambda _t: self._refresh_buttons())

    def _refresh_buttons(self) -> None:
        """Retry and Refresh wait while Stripe is being asked (also when that was replaced)."""
        if self._built:
            idle = self._refreshing is None or self._refreshing.done()
            self.retry_button.setEnabled(idle)
            self.refresh_button.setEnabled(idle)

    def _refresh_failed(self, error: BaseException, asked: bool) -> bool:
        self.reload()
        from mbv_desktop.core.errors import MbvError

        if asked or not isinstance(error, MbvError):
            return False  # the error dialog
        self.say(str(error))  # not asked for: said here instead of a dialog on every show
        return True

    # --- drawing -----------------------------------------------------------------------------

    def _show(self, status: BillingStatus, signed_in_as: str | None) -> None:
        self.status = status
        self.signed_in_as = signed_in_as
        busy = self._flow is not None
        configured = status.configured
        signed = signed_in_as is not None
        sub = status.subscription

        if not configured:
            self.notice_label.setText(NOT_CONFIGURED)
        elif not signed:
            self.notice_label.setText(SIGN_IN_FIRST)
        self.notice.setVisible(not configured or not signed)
        self.accounts_button.setVisible(configured and not signed)

        warning = False
        hint = ""
        if not configured:
            self.title.setText("Billing")
        elif not signed:
            self.title.setText("Choose a plan")
        elif status.plan is None:
            self.title.setText("Billing")
            hint = "" if status.stale else "Reading the plans from Stripe\u2026"
        else:
            line = headline(status)
            self.title.setText(line.text)
            warning = line.warning
            hint = line.hint or renewal_hint(sub)
        self.title.setProperty("state", "warning" if warning else "")
        repolish(self.title)
        self.account.setText(f"Signed in as {signed_in_as}" if signed else "")
        self.account.setVisible(signed)
        self.portal_button.setVisible(configured and signed and status.customer_id is not None)
        self.refresh_button.setVisible(configured)

        self.stale_banner.setVisible(configured and status.stale)
        self.stale_label.setText(stale_text(status))
        self.stale_label.setToolTip(status.problem or "")

        ending = sub is not None and (sub.cancel_at_period_end or bool(sub.cancel_at))
        self.hint.setText(hint)
        self.hint.setProperty("state", "warning" if warning else "")
        repolish(self.hint)
        self.subscription_row.setVisible(configured and signed and (sub is not None or bool(hint)))
        for button, shown in ((self.cancel_end_button, sub is not None and not ending),
                              (self.resume_button, sub is not None and ending),
                              (self.cancel_now_button, sub is not None)):
            button.setVisible(shown)
            button.setEnabled(not busy)

        self.plans_box.setVisible(configured and bool(status.plans))
        self.plans.show_status(status, signed_in=signed, busy=busy)
        full = configured and signed
        for box in (self.usage_box, self.cards_box):
            box.setVisible(full)
        self.invoices_box.setVisible(full and bool(status.invoices))
        if full:
            self.usage.show_status(status)
            self.cards.show_cards(status.payment_methods, busy=busy)
            self.invoices.show_invoices(status.invoices)

    def say(self, text: str) -> None:
        """A sentence about what just happened, under the header."""
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def suggest_plan(self, name: str | None) -> None:
        """After "Upgrade…" in a plan-limit message: marks the plan that allows more."""
        self._ensure_built()
        card = self.plans.suggest(name)
        if card is not None:
            paid = self.status is not None and self.status.subscription is not None
            self.say(f"{card.plan.name} allows more. Choose it below"
                     + ("; you pay only for the rest of this period." if paid else "."))
            if card.button.isVisible() and card.button.isEnabled():
                card.button.setFocus()

    # --- plans -------------------------------------------------------------------------------

    def _plan(self, key: str) -> Plan | None:
        card = self.plans.cards.get(key)
        return card.plan if card is not None else None

    def choose(self, key: str) -> None:
        """A plan card's button: Checkout without a paid plan, a priced change with one, and
        back to Free by cancelling at the end of the period."""
        plan = self._plan(key)
        status = self.status
        if plan is None or status is None or self._flow is not None:
            return
        billing = self._services.billing
        if status.subscription is None:
            self._checkout(lambda: billing.start_checkout(key),
                           f"Waiting for payment in your browser\u2026 Finish paying for "
                           f"{plan.name} on Stripe's page; this panel follows it.",
                           f"You are on {plan.name} now. The receipt is under Invoices.")
        elif plan.amount == 0:
            self.ask_cancel_at_period_end()
        else:
            current = status.plan
            default = next((c for c in status.payment_methods if c.is_default), None)
            card = card_label(default) if default else None  # the card shown when asked
            self._tasks.run(billing.preview_change(key), label=f"Pricing {plan.name}",
                            on_success=lambda preview: self._show_preview(preview, plan,
                                                                          current, card))

    def _show_preview(self, preview: Any, plan: Plan, current: Plan | None,
                      card: str | None) -> None:
        from mbv_desktop.ui.panels.billing.preview_dialog import PreviewDialog

        dialog = PreviewDialog(preview, plan, current, card, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._change(preview, plan))
        dialog.finished.connect(lambda _r: setattr(self, "preview_dialog", None))
        self.preview_dialog = dialog
        dialog.open()

    def _change(self, preview: Any, plan: Plan) -> None:
        self._run(self._services.billing.change_plan(preview), f"Moving to {plan.name}",
                  f"You are on {plan.name} now.")

    # --- Checkout ----------------------------------------------------------------------------

    def add_card(self) -> None:
        if self._flow is not None:
            return
        self._checkout(self._services.billing.start_add_card,
                       "Waiting for your card in your browser\u2026 Add it on Stripe's page; "
                       "this panel follows it.",
                       "Your card is saved and is now the one your plan is charged to.")

    def _checkout(self, start: Callable[[], Coroutine[Any, Any, CheckoutStart]], waiting: str,
                  done: str) -> None:
        billing = self._services.billing

        async def flow() -> CheckoutResult:
            page = await start()
            self._checkout_url = page.url
            self.waiting_label.setText(waiting)
            self.waiting.show()
            opened = self.open_url(page.url)
            if inspect.isawaitable(opened):
                await opened
            return await billing.wait_for_checkout(page.session_id,
                                                   interval=self.checkout_poll_s)

        def finished(result: CheckoutResult) -> None:
            if result.status == "expired":
                self.say("The Checkout page expired before it was finished; nothing was "
                         "charged.")
            else:
                self.say(done)
            self.reload()

        self.say("")
        task = self._tasks.run(flow(), label="Waiting for Stripe Checkout", progress=False,
                               on_success=finished, on_error=self._failed)
        self._flow = task
        task.add_done_callback(lambda _t: self._flow_ended())
        self._busy_changed()

    def _flow_ended(self) -> None:
        self._flow = None
        self._checkout_url = None
        self.waiting.hide()
        self._busy_changed()

    def _busy_changed(self) -> None:
        if self.status is not None:
            self._show(self.status, self.signed_in_as)

    def stop_waiting(self) -> None:
        """Cancel while waiting: stops following the page (Stripe expires it in time)."""
        flow = self._flow
        if flow is not None and not flow.done():
            flow.cancel()
            self.say("Stopped waiting. If you still finish on Stripe's page, Billing shows it "
                     "on its next refresh.")

    def _reopen_checkout(self) -> None:
        if self._checkout_url:
            self._open(self._checkout_url)

    @property
    def waiting_for_checkout(self) -> bool:
        return self._flow is not None

    # --- the subscription --------------------------------------------------------------------

    def ask_cancel_at_period_end(self) -> None:
        status = self.status
        sub = status.subscription if status else None
        if status is None or sub is None:
            return
        name = status.plan.name if status.plan else "your plan"
        free = next((p.name for p in status.plans if p.amount == 0), "the free plan")
        self._confirm(f"Cancel {name}?",
                      f"{name} stays yours until {day(sub.current_period_end)}; then you are on "
                      f"{free} and nothing more is charged. You can resume until then.",
                      "Cancel at period end", "Keep my plan",
                      lambda: self._run(self._services.billing.cancel(at_period_end=True),
                                        "Cancelling at period end",
                                        f"Done: {name} will not renew."))

    def ask_cancel_now(self) -> None:
        status = self.status
        if status is None or status.subscription is None:
            return
        name = status.plan.name if status.plan else "your plan"
        self._confirm(f"Cancel {name} now?",
                      f"{name} ends right away and its limits with it; the unused time of "
                      "this period is not refunded.",
                      "Cancel now", "Keep my plan",
                      lambda: self._run(self._services.billing.cancel(at_period_end=False),
                                        "Cancelling now", f"{name} is cancelled."),
                      destructive=True)

    def resume(self) -> None:
        name = self.status.plan.name if self.status and self.status.plan else "Your plan"
        self._run(self._services.billing.resume(), "Resuming your plan",
                  f"{name} goes on; it renews as before.")

    # --- cards -------------------------------------------------------------------------------

    def set_default_card(self, payment_method: str) -> None:
        self._run(self._services.billing.set_default_card(payment_method), "Changing the card",
                  "Your plan is charged to this card from now on.")

    def ask_remove_card(self, payment_method: str) -> None:
        status = self.status
        card = next((c for c in status.payment_methods if c.id == payment_method), None) \
            if status else None
        if card is None:
            return
        self._confirm(f"Remove {card_label(card)}?",
                      f"{card_label(card)} is removed from your Stripe account; nothing is "
                      "charged to it any more.", "Remove", "Keep it",
                      lambda: self._run(self._services.billing.remove_card(payment_method),
                                        "Removing the card", f"{card_label(card)} is removed."),
                      destructive=True)

    # --- pages in the browser ----------------------------------------------------------------

    def open_portal(self) -> None:
        self._tasks.run(self._services.billing.portal_url(), label="Opening Stripe's portal",
                        on_success=self._open)

    def _open(self, url: str) -> None:
        opened = self.open_url(url)
        if inspect.isawaitable(opened):
            async def wait() -> None:
                await opened

            self._tasks.run(wait(), label="Opening the page", progress=False)

    # --- helpers -----------------------------------------------------------------------------

    def _run(self, work: Coroutine[Any, Any, Any], label: str, done: str) -> None:
        def finished(_result: object) -> None:
            self.say(done)
            self.reload()

        self.say("")
        self._tasks.run(work, label=label, on_success=finished, on_error=self._failed)

    def _failed(self, _error: BaseException) -> bool:
        """A change Stripe refused: show what Stripe holds now; the error dialog says why."""
        self.refresh_from_stripe(force=True)
        return False

    def _confirm(self, title: str, text: str, yes: str, no: str, then: Callable[[], None], *,
                 destructive: bool = False) -> None:
        """A question that does not block the loop (``open``, never ``exec``)."""
        box = QMessageBox(QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question,
                          title, text, QMessageBox.StandardButton.NoButton, self)
        yes_button = box.addButton(yes, QMessageBox.ButtonRole.DestructiveRole if destructive
                                   else QMessageBox.ButtonRole.AcceptRole)
        no_button = box.addButton(no, QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(no_button if destructive else yes_button)
        box.setEscapeButton(no_button)
        yes_button.clicked.connect(then)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: self._confirm_closed(box))
        self.confirm_box, self.confirm_yes = box, yes_button
        box.open()

    def _confirm_closed(self, box: QMessageBox) -> None:
        if self.confirm_box is box:
            self.confirm_box = self.confirm_yes = None
