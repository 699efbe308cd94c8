"""The Google Analytics 4 Measurement Protocol emulator.

Mounted by the host at ``/ga4``; the app's ``ga4.endpoint`` is ``http://127.0.0.1:PORT/ga4/mp/collect``.

``POST /mp/collect?measurement_id=G-…&api_secret=…``
    Like GA4: 204 with an empty body whether or not the events are valid (GA4 never says).
    Valid events are kept, in memory, for ``GET /events``.
``POST /debug/mp/collect``
    GA4's validation endpoint: 200 with ``{"validationMessages": [{"fieldPath", "description",
    "validationCode"}]}`` (empty when the payload is valid); nothing is kept.
``GET /events``
    Sandbox only: the events received so far, ``[{"client_id", "name", "params"}]``, so a
    person (or a test) can see what the app sent.

Checks follow the protocol's documented limits: ``measurement_id`` and ``api_secret`` present,
a ``client_id``, 1–25 events, names of letters, digits and underscores starting with a letter
(at most 40), at most 25 parameters per event.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from mbv_desktop.sandbox.common import EmulatorContext, FaultReply, generic_fault_reply
from mbv_desktop.sandbox.faults import Fault

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def validate(query: dict[str, str], payload: Any) -> list[dict[str, str]]:
    """GA4-style validation messages for one request (empty when it is valid)."""
    problems: list[dict[str, str]] = []

    def add(path: str, text: str, code: str = "VALUE_INVALID") -> None:
        problems.append({"fieldPath": path, "description": text, "validationCode": code})

    if not query.get("measurement_id"):
        add("measurement_id", "Measurement ID is required.", "VALUE_REQUIRED")
    if not query.get("api_secret"):
        add("api_secret", "API secret is required.", "VALUE_REQUIRED")
    if not isinstance(payload, dict):
        add("", "The body must be a JSON object.")
        return problems
    if not payload.get("client_id"):
        add("client_id", "client_id is required.", "VALUE_REQUIRED")
    events = payload.get("events")
    if not isinstance(events, list) or not 1 <= len(events) <= 25:
        add("events", "Between 1 and 25 events are required.")
        return problems
    for n, event in enumerate(events):
        name = event.get("name") if isinstance(event, dict) else None
        if not isinstance(name, str) or not _NAME.match(name):
            add(f"events[{n}].name", "Event names start with a letter and use letters, digits "
                "and underscores (at most 40).", "NAME_INVALID")
        params = event.get("params", {}) if isinstance(event, dict) else {}
        if not isinstance(params, dict) or len(params) > 25:
            add(f"events[{n}].params", "At most 25 parameters per event.")
    return problems


def create_app(context: EmulatorContext) -> ASGIApp:
    received: list[dict[str, Any]] = []

    async def body(request: Request) -> Any:
        try:
            return json.loads(await request.body())
        except ValueError:
            return None

    async def collect(request: Request) -> Response:
        payload = await body(request)
        if not validate(dict(request.query_params), payload):
            for event in payload["events"]:
                received.append({"client_id": payload["client_id"], "name": event["name"],
                                 "params": event.get("params", {})})
        return Response(status_code=204)

    async def debug_collect(request: Request) -> Response:
        payload = await body(request)
        return JSONResponse({"validationMessages": validate(dict(request.query_params),
                                                            payload)})

    async def events(request: Request) -> Response:
        return JSONResponse(received)

    return Starlette(routes=[
        Route("/mp/collect", collect, methods=["POST"]),
        Route("/debug/mp/collect", debug_collect, methods=["POST"]),
        Route("/events", events, methods=["GET"]),
    ])


def fault_reply(fault: Fault) -> FaultReply:
    return generic_fault_reply(fault)
