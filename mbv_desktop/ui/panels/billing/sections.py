"""The Billing panel's lower sections: usage this period, saved cards, invoices."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.money import day, money, short_day
from mbv_desktop.ui.panels.billing.format import (
    card_expiry,
    card_label,
    invoice_status,
    usage_note,
    usage_text,
)
from mbv_desktop.ui.panels.billing.plans import repolish

if TYPE_CHECKING:
    from mbv_desktop.services.billing_status import (
        BillingStatus,
        Invoice,
        PaymentMethod,
        UsageLine,
    )

BAR_STEPS = 1000
CARDS_HEIGHT = 120  # a header and three or four cards; more scroll
INVOICES_MIN_HEIGHT = 150


def _table(columns: list[str], name: str, parent: QWidget) -> QTableWidget:
    table = QTableWidget(0, len(columns), parent)
    table.setHorizontalHeaderLabels(columns)
    table.setAccessibleName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.setShowGrid(False)
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return table


def _cell(text: str, *, right: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class UsageView(QWidget):
    """One bar per plan limit; the AI line also says what Stripe's meter has counted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.period = QLabel("", self)
        self.period.setObjectName("muted")
        self._grid = QGridLayout()
        self._grid.setHorizontalSpacing(10)
        self._grid.setVerticalSpacing(4)
        self._grid.setColumnStretch(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.period)
        layout.addLayout(self._grid)
        layout.addStretch(1)
        self.bars: dict[str, QProgressBar] = {}
        self.figures: dict[str, QLabel] = {}
        self.notes: dict[str, QLabel] = {}

    def show_status(self, status: BillingStatus) -> None:
        self.period.setText(f"This period: {short_day(status.period_start)} \u2013 "
                            f"{day(status.period_end)}")
        for line in status.usage:
            self._show_line(line, status.meter_waiting)

    def _show_line(self, line: UsageLine, waiting: int) -> None:
        if line.key not in self.bars:
            row = self._grid.rowCount()
            label = QLabel(line.label, self)
            bar = QProgressBar(self)
            bar.setObjectName("usageBar")
            bar.setRange(0, BAR_STEPS)
            bar.setTextVisible(False)
            bar.setFixedHeight(10)
            bar.setAccessibleName(line.label)
            figure = QLabel("", self)
            figure.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            note = QLabel("", self)
            note.setObjectName("muted")
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(bar, row, 1)
            self._grid.addWidget(figure, row, 2)
            self._grid.addWidget(note, row + 1, 1, 1, 2)
            self.bars[line.key], self.figures[line.key], self.notes[line.key] = bar, figure, note
        bar, figure, note = self.bars[line.key], self.figures[line.key], self.notes[line.key]
        if line.limit is None:
            bar.setValue(0)
        elif line.limit > 0:
            bar.setValue(min(BAR_STEPS, round(line.used / line.limit * BAR_STEPS)))
        else:
            bar.setValue(BAR_STEPS)
        bar.setProperty("state", "over" if line.reached else "")
        repolish(bar)
        figure.setText(usage_text(line))
        bar.setToolTip(usage_text(line))
        text = usage_note(line, waiting)
        note.setText(text)
        note.setVisible(bool(text))


