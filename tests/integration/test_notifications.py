"""Publishing notifications (``services/notifications.py``) on the sandbox over real sockets.

A profile on the sandbox (``sandbox_overrides``: Resend and Twilio point at their emulators with
demo credentials) opts in to e-mail and SMS, and publishing outcomes reach the notification
outbox either by really publishing to the X emulator or by announcing a ``PublishOutcome`` for a
real scheduled target. What the emulators recorded (``{base}/_sent``) is the judge: one e-mail
or SMS per notification, never "the client said so".

Exactly once (reliability.md 13, 14): an e-mail carries its row's key as Resend's
``Idempotency-Key`` and is retried after a lost answer, which Resend answers with the first id;
an SMS (no key at Twilio) that may have reached Twilio is never sent again and stays ``unknown``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from mbv_desktop.cli import sandbox_overrides
from mbv_desktop.config.secrets import setting_secret_key
from mbv_desktop.core.scheduling import parse_when
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.notifications import (
    RETRY_WINDOW,
    NotificationRecord,
    compose_email,
    compose_sms,
    excerpt,
    mask_address,
)
from mbv_desktop.services.publishing import PublishOutcome
from mbv_desktop.services.sandbox_consent import answer_consent
from mbv_desktop.store.notifications import NotificationRepository
from mbv_desktop.store.posts import TargetRow

T = TypeVar("T")

EMAIL = "creator@studio.example"
PHONE = "+14155550123"
POST = ("Sunrise over the harbour, shot on a phone at 5:40 with no filter at all. Here is "
        "what I learned about waiting for the light.")
WHEN = "2030-05-03T09:00"
ZONE = "Europe/Berlin"
TWILIO_MESSAGES = "/twilio/2010-04-01"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox") as host:
        yield host


def profile(data_dir: Path, sandbox: SandboxHost, settings: dict[str, object]) -> Services:
    overrides = sandbox_overrides(sandbox.urls()) | settings
    return open_services(data_dir, env={}, overrides=overrides, sandbox=True)


def sent(sandbox: SandboxHost, provider: str) -> list[dict[str, Any]]:
    answer = httpx.get(sandbox.urls()[provider] + "/_sent", timeout=5)
    assert answer.status_code == 200
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def posts_to(sandbox: SandboxHost, path: str) -> int:
    return sum(1 for r in sandbox.state.requests(path_prefix=path) if r.method == "POST")


async def target(services: Services, text: str = POST, when: str = WHEN) -> TargetRow:
    """A real scheduled target on a connected X account (not sent)."""
    if not [a for a in await services.accounts.accounts() if a.provider == "x"]:
        await services.accounts.authorize("x", open_url=answer_consent, timeout=10)
    draft = await services.drafting.create(text)
    scheduled = await services.scheduling.schedule(draft.id, ["x"], parse_when(when, ZONE))
    (row,) = scheduled.targets
    return row


async def announce(services: Services, state: str, reason: str, url: str | None = None,
                   row: TargetRow | None = None) -> PublishOutcome:
    """Announces an outcome the way the publishing outbox does, on the loop's thread."""
    outcome = PublishOutcome(row or await target(services), state, reason, url)
    services.publishing.outcomes.publish(outcome)
    return outcome


def run_in(services: Services, scenario: Callable[[], Awaitable[T]]) -> T:
    """Runs ``scenario`` in its own event loop, then closes the profile (its network clients
    belong to that loop)."""
    async def inside() -> T:
        try:
            return await scenario()
        finally:
            await services.aclose()

    try:
        return asyncio.run(inside())
    finally:
        services.close()


def by_channel(rows: list[NotificationRecord]) -> dict[str, NotificationRecord]:
    return {r.channel: r for r in rows}


# -- which notifications, with what in them ---------------------------------------------------

