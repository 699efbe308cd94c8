"""The R2 client against a real S3 server on loopback (moto's ThreadedMotoServer, real HTTP).

Covers reliability.md 20 (equal part sizes, resume with ListParts after a crash and after
kill -9, abort on cancel) and 27 (keys never carry the user's file name), conditional writes,
and the error sentences for wrong credentials, a missing bucket and an endpoint that goes away.
Parts are 5 MiB, so an 8-part file is 40 MiB.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mbv_desktop.core.errors import (
    AuthExpired,
    InvalidInput,
    NotConfigured,
    NotFound,
    ProviderUnavailable,
    Rejected,
)
from mbv_desktop.integrations.storage import (
    CACHE_CONTROL,
    KEY_PATTERN,
    PreconditionFailed,
    R2Client,
    R2Config,
    SourceChanged,
    UploadState,
    UploadStopped,
    choose_part_size,
    clean_original_name,
    multipart_etag,
    object_key,
    upload_metadata,
)
from mbv_desktop.integrations.storage.r2 import part_crc32

moto_server = pytest.importorskip("moto.server")

MiB = 2**20
PART = 5 * MiB
BUCKET = "media"
ACCOUNT = "acct-1"
REPO = Path(__file__).resolve().parents[2]


# --- fixtures ------------------------------------------------------------------------------------

def _post(url: str, data: bytes = b"") -> None:
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        resp.read()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    yield f"http://{host}:{port}"
    srv.stop()


@pytest.fixture(autouse=True)
def aws_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no shared AWS files, for boto3 and moto alike."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def _admin(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="admin", aws_secret_access_key="admin")


@pytest.fixture
def admin(server: str) -> Any:
    """A plain boto3 client: resets the server and makes the bucket; inspects what's stored."""
    _post(f"{server}/moto-api/reset")
    client = _admin(server)
    client.create_bucket(Bucket=BUCKET)
    return client


def _config(endpoint: str, **changes: str) -> R2Config:
    values = {"endpoint_url": endpoint, "bucket": BUCKET, "access_key_id": "testing",
              "secret_access_key": "testing"} | changes
    return R2Config(**values)


@pytest.fixture
def r2(server: str, admin: Any) -> R2Client:
    return R2Client(_config(server), part_size=PART, max_concurrency=4)


def _make_file(path: Path, size: int, seed: int = 1) -> str:
    path.write_bytes(random.Random(seed).randbytes(size))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _size_for(parts: int, tail: int = 12345) -> int:
    return PART * (parts - 1) + tail


def _count_part_uploads(client: R2Client) -> list[int]:
    """Part numbers of every UploadPart this client sends (botocore ``before-call`` hook)."""
    sent: list[int] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        query = params.get("query_string") or {}
        sent.append(int(query["partNumber"]))

    client.s3.meta.events.register("before-call.s3.UploadPart", hook)
    return sent


def _assert_equal_parts(admin: Any, state: UploadState) -> None:
    """What the server holds: every part the same size, the last no larger (R2's rule)."""
    listed = admin.list_parts(Bucket=BUCKET, Key=state.key, UploadId=state.upload_id)["Parts"]
    sizes = {p["PartNumber"]: p["Size"] for p in listed}
    count = len(sizes)
    assert sorted(sizes) == list(range(1, count + 1))
    assert all(sizes[n] == state.part_size for n in range(1, count))
    assert 0 < sizes[count] <= state.part_size
    assert sum(sizes.values()) == state.size


def _download_sha(admin: Any, key: str) -> str:
    body = admin.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def _no_uploads(admin: Any) -> bool:
    return not admin.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def _part_bytes(path: Path, state: UploadState, number: int) -> bytes:
    offset, length = state.part_range(number)
    with path.open("rb") as fh:
        fh.seek(offset)
        return fh.read(length)


def _watch_checksums(client: R2Client) -> tuple[dict[int, dict[str, str]], list[dict[str, Any]]]:
    """What this client sends: the checksum headers of each UploadPart (by part number) and the
    Parts list of each CompleteMultipartUpload."""
    headers: dict[int, dict[str, str]] = {}
    completes: list[dict[str, Any]] = []

    def on_send(request: Any, **_: Any) -> None:
        number = int(urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
                     ["partNumber"][0])
        headers[number] = {k.lower(): (v.decode() if isinstance(v, bytes) else v)
                           for k, v in request.headers.items()
                           if k.lower().startswith(("x-amz-checksum", "x-amz-sdk-checksum",
                                                    "x-amz-trailer", "content-encoding"))}

    def on_complete(params: dict[str, Any], **_: Any) -> None:
        completes.append(params["MultipartUpload"])

    client.s3.meta.events.register("before-send.s3.UploadPart", on_send)
    client.s3.meta.events.register("before-parameter-build.s3.CompleteMultipartUpload",
                                   on_complete)
    return headers, completes


