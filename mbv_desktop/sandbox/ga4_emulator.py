"""The Google Analytics 4 Measurement Protocol emulator.

Mounted by the host at ``/ga4``; the app's ``ga4.endpoint`` is ``http://127.0.0.1:PORT/ga4/mp/collect``.

``POST /mp/collect?measurement_id=G-…&api_secret=…``
    Like GA4: 204 with an empty body whether or not the events are valid (GA4 never says).
    Events of a valid request with both keys are kept, in memory, for ``GET /events``; the rest
    are silently lost, as GA4 loses them.
``POST /debug/mp/collect``
    GA4's validation endpoint: 200 with ``{"validationMessages": [{"fieldPath", "description",
    "validationCode"}]}`` (empty when the payload is valid); nothing is kept. Like GA4's, it
    does not check ``measurement_id`` or ``api_secret``.
``GET /events``
    Sandbox only: the events received so far, ``[{"client_id", "name", "params",
    "timestamp_micros", "request"}]`` (``request``: 1 for the events of the first request
    kept, 2 for the next…), so a person (or a test) can see what the app sent and how.

Validation follows the protocol's documented limits (codes in brackets):

* the body: a JSON object [VALUE_INVALID] under 130 kB [VALUE_OUT_OF_BOUNDS]; a ``client_id``
  (or ``app_instance_id``) string [VALUE_REQUIRED, VALUE_INVALID]; ``user_id`` a string and
  ``timestamp_micros`` a whole number when given [VALUE_INVALID];
* ``events``: 1 to 25 [VALUE_REQUIRED, EXCEEDED_MAX_ENTITIES], each with a ``name``;
* event and parameter names: letters, digits and underscores starting with a letter
  [NAME_INVALID], at most 40 characters [VALUE_OUT_OF_BOUNDS], not starting with ``_``,
  ``firebase_``, ``ga_``, ``google_`` or ``gtag.`` [NAME_RESERVED]; event names GA4 keeps for
  itself (``session_start``, ``first_visit``, ``error``, ``notification_*`` …) [NAME_RESERVED];
* ``params``: an object [VALUE_INVALID] of at most 25 [EXCEEDED_MAX_ENTITIES], each name once
  [NAME_DUPLICATED]; values text or numbers (``items`` a list of objects) [VALUE_INVALID]; text
  at most 100 characters (``page_title`` 300, ``page_referrer`` 420, ``page_location`` 1000)
  [VALUE_OUT_OF_BOUNDS];
* ``user_properties``: at most 25 [EXCEEDED_MAX_ENTITIES], names as above but at most 24
  characters, each ``{"value": …}`` with text of at most 36 characters [VALUE_OUT_OF_BOUNDS].

Field paths name the place, e.g. ``events[3].params.model``.
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

MAX_BODY = 130_000
MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_USER_PROPERTIES = 25
MAX_NAME = 40
MAX_USER_PROPERTY_NAME = 24
MAX_USER_PROPERTY_VALUE = 36
MAX_VALUE = 100
LONG_VALUES = {"page_title": 300, "page_referrer": 420, "page_location": 1000}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
RESERVED_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_EVENTS = frozenset({
    "ad_activeview", "ad_click", "ad_exposure", "ad_impression", "ad_query", "ad_reward",
    "adunit_exposure", "app_background", "app_clear_data", "app_exception", "app_remove",
    "app_store_refund", "app_store_subscription_cancel", "app_store_subscription_convert",
    "app_store_subscription_renew", "app_update", "app_upgrade", "error", "first_open",
    "first_visit", "in_app_purchase", "os_update", "session_start",
    "session_start_with_rollout", "user_engagement",
})
RESERVED_EVENT_PREFIXES = ("dynamic_link_", "notification_")

Messages = list[dict[str, str]]


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the names it had more than once."""

    duplicated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    seen: list[str] = []
    for key, value in pairs:
        if key in obj and key not in seen:
            seen.append(key)
        obj[key] = value
    obj.duplicated = tuple(seen)
    return obj


def parse_body(raw: bytes) -> Any:
    """The decoded body, or None when it is not JSON."""
    try:
        return json.loads(raw, object_pairs_hook=_object)
    except (ValueError, RecursionError):
        return None