def test_published_and_failed_posts_on_the_x_emulator_email_and_text_the_creator(
        data_dir: Path, sandbox: SandboxHost) -> None:
    """Really publishing: one post goes out, the same text again is refused by X as a
    duplicate. Opted in to everything: an e-mail for each, an SMS for the failure only."""
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL,
                                           "notify.email_published": True,
                                           "notify.sms_to": PHONE})

    async def scenario() -> tuple[list[TargetRow], list[NotificationRecord]]:
        await target(services, POST, "now")
        await target(services, POST, (datetime.now(UTC) + timedelta(minutes=1)).isoformat())
        await services.publishing.publish_due(now=datetime.now(UTC) + timedelta(hours=1))
        await services.notifications.drain()
        return await services.scheduling.targets(), await services.notifications.rows()

    targets, rows = run_in(services, scenario)
    states = {t.state: t for t in targets}
    assert set(states) == {"published", "failed"}
    published, failed = states["published"], states["failed"]
    assert published.url
    emails = sent(sandbox, "resend")
    sms = sent(sandbox, "twilio")
    assert len(emails) == 2 and len(sms) == 1
    assert {r.state for r in rows} == {"sent"} and len(rows) == 3

    live = next(e for e in emails if "is live" in e["subject"])
    assert live["to"] == [EMAIL]
    assert live["from"] == "Must Be Viral <notify@sandbox.example>"
    assert live["subject"].startswith("Your X post is live (@")
    assert published.url in live["text"] and f'href="{published.url}"' in live["html"]
    assert excerpt(POST) in live["text"] and len(excerpt(POST)) <= 80
    assert f"({ZONE})" in live["text"]
    assert live["idempotency_key"] == f"mbv-notify-{published.uid}-published-1"

    problem = next(e for e in emails if "did not go out" in e["subject"])
    assert "the same as a recent one" in problem["text"]
    assert problem["idempotency_key"] == f"mbv-notify-{failed.uid}-failed-1"
    (text,) = sms
    assert text["to"] == PHONE and text["from"] == "+15005550006"
    assert text["body"].startswith("Must Be Viral: your X post (@")
    assert "did not go out" in text["body"] and "same as a recent one" in text["body"]
    ids = {r.provider_id for r in rows}
    assert ids == {live["id"], problem["id"], text["sid"]}
    assert all(r.target_id in (published.id, failed.id) for r in rows)


def test_a_published_post_is_emailed_only_when_opted_in(data_dir: Path,
                                                         sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL, "notify.sms_to": PHONE})

    async def scenario() -> list[NotificationRecord]:
        await announce(services, "published", "published", "https://x.com/i/status/1")
        await services.notifications.drain()
        return await services.notifications.rows()

    rows = run_in(services, scenario)
    assert rows == []  # notify.email_published is off by default; SMS is for problems only
    assert sandbox.request_count("resend") == sandbox.request_count("twilio") == 0


def test_a_failure_sends_an_email_and_a_text_message(data_dir: Path,
                                                     sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL, "notify.sms_to": PHONE})

    async def scenario() -> tuple[PublishOutcome, list[NotificationRecord]]:
        outcome = await announce(services, "failed",
                                 "X rejected the request: the video is too long.")
        report = await services.notifications.drain()
        assert report.failed == report.unknown == report.waiting == 0
        return outcome, await services.notifications.rows()

    outcome, rows = run_in(services, scenario)
    rows_by = by_channel(rows)
    assert set(rows_by) == {"email", "sms"}
    assert all(r.state == "sent" and r.attempts == 1 for r in rows)
    (email,) = sent(sandbox, "resend")
    (sms,) = sent(sandbox, "twilio")
    assert rows_by["email"].provider_id == email["id"]
    assert rows_by["sms"].provider_id == sms["sid"] and sms["sid"].startswith("SM")
    uid = outcome.target.uid
    assert email["idempotency_key"] == rows_by["email"].key == f"mbv-notify-{uid}-failed-0"
    assert rows_by["sms"].key == f"mbv-notify-{uid}-failed-0-sms"
    assert email["subject"].startswith("Your X post did not go out (@")
    for part in ("could not be published", "the video is too long", "2030-05-03 09:00",
                 f"({ZONE})", excerpt(POST), "Schedule panel", "notify.email_problems"):
        assert part in email["text"], part
    assert "the video is too long" in email["html"] and "<p>" in email["html"]
    assert sms["to"] == PHONE
    assert sms["body"] == ("Must Be Viral: your X post (" + email["subject"].split("(")[1]
                           + " for 2030-05-03 09:00 (Europe/Berlin) did not go out. X rejected "
                           "the request: the video is too long.")
    assert sms["num_segments"] in ("1", "2")