def _composite_crc32(crcs: list[str]) -> str:
    """S3's COMPOSITE CRC32 of a multipart object: the CRC32 of the parts' raw CRC32s."""
    return part_crc32(b"".join(base64.b64decode(crc) for crc in crcs))


META = upload_metadata(uploaded_by="user-42", original_name="Mon vidéo finale.mp4")


# --- multipart round trips -----------------------------------------------------------------------

@pytest.mark.parametrize("parts", [3, 8])
def test_multipart_upload_round_trips_bytes_and_metadata(r2: R2Client, admin: Any,
                                                         tmp_path: Path, parts: int) -> None:
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(parts), seed=parts)
    key = r2.object_key(ACCOUNT, sha, "mp4")
    progress: list[tuple[int, int]] = []

    state = r2.start_upload(key, content_type="video/mp4", metadata=META, size=path.stat().st_size)
    assert state.part_size == PART and state.part_count == parts
    state = r2.upload_parts(state, path, on_progress=lambda d, t: progress.append((d, t)))
    assert state.is_complete
    _assert_equal_parts(admin, state)
    etag = r2.complete(state)

    assert _download_sha(admin, key) == sha
    assert etag == multipart_etag(state.parts[n] for n in sorted(state.parts))
    info = r2.head(key)
    assert info is not None
    assert (info.etag, info.size, info.content_type) == (etag, state.size, "video/mp4")
    assert info.cache_control == CACHE_CONTROL
    assert info.metadata == META
    assert info.metadata["originalname"] == "Mon vid%C3%A9o finale.mp4"
    assert progress[0] == (0, state.size) and progress[-1] == (state.size, state.size)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert _no_uploads(admin)


def test_upload_file_small_and_large_and_skips_what_is_stored(r2: R2Client, admin: Any,
                                                              tmp_path: Path) -> None:
    sent = _count_part_uploads(r2)
    puts: list[str] = []
    r2.s3.meta.events.register("before-call.s3.PutObject", lambda **_: puts.append("put"))

    small = tmp_path / "small.png"
    small_sha = _make_file(small, 300_000, seed=5)
    small_key = object_key(ACCOUNT, small_sha.upper(), ".PNG")
    assert small_key == f"{ACCOUNT}/{small_sha}.png"
    r2.upload_file(small_key, small, content_type="image/png", metadata=META)
    assert puts == ["put"] and sent == []
    data, content_type = r2.get_bytes(small_key)
    assert hashlib.sha256(data).hexdigest() == small_sha and content_type == "image/png"

    large = tmp_path / "large.mov"
    large_sha = _make_file(large, _size_for(3), seed=6)
    large_key = object_key(ACCOUNT, large_sha, "mov")
    states: list[str] = []
    r2.upload_file(large_key, large, content_type="video/quicktime", metadata=META,
                   on_state=lambda s: states.append(s.to_json()))
    assert sorted(sent) == [1, 2, 3]
    assert len(states) == 4  # once when started, once per part
    assert _download_sha(admin, large_key) == large_sha

    # Already stored (same content-addressed key, same size): nothing is sent again.
    r2.upload_file(large_key, large, content_type="video/quicktime", metadata=META)
    r2.upload_file(small_key, small, content_type="image/png", metadata=META)
    assert sorted(sent) == [1, 2, 3] and puts == ["put"]
    assert r2.list_keys(f"{ACCOUNT}/") == sorted([small_key, large_key])
    with pytest.raises(NotFound, match="no file"):
        r2.get_bytes(f"{ACCOUNT}/{'0' * 64}.png")


# --- resume --------------------------------------------------------------------------------------

