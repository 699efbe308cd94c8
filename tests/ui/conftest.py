"""UI fixtures: the real main window on real services, driven through a qasync loop."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import shown_window


@pytest.fixture
def window(services: Any, loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    with shown_window(services, loop) as w:
        yield w