def test_needs_attention_asks_to_reconnect_the_account(data_dir: Path,
                                                       sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL})

    async def scenario() -> list[NotificationRecord]:
        await announce(services, "needs_attention",
                       "X needs the account reconnected before it can post")
        await services.notifications.drain()
        return await services.notifications.rows()

    (row,) = run_in(services, scenario)
    assert row.channel == "email" and row.state == "sent" and row.kind == "needs_attention"
    (email,) = sent(sandbox, "resend")
    assert email["subject"].startswith("Reconnect X (@")
    assert "reconnect the account in the Accounts panel" in email["text"]
    assert "reconnect the account in the Accounts panel" in email["html"]
    assert sent(sandbox, "twilio") == []


def test_nothing_is_sent_or_stored_without_opting_in(data_dir: Path,
                                                     sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_published": True})

    async def scenario() -> list[NotificationRecord]:
        try:
            row = await target(services)
            for state in ("published", "failed", "needs_attention"):
                await announce(services, state, "because", row=row)
            await services.notifications.drain()
            assert not services.notifications.configured
            return await services.notifications.rows()
        finally:
            await services.aclose()

    try:
        assert asyncio.run(scenario()) == []
    finally:
        services.close()
    assert sandbox.request_count("resend") == sandbox.request_count("twilio") == 0


def test_problems_can_be_opted_out_of_by_email(data_dir: Path, sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL,
                                           "notify.email_problems": False})

    async def scenario() -> list[NotificationRecord]:
        try:
            await announce(services, "failed", "X rejected the request.")
            await services.notifications.drain()
            return await services.notifications.rows()
        finally:
            await services.aclose()

    try:
        assert asyncio.run(scenario()) == []
    finally:
        services.close()
    assert sandbox.request_count("resend") == 0


# -- exactly once -----------------------------------------------------------------------------

def test_the_same_outcome_twice_makes_one_email(data_dir: Path, sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL})

    async def scenario() -> list[NotificationRecord]:
        outcome = await announce(services, "failed", "X rejected the request.")
        services.publishing.outcomes.publish(outcome)
        await services.notifications.drain()
        services.publishing.outcomes.publish(outcome)  # after it was sent, too
        await services.notifications.drain()
        return await services.notifications.rows()

    (row,) = run_in(services, scenario)
    assert row.state == "sent" and row.attempts == 1
    assert len(sent(sandbox, "resend")) == 1
    assert posts_to(sandbox, "/resend/emails") == 1


def test_the_background_sender_sends_without_being_asked(data_dir: Path,
                                                         sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL, "notify.sms_to": PHONE})

    async def scenario() -> list[NotificationRecord]:
        await announce(services, "failed", "X rejected the request.")
        for _ in range(100):
            rows = await services.notifications.rows()
            if len(rows) == 2 and all(r.state == "sent" for r in rows):
                return rows
            await asyncio.sleep(0.05)
        return await services.notifications.rows()

    rows = run_in(services, scenario)
    assert sorted(r.state for r in rows) == ["sent", "sent"]
    assert len(sent(sandbox, "resend")) == len(sent(sandbox, "twilio")) == 1


def test_rows_left_pending_by_an_earlier_run_are_sent_when_publishing_starts(
        data_dir: Path, sandbox: SandboxHost) -> None:
    """The app stopped (or crashed) after writing a notification and before sending it: the
    next run sends it as soon as the publishing outbox is up, with nothing else to trigger it."""
    settings: dict[str, object] = {"notify.email_to": EMAIL}
    first = profile(data_dir, sandbox, settings)
    now = datetime.now(UTC)
    try:
        first.worker.submit(lambda c: NotificationRepository(c).add(
            key="mbv-notify-left-over", channel="email", kind="failed", target_id=None,
            recipient=EMAIL, subject="Left over", body="Written before the app stopped.",
            html=None, at=now)).result()
    finally:
        first.close()
    services = profile(data_dir, sandbox, settings)

    async def scenario() -> list[NotificationRecord]:
        services.publishing  # noqa: B018 - attaching in a running loop resumes the outbox
        for _ in range(100):
            rows = await services.notifications.rows()
            if rows and rows[0].state == "sent":
                break
            await asyncio.sleep(0.05)
        return await services.notifications.rows()

    (row,) = run_in(services, scenario)
    assert row.state == "sent"
    (email,) = sent(sandbox, "resend")
    assert email["subject"] == "Left over" and email["idempotency_key"] == "mbv-notify-left-over"


