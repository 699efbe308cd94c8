"""Loading the ``stripe`` SDK off the GUI thread, configured the one way the app uses it.

Importing ``stripe`` takes 100-200 ms, so nothing here imports it at module import: the first
:func:`load_sdk` does, on a worker thread. It also turns the SDK's telemetry off (no
``X-Stripe-Client-Telemetry`` header, no platform string or telemetry id in the user agent)
and quiets the SDK's own logger, whose INFO/DEBUG lines carry request URLs and form bodies
(customers' e-mail addresses); failures reach the app's log through the client's own lines.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
from typing import Any

_sdk: Any = None
_api_version = ""
_lock = threading.Lock()


def _import_sdk() -> Any:
    global _sdk, _api_version
    with _lock:
        if _sdk is None:
            module: Any = importlib.import_module("stripe")
            module.enable_telemetry = False
            module.log = None
            logging.getLogger("stripe").setLevel(logging.WARNING)
            # Read once, before anything could reassign the module-level default.
            _api_version = str(module.api_version)
            _sdk = module
    return _sdk


async def load_sdk() -> Any:
    """The ``stripe`` module, imported on a worker thread the first time."""
    if _sdk is not None:
        return _sdk
    return await asyncio.to_thread(_import_sdk)


def http_client(sdk: Any, timeout: float) -> Any:
    """The SDK's httpx client, sending the form body as ``content=`` (the SDK passes the
    encoded string as ``data=``, which httpx deprecates)."""
    base = sdk.HTTPXClient
    if not hasattr(base, "_get_request_args_kwargs"):
        return base(timeout=timeout)

    class _FormAsContent(base):  # type: ignore[misc, valid-type]
        def _get_request_args_kwargs(self, method: str, url: str, headers: Any,
                                     post_data: Any) -> Any:
            args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
            data = kwargs.get("data")
            if isinstance(data, (str, bytes)):
                kwargs["content"] = kwargs.pop("data")
            return args, kwargs

    return _FormAsContent(timeout=timeout)


def pinned_api_version() -> str:
    """The API version this SDK was built for (``"2026-10-28.endive"``), sent as
    ``Stripe-Version`` on every request. Empty until :func:`load_sdk` has run."""
    return _api_version
