"""Small helpers shared by the tests (this folder is on sys.path)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(condition: Callable[[], object], timeout: float = 5.0) -> None:
    """Lets the loop run until ``condition()`` is truthy; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.01)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine without Qt (service and store tests)."""
    return asyncio.run(coro)


async def close_window(window: Any) -> None:
    """Closes a MainWindow the way a person does and waits until its work is saved."""
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    window.close()
    await asyncio.wait_for(closed.wait(), 10)