def test_resume_after_a_crash_sends_only_the_missing_parts(server: str, admin: Any,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    sha = _make_file(path, _size_for(8), seed=8)
    key = object_key(ACCOUNT, sha, "mp4")
    saved = tmp_path / "upload-state.json"

    first = R2Client(_config(server), part_size=PART, max_concurrency=1)
    started = first.start_upload(key, content_type="video/mp4", metadata=META,
                                 size=path.stat().st_size)
    first.upload_parts(started, path, should_stop=lambda: len(started.parts) >= 3,
                       on_part_done=lambda s: saved.write_text(s.to_json()))
    assert sorted(started.parts) == [1, 2, 3] and not started.is_complete
    del first  # the "crash": the upload is never completed

    second = R2Client(_config(server), part_size=PART, max_concurrency=4)
    sent = _count_part_uploads(second)
    resumed = second.resume_state(UploadState.from_json(saved.read_text()))
    assert sorted(resumed.parts) == [1, 2, 3]
    resumed = second.upload_parts(resumed, path)
    assert sorted(sent) == [4, 5, 6, 7, 8]
    _assert_equal_parts(admin, resumed)
    second.complete(resumed)
    assert _download_sha(admin, key) == sha
    assert admin.head_object(Bucket=BUCKET, Key=key)["Metadata"] == META


def test_resume_drops_parts_whose_etag_or_size_disagree(r2: R2Client, admin: Any,
                                                        tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(3), seed=3)
    key = object_key(ACCOUNT, sha, "mp4")
    state = r2.start_upload(key, content_type="video/mp4", metadata=META, size=_size_for(3))
    state = r2.upload_parts(state, path)

    tampered = UploadState.from_json(state.to_json())
    tampered.parts[2] = "0" * 32  # the record disagrees with the server for part 2
    assert sorted(r2.resume_state(tampered).parts) == [1, 3]

    # Same upload id, another part size (tusd#1137): nothing on the server fits, all resent.
    other = UploadState.from_json(state.to_json())
    other.part_size, other.parts = 6 * MiB, {}
    assert r2.resume_state(other).parts == {}

    # Parts sent before a crash but never recorded are adopted from the listing.
    unrecorded = UploadState.from_json(state.to_json())
    unrecorded.parts = {}
    assert r2.resume_state(unrecorded).parts == state.parts

    sent = _count_part_uploads(r2)
    fixed = r2.upload_parts(r2.resume_state(tampered), path)
    assert sent == [2]
    r2.complete(fixed)
    assert _download_sha(admin, key) == sha


KILLED_CHILD = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from mbv_desktop.integrations.storage import R2Client, R2Config, upload_metadata

    endpoint, key, path, saved = sys.argv[1:5]
    client = R2Client(R2Config(endpoint, "media", "testing", "testing"),
                      part_size=5 * 2**20, max_concurrency=1)
    state = client.start_upload(key, content_type="video/mp4", size=Path(path).stat().st_size,
                                metadata=upload_metadata(uploaded_by="u", original_name="a.mp4"))

    def persist(state):
        tmp = saved + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(state.to_json())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, saved)
        if len(state.parts) == 3:
            os.kill(os.getpid(), signal.SIGKILL)

    client.upload_parts(state, Path(path), on_part_done=persist)
    print("not killed")
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_kill_9_after_part_3_resumes_at_part_4(server: str, admin: Any, tmp_path: Path) -> None:
    path = tmp_path / "long.mp4"
    sha = _make_file(path, _size_for(8), seed=9)
    key = object_key(ACCOUNT, sha, "mp4")
    saved = tmp_path / "upload-state.json"
    child = subprocess.run([sys.executable, "-c", KILLED_CHILD, server, key, str(path),
                            str(saved)], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert "not killed" not in child.stdout

    state = UploadState.from_json(saved.read_text())
    assert sorted(state.parts) == [1, 2, 3]
    assert state.checksum_algorithm == "CRC32"
    assert state.checksums == {n: part_crc32(_part_bytes(path, state, n)) for n in (1, 2, 3)}
    client = R2Client(_config(server), part_size=PART)
    sent = _count_part_uploads(client)
    state = client.resume_state(state)
    assert min(state.missing_parts()) == 4
    state = client.upload_parts(state, path)
    assert sorted(sent) == [4, 5, 6, 7, 8]
    _assert_equal_parts(admin, state)
    client.complete(state)
    assert _download_sha(admin, key) == sha


# --- CRC32 checksums -----------------------------------------------------------------------------

def test_multipart_parts_carry_crc32(r2: R2Client, admin: Any, tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(3), seed=31)
    key = object_key(ACCOUNT, sha, "mp4")
    headers, completes = _watch_checksums(r2)

    state = r2.start_upload(key, content_type="video/mp4", metadata=META, size=_size_for(3))
    assert state.checksum_algorithm == "CRC32"
    created = admin.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    assert [u.get("ChecksumAlgorithm") for u in created] == ["CRC32"]
    state = r2.upload_parts(state, path)
    crcs = {n: part_crc32(_part_bytes(path, state, n)) for n in (1, 2, 3)}
    assert crcs[1] == base64.b64encode(
        zlib.crc32(_part_bytes(path, state, 1)).to_bytes(4, "big")).decode()
    assert state.checksums == crcs
    assert UploadState.from_json(state.to_json()).checksums == crcs  # persisted with the parts

    # Each UploadPart carries its CRC32 as a plain header (no aws-chunked trailer)...
    for n in (1, 2, 3):
        assert headers[n]["x-amz-checksum-crc32"] == crcs[n]
        assert headers[n]["x-amz-sdk-checksum-algorithm"] == "CRC32"
        assert "x-amz-trailer" not in headers[n] and "content-encoding" not in headers[n]
    # ... and CompleteMultipartUpload names every part's CRC32, as S3 requires.
    etag = r2.complete(state)
    assert completes == [{"Parts": [
        {"PartNumber": n, "ETag": f'"{state.parts[n]}"', "ChecksumCRC32": crcs[n]}
        for n in (1, 2, 3)]}]

    assert etag == multipart_etag(state.parts[n] for n in sorted(state.parts))
    assert _download_sha(admin, key) == sha
    # The object's checksum is the composite one (moto's HEAD leaves out the "-3" and the type).
    head = admin.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"].split("-")[0] == _composite_crc32([crcs[1], crcs[2], crcs[3]])


def test_crc32_goes_as_a_header_over_https_too(tmp_path: Path) -> None:
    """Left to botocore, the CRC32 of an UploadPart would go as an aws-chunked trailer over
    https, which R2 refuses: it must be a plain header. Nothing leaves the machine: the request
    is answered by a botocore hook."""
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b""

    client = R2Client(_config("https://acc.r2.cloudflarestorage.com"), part_size=PART)
    headers, _ = _watch_checksums(client)
    bodies: dict[int, bytes] = {}

    def answer(request: Any, **_: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request.url).query)
        bodies[int(query["partNumber"][0])] = body
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        return AWSResponse(request.url, 200, {"ETag": f'"{etag}"'}, Raw())

    client.s3.meta.events.register_last("before-send.s3.UploadPart", answer)
    path = tmp_path / "clip.bin"
    _make_file(path, _size_for(2), seed=32)
    state = UploadState(key=f"{ACCOUNT}/{'d' * 64}.bin", upload_id="u1", part_size=PART,
                        size=_size_for(2), checksum_algorithm="CRC32")
    client.upload_parts(state, path)
    for n in (1, 2):
        assert bodies[n] == _part_bytes(path, state, n)  # the bytes, not aws-chunked framing
        assert headers[n]["x-amz-checksum-crc32"] == part_crc32(bodies[n]) == state.checksums[n]
        assert "x-amz-trailer" not in headers[n] and "content-encoding" not in headers[n]


