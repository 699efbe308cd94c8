"""Switching the sandbox's faults from the window (its Sandbox menu), through the sandbox's
control API over loopback HTTP: the app never reaches into the emulators' code."""

from __future__ import annotations

from dataclasses import dataclass

from mbv_desktop.core.errors import MbvError


@dataclass(frozen=True)
class FaultPreset:
    label: str
    kind: str
    params: tuple[tuple[str, object], ...] = ()


FAULT_PRESETS: tuple[FaultPreset, ...] = (
    FaultPreset("Rate limit the next 3 calls (429, Retry-After 5 s)", "429",
                (("retry_after", 5), ("times", 3))),
    FaultPreset("Fail the next 3 calls (500)", "500", (("times", 3),)),
    FaultPreset("Make the next call slow (4 s)", "slow", (("delay", 4.0), ("times", 1))),
    FaultPreset("Reset the next connection", "reset", (("times", 1),)),
    FaultPreset("Garble the next answer", "malformed", (("times", 1), ("after_events", 5))),
    FaultPreset("Cut the next stream half-way", "cut_stream", (("times", 1), ("after_events", 8))),
)


class SandboxControl:
    def __init__(self, control_url: str) -> None:
        self.control_url = control_url.rstrip("/")

    async def add_fault(self, provider: str, preset: FaultPreset) -> None:
        import httpx

        body = {"provider": provider, "kind": preset.kind, **dict(preset.params)}
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.post(f"{self.control_url}/faults", json=body)
        except httpx.HTTPError as e:
            raise MbvError(f"The sandbox did not answer: {e}.") from e
        if response.status_code >= 400:
            raise MbvError(f"The sandbox refused the fault: {response.text[:200]}")

    async def clear_faults(self) -> None:
        import httpx

        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                await client.delete(f"{self.control_url}/faults")
        except httpx.HTTPError as e:
            raise MbvError(f"The sandbox did not answer: {e}.") from e
