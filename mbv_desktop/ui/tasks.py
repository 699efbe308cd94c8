"""The one way widgets start long work: ``TaskRunner.run(coro, ...)``.

It keeps a reference to every running task (so none is garbage-collected mid-flight), reports
work that takes longer than a short delay so the status bar can show progress with a Cancel
button, routes failures to one error dialog, and supports "latest wins" keys for
search-as-you-type (starting a task with a key cancels the previous task with that key).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from mbv_desktop.core.errors import MbvError, PlanLimitReached

log = logging.getLogger(__name__)


async def _nothing() -> None:
    return None

T = TypeVar("T")
PROGRESS_DELAY_MS = 600


@dataclass
class TaskInfo:
    id: int
    label: str
    cancellable: bool
    task: asyncio.Task[Any] = field(repr=False)
    # An asyncio timer, not a QTimer: a QObject freed by the garbage collector on a worker
    # thread (tasks and their callbacks form cycles) makes Qt warn, or crash.
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class TaskRunner(QObject):
    """Signals carry task ids; ``label(id)`` and ``cancel(id)`` act on them."""

    slow_task_started = Signal(int, str)  # shown past PROGRESS_DELAY_MS
    task_finished = Signal(int)
    pending_changed = Signal(int)
    error_reported = Signal(str)

    def __init__(self, dialog_parent: QWidget | None = None, *, show_dialogs: bool = True) -> None:
        super().__init__(dialog_parent)
        self._dialog_parent = dialog_parent
        self._show_dialogs = show_dialogs
        self._tasks: dict[int, TaskInfo] = {}
        self._latest: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.last_error: str | None = None
        self._closed = False
        #: What "Upgrade…" does when a plan limit stopped something (the window opens Billing).
        self.upgrade: Callable[[PlanLimitReached], None] | None = None

    @property
    def pending(self) -> int:
        """Work a person would call "in progress" (quick background chores are not counted)."""
        return sum(1 for i in self._tasks.values() if i.timer is not None)

    def run(
        self,
        coro: Coroutine[Any, Any, T],
        *,
        label: str,
        on_success: Callable[[T], None] | None = None,
        on_error: Callable[[BaseException], bool] | None = None,
        latest_wins: str | None = None,
        cancellable: bool = True,
        progress: bool = True,
    ) -> asyncio.Task[T]:
        """Starts ``coro`` on the running loop.

        ``on_error`` may handle a failure itself by returning True; otherwise the error dialog
        shows it (a plan limit always, with its "Upgrade…"). Cancellation is never an error.
        """
        loop = asyncio.get_event_loop()
        if self._closed:  # the window has closed: nothing more runs
            coro.close()
            refused = loop.create_task(_nothing())
            refused.cancel()
            return refused  # type: ignore[return-value]
        if latest_wins is not None and (old := self._latest.get(latest_wins)) is not None:
            self.cancel(old)
        task_id = next(self._ids)
        task = loop.create_task(coro)
        info = TaskInfo(task_id, label, cancellable, task)
        self._tasks[task_id] = info
        if latest_wins is not None:
            self._latest[latest_wins] = task_id
        if progress:
            info.timer = loop.call_later(PROGRESS_DELAY_MS / 1000, self._became_slow, task_id)
        task.add_done_callback(
            lambda t: self._done(task_id, t, on_success, on_error, latest_wins)
        )
        self.pending_changed.emit(self.pending)
        return task

    def label(self, task_id: int) -> str:
        info = self._tasks.get(task_id)
        return info.label if info else ""

    def is_cancellable(self, task_id: int) -> bool:
        info = self._tasks.get(task_id)
        return bool(info and info.cancellable)

    def cancel(self, task_id: int) -> None:
        info = self._tasks.get(task_id)
        if info is not None:
            info.task.cancel()

    def cancel_all(self) -> None:
        for info in list(self._tasks.values()):
            info.task.cancel()

    def close(self) -> None:
        """For the window's last step: cancels what is still running (but the caller) and
        starts nothing more. Work started after the loop stops would otherwise resume from
        Qt's event processing with no running loop (a service's last event, a timer)."""
        self._closed = True
        me = asyncio.current_task()
        for info in list(self._tasks.values()):
            if info.task is not me:
                info.task.cancel()

    async def wait_idle(self) -> None:
        """For shutdown and tests: waits until every other task has finished."""
        me = asyncio.current_task()
        while others := [i.task for i in self._tasks.values() if i.task is not me]:
            await asyncio.gather(*others, return_exceptions=True)
            await asyncio.sleep(0)

    def _became_slow(self, task_id: int) -> None:
        info = self._tasks.get(task_id)
        if info is not None and not info.task.done():
            self.slow_task_started.emit(task_id, info.label)

    def _done(
        self,
        task_id: int,
        task: asyncio.Task[Any],
        on_success: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], bool] | None,
        key: str | None,
    ) -> None:
        info = self._tasks.pop(task_id, None)
        if info is not None and info.timer is not None:
            info.timer.cancel()
        if key is not None and self._latest.get(key) == task_id:
            del self._latest[key]
        self.task_finished.emit(task_id)
        self.pending_changed.emit(self.pending)
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            if on_success is not None:
                try:
                    on_success(task.result())
                except Exception as e:  # a bug in a callback must still be seen
                    self.report(e, info.label if info else "")
            return
        handled = on_error is not None and on_error(error)
        if handled and not self._offers_upgrade(error):
            return  # a plan limit is still shown: its way forward is in the dialog
        self.report(error, info.label if info else "")

    def _offers_upgrade(self, error: BaseException) -> bool:
        return isinstance(error, PlanLimitReached) and error.upgrade_to is not None \
            and self.upgrade is not None

    def report(self, error: BaseException, label: str = "") -> None:
        """The one error dialog: a plain sentence for our errors, details for surprises."""
        if isinstance(error, MbvError):
            message = str(error)
            log.info("%s failed: %s", label or "a task", message)
        else:
            message = f"Something went wrong while {label.lower() or 'working'}: {error!r}"
            log.error("%s failed", label or "a task", exc_info=error)
        self.last_error = message
        self.error_reported.emit(message)
        if self._show_dialogs:
            box = QMessageBox(QMessageBox.Icon.Warning, "Must Be Viral", message,
                              QMessageBox.StandardButton.Ok, self._dialog_parent)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            if self._offers_upgrade(error):
                assert isinstance(error, PlanLimitReached) and self.upgrade is not None
                upgrade = box.addButton("Upgrade\u2026", QMessageBox.ButtonRole.AcceptRole)
                upgrade.clicked.connect(functools.partial(self.upgrade, error))
                box.setDefaultButton(upgrade)
            box.open()
