"""Stopping the services' background loops (publishing, collection, notifications, usage
events) the same way: let a loop that is working finish for a moment, then cancel it and wait
until it has really stopped, so nothing it writes races the database closing."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def stop_task(task: asyncio.Task[Any] | None, *, grace: float = 0.0,
                    wake: asyncio.Event | None = None) -> None:
    """Stops ``task``: first ``wake`` it and give it ``grace`` seconds to end by itself (a
    send in progress finishes), then cancel it; returns once it has ended."""
    if task is None or task.done():
        return
    if grace > 0:
        if wake is not None:
            wake.set()
        await asyncio.wait({task}, timeout=grace)
        if task.done():
            return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
