"""Draft sync between two profiles (two data dirs) through a real S3 server on loopback.

What a creator with two computers notices: drafts written on either show up on both; edits of
one draft on both computers are merged, or, when they overlap, both versions stay visible (one as
a copy tagged "conflict"); deletions travel, but never over an edit; a third computer writing at
the same moment, a damaged file in the bucket or an edit typed during the sync never loses
anything; and a sync with nothing new sends nothing.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.helpers import run
from support.s3 import r2_env, s3, s3_server  # noqa: F401 - fixtures

from mbv_desktop.config.paths import database_path
from mbv_desktop.core.drafts import DraftQuery, DraftRecord, DraftState
from mbv_desktop.core.errors import AuthExpired
from mbv_desktop.core.platforms import Platform
from mbv_desktop.integrations.storage import R2Client, R2Config
from mbv_desktop.sandbox.s3 import BUCKET, SandboxS3
from mbv_desktop.services.container import Services, open_services
from mbv_desktop.services.draft_sync import MAX_DOC_BYTES, DraftSync, DraftSyncReport, draft_key
from mbv_desktop.services.events import DraftChange
from mbv_desktop.services.storage_config import load_r2_config, sync_account
from mbv_desktop.store.drafts import DraftRepository

ACCOUNT = "creator-1"
PREFIX = f"{ACCOUNT}/drafts/"


@dataclass
class Profile:
    """One computer: its services, its draft sync and what the sync told the UI."""

    services: Services
    client: R2Client
    sync: DraftSync
    changes: list[tuple[DraftChange, tuple[int, ...]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    hooks: list[tuple[str, Callable[..., None]]] = field(default_factory=list)

    def on(self, event: str, hook: Callable[..., None]) -> None:
        """A botocore event hook on this computer's client, for this test only."""
        self.client.s3.meta.events.register(event, hook)
        self.hooks.append((event, hook))

    def close(self) -> None:
        for event, hook in self.hooks:
            self.client.s3.meta.events.unregister(event, hook)
        self.services.close()

    def run_sync(self) -> DraftSyncReport:
        self.changes.clear()
        self.requests.clear()
        return run(self.sync.sync())

    def records(self) -> list[DraftRecord]:
        """The draft list as the creator sees it (deleted drafts left out), by uid."""
        records = run(self.services.worker.call(
            lambda c: list(DraftRepository(c).iter_records()), write=False))
        return sorted(records, key=lambda r: r.uid)

    def bodies(self) -> list[str]:
        return sorted(r.body for r in self.records())

    def by_body(self, body: str) -> DraftRecord:
        (found,) = [r for r in self.records() if r.body == body]
        return found

    def create(self, body: str, **kwargs: Any) -> int:
        return run(self.services.drafting.create(body, **kwargs)).id

    def id_of(self, uid: str) -> int:
        row = run(self.services.worker.call(
            lambda c: c.execute("SELECT id FROM drafts WHERE uid = ?", (uid,)).fetchone(),
            write=False))
        return int(row[0])


# One R2 client per computer for the whole module: making a boto3 client takes ~0.1 s.
_CLIENTS: dict[tuple[str, R2Config], R2Client] = {}


def _profile(name: str, data_dir: Path, env: dict[str, str]) -> Profile:
    services = open_services(data_dir, env=env)
    config = run(load_r2_config(services.settings, services.secrets))
    assert config is not None
    client = _CLIENTS.get((name, config))
    if client is None:
        client = _CLIENTS[(name, config)] = R2Client(config)
    changes: list[tuple[DraftChange, tuple[int, ...]]] = []
    sync = DraftSync(services.worker, client, sync_account(services.settings),
                     notify=lambda kind, ids: changes.append((kind, ids)))
    profile = Profile(services, client, sync, changes)
    for op in ("PutObject", "GetObject", "HeadObject", "ListObjectsV2"):
        profile.on(f"before-call.s3.{op}", lambda op=op, **_: profile.requests.append(op))
    return profile