def test_an_old_saved_state_without_checksums_resumes_and_completes(
        r2: R2Client, admin: Any, tmp_path: Path) -> None:
    """A state saved before uploads declared CRC32: the upload was created without a checksum
    algorithm and its JSON has no checksum fields. It resumes, and the rest of its parts and the
    completion go without checksums, as it began."""
    path = tmp_path / "long.mp4"
    sha = _make_file(path, _size_for(8), seed=33)
    key = object_key(ACCOUNT, sha, "mp4")
    size = path.stat().st_size
    # What the earlier code did: no ChecksumAlgorithm, parts without checksums.
    upload_id = admin.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="video/mp4",
                                              CacheControl=CACHE_CONTROL,
                                              Metadata=META)["UploadId"]
    probe = UploadState(key=key, upload_id=upload_id, part_size=PART, size=size)
    etags = {}
    for n in (1, 2, 3):
        resp = admin.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=n,
                                 Body=_part_bytes(path, probe, n))
        etags[str(n)] = resp["ETag"].strip('"')
    old_json = json.dumps({
        "version": 1, "key": key, "upload_id": upload_id, "part_size": PART, "size": size,
        "parts": etags, "content_type": "video/mp4", "metadata": META,
        "source_mtime_ns": path.stat().st_mtime_ns,
    }, sort_keys=True)
    old = UploadState.from_json(old_json)
    assert old.checksum_algorithm == "" and old.checksums == {}
    assert sorted(old.parts) == [1, 2, 3]

    sent = _count_part_uploads(r2)
    headers, completes = _watch_checksums(r2)
    etag = r2.upload_file(key, path, content_type="video/mp4", metadata=META, state=old)
    assert sorted(sent) == [4, 5, 6, 7, 8]
    assert all(h == {} for h in headers.values())  # no checksum headers on its parts
    assert len(completes) == 1
    assert [p["PartNumber"] for p in completes[0]["Parts"]] == list(range(1, 9))
    assert all(set(p) == {"PartNumber", "ETag"} for p in completes[0]["Parts"])
    assert _download_sha(admin, key) == sha
    assert admin.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"') == etag
    assert _no_uploads(admin)