def test_an_email_whose_answer_was_lost_is_retried_with_its_key_and_sent_once(
        data_dir: Path, sandbox: SandboxHost) -> None:
    """Resend sends the e-mail but every answer is lost until the call gives up (reset_after on
    each of the client's attempts); the outbox tries again later with the same Idempotency-Key,
    Resend answers with the first e-mail's id, and one e-mail exists."""
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL})
    sandbox.faults.add("resend", Fault("reset_after", path_prefix="/emails", method="POST",
                                       times=3))

    async def scenario() -> tuple[NotificationRecord, NotificationRecord]:
        await announce(services, "failed", "X rejected the request.")
        await services.notifications.drain()
        (first,) = await services.notifications.rows()
        await services.notifications.drain()
        (second,) = await services.notifications.rows()
        return first, second

    first, second = run_in(services, scenario)
    assert first.state == "pending" and first.maybe_sent and first.next_attempt_at is not None
    assert first.last_error and "Resend" in first.last_error
    assert second.state == "sent" and second.attempts == 2
    (email,) = sent(sandbox, "resend")  # one e-mail, though Resend was asked four times
    assert email["idempotency_key"] == second.key
    assert second.provider_id == email["id"]  # the retry got the first send's answer
    requests = [r for r in sandbox.state.requests(path_prefix="/resend/emails")
                if r.method == "POST"]
    assert [r.fault for r in requests] == ["reset_after"] * 3 + [None]
    assert requests[-1].status == 200


def test_a_lost_answer_within_one_call_is_retried_by_the_client_and_sent_once(
        data_dir: Path, sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL})
    sandbox.faults.add("resend", Fault("reset_after", path_prefix="/emails", method="POST"))

    async def scenario() -> list[NotificationRecord]:
        await announce(services, "failed", "X rejected the request.")
        await services.notifications.drain()
        return await services.notifications.rows()

    (row,) = run_in(services, scenario)
    (email,) = sent(sandbox, "resend")
    assert row.state == "sent" and row.provider_id == email["id"] and row.attempts == 1
    assert posts_to(sandbox, "/resend/emails") == 2


def test_an_unconfirmed_email_is_not_resent_once_resend_forgets_its_key(
        data_dir: Path, sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL})
    sandbox.faults.add("resend", Fault("reset_after", path_prefix="/emails", method="POST",
                                       times=3))

    async def scenario() -> NotificationRecord:
        await announce(services, "failed", "X rejected the request.")
        await services.notifications.drain()
        (row,) = await services.notifications.rows()
        later = row.created_at + RETRY_WINDOW + timedelta(minutes=1)
        report = await services.notifications.drain(now=later)
        assert report.unknown == 1
        (row,) = await services.notifications.rows()
        return row

    row = run_in(services, scenario)
    assert row.state == "unknown" and row.last_error and "not sent again" in row.last_error
    assert posts_to(sandbox, "/resend/emails") == 3  # nothing after the window
    assert len(sent(sandbox, "resend")) == 1


