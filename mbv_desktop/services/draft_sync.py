"""Draft sync through Cloudflare R2: one JSON object per draft, merged three ways, written only
with conditional requests.

Every draft is an object ``{account}/drafts/{uid}.json`` holding its document
(:mod:`mbv_desktop.store.sync_state`). For each draft this profile keeps the document it and the
bucket last agreed on (the *base*) with the ETag the bucket had for it then. A sync lists the
bucket (one request per 1,000 drafts), compares every local draft with its base and every ETag
with the base's, and does work only for the drafts where something differs:

* only here (never synced): upload with ``If-None-Match: *``;
* changed here, unchanged in the bucket (same ETag as the base): upload with ``If-Match`` that ETag;
* changed in the bucket: GET it, merge (:func:`~mbv_desktop.services.draft_merge.merge_drafts`)
  base, local and remote; write the result here and, if the bucket lacks some of it, upload it
  with ``If-Match`` the ETag just read;
* overlapping edits (a conflict): the draft takes the bucket's version, so every profile settles
  on the same one, and this profile's version becomes a new draft tagged ``conflict`` (uploaded in
  the same run): visible in the list, nothing lost;
* only in the bucket: created here;
* gone from the bucket but synced before (the bucket was emptied): uploaded again with
  ``If-None-Match: *``.

A 412 means another profile wrote in between: the object is read again and merged again (up to
three times per run), never overwritten blindly. A local write happens only if the draft is still
what was read before the network calls (an autosave during the sync is never overwritten; the
draft is simply merged again). No database transaction is held across a network call.

Deletions travel as documents with ``deleted_at`` set (tombstones); a deleted draft that was
edited elsewhere comes back. Media attachments are named by content (``<sha256>.<ext>``); a draft
whose media this profile can't get yet (``fetch_asset`` returns None) is skipped this run and
reported, never saved without its attachments.

Per-draft problems (a damaged object in the bucket, missing media, a draft that kept changing)
are counted in the report, each with a sentence, and the rest goes on. Problems with the bucket
itself (wrong credentials, no network, no such bucket) stop the run and are raised after the
drafts in flight finish; whatever was done stays done and the next run goes on from there.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mbv_desktop.core.drafts import MAX_TAGS, normalize_tags, title_of
from mbv_desktop.core.errors import InvalidInput, MbvError, NotFound, ProviderError
from mbv_desktop.integrations.storage import PreconditionFailed
from mbv_desktop.services.draft_merge import Doc, document_from_bytes, merge_drafts
from mbv_desktop.services.events import DraftChange
from mbv_desktop.store import sync_state as st
from mbv_desktop.store.drafts import new_uid
from mbv_desktop.store.worker import StoreWorker

if TYPE_CHECKING:
    from mbv_desktop.integrations.storage import R2Client

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
CONFLICT_TAG = "conflict"
MAX_ATTEMPTS = 3
CHUNK = 500
# A draft holds at most 200,000 characters: even all escaped, its document is far below this.
MAX_DOC_BYTES = 4 * 2**20

FetchAsset = Callable[[str, str], Awaitable[int | None]]
"""``fetch_asset(sha256, ext)``: the local asset id for that media file, downloading it first if
needed, or None when it can't be had now."""
Notify = Callable[[DraftChange, tuple[int, ...]], None]
"""``notify(kind, draft_ids)``: drafts the sync created, changed or deleted here."""


@dataclass
class DraftSyncReport:
    """What one sync did, counted per draft."""

    uploaded: int = 0  # sent to the bucket (new here, changed here, conflict copies)
    downloaded: int = 0  # created or changed here from the bucket
    merged: int = 0  # changed on both sides and merged
    conflicts: int = 0  # overlapping edits kept as a conflict copy
    deleted: int = 0  # deleted here because they were deleted elsewhere
    failed: int = 0  # skipped this run; see ``errors``
    errors: list[str] = field(default_factory=list)  # one sentence per failed draft

    def fail(self, sentence: str) -> None:
        self.failed += 1
        self.errors.append(sentence)

    @property
    def changed_anything(self) -> bool:
        return any((self.uploaded, self.downloaded, self.merged, self.conflicts, self.deleted))

    def to_json(self) -> dict[str, object]:
        return {
            "uploaded": self.uploaded, "downloaded": self.downloaded, "merged": self.merged,
            "conflicts": self.conflicts, "deleted": self.deleted, "failed": self.failed,
            "errors": list(self.errors),
        }

    def summary(self) -> str:
        """One line for a status bar or the command line."""
        parts = [f"{self.uploaded} sent", f"{self.downloaded} received", f"{self.merged} merged"]
        if self.conflicts:
            parts.append(f"{self.conflicts} conflicting edit{'s' if self.conflicts != 1 else ''}"
                         " kept as a copy tagged 'conflict'")
        if self.deleted:
            parts.append(f"{self.deleted} deleted")
        if self.failed:
            parts.append(f"{self.failed} not synced")
        return "Drafts: " + ", ".join(parts) + "."