def test_missing_part_checksums_are_taken_from_list_parts(r2: R2Client, admin: Any,
                                                          tmp_path: Path) -> None:
    """A CRC32 upload whose record lacks some part CRC32s (parts sent just before a crash, never
    saved) takes them from ListParts, on resume and before completing; a listed CRC32 that
    disagrees with the record drops the part. moto's ListParts has no checksums, so R2's are
    added to its answer here."""
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(3), seed=34)
    key = object_key(ACCOUNT, sha, "mp4")
    state = r2.upload_parts(r2.start_upload(key, content_type="video/mp4", metadata=META,
                                            size=_size_for(3)), path)
    crcs = dict(state.checksums)
    listed = dict(crcs)

    def add_checksums(parsed: dict[str, Any], **_: Any) -> None:
        for part in parsed.get("Parts") or []:
            part["ChecksumCRC32"] = listed[part["PartNumber"]]

    r2.s3.meta.events.register("after-call.s3.ListParts", add_checksums)
    _, completes = _watch_checksums(r2)

    unrecorded = UploadState.from_json(state.to_json())
    unrecorded.parts, unrecorded.checksums = {1: state.parts[1]}, {}
    assert r2.resume_state(unrecorded).checksums == crcs

    listed[2] = part_crc32(b"something else")
    assert sorted(r2.resume_state(state).parts) == [1, 3]
    listed[2] = crcs[2]

    forgetful = UploadState.from_json(state.to_json())
    forgetful.checksums = {1: crcs[1]}
    r2.complete(forgetful)
    assert [p["ChecksumCRC32"] for p in completes[0]["Parts"]] == [crcs[1], crcs[2], crcs[3]]
    assert _download_sha(admin, key) == sha


def test_a_part_refused_as_damaged_leaves_the_upload_resumable(r2: R2Client, admin: Any,
                                                               tmp_path: Path) -> None:
    """BadDigest on a part means its bytes were damaged on the way (they are the bytes that were
    checksummed), not that the file changed: the upload is not aborted and can be resumed."""
    from botocore.exceptions import ClientError

    path = tmp_path / "clip.mp4"
    _make_file(path, _size_for(3), seed=35)
    key = object_key(ACCOUNT, hashlib.sha256(path.read_bytes()).hexdigest(), "mp4")
    client = R2Client(_config(r2.config.endpoint_url), part_size=PART, max_concurrency=1)
    state = client.start_upload(key, content_type="video/mp4", metadata=META, size=_size_for(3))

    def refuse_part_2(params: dict[str, Any], **_: Any) -> None:
        if params.get("PartNumber") == 2:
            raise ClientError({"Error": {"Code": "BadDigest", "Message": "bad"},
                               "ResponseMetadata": {"HTTPStatusCode": 400}}, "UploadPart")

    client.s3.meta.events.register("provide-client-params.s3.UploadPart", refuse_part_2)
    with pytest.raises(ProviderUnavailable, match=r"Part 2 .* arrived damaged"):
        client.upload_parts(state, path)
    assert 2 not in state.parts and not _no_uploads(admin)
    client.s3.meta.events.unregister("provide-client-params.s3.UploadPart", refuse_part_2)
    client.complete(client.upload_parts(client.resume_state(state), path))
    assert _download_sha(admin, key) == hashlib.sha256(path.read_bytes()).hexdigest()


# --- cancel, conditional writes ------------------------------------------------------------------

