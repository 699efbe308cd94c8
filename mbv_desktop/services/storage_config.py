"""Where media and drafts are backed up: the R2 settings, the secret from the keyring, and the
creator's folder in the bucket.

``sync.account`` names the folder (``{account}/…``); two profiles with the same bucket and account
share their drafts and media. Until sign-in exists it is a setting; it must be a valid key part.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mbv_desktop.config.secrets import SecretStore, setting_secret_key
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import InvalidInput, MbvError

if TYPE_CHECKING:
    from mbv_desktop.integrations.storage import R2Config

_ACCOUNT = re.compile(r"^[a-z0-9_-]{1,64}$")
R2_SETTINGS = ("r2.endpoint_url", "r2.bucket", "r2.access_key_id", "r2.secret_access_key")


def sync_account(settings: Settings) -> str:
    """The creator's folder in the bucket, or InvalidInput naming the setting."""
    account = str(settings.get("sync.account") or "").strip()
    if not _ACCOUNT.match(account):
        raise InvalidInput("The setting sync.account may only use lowercase letters, digits, '-' "
                           "and '_' (at most 64), because it names a folder in the bucket.")
    return account


def r2_configured(settings: Settings) -> bool:
    """Whether the non-secret R2 settings are filled in (the secret is checked on first use)."""
    return all(str(settings.get(name) or "") for name in R2_SETTINGS[:3])


async def load_r2_config(settings: Settings, secrets: SecretStore) -> R2Config | None:
    """The R2 connection settings, the secret from the setting or else the keyring; ``None``
    while R2 is not set up."""
    from mbv_desktop.integrations.storage import R2Config

    if not r2_configured(settings):
        return None
    secret = str(settings.get("r2.secret_access_key") or "")
    if not secret:
        try:
            secret = await secrets.get(setting_secret_key("r2.secret_access_key")) or ""
        except MbvError:
            secret = ""
    return R2Config(
        endpoint_url=str(settings.get("r2.endpoint_url")),
        bucket=str(settings.get("r2.bucket")),
        access_key_id=str(settings.get("r2.access_key_id")),
        secret_access_key=secret,
    )