def test_a_text_message_whose_answer_was_lost_is_never_sent_again(
        data_dir: Path, sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.sms_to": PHONE})
    sandbox.faults.add("twilio", Fault("reset_after", path_prefix="/2010-04-01",
                                       method="POST"))

    async def scenario() -> NotificationRecord:
        await announce(services, "failed", "X rejected the request.")
        await services.notifications.drain()
        await services.notifications.drain()
        await services.notifications.drain(now=datetime.now(UTC) + timedelta(hours=2))
        (row,) = await services.notifications.rows()
        return row

    row = run_in(services, scenario)
    assert row.state == "unknown" and row.attempts == 1 and row.provider_id is None
    assert row.last_error and "not sent again" in row.last_error
    assert posts_to(sandbox, TWILIO_MESSAGES) == 1
    assert len(sent(sandbox, "twilio")) == 1  # Twilio did queue it: one text, not two


def test_a_text_message_twilio_certainly_did_not_take_is_sent_later(
        data_dir: Path, sandbox: SandboxHost) -> None:
    """429 means Twilio did not process it: back to pending, sent on the next try."""
    services = profile(data_dir, sandbox, {"notify.sms_to": PHONE})
    sandbox.faults.add("twilio", Fault("429", path_prefix="/2010-04-01", method="POST",
                                       retry_after=120))

    async def scenario() -> tuple[NotificationRecord, NotificationRecord]:
        await announce(services, "needs_attention", "X needs the account reconnected")
        await services.notifications.drain()
        (first,) = await services.notifications.rows()
        await services.notifications.drain()
        (second,) = await services.notifications.rows()
        return first, second

    first, second = run_in(services, scenario)
    assert first.state == "pending" and not first.maybe_sent
    assert first.next_attempt_at is not None
    assert first.next_attempt_at - first.updated_at >= timedelta(seconds=119)
    assert second.state == "sent" and second.attempts == 2
    (sms,) = sent(sandbox, "twilio")
    assert second.provider_id == sms["sid"]
    assert "Reconnect the account in the Accounts panel" in sms["body"]


# -- clear errors, no secrets -----------------------------------------------------------------

def test_a_wrong_resend_key_fails_the_email_with_a_sentence(data_dir: Path,
                                                            sandbox: SandboxHost) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL,
                                           "resend.api_key": "re_invalid"})

    async def scenario() -> NotificationRecord:
        await announce(services, "failed", "X rejected the request.")
        report = await services.notifications.drain()
        assert report.failed == 1
        await services.notifications.drain()  # not tried again
        (row,) = await services.notifications.rows()
        return row

    row = run_in(services, scenario)
    assert row.state == "failed" and row.attempts == 1
    assert row.last_error == ("Resend did not accept the API key; check resend.api_key in the "
                              "settings (a Resend key starts with re_ and needs sending access).")
    assert posts_to(sandbox, "/resend/emails") == 1 and sent(sandbox, "resend") == []


@pytest.mark.parametrize(("setting", "channel"), [
    ("resend.api_key", "email"), ("resend.from_email", "email"),
    ("twilio.auth_token", "sms"), ("twilio.account_sid", "sms"),
    ("twilio.from_number", "sms")])
def test_missing_credentials_fail_the_row_naming_the_setting(
        data_dir: Path, sandbox: SandboxHost, setting: str, channel: str) -> None:
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL, "notify.sms_to": PHONE,
                                           setting: ""})

    async def scenario() -> dict[str, NotificationRecord]:
        await announce(services, "failed", "X rejected the request.")
        await services.notifications.drain()
        return by_channel(await services.notifications.rows())

    rows = run_in(services, scenario)
    broken = rows[channel]
    assert broken.state == "failed" and broken.attempts == 0
    assert broken.last_error and setting in broken.last_error
    assert "\n" not in broken.last_error and broken.last_error.endswith(".")
    other = rows["sms" if channel == "email" else "email"]
    assert other.state == "sent"  # one channel's problem does not stop the other
    provider = "resend" if channel == "email" else "twilio"
    assert sandbox.request_count(provider) == 0


def test_a_resend_key_kept_in_the_keyring_is_used(data_dir: Path,
                                                   sandbox: SandboxHost) -> None:
    key = sandbox.issue_key("resend")
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL, "resend.api_key": ""})

    async def scenario() -> NotificationRecord:
        await services.secrets.set(setting_secret_key("resend.api_key"), key)
        await announce(services, "failed", "X rejected the request.")
        await services.notifications.drain()
        (row,) = await services.notifications.rows()
        return row

    row = run_in(services, scenario)
    assert row.state == "sent"
    assert len(sent(sandbox, "resend")) == 1


