"""The Accounts panel: who is signed in (Google, GitHub) and the X, Instagram and TikTok accounts
posts go to, each with its status (connected, expiring, needs reconnect).

Signing in and connecting open the system browser (never a web view inside the app, RFC 8252);
while the browser step runs the panel says so and offers Cancel. Nothing here touches a token:
the accounts service keeps them in the keyring and in memory.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.accounts import account_status
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

SIGN_IN = (("google", "Google"), ("github", "GitHub"))
PUBLISH = (("x", "X"), ("instagram", "Instagram"), ("tiktok", "TikTok"))
NAMES = dict(SIGN_IN + PUBLISH)
ATTENTION_COLOUR = "#b3261e"


def _open_in_browser(url: str) -> None:
    """The system browser; the address carries no secret (PKCE keeps the verifier here)."""
    if not QDesktopServices.openUrl(QUrl(url)):
        log.warning("accounts: no browser opened the sign-in page")


class AccountsPanel(QWidget):
    def __init__(self, services: Services, tasks: TaskRunner, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setObjectName("accountsPanel")
        self._services = services
        self._tasks = tasks
        self._loaded = False
        self._flow_task: int | None = None
        self._running: asyncio.Task[Any] | None = None
        self.open_url = _open_in_browser  # tests and the sandbox replace it
        self._built = False

    def build_deferred(self) -> None:
        """Builds the panel after the window's first frame (it is not the first panel seen)."""
        if self._built:
            return
        self._built = True
        self.identities = QListWidget(self)
        self.identities.setAccessibleName("Signed in")
        self.publishing = QListWidget(self)
        self.publishing.setAccessibleName("Publishing accounts")
        self.sign_in_buttons: dict[str, QPushButton] = {}
        self.connect_buttons: dict[str, QPushButton] = {}

        sign_in_box = QGroupBox("Signed in", self)
        sign_in_row = QHBoxLayout()
        for provider, name in SIGN_IN:
            button = QPushButton(f"Sign in with {name}", self)
            button.clicked.connect(functools.partial(self.start_flow, provider))
            self.sign_in_buttons[provider] = button
            sign_in_row.addWidget(button)
        self.sign_out_button = QPushButton("Sign out", self)
        self.sign_out_button.clicked.connect(lambda: self._remove_selected(self.identities))
        sign_in_row.addStretch(1)
        sign_in_row.addWidget(self.sign_out_button)
        box_layout = QVBoxLayout(sign_in_box)
        box_layout.addWidget(self.identities)
        box_layout.addLayout(sign_in_row)

        publish_box = QGroupBox("Publishing accounts", self)
        publish_row = QHBoxLayout()
        for provider, name in PUBLISH:
            button = QPushButton(f"Connect {name}", self)
            button.clicked.connect(functools.partial(self.start_flow, provider))
            self.connect_buttons[provider] = button
            publish_row.addWidget(button)
        self.reconnect_button = QPushButton("Reconnect", self)
        self.reconnect_button.clicked.connect(self._reconnect_selected)
        self.disconnect_button = QPushButton("Disconnect", self)
        self.disconnect_button.clicked.connect(lambda: self._remove_selected(self.publishing))
        publish_row.addStretch(1)
        publish_row.addWidget(self.reconnect_button)
        publish_row.addWidget(self.disconnect_button)
        publish_layout = QVBoxLayout(publish_box)
        publish_layout.addWidget(self.publishing)
        publish_layout.addLayout(publish_row)

        self.status = QLabel("", self)
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self._cancel_flow)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.cancel_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.addWidget(sign_in_box, 2)
        layout.addWidget(publish_box, 3)
        layout.addLayout(status_row)
        for view in (self.identities, self.publishing):
            view.setSpacing(3)
            view.itemSelectionChanged.connect(self._update_buttons)
        self._update_buttons()

    # --- loading ---------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        self.build_deferred()
        super().showEvent(event)
        if not self._loaded:
            self._loaded = True
            self._services.accounts.events.subscribe(lambda _e: self.refresh())
            self.refresh()

    def refresh(self) -> None:
        self._tasks.run(self._services.accounts.accounts(), label="Loading accounts",
                        latest_wins="accounts", progress=False, on_success=self._show)

    def _show(self, accounts: list[Any]) -> None:
        now = datetime.now(UTC)
        for view, role in ((self.identities, "sign_in"), (self.publishing, "publish")):
            view.clear()
            for account in accounts:
                if account.role != role:
                    continue
                parts = [NAMES.get(account.provider, account.provider), account.label]
                if account.email and account.email != account.label:
                    parts.append(account.email)
                status = account_status(account, now)
                parts.append(status)
                item = QListWidgetItem("  ·  ".join(parts))
                if status != "Connected":  # needs the creator: reconnect, or soon
                    item.setForeground(QColor(ATTENTION_COLOUR))
                    item.setToolTip(f"{status}: select it and press Reconnect.")
                item.setData(Qt.ItemDataRole.UserRole, account)
                if status == "Connected":
                    item.setToolTip(f"{NAMES.get(account.provider)} account id "
                                    f"{account.account_id}")
                view.addItem(item)
        self._update_buttons()

    def _selected(self, view: QListWidget) -> Any:
        items = view.selectedItems()
        return items[0].data(Qt.ItemDataRole.UserRole) if items else None

    def _update_buttons(self) -> None:
        busy = self._flow_task is not None
        for button in (*self.sign_in_buttons.values(), *self.connect_buttons.values()):
            button.setEnabled(not busy)
        self.sign_out_button.setEnabled(not busy and self._selected(self.identities) is not None)
        chosen = self._selected(self.publishing)
        self.disconnect_button.setEnabled(not busy and chosen is not None)
        self.reconnect_button.setEnabled(not busy and chosen is not None)

    # --- flows -----------------------------------------------------------------------------

    def start_flow(self, provider: str) -> None:
        """Sign in (Google, GitHub) or connect (X, Instagram, TikTok) through the browser."""
        if self._flow_task is not None:
            return
        name = NAMES[provider]
        action = "sign in with" if provider in dict(SIGN_IN) else "connect"
        self.status.setText(f"Continue in your browser to {action} {name}; this window waits "
                            "for it.")
        self.cancel_button.show()
        task = self._tasks.run(self._services.accounts.authorize(provider, open_url=self.open_url),
                               label=f"Connecting {name}", progress=False,
                               on_success=self._flow_done, on_error=self._flow_failed)
        self._flow_task = id(task)
        self._running = task
        task.add_done_callback(lambda _t: self._flow_finished())
        self._update_buttons()

    def _flow_finished(self) -> None:
        self._flow_task = None
        self.cancel_button.hide()
        self._update_buttons()

    def _flow_done(self, account: Any) -> None:
        self.status.setText(f"{NAMES.get(account.provider)} account {account.label} is connected.")
        self.refresh()

    def _flow_failed(self, error: BaseException) -> bool:
        self.status.setText(str(error))
        return True  # shown here, beside the buttons, rather than in a dialog

    def _cancel_flow(self) -> None:
        task = self._running
        if task is not None and not task.done():
            task.cancel()
            self.status.setText("Cancelled; nothing was connected.")

    def _reconnect_selected(self) -> None:
        account = self._selected(self.publishing)
        if account is not None:
            self.start_flow(account.provider)

    def _remove_selected(self, view: QListWidget) -> None:
        account = self._selected(view)
        if account is None:
            return
        verb = "Signed out of" if account.role == "sign_in" else "Disconnected"
        self._tasks.run(self._services.accounts.disconnect(account.provider, account.account_id),
                        label="Disconnecting",
                        on_success=lambda _r: self.status.setText(
                            f"{verb} {NAMES.get(account.provider)} {account.label}."))
