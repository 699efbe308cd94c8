"""No canary secret reaches Sentry: not in messages, exceptions, locals, breadcrumbs, URLs or
extra data (reliability.md 23). Uses a capturing transport; nothing leaves the machine."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

import sentry_sdk
from sentry_sdk.transport import Transport

from mbv_desktop.integrations.monitoring.sentry import init_sentry

# Fake secrets in the providers' shapes, assembled at run time so secret scanners reading
# the source do not flag them.
CANARIES = [
    "sk-" + "proj-CANARYabcdefghijklmnopqrstuvwxyz123456",
    "sk_" + "live_CANARY1234567890abcdef",
    "gh" + "p_CANARYabcdefghijklmnopqrstuvwxyz0123456789",
    "ya29" + ".CANARY-google-access-token-abcdefghij",
    "whsec" + "_CANARYabcdefghijklmnopqrstuv",
]


class Capture(Transport):
    envelopes: ClassVar[list[Any]] = []

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)

    def capture_envelope(self, envelope: Any) -> None:
        Capture.envelopes.append(envelope)


def test_no_canary_in_any_event_or_breadcrumb() -> None:
    Capture.envelopes.clear()
    assert init_sentry("https://public@o0.ingest.sentry.invalid/1", release="test",
                       transport=Capture)
    try:
        logger = logging.getLogger("mbv_desktop.test_sentry")
        access_token = CANARIES[0]  # a local variable that must not be sent
        logger.info("calling https://api.example.com/cb?code=%s&state=%s", CANARIES[3], "s")
        sentry_sdk.add_breadcrumb(message=f"Authorization: Bearer {CANARIES[2]}",
                                  data={"refresh_token": CANARIES[1],
                                        "url": f"/x?token={CANARIES[4]}"})
        sentry_sdk.set_extra("request", {"headers": {"authorization": f"Bearer {CANARIES[0]}"},
                                         "body": f"client_secret={CANARIES[4]}"})
        try:
            raise RuntimeError(f"OpenAI said no to key {access_token}")
        except RuntimeError:
            sentry_sdk.capture_exception()
        sentry_sdk.capture_message(f"stripe key {CANARIES[1]} failed")
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()  # back to a disabled client
    assert Capture.envelopes, "nothing was captured"
    sent = "".join(json.dumps(item.payload.json, default=str)
                   for env in Capture.envelopes for item in env.items if item.payload.json)
    assert "OpenAI said no" in sent  # the event is there...
    for canary in CANARIES:
        assert canary not in sent  # ...without the secrets
        assert canary[8:20] not in sent


def test_off_without_dsn() -> None:
    assert init_sentry("", release="test") is False


def test_an_answer_that_is_not_an_image_is_refused() -> None:
    import pytest

    from mbv_desktop.core.errors import Rejected
    from mbv_desktop.integrations.ai.openai_compat import (
        AiEndpoint,
        OpenAICompatClient,
        sniff_image,
    )
    from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy

    assert sniff_image(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_image(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image(b"<html>oops</html>") is None
    client = OpenAICompatClient(AiEndpoint("openai", "http://127.0.0.1:9", "sk-x"),
                                ProviderClient(ProviderPolicy("openai")))
    with pytest.raises(Rejected, match="not an image"):
        client._checked_image(b"MZ\x90\x00 an exe", None)
