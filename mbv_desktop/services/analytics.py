"""Product analytics events (GA4 Measurement Protocol), only for creators who opted in.

The catalogue (:data:`CATALOGUE`) is the one list of what may ever be sent: six events and, for
each, the parameters it carries and their types. Nothing else leaves the computer: no e-mail,
handle, prompt or post text, and the client id is a random id made once per profile
(``<data dir>/analytics-id``), never an account id. Every event also carries
``engagement_time_msec`` and this app run's ``session_id``, which GA4 needs for its reports.

How events travel:

* :meth:`AnalyticsService.track` checks the event against the catalogue and the protocol's
  rules (a mistake is an :class:`InvalidInput` naming it), then, only when the creator opted in
  (``analytics.opt_in``) and a measurement id is set, writes it to the ``ga4_events`` queue and
  wakes the sender. Not opted in, nothing at all is written. It never waits for the network and
  never fails the action it reports on because GA4 is unreachable.
* :meth:`AnalyticsService.flush` (the background sender, or "Send now") sends queued events
  oldest first, at most 25 per request. A batch is marked ``sending`` (committed) before its
  request. Sent: ``sent``. Certainly not delivered (no connection, DNS, 429, an open breaker):
  back to ``queued`` for later, and the sender tries again after a pause (30 s, doubling to
  15 min). Maybe delivered (the connection broke after the request went out, a timeout, a 5xx):
  ``dropped`` with the reason: a lost event is acceptable, a doubled one is not. Rows a crash
  left ``sending`` are dropped at start-up for the same reason.
* In the sandbox (``sandbox.enabled``) each batch is first checked at the validation endpoint;
  an event it refuses is dropped with the validation message (logged at INFO) and never sent.

The queue keeps at most :data:`MAX_QUEUED` events (the oldest are dropped), events older than
GA4's 72-hour backdating window are dropped unsent, sent and dropped rows are deleted after
30 days, and opting out deletes every queued event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import (
    InvalidInput,
    MbvError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from mbv_desktop.integrations.analytics.ga4 import MAX_EVENTS, check_event
from mbv_desktop.services.background import stop_task
from mbv_desktop.services.events import EventHub
from mbv_desktop.services.settings_view import secret_setting
from mbv_desktop.store.ga4_events import Ga4EventRecord, Ga4EventRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.analytics.ga4 import Event, Ga4Client, ValidationMessage
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry

__all__ = [
    "AUTO_PARAMS",
    "CATALOGUE",
    "MAX_QUEUED",
    "AnalyticsChanged",
    "AnalyticsService",
    "FlushReport",
    "Ga4EventRecord",
    "Param",
    "checked_params",
]

log = logging.getLogger(__name__)
ID_FILE = "analytics-id"

#: At most this many events wait in the queue; an offline week can't grow it without bound.
MAX_QUEUED = 5000
#: GA4 takes events backdated by at most 72 hours (a little margin for clock skew).
MAX_AGE = timedelta(hours=71)
#: Sent and dropped events are kept this long for the "what is sent" dialog.
KEEP_HISTORY = timedelta(days=30)
#: The events of one request share one time stamp, so they must have happened close together.
BATCH_SPAN = timedelta(minutes=5)
ENGAGEMENT_TIME_MSEC = 100
OFFLINE_RETRY_S = (30.0, 900.0)  # first pause after a failed send, longest pause
CLOSE_GRACE_S = 3.0

_CRASHED = ("The app closed while this event was being sent, so it may or may not have "
            "arrived; it is not sent again.")
_QUEUE_FULL = f"More than {MAX_QUEUED:,} events waited to be sent; the oldest were dropped."
_TOO_OLD = ("Google Analytics takes events at most 72 hours old; this one waited too long for "
            "a connection.")


# --- the catalogue -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    """One parameter an event may carry: ``kind`` is ``"text"``, ``"number"`` or
    ``"integer"``; ``pattern`` (text only) is a regular expression the value must match."""

    kind: str = "text"
    required: bool = True
    pattern: str | None = None


_TEXT = Param()
CATALOGUE: Mapping[str, Mapping[str, Param]] = {
    "login": {"method": _TEXT},  # "Google" or "GitHub"
    "sign_up": {"method": _TEXT},
    "content_generation": {"provider": _TEXT, "model": _TEXT, "kind": _TEXT},
    "content_publish": {"platform": _TEXT, "post_type": _TEXT},
    "subscription_purchase": {"plan": _TEXT, "value": Param("number"),
                              "currency": Param(pattern=r"[A-Z]{3}"),
                              "transaction_id": Param(required=False)},
    "campaign_create": {"goal": _TEXT, "budget_usd": Param("number", required=False),
                        "posts": Param("integer", required=False)},
}
"""Every event the app sends and its parameters. Values are choices the app makes (a provider,
a model, a platform), never something the creator typed."""

#: Added to every event: GA4 needs them to count the event in its reports.
AUTO_PARAMS = ("engagement_time_msec", "session_id")


def _checked_value(event: str, key: str, spec: Param, value: object) -> object:
    if spec.kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput(f"The analytics parameter '{key}' of '{event}' must be "
                               "non-empty text.")
        if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
            raise InvalidInput(f"The analytics parameter '{key}' of '{event}' has the wrong "
                               f"form ('{value[:40]}').")
        return value
    numeric = int if spec.kind == "integer" else int | float
    if isinstance(value, bool) or not isinstance(value, numeric):
        raise InvalidInput(f"The analytics parameter '{key}' of '{event}' must be a "
                           f"{'whole number' if spec.kind == 'integer' else 'number'}.")
    return value


def checked_params(name: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The event's own parameters as they go into the queue (optional ones given as None left
    out), or :class:`InvalidInput` saying what is wrong: only the catalogue's events and
    parameters, with values of the right type, pass."""
    spec = CATALOGUE.get(name)
    if spec is None:
        raise InvalidInput(f"'{name}' is not an analytics event the app sends (known: "
                           f"{', '.join(CATALOGUE)}).")
    given = {k: v for k, v in (params or {}).items() if v is not None}
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise InvalidInput(f"The analytics event '{name}' does not carry {', '.join(unknown)} "
                           f"(it carries {', '.join(spec)}).")
    missing = [k for k, p in spec.items() if p.required and k not in given]
    if missing:
        raise InvalidInput(f"The analytics event '{name}' needs {', '.join(missing)}.")
    return {k: _checked_value(name, k, spec[k], v) for k, v in given.items()}


