"""Posting emulators: X API v2 posts and media upload, Instagram Graph content publishing and
TikTok Content Posting, served by the same Starlette apps as the sign-in emulators (the app's
``x.api_base``, ``facebook.graph_base`` and ``tiktok.api_base`` are those emulators' bases)::

    http://127.0.0.1:PORT/x          /2/media/upload[/initialize|/{id}/append|/{id}/finalize],
                                     /2/tweets[/{id}], /2/users/{id}/tweets   (x_api)
    http://127.0.0.1:PORT/facebook   /v21.0/{ig-user-id}/media, /media_publish,
                                     /content_publishing_limit, /stories,
                                     /v21.0/{container-or-media-id}           (instagram_api)
    http://127.0.0.1:PORT/tiktok     /v2/post/publish/creator_info/query/, /video/init/,
                                     /inbox/video/init/, /status/fetch/, PUT /video/?…
                                                                               (tiktok_api)

Each module's ``routes(core, …)`` returns the routes its sign-in emulator mounts; every
endpoint checks the access token against the sign-in store (so expiry and revocation, and the
app's refresh path, behave as on the real API) and answers errors in its provider's format.

Sandbox-only endpoints, under each of the three bases:

``GET {base}/_posts[?account=<id or username>&all=true]``
    What was published, oldest first: ``{"data": [...], "meta": {"count": n}}`` (the item
    shape is in each module's notes). ``all=true`` adds deleted posts (X), containers
    (Instagram, under ``"containers"``) or unfinished and failed attempts (TikTok).
``DELETE {base}/_posts``
    Forgets that provider's posts, uploads and containers (``{"removed": n}``).
``GET|POST {base}/_social_settings``
    Read or change the emulator's tunables with a JSON object (``{"reset": true}`` restores
    the defaults; unknown names or bad values: 400 and nothing changes). The answer is every
    tunable plus ``now``, the emulator's clock (the sign-in emulator's, which
    ``POST {base}/_settings {"advance": s}`` moves: processing and expiry follow it).
    X: ``processing_delay``, ``post_limit``, ``post_window``, ``duplicate_window``,
    ``fail_next_media``, ``media_error``, ``media_error_message``. Instagram: ``image_delay``,
    ``video_delay``, ``quota_total``, ``quota_duration``, ``container_ttl``,
    ``fail_next_containers``, ``container_error_subcode``. TikTok: ``processing_delay``,
    ``moderation_delay``, ``min_chunk_size``, ``max_chunk_size``, ``init_limit``,
    ``status_limit``, ``rate_window``, ``upload_ttl``, ``fail_next_publishes``,
    ``fail_reason``. Processing delays are 0 when the host streams without delay (tests) and a
    few seconds when the sandbox runs for a person.

Posts, uploads and containers live in ``social.sqlite3`` in the sandbox state directory
(:mod:`.store`); tunables, rate-limit windows and "fail the next N" counters are in memory.
"""

from __future__ import annotations

from mbv_desktop.sandbox.social.store import FILE_NAME, SocialStore

__all__ = ["FILE_NAME", "SocialStore"]