def draft_key(account: str, uid: str) -> str:
    """``{account}/drafts/{uid}.json``, the uid percent-encoded (an imported uid may hold any
    printable character)."""
    return f"{account}/drafts/{urllib.parse.quote(uid, safe='')}.json"


def uid_from_name(name: str) -> str | None:
    """The uid an object name (the part after ``drafts/``) stands for, or None if it is not one
    :func:`draft_key` makes."""
    if "/" in name or not name.endswith(".json"):
        return None
    uid = urllib.parse.unquote(name[:-5])
    if not 1 <= len(uid) <= 64 or not uid.isprintable() or urllib.parse.quote(
            uid, safe="") != name[:-5]:
        return None
    return uid


@dataclass(frozen=True)
class _Retry:
    etag: str | None  # the bucket's ETag for the draft now (None: no object)


@dataclass(frozen=True)
class _Skip:
    sentence: str


class DraftSync:
    """Syncs this profile's drafts with ``{account}/drafts/`` in the bucket; see the module notes.

    ``r2_client`` is a blocking :class:`~mbv_desktop.integrations.storage.R2Client`; its calls run
    in worker threads. ``concurrency`` drafts are worked on at a time.
    """

    def __init__(self, worker: StoreWorker, r2_client: R2Client, account: str, *,
                 fetch_asset: FetchAsset | None = None, notify: Notify | None = None,
                 concurrency: int = 8) -> None:
        self._worker = worker
        self._r2 = r2_client
        self.account = account
        self.prefix = f"{account}/drafts/"
        self._fetch_asset = fetch_asset or self._local_asset
        self._notify = notify
        self._concurrency = max(1, concurrency)

    # --- the run ---------------------------------------------------------------------------

    async def sync(self) -> DraftSyncReport:
        """One full sync. Raises the provider's error (AuthExpired, ProviderUnavailable,
        Rejected, NotConfigured) when the bucket can't be used; see the module notes."""
        report = DraftSyncReport()
        listing = await asyncio.to_thread(self._r2.list_objects, self.prefix)
        remote: dict[str, str] = {}
        skipped: set[str] = set()
        for info in listing:
            name = info.key[len(self.prefix):]
            if "/" in name or not name.endswith(".json"):
                continue  # not a draft: another version's or another tool's file
            uid = uid_from_name(name)
            if uid is None:
                report.fail(f"The file '{info.key}' in the bucket is not named like a synced "
                            "draft, so it was left as it is.")
                continue
            if info.size > MAX_DOC_BYTES:
                report.fail(f"The file '{info.key}' in the bucket is too large to be a draft "
                            f"({info.size:,} bytes), so it was left as it is and nothing changed "
                            "on this computer.")
                skipped.add(uid)
            remote[uid] = info.etag

        known = await self._worker.call(
            lambda c: set(st.local_uids(c)) | set(st.base_uids(c)), write=False)
        todo: list[str] = []
        everything = sorted(known | remote.keys())
        for start in range(0, len(everything), CHUNK):
            chunk = everything[start:start + CHUNK]
            docs, bases = await self._worker.call(_reader(chunk), write=False)
            todo.extend(uid for uid in chunk if uid not in skipped
                        and _needs_work(docs.get(uid), bases.get(uid), remote.get(uid)))
        if todo:
            await self._run_all(todo, remote, report)
        log.info("draft sync: %s", report.summary())
        return report

    async def _run_all(self, todo: Sequence[str], remote: dict[str, str],
                       report: DraftSyncReport) -> None:
        queue: Iterator[str] = iter(todo)
        stop: list[BaseException] = []

        async def worker() -> None:
            for uid in queue:
                if stop:
                    return
                try:
                    await self._sync_uid(uid, remote.get(uid), report)
                except ProviderError as exc:  # the bucket itself: stop starting new drafts
                    stop.append(exc)
                    return
                except MbvError as exc:
                    report.fail(f"The draft {uid} was not synced: {exc}")
                except Exception as exc:
                    stop.append(exc)
                    return

        await asyncio.gather(*(worker() for _ in range(min(self._concurrency, len(todo)))))
        if stop:
            raise stop[0]

    # --- one draft -------------------------------------------------------------------------

    async def _sync_uid(self, uid: str, etag: str | None, report: DraftSyncReport) -> None:
        title = ""
        for _ in range(MAX_ATTEMPTS):
            current, base = await self._worker.call(
                lambda c: (st.read_document(c, uid), st.read_base(c, uid)), write=False)
            local = _effective_local(current, base)
            title = title_of(local["body"]) if local is not None else title
            outcome = await self._step(uid, current, local, base, etag, report)
            if outcome is None:
                return
            if isinstance(outcome, _Skip):
                report.fail(outcome.sentence)
                return
            etag = outcome.etag
        report.fail(f"The draft '{title or uid}' was not synced: it kept changing while it was "
                    "being synced; it will be tried again at the next sync.")

    async def _step(self, uid: str, current: Doc | None, local: Doc | None, base: st.Base | None,
                    etag: str | None, report: DraftSyncReport) -> _Retry | _Skip | None:
        key = draft_key(self.account, uid)
        if etag is None:
            # No object in the bucket: never synced, or the bucket lost it.
            if local is None or (base is None and local["deleted_at"] is not None):
                if base is not None:
                    await self._worker.call(lambda c: st.drop_base(c, uid))
                return None
            return await self._upload(key, local, None, report)
        if base is not None and etag == base.etag:
            # The bucket still has what we agreed on: send our change, if any.
            if local is None or local == base.doc:
                return None
            return await self._upload(key, local, etag, report)
        return await self._merge_remote(key, uid, current, local, base, report)

    async def _upload(self, key: str, doc: Doc, if_match: str | None,
                      report: DraftSyncReport) -> _Retry | None:
        try:
            new_etag = await self._put(key, doc, if_match)
        except PreconditionFailed:
            return _Retry(await self._head_etag(key))
        await self._worker.call(lambda c: st.save_base(c, doc["uid"], doc, new_etag))
        report.uploaded += 1
        return None

    async def _merge_remote(self, key: str, uid: str, current: Doc | None, local: Doc | None,
                            base: st.Base | None,
                            report: DraftSyncReport) -> _Retry | _Skip | None:
        try:
            raw, got_etag = await asyncio.to_thread(self._r2.get_object, key)
        except NotFound:
            return _Retry(None)
        try:
            remote = document_from_bytes(raw, uid=uid)
        except InvalidInput as exc:
            return _Skip(f"The draft file '{key}' in the bucket could not be read ({exc}); it "
                         "was left as it is and nothing changed on this computer.")

        if local is None:  # only in the bucket
            return await self._take(remote, None, got_etag, report, save_base=True)

        # In a thread: a long draft edited at both ends can take a while to merge.
        result = await asyncio.to_thread(
            merge_drafts, base.doc if base is not None else None, local, remote)
        if result.conflicts:
            return await self._keep_conflict(key, uid, current, local, remote, got_etag,
                                             result.conflicts, report)
        merged = result.merged
        if merged != remote:
            # Save it here first (guarded), then in the bucket: if the PUT loses a race, the next
            # attempt merges the bucket's newer version into what is here now, losing nothing.
            outcome = await self._take(merged, current, got_etag, report, save_base=False)
            if outcome is not None:
                return outcome
            try:
                new_etag = await self._put(key, merged, got_etag)
            except PreconditionFailed:
                return _Retry(await self._head_etag(key))
            await self._worker.call(lambda c: st.save_base(c, uid, merged, new_etag))
            if current is not None and merged != current:
                report.merged += 1
            else:
                report.uploaded += 1
            return None
        # The bucket already has everything: take it here and agree on it.
        return await self._take(merged, current, got_etag, report, save_base=True)

    async def _take(self, doc: Doc, expected: Doc | None, etag: str, report: DraftSyncReport,
                    *, save_base: bool) -> _Retry | _Skip | None:
        """Writes ``doc`` here if the draft is still ``expected``, and with ``save_base`` records
        ``doc`` and ``etag`` (the bucket's) as agreed, in the same transaction. None when done;
        with ``save_base`` the change here is counted (received or deleted)."""
        if expected == doc and not save_base:
            return None
        media = await self._media_ids(doc)
        if isinstance(media, _Skip):
            return media

        def write(c: sqlite3.Connection) -> st.Applied | None:
            applied = st.apply_document(c, doc, media, expected=expected)
            if applied is not None and save_base:
                st.save_base(c, doc["uid"], doc, etag)
            return applied

        applied = await self._worker.call(write)
        if applied is None:  # edited here meanwhile: read it again and merge again
            return _Retry(etag)
        self._changed(applied)
        if save_base and applied.change:
            if applied.change == "deleted":
                report.deleted += 1
            else:
                report.downloaded += 1
        return None

    async def _keep_conflict(self, key: str, uid: str, current: Doc | None, local: Doc,
                             remote: Doc, got_etag: str, fields: tuple[str, ...],
                             report: DraftSyncReport) -> _Retry | _Skip | None:
        copy = _conflict_copy(local)
        remote_media = await self._media_ids(remote)
        if isinstance(remote_media, _Skip):
            return remote_media
        copy_media = await self._media_ids(copy)
        if isinstance(copy_media, _Skip):
            return copy_media

        def write(c: sqlite3.Connection) -> tuple[st.Applied, int] | None:
            applied = st.apply_document(c, remote, remote_media, expected=current)
            if applied is None:
                return None
            copy_id = st.insert_document(c, copy, copy_media)
            st.save_base(c, uid, remote, got_etag)
            return applied, copy_id

        done = await self._worker.call(write)
        if done is None:
            return _Retry(got_etag)
        applied, copy_id = done
        log.info("draft sync: %s of draft %s changed on two computers; this computer's version "
                 "is kept as draft %s", ", ".join(fields), uid, copy["uid"])
        report.conflicts += 1
        self._changed(applied)
        if copy["deleted_at"] is None:
            self._emit(DraftChange.CREATED, (copy_id,))
            # Sent now, so the other computers get it in their next sync.
            outcome = await self._upload(draft_key(self.account, copy["uid"]), copy, None,
                                         report)
            if outcome is not None:
                report.fail(f"The conflict copy of the draft '{title_of(copy['body'])}' was kept "
                            "on this computer but not sent yet; it will be at the next sync.")
        return None

    # --- helpers ---------------------------------------------------------------------------

    async def _put(self, key: str, doc: Doc, if_match: str | None) -> str:
        body = st.encode(doc)
        if if_match is None:
            return await asyncio.to_thread(self._r2.put_small, key, body,
                                           content_type=CONTENT_TYPE, if_none_match=True)
        return await asyncio.to_thread(self._r2.put_small, key, body,
                                       content_type=CONTENT_TYPE, if_match=if_match)

    async def _head_etag(self, key: str) -> str | None:
        info = await asyncio.to_thread(self._r2.head, key)
        return None if info is None else info.etag

    async def _media_ids(self, doc: Doc) -> list[int] | _Skip:
        ids: list[int] = []
        for name in doc["media"]:
            sha, _, ext = name.partition(".")
            asset = await self._fetch_asset(sha, ext)
            if asset is None:
                return _Skip(f"The draft '{title_of(doc['body'])}' was not synced this time: its "
                             f"media file {name} is not on this computer yet; it will be tried "
                             "again at the next sync.")
            ids.append(asset)
        return ids

    async def _local_asset(self, sha256: str, ext: str) -> int | None:
        return await self._worker.call(lambda c: st.asset_id(c, sha256, ext), write=False)

    def _changed(self, applied: st.Applied) -> None:
        if applied.change and applied.draft_id is not None:
            self._emit(DraftChange(applied.change), (applied.draft_id,))

    def _emit(self, kind: DraftChange, ids: tuple[int, ...]) -> None:
        if self._notify is not None:
            self._notify(kind, ids)


