"""pytest fixtures for a real S3 server on loopback (the sandbox's moto server).

``s3`` is one server for the whole session, emptied before each test that uses it (the bucket
``mbv-sandbox`` exists again afterwards). ``r2_env`` is the environment a profile needs to use
it (the ``MBV_R2_*`` variables).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mbv_desktop.sandbox.s3 import ACCESS_KEY_ID, BUCKET, SECRET_ACCESS_KEY, SandboxS3


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SandboxS3]:
    server = SandboxS3(None)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: SandboxS3) -> Iterator[SandboxS3]:
    s3_server.reset()
    yield s3_server
    s3_server.require_auth(False)


@pytest.fixture
def r2_env(s3: SandboxS3) -> dict[str, str]:
    return {
        "MBV_R2_ENDPOINT_URL": s3.endpoint_url,
        "MBV_R2_BUCKET": BUCKET,
        "MBV_R2_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MBV_R2_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    }