class CardsView(QWidget):
    """Saved cards (the number never reaches the app: Stripe shows only brand and last four)."""

    add_requested = Signal()
    default_requested = Signal(str)
    remove_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = _table(["Card", "Expires", ""], "Payment methods", self)
        self.table.setMaximumHeight(CARDS_HEIGHT)
        self.add_button = QPushButton("&Add card\u2026", self)
        self.add_button.setToolTip("Opens Stripe's page in your browser to add a card")
        self.default_button = QPushButton("Make &default", self)
        self.remove_button = QPushButton("Remove\u2026", self)
        self.empty = QLabel("No saved card. Choosing a paid plan saves the card you pay with.",
                            self)
        self.empty.setObjectName("muted")
        self.empty.setWordWrap(True)
        self.add_button.clicked.connect(self.add_requested)
        self.default_button.clicked.connect(
            lambda: self._emit_selected(self.default_requested))
        self.remove_button.clicked.connect(lambda: self._emit_selected(self.remove_requested))
        self.table.itemSelectionChanged.connect(self._update_buttons)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        buttons.addWidget(self.default_button)
        buttons.addWidget(self.remove_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.empty)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._cards: tuple[PaymentMethod, ...] = ()
        self._busy = False
        self._update_buttons()

    def show_cards(self, cards: tuple[PaymentMethod, ...], *, busy: bool) -> None:
        self._busy = busy
        self.add_button.setEnabled(not busy)
        if cards != self._cards:
            chosen = self.selected()
            self._cards = cards
            self.table.setRowCount(len(cards))
            for row, card in enumerate(cards):
                name = _cell(card_label(card))
                name.setData(Qt.ItemDataRole.UserRole, card.id)
                self.table.setItem(row, 0, name)
                self.table.setItem(row, 1, _cell(card_expiry(card)))
                self.table.setItem(row, 2, _cell("Default" if card.is_default else ""))
                if card.id == chosen:
                    self.table.selectRow(row)
        self.table.setVisible(bool(cards))
        self.empty.setVisible(not cards)
        self._update_buttons()

    def select(self, payment_method: str) -> None:
        for row, card in enumerate(self._cards):
            if card.id == payment_method:
                self.table.selectRow(row)

    def selected(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return None if item is None else str(item.data(Qt.ItemDataRole.UserRole))

    def _selected_card(self) -> PaymentMethod | None:
        chosen = self.selected()
        return next((c for c in self._cards if c.id == chosen), None)

    def _emit_selected(self, signal: SignalInstance) -> None:
        chosen = self.selected()
        if chosen is not None:
            signal.emit(chosen)

    def _update_buttons(self) -> None:
        card = self._selected_card()
        self.default_button.setEnabled(not self._busy and card is not None
                                       and not card.is_default)
        self.remove_button.setEnabled(not self._busy and card is not None)


class InvoicesView(QWidget):
    """Invoices, newest first; Open (Enter or a double-click) shows Stripe's hosted page."""

    open_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = _table(["Date", "Number", "Status", "Total", "Tax"], "Invoices", self)
        self.table.setMinimumHeight(INVOICES_MIN_HEIGHT)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(90)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)  # amounts stay right
        for column in (3, 4):
            item = self.table.horizontalHeaderItem(column)
            if item is not None:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.open_button = QPushButton("&Open", self)
        self.open_button.setToolTip("Stripe's page for this invoice, in your browser (Enter)")
        self.pdf_button = QPushButton("&PDF", self)
        self.pdf_button.setToolTip("Download the invoice as a PDF")
        self.empty = QLabel("No invoices yet.", self)
        self.empty.setObjectName("muted")
        self.open_button.clicked.connect(lambda: self._open("hosted"))
        self.pdf_button.clicked.connect(lambda: self._open("pdf"))
        self.table.activated.connect(lambda _index: self._open("hosted"))
        self.table.itemSelectionChanged.connect(self._update_buttons)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.pdf_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.empty)
        layout.addLayout(buttons)
        self._invoices: tuple[Invoice, ...] = ()
        self._update_buttons()

    def show_invoices(self, invoices: tuple[Invoice, ...]) -> None:
        for widget in (self.table, self.open_button, self.pdf_button):
            widget.setVisible(bool(invoices))
        self.empty.setVisible(not invoices)
        if invoices == self._invoices:
            return
        chosen = self.selected()
        if {i.id for i in invoices} - {i.id for i in self._invoices}:
            chosen = None  # a new invoice: select it (the newest comes first)
            self.table.clearSelection()
        self._invoices = invoices
        self.table.setRowCount(len(invoices))
        for row, invoice in enumerate(invoices):
            when = _cell(day(invoice.created))
            when.setData(Qt.ItemDataRole.UserRole, invoice.id)
            self.table.setItem(row, 0, when)
            self.table.setItem(row, 1, _cell(invoice.number or invoice.id))
            self.table.setItem(row, 2, _cell(invoice_status(invoice)))
            self.table.setItem(row, 3, _cell(money(invoice.total, invoice.currency),
                                             right=True))
            self.table.setItem(row, 4, _cell(money(invoice.tax, invoice.currency), right=True))
            if chosen is not None and chosen.id == invoice.id:
                self.table.selectRow(row)
        if invoices and not self.table.selectionModel().hasSelection():
            self.table.setCurrentCell(0, 0)
            self.table.selectRow(0)
        self._update_buttons()

    def selected(self) -> Invoice | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        wanted = None if item is None else item.data(Qt.ItemDataRole.UserRole)
        return next((i for i in self._invoices if i.id == wanted), None)

    def _open(self, which: str) -> None:
        invoice = self.selected()
        if invoice is None:
            return
        url = invoice.hosted_invoice_url if which == "hosted" else invoice.invoice_pdf
        if url:
            self.open_requested.emit(url)

    def _update_buttons(self) -> None:
        invoice = self.selected()
        self.open_button.setEnabled(invoice is not None and bool(invoice.hosted_invoice_url))
        self.pdf_button.setEnabled(invoice is not None and bool(invoice.invoice_pdf))