@pytest.fixture
def env(r2_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    return r2_env | {"MBV_SYNC_ACCOUNT": ACCOUNT}


@pytest.fixture
def a(tmp_path: Path, env: dict[str, str], s3: SandboxS3) -> Iterator[Profile]:  # noqa: F811
    profile = _profile("laptop", tmp_path / "laptop", env)
    yield profile
    profile.close()


@pytest.fixture
def b(tmp_path: Path, env: dict[str, str], s3: SandboxS3) -> Iterator[Profile]:  # noqa: F811
    profile = _profile("desktop", tmp_path / "desktop", env)
    yield profile
    profile.close()


def _object(s3: SandboxS3, uid: str) -> dict[str, Any]:  # noqa: F811
    body = _admin(s3).get_object(Bucket=BUCKET, Key=draft_key(ACCOUNT, uid))["Body"].read()
    return dict(json.loads(body))


_ADMIN: dict[str, Any] = {}


def _admin(s3: SandboxS3) -> Any:  # noqa: F811
    """A plain boto3 client (another tool, or another computer writing behind our back)."""
    if s3.endpoint_url not in _ADMIN:
        _ADMIN[s3.endpoint_url] = s3.client()
    return _ADMIN[s3.endpoint_url]


def _converge(*profiles: Profile) -> None:
    for p in (*profiles, *profiles):
        report = p.run_sync()
        assert report.failed == 0, report.errors


# --- drafts travel -------------------------------------------------------------------------------

def test_drafts_made_in_either_profile_appear_in_both(a: Profile, b: Profile,
                                                      s3: SandboxS3) -> None:  # noqa: F811
    a.create("Launch thread: what we shipped this week", tags=["launch"],
             platforms=[Platform.X, Platform.TIKTOK])
    a.create("Behind the scenes ☕ in the studio", tags=["bts", "studio"])
    b.create("Poll idea: mornings or evenings?", platforms=[Platform.INSTAGRAM])

    first = a.run_sync()
    assert (first.uploaded, first.downloaded) == (2, 0)
    second = b.run_sync()
    assert (second.uploaded, second.downloaded) == (1, 2)
    assert [kind for kind, _ in b.changes] == [DraftChange.CREATED] * 2
    third = a.run_sync()
    assert (third.uploaded, third.downloaded) == (0, 1)

    assert a.records() == b.records()  # same uids, texts, tags, platforms, states and times
    assert len(a.records()) == 3
    assert len(s3.keys(PREFIX)) == 3
    received = b.by_body("Behind the scenes ☕ in the studio")
    assert received.tags == ("bts", "studio")
    # What sync writes is searchable and filterable like anything typed here.
    found = run(b.services.drafting.search(DraftQuery(text="studio")))
    assert [s.title for s in found.first_page] == ["Behind the scenes ☕ in the studio"]
    assert ("launch", 1) in run(b.services.drafting.tags())
    stored = _object(s3, received.uid)
    assert stored["body"] == received.body and stored["schema"] == 1
    head = _admin(s3).head_object(Bucket=BUCKET, Key=draft_key(ACCOUNT, received.uid))
    assert head["ContentType"] == "application/json"


def test_a_second_sync_with_nothing_new_sends_nothing(a: Profile, b: Profile) -> None:
    for i in range(5):
        a.create(f"draft {i}")
    b.create("from the desktop")
    _converge(a, b)

    for p in (a, b):
        report = p.run_sync()
        assert not report.changed_anything and report.failed == 0
        assert p.requests == ["ListObjectsV2"]  # one listing, no GET, no PUT
        assert p.changes == []


def test_a_bucket_that_lost_the_drafts_gets_them_again(a: Profile, b: Profile,
                                                       s3: SandboxS3) -> None:  # noqa: F811
    a.create("keep me")
    _converge(a, b)
    s3.reset()  # the bucket emptied (or a new bucket with the same settings)

    report = a.run_sync()
    assert report.uploaded == 1 and a.requests.count("PutObject") == 1
    assert len(s3.keys(PREFIX)) == 1
    assert b.run_sync().changed_anything is False  # the same bytes: nothing to do
    assert b.bodies() == ["keep me"]


# --- concurrent edits ----------------------------------------------------------------------------

BASE_TEXT = "Launch day is Friday. Bring snacks and a smile."


def test_edits_of_different_words_on_two_computers_are_merged(a: Profile, b: Profile) -> None:
    draft = a.create(BASE_TEXT, tags=["launch"])
    _converge(a, b)
    uid = a.by_body(BASE_TEXT).uid

    run(a.services.drafting.update(draft, body=BASE_TEXT.replace("Friday", "Saturday"),
                                   platforms=[Platform.X]))
    b_id = b.id_of(uid)
    run(b.services.drafting.update(b_id, body=BASE_TEXT.replace("snacks", "drinks"),
                                   tags=["launch", "party"]))

    assert a.run_sync().uploaded == 1
    merged = b.run_sync()
    assert (merged.merged, merged.conflicts) == (1, 0)
    assert b.changes == [(DraftChange.UPDATED, (b_id,))]
    assert a.run_sync().downloaded == 1

    expected = "Launch day is Saturday. Bring drinks and a smile."
    for p in (a, b):
        (record,) = p.records()
        assert record.body == expected
        assert record.tags == ("launch", "party")
        assert record.platforms == (Platform.X,)
    assert a.records() == b.records()


def test_overlapping_edits_keep_both_versions_one_as_a_conflict_copy(
        a: Profile, b: Profile, s3: SandboxS3) -> None:  # noqa: F811
    draft = a.create(BASE_TEXT)
    _converge(a, b)
    uid = a.by_body(BASE_TEXT).uid
    laptop = BASE_TEXT.replace("Friday", "Saturday")
    desktop = BASE_TEXT.replace("Friday", "Sunday")
    run(a.services.drafting.update(draft, body=laptop))
    run(b.services.drafting.update(b.id_of(uid), body=desktop))

    a.run_sync()
    report = b.run_sync()
    assert report.conflicts == 1 and report.uploaded == 1  # the copy went out in the same run
    assert {kind for kind, _ in b.changes} == {DraftChange.UPDATED, DraftChange.CREATED}
    _converge(a, b)

    for p in (a, b):
        assert p.bodies() == sorted([laptop, desktop])
        assert p.by_body(laptop).uid == uid  # the first one saved keeps the draft
        copy = p.by_body(desktop)
        assert "conflict" in copy.tags and copy.uid != uid
        tagged = run(p.services.drafting.search(DraftQuery(tag="conflict")))
        assert tagged.total == 1
    assert a.records() == b.records()
    assert len(s3.keys(PREFIX)) == 2
    # Converged: more syncs make no new copies.
    _converge(a, b)
    assert len(a.records()) == 2 and len(b.records()) == 2


def test_the_same_edit_on_both_computers_is_no_conflict(a: Profile, b: Profile) -> None:
    draft = a.create(BASE_TEXT)
    _converge(a, b)
    uid = a.by_body(BASE_TEXT).uid
    run(a.services.drafting.update(draft, state=DraftState.SCHEDULED))
    run(b.services.drafting.update(b.id_of(uid), state=DraftState.SCHEDULED))
    _converge(a, b)
    for p in (a, b):
        (record,) = p.records()
        assert record.state is DraftState.SCHEDULED


# --- deletions -----------------------------------------------------------------------------------

def test_a_deletion_reaches_the_other_computer(a: Profile, b: Profile,
                                               s3: SandboxS3) -> None:  # noqa: F811
    draft = a.create("old promo")
    a.create("still wanted")
    _converge(a, b)
    uid = a.by_body("old promo").uid
    b_id = b.id_of(uid)

    run(a.services.drafting.delete([draft]))
    assert a.run_sync().uploaded == 1
    report = b.run_sync()
    assert report.deleted == 1
    assert b.changes == [(DraftChange.DELETED, (b_id,))]
    for p in (a, b):
        assert p.bodies() == ["still wanted"]
    assert _object(s3, uid)["deleted_at"] is not None  # a tombstone, so late computers learn it
    # The other computer can still undo it (it is in its trash), and the undo travels back.
    run(b.services.drafting.restore([b_id]))
    _converge(b, a)
    assert a.bodies() == b.bodies() == ["old promo", "still wanted"]


@pytest.mark.parametrize("deleting_first", [True, False])
def test_a_deletion_never_wins_over_an_edit(a: Profile, b: Profile, deleting_first: bool) -> None:
    draft = a.create(BASE_TEXT)
    _converge(a, b)
    uid = a.by_body(BASE_TEXT).uid
    edited = BASE_TEXT + " Doors open at 9."
    run(a.services.drafting.delete([draft]))
    run(b.services.drafting.update(b.id_of(uid), body=edited))

    order = (a, b) if deleting_first else (b, a)
    _converge(*order)
    for p in (a, b):
        assert p.bodies() == [edited]
        assert p.by_body(edited).uid == uid


# --- races, damage, edits during a sync ----------------------------------------------------------

def test_a_write_from_a_third_computer_between_read_and_write_is_merged_not_overwritten(
        a: Profile, b: Profile, s3: SandboxS3) -> None:  # noqa: F811
    draft = a.create(BASE_TEXT)
    _converge(a, b)
    uid = a.by_body(BASE_TEXT).uid
    key = draft_key(ACCOUNT, uid)
    run(a.services.drafting.update(draft, body=BASE_TEXT.replace("Friday", "Saturday")))
    a.run_sync()
    run(b.services.drafting.update(b.id_of(uid), body=BASE_TEXT.replace("snacks", "drinks")))

    # B reads A's version, merges, and is about to write the merge back with If-Match. Right
    # then a third computer saves its own edit of the same draft.
    other = _admin(s3)
    raced: list[str] = []

    def third_computer_writes(params: dict[str, Any], **_: Any) -> None:
        if raced or not params["url_path"].endswith(key.split("/")[-1]):
            return
        doc = _object(s3, uid)
        doc["body"] = doc["body"].replace("a smile", "a friend")
        other.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(doc).encode(),
                         ContentType="application/json")
        raced.append("third")

    b.on("before-call.s3.PutObject", third_computer_writes)
    report = b.run_sync()
    assert raced == ["third"]
    assert report.failed == 0, report.errors
    assert b.requests.count("PutObject") == 2  # refused once (412), then the new merge
    assert b.requests.count("GetObject") == 2  # read again after the refusal

    everything = "Launch day is Saturday. Bring drinks and a friend."
    assert _object(s3, uid)["body"] == everything
    _converge(a, b)
    assert a.bodies() == b.bodies() == [everything]


