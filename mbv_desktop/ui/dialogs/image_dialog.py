"""Asking for an image: the description (from the topic or the draft), size, quality, style."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QPlainTextEdit,
    QWidget,
)

SIZES = ("1024x1024", "1792x1024", "1024x1792")
QUALITIES = ("standard", "hd")
STYLES = ("vivid", "natural")


class ImageDialog(QDialog):
    def __init__(self, prompt: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Make an image")
        self.prompt_edit = QPlainTextEdit(prompt, self)
        self.prompt_edit.setAccessibleName("Image description")
        self.prompt_edit.setPlaceholderText("Describe the picture: subject, setting, light, mood")
        self.size_box = QComboBox(self)
        self.size_box.addItems(SIZES)
        self.quality_box = QComboBox(self)
        self.quality_box.addItems(QUALITIES)
        self.style_box = QComboBox(self)
        self.style_box.addItems(STYLES)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Make image")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Description", self.prompt_edit)
        form.addRow("Size", self.size_box)
        form.addRow("Quality", self.quality_box)
        form.addRow("Style", self.style_box)
        form.addRow(buttons)
        self.resize(520, 320)

    def values(self) -> dict[str, str]:
        return {"prompt": self.prompt_edit.toPlainText().strip(),
                "size": self.size_box.currentText(), "quality": self.quality_box.currentText(),
                "style": self.style_box.currentText()}
