"""Provider health for ``doctor`` and the health view: is each provider configured, does it
answer, how fast, and what state its circuit breaker is in."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from mbv_desktop.core.errors import MbvError
from mbv_desktop.core.generation import Provider
from mbv_desktop.services.generation import GenerationService

HEALTH_TIMEOUT_S = 8.0


@dataclass(frozen=True)
class ProviderHealth:
    provider: str
    configured: bool
    reachable: bool | None  # None: not checked (not configured)
    latency_ms: float | None
    breaker: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"provider": self.provider, "configured": self.configured,
                "reachable": self.reachable, "latency_ms": self.latency_ms,
                "breaker": self.breaker, "detail": self.detail}


async def check_ai_providers(generation: GenerationService) -> list[ProviderHealth]:
    results = []
    configs = await generation.configs()
    for provider in Provider:
        config = configs[provider]
        if not config.configured:
            results.append(ProviderHealth(provider.value, False, None, None, "n/a",
                                          config.problem or "not configured"))
            continue
        try:
            client = await generation.client(provider)
            from mbv_desktop.integrations.ai.openai_compat import load_sdk

            await load_sdk()  # a first-time import is not the provider's latency
            started = time.perf_counter()
            models = await asyncio.wait_for(client.list_models(), HEALTH_TIMEOUT_S)
            latency = (time.perf_counter() - started) * 1000
            results.append(ProviderHealth(
                provider.value, True, True, round(latency, 1), _breaker(client),
                f"{len(models)} models at {config.base_url}"))
        except (MbvError, TimeoutError, ValueError) as e:
            detail = str(e) or f"no answer within {HEALTH_TIMEOUT_S:.0f} s"
            client_or_none = generation._clients.by_provider.get(provider)
            results.append(ProviderHealth(
                provider.value, True, False, None,
                _breaker(client_or_none) if client_or_none else "n/a", detail))
    return results


def _breaker(client: object) -> str:
    policy = getattr(client, "policy", None)
    breaker = getattr(policy, "breaker", None)
    state = getattr(breaker, "state", None)
    return str(getattr(state, "value", state or "n/a"))
