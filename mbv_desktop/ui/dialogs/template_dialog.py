"""Editing a task's prompt template: the instructions sent with every run of that task.

``{topic}``, ``{text}``, ``{tone}`` and ``{language}`` are filled in from the Generate box.
Reset brings back the built-in template.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.generation import PromptTemplate


class TemplateDialog(QDialog):
    RESET = 2  # result code for "reset to the built-in template"

    def __init__(self, template: PromptTemplate, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Prompt for {template.label}")
        self.system_edit = QPlainTextEdit(template.system, self)
        self.system_edit.setAccessibleName("Instructions for the model")
        self.user_edit = QPlainTextEdit(template.user, self)
        self.user_edit.setAccessibleName("Request")
        hint = QLabel("Fields filled in for you: {topic}, {text} (the draft), {tone}, "
                      "{language}.", self)
        hint.setObjectName("muted")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        restore = buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults)
        restore.clicked.connect(lambda: self.done(self.RESET))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Instructions for the model", self))
        layout.addWidget(self.system_edit, 1)
        layout.addWidget(QLabel("Request", self))
        layout.addWidget(self.user_edit, 2)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.resize(620, 420)

    def values(self) -> tuple[str, str]:
        return self.system_edit.toPlainText(), self.user_edit.toPlainText()
