"""The sandbox's stand-in for Cloudflare R2: moto's S3 server on its own loopback port.

moto keeps objects in memory, so the bucket's contents are written to ``state_dir/s3`` when the
server stops and put back when it starts: a profile opened again with ``--sandbox`` finds what
it uploaded last time. (Objects come back with single-part ETags; keys, bytes and metadata are
kept. Unfinished multipart uploads are not kept, as R2 would abort them after 7 days anyway.)

Credentials are not checked unless :meth:`SandboxS3.require_auth` is called (moto's IAM check,
for the wrong-credentials case); the app is configured with :data:`ACCESS_KEY_ID` and
:data:`SECRET_ACCESS_KEY`.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import urllib.request
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BUCKET = "mbv-sandbox"
ACCESS_KEY_ID = "sandbox-r2-key"
SECRET_ACCESS_KEY = "sandbox-r2-secret"  # the emulator's published demo key
_INDEX = "objects.json"


def free_loopback_port() -> int:
    """A port nobody listens on right now (for starting a server in the background)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxS3:
    """moto's ThreadedMotoServer with one bucket, persisted under ``state_dir`` between runs."""

    def __init__(self, state_dir: Path | None, *, bucket: str = BUCKET, port: int = 0) -> None:
        self.state_dir = Path(state_dir) / "s3" if state_dir is not None else None
        self.bucket = bucket
        self._port = port
        self._server: Any = None
        self._endpoint = ""
        self._starting: threading.Thread | None = None
        self.start_error: BaseException | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the server, makes the bucket and restores the saved objects."""
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._port, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint = f"http://{host}:{port}"
        client = self.client()
        client.create_bucket(Bucket=self.bucket)
        self._restore(client)

    @property
    def planned_url(self) -> str:
        """The endpoint it serves once started (needs a fixed ``port``)."""
        if not self._port:
            raise RuntimeError("start_in_background needs a fixed port")
        return f"http://127.0.0.1:{self._port}"

    def start_in_background(self) -> None:
        """Starts on a thread and returns at once; clients see a refused connection until it
        is up (a failure to start is logged and kept in ``start_error``)."""
        def run() -> None:
            try:
                self.start()
            except Exception as exc:
                self.start_error = exc
                log.error("sandbox S3: could not start: %s", exc)

        self._starting = threading.Thread(target=run, name="mbv-sandbox-s3", daemon=True)
        self._starting.start()

    def stop(self) -> None:
        """Saves the bucket's objects and stops the server; safe to call twice."""
        if self._starting is not None:
            self._starting.join(30)
            self._starting = None
        if self._server is None:
            return
        try:
            self._save(self.client())
        except Exception as exc:  # stopping must not fail; say what was lost
            log.warning("sandbox S3: could not save the bucket: %s", exc)
        self._server.stop()
        self._server = None

    def __enter__(self) -> SandboxS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        if not self._endpoint:
            raise RuntimeError("the sandbox S3 server has not been started")
        return self._endpoint

    # administration (tests, the sandbox menu) ---------------------------------------------------

    def client(self) -> Any:
        """A plain boto3 client with the sandbox's credentials, for inspection and set-up."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=ACCESS_KEY_ID,
                            aws_secret_access_key=SECRET_ACCESS_KEY)

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket under ``prefix``."""
        paginator = self.client().get_paginator("list_objects_v2")
        return [item["Key"] for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
                for item in page.get("Contents") or []]

    def reset(self) -> None:
        """Empties the server (every bucket) and makes the bucket again."""
        self._moto_api("reset")
        self.client().create_bucket(Bucket=self.bucket)

    def require_auth(self, enabled: bool = True) -> None:
        """From now on, refuse credentials moto does not know (wrong-credentials case)."""
        self._moto_api("reset-auth", b"0" if enabled else b"inf")

    def _moto_api(self, action: str, data: bytes = b"") -> None:
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/{action}", data=data,
                                         method="POST", headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            resp.read()

    # persistence ---------------------------------------------------------------------------------

    def _save(self, client: Any) -> None:
        if self.state_dir is None:
            return
        objects_dir = self.state_dir / "objects"
        objects_dir.mkdir(parents=True, exist_ok=True)
        index: dict[str, dict[str, Any]] = {}
        for key in self.keys():
            obj = client.get_object(Bucket=self.bucket, Key=key)
            name = base64.urlsafe_b64encode(key.encode()).decode("ascii")
            (objects_dir / name).write_bytes(obj["Body"].read())
            index[key] = {"file": name, "content_type": obj.get("ContentType", ""),
                          "cache_control": obj.get("CacheControl", ""),
                          "metadata": obj.get("Metadata") or {}}
        for stale in objects_dir.iterdir():
            if stale.name not in {entry["file"] for entry in index.values()}:
                stale.unlink()
        tmp = self.state_dir / (_INDEX + ".tmp")
        tmp.write_text(json.dumps(index), encoding="utf-8")
        tmp.replace(self.state_dir / _INDEX)

    def _restore(self, client: Any) -> None:
        if self.state_dir is None:
            return
        try:
            index = json.loads((self.state_dir / _INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for key, entry in index.items():
            path = self.state_dir / "objects" / entry["file"]
            try:
                body = path.read_bytes()
            except OSError:
                continue
            kwargs: dict[str, Any] = {"Metadata": entry.get("metadata") or {}}
            if entry.get("content_type"):
                kwargs["ContentType"] = entry["content_type"]
            if entry.get("cache_control"):
                kwargs["CacheControl"] = entry["cache_control"]
            client.put_object(Bucket=self.bucket, Key=key, Body=body, **kwargs)
