"""AI generation use cases: write copy (streaming, variants, cancel), make images into the
media store, and keep the usage and cost ledger with a monthly budget.

Every run lands in the ledger, however it ends: complete, partial (the stream was cut: the text
so far is kept and marked), cancelled (usage estimated from what arrived) or failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    MbvError,
    NotConfigured,
    ProviderError,
)
from mbv_desktop.core.generation import (
    DEFAULT_MODELS,
    DEFAULT_TEMPLATES,
    PromptTemplate,
    Provider,
    TaskKind,
    TextRun,
    TextVariant,
    Usage,
    estimate_tokens,
    fit_thread,
    render,
)
from mbv_desktop.core.pricing import Cost, image_cost, text_cost
from mbv_desktop.integrations.policy.metrics import MetricsRegistry
from mbv_desktop.services.ai_config import AiProviderConfig, load_ai_configs
from mbv_desktop.services.events import EventHub
from mbv_desktop.store.ai_runs import AiRunRecord, AiRunRepository, SpendTotal
from mbv_desktop.store.assets import AssetRecord, AssetRepository
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:  # the clients pull in httpx and, later, openai: not on the first window's path
    from mbv_desktop.integrations.ai.openai_compat import ChatDelta, OpenAICompatClient
    from mbv_desktop.services.analytics import AnalyticsService
    from mbv_desktop.services.plan_limits import PlanGuard

log = logging.getLogger(__name__)

MAX_VARIANTS = 5
MEDIA_DIR = "media"


@dataclass(frozen=True)
class TextOutcome:
    run_id: int
    provider: Provider
    model: str
    variants: list[TextVariant]
    usage: Usage
    cost: Cost
    status: str  # complete | partial
    note: str | None = None  # why it is partial, as a sentence


@dataclass(frozen=True)
class ImageOutcome:
    run_id: int
    asset: AssetRecord
    path: Path
    cost: Cost
    revised_prompt: str | None


@dataclass(frozen=True)
class AiRunRecorded:
    run_id: int
    cost_usd: float


@dataclass(frozen=True)
class BudgetStatus:
    month: SpendTotal
    budget_usd: float

    @property
    def over(self) -> bool:
        return self.budget_usd > 0 and self.month.cost_usd >= self.budget_usd

    @property
    def warning(self) -> str | None:
        if not self.over:
            return None
        return (f"This month's AI spend (${self.month.cost_usd:,.2f}) has reached the budget of "
                f"${self.budget_usd:,.2f}.")


@dataclass
class _Clients:
    by_provider: dict[Provider, OpenAICompatClient] = field(default_factory=dict)


class GenerationService:
    def __init__(self, worker: StoreWorker, settings: Settings, secrets: SecretStore,
                 data_dir: Path, metrics: MetricsRegistry, *,
                 analytics: AnalyticsService | None = None) -> None:
        self._worker = worker
        self._settings = settings
        self._secrets = secrets
        self._media = data_dir / MEDIA_DIR
        self._metrics = metrics
        self._configs: dict[Provider, AiProviderConfig] | None = None
        self._clients = _Clients()
        self.events: EventHub[AiRunRecorded] = EventHub()
        #: Gets a ``content_generation`` event per complete run (settable after construction).
        self.analytics = analytics
        #: Holds runs to the plan's AI generations (None: no limits known).
        self.plan_guard: PlanGuard | None = None

    # --- providers ------------------------------------------------------------------------

    async def configs(self, *, reload: bool = False) -> Mapping[Provider, AiProviderConfig]:
        if self._configs is None or reload:
            self._configs = await load_ai_configs(self._settings, self._secrets)
            self._clients.by_provider.clear()
        return self._configs

    def default_provider(self) -> Provider:
        return Provider.parse(str(self._settings.get("ai.provider")))

    async def client(self, provider: Provider) -> OpenAICompatClient:
        from mbv_desktop.integrations.ai.openai_compat import AiEndpoint, OpenAICompatClient
        from mbv_desktop.integrations.http import ProviderClient, ProviderPolicy

        config = (await self.configs())[provider]
        if not config.configured:
            raise NotConfigured(config.problem or "", provider=provider.value)
        client = self._clients.by_provider.get(provider)
        if client is None:
            # Images and long answers can take a while: a generous overall deadline.
            policy = ProviderClient(ProviderPolicy(provider.value, timeout=60.0, deadline=180.0),
                                    registry=self._metrics)
            rest = (f"{config.base_url.rstrip('/')}/accounts/{config.account_id}"
                    if provider is Provider.WORKERS_AI else "")
            client = OpenAICompatClient(
                AiEndpoint(provider.value, config.openai_base_url, config.api_key, rest), policy)
            self._clients.by_provider[provider] = client
        return client

    async def list_models(self, provider: Provider) -> list[str]:
        try:
            return await (await self.client(provider)).list_models()
        except AuthExpired as e:
            raise self._bad_key(provider) from e

    def _bad_key(self, provider: Provider) -> NotConfigured:
        """A 401 from an AI provider means the key is wrong or revoked, not a sign-in."""
        setting = {Provider.OPENAI: "openai.api_key", Provider.WORKERS_AI: "workers_ai.api_token",
                   Provider.LOCAL: "local_ai.base_url"}[provider]
        return NotConfigured(
            f"{provider.label} did not accept the API key. Set a valid one with "
            f"'mbv-desktop config set {setting} -' (or MBV_{setting.upper().replace('.', '_')}).",
            provider=provider.value)

    def default_model(self, provider: Provider, what: str = "text") -> str:
        if provider is Provider.LOCAL and what == "text":
            return str(self._settings.get("local_ai.model"))
        return DEFAULT_MODELS[provider][what]

    # --- templates ------------------------------------------------------------------------

    async def template(self, kind: TaskKind) -> PromptTemplate:
        row = await self._worker.call(lambda c: c.execute(
            "SELECT system, user FROM prompt_templates WHERE kind = ?", (kind.value,)
        ).fetchone(), write=False)
        default = DEFAULT_TEMPLATES[kind]
        if row is None:
            return default
        return PromptTemplate(kind, default.label, row[0], row[1], default.platform)

    async def save_template(self, kind: TaskKind, system: str, user: str) -> None:
        if not user.strip():
            raise InvalidInput("The prompt template cannot be empty.")
        now = datetime.now(UTC).isoformat()
        await self._worker.call(lambda c: c.execute(
            "INSERT INTO prompt_templates (kind, system, user, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (kind) DO UPDATE SET system = excluded.system, user = excluded.user,"
            " updated_at = excluded.updated_at", (kind.value, system, user, now)))

    async def reset_template(self, kind: TaskKind) -> None:
        await self._worker.call(lambda c: c.execute(
            "DELETE FROM prompt_templates WHERE kind = ?", (kind.value,)))

    # --- budget ---------------------------------------------------------------------------

    async def budget(self, now: datetime | None = None) -> BudgetStatus:
        now = now or datetime.now(UTC)
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12
               else start.replace(month=start.month + 1))
        total = await self._worker.call(
            lambda c: AiRunRepository(c).total_between(start, end), write=False)
        return BudgetStatus(total, self._settings.get_float("ai.monthly_budget_usd"))

    async def _record(self, record: AiRunRecord) -> int:
        run_id = await asyncio.shield(self._worker.call(
            lambda c: AiRunRepository(c).record(record, datetime.now(UTC))))
        self.events.publish(AiRunRecorded(run_id, record.cost_usd))
        self._metrics.metrics_for(record.provider).add_cost(record.cost_usd)
        if record.status == "complete" and record.kind != "embedding":
            await self._track_generation(record)
        return run_id

    async def _track_generation(self, record: AiRunRecord) -> None:
        """The usage event for a complete run: which provider, model and kind of content;
        never the prompt or the text."""
        if self.analytics is None:
            return
        try:
            await self.analytics.track("content_generation", {
                "provider": record.provider, "model": record.model[:100], "kind": record.kind})
        except MbvError as e:  # an analytics event never fails the generation it reports
            log.info("generation: the content_generation event was not queued: %s", e)

    # --- text -----------------------------------------------------------------------------

    async def generate_text(
        self,
        kind: TaskKind,
        *,
        provider: Provider | None = None,
        model: str | None = None,
        topic: str = "",
        text: str = "",
        tone: str = "playful",
        language: str = "Spanish",
        variants: int = 1,
        max_tokens: int | None = None,
        draft_id: int | None = None,
        on_delta: Callable[[ChatDelta], None] | None = None,
    ) -> TextOutcome:
        """Streams a run; ``on_delta`` sees each piece as it arrives (on the loop's thread)."""
        from mbv_desktop.integrations.ai.openai_compat import StreamInterrupted

        if not 1 <= variants <= MAX_VARIANTS:
            raise InvalidInput(f"Ask for between 1 and {MAX_VARIANTS} variants.")
        if self.plan_guard is not None:
            await self.plan_guard.check_generation()
        provider = provider or self.default_provider()
        model = model or self.default_model(provider)
        messages = render(await self.template(kind), topic=topic, text=text, tone=tone,
                          language=language)
        client = await self.client(provider)
        run = TextRun(provider, model, kind)
        usage_seen: list[Usage] = []
        prompt_tokens = sum(estimate_tokens(m.content) for m in messages) * variants
        status, note = "complete", None
        try:
            async for delta in client.stream_chat(model, messages, n=variants,
                                                  max_tokens=max_tokens, usage_out=usage_seen):
                run.add_delta(delta.index, delta.text)
                if delta.finish_reason:
                    run.finish[delta.index] = delta.finish_reason
                if on_delta is not None:
                    on_delta(delta)
        except asyncio.CancelledError:
            await self._record_text(run, usage_seen, prompt_tokens, "cancelled", draft_id)
            raise
        except StreamInterrupted as e:
            if not run.texts:
                await self._record_text(run, usage_seen, prompt_tokens, "failed", draft_id, e)
                raise
            status, note = "partial", str(e)
        except AuthExpired as e:
            await self._record_text(run, usage_seen, prompt_tokens, "failed", draft_id, e)
            raise self._bad_key(provider) from e
        except MbvError as e:
            await self._record_text(run, usage_seen, prompt_tokens, "failed", draft_id, e)
            raise
        usage, cost, run_id = await self._record_text(run, usage_seen, prompt_tokens, status,
                                                      draft_id)
        if kind is TaskKind.X_THREAD:  # every post within X's limit, whatever the model wrote
            for index, text_so_far in list(run.texts.items()):
                # off the loop: the X rules take ~300 ms to load the first time
                run.texts[index] = await asyncio.to_thread(fit_thread, text_so_far)
        return TextOutcome(run_id, provider, model, run.variants(partial=status == "partial"),
                           usage, cost, status, note)

    async def _record_text(self, run: TextRun, usage_seen: list[Usage], prompt_tokens: int,
                           status: str, draft_id: int | None,
                           error: BaseException | None = None) -> tuple[Usage, Cost, int]:
        if usage_seen:
            usage = usage_seen[-1]
        else:  # cancelled or cut before the provider reported usage: count what we saw
            usage = Usage(prompt_tokens, sum(estimate_tokens(t) for t in run.texts.values()),
                          estimated=True)
        cost = text_cost(run.provider.value, run.model, usage.tokens_in, usage.tokens_out)
        run_id = await self._record(AiRunRecord(
            provider=run.provider.value, model=run.model, kind=run.kind.value, status=status,
            tokens_in=usage.tokens_in, tokens_out=usage.tokens_out, units=cost.units,
            cost_usd=cost.usd, priced=cost.priced, estimated=usage.estimated,
            draft_id=draft_id, error=str(error) if error else None))
        return usage, cost, run_id

    # --- embeddings -----------------------------------------------------------------------

    async def embed(self, texts: list[str], *, provider: Provider | None = None,
                    model: str | None = None) -> tuple[str, list[list[float]]]:
        """Embeddings for ``texts`` (one run in the ledger); returns the model used."""
        provider = provider or self.default_provider()
        model = model or self.default_model(provider, "embedding")
        client = await self.client(provider)
        tokens = sum(estimate_tokens(t) for t in texts)
        try:
            vectors = await client.embed(texts, model=model)
        except ProviderError as e:
            await self._record(AiRunRecord(provider.value, model, "embedding", "failed",
                                           tokens_in=tokens, estimated=True, error=str(e)))
            if isinstance(e, AuthExpired):
                raise self._bad_key(provider) from e
            raise
        cost = text_cost(provider.value, model, tokens, 0)
        await self._record(AiRunRecord(provider.value, model, "embedding", "complete",
                                       tokens_in=tokens, units=cost.units, cost_usd=cost.usd,
                                       priced=cost.priced, estimated=True))
        return f"{provider.value}:{model}", vectors

    # --- images ---------------------------------------------------------------------------

    async def generate_image(
        self,
        prompt: str,
        *,
        provider: Provider | None = None,
        model: str | None = None,
        size: str = "1024x1024",
        quality: str = "standard",
        style: str = "vivid",
        draft_id: int | None = None,
    ) -> ImageOutcome:
        if not prompt.strip():
            raise InvalidInput("Describe the image you want first.")
        if self.plan_guard is not None:
            await self.plan_guard.check_generation()
        provider = provider or self.default_provider()
        model = model or self.default_model(provider, "image")
        if not model:
            raise InvalidInput(f"{provider.label} has no image model set up.")
        client = await self.client(provider)
        cost = image_cost(provider.value, model, size, quality)
        try:
            image = await client.generate_image(prompt, model=model, size=size, quality=quality,
                                                style=style)
        except ProviderError as e:
            await self._record(AiRunRecord(provider.value, model, "image", "failed",
                                           draft_id=draft_id, error=str(e)))
            if isinstance(e, AuthExpired):
                raise self._bad_key(provider) from e
            raise
        run_id = await self._record(AiRunRecord(
            provider.value, model, "image", "complete", images=1, units=cost.units,
            cost_usd=cost.usd, priced=cost.priced, draft_id=draft_id))
        asset, path = await self._store_image(image.data, image.mime, prompt, run_id, draft_id)
        return ImageOutcome(run_id, asset, path, cost, image.revised_prompt)

    async def _store_image(self, data: bytes, mime: str, prompt: str, run_id: int,
                           draft_id: int | None) -> tuple[AssetRecord, Path]:
        sha = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        ext = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}[mime]
        path = self._media / sha[:2] / f"{sha}.{ext}"
        await asyncio.to_thread(_write_once, path, data)
        width, height = _png_size(data) if mime == "image/png" else (None, None)

        def add(c: object) -> AssetRecord:
            repo = AssetRepository(c)  # type: ignore[arg-type]
            asset = repo.add(sha256=sha, kind="image", mime=mime, ext=ext, size=len(data),
                             width=width, height=height, source="generated",
                             at=datetime.now(UTC), prompt=prompt, ai_run_id=run_id)
            if draft_id is not None:
                repo.attach(draft_id, asset.id)
            return asset

        return await self._worker.call(add), path

    async def aclose(self) -> None:
        for client in self._clients.by_provider.values():
            await client.aclose()
            await client.policy.aclose()


def _write_once(path: Path, data: bytes) -> None:
    """Content-addressed: an existing file already has these bytes."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def _png_size(data: bytes) -> tuple[int | None, int | None]:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return None, None
