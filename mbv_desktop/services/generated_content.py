"""A record of each AI-made picture next to it in the bucket: ``generated/{account}/{sha}.json``.

The picture itself is an ordinary library asset (``{account}/{sha256}.{ext}``, uploaded by the
outbox); this small JSON document says how it was made (prompt, provider, model, when), so
another machine, or a later web view, can show it without this profile's database. The content
id is the picture's SHA-256, so writing the record again is harmless; it is written with
``If-None-Match: *`` and only once the picture itself is in the bucket.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    import sqlite3

    from mbv_desktop.integrations.storage import R2Client

log = logging.getLogger(__name__)


def generated_key(account: str, content_id: str) -> str:
    return f"generated/{account}/{content_id}.json"


async def publish_generated(worker: StoreWorker, client: R2Client, account: str) -> int:
    """Writes the record of every uploaded AI picture that has none yet; returns how many."""
    from mbv_desktop.integrations.storage import PreconditionFailed

    prefix = f"generated/{account}/"
    existing = set(await asyncio.to_thread(client.list_keys, prefix))

    def rows(c: sqlite3.Connection) -> list[tuple[str, str, str, str | None, str, str | None,
                                                  str | None, int | None, int | None]]:
        return c.execute(
            "SELECT a.sha256, a.ext, a.mime, a.prompt, a.created_at, r.provider, r.model,"
            " a.width, a.height FROM assets a JOIN uploads u ON u.asset_id = a.id"
            " LEFT JOIN ai_runs r ON r.id = a.ai_run_id"
            " WHERE a.source = 'generated' AND u.state = 'done'").fetchall()

    written = 0
    for sha, ext, mime, prompt, created, provider, model, width, height in \
            await worker.call(rows, write=False):
        key = generated_key(account, sha)
        if key in existing:
            continue
        document = {"contentId": sha, "kind": "image", "object": f"{account}/{sha}.{ext}",
                    "mime": mime, "width": width, "height": height, "prompt": prompt or "",
                    "provider": provider, "model": model, "createdAt": created,
                    "userId": account}
        body = json.dumps(document, sort_keys=True, ensure_ascii=False).encode("utf-8")
        try:
            await asyncio.to_thread(client.put_small, key, body,
                                    content_type="application/json", if_none_match=True)
        except PreconditionFailed:  # another machine wrote it first: same content id, same facts
            continue
        written += 1
    return written
