"""Product analytics events (GA4), only for creators who opted in (``analytics.opt_in``).

The client id is a random id made once per profile (``<data dir>/analytics-id``), never an
account id, e-mail or handle. Sending never fails the action it reports on: an event that can't
be sent is logged and dropped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mbv_desktop.config.secrets import SecretStore, setting_secret_key
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import MbvError

if TYPE_CHECKING:
    from mbv_desktop.integrations.analytics.ga4 import Ga4Client

log = logging.getLogger(__name__)
ID_FILE = "analytics-id"


class AnalyticsService:
    def __init__(self, settings: Settings, secrets: SecretStore, data_dir: Path) -> None:
        self._settings = settings
        self._secrets = secrets
        self._id_path = data_dir / ID_FILE
        self._client: Ga4Client | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._settings.get("analytics.opt_in")) and bool(
            self._settings.get("ga4.measurement_id"))

    def client_id(self) -> str:
        """This profile's pseudonymous id, made on first use."""
        try:
            value = self._id_path.read_text(encoding="ascii").strip()
            if value:
                return value
        except (OSError, UnicodeDecodeError):
            pass
        value = str(uuid.uuid4())
        self._id_path.write_text(value, encoding="ascii")
        return value

    async def track(self, name: str, params: Mapping[str, Any] | None = None) -> bool:
        """Sends one event if the creator opted in; returns whether it was sent."""
        if not self.enabled:
            return False
        try:
            client = await self._ga4()
            await client.send(self.client_id(), [(name, dict(params or {}))])
        except (MbvError, OSError) as exc:
            log.info("analytics: the %s event was not sent: %s", name, exc)
            return False
        return True

    async def _ga4(self) -> Ga4Client:
        if self._client is None:
            from mbv_desktop.integrations.analytics.ga4 import Ga4Client

            secret = str(self._settings.get("ga4.api_secret") or "") or (
                await self._secrets.get(setting_secret_key("ga4.api_secret")) or "")
            self._client = Ga4Client(str(self._settings.get("ga4.endpoint")),
                                     str(self._settings.get("ga4.measurement_id")), secret)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