class _Checker:
    def __init__(self) -> None:
        self.messages: Messages = []

    def add(self, path: str, text: str, code: str) -> None:
        self.messages.append({"fieldPath": path, "description": text, "validationCode": code})

    def name(self, path: str, value: object, what: str, limit: int = MAX_NAME) -> bool:
        """Checks one event, parameter or user property name; whether it is usable."""
        if not isinstance(value, str) or not value:
            self.add(path, f"The {what} name is required.", "VALUE_REQUIRED")
            return False
        if value.lower().startswith(RESERVED_PREFIXES):
            self.add(path, f"{_cap(what)} name [{value}] starts with a reserved prefix.",
                     "NAME_RESERVED")
            return False
        if not _NAME.match(value):
            self.add(path, f"{_cap(what)} name [{value}] must start with a letter and contain "
                     "only letters, digits and underscores.", "NAME_INVALID")
            return False
        if len(value) > limit:
            self.add(path, f"{_cap(what)} name [{value}] is longer than {limit} characters.",
                     "VALUE_OUT_OF_BOUNDS")
            return False
        return True

    def event(self, path: str, event: object) -> None:
        if not isinstance(event, dict):
            self.add(path, "An event must be an object.", "VALUE_INVALID")
            return
        name = event.get("name")
        if self.name(f"{path}.name", name, "event") and (
                str(name).lower() in RESERVED_EVENTS
                or str(name).lower().startswith(RESERVED_EVENT_PREFIXES)):
            self.add(f"{path}.name", f"Event name [{name}] is reserved.", "NAME_RESERVED")
        if "params" in event:
            self.params(f"{path}.params", event["params"])

    def params(self, path: str, params: object) -> None:
        if not isinstance(params, dict):
            self.add(path, "Event params must be an object.", "VALUE_INVALID")
            return
        if len(params) > MAX_PARAMS:
            self.add(path, f"An event has {len(params)} params; at most {MAX_PARAMS} are "
                     "allowed.", "EXCEEDED_MAX_ENTITIES")
        for key in getattr(params, "duplicated", ()):
            self.add(f"{path}.{key}", f"Param [{key}] is given more than once.",
                     "NAME_DUPLICATED")
        for key, value in params.items():
            if self.name(f"{path}.{key}", key, "param"):
                self.value(f"{path}.{key}", key, value)

    def value(self, path: str, key: str, value: object) -> None:
        if key == "items" and isinstance(value, list):
            if not all(isinstance(item, dict) for item in value):
                self.add(path, "Each item must be an object.", "VALUE_INVALID")
            return
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.add(path, f"Param [{key}] must be a string or a number.", "VALUE_INVALID")
            return
        limit = LONG_VALUES.get(key, MAX_VALUE)
        if isinstance(value, str) and len(value) > limit:
            self.add(path, f"Value of param [{key}] is {len(value)} characters long; at most "
                     f"{limit} are allowed.", "VALUE_OUT_OF_BOUNDS")

    def user_properties(self, path: str, props: object) -> None:
        if not isinstance(props, dict):
            self.add(path, "user_properties must be an object.", "VALUE_INVALID")
            return
        if len(props) > MAX_USER_PROPERTIES:
            self.add(path, f"At most {MAX_USER_PROPERTIES} user properties are allowed.",
                     "EXCEEDED_MAX_ENTITIES")
        for key, prop in props.items():
            where = f"{path}.{key}"
            if not self.name(where, key, "user property", MAX_USER_PROPERTY_NAME):
                continue
            if not isinstance(prop, dict) or "value" not in prop:
                self.add(where, f"User property [{key}] needs a value.", "VALUE_REQUIRED")
                continue
            value = prop["value"]
            if isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE:
                self.add(f"{where}.value", f"Value of user property [{key}] is longer than "
                         f"{MAX_USER_PROPERTY_VALUE} characters.", "VALUE_OUT_OF_BOUNDS")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def validate(payload: Any, size: int = 0) -> Messages:
    """GA4-style validation messages for one request body (empty when it is valid)."""
    check = _Checker()
    if size > MAX_BODY:
        check.add("", f"The request body is {size} bytes; it must be under {MAX_BODY}.",
                  "VALUE_OUT_OF_BOUNDS")
        return check.messages
    if not isinstance(payload, dict):
        check.add("", "The body must be a JSON object.", "VALUE_INVALID")
        return check.messages
    client_id = payload.get("client_id", payload.get("app_instance_id"))
    if client_id is None or client_id == "":
        check.add("client_id", "client_id is required.", "VALUE_REQUIRED")
    elif not isinstance(client_id, str):
        check.add("client_id", "client_id must be a string.", "VALUE_INVALID")
    if "user_id" in payload and not isinstance(payload["user_id"], str):
        check.add("user_id", "user_id must be a string.", "VALUE_INVALID")
    stamp = payload.get("timestamp_micros")
    if stamp is not None and (isinstance(stamp, bool) or not _whole(stamp)):
        check.add("timestamp_micros", "timestamp_micros must be a whole number.",
                  "VALUE_INVALID")
    if "user_properties" in payload:
        check.user_properties("user_properties", payload["user_properties"])
    events = payload.get("events")
    if events is None or events == []:
        check.add("events", "At least one event is required.", "VALUE_REQUIRED")
    elif not isinstance(events, list):
        check.add("events", "events must be a list.", "VALUE_INVALID")
    elif len(events) > MAX_EVENTS:
        check.add("events", f"A request has {len(events)} events; at most {MAX_EVENTS} are "
                  "allowed.", "EXCEEDED_MAX_ENTITIES")
    else:
        for n, event in enumerate(events):
            check.event(f"events[{n}]", event)
    return check.messages


def _whole(value: object) -> bool:
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isdigit()


def create_app(context: EmulatorContext) -> ASGIApp:
    received: list[dict[str, Any]] = []
    requests = [0]

    async def collect(request: Request) -> Response:
        raw = await request.body()
        payload = parse_body(raw)
        query = request.query_params
        if query.get("measurement_id") and query.get("api_secret") \
                and not validate(payload, len(raw)):
            requests[0] += 1
            for event in payload["events"]:
                received.append({"client_id": payload.get("client_id"), "name": event["name"],
                                 "params": dict(event.get("params", {})),
                                 "timestamp_micros": payload.get("timestamp_micros"),
                                 "request": requests[0]})
        return Response(status_code=204)

    async def debug_collect(request: Request) -> Response:
        raw = await request.body()
        return JSONResponse({"validationMessages": validate(parse_body(raw), len(raw))})

    async def events(request: Request) -> Response:
        return JSONResponse(received)

    return Starlette(routes=[
        Route("/mp/collect", collect, methods=["POST"]),
        Route("/debug/mp/collect", debug_collect, methods=["POST"]),
        Route("/events", events, methods=["GET"]),
    ])


def fault_reply(fault: Fault) -> FaultReply:
    return generic_fault_reply(fault)