def test_stop_after_two_parts_then_abort_leaves_no_upload(r2: R2Client, admin: Any,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(8), seed=2)
    key = object_key(ACCOUNT, sha, "mp4")
    client = R2Client(_config(r2.config.endpoint_url), part_size=PART, max_concurrency=1)
    done: list[int] = []
    with pytest.raises(UploadStopped, match="paused after 2 of 8 parts") as stopped:
        client.upload_file(key, path, content_type="video/mp4", metadata=META,
                           should_stop=lambda: bool(done) and done[-1] >= 2,
                           on_state=lambda s: done.append(len(s.parts)))
    state = stopped.value.state
    assert sorted(state.parts) == [1, 2]
    assert not _no_uploads(admin)
    client.abort(state)
    assert _no_uploads(admin)
    client.abort(state)  # aborting twice is fine
    assert client.head(key) is None


def test_conditional_writes(r2: R2Client, admin: Any, tmp_path: Path) -> None:
    key = f"{ACCOUNT}/{'a' * 64}.txt"
    first = r2.put_small(key, b"one", content_type="text/plain", metadata=META,
                         if_none_match=True)
    with pytest.raises(PreconditionFailed, match="already exists") as exists:
        r2.put_small(key, b"two", content_type="text/plain", metadata=META, if_none_match=True)
    assert isinstance(exists.value, Rejected) and exists.value.status == 412
    second = r2.put_small(key, b"two", content_type="text/plain", metadata=META, if_match=first)
    with pytest.raises(PreconditionFailed, match="changed since it was read"):
        r2.put_small(key, b"three", content_type="text/plain", metadata=META, if_match=first)
    assert r2.get_bytes(key)[0] == b"two"
    assert r2.head(key).etag == second  # type: ignore[union-attr]

    # A multipart complete onto an existing key with other content is refused...
    path = tmp_path / "clip.bin"
    _make_file(path, _size_for(2), seed=4)
    other_key = "shared/not-content-addressed.bin"
    admin.put_object(Bucket=BUCKET, Key=other_key, Body=b"someone else's")
    state = r2.upload_parts(r2.start_upload(other_key, content_type="application/octet-stream",
                                            metadata=META, size=_size_for(2)), path)
    with pytest.raises(PreconditionFailed, match="already exists"):
        r2.complete(state)
    assert admin.get_object(Bucket=BUCKET, Key=other_key)["Body"].read() == b"someone else's"
    r2.abort(state)

    # ... while the same content already stored under its content-addressed key counts as done.
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    same_key = object_key(ACCOUNT, sha, "bin")
    states = []
    for _ in range(2):
        state = r2.start_upload(same_key, content_type="application/octet-stream",
                                metadata=META, size=_size_for(2))
        states.append(r2.upload_parts(state, path))
    etag = r2.complete(states[0])
    assert r2.complete(states[1]) == etag
    assert _no_uploads(admin)
    assert _download_sha(admin, same_key) == sha


# --- failures ------------------------------------------------------------------------------------

def test_wrong_credentials_name_the_settings(server: str, admin: Any, tmp_path: Path) -> None:
    client = R2Client(_config(server, access_key_id="AKIAWRONG", secret_access_key="nope"))
    path = tmp_path / "a.png"
    sha = _make_file(path, 1000)
    _post(f"{server}/moto-api/reset-auth", b"0")  # moto checks credentials from now on
    try:
        for call in (
            lambda: client.put_small(object_key(ACCOUNT, sha, "png"), path,
                                     content_type="image/png", metadata=META),
            lambda: client.head(object_key(ACCOUNT, sha, "png")),
            lambda: client.start_upload("k/x.bin", content_type="image/png", size=PART * 2),
        ):
            with pytest.raises(AuthExpired) as caught:
                call()
            text = str(caught.value)
            assert "Cloudflare R2" in text and "r2.access_key_id" in text
            assert "r2.secret_access_key" in text and "nope" not in text
    finally:
        _post(f"{server}/moto-api/reset-auth", b"inf")


def test_missing_bucket_is_named(server: str, admin: Any, tmp_path: Path) -> None:
    client = R2Client(_config(server, bucket="no-such-bucket"), part_size=PART)
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(2))
    key = object_key(ACCOUNT, sha, "mp4")
    with pytest.raises(Rejected, match=r"^The R2 bucket 'no-such-bucket' does not exist\."):
        client.upload_file(key, path, content_type="video/mp4", metadata=META)
    with pytest.raises(Rejected, match=r"The R2 bucket 'no-such-bucket' does not exist\."):
        client.put_small(key, b"x", content_type="video/mp4")


