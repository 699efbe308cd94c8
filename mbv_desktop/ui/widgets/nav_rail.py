"""The navigation rail on the left: one checkable button per panel."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QButtonGroup, QSizePolicy, QToolButton, QVBoxLayout, QWidget


class NavigationRail(QWidget):
    panel_selected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("navRail")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.setFixedWidth(84)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 10, 0, 10)
        self._layout.setSpacing(2)
        self._layout.addStretch(1)
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        self.buttons: dict[str, QToolButton] = {}

    def add_panel(self, name: str, label: str, icon: QIcon, shortcut_hint: str) -> None:
        button = QToolButton(self)
        button.setText(label)
        button.setIcon(icon)
        button.setCheckable(True)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        button.setIconSize(QSize(24, 24))
        button.setToolTip(f"{label} ({shortcut_hint})")
        button.setAccessibleName(label)
        button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        button.clicked.connect(lambda: self.panel_selected.emit(name))
        self._group.addButton(button)
        self._layout.insertWidget(self._layout.count() - 1, button)
        self.buttons[name] = button

    def set_current(self, name: str) -> None:
        if name in self.buttons:
            self.buttons[name].setChecked(True)
