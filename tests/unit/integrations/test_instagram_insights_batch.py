"""Instagram insights in a batch, against scripted Graph answers: a refusal about one post (media
made before the account became a business account) becomes that post's note while the others'
figures come back; a throttle stops the whole batch (no partial figures, nothing invented)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from helpers import run

from mbv_desktop.core.errors import RateLimited
from mbv_desktop.integrations.http import ProviderClient
from mbv_desktop.integrations.social.insights import PostStats
from mbv_desktop.integrations.social.instagram_insights import InstagramInsights, insights_policy

BEFORE_BUSINESS = {"error": {
    "message": "(#100) Media Posted Before Business Account Conversion", "type": "OAuthException",
    "code": 100, "error_subcode": 2108006, "fbtrace_id": "A1"}}
THROTTLED = {"error": {"message": "(#17) User request limit reached", "type": "OAuthException",
                       "code": 17, "is_transient": True, "fbtrace_id": "A2"}}


def graph(refuse: dict[str, tuple[int, dict[str, object]]]) -> Callable[[httpx.Request],
                                                                         httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        media = request.url.path.split("/")[2]
        if request.url.path.endswith("/insights"):
            if media in refuse:
                status, body = refuse[media]
                return httpx.Response(status, json=body)
            return httpx.Response(200, json={"data": [
                {"name": "views", "period": "lifetime", "values": [{"value": 120}]},
                {"name": "likes", "period": "lifetime", "values": [{"value": 7}]}]})
        return httpx.Response(200, content=json.dumps(
            {"id": media, "media_type": "IMAGE", "media_product_type": "FEED"}))

    return answer


def stats(refuse: dict[str, tuple[int, dict[str, object]]]) -> list[PostStats]:
    client = ProviderClient(insights_policy(),
                            transport=httpx.MockTransport(graph(refuse)))
    reader = InstagramInsights("https://graph.test", client=client, concurrency=1)

    async def scenario() -> list[PostStats]:
        try:
            return await reader.post_stats("1784", "token", ["m1", "m2", "m3"])
        finally:
            await reader.aclose()

    return run(scenario())


def test_a_refusal_about_one_post_is_its_note_and_the_others_go_on() -> None:
    first, second, third = stats({"m2": (400, BEFORE_BUSINESS)})
    assert first.values == {"views": 120, "likes": 7} and third.values == first.values
    assert not second.values and not second.deleted
    assert "Business Account Conversion" in second.note


def test_a_throttle_stops_the_batch_without_partial_figures() -> None:
    with pytest.raises(RateLimited):
        stats({"m2": (403, THROTTLED)})
