"""Usage events: exactly what the app sends to Google Analytics (and what it sent), with the
opt-in switch and "Send now". The rows are read off the GUI thread and refresh as the queue
changes while the dialog is open."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.errors import MbvError
from mbv_desktop.services.analytics import CATALOGUE
from mbv_desktop.services.container import Services
from mbv_desktop.ui.tasks import TaskRunner

COLUMNS = ["Time", "Event", "Parameters", "State", "Error"]
STATE_TEXT = {"queued": "Waiting", "sending": "Sending", "sent": "Sent", "dropped": "Not sent"}
STATE_COLOUR = {"sent": "#2e7d32", "dropped": "#b26a00"}
SOURCE_TEXT = {"env": "the environment variable MBV_ANALYTICS_OPT_IN",
               "flag": "a command-line option"}


def describe_events() -> str:
    """``login (method), sign_up (method), …``: the catalogue, for the header."""
    return ", ".join(f"{name} ({', '.join(params)})" for name, params in CATALOGUE.items())


class AnalyticsEventsDialog(QDialog):
    """Lists the ``ga4_events`` queue and history, newest first."""

    def __init__(self, services: Services, parent: QWidget | None = None, *,
                 tasks: TaskRunner | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Usage events sent to Google Analytics")
        self._services = services
        self._analytics = services.analytics
        self._tasks = tasks if tasks is not None else TaskRunner(self, show_dialogs=False)
        self._unsubscribe: Callable[[], None] | None = None

        self.header = QLabel(self)
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.client_id = QLabel(self)
        self.client_id.setObjectName("muted")
        self.client_id.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.opt_in = QCheckBox("Send anonymous usage events and crash reports "
                                "(analytics.opt_in)", self)
        self.table = QTreeWidget(self)
        self.table.setAccessibleName("Usage events, newest first")
        self.table.setHeaderLabels(COLUMNS)
        self.table.setRootIsDecorated(False)
        self.table.setColumnWidth(0, 140)
        self.table.setColumnWidth(1, 150)
        self.table.setColumnWidth(2, 330)
        self.table.setColumnWidth(3, 80)
        self.summary = QLabel(self)
        self.summary.setObjectName("muted")
        self.problems = QLabel(self)
        self.problems.setObjectName("problems")
        self.problems.setWordWrap(True)
        self.send_now = QPushButton("&Send now", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        self.close_button = buttons.button(QDialogButtonBox.StandardButton.Close)

        self.header.setText(
            "When you opt in, the app tells Google Analytics which features are used, so they "
            "can be improved. Only these events are sent, with only these details: "
            f"{describe_events()}; each also carries the time spent and this session's "
            "number. Never your name, e-mail address, handles, prompts or post texts. Events "
            "wait here while you are offline and are sent in small batches.")
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.client_id)
        layout.addWidget(self.opt_in)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.problems)
        row = QHBoxLayout()
        row.addWidget(self.send_now)
        row.addStretch(1)
        row.addWidget(buttons)
        layout.addLayout(row)
        self.resize(820, 480)

        self._show_opt_in()
        self.opt_in.toggled.connect(self._opt_in_toggled)
        self.send_now.clicked.connect(self.flush)
        unsubscribe = self._analytics.events.subscribe(lambda _e: self.reload())
        self._unsubscribe = unsubscribe
        # Also when the dialog goes with its parent without being closed first.
        self.destroyed.connect(lambda *_: _quietly(unsubscribe))
        self.reload()

    # -- loading --

    def reload(self) -> None:
        """Reads the rows (off the GUI thread) and shows them; the newest load wins."""
        async def load() -> tuple[list[Any], str | None]:
            rows = await self._analytics.recent()
            return rows, self._analytics.client_id(create=False)

        self._tasks.run(load(), label="Loading usage events", progress=False,
                        latest_wins=f"analytics-events-{id(self)}", on_success=self._show,
                        on_error=self._failed)

    def _show(self, loaded: tuple[list[Any], str | None]) -> None:
        rows, client_id = loaded
        self.client_id.setText(
            f"Pseudonymous id of this profile: {client_id}" if client_id else
            "A random pseudonymous id is made for this profile when the first event is sent.")
        self.table.clear()
        items = [self._item(row) for row in rows]
        self.table.addTopLevelItems(items)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        shown = [f"{counts[s]} {STATE_TEXT[s].lower()}" for s in STATE_TEXT if counts.get(s)]
        self.summary.setText(", ".join(shown) + "." if shown else "No events yet.")
        self._enable()

    @staticmethod
    def _item(row: Any) -> QTreeWidgetItem:
        when: datetime = row.created_at.astimezone()
        params = json.dumps(row.params, ensure_ascii=False)  # its own details first
        item = QTreeWidgetItem([f"{when:%Y-%m-%d %H:%M:%S}", row.name, params,
                                STATE_TEXT.get(row.state, row.state), row.last_error or ""])
        item.setData(0, Qt.ItemDataRole.UserRole, row.id)
        item.setToolTip(2, params)
        if row.last_error:
            item.setToolTip(4, row.last_error)
        colour = STATE_COLOUR.get(row.state)
        if colour:
            item.setForeground(3, QColor(colour))
        return item

    def rows(self) -> list[list[str]]:
        """What the table shows, row by row (for tests and accessibility tools)."""
        items = (self.table.topLevelItem(n) for n in range(self.table.topLevelItemCount()))
        return [[item.text(c) for c in range(len(COLUMNS))] for item in items if item is not None]

    # -- actions --

    def _show_opt_in(self) -> None:
        self.opt_in.blockSignals(True)
        self.opt_in.setChecked(self._analytics.opted_in)
        self.opt_in.blockSignals(False)
        source = SOURCE_TEXT.get(self._analytics.opt_in_source())
        self.opt_in.setEnabled(source is None)
        self.opt_in.setToolTip(f"Set by {source}." if source else "")
        if self._analytics.opted_in and not self._analytics.enabled:
            self.problems.setText("Nothing is collected yet: ga4.measurement_id is not set.")
        self._enable()

    def _enable(self) -> None:
        self.send_now.setEnabled(self._analytics.enabled)

    def _opt_in_toggled(self, on: bool) -> None:
        self.problems.clear()
        self._tasks.run(self._analytics.set_opt_in(on), label="Saving the analytics choice",
                        progress=False, on_success=lambda _v: self._opt_in_saved(),
                        on_error=self._failed)

    def _opt_in_saved(self) -> None:
        self._show_opt_in()
        self.reload()

    def flush(self) -> None:
        """Sends what waits now and says how it went."""
        self.problems.clear()
        self.send_now.setEnabled(False)
        self._tasks.run(self._analytics.flush(), label="Sending usage events",
                        on_success=self._flushed, on_error=self._failed)

    def _flushed(self, report: Any) -> None:
        self.problems.setText(report.describe())
        self.reload()

    def _failed(self, error: BaseException) -> bool:
        self._enable()
        if isinstance(error, MbvError):
            self.problems.setText(str(error))
            return True
        return False

    # -- closing --

    def _stop_listening(self) -> None:
        if self._unsubscribe is not None:
            _quietly(self._unsubscribe)
            self._unsubscribe = None

    def done(self, result: int) -> None:
        self._stop_listening()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._stop_listening()
        super().closeEvent(event)


def _quietly(unsubscribe: Callable[[], None]) -> None:
    """Unsubscribes once; a second call (already gone) does nothing."""
    with contextlib.suppress(ValueError):
        unsubscribe()
