"""Typed change events that services publish and the UI listens to, so a panel refreshes only
what changed instead of reloading everything."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class DraftChange(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"
    RESTORED = "restored"
    IMPORTED = "imported"


@dataclass(frozen=True)
class DraftsChanged:
    kind: DraftChange
    ids: tuple[int, ...]
    # Who caused it (e.g. the editor that autosaved), so it can skip its own echo.
    origin: object | None = None


class EventHub(Generic[E]):
    """Synchronous fan-out on the thread that publishes (the asyncio loop's thread)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[E], None]] = []

    def subscribe(self, listener: Callable[[E], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, event: E) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("a listener failed on %r", event)