def test_endpoint_going_away_mid_upload_is_provider_unavailable(admin: Any,
                                                                tmp_path: Path) -> None:
    srv = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _admin(endpoint).create_bucket(Bucket=BUCKET)
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(5))
    client = R2Client(_config(endpoint), part_size=PART, max_concurrency=1)
    saved: list[str] = []

    def stop_server_after_two(state: UploadState) -> None:
        saved.append(state.to_json())
        if len(state.parts) == 2:
            srv.stop()
            srv._server.server_close()  # moto's stop() leaves the socket listening

    state = client.start_upload(object_key(ACCOUNT, sha, "mp4"), content_type="video/mp4",
                                metadata=META, size=_size_for(5))
    try:
        with pytest.raises(ProviderUnavailable, match="Could not reach Cloudflare R2"):
            client.upload_parts(state, path, on_part_done=stop_server_after_two)
    finally:
        if srv._server_ready_event.is_set():
            srv.stop()
    assert sorted(UploadState.from_json(saved[-1]).parts) == [1, 2]  # resumable from here
    assert sorted(state.parts) == [1, 2]

    nobody = R2Client(_config(endpoint))
    with pytest.raises(ProviderUnavailable):
        nobody.head(f"{ACCOUNT}/{'b' * 64}.png")


def test_a_file_changed_or_deleted_during_upload_aborts(r2: R2Client, admin: Any,
                                                        tmp_path: Path) -> None:
    client = R2Client(_config(r2.config.endpoint_url), part_size=PART, max_concurrency=1)
    path = tmp_path / "clip.mp4"
    sha = _make_file(path, _size_for(4))
    key = object_key(ACCOUNT, sha, "mp4")

    def shrink(state: UploadState) -> None:
        if len(state.parts) == 1:
            with path.open("r+b") as fh:
                fh.truncate(PART + 10)

    state = client.start_upload(key, content_type="video/mp4", metadata=META, size=_size_for(4))
    with pytest.raises(SourceChanged, match=r"changed|shorter"):
        client.upload_parts(state, path, on_part_done=shrink)
    assert _no_uploads(admin)

    _make_file(path, _size_for(3))

    def touch(state: UploadState) -> None:
        if len(state.parts) == 1:
            with path.open("r+b") as fh:
                fh.write(b"different")
            os.utime(path, ns=(1, 1))

    state = client.start_upload(key, content_type="video/mp4", metadata=META, size=_size_for(3))
    with pytest.raises(SourceChanged, match="changed during the upload"):
        client.upload_parts(state, path, on_part_done=touch)
    assert _no_uploads(admin)

    state = client.start_upload(key, content_type="video/mp4", metadata=META, size=_size_for(3))
    client.upload_parts(state, path, should_stop=lambda: len(state.parts) >= 1)
    path.unlink()
    with pytest.raises(SourceChanged, match="deleted"):
        client.upload_parts(state, path)
    assert _no_uploads(admin)
    assert client.head(key) is None


# --- keys, metadata, settings, state -------------------------------------------------------------

HOSTILE_NAMES = ["../../x", "..\\x", "/etc/passwd", "a\x00b.png", "é" * 1024, "CON", "",
                 "x/../../../etc/shadow.jpg", "\u202egnp.exe", "..", "a" * 2000]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_never_reach_the_key(name: str) -> None:
    sha = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    for account, ext in ((name, "png"), (ACCOUNT, name)):
        if account == ACCOUNT and ext.lower().removeprefix(".").isalnum() and len(ext) <= 5 \
                and ext.isascii():
            continue  # "CON" is a fine extension
        with pytest.raises(InvalidInput):
            object_key(account, sha, ext)
    with pytest.raises(InvalidInput):
        object_key(ACCOUNT, name or "x", "png")
    key = object_key(ACCOUNT, sha, "png")
    assert KEY_PATTERN.match(key)
    assert not name or name not in key.split("/", 1)[1].replace(sha, "")

    cleaned = clean_original_name(name)
    assert cleaned.isascii() and "/" not in cleaned and "\\" not in cleaned
    assert all(" " <= c <= "~" for c in cleaned) and 0 < len(cleaned) <= 255 * 9
    meta = upload_metadata(uploaded_by="u", original_name=name)
    assert meta["originalname"] == cleaned


