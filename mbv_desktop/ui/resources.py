"""Where icons and themes live: ``resources/`` at the top of the source tree."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def icon(name: str) -> QIcon:
    return QIcon(str(RESOURCES / "icons" / f"{name}.svg"))


def stylesheet(name: str = "base") -> str:
    path = RESOURCES / "themes" / f"{name}.qss"
    return path.read_text(encoding="utf-8") if path.exists() else ""
