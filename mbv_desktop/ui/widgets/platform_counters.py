"""Live per-platform counters ("X 212 / 280") and the list of problems under the editor."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from mbv_desktop.core.platforms import Platform, PlatformCheck


class PlatformCounters(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout()
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(16)
        self._row.addStretch(1)
        self._problems = QLabel(self)
        self._problems.setObjectName("problems")
        self._problems.setWordWrap(True)
        self._problems.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._row)
        layout.addWidget(self._problems)
        self._labels: list[QLabel] = []
        self._pending: list[QLabel] = []
        self._extra: list[str] = []
        self.checks: list[PlatformCheck] = []

    def show_checks(self, checks: list[PlatformCheck], extra: list[str] | None = None) -> None:
        """``extra``: further problems to list (e.g. the attached media's)."""
        for label in self._pending:
            label.deleteLater()
        self._pending.clear()
        self.checks = checks
        while len(self._labels) < len(checks):
            label = QLabel(self)
            label.setObjectName("counter")
            self._labels.append(label)
            self._row.insertWidget(len(self._labels) - 1, label)
        for label, check in zip(self._labels, checks, strict=False):
            label.setText(f"{check.platform.label}  {check.length:,} / {check.limit:,}")
            label.setProperty("state", _state(check))
            label.setToolTip(f"{check.limit - check.length:,} left" if check.fits
                             else "Does not fit")
            label.style().unpolish(label)
            label.style().polish(label)
            label.show()
        for label in self._labels[len(checks):]:
            label.hide()
        problems = [p for c in checks for p in c.problems] + list(extra or [])
        self._extra = list(extra or [])
        self._problems.setText("\n".join(f"• {p}" for p in problems))
        self._problems.setVisible(bool(problems))

    def show_pending(self, platforms: tuple[Platform, ...]) -> None:
        """Placeholders while the rules load (the first X count, once per run)."""
        self.show_checks([])
        for platform in platforms:
            label = QLabel(f"{platform.label}  … / {platform.limit:,}", self)
            label.setObjectName("counter")
            self._row.insertWidget(self._row.count() - 1, label)
            self._pending.append(label)

    def counter_texts(self) -> list[str]:
        return [lbl.text() for lbl in self._labels if not lbl.isHidden()]

    def problem_texts(self) -> list[str]:
        return [p for c in self.checks for p in c.problems] + self._extra


def _state(check: PlatformCheck) -> str:
    if not check.fits:
        return "over"
    if check.length > check.limit * 0.9:
        return "near"
    return "ok"
