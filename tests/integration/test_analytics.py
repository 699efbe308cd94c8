"""GA4 events through the real service, client and store, against the sandbox's Measurement
Protocol emulator over loopback: queued and sent only after opting in, with a pseudonymous
client id; 25 events a request; kept while GA4 is unreachable and then sent once each; never
sent twice when a connection breaks after GA4 got them (or the app crashed mid-send); every
catalogue event valid at the emulator's validation endpoint, which applies GA4's rules."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.helpers import run

from mbv_desktop.core.errors import InvalidInput
from mbv_desktop.integrations.analytics.ga4 import Ga4Client
from mbv_desktop.sandbox import ga4_emulator
from mbv_desktop.sandbox.common import EmulatorSpec
from mbv_desktop.sandbox.faults import Fault
from mbv_desktop.sandbox.host import SandboxHost
from mbv_desktop.services.analytics import CATALOGUE
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.store.ga4_events import Ga4EventRepository

GA4 = EmulatorSpec("ga4", "/ga4", ga4_emulator.create_app, "", ga4_emulator.fault_reply)
UNREACHABLE = "http://127.0.0.1:9/mp/collect"  # the discard port: connection refused
COLLECT = "/ga4/mp/collect"

#: One example of every catalogue event, every parameter given (what the app would send).
SAMPLES: dict[str, dict[str, object]] = {
    "login": {"method": "Google"},
    "sign_up": {"method": "GitHub"},
    "content_generation": {"provider": "workers_ai", "model": "@cf/meta/llama-3.1-8b-instruct",
                           "kind": "x_thread"},
    "content_publish": {"platform": "instagram", "post_type": "reel"},
    "subscription_purchase": {"plan": "pro", "value": 19.0, "currency": "USD",
                              "transaction_id": "T-1001"},
    "campaign_create": {"goal": "awareness", "budget_usd": 250.5, "posts": 12},
}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SandboxHost]:
    with SandboxHost(tmp_path / "sandbox", emulators=[GA4]) as running:
        yield running


def _received(host: SandboxHost) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{host.urls()['ga4']}/events", timeout=5) as resp:
        return list(json.loads(resp.read()))


def _profile(data_dir: Path, endpoint: str, *, opt_in: bool | None = True,
             sandbox: bool = False) -> Services:
    """A profile sending to ``endpoint``; ``opt_in=None`` leaves the choice to settings.json."""
    overrides: dict[str, object] = {
        "ga4.endpoint": endpoint, "ga4.measurement_id": "G-SANDBOX1",
        "ga4.api_secret": "sandbox-secret", "sandbox.enabled": sandbox}
    if opt_in is not None:
        overrides["analytics.opt_in"] = opt_in
    return open_services(data_dir, env={}, overrides=overrides)


def _rows(services: Services) -> list[tuple[str, str, str | None]]:
    """``(name, state, last_error)`` of every queued or past event, oldest first."""
    with sqlite3.connect(services.worker.path) as conn:
        return [(r.name, r.state, r.last_error)
                for r in reversed(Ga4EventRepository(conn).recent(10_000))]


def _post(url: str, body: object) -> list[dict[str, str]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, method="POST", data=data)
    with urllib.request.urlopen(request, timeout=5) as resp:
        return list(json.loads(resp.read())["validationMessages"])


# --- opting in -----------------------------------------------------------------------------------

def test_events_are_queued_and_sent_only_after_opting_in(host: SandboxHost,
                                                         data_dir: Path) -> None:
    endpoint = host.urls()["ga4"] + "/mp/collect"
    services = _profile(data_dir, endpoint, opt_in=False)
    try:
        assert run(services.analytics.track("login", {"method": "Google"})) is False
        assert _rows(services) == []  # nothing at all is written
    finally:
        services.close()
    assert not (data_dir / "analytics-id").exists()

    services = _profile(data_dir, endpoint)
    try:
        async def both() -> tuple[bool, bool]:
            first = await services.analytics.track("login", {"method": "Google"})
            second = await services.analytics.track("sign_up", {"method": "GitHub"})
            await services.aclose()  # lets the background sender finish
            return first, second

        assert run(both()) == (True, True)
        assert _rows(services) == [("login", "sent", None), ("sign_up", "sent", None)]
    finally:
        services.close()
    events = _received(host)
    assert [(e["name"], e["params"]["method"]) for e in events] == [
        ("login", "Google"), ("sign_up", "GitHub")]
    for event in events:  # what GA4 needs to count them in its reports
        assert event["params"]["engagement_time_msec"] == 100
        assert event["params"]["session_id"] == services.analytics.session_id
        assert set(event["params"]) == {"method", "engagement_time_msec", "session_id"}
        assert abs(event["timestamp_micros"] / 1e6 - services.analytics.session_id) < 60
    assert {e["client_id"] for e in events} == {(data_dir / "analytics-id").read_text()}


def test_opting_out_deletes_the_queue_and_stops_events(data_dir: Path) -> None:
    services = _profile(data_dir, UNREACHABLE, opt_in=None)  # the choice is in settings.json
    analytics = services.analytics
    try:
        async def queue_one() -> None:
            assert await analytics.set_opt_in(True) is True
            assert await analytics.track("login", {"method": "Google"})
            await analytics.flush()  # GA4 unreachable: it stays queued

        run(queue_one())
        assert [state for _, state, _ in _rows(services)] == ["queued"]

        async def opt_out() -> bool:
            assert await analytics.set_opt_in(False) is False
            return await analytics.track("sign_up", {"method": "Google"})

        assert run(opt_out()) is False
        assert _rows(services) == []

        run(queue_one())
        services.settings.set("analytics.opt_in", "false")  # `config set` elsewhere
        run(analytics.flush())  # the next pass sees the choice
        assert _rows(services) == []
        assert services.settings.get_bool("analytics.opt_in") is False
    finally:
        run(analytics.aclose())
        services.close()


# --- batching, offline, never twice --------------------------------------------------------------

def test_sixty_events_go_in_three_requests_of_25_25_and_10(host: SandboxHost,
                                                           data_dir: Path) -> None:
    services = _profile(data_dir, host.urls()["ga4"] + "/mp/collect")
    try:
        async def sixty() -> None:
            await asyncio.gather(*(services.analytics.track(
                "content_publish", {"platform": "x", "post_type": f"post{n}"})
                for n in range(60)))
            await services.aclose()

        run(sixty())
    finally:
        services.close()
    assert host.request_count("ga4", COLLECT) == 3
    events = _received(host)
    assert [e["params"]["post_type"] for e in events] == [f"post{n}" for n in range(60)]
    assert [e["request"] for e in events] == [1] * 25 + [2] * 25 + [3] * 10  # oldest first
    assert {state for _, state, _ in _rows(services)} == {"sent"}


def test_events_wait_while_ga4_is_unreachable_and_are_sent_once_later(
        host: SandboxHost, data_dir: Path) -> None:
    services = _profile(data_dir, UNREACHABLE)
    try:
        async def offline() -> list[bool]:
            queued = [await services.analytics.track("login", {"method": "Google"}),
                      await services.analytics.track("content_publish",
                                                     {"platform": "tiktok", "post_type": "video"})]
            await services.aclose()
            return queued

        assert run(offline()) == [True, True]  # the action never notices
        rows = _rows(services)
        assert [(n, s) for n, s, _ in rows] == [("login", "queued"),
                                               ("content_publish", "queued")]
        assert "Could not reach Google Analytics" in (rows[0][2] or "")
    finally:
        services.close()

    services = _profile(data_dir, host.urls()["ga4"] + "/mp/collect")  # back online
    try:
        async def online() -> tuple[int, int]:
            first = await services.analytics.flush()
            second = await services.analytics.flush()
            await services.aclose()
            return first.sent, second.sent

        assert run(online()) == (2, 0)
        assert [s for _, s, _ in _rows(services)] == ["sent", "sent"]
    finally:
        services.close()
    assert [e["name"] for e in _received(host)] == ["login", "content_publish"]
    assert host.request_count("ga4", COLLECT) == 1


def test_a_connection_broken_after_ga4_got_the_events_drops_them_never_twice(
        host: SandboxHost, data_dir: Path) -> None:
    host.faults.add("ga4", Fault("reset_after", path_prefix="/mp/collect", method="POST"))
    services = _profile(data_dir, host.urls()["ga4"] + "/mp/collect")
    try:
        async def scenario() -> tuple[int, int]:
            await asyncio.gather(services.analytics.track("login", {"method": "Google"}),
                                 services.analytics.track("sign_up", {"method": "Google"}))
            await services.analytics.aclose()
            again = await services.analytics.flush()
            return again.sent, again.waiting

        assert run(scenario()) == (0, 0)
        rows = _rows(services)
        assert [(n, s) for n, s, _ in rows] == [("login", "dropped"), ("sign_up", "dropped")]
        assert "may or may not" in (rows[0][2] or "")
    finally:
        services.close()
    assert [e["name"] for e in _received(host)] == ["login", "sign_up"]  # GA4 has them, once
    assert host.request_count("ga4", COLLECT) == 1


def test_events_a_crash_left_sending_are_dropped_at_start(host: SandboxHost,
                                                          data_dir: Path) -> None:
    services = _profile(data_dir, host.urls()["ga4"] + "/mp/collect")
    services.close()
    with sqlite3.connect(services.worker.path) as conn:  # the state a crash mid-send leaves
        from datetime import UTC, datetime, timedelta

        repo = Ga4EventRepository(conn)
        for name in ("login", "sign_up"):
            repo.add(name, {"method": "Google"}, at=datetime.now(UTC))
        repo.claim_batch(25, timedelta(minutes=5))
        repo.add("content_publish", {"platform": "x", "post_type": "post"},
                 at=datetime.now(UTC))

    services = _profile(data_dir, host.urls()["ga4"] + "/mp/collect")
    try:
        async def start() -> int:
            report = await services.analytics.flush()
            await services.aclose()
            return report.sent

        assert run(start()) == 1
        rows = _rows(services)
        assert [(n, s) for n, s, _ in rows] == [
            ("login", "dropped"), ("sign_up", "dropped"), ("content_publish", "sent")]
        assert "closed while this event was being sent" in (rows[0][2] or "")
    finally:
        services.close()
    assert [e["name"] for e in _received(host)] == ["content_publish"]


def test_a_complete_generation_run_is_reported_without_its_prompt(tmp_path: Path,
                                                                  data_dir: Path) -> None:
    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.core.generation import TaskKind

    with SandboxHost(tmp_path / "full-sandbox") as full:
        overrides = sandbox_overrides(full.urls()) | {"analytics.opt_in": True}
        services = open_services(data_dir, env={}, overrides=overrides, sandbox=True)
        services.generation.analytics = services.analytics  # the hook, set as the app sets it
        try:
            async def generate() -> str:
                outcome = await services.generation.generate_text(
                    TaskKind.X_POST, topic="my secret launch plan")
                await services.aclose()
                return outcome.model

            model = run(generate())
        finally:
            services.close()
        events = _received(full)
    assert [(e["name"], e["params"]["provider"], e["params"]["model"], e["params"]["kind"])
            for e in events] == [("content_generation", "openai", model, "x_post")]
    assert "secret launch" not in json.dumps(events)


# --- the catalogue and GA4's rules ---------------------------------------------------------------

def test_every_catalogue_event_is_valid_at_the_sandbox_validation_endpoint(
        host: SandboxHost, data_dir: Path) -> None:
    assert set(SAMPLES) == set(CATALOGUE)  # a new event needs an example here
    services = _profile(data_dir, host.urls()["ga4"] + "/mp/collect", sandbox=True)
    try:
        async def send_all() -> list[Any]:
            for name, params in SAMPLES.items():
                assert await services.analytics.track(name, params)
            rows = await services.analytics.recent()
            client = Ga4Client(host.urls()["ga4"] + "/mp/collect", "G-SANDBOX1", "s")
            try:
                messages = await client.validate(
                    services.analytics.client_id() or "",
                    [(r.name, r.params) for r in reversed(rows)])
            finally:
                await client.aclose()
            await services.aclose()
            return messages

        assert run(send_all()) == []
        assert {s for _, s, _ in _rows(services)} == {"sent"}
    finally:
        services.close()
    assert [e["name"] for e in _received(host)] == list(SAMPLES)
    assert host.request_count("ga4", "/ga4/debug/mp/collect") >= 1  # checked before sending
    for event in _received(host):
        sample = SAMPLES[event["name"]]
        assert {k: event["params"][k] for k in sample} == sample


def test_the_validation_endpoint_applies_ga4s_rules(host: SandboxHost) -> None:
    url = host.urls()["ga4"] + "/debug/mp/collect"  # no measurement_id or api_secret: not checked

    def codes(body: object) -> set[tuple[str, str]]:
        return {(m["fieldPath"], m["validationCode"]) for m in _post(url, body)}

    def event(name: str = "login", **params: object) -> dict[str, object]:
        return {"client_id": "c1", "events": [{"name": name, "params": params}]}

    assert codes(event(method="Google")) == set()
    assert codes({"events": [{"name": "1bad"}]}) == {("client_id", "VALUE_REQUIRED"),
                                                     ("events[0].name", "NAME_INVALID")}
    assert codes(event("session_start")) == {("events[0].name", "NAME_RESERVED")}
    assert codes(event("notification_open")) == {("events[0].name", "NAME_RESERVED")}
    assert codes(event("google_thing")) == {("events[0].name", "NAME_RESERVED")}
    assert codes(event("e" * 41)) == {("events[0].name", "VALUE_OUT_OF_BOUNDS")}
    assert codes(event(ga_x=1)) == {("events[0].params.ga_x", "NAME_RESERVED")}
    assert codes(event(**{"p" * 41: 1})) == {(f"events[0].params.{'p' * 41}",
                                              "VALUE_OUT_OF_BOUNDS")}
    assert codes(event(method="x" * 101)) == {("events[0].params.method",
                                               "VALUE_OUT_OF_BOUNDS")}
    assert codes(event(page_title="x" * 300)) == set()  # a standard parameter allowed longer
    assert codes(event(method={"nested": 1})) == {("events[0].params.method", "VALUE_INVALID")}
    assert codes(event(**{f"p{n}": n for n in range(26)})) == {
        ("events[0].params", "EXCEEDED_MAX_ENTITIES")}
    assert codes({"client_id": "c1", "events": [{"name": "login"}] * 26}) == {
        ("events", "EXCEEDED_MAX_ENTITIES")}
    assert codes({"client_id": "c1", "events": []}) == {("events", "VALUE_REQUIRED")}
    assert codes(b'{"client_id": "c1", "events": [{"name": "login", "params": '
                 b'{"method": "a", "method": "b"}}]}') == {("events[0].params.method",
                                                            "NAME_DUPLICATED")}
    assert codes({"client_id": "c1", "timestamp_micros": "soon",
                  "events": [{"name": "login"}]}) == {("timestamp_micros", "VALUE_INVALID")}
    assert codes(b"not json") == {("", "VALUE_INVALID")}


def test_bad_events_are_refused_with_a_clear_error_before_anything_is_written(
        data_dir: Path) -> None:
    services = _profile(data_dir, UNREACHABLE)
    try:
        cases: list[tuple[str, dict[str, object], str]] = [
            ("has space", {}, "not an analytics event the app sends"),
            ("login", {"method": "Google", "email": "maya@example.com"}, "does not carry email"),
            ("login", {}, "needs method"),
            ("login", {"method": "x" * 101}, "at most 100"),
            ("subscription_purchase", {"plan": "pro", "value": "19", "currency": "USD"},
             "must be a number"),
            ("subscription_purchase", {"plan": "pro", "value": 19, "currency": "dollars"},
             "wrong form"),
            ("campaign_create", {"goal": "reach", "posts": 2.5}, "whole number"),
        ]
        for name, params, expected in cases:
            with pytest.raises(InvalidInput, match=expected):
                run(services.analytics.track(name, params))
        assert _rows(services) == []
    finally:
        services.close()

    client = Ga4Client(UNREACHABLE, "G-1", "s")
    for name, expected in (("has space", "not a valid"), ("session_start", "reserves"),
                           ("firebase_x", "prefix"), ("e" * 41, "longer than 40")):
        with pytest.raises(InvalidInput, match=expected):
            run(client.send("cid", [(name, {})]))
    with pytest.raises(InvalidInput, match="at most 25"):
        run(client.send("cid", [("login", {f"p{n}": n for n in range(26)})]))
    with pytest.raises(InvalidInput, match="between 1 and 25"):
        run(client.send("cid", [("login", {})] * 26))
    run(client.aclose())
