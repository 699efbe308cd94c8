"""How a sandbox post's audience grows: the same plausible, repeatable figures for every emulator.

A post's figures depend only on its id, when it was posted and how long ago that was, so the X,
Instagram and TikTok emulators (and several processes) agree without storing any counter:

- its potential audience is drawn from its id (a few hundred to tens of thousands of views),
  larger for posts made at the hours people scroll (mornings and evenings, UTC);
- views approach that audience along ``1 - exp(-t / 6 h)`` and keep a slow tail afterwards, so
  figures grow fast just after posting and level off, and never go down;
- each kind of engagement is a share of views drawn from the id (likes 2–8 %, and so on).

``time_scale`` makes sandbox time run faster (60: one real minute is an hour of audience), so
charts fill up in a demo; the tests set it as they need.
"""

from __future__ import annotations

import hashlib
import math
import time

#: Views grow with this time constant (seconds of post age).
TAU_S = 6 * 3600.0
#: Hours of the day (UTC) at which posts reach more people, with their boost.
_HOUR_BOOST = {7: 1.3, 8: 1.5, 9: 1.6, 12: 1.3, 17: 1.4, 18: 1.7, 19: 1.9, 20: 1.8, 21: 1.4}
#: (metric, lowest share of views, highest share of views)
_RATES = (
    ("likes", 0.02, 0.08),
    ("comments", 0.002, 0.008),
    ("shares", 0.001, 0.006),
    ("saves", 0.002, 0.01),
    ("reposts", 0.002, 0.01),
    ("quotes", 0.0005, 0.002),
    ("bookmarks", 0.001, 0.006),
)


def _unit(post_id: str, salt: str) -> float:
    """A number in [0, 1) drawn from the post id (the same every time)."""
    digest = hashlib.sha256(f"{salt}:{post_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def audience(post_id: str, created_at: float) -> float:
    """The views a post gets in its first day or so, before the slow tail."""
    base = 300.0 * math.exp(_unit(post_id, "audience") * 4.0)  # 300 … ~16,000
    hour = time.gmtime(created_at).tm_hour
    return base * _HOUR_BOOST.get(hour, 1.0)


def figures(post_id: str, created_at: float, now: float | None = None, *,
            time_scale: float = 1.0) -> dict[str, int]:
    """The post's figures at ``now`` (default: the current time): ``views``, ``reach`` and each
    engagement metric, as whole numbers that never go down as ``now`` grows."""
    at = time.time() if now is None else now
    age = max(0.0, (at - created_at) * time_scale)
    reach_share = 1.0 - math.exp(-age / TAU_S)
    tail = math.log1p(age / 86400.0) * 0.08  # a little more every day after
    views = audience(post_id, created_at) * (reach_share + tail)
    out = {"views": int(views), "reach": int(views * (0.65 + 0.25 * _unit(post_id, "reach")))}
    for name, low, high in _RATES:
        rate = low + (high - low) * _unit(post_id, name)
        out[name] = int(views * rate)
    return out
