"""Publishing notifications by e-mail (Resend) and SMS (Twilio): opt-in, each sent exactly once.

:meth:`NotificationService.attach` subscribes to :attr:`PublishingService.outcomes`. For each end
state of a post target the creator opted in to, one row per channel goes into the
``notifications`` outbox (schema v7) and one background sender loop sends it:

* **E-mail** (``notify.email_to``): ``published`` when ``notify.email_published`` is on,
  ``failed`` and ``needs_attention`` when ``notify.email_problems`` is on (the default).
* **SMS** (``notify.sms_to``): ``failed`` and ``needs_attention`` only.

Exactly once
    Every row has a key made when it is written: ``mbv-notify-{target uid}-{state}-{attempt}``
    (``-sms`` appended for the text message). The key is unique in the table, so the same
    outcome announced twice makes one row; a target that fails again after the creator retried
    it is a new attempt and a new notification.

    An e-mail is sent with the key as Resend's ``Idempotency-Key``: a repeat after a crash or a
    lost answer returns the first e-mail's id and sends nothing. Pending e-mails are retried
    with exponential backoff while Resend still remembers the key (24 hours; this stops an hour
    early, :data:`RETRY_WINDOW`); one that may have gone out but could not be confirmed by then
    ends ``unknown`` rather than risk a second e-mail.

    Twilio takes no key, so an SMS row moves to ``unknown`` *before* it is sent (committed),
    and is sent again only when the attempt certainly did not reach Twilio (no connection, 429,
    an open circuit breaker). A lost or ambiguous answer leaves it ``unknown`` for good, as does
    a crash during the send.

Failures a retry can't fix (no API key, a wrong key, a refused address) end the row ``failed``
with one sentence naming the setting to change. Keys and tokens are never stored or logged;
addresses and numbers appear in logs masked (``c***@example.com``, ``+*******0123``).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    MbvError,
    NotConfigured,
    ProviderUnavailable,
    RateLimited,
    Rejected,
    provider_display_name,
)
from mbv_desktop.services.background import stop_task
from mbv_desktop.services.events import EventHub
from mbv_desktop.services.settings_view import secret_setting
from mbv_desktop.store.accounts import AccountRepository
from mbv_desktop.store.notifications import NotificationRecord, NotificationRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.communication import ResendClient, TwilioClient
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry
    from mbv_desktop.services.publishing import PublishingService, PublishOutcome

__all__ = [
    "PROBLEM_STATES",
    "RETRY_WINDOW",
    "DrainReport",
    "EmailContent",
    "NotificationRecord",
    "NotificationService",
    "NotificationsChanged",
    "backoff",
    "compose_email",
    "compose_sms",
    "excerpt",
    "mask_address",
    "notification_key",
]

log = logging.getLogger(__name__)

PROBLEM_STATES = ("failed", "needs_attention")
#: Resend keeps an idempotency key for 24 hours. Retries stop an hour before that (clock skew,
#: a slow first attempt), and the window is counted from when the row was written, which is
#: never after the first attempt reached Resend.
KEY_TTL = timedelta(hours=24)
RETRY_WINDOW = KEY_TTL - timedelta(hours=1)
#: How long :meth:`NotificationService.aclose` lets a send in progress finish.
CLOSE_GRACE_S = 5.0
EXCERPT_CHARS = 80
_SMS_REASON_CHARS = 120
_PASS_LIMIT = 100


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min… (capped at 30 min) before the next try."""
    return timedelta(seconds=min(1800, 30 * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class NotificationsChanged:
    """Published on the loop's thread when notification rows were added or changed."""

    ids: tuple[int, ...] = ()


@dataclass
class DrainReport:
    """What one pass over the outbox did."""

    sent: int = 0
    failed: int = 0
    unknown: int = 0
    waiting: int = 0  # still pending, to be tried again later

    def to_json(self) -> dict[str, int]:
        return {"sent": self.sent, "failed": self.failed, "unknown": self.unknown,
                "waiting": self.waiting}


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


# -- masking ------------------------------------------------------------------------------------

def mask_address(value: str) -> str:
    """An e-mail address or phone number as logs show it: ``c***@example.com``,
    ``+*******0123``; several (comma-separated) are masked one by one."""
    parts = [p.strip() for p in re.split(r"[,;]", value or "") if p.strip()]
    if len(parts) > 1:
        return ", ".join(mask_address(p) for p in parts)
    text = parts[0] if parts else ""
    if "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{local[:1]}***@{domain}"
    digits = re.sub(r"\D", "", text)
    if not digits:
        return "***"
    return ("+" if text.startswith("+") else "") + "*" * max(0, len(digits) - 4) + digits[-4:]


def _masked_in(text: str, recipient: str) -> str:
    """``text`` with every form of ``recipient`` (as typed, and in E.164 form) masked."""
    forms = {p.strip() for p in re.split(r"[,;]", recipient or "") if p.strip()}
    for form in list(forms):
        cleaned = re.sub(r"[\s().\-]", "", form)
        if cleaned:
            forms.add(cleaned)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, mask_address(form))
    return text


# -- what the messages say ----------------------------------------------------------------------

def notification_key(outcome: PublishOutcome, channel: str) -> str:
    """The row's unique key and, for an e-mail, Resend's ``Idempotency-Key``: the same outcome
    always gets the same key (≤ 256 printable ASCII characters)."""
    target = outcome.target
    key = f"mbv-notify-{target.uid}-{outcome.state}-{target.attempts}"
    return key if channel == "email" else f"{key}-{channel}"


def excerpt(body: str, limit: int = EXCERPT_CHARS, *, ellipsis: str = "…") -> str:
    """The post's first ``limit`` characters on one line, cut at a word where possible."""
    text = " ".join(body.split())
    if not text:
        return "(no text; photos or video only)"
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ellipsis)]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + ellipsis