# --- results and change events -------------------------------------------------------------------

@dataclass
class FlushReport:
    """What one pass over the queue did."""

    sent: int = 0
    dropped: int = 0
    waiting: int = 0  # still queued afterwards
    offline: str | None = None  # why the queued ones could not go now

    def describe(self) -> str:
        parts = [f"{self.sent} sent"]
        if self.dropped:
            parts.append(f"{self.dropped} dropped")
        if self.waiting:
            parts.append(f"{self.waiting} waiting")
        text = ", ".join(parts) + "."
        return f"{text} {self.offline}" if self.offline else text


@dataclass(frozen=True)
class AnalyticsChanged:
    """Published on the loop's thread when queue rows were added or changed state."""


# --- the service ---------------------------------------------------------------------------------

class AnalyticsService:
    """Queues and sends the creator's usage events (see the module docstring)."""

    def __init__(self, settings: Settings, secrets: SecretStore, data_dir: Path,
                 worker: StoreWorker, *, registry: MetricsRegistry | None = None,
                 client: Ga4Client | None = None) -> None:
        """``client`` replaces the one made from the ``ga4.*`` settings (tests)."""
        self._settings = settings
        self._secrets = secrets
        self._id_path = data_dir / ID_FILE
        self._worker = worker
        self._registry = registry
        self.session_id = int(time.time())  # one GA4 session per app run
        self.events: EventHub[AnalyticsChanged] = EventHub()
        self._given_client = client
        self._client: Ga4Client | None = None
        self._client_config: tuple[str, str, str] | None = None
        self._prepared = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backing_off = False  # the last send found GA4 unreachable; wait before the next
        self._closing = False

    # -- settings --

    @property
    def opted_in(self) -> bool:
        return self._settings.get_bool("analytics.opt_in")

    @property
    def enabled(self) -> bool:
        """Opted in and a measurement id is set: events are queued and sent."""
        return self.opted_in and bool(self._settings.get_str("ga4.measurement_id").strip())

    @property
    def sandbox(self) -> bool:
        return self._settings.get_bool("sandbox.enabled")

    def opt_in_source(self) -> str:
        """Where ``analytics.opt_in`` comes from: ``flag``, ``env``, ``file`` or ``default``."""
        return self._settings.source("analytics.opt_in")

    async def set_opt_in(self, on: bool) -> bool:
        """Saves the choice; opting out deletes every queued event. Returns the effective value
        (a command-line flag or environment variable still wins over the saved choice)."""
        self._settings.set("analytics.opt_in", "true" if on else "false")
        if not self.opted_in:
            cleared = await self._worker.call(lambda c: Ga4EventRepository(c).clear_queued())
            if cleared:
                log.info("analytics: opted out; %d queued events deleted", cleared)
            self.events.publish(AnalyticsChanged())
        return self.opted_in

    def client_id(self, *, create: bool = True) -> str | None:
        """This profile's pseudonymous id, made on first use (or None if not made yet and
        ``create`` is false)."""
        try:
            value = self._id_path.read_text(encoding="ascii").strip()
            if value:
                return value
        except (OSError, UnicodeDecodeError):
            pass
        if not create:
            return None
        value = str(uuid.uuid4())
        self._id_path.write_text(value, encoding="ascii")
        return value

    # -- queueing --

    async def track(self, name: str, params: Mapping[str, Any] | None = None) -> bool:
        """Queues one event if the creator opted in and wakes the sender; returns whether it was
        queued. Raises :class:`InvalidInput` for an event or parameter the catalogue or GA4's
        rules refuse (whether or not the creator opted in); never for network problems."""
        cleaned = checked_params(name, params)
        cleaned.update(engagement_time_msec=ENGAGEMENT_TIME_MSEC, session_id=self.session_id)
        check_event(name, cleaned)
        if not self.enabled:
            return False
        now = datetime.now(UTC)

        def add(c: Any) -> int:
            repo = Ga4EventRepository(c)
            repo.add(name, cleaned, at=now)
            return repo.trim_queue(MAX_QUEUED, _QUEUE_FULL)

        try:
            trimmed = await self._worker.call(add)
        except MbvError as exc:
            log.info("analytics: the %s event was not queued: %s", name, exc)
            return False
        if trimmed:
            log.info("analytics: the queue is full; the %d oldest events were dropped", trimmed)
        self.events.publish(AnalyticsChanged())
        self._on_this_loop()
        if not self._backing_off:  # offline, a new event waits for the pause to end
            self._kick()  # (closing, it stays queued for the next run)
        return True

    # -- reading --

    async def recent(self, limit: int = 500) -> list[Ga4EventRecord]:
        """Queued, sent and dropped events, newest first (for the "what is sent" dialog)."""
        await self._prepare()
        return await self._worker.call(lambda c: Ga4EventRepository(c).recent(limit),
                                       write=False)

    async def counts(self) -> dict[str, int]:
        return await self._worker.call(lambda c: Ga4EventRepository(c).counts(), write=False)

    # -- sending --

    def start(self) -> None:
        """Tidies the queue left by an earlier run and sends what waits (in the background,
        until :meth:`aclose`); call on the loop's thread once the app is up."""
        self._kick()

    async def flush(self) -> FlushReport:
        """Sends every queued event now, 25 per request, oldest first; never raises for
        network problems (what could not go stays queued, see :class:`FlushReport`)."""
        self._on_this_loop()
        async with self._lock:
            await self._prepare()
            report = FlushReport()
            if not self.enabled:  # opted out since (e.g. `config set`): nothing may go
                if await self._worker.call(lambda c: Ga4EventRepository(c).clear_queued()):
                    self.events.publish(AnalyticsChanged())
                return report
            now = datetime.now(UTC)
            old = await self._worker.call(
                lambda c: Ga4EventRepository(c).drop_queued_before(now - MAX_AGE, _TOO_OLD))
            report.dropped += old
            try:
                client = await self._ga4()
                client_id = self.client_id() or ""
            except (MbvError, OSError) as exc:
                report.offline = str(exc)
            else:
                while report.offline is None:
                    batch = await self._worker.call(
                        lambda c: Ga4EventRepository(c).claim_batch(MAX_EVENTS, BATCH_SPAN))
                    if not batch:
                        break
                    await self._send_batch(client, client_id, batch, report)
                    self.events.publish(AnalyticsChanged())
            report.waiting = (await self.counts())["queued"]
            if report.offline and report.waiting:
                log.info("analytics: %d events wait to be sent: %s", report.waiting,
                         report.offline)
            return report

    async def _send_batch(self, client: Ga4Client, client_id: str,
                          batch: list[Ga4EventRecord], report: FlushReport) -> None:
        """Sends one claimed batch and records how each event ended."""
        batch = await self._drop_invalid(batch, report)
        if batch and self.sandbox:
            batch = await self._validated(client, client_id, batch, report)
        if not batch:
            return
        ids = [r.id for r in batch]
        try:
            await client.send(client_id, _events(batch), timestamp_micros=_micros(batch))
        except asyncio.CancelledError:
            # Cut off mid-request: it may have arrived, so these are never sent again.
            self._worker.submit(lambda c: Ga4EventRepository(c).drop(ids, _CRASHED))
            raise
        except (RateLimited, ProviderUnavailable) as exc:
            if isinstance(exc, ProviderUnavailable) and exc.maybe_sent:
                await self._drop(ids, f"{exc} It is not sent again, so it is never counted "
                                      "twice.", report)
            else:
                await self._requeue(ids, str(exc), report)
        except MbvError as exc:  # GA4 refused the request (4xx) or it can't be made as is
            await self._drop(ids, str(exc), report)
        else:
            at = datetime.now(UTC)
            await self._worker.call(lambda c: Ga4EventRepository(c).mark_sent(ids, at=at))
            report.sent += len(ids)
            log.info("analytics: %d events sent", len(ids))

    async def _drop_invalid(self, batch: list[Ga4EventRecord],
                            report: FlushReport) -> list[Ga4EventRecord]:
        """Drops rows that no longer pass the rules (written by another version of the app)."""
        keep = []
        for row in batch:
            try:
                check_event(row.name, row.params)
            except InvalidInput as exc:
                await self._drop([row.id], str(exc), report, what=f"the {row.name} event was")
            else:
                keep.append(row)
        return keep

    async def _validated(self, client: Ga4Client, client_id: str,
                         batch: list[Ga4EventRecord],
                         report: FlushReport) -> list[Ga4EventRecord]:
        """The events of ``batch`` the validation endpoint accepts; the others are dropped."""
        ids = [r.id for r in batch]
        try:
            messages = await client.validate(client_id, _events(batch),
                                             timestamp_micros=_micros(batch))
        except asyncio.CancelledError:
            self._worker.submit(lambda c: Ga4EventRepository(c).requeue(
                ids, "Sending was interrupted."))
            raise
        except ProviderError as exc:
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
                await self._drop(ids, str(exc), report)
            else:  # the validation endpoint keeps nothing: nothing was sent
                await self._requeue(ids, str(exc), report)
            return []
        refused = _refused(messages, len(batch))
        for index, problems in sorted(refused.items()):
            row = batch[index]
            text = "Refused by Google Analytics' validation: " + "; ".join(
                str(m) for m in problems)
            await self._drop([row.id], text, report, what=f"the {row.name} event was")
        return [row for n, row in enumerate(batch) if n not in refused]

    async def _drop(self, ids: list[int], error: str, report: FlushReport, *,
                    what: str = "") -> None:
        await self._worker.call(lambda c: Ga4EventRepository(c).drop(ids, error))
        report.dropped += len(ids)
        log.info("analytics: %s dropped: %s", what or f"{len(ids)} events were", error)

    async def _requeue(self, ids: list[int], error: str, report: FlushReport) -> None:
        await self._worker.call(lambda c: Ga4EventRepository(c).requeue(ids, error))
        report.offline = error

    async def _prepare(self) -> None:
        """Once per run: drops what a crash left ``sending``, deletes old history and applies
        the queue's cap."""
        if self._prepared:
            return
        self._prepared = True
        before = datetime.now(UTC) - KEEP_HISTORY

        def tidy(c: Any) -> int:
            repo = Ga4EventRepository(c)
            crashed = repo.drop_sending(_CRASHED)
            repo.prune(before)
            repo.trim_queue(MAX_QUEUED, _QUEUE_FULL)
            return crashed

        crashed = await self._worker.call(tidy)
        if crashed:
            log.info("analytics: %d events were being sent when the app last closed; they are "
                     "dropped, not sent again", crashed)

    async def _secret(self) -> str:
        return await secret_setting(self._settings, self._secrets, "ga4.api_secret")

    async def _ga4(self) -> Ga4Client:
        from mbv_desktop.integrations.analytics.ga4 import Ga4Client

        if self._given_client is not None:
            return self._given_client
        config = (self._settings.get_str("ga4.endpoint"),
                  self._settings.get_str("ga4.measurement_id").strip(), await self._secret())
        if self._client is None or self._client_config != config:
            client = Ga4Client(*config, registry=self._registry)
            old, self._client, self._client_config = self._client, client, config
            if old is not None:
                await old.aclose()
        return self._client

    def _on_this_loop(self) -> None:
        """Loop-bound state is remade when called from another loop than before (the command
        line runs one loop per command; the app has one for its lifetime)."""
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self._loop = loop
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task = None
        self._backing_off = False
        self._client = None  # its connections belonged to the old loop
        self._client_config = None

    # -- the background sender --

    def _kick(self) -> None:
        """Wakes the sender, starting it if needed (one task, never one per event)."""
        self._on_this_loop()
        self._wake.set()
        if self._closing or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mbv-analytics")
        self._task.add_done_callback(_sender_stopped)

    async def _run(self) -> None:
        pause = OFFLINE_RETRY_S[0]
        while True:
            self._wake.clear()
            try:
                report = await self.flush()
            except MbvError as exc:  # the store failed; the next event tries again
                log.info("analytics: sending failed: %s", exc)
                return
            if report.waiting == 0 or report.offline is None:
                pause = OFFLINE_RETRY_S[0]
                if self._wake.is_set():  # more came meanwhile (closing too: sent before exit)
                    continue
                return
            if self._closing:
                return
            self._backing_off = True
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
            finally:
                self._backing_off = False
            pause = min(pause * 2, OFFLINE_RETRY_S[1])
            if self._closing:
                return

    async def aclose(self) -> None:
        """Lets a send in progress finish (up to a few seconds; what is left stays queued for
        the next run) and closes the network client."""
        self._closing = True
        self._on_this_loop()
        task, self._task = self._task, None
        await stop_task(task, grace=CLOSE_GRACE_S, wake=self._wake)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._client_config = None


def _sender_stopped(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("analytics: the sender stopped: %s", task.exception())


def _events(batch: list[Ga4EventRecord]) -> list[Event]:
    return [(r.name, r.params) for r in batch]


def _micros(batch: list[Ga4EventRecord]) -> int:
    """When the batch's events happened (its first one: they are at most minutes apart)."""
    return int(batch[0].created_at.timestamp() * 1_000_000)


_INDEX_IN_PATH = re.compile(r"^events\[(\d+)\]")
_INDEX_IN_TEXT = re.compile(r"index:? \[(\d+)\]")


def _refused(messages: list[ValidationMessage], size: int) -> dict[int, list[ValidationMessage]]:
    """Which events of a batch the validation messages are about; a message about the request
    as a whole (no event index) refuses every event."""
    refused: dict[int, list[ValidationMessage]] = {}
    for message in messages:
        found = _INDEX_IN_PATH.match(message.field_path) or _INDEX_IN_TEXT.search(
            message.description)
        indexes = [int(found.group(1))] if found and int(found.group(1)) < size \
            else list(range(size))
        for index in indexes:
            refused.setdefault(index, []).append(message)
    return refused