def test_a_damaged_file_in_the_bucket_is_reported_and_changes_nothing_here(
        a: Profile, b: Profile, s3: SandboxS3) -> None:  # noqa: F811
    draft = a.create(BASE_TEXT, tags=["launch"])
    _converge(a, b)
    uid = a.by_body(BASE_TEXT).uid
    key = draft_key(ACCOUNT, uid)
    run(a.services.drafting.update(draft, body=BASE_TEXT + " Edited offline."))
    before = a.records()
    client = _admin(s3)
    garbage = random.Random(5).randbytes(300)
    client.put_object(Bucket=BUCKET, Key=key, Body=garbage)
    newer = json.dumps({"schema": 99, "uid": "x" * 32, "body": "from the future"}).encode()
    client.put_object(Bucket=BUCKET, Key=draft_key(ACCOUNT, "x" * 32), Body=newer)
    huge = draft_key(ACCOUNT, "y" * 32)
    client.put_object(Bucket=BUCKET, Key=huge, Body=b" " * (MAX_DOC_BYTES + 1))

    report = a.run_sync()

    assert report.failed == 3
    assert a.requests.count("GetObject") == 2  # the huge one is not even read
    assert any(huge in e and "too large to be a draft" in e for e in report.errors)
    assert any(key in e and "could not be read (it is not a JSON document)" in e
               for e in report.errors), report.errors
    assert any("newer version of Must Be Viral" in e for e in report.errors), report.errors
    assert a.records() == before  # the local edit is still there, nothing was added
    assert a.changes == []
    got = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert got == garbage  # and the damaged file was not overwritten blindly
    # The other computer is told the same and keeps its copy too.
    b_before = b.records()
    assert b.run_sync().failed == 3
    assert b.records() == b_before


