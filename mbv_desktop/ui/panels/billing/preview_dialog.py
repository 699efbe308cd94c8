"""What a plan change costs before it is made: Stripe's proration lines (credit for the unused
time of the old plan, the rest of the period on the new one), tax, and the total charged now.
"Change plan" applies exactly this preview (same proration time)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.money import day, money
from mbv_desktop.ui.panels.billing.format import price


class PreviewDialog(QDialog):
    """``preview`` is the service's ``ProrationPreview``; ``plan`` the plan moved to."""

    def __init__(self, preview: Any, plan: Any, current: Any, card: str | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.preview = preview
        self.plan = plan
        currency = preview.currency or plan.currency
        up = current is None or plan.amount >= current.amount
        self.setWindowTitle(f"{'Upgrade' if up else 'Downgrade'} to {plan.name}")
        self.setObjectName("billingPreview")

        intro = QLabel(
            f"Move from {current.name if current else 'your plan'} to <b>{plan.name}</b> "
            f"({price(plan)}). You pay only for the rest of this period: the unused time on "
            "your current plan is credited.", self)
        intro.setWordWrap(True)

        lines = QFrame(self)
        lines.setObjectName("previewLines")
        lines.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(lines)
        grid.setColumnStretch(0, 1)
        grid.setHorizontalSpacing(16)
        #: (description, amount) per line Stripe priced, in its order.
        self.lines: list[tuple[QLabel, QLabel]] = []
        for row, line in enumerate(preview.lines):
            what = QLabel(line.description, lines)
            what.setWordWrap(True)
            amount = QLabel(money(line.amount, currency), lines)
            amount.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
            grid.addWidget(what, row, 0)
            grid.addWidget(amount, row, 1)
            self.lines.append((what, amount))

        totals = QFormLayout()
        totals.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        totals.setFormAlignment(Qt.AlignmentFlag.AlignRight)
        self.subtotal = QLabel(money(preview.subtotal, currency), self)
        self.tax = QLabel(money(preview.tax, currency), self)
        self.total = QLabel(f"<b>{money(preview.amount_due, currency)}</b>", self)
        self.total.setObjectName("previewTotal")
        for label in (self.subtotal, self.tax, self.total):
            label.setAlignment(Qt.AlignmentFlag.AlignRight)
        totals.addRow("Subtotal", self.subtotal)
        totals.addRow("Tax", self.tax)
        totals.addRow("<b>Total due now</b>", self.total)

        charged = f"charged to {card}" if card else "charged to your default card"
        renews = max((line.period_end for line in preview.lines if line.period_end),
                     default=None)
        then = f"Then {price(plan)} from {day(renews)}." if renews else f"Then {price(plan)}."
        if preview.amount_due > 0:
            note = f"{money(preview.amount_due, currency)} is {charged} now. {then}"
        elif preview.amount_due < 0:
            note = f"The credit is kept for your next invoices. {then}"
        else:
            note = f"Nothing is charged now. {then}"
        self.note = QLabel(note, self)
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)

        self.buttons = QDialogButtonBox(self)
        self.change_button: QPushButton = self.buttons.addButton(
            "&Change plan", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button: QPushButton = self.buttons.addButton(
            QDialogButtonBox.StandardButton.Cancel)
        self.change_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(lines)
        layout.addLayout(totals)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)
        self.resize(520, self.sizeHint().height())