def test_no_secret_reaches_the_data_dir_or_the_logs_and_addresses_are_masked(
        data_dir: Path, sandbox: SandboxHost, caplog: pytest.LogCaptureFixture) -> None:
    secrets = ["re_sandbox_demo", "sandbox-twilio-token"]
    services = profile(data_dir, sandbox, {"notify.email_to": EMAIL, "notify.sms_to": PHONE})
    sandbox.faults.add("twilio", Fault("reset_after", path_prefix="/2010-04-01",
                                       method="POST"))
    caplog.set_level(logging.DEBUG)

    async def scenario() -> list[NotificationRecord]:
        await announce(services, "failed", "X rejected the request.")
        await services.notifications.drain()
        return await services.notifications.rows()

    rows = run_in(services, scenario)
    assert sorted(r.state for r in rows) == ["sent", "unknown"]
    logged = caplog.text
    assert "notifications:" in logged
    assert mask_address(EMAIL) in logged and mask_address(PHONE) in logged
    for secret in [*secrets, EMAIL, PHONE]:
        assert secret not in logged, secret
    for path in data_dir.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in content, (secret, path)


# -- the texts themselves -----------------------------------------------------------------------

def _outcome(state: str, reason: str, body: str = POST, url: str | None = None) -> PublishOutcome:
    now = datetime(2030, 5, 3, 7, 0, tzinfo=UTC)
    row = TargetRow(
        id=1, uid="u" * 32, post_id=1, provider="instagram", account_id="1784", post_type="image",
        state="in_flight", due_at=now, attempts=1, lease_owner=None, lease_until=None,
        check_first=False, progress={}, attempt_started_at=now, platform_post_id=None, url=None,
        last_error=None, late=False, published_at=None, body=body, media=[], scheduled_at=now,
        time_zone=ZONE, local_time=WHEN, draft_id=None)
    return PublishOutcome(row, state, reason, url)


def test_the_texts_say_where_what_when_and_why_in_plain_words() -> None:
    published = compose_email(_outcome("published", "published",
                                       url="https://instagram.com/p/abc?x=<1>"), "@dawn")
    assert published.subject == "Your Instagram post is live (@dawn)"
    assert "Your post to Instagram (@dawn) was published." in published.text
    assert "Link: https://instagram.com/p/abc?x=<1>" in published.text
    assert "Scheduled for: 2030-05-03 09:00 (Europe/Berlin)" in published.text
    assert 'href="https://instagram.com/p/abc?x=&lt;1&gt;"' in published.html
    assert "<1>" not in published.html

    late = compose_email(_outcome("published", "published (late: due 2030-05-03 07:00 UTC)"),
                         "@dawn")
    assert "Note: Published (late: due 2030-05-03 07:00 UTC)." in late.text

    script = compose_email(_outcome("failed", "<script>alert(1)</script> refused"), "@dawn")
    assert "<script>" not in script.html and "&lt;script&gt;" in script.html

    assert compose_email(_outcome("failed", "x", body="  "), "").subject == \
        "Your Instagram post did not go out"
    assert "(no text; photos or video only)" in compose_email(_outcome("failed", "x", body=""),
                                                              "").text

    long_reason = "Instagram rejected the request: " + "very " * 60 + "long."
    sms = compose_sms(_outcome("failed", long_reason), "@dawn")
    assert len(sms) < 320 and sms.endswith("...") and "…" not in sms
    assert compose_sms(_outcome("needs_attention", "reconnect"), "@dawn") == (
        "Must Be Viral: your Instagram post (@dawn) for 2030-05-03 09:00 (Europe/Berlin) is "
        "waiting. Reconnect the account in the Accounts panel, then retry it.")


def test_excerpts_and_masks() -> None:
    assert excerpt("short") == "short"
    cut = excerpt("word " * 40)
    assert len(cut) <= 80 and cut.endswith("…") and not cut.endswith(" …")
    assert excerpt("a\n\n b\tc") == "a b c"
    assert mask_address("creator@studio.example") == "c***@studio.example"
    assert mask_address("+1 (415) 555-0123") == "+*******0123"
    assert mask_address("a@b.example, c@d.example") == "a***@b.example, c***@d.example"
