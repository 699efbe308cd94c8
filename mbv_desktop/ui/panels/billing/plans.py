"""The plans side by side: one card per plan (name, price, what it gives), the current one marked,
each with the button that moves to it (Choose, Upgrade or Downgrade)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.money import day
from mbv_desktop.ui.panels.billing.format import plan_points, price

if TYPE_CHECKING:
    from mbv_desktop.services.billing_status import BillingStatus, Plan


def repolish(widget: QWidget) -> None:
    """Applies the stylesheet again after a dynamic property changed."""
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class PlanCard(QFrame):
    """One plan. ``chosen`` carries the plan's short name."""

    chosen = Signal(str)

    def __init__(self, plan: Plan, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("planCard")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.plan = plan
        self.key = plan.key
        self.name = QLabel(plan.name, self)
        self.name.setObjectName("planName")
        self.badge = QLabel("Current plan", self)
        self.badge.setObjectName("planBadge")
        self.badge.hide()
        self.price = QLabel(price(plan), self)
        self.price.setObjectName("planPrice")
        self.description = QLabel(plan.description, self)
        self.description.setObjectName("muted")
        self.description.setWordWrap(True)
        self.description.setVisible(bool(plan.description))
        self.points = QLabel("\n".join(f"\u2713  {p}" for p in plan_points(plan)), self)
        self.points.setWordWrap(True)
        self.points.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton("Choose", self)
        self.button.setAccessibleName(f"Choose {plan.name}")
        self.button.clicked.connect(lambda: self.chosen.emit(self.key))
        self.note = QLabel("", self)
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        self.note.hide()

        title = QHBoxLayout()
        title.addWidget(self.name)
        title.addStretch(1)
        title.addWidget(self.badge)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(6)
        layout.addLayout(title)
        layout.addWidget(self.price)
        layout.addWidget(self.description)
        layout.addWidget(self.points)
        layout.addStretch(1)
        layout.addWidget(self.note)
        layout.addWidget(self.button)

    def set_state(self, *, current: bool, action: str | None, enabled: bool, note: str = "",
                  tooltip: str = "") -> None:
        """``action`` is the button's word (None: no button)."""
        self.setProperty("current", current)
        repolish(self)
        self.badge.setVisible(current)
        self.button.setVisible(action is not None)
        if action is not None:
            self.button.setText(action)
            self.button.setAccessibleName(f"{action} {self.plan.name}")
        self.button.setEnabled(enabled)
        self.button.setToolTip(tooltip)
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def set_suggested(self, suggested: bool) -> None:
        self.setProperty("suggested", suggested)
        repolish(self)


class PlansView(QWidget):
    """The cards in the catalog's order; rebuilt only when the catalog changes."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(12)
        self.cards: dict[str, PlanCard] = {}
        self._catalog: tuple[Plan, ...] = ()
        self._suggested: str | None = None

    def show_status(self, status: BillingStatus, *, signed_in: bool, busy: bool) -> None:
        plans = status.plans
        if plans != self._catalog:
            self._rebuild(plans)
        sub = status.subscription
        current = status.plan
        ending = sub is not None and (sub.cancel_at_period_end or bool(sub.cancel_at))
        for card in self.cards.values():
            plan = card.plan
            is_current = current is not None and plan.price_id == current.price_id
            note = ""
            tooltip = ""
            if is_current:
                action = None
            elif sub is None:  # on the free plan: a paid plan goes through Checkout
                action = "Choose" if plan.amount > 0 else None
            elif plan.amount == 0:  # back to Free: cancel at the end of the period
                action = None if ending else "Downgrade"
                if ending:
                    note = f"From {day(sub.cancel_at or sub.current_period_end)}"
            else:
                action = "Upgrade" if current is None or plan.amount > current.amount \
                    else "Downgrade"
            enabled = signed_in and not busy
            if not signed_in:
                tooltip = "Sign in with Google or GitHub under Accounts first."
            card.set_state(current=is_current, action=action, enabled=enabled, note=note,
                           tooltip=tooltip)
            card.set_suggested(self._suggested is not None and not is_current
                               and self._suggested in (card.key, plan.name.lower()))

    def suggest(self, name: str | None) -> PlanCard | None:
        """Marks the plan an "Upgrade…" pointed at (by name or short name); returns its card."""
        self._suggested = name.lower() if name else None
        found = None
        for card in self.cards.values():
            hit = self._suggested is not None and self._suggested in (card.key,
                                                                       card.plan.name.lower())
            card.set_suggested(hit and not card.badge.isVisibleTo(card))
            if hit:
                found = card
        return found

    def _rebuild(self, plans: tuple[Plan, ...]) -> None:
        for card in self.cards.values():
            self._layout.removeWidget(card)
            card.deleteLater()
        self.cards = {}
        for plan in plans:
            card = PlanCard(plan, self)
            card.chosen.connect(self.chosen)
            self.cards[card.key] = card
            self._layout.addWidget(card, 1)
        self._catalog = plans
