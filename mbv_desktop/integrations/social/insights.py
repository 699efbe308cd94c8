"""What every platform's metrics client (X, Instagram, TikTok) offers metrics collection.

Reading metrics is idempotent, so the shared http policy may retry it. Clients translate the
platform's names into :data:`mbv_desktop.core.analytics.METRICS` and leave out what the
platform did not give (the account's tier, the post type, "not enough viewers yet").

Errors, as every client raises them:

- ``RateLimited`` (with ``retry_after`` when the platform says): collection waits, no gap is
  recorded as zeros;
- ``AuthExpired``: the token was refused (the caller refreshes once);
- :class:`InsightsNotAllowed`: the account did not grant the permission metrics need;
- ``ProviderUnavailable`` / ``Rejected``: as for every provider.

A post removed from the platform is not an error: it comes back with ``deleted=True``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mbv_desktop.core.errors import Rejected


@dataclass(frozen=True)
class PostStats:
    """One post's figures now: ``values`` by the app's metric names; ``deleted`` when the post
    is gone from the platform; ``note`` says why figures are missing when the platform said."""

    post_id: str
    values: Mapping[str, float] = field(default_factory=dict)
    deleted: bool = False
    note: str = ""
    #: ``False`` when "deleted" only means "not found" and the platform can't tell a removed
    #: post from one hidden for a while (TikTok): the collector then asks once more first.
    certain: bool = True


class InsightsNotAllowed(Rejected):
    """The account did not grant the permission (scope) reading metrics needs."""


class InsightsReader(Protocol):
    platform: str
    #: The most post ids one ``post_stats`` call takes.
    max_batch: int

    async def post_stats(self, account_id: str, token: str,
                         post_ids: Sequence[str]) -> list[PostStats]:
        """Figures for each of ``post_ids`` (at most ``max_batch``), one entry per id asked."""
        ...

    async def account_stats(self, account_id: str, token: str) -> Mapping[str, float]:
        """Account-wide figures (``followers`` and whatever else the platform gives)."""
        ...

    async def aclose(self) -> None: ...
