"""Light and dark themes: Fusion plus the shared stylesheet, following the system's colour
scheme unless the ``ui.theme`` setting says otherwise."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from mbv_desktop.ui.resources import stylesheet

SCHEMES = {
    "system": Qt.ColorScheme.Unknown,
    "light": Qt.ColorScheme.Light,
    "dark": Qt.ColorScheme.Dark,
}


def apply_theme(app: QApplication, preference: str = "system") -> None:
    app.setStyle("Fusion")
    # Unknown means "follow the system"; Fusion then picks its light or dark palette itself.
    app.styleHints().setColorScheme(SCHEMES.get(preference, Qt.ColorScheme.Unknown))
    app.setStyleSheet(stylesheet("base"))


def current_scheme(app: QApplication) -> str:
    return "dark" if app.styleHints().colorScheme() == Qt.ColorScheme.Dark else "light"