def test_hostile_original_name_round_trips_as_metadata(r2: R2Client) -> None:
    name = "../../Évènement 🎉\x00 100%.png"
    key = object_key(ACCOUNT, hashlib.sha256(b"png").hexdigest(), "png")
    r2.put_small(key, b"png", content_type="image/png",
                 metadata=upload_metadata(uploaded_by="user-1", original_name=name))
    info = r2.head(key)
    assert info is not None
    from urllib.parse import unquote

    assert unquote(info.metadata["originalname"]) == "Évènement 🎉 100%.png"
    assert set(info.metadata) == {"uploadedby", "uploadedat", "originalname"}


def test_overlong_keys_and_bad_metadata_are_refused(r2: R2Client) -> None:
    with pytest.raises(InvalidInput, match="1,024 bytes"):
        object_key("a" * 1000, "0" * 64, "png")
    with pytest.raises(InvalidInput):
        r2.head("x" * 1025)
    with pytest.raises(InvalidInput, match="metadata name"):
        r2.put_small("k/a.txt", b"x", content_type="text/plain", metadata={"bad key": "v"})
    with pytest.raises(InvalidInput, match="8 KB"):
        r2.put_small("k/a.txt", b"x", content_type="text/plain", metadata={"big": "v" * 9000})
    with pytest.raises(InvalidInput, match="content type"):
        r2.put_small("k/a.txt", b"x", content_type="text/plain\r\nX-Evil: 1")


@pytest.mark.parametrize(("config", "needle"), [
    ({"access_key_id": ""}, "r2.access_key_id"),
    ({"bucket": "", "secret_access_key": ""}, "r2.bucket, r2.secret_access_key"),
    ({"endpoint_url": "http://example.com"}, "https://"),
])
def test_missing_or_unsafe_settings_are_not_configured(config: dict[str, str],
                                                       needle: str) -> None:
    values = {"secret_access_key": "canary-secret"} | config
    client = R2Client(_config("https://acc.r2.cloudflarestorage.com", **values))
    with pytest.raises(NotConfigured) as caught:
        client.head("k/a.txt")
    assert needle in str(caught.value)
    assert "canary-secret" not in repr(client.config) + str(caught.value)


def test_part_size_choice_and_state_json() -> None:
    assert choose_part_size(10, PART) == PART
    assert choose_part_size(50 * MiB, 8 * MiB) == 8 * MiB
    huge = 200 * 2**30
    size = choose_part_size(huge, 8 * MiB)
    assert size % MiB == 0 and -(-huge // size) <= 10_000 and size > 8 * MiB
    with pytest.raises(InvalidInput, match="larger than Cloudflare R2 allows"):
        choose_part_size(6 * 2**40)

    state = UploadState(key="k/x", upload_id="u1", part_size=PART, size=_size_for(3),
                        parts={2: "abc", 1: "def"}, content_type="video/mp4",
                        metadata={"a": "b"}, source_mtime_ns=7, checksum_algorithm="CRC32",
                        checksums={1: "AAAAAA==", 2: "AAAAAQ=="})
    again = UploadState.from_json(state.to_json())
    assert again == state and again.missing_parts() == [3]
    assert part_crc32(b"") == "AAAAAA==" and part_crc32(b"123456789") == "y/Q5Jg=="
    assert json.loads(state.to_json())["checksums"] == {"1": "AAAAAA==", "2": "AAAAAQ=="}
    assert again.part_range(3) == (2 * PART, 12345)
    for damaged in ("", "{}", json.dumps({"version": 1, "key": "k"}), "[1]",
                    state.to_json().replace('"part_size": 5242880', '"part_size": 100'),
                    state.to_json().replace('"CRC32"', '"MD4"'),
                    state.to_json().replace('"checksums": {', '"checksums": {"x": 1, ')):
        with pytest.raises(InvalidInput, match="damaged"):
            UploadState.from_json(damaged)


def test_importing_storage_does_not_import_boto3() -> None:
    code = ("import sys, mbv_desktop.integrations.storage as s;"
            "print(','.join(m for m in ('boto3', 'botocore', 'httpx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""



def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_self_signed_endpoint_is_refused(tmp_path: Path) -> None:
    """TLS verification is always on (reliability.md 25): nothing is sent to an endpoint whose
    certificate can't be verified."""
    pytest.importorskip("cryptography")
    import http.server
    import ssl
    import threading

    cert_path, key_path = _self_signed_cert(tmp_path)
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        client = R2Client(_config(f"https://127.0.0.1:{httpd.server_address[1]}"))
        with pytest.raises(ProviderUnavailable, match="certificate"):
            client.head(f"{ACCOUNT}/{'c' * 64}.png")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert hits == []
