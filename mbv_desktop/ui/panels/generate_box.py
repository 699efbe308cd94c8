"""The Generate box under the editor: pick a task, provider, model and number of variants,
watch the variants stream in, cancel at any time, and take one into the draft. Also makes an
image for the draft. Shows what each run cost and the month's total against the budget."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from mbv_desktop.core.errors import MbvError, NotConfigured
from mbv_desktop.core.generation import DEFAULT_TEMPLATES, PromptTemplate, Provider, TaskKind
from mbv_desktop.core.pricing import format_usd
from mbv_desktop.services.container import Services
from mbv_desktop.services.generation import ImageOutcome, TextOutcome
from mbv_desktop.services.similarity import SimilarReport
from mbv_desktop.ui.dialogs.image_dialog import ImageDialog
from mbv_desktop.ui.dialogs.template_dialog import TemplateDialog
from mbv_desktop.ui.tasks import TaskRunner

log = logging.getLogger(__name__)

NEEDS_TOPIC = {TaskKind.X_POST, TaskKind.X_THREAD, TaskKind.INSTAGRAM_CAPTION,
               TaskKind.TIKTOK_SCRIPT}
TONES = ("playful", "professional", "friendly", "bold", "calm")
LANGUAGES = ("Spanish", "French", "German", "Portuguese", "Italian", "Japanese")


class _ModelComboBox(QComboBox):
    """A combo box that says when its list is about to open."""

    opening = Signal()

    def showPopup(self) -> None:
        self.opening.emit()
        super().showPopup()


class GenerateBox(QGroupBox):
    """Emits ``use_text(text, replace)`` when the person takes a variant into the draft."""

    use_text = Signal(str, bool)
    image_made = Signal(int)  # asset id

    def __init__(self, services: Services, tasks: TaskRunner,
                 draft_context: Callable[[], tuple[str, int | None]],
                 parent: QWidget | None = None) -> None:
        """``draft_context()`` gives the draft's text and id at the moment a run starts."""
        super().__init__("Generate", parent)
        self._generation = services.generation
        self._similarity = services.similarity
        self._tasks = tasks
        self._run: asyncio.Task[TextOutcome] | None = None
        self._image_run: asyncio.Task[ImageOutcome] | None = None
        self._draft_context = draft_context

        self.task_box = QComboBox(self)
        self.task_box.setAccessibleName("Generation task")
        for kind, template in DEFAULT_TEMPLATES.items():
            self.task_box.addItem(template.label, kind)
        self.task_box.currentIndexChanged.connect(self._task_changed)
        self.provider_box = QComboBox(self)
        self.provider_box.setAccessibleName("AI provider")
        for provider in Provider:
            self.provider_box.addItem(provider.label, provider)
        self.provider_box.setCurrentIndex(
            self.provider_box.findData(self._generation.default_provider()))
        self.provider_box.currentIndexChanged.connect(self._provider_changed)
        self.model_box = _ModelComboBox(self)
        self.model_box.opening.connect(self._list_models)
        self.model_box.setEditable(True)
        self.model_box.setAccessibleName("Model")
        self.model_box.setMinimumContentsLength(14)
        self.variants_box = QSpinBox(self)
        self.variants_box.setRange(1, 5)
        self.variants_box.setPrefix("Variants: ")
        self.variants_box.setAccessibleName("Number of variants")
        self.prompt_button = QPushButton("Prompt…", self)
        self.prompt_button.setToolTip("Edit the instructions this task sends to the model")
        self.prompt_button.clicked.connect(self.edit_template)

        self.topic_edit = QLineEdit(self)
        self.topic_edit.setPlaceholderText("What is the post about?")
        self.topic_edit.setAccessibleName("Topic")
        self.tone_box = QComboBox(self)
        self.tone_box.addItems(TONES)
        self.tone_box.setAccessibleName("Tone")
        self.language_box = QComboBox(self)
        self.language_box.addItems(LANGUAGES)
        self.language_box.setAccessibleName("Language")

        self.generate_button = QPushButton("Generate", self)
        self.generate_button.setToolTip("Generate (Ctrl+G)")
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.image_button = QPushButton("Image", self)
        self.image_button.setToolTip("Make an image from the topic (or the draft) and attach it")
        self.image_button.clicked.connect(self.generate_image)
        self.similar_button = QPushButton("Similar", self)
        self.similar_button.setToolTip("Find drafts like this one (and possible duplicates)")
        self.similar_button.clicked.connect(self.find_similar)

        self.variants = QTabWidget(self)
        self.variants.setDocumentMode(True)
        self.variants.hide()
        self.use_button = QPushButton("Use this", self)
        self.use_button.setToolTip("Replace the draft's text with this variant")
        self.use_button.clicked.connect(lambda: self._take(replace=True))
        self.append_button = QPushButton("Append", self)
        self.append_button.setToolTip("Add this variant to the end of the draft")
        self.append_button.clicked.connect(lambda: self._take(replace=False))
        for b in (self.use_button, self.append_button):
            b.setEnabled(False)
        self.image_label = QLabel(self)
        self.image_label.hide()
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("muted")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.spend_label = QLabel("", self)
        self.spend_label.setObjectName("muted")

        row1 = QHBoxLayout()
        for w in (self.task_box, self.prompt_button, self.provider_box, self.model_box,
                  self.variants_box):
            row1.addWidget(w)
        row2 = QHBoxLayout()
        for widget in (self.topic_edit, self.tone_box, self.language_box, self.generate_button,
                  self.cancel_button, self.image_button, self.similar_button):
            row2.addWidget(widget)
        row2.setStretch(0, 1)
        takes = QHBoxLayout()
        takes.addWidget(self.use_button)
        takes.addWidget(self.append_button)
        takes.addStretch(1)
        takes.addWidget(self.spend_label)
        layout = QVBoxLayout(self)
        layout.addLayout(row1)
        layout.addLayout(row2)
        layout.addWidget(self.variants, 1)
        layout.addWidget(self.image_label)
        layout.addLayout(takes)
        layout.addWidget(self.status_label)

        shortcut = QAction("Generate", self)
        shortcut.setShortcut(QKeySequence("Ctrl+G"))
        shortcut.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        shortcut.triggered.connect(self.generate)
        self.addAction(shortcut)
        self._unsubscribe = self._generation.events.subscribe(lambda _e: self.refresh_spend())
        self._task_changed()
        self._provider_changed()
        self.refresh_spend()

    # --- choices ---------------------------------------------------------------------------

    @property
    def task(self) -> TaskKind:
        return TaskKind(self.task_box.currentData())

    @property
    def provider(self) -> Provider:
        return Provider(self.provider_box.currentData())

    def _task_changed(self) -> None:
        kind = self.task
        self.topic_edit.setVisible(kind in NEEDS_TOPIC)
        self.tone_box.setVisible(kind is TaskKind.REWRITE_TONE)
        self.language_box.setVisible(kind is TaskKind.REWRITE_LANGUAGE)

    def _provider_changed(self) -> None:
        self.model_box.clear()
        self.model_box.addItem(self._generation.default_model(self.provider))
        self._models_listed: set[Provider] = getattr(self, "_models_listed", set())

    def _list_models(self) -> None:
        """Asks the provider for its models when the list is first opened, not at start-up:
        the first call loads the SDK (~0.4 s of imports), which must not compete with the
        window's first paint."""
        provider = self.provider
        if provider in self._models_listed:
            return
        self._models_listed.add(provider)
        self._tasks.run(self._generation.list_models(provider), label="Listing models",
                        progress=False, latest_wins="list-models",
                        on_success=lambda models: self._fill_models(provider, models),
                        on_error=lambda _e: self._forget_models(provider))

    def _forget_models(self, provider: Provider) -> bool:
        """Offline or not set up: keep the default model, and ask again next time."""
        self._models_listed.discard(provider)
        return True

    def _fill_models(self, provider: Provider, models: list[str]) -> None:
        if provider is not self.provider:
            return
        current = self.model_box.currentText()
        chat = [m for m in models if not m.startswith(("dall-e", "text-embedding"))]
        self.model_box.clear()
        self.model_box.addItems(chat or [current])
        self.model_box.setCurrentText(current if current in chat or not chat else chat[0])

    def edit_template(self) -> None:
        kind = self.task
        self._tasks.run(self._generation.template(kind), label="Loading the prompt",
                        progress=False, on_success=lambda t: self._open_template(kind, t))

    def _open_template(self, kind: TaskKind, template: PromptTemplate) -> None:
        dialog = TemplateDialog(template, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def finished(result: int) -> None:
            if result == TemplateDialog.RESET:
                self._tasks.run(self._generation.reset_template(kind),
                                label="Resetting the prompt", on_success=lambda _r:
                                self.status_label.setText(f"{template.label}: built-in prompt."))
            elif result == TemplateDialog.DialogCode.Accepted:
                system, user = dialog.values()
                self._tasks.run(self._generation.save_template(kind, system, user),
                                label="Saving the prompt", on_error=self._failed,
                                on_success=lambda _r: self.status_label.setText(
                                    f"{template.label}: your prompt is saved."))

        dialog.finished.connect(finished)
        dialog.open()
        self._template_dialog = dialog

    # --- runs ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._run is not None and not self._run.done()

    def generate(self) -> None:
        if self.running:
            return
        n = self.variants_box.value()
        self.variants.clear()
        self._views: list[QPlainTextEdit] = []
        for i in range(n):
            view = QPlainTextEdit(self.variants)
            view.setReadOnly(True)
            view.setAccessibleName(f"Variant {i + 1}")
            self._views.append(view)
            self.variants.addTab(view, f"Variant {i + 1}")
        self.variants.show()
        self._set_running(True)
        self.status_label.setText(f"Asking {self.provider.label}…")
        draft_text, draft_id = self._draft_context()
        self._run = self._tasks.run(
            self._generation.generate_text(
                self.task, provider=self.provider, model=self.model_box.currentText().strip(),
                topic=self.topic_edit.text(), text=draft_text,
                tone=self.tone_box.currentText(), language=self.language_box.currentText(),
                variants=n, draft_id=draft_id, on_delta=self._on_delta),
            label="Generating", on_success=self._done, on_error=self._failed)
        self._run.add_done_callback(lambda t: self._set_running(False) if t.cancelled() else None)
        self._run.add_done_callback(self._note_cancel)

    def cancel(self) -> None:
        if self._run is not None:
            self._run.cancel()
        if self._image_run is not None:
            self._image_run.cancel()

    def _note_cancel(self, task: asyncio.Task[TextOutcome]) -> None:
        if task.cancelled():
            self.status_label.setText("Cancelled. What arrived is kept above; it was counted "
                                      "in the month's spend.")
            self._enable_takes()

    def _on_delta(self, delta: object) -> None:
        index, text = getattr(delta, "index", 0), getattr(delta, "text", "")
        if 0 <= index < len(self._views) and text:
            view = self._views[index]
            cursor = view.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            cursor.insertText(text)
            view.setTextCursor(cursor)
            view.ensureCursorVisible()  # follow the stream as it grows

    def _done(self, outcome: TextOutcome) -> None:
        self._set_running(False)
        for variant in outcome.variants:
            if variant.index < len(self._views):
                self._views[variant.index].setPlainText(variant.text)
                if variant.partial:
                    self.variants.setTabText(variant.index, f"Variant {variant.index + 1} (cut)")
        u = outcome.usage
        cost = format_usd(outcome.cost.usd) if outcome.cost.priced else "not priced"
        approx = " (estimated)" if u.estimated or outcome.cost.approximate else ""
        line = (f"{outcome.provider.label} {outcome.model}: {u.tokens_in:,} in / "
                f"{u.tokens_out:,} out tokens, {cost}{approx}.")
        if outcome.note:
            line = f"{outcome.note} {line}"
        self.status_label.setText(line)
        self._enable_takes()

    def _failed(self, error: BaseException) -> bool:
        self._set_running(False)
        if isinstance(error, NotConfigured):
            self.status_label.setText(f"{error} (Settings: mbv-desktop config show)")
            return True
        if isinstance(error, MbvError):
            self.status_label.setText(str(error))
            return True
        return False

    def _set_running(self, running: bool) -> None:
        self.generate_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _enable_takes(self) -> None:
        has_text = any(v.toPlainText().strip() for v in getattr(self, "_views", []))
        self.use_button.setEnabled(has_text)
        self.append_button.setEnabled(has_text)

    def _take(self, *, replace: bool) -> None:
        views = getattr(self, "_views", [])
        index = self.variants.currentIndex()
        if 0 <= index < len(views):
            text = views[index].toPlainText().strip()
            if text:
                self.use_text.emit(text, replace)

    def variant_texts(self) -> list[str]:
        return [v.toPlainText() for v in getattr(self, "_views", [])]

    # --- images ----------------------------------------------------------------------------

    def generate_image(self) -> None:
        """Asks what to draw (prefilled from the topic or the draft), then makes it."""
        draft_text, draft_id = self._draft_context()
        prompt = self.topic_edit.text().strip() or draft_text.strip()[:1000]
        dialog = ImageDialog(prompt, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.make_image(draft_id=draft_id, **dialog.values()))
        dialog.open()
        self._image_dialog = dialog

    def make_image(self, *, prompt: str, size: str = "1024x1024", quality: str = "standard",
                   style: str = "vivid", draft_id: int | None = None) -> None:
        self.image_button.setEnabled(False)
        self.status_label.setText(f"Asking {self.provider.label} for an image…")
        self._image_draft_id = draft_id
        self._image_run = self._tasks.run(
            self._generation.generate_image(prompt, provider=self.provider, size=size,
                                            quality=quality, style=style, draft_id=draft_id),
            label="Making an image", on_success=self._image_done, on_error=self._image_failed)

    def _image_done(self, outcome: ImageOutcome) -> None:
        self.image_button.setEnabled(True)
        pixmap = QPixmap(str(outcome.path))
        if not pixmap.isNull():
            self.image_label.setPixmap(pixmap.scaledToHeight(
                96, Qt.TransformationMode.SmoothTransformation))
            self.image_label.show()
        cost = format_usd(outcome.cost.usd) if outcome.cost.priced else "not priced"
        where = ("attached to this draft" if self._image_draft_id
                 else "saved in the media library")
        self.status_label.setText(f"Image {outcome.asset.width}×{outcome.asset.height}, {where}, "
                                  f"{cost}.")
        self.image_made.emit(outcome.asset.id)

    def _image_failed(self, error: BaseException) -> bool:
        self.image_button.setEnabled(True)
        return self._failed(error)

    # --- similar drafts --------------------------------------------------------------------

    def find_similar(self) -> None:
        _text, draft_id = self._draft_context()
        if draft_id is None:
            self.status_label.setText("Write something in the draft first.")
            return
        self.similar_button.setEnabled(False)
        self.status_label.setText("Looking for similar drafts…")
        self._tasks.run(self._similarity.similar(draft_id), label="Finding similar drafts",
                        on_success=self._show_similar, on_error=self._similar_failed)

    def _show_similar(self, report: SimilarReport) -> None:
        self.similar_button.setEnabled(True)
        if not report.matches:
            self.status_label.setText("No other drafts to compare with yet.")
            return
        listed = " · ".join(f"“{m.title[:40]}” {m.score:.2f}" for m in report.matches[:3])
        text = f"Similar drafts: {listed}"
        duplicate = report.duplicate_of
        if duplicate is not None:
            text = (f"This looks like a duplicate of “{duplicate.title[:60]}” "
                    f"({duplicate.score:.2f}). " + text)
        self.status_label.setText(text)

    def _similar_failed(self, error: BaseException) -> bool:
        self.similar_button.setEnabled(True)
        return self._failed(error)

    # --- spend -----------------------------------------------------------------------------

    def refresh_spend(self) -> None:
        self._tasks.run(self._generation.budget(), label="Reading AI spend", progress=False,
                        latest_wins="ai-spend", on_success=self._show_spend)

    def _show_spend(self, budget: object) -> None:
        month = getattr(budget, "month", None)
        limit = float(getattr(budget, "budget_usd", 0.0))
        if month is None:
            return
        text = f"This month: {format_usd(month.cost_usd)}"
        if limit > 0:
            text += f" of {format_usd(limit)}"
        warning = getattr(budget, "warning", None)
        self.spend_label.setText(text + (" — over budget" if warning else ""))
        self.spend_label.setToolTip(warning or "")
        self.spend_label.setProperty("state", "over" if warning else "ok")
        self.spend_label.style().unpolish(self.spend_label)
        self.spend_label.style().polish(self.spend_label)

    def shut_down(self) -> None:
        self.cancel()
        self._unsubscribe()
