"""Settings as ``config show`` and the settings dialog present them: every key with its masked
value and where it came from, secrets looked up in the OS keyring."""

from __future__ import annotations

from dataclasses import dataclass

from mbv_desktop.config.secrets import SecretStore, setting_secret_key
from mbv_desktop.config.settings import EffectiveSetting, Settings, spec_for
from mbv_desktop.core.errors import InvalidInput, KeyringUnavailable, MbvError


@dataclass(frozen=True)
class SettingRow:
    key: str
    env: str
    display_value: str
    source: str
    secret: bool


async def effective_settings(settings: Settings, secrets: SecretStore) -> list[SettingRow]:
    rows = []
    for item in settings.effective():
        if item.spec.secret and item.source == "default":
            stored = await secrets.get(setting_secret_key(item.spec.key))
            if stored:
                item = EffectiveSetting(item.spec, stored, "keyring")
        rows.append(SettingRow(item.spec.key, item.spec.env, item.display_value(), item.source,
                               item.spec.secret))
    return rows


async def secret_setting(settings: Settings, secrets: SecretStore, key: str) -> str:
    """A secret setting's value: from the command line, environment or settings file when set
    there, else from the OS keyring; "" when it is nowhere or the keyring cannot be read."""
    value = settings.get_str(key)
    if value:
        return value
    try:
        return await secrets.get(setting_secret_key(key)) or ""
    except MbvError:
        return ""


async def store_secret_setting(secrets: SecretStore, key: str, value: str) -> None:
    """Saves a secret setting in the OS keyring; refuses to keep it for this session only,
    since a command-line process ends right away and the person would lose it silently."""
    spec = spec_for(key)
    if not spec.secret:
        raise InvalidInput(f"{key} is not a secret; use 'config set {key} VALUE'.")
    if not value:
        raise InvalidInput(f"No value was given for {key}.")
    mode = await secrets.probe()
    if mode == "session-only":
        raise KeyringUnavailable(
            f"There is no OS keyring on this machine, so {key} cannot be stored. Set "
            f"{spec.env} in the environment instead, or allow plain-text storage with "
            "'mbv-desktop config set secrets.allow_plaintext true'."
        )
    await secrets.set(setting_secret_key(key), value)
