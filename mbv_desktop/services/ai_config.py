"""Where each AI provider is and how to reach it, from settings, MBV_* variables and the
keyring: the one place that knows which setting feeds which provider."""

from __future__ import annotations

from dataclasses import dataclass, field

from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.generation import DEFAULT_MODELS, Provider
from mbv_desktop.services.settings_view import secret_setting


@dataclass(frozen=True)
class AiProviderConfig:
    provider: Provider
    base_url: str
    api_key: str = field(default="", repr=False)
    account_id: str = ""
    default_text_model: str = ""
    problem: str | None = None  # why it cannot be used, as a sentence with what to do

    @property
    def configured(self) -> bool:
        return self.problem is None

    @property
    def openai_base_url(self) -> str:
        """The base URL the OpenAI SDK takes (Workers AI: its OpenAI-compatible path)."""
        if self.provider is Provider.WORKERS_AI:
            return f"{self.base_url.rstrip('/')}/accounts/{self.account_id}/ai/v1"
        return self.base_url.rstrip("/")


async def load_ai_configs(
    settings: Settings, secrets: SecretStore
) -> dict[Provider, AiProviderConfig]:
    openai_key = await secret_setting(settings, secrets, "openai.api_key")
    cf_token = await secret_setting(settings, secrets, "workers_ai.api_token")
    account = str(settings.get("workers_ai.account_id") or "")
    local_url = str(settings.get("local_ai.base_url") or "")
    return {
        Provider.OPENAI: AiProviderConfig(
            Provider.OPENAI, str(settings.get("openai.base_url")), openai_key,
            default_text_model=DEFAULT_MODELS[Provider.OPENAI]["text"],
            problem=None if openai_key else (
                "No OpenAI API key is set: add one with 'mbv-desktop config set openai.api_key -'"
                " or MBV_OPENAI_API_KEY."),
        ),
        Provider.WORKERS_AI: AiProviderConfig(
            Provider.WORKERS_AI, str(settings.get("workers_ai.base_url")), cf_token, account,
            default_text_model=DEFAULT_MODELS[Provider.WORKERS_AI]["text"],
            problem=None if (cf_token and account) else (
                "Workers AI needs a Cloudflare account ID and API token: set "
                "workers_ai.account_id and workers_ai.api_token."),
        ),
        Provider.LOCAL: AiProviderConfig(
            # Local servers ignore the key, but the SDK needs one.
            Provider.LOCAL, local_url, "sk-local-no-key-needed",
            default_text_model=str(settings.get("local_ai.model")),
            problem=None if local_url else (
                "No local model server is set: set local_ai.base_url (Ollama: "
                "http://127.0.0.1:11434/v1)."),
        ),
    }