def _reader(uids: Sequence[str]) -> Callable[
        [sqlite3.Connection], tuple[dict[str, Doc], dict[str, st.Base]]]:
    def read(c: sqlite3.Connection) -> tuple[dict[str, Doc], dict[str, st.Base]]:
        return st.read_documents(c, uids), st.read_bases(c, uids)

    return read


def _needs_work(doc: Doc | None, base: st.Base | None, etag: str | None) -> bool:
    if base is None:
        if etag is not None:
            return True
        return doc is not None and doc["deleted_at"] is None
    if etag != base.etag:
        return True
    if doc is None:
        return base.doc["deleted_at"] is None
    return doc != base.doc


def _effective_local(current: Doc | None, base: st.Base | None) -> Doc | None:
    """This profile's version: the draft, or for a draft removed for good since the last sync
    (purged from the trash), the base marked deleted."""
    if current is not None:
        return current
    if base is None:
        return None
    if base.doc["deleted_at"] is not None:
        return base.doc
    return dict(base.doc, deleted_at=st.now_iso())


def _conflict_copy(local: Doc) -> Doc:
    tags = [t for t in local["tags"] if t != CONFLICT_TAG][:MAX_TAGS - 1]
    now = st.now_iso()
    return dict(local, uid=new_uid(), tags=list(normalize_tags([*tags, CONFLICT_TAG])),
                created_at=now, updated_at=now)