def test_an_edit_saved_during_the_sync_is_not_overwritten(a: Profile, b: Profile) -> None:
    draft = a.create(BASE_TEXT)
    _converge(a, b)
    uid = a.by_body(BASE_TEXT).uid
    run(a.services.drafting.update(draft, body=BASE_TEXT.replace("Friday", "Saturday")))
    a.run_sync()

    # While B downloads A's edit, B's editor autosaves another edit (another connection, as
    # the editor's own write would be).
    typed = BASE_TEXT.replace("a smile", "a friend")
    autosaved: list[bool] = []

    def autosave(**_: Any) -> None:
        if autosaved:
            return
        conn = sqlite3.connect(database_path(b.services.data_dir))
        with conn:
            conn.execute("UPDATE drafts SET body = ? WHERE uid = ?", (typed, uid))
        conn.close()
        autosaved.append(True)

    b.on("before-call.s3.GetObject", autosave)
    report = b.run_sync()
    assert autosaved and report.failed == 0, report.errors
    everything = "Launch day is Saturday. Bring snacks and a friend."
    assert b.bodies() == [everything]
    _converge(a, b)
    assert a.bodies() == [everything]


def test_a_bucket_that_refuses_the_keys_stops_the_sync_with_a_clear_sentence(
        a: Profile, s3: SandboxS3) -> None:  # noqa: F811
    a.create("written offline")
    before = a.records()
    s3.require_auth()
    with pytest.raises(AuthExpired, match=r"r2\.access_key_id"):
        a.run_sync()
    assert a.records() == before
    s3.require_auth(False)
    assert a.run_sync().uploaded == 1