def _when(outcome: PublishOutcome) -> str:
    target = outcome.target
    local = target.local_time.replace("T", " ")
    return f"{local} ({target.time_zone})" if target.time_zone else local


def _sentence(text: str) -> str:
    text = " ".join((text or "").split())
    if text and text[-1] not in ".!?":
        text += "."
    return text[:1].upper() + text[1:]


def _link(url: str | None) -> str | None:
    return url if url and url.startswith(("https://", "http://")) else None


def compose_email(outcome: PublishOutcome, account: str) -> EmailContent:
    """Subject, plain text and simple HTML for one outcome; ``account`` is how the account is
    shown (``@handle``)."""
    platform = provider_display_name(outcome.target.provider)
    where = f"{platform} ({account})" if account else platform
    post = excerpt(outcome.target.body)
    when = _when(outcome)
    link = _link(outcome.url or outcome.target.url)
    rows: list[tuple[str, str, str | None]] = [("Post", f"“{post}”", None),
                                               ("Scheduled for", when, None)]
    action: str | None = None
    if outcome.state == "published":
        subject = f"Your {platform} post is live ({account})" if account else \
            f"Your {platform} post is live"
        lead = f"Your post to {where} was published."
        if link:
            rows.append(("Link", link, link))
        if outcome.reason and outcome.reason != "published":
            rows.append(("Note", _sentence(outcome.reason), None))
        setting = "notify.email_published"
    elif outcome.state == "needs_attention":
        subject = f"Reconnect {platform} ({account}) so your post can go out" if account else \
            f"Reconnect {platform} so your post can go out"
        lead = f"Your post to {where} has not gone out yet: {platform} needs the account " \
               "reconnected."
        rows.append(("Why", _sentence(outcome.reason), None))
        action = ("What to do: reconnect the account in the Accounts panel, then retry the post "
                  "from the Schedule panel.")
        setting = "notify.email_problems"
    else:
        subject = f"Your {platform} post did not go out ({account})" if account else \
            f"Your {platform} post did not go out"
        lead = f"Your post to {where} could not be published."
        rows.append(("Why", _sentence(outcome.reason), None))
        action = "You can change it and retry it from the Schedule panel."
        setting = "notify.email_problems"
    footer = (f"You get this e-mail because {setting} is on in Must Be Viral. To stop these "
              "e-mails, turn it off or clear notify.email_to.")

    text_lines = [lead, ""] + [f"{label}: {value}" for label, value, _ in rows]
    if action:
        text_lines += ["", action]
    text_lines += ["", "-- ", footer]
    text = "\n".join(text_lines) + "\n"

    def cell(value: str, href: str | None) -> str:
        if href:
            return f'<a href="{html.escape(href, quote=True)}">{html.escape(value)}</a>'
        return html.escape(value)

    items = "<br>\n".join(f"<b>{html.escape(label)}:</b> {cell(value, href)}"
                          for label, value, href in rows)
    parts = [f"<p>{html.escape(lead)}</p>", f"<p>{items}</p>"]
    if action:
        parts.append(f"<p>{html.escape(action)}</p>")
    parts.append(f'<p style="color:#666;font-size:12px">{html.escape(footer)}</p>')
    body = "\n".join(parts)
    document = (f'<!DOCTYPE html>\n<html><body style="font-family:sans-serif">\n{body}\n'
                "</body></html>\n")
    return EmailContent(subject, text, document)


