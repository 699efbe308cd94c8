"""``mbv-desktop doctor``: the health of the data dir, database, keyring and settings.

Read-only: it never migrates or repairs anything, so it is safe to run on a profile that the
app refuses to open, which is exactly when it is needed.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mbv_desktop import __version__
from mbv_desktop.config.instance_lock import InstanceLock
from mbv_desktop.config.paths import database_path, ensure_data_dir
from mbv_desktop.config.secrets import SecretStore
from mbv_desktop.config.settings import Settings
from mbv_desktop.core.errors import InstanceLocked, MbvError
from mbv_desktop.store.database import (
    WAL_RESET_FIXED,
    DatabaseInfo,
    check_database_file,
    connect,
    database_info,
)

LOW_DISK_BYTES = 200 * 1024 * 1024


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warning" | "error"
    summary: str
    details: list[str] = field(default_factory=list)
    data: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "summary": self.summary,
                "details": self.details, **self.data}


@dataclass
class DoctorReport:
    version: str
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.status != "error" for c in self.checks)

    def to_json(self) -> dict[str, object]:
        return {"version": self.version, "ok": self.ok,
                "checks": {c.name: c.to_json() for c in self.checks}}


def _check_data_dir(data_dir: Path, source: str) -> Check:
    data: dict[str, object] = {"path": str(data_dir), "source": source}
    try:
        ensure_data_dir(data_dir)
    except MbvError as e:
        return Check("data_dir", "error", str(e), data=data)
    usage = shutil.disk_usage(data_dir)
    data["free_bytes"] = usage.free
    if usage.free < LOW_DISK_BYTES:
        return Check("data_dir", "warning",
                     f"{data_dir} has only {usage.free // 2**20} MB free.", data=data)
    return Check("data_dir", "ok", f"{data_dir} (from {source}), "
                 f"{usage.free / 2**30:.1f} GB free", data=data)


def _check_database(data_dir: Path) -> Check:
    path = database_path(data_dir)
    data: dict[str, object] = {"path": str(path), "sqlite_version": sqlite3.sqlite_version}
    if not path.exists():
        return Check("database", "ok", "not created yet; it is made on first use", data=data)
    try:
        check_database_file(path)
        conn = connect(path)
        try:
            info: DatabaseInfo = database_info(conn, path, full_check=True)
            drafts = conn.execute(
                "SELECT count(*) FROM drafts WHERE deleted_at IS NULL").fetchone()[0] \
                if info.schema_version >= 1 else 0
        finally:
            conn.close()
    except (MbvError, sqlite3.DatabaseError) as e:
        return Check("database", "error", str(e), data=data)
    data.update(schema_version=info.schema_version,
                latest_schema_version=info.latest_schema_version,
                journal_mode=info.journal_mode, integrity=info.integrity, drafts=drafts)
    details: list[str] = []
    status = "ok"
    if info.integrity != "ok":
        status = "error"
        details.append(f"integrity check failed: {info.integrity}")
    if info.schema_version > info.latest_schema_version:
        status = "error"
        details.append("written by a newer version of the app")
    elif info.schema_version < info.latest_schema_version:
        details.append(f"schema {info.schema_version} will be migrated to "
                       f"{info.latest_schema_version} (after a backup) on next start")
    if info.wal_reset_bug:
        status = "warning" if status == "ok" else status
        fixed = ".".join(map(str, WAL_RESET_FIXED))
        details.append(f"SQLite {sqlite3.sqlite_version} has the WAL-reset bug fixed in "
                       f"{fixed}; the app keeps one writer per process to stay clear of it")
    summary = (f"SQLite {sqlite3.sqlite_version}, schema {info.schema_version}, "
               f"{info.journal_mode}, integrity {info.integrity}, {drafts} drafts")
    return Check("database", status, summary, details, data)


async def _check_keyring(secrets: SecretStore) -> Check:
    try:
        mode = await secrets.probe()
    except MbvError as e:
        return Check("keyring", "error", str(e), data={"backend": secrets.backend_name})
    data: dict[str, object] = {"backend": secrets.backend_name, "mode": mode}
    if mode == "keyring":
        return Check("keyring", "ok", f"{secrets.backend_name}", data=data)
    return Check("keyring", "warning", secrets.warning or mode, data=data)


def _check_window(data_dir: Path) -> Check:
    lock = InstanceLock(data_dir)
    try:
        lock.acquire()
    except InstanceLocked as e:
        return Check("window", "ok", str(e), data={"open": True})
    except MbvError as e:
        return Check("window", "warning", str(e), data={"open": None})
    lock.release()
    return Check("window", "ok", "no window is open on this data dir", data={"open": False})


async def _check_providers(data_dir: Path, env: Mapping[str, str],
                           overrides: Mapping[str, object], settings: Settings,
                           secrets: SecretStore) -> Check:
    from mbv_desktop.integrations.policy.metrics import MetricsRegistry
    from mbv_desktop.services.generation import GenerationService
    from mbv_desktop.services.provider_health import check_ai_providers
    from mbv_desktop.store.worker import StoreWorker

    worker = StoreWorker(database_path(data_dir))  # not used for provider checks: no writes
    generation = GenerationService(worker, settings, secrets, data_dir, MetricsRegistry())
    try:
        health = await check_ai_providers(generation)
    finally:
        await generation.aclose()
        worker.close()
    configured = [h for h in health if h.configured]
    down = [h for h in configured if not h.reachable]
    status = "warning" if down else "ok"
    if not configured:
        summary = "no AI provider is configured (see 'mbv-desktop config show')"
    else:
        summary = ", ".join(
            f"{h.provider} {'ok' if h.reachable else 'unreachable'}"
            + (f" {h.latency_ms:.0f} ms" if h.latency_ms is not None else "")
            for h in configured)
    return Check("providers", status, summary, [f"{h.provider}: {h.detail}" for h in health],
                 data={"providers": {h.provider: h.to_json() for h in health}})


async def run_doctor(data_dir: Path, source: str, env: Mapping[str, str],
                     overrides: Mapping[str, object] | None = None) -> DoctorReport:
    checks = [await asyncio.to_thread(_check_data_dir, data_dir, source)]
    if checks[0].status == "error":
        return DoctorReport(__version__, checks)
    checks.append(await asyncio.to_thread(_check_database, data_dir))
    settings = Settings(data_dir, env=env, overrides=overrides)
    checks.append(Check("settings", "warning" if settings.problems else "ok",
                        "; ".join(settings.problems) or "settings file is readable",
                        data={"problems": list(settings.problems)}))
    secrets = SecretStore(allow_plaintext=bool(settings.get("secrets.allow_plaintext")),
                          plaintext_path=data_dir / "secrets.json")
    checks.append(await _check_keyring(secrets))
    checks.append(await asyncio.to_thread(_check_window, data_dir))
    checks.append(await _check_providers(data_dir, env, overrides or {}, settings, secrets))
    return DoctorReport(__version__, checks)
