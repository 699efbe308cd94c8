"""Loopback emulators of the app's remote providers, with fault injection.

The sandbox is the outside world: it imports nothing from the rest of ``mbv_desktop`` and never
imports Qt. :class:`~mbv_desktop.sandbox.host.SandboxHost` serves every emulator on one
127.0.0.1 port; ``python -m mbv_desktop.sandbox`` runs it in the foreground.

Names are imported lazily so ``import mbv_desktop.sandbox`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mbv_desktop.sandbox.faults import Fault, FaultInjector
    from mbv_desktop.sandbox.host import SandboxError, SandboxHost, main

__all__ = ["Fault", "FaultInjector", "SandboxError", "SandboxHost", "main"]

_HOMES = {"Fault": "faults", "FaultInjector": "faults", "SandboxError": "host",
          "SandboxHost": "host", "main": "host"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