def compose_sms(outcome: PublishOutcome, account: str) -> str:
    """A short text (plain GSM characters where possible) about a failure or a reconnect."""
    platform = provider_display_name(outcome.target.provider)
    where = f"{platform} post ({account})" if account else f"{platform} post"
    when = _when(outcome)
    if outcome.state == "needs_attention":
        return (f"Must Be Viral: your {where} for {when} is waiting. Reconnect the account in "
                "the Accounts panel, then retry it.")
    reason = _sentence(outcome.reason)
    if len(reason) > _SMS_REASON_CHARS:
        reason = excerpt(reason, _SMS_REASON_CHARS, ellipsis="...")
    return f"Must Be Viral: your {where} for {when} did not go out. {reason}"


# -- the service --------------------------------------------------------------------------------

class NotificationService:
    """Writes and sends the creator's publishing notifications (see the module docstring)."""

    def __init__(self, worker: StoreWorker, settings: Settings, secrets: SecretStore,
                 metrics: MetricsRegistry | None = None) -> None:
        self._worker = worker
        self._settings = settings
        self._secrets = secrets
        self._metrics = metrics
        self.events: EventHub[NotificationsChanged] = EventHub()
        self._resend: ResendClient | None = None
        self._resend_config: tuple[str, str] | None = None
        self._twilio: TwilioClient | None = None
        self._twilio_config: tuple[str, str, str] | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closing = False

    # -- configuration --

    @property
    def configured(self) -> bool:
        """Whether the creator asked for any notification (an address or a number is set)."""
        return bool(self._settings.get_str("notify.email_to").strip()
                    or self._settings.get_str("notify.sms_to").strip())

    def channels_for(self, state: str) -> list[tuple[str, str]]:
        """``(channel, recipient)`` for each notification the creator opted in to for a target
        that ended in ``state``."""
        wanted: list[tuple[str, str]] = []
        email_to = self._settings.get_str("notify.email_to").strip()
        if email_to and (
                (state == "published" and self._settings.get_bool("notify.email_published"))
                or (state in PROBLEM_STATES
                    and self._settings.get_bool("notify.email_problems"))):
            wanted.append(("email", email_to))
        sms_to = self._settings.get_str("notify.sms_to").strip()
        if sms_to and state in PROBLEM_STATES:
            wanted.append(("sms", sms_to))
        return wanted

    async def _secret(self, key: str) -> str:
        return await secret_setting(self._settings, self._secrets, key)

    async def _resend_client(self) -> ResendClient:
        from mbv_desktop.integrations.communication import RESEND_POLICY, ResendClient
        from mbv_desktop.integrations.http import ProviderClient

        config = (self._settings.get_str("resend.api_base"),
                  await self._secret("resend.api_key"))
        if self._resend is None or self._resend_config != config:
            client = ResendClient(config[0], config[1],
                                  client=ProviderClient(RESEND_POLICY, registry=self._metrics))
            old, self._resend, self._resend_config = self._resend, client, config
            if old is not None:
                await old.aclose()
        return self._resend

    async def _twilio_client(self) -> TwilioClient:
        from mbv_desktop.integrations.communication import TWILIO_POLICY, TwilioClient
        from mbv_desktop.integrations.http import ProviderClient

        config = (self._settings.get_str("twilio.api_base"),
                  self._settings.get_str("twilio.account_sid"),
                  await self._secret("twilio.auth_token"))
        if self._twilio is None or self._twilio_config != config:
            client = TwilioClient(config[0], config[1], config[2],
                                  client=ProviderClient(TWILIO_POLICY, registry=self._metrics))
            old, self._twilio, self._twilio_config = self._twilio, client, config
            if old is not None:
                await old.aclose()
        return self._twilio

    # -- writing rows --

    def attach(self, publishing: PublishingService) -> Callable[[], None]:
        """Listens to the publishing outbox's outcomes; returns a function that stops it.
        Attached inside a running loop with notifications configured, it also picks up rows
        left pending by an earlier run."""
        unsubscribe = publishing.outcomes.subscribe(self.on_outcome)
        self._unsubscribe.append(unsubscribe)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return unsubscribe
        if self.configured:
            self._kick()
        return unsubscribe

    def on_outcome(self, outcome: PublishOutcome) -> None:
        """Called on the loop's thread for each end state: records the notifications the
        creator opted in to (once per key) and wakes the sender. Never raises."""
        wanted = self.channels_for(outcome.state)
        if not wanted or self._closing:
            return
        now = datetime.now(UTC)
        future = self._worker.submit(lambda c: self._record(c, outcome, wanted, now))
        loop = asyncio.get_event_loop()

        def recorded(done: object) -> None:  # on the store's thread
            try:
                ids = future.result()
            except Exception as exc:
                log.error("notifications: could not record the notifications about a post: %s",
                          exc)
                return
            if ids:
                with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                    loop.call_soon_threadsafe(self.events.publish,
                                              NotificationsChanged(tuple(ids)))

        future.add_done_callback(recorded)
        self._kick()

    @staticmethod
    def _record(c: sqlite3.Connection, outcome: PublishOutcome,
                wanted: list[tuple[str, str]], now: datetime) -> list[int]:
        """On the store's thread: the rows for one outcome, written once (by key)."""
        target = outcome.target
        try:
            account = AccountRepository(c).get(target.provider, target.account_id).label
        except KeyError:
            account = target.account_id
        exists = c.execute("SELECT 1 FROM post_targets WHERE id = ?", (target.id,)).fetchone()
        target_id = target.id if exists else None
        repo = NotificationRepository(c)
        added = []
        for channel, recipient in wanted:
            key = notification_key(outcome, channel)
            if channel == "email":
                content = compose_email(outcome, account)
                new = repo.add(key=key, channel=channel, kind=outcome.state,
                               target_id=target_id, recipient=recipient,
                               subject=content.subject, body=content.text, html=content.html,
                               at=now)
            else:
                new = repo.add(key=key, channel=channel, kind=outcome.state,
                               target_id=target_id, recipient=recipient, subject="",
                               body=compose_sms(outcome, account), html=None, at=now)
            row = repo.by_key(key)
            if new and row is not None:
                added.append(row.id)
        return added

    # -- sending --

    def start(self) -> None:
        """Sends what is pending (from an earlier run, too) and keeps sending in the background
        until :meth:`aclose`; call on the loop's thread. :meth:`attach` does this by itself
        when it is called inside a running loop with notifications configured."""
        self._kick()

    def _kick(self) -> None:
        """Wakes the sender loop, starting it if needed (one loop, never one task per row)."""
        self._wake.set()
        if self._closing or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.get_event_loop().create_task(self._run(),
                                                          name="mbv-notifications")
        self._task.add_done_callback(self._sender_stopped)

    @staticmethod
    def _sender_stopped(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("notifications: the sender stopped: %s", task.exception())

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._pass(force=False)
            except MbvError as exc:
                log.info("notifications: a pass failed: %s", exc)
            if self._closing:
                return
            next_due = await self._worker.call(lambda c: NotificationRepository(c).next_due(),
                                               write=False)
            wait: float | None = None
            if next_due is not None:
                wait = max(0.2, (next_due - datetime.now(UTC)).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def drain(self, *, now: datetime | None = None) -> DrainReport:
        """Sends every pending notification now (backoff waits skipped), once each; for the
        command line and tests. ``now`` stands in for the clock (the retry window)."""
        return await self._pass(force=True, now=now)

    async def _pass(self, *, force: bool, now: datetime | None = None) -> DrainReport:
        report = DrainReport()
        async with self._lock:
            current = now or datetime.now(UTC)
            rows = await self._worker.call(
                lambda c: NotificationRepository(c).due(None if force else current, _PASS_LIMIT),
                write=False)
            for row in rows:
                state = await (self._send_email(row, current) if row.channel == "email"
                               else self._send_sms(row, current))
                if state == "sent":
                    report.sent += 1
                elif state == "failed":
                    report.failed += 1
                elif state == "unknown":
                    report.unknown += 1
                elif state == "pending":
                    report.waiting += 1
                self.events.publish(NotificationsChanged((row.id,)))
        return report

    async def _write(self, change: Callable[[NotificationRepository], object]) -> None:
        await self._worker.call(lambda c: change(NotificationRepository(c)))

    async def _fail(self, row: NotificationRecord, error: str, at: datetime) -> str:
        log.info("notifications: the %s to %s about a %s post failed: %s", _what(row),
                 mask_address(row.recipient), row.kind, _masked_in(error, row.recipient))
        await self._write(lambda r: r.mark_failed(row.id, error, at=at))
        return "failed"

    async def _unknown(self, row: NotificationRecord, error: str, at: datetime) -> str:
        log.info("notifications: the %s to %s about a %s post may or may not have been sent; "
                 "it is not sent again: %s", _what(row), mask_address(row.recipient), row.kind,
                 _masked_in(error, row.recipient))
        await self._write(lambda r: r.mark_unknown(row.id, error, at=at))
        return "unknown"

    async def _later(self, row: NotificationRecord, exc: MbvError, at: datetime, *,
                     maybe_sent: bool) -> str:
        wait = backoff(row.attempts + 1)
        hint = getattr(exc, "retry_after", None)
        if isinstance(hint, int | float) and hint > wait.total_seconds():
            wait = timedelta(seconds=float(hint))
        due = at + wait
        log.info("notifications: the %s to %s will be tried again at %s UTC: %s", _what(row),
                 mask_address(row.recipient), f"{due:%H:%M:%S}",
                 _masked_in(str(exc), row.recipient))
        await self._write(lambda r: r.retry_later(row.id, next_attempt_at=due, error=str(exc),
                                                  maybe_sent=maybe_sent, at=at))
        return "pending"

    async def _sent(self, row: NotificationRecord, provider_id: str, at: datetime) -> str:
        log.info("notifications: %s to %s about a %s post sent (%s)", _what(row),
                 mask_address(row.recipient), row.kind, provider_id)
        await self._write(lambda r: r.mark_sent(row.id, provider_id, at=at))
        return "sent"

    async def _send_email(self, row: NotificationRecord, now: datetime) -> str:
        if now - row.created_at > RETRY_WINDOW:
            if row.maybe_sent:
                return await self._unknown(row, (
                    "Resend may have sent this e-mail, but it could not be confirmed within a "
                    "day, and after that Resend no longer recognises a repeat; it is not sent "
                    "again so you never get it twice."), now)
            return await self._fail(row, "Resend could not be reached for a day; this e-mail "
                                         "was not sent.", now)
        try:
            client = await self._resend_client()
        except MbvError as exc:
            return await self._fail(row, str(exc), now)
        sender = self._settings.get_str("resend.from_email").strip()
        if not sender:
            return await self._fail(row, "Notification e-mails need a sender address: set "
                                         "resend.from_email (for example 'Studio "
                                         "<studio@example.com>').", now)
        started = await self._worker.call(
            lambda c: NotificationRepository(c).begin_attempt(row.id, at=now, claim=False))
        if not started:  # another process finished it meanwhile
            return "skipped"
        recipients = [p.strip() for p in re.split(r"[,;]", row.recipient) if p.strip()]
        try:
            email_id = await client.send_email(from_=sender, to=recipients, subject=row.subject,
                                               text=row.body, html=row.html,
                                               idempotency_key=row.key)
        except (AuthExpired, Rejected, InvalidInput, NotConfigured) as exc:
            return await self._fail(row, str(exc), now)
        except (RateLimited, ProviderUnavailable) as exc:
            maybe = row.maybe_sent or bool(getattr(exc, "maybe_sent", False))
            return await self._later(row, exc, now, maybe_sent=maybe)
        except MbvError as exc:  # safe to repeat: the key keeps it to one e-mail
            return await self._later(row, exc, now, maybe_sent=True)
        return await self._sent(row, email_id, now)

    async def _send_sms(self, row: NotificationRecord, now: datetime) -> str:
        from mbv_desktop.integrations.communication import normalize_e164

        if now - row.created_at > RETRY_WINDOW:  # a pending SMS certainly never went out
            return await self._fail(row, "Twilio could not be reached for a day; this text "
                                         "message was not sent.", now)
        try:
            client = await self._twilio_client()
            sender = normalize_e164(self._settings.get_str("twilio.from_number"),
                                    what="The sender number (twilio.from_number)")
            to = normalize_e164(row.recipient, what="The number in notify.sms_to")
        except MbvError as exc:
            return await self._fail(row, str(exc), now)
        # From here on it may reach Twilio, which takes no idempotency key: 'unknown' first.
        claimed = await self._worker.call(
            lambda c: NotificationRepository(c).begin_attempt(row.id, at=now, claim=True))
        if not claimed:  # another process took it
            return "skipped"
        try:
            sid = await client.send_sms(to=to, from_=sender, body=row.body)
        except ProviderUnavailable as exc:
            if exc.maybe_sent:
                return await self._unknown(row, f"{exc} It is not sent again, so you never get "
                                                "it twice.", now)
            return await self._later(row, exc, now, maybe_sent=False)
        except RateLimited as exc:  # Twilio did not process it
            return await self._later(row, exc, now, maybe_sent=False)
        except (AuthExpired, Rejected, InvalidInput, NotConfigured) as exc:
            return await self._fail(row, str(exc), now)
        except MbvError as exc:
            return await self._unknown(row, f"{exc} It is not sent again, so you never get it "
                                            "twice.", now)
        return await self._sent(row, sid, now)

    # -- reading --

    async def rows(self, limit: int = 500) -> list[NotificationRecord]:
        """The notifications, newest first (for display)."""
        return await self._worker.call(lambda c: NotificationRepository(c).all(limit),
                                       write=False)

    async def for_target(self, target_id: int) -> list[NotificationRecord]:
        return await self._worker.call(
            lambda c: NotificationRepository(c).for_target(target_id), write=False)

    # -- closing --

    async def aclose(self) -> None:
        """Stops listening, lets a send in progress finish (up to ``CLOSE_GRACE_S``; what is
        left stays pending for the next run) and closes the network clients."""
        self._closing = True
        for unsubscribe in self._unsubscribe:
            with contextlib.suppress(ValueError):
                unsubscribe()
        self._unsubscribe.clear()
        task, self._task = self._task, None
        await stop_task(task, grace=CLOSE_GRACE_S, wake=self._wake)
        for client in (self._resend, self._twilio):
            if client is not None:
                await client.aclose()
        self._resend = self._twilio = None
        self._resend_config = self._twilio_config = None


def _what(row: NotificationRecord) -> str:
    return "e-mail" if row.channel == "email" else "text message"
