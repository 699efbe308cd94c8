"""Two profiles (two data dirs, as on two machines) on one bucket converge through the whole sync
pass: media uploaded by one is brought into the other, drafts travel with their attachments,
edits on both sides merge or become a visible conflict copy, and `mbv-desktop sync --once` does
the same from the command line. Real moto S3 server on loopback, real SQLite.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.helpers import run
from support.s3 import r2_env, s3, s3_server  # noqa: F401 - fixtures

from mbv_desktop.core.drafts import DraftQuery
from mbv_desktop.core.platforms import Platform
from mbv_desktop.sandbox.s3 import SandboxS3
from mbv_desktop.services.container import Services, open_services
from tests.integration.test_cli import mbv


def _photo(path: Path, seed: int) -> Path:
    from PIL import Image

    rng = random.Random(seed)
    Image.frombytes("RGB", (80, 60), rng.randbytes(80 * 60 * 3)).save(path)
    return path


@pytest.fixture
def profiles(tmp_path: Path, r2_env: dict[str, str]) -> Iterator[tuple[Services, Services]]:  # noqa: F811
    a = open_services(tmp_path / "laptop", env=r2_env)
    b = open_services(tmp_path / "desktop", env=r2_env)
    yield a, b
    for s in (a, b):
        run(s.aclose())
        s.close()


def _bodies(s: Services) -> dict[str, tuple[str, ...]]:
    result = run(s.drafting.search(DraftQuery()))
    out = {}
    for summary in result.first_page:
        draft = run(s.drafting.get(summary.id))
        out[draft.body] = draft.tags
    return out


def _attached_shas(s: Services, body: str) -> list[str]:
    result = run(s.drafting.search(DraftQuery()))
    for summary in result.first_page:
        draft = run(s.drafting.get(summary.id))
        if draft.body == body:
            return [i.asset.sha256 for i in run(s.library.attached(draft.id))]
    raise AssertionError(f"no draft {body!r}")


def test_drafts_and_media_made_on_either_machine_appear_on_both(
        profiles: tuple[Services, Services], s3: SandboxS3, tmp_path: Path) -> None:  # noqa: F811
    laptop, desktop = profiles
    [added] = run(laptop.library.add_files([_photo(tmp_path / "beach.png", 1)]))
    assert added.asset is not None
    draft = run(laptop.drafting.create("Launch day at the beach", tags=["launch"],
                                       platforms=[Platform.INSTAGRAM]))
    run(laptop.library.attach(draft.id, [added.asset.id]))
    run(desktop.library.add_files([_photo(tmp_path / "studio.png", 2)]))
    run(desktop.drafting.create("Behind the scenes in the studio"))

    first = run(laptop.sync.sync_once())
    second = run(desktop.sync.sync_once())
    third = run(laptop.sync.sync_once())

    assert first.error is None and second.error is None and third.error is None
    assert (first.uploaded, first.drafts_uploaded) == (1, 1)
    assert second.assets_downloaded == 1 and second.drafts_downloaded == 1
    assert third.assets_downloaded == 1 and third.drafts_downloaded == 1
    for profile in (laptop, desktop):
        assert set(_bodies(profile)) == {"Launch day at the beach",
                                         "Behind the scenes in the studio"}
        assert len(run(profile.library.items())) == 2
    # The draft arrives with its photo, the same bytes, under the name it was added with.
    assert _attached_shas(desktop, "Launch day at the beach") == [added.asset.sha256]
    copy = next(i for i in run(desktop.library.items()) if i.asset.sha256 == added.asset.sha256)
    assert hashlib.sha256(copy.path.read_bytes()).hexdigest() == added.asset.sha256
    assert copy.name == "beach.png" and copy.asset.source == "synced"
    # Nothing downloaded is sent back, and a pass with no changes changes nothing.
    again = run(desktop.sync.sync_once())
    assert (again.uploaded, again.assets_downloaded, again.drafts_uploaded,
            again.drafts_downloaded) == (0, 0, 0, 0)
    assert len(s3.keys("default/")) == 2 + 2  # two photos and two draft objects


def test_concurrent_edits_merge_or_leave_a_visible_conflict_copy(
        profiles: tuple[Services, Services]) -> None:
    laptop, desktop = profiles
    text = "Morning routine: coffee, stretch, write.\nEvening: walk the dog."
    mine = run(laptop.drafting.create(text))
    run(laptop.sync.sync_once())
    run(desktop.sync.sync_once())
    theirs = next(s.id for s in run(desktop.drafting.search(DraftQuery())).first_page)
    # Different lines edited on each machine: merged, both edits kept everywhere.
    run(laptop.drafting.update(mine.id, body=text.replace("coffee", "espresso")))
    run(desktop.drafting.update(theirs, body=text.replace("walk the dog", "read a book")))
    for profile in (laptop, desktop, laptop):
        assert run(profile.sync.sync_once()).error is None
    merged = "Morning routine: espresso, stretch, write.\nEvening: read a book."
    assert set(_bodies(laptop)) == set(_bodies(desktop)) == {merged}
    # The same words changed differently on each: one version stays, the other is a copy
    # tagged "conflict" on both machines; neither text is lost.
    run(laptop.drafting.update(mine.id, body=merged.replace("espresso", "green tea")))
    run(desktop.drafting.update(theirs, body=merged.replace("espresso", "hot chocolate")))
    reports = [run(p.sync.sync_once()) for p in (laptop, desktop, laptop)]
    assert sum(r.conflicts for r in reports) == 1
    for profile in (laptop, desktop):
        bodies = _bodies(profile)
        assert set(bodies) == {merged.replace("espresso", "green tea"),
                               merged.replace("espresso", "hot chocolate")}
        assert sum("conflict" in tags for tags in bodies.values()) == 1


def test_unreachable_storage_is_reported_and_loses_nothing(tmp_path: Path) -> None:
    env = {"MBV_R2_ENDPOINT_URL": "http://127.0.0.1:9", "MBV_R2_BUCKET": "b",
           "MBV_R2_ACCESS_KEY_ID": "k", "MBV_R2_SECRET_ACCESS_KEY": "s"}
    services = open_services(tmp_path / "offline", env=env)
    try:
        run(services.drafting.create("written on the train"))
        run(services.library.add_files([_photo(tmp_path / "p.png", 3)]))
        report = run(services.sync.sync_once())
        assert report.upload_waiting == 1 and report.uploaded == 0
        assert set(_bodies(services)) == {"written on the train"}
    finally:
        run(services.aclose())
        services.close()


def test_sync_once_from_the_command_line(tmp_path: Path, r2_env: dict[str, str],  # noqa: F811
                                         s3: SandboxS3) -> None:  # noqa: F811
    first, second = tmp_path / "one", tmp_path / "two"
    assert mbv("drafts", "add", "Made on machine one", data_dir=first,
               env=r2_env).returncode == 0
    photo = _photo(tmp_path / "cover.png", 4)
    assert mbv("media", "add", str(photo), data_dir=first, env=r2_env).returncode == 0
    r = mbv("sync", "--once", "--json", data_dir=first, env=r2_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["uploaded"] == 1
    r = mbv("sync", "--once", data_dir=second, env=r2_env)
    assert r.returncode == 0, r.stderr
    assert "1 received" in r.stdout and "1 brought in" in r.stdout
    listed = mbv("drafts", "list", data_dir=second, env=r2_env)
    assert "Made on machine one" in listed.stdout
    not_set_up = mbv("sync", "--once", data_dir=tmp_path / "three")
    assert not_set_up.returncode == 1 and "r2.endpoint_url" in not_set_up.stderr


def test_the_sandbox_serves_r2_and_keeps_the_bucket_between_runs(tmp_path: Path) -> None:
    data = tmp_path / "sandboxed"
    photo = _photo(tmp_path / "cover.png", 5)
    assert mbv("--sandbox", "media", "add", str(photo), data_dir=data).returncode == 0
    first = mbv("--sandbox", "sync", "--once", "--json", data_dir=data)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["uploaded"] == 1
    saved = json.loads((data / "sandbox" / "s3" / "objects.json").read_text())
    assert len(saved) == 1 and next(iter(saved)).startswith("default/")
    # A new run starts a new server: the object is back, so nothing is sent again.
    second = mbv("--sandbox", "sync", "--once", "--json", data_dir=data)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["uploaded"] == 0
    assert json.loads(second.stdout)["assets_downloaded"] == 0


def test_ai_pictures_get_a_record_of_how_they_were_made(
        profiles: tuple[Services, Services], s3: SandboxS3, tmp_path: Path) -> None:  # noqa: F811
    laptop, _ = profiles
    [made] = run(laptop.library.add_files([_photo(tmp_path / "ai.png", 6)]))
    assert made.asset is not None
    sha = made.asset.sha256
    run(laptop.worker.call(lambda c: c.execute(  # as GenerationService records a made image
        "UPDATE assets SET source = 'generated', prompt = 'a coffee cart at dawn'"
        " WHERE id = ?", (made.asset.id,))))
    report = run(laptop.sync.sync_once())
    assert report.generated_records == 1
    body = s3.client().get_object(Bucket="mbv-sandbox", Key=f"generated/default/{sha}.json")
    record = json.loads(body["Body"].read())
    assert record["prompt"] == "a coffee cart at dawn"
    assert record["object"] == f"default/{sha}.png" and record["contentId"] == sha
    assert run(laptop.sync.sync_once()).generated_records == 0  # written once