# --- media ---------------------------------------------------------------------------------------

def _photo(path: Path) -> Path:
    from PIL import Image

    Image.frombytes("RGB", (8, 8), random.Random(3).randbytes(8 * 8 * 3)).save(path)
    return path


def test_a_draft_waits_for_its_media_and_then_arrives_with_it(a: Profile, b: Profile,
                                                              tmp_path: Path) -> None:
    photo = _photo(tmp_path / "shot.png")
    (added,) = run(a.services.library.add_files([photo]))
    assert added.asset is not None
    draft = a.create("Look at this")
    run(a.services.library.attach(draft, [added.asset.id]))
    assert a.run_sync().uploaded == 1

    waiting = b.run_sync()
    assert waiting.failed == 1 and waiting.downloaded == 0
    assert "media file" in waiting.errors[0] and added.asset.sha256 in waiting.errors[0]
    assert b.records() == []  # not saved without its attachment

    async def fetch(sha256: str, ext: str) -> int | None:  # what the media sync will do
        (result,) = await b.services.library.add_files([photo])
        assert result.asset is not None and (result.asset.sha256, result.asset.ext) == (
            sha256, ext)
        return result.asset.id

    b.sync = DraftSync(b.services.worker, b.client, ACCOUNT, fetch_asset=fetch)
    assert b.run_sync().downloaded == 1
    (record,) = b.records()
    attached = run(b.services.library.attached(b.id_of(record.uid)))
    assert [item.asset.sha256 for item in attached] == [added.asset.sha256]
    assert a.records() == b.records()
