"""The command line as a script would use it: real processes, a temp profile, JSON output."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def mbv(*args: str, data_dir: Path, stdin: str | bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    if isinstance(stdin, bytes):
        stdin = stdin.decode("utf-8", errors="surrogateescape")
    return subprocess.run([sys.executable, "-m", "mbv_desktop", "--data-dir", str(data_dir),
                           *args], input=stdin, capture_output=True, text=True, env=full_env,
                          cwd=REPO, timeout=60)


def test_version(data_dir: Path) -> None:
    r = mbv("--version", data_dir=data_dir)
    assert r.returncode == 0
    assert r.stdout.startswith("mbv-desktop ")


def test_add_show_list_search_with_json(data_dir: Path) -> None:
    r = mbv("drafts", "add", "Big news: 日本語 launch https://example.com/x", "--tag", "launch",
            "--platform", "x", "--platform", "ig", "--json", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)
    x_check = next(c for c in added["checks"] if c["platform"] == "x")
    assert x_check["length"] == len("Big news: ") + 6 + len(" launch ") + 23
    assert x_check["limit"] == 280 and x_check["fits"] is True
    assert {c["platform"] for c in added["checks"]} == {"x", "instagram"}

    shown = json.loads(mbv("drafts", "show", str(added["id"]), "--json",
                           data_dir=data_dir).stdout)
    assert shown["body"] == added["body"] and shown["tags"] == ["launch"]

    mbv("drafts", "add", "Another one", data_dir=data_dir)
    listed = json.loads(mbv("drafts", "list", "--json", data_dir=data_dir).stdout)
    assert listed["total"] == 2
    found = json.loads(mbv("drafts", "search", "laun", "--json", data_dir=data_dir).stdout)
    assert [d["id"] for d in found["drafts"]] == [added["id"]]
    assert "[launch]" in found["drafts"][0]["snippet"].lower()
    by_tag = json.loads(mbv("drafts", "list", "--tag", "#Launch", "--json",
                            data_dir=data_dir).stdout)
    assert by_tag["total"] == 1


def test_add_reports_an_x_post_that_does_not_fit(data_dir: Path) -> None:
    r = mbv("drafts", "add", "-", "--platform", "x", "--json", data_dir=data_dir,
            stdin="😀" * 141)
    check = json.loads(r.stdout)["checks"][0]
    assert check == {**check, "length": 282, "fits": False}
    assert check["problems"]


def test_show_of_a_missing_draft_is_one_sentence_and_exit_1(data_dir: Path) -> None:
    r = mbv("drafts", "show", "999", data_dir=data_dir)
    assert r.returncode == 1
    assert r.stderr.strip() == "mbv-desktop: There is no draft 999."


def test_unknown_platform_is_a_usage_error(data_dir: Path) -> None:
    r = mbv("drafts", "add", "hi", "--platform", "myspace", data_dir=data_dir)
    assert r.returncode == 2
    assert "myspace" in r.stderr


def test_export_import_round_trip_and_bad_lines(data_dir: Path, tmp_path: Path) -> None:
    for text in ["one", "two 👩‍👩‍👧", "three\nlines"]:
        mbv("drafts", "add", text, data_dir=data_dir)
    out = tmp_path / "drafts.jsonl"
    assert mbv("drafts", "export", str(out), data_dir=data_dir).returncode == 0
    lines = out.read_bytes().splitlines()
    assert len(lines) == 3
    bad = tmp_path / "mixed.jsonl"
    bad.write_bytes(b"\n".join([lines[0], b"{nope", b"\xff\xff", lines[1], lines[2]]) + b"\n")
    other = tmp_path / "other"
    r = mbv("drafts", "import", str(bad), "--json", data_dir=other)
    assert r.returncode == 1  # something was skipped
    report = json.loads(r.stdout)
    assert report["added"] == 3 and report["rejected"] == 2
    assert [p["line"] for p in report["problems"]] == [2, 3]
    assert "line 2:" in r.stderr and "line 3:" in r.stderr
    again = tmp_path / "again.jsonl"
    mbv("drafts", "export", str(again), data_dir=other)
    assert sorted(again.read_bytes().splitlines()) == sorted(lines)


def test_import_of_a_missing_file_says_so(data_dir: Path, tmp_path: Path) -> None:
    r = mbv("drafts", "import", str(tmp_path / "nope.jsonl"), data_dir=data_dir)
    assert r.returncode == 1 and "There is no file" in r.stderr


def test_config_show_masks_secrets_and_names_sources(data_dir: Path) -> None:
    canary = "sk-canary-0123456789abcdefSECRET"
    r = mbv("config", "show", "--json", data_dir=data_dir,
            env={"MBV_OPENAI_API_KEY": canary, "MBV_LOG_LEVEL": "DEBUG"})
    assert r.returncode == 0, r.stderr
    rows = {row["key"]: row for row in json.loads(r.stdout)}
    assert rows["openai.api_key"]["source"] == "env"
    assert rows["openai.api_key"]["value"] == "****CRET"
    assert rows["log.level"] == {**rows["log.level"], "value": "DEBUG", "source": "env"}
    assert rows["ui.theme"]["source"] == "default"
    assert canary not in r.stdout + r.stderr
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_config_set_persists_and_refuses_bad_values(data_dir: Path) -> None:
    assert mbv("config", "set", "ui.theme", "dark", data_dir=data_dir).returncode == 0
    rows = {r["key"]: r for r in json.loads(mbv("config", "show", "--json",
                                                data_dir=data_dir).stdout)}
    assert rows["ui.theme"]["value"] == "dark" and rows["ui.theme"]["source"] == "file"
    r = mbv("config", "set", "ui.theme", "purple", data_dir=data_dir)
    assert r.returncode == 1 and "purple" in r.stderr
    r = mbv("config", "set", "ui.them", "dark", data_dir=data_dir)
    assert r.returncode == 1 and "ui.theme" in r.stderr  # suggests the close match


def test_secret_setting_goes_to_the_keyring_never_to_disk(data_dir: Path) -> None:
    canary = "sk-canary-zyxwvutsrqponmlkSECRET"
    r = mbv("config", "set", "openai.api_key", "-", data_dir=data_dir, stdin=canary + "\n")
    # The test keyring lives in memory per process, so only the refusal-free path is checked
    # here; the value must not have reached any file of the profile.
    assert r.returncode == 0, r.stderr
    for path in data_dir.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_secret_setting_without_a_keyring_is_refused_clearly(data_dir: Path) -> None:
    r = mbv("config", "set", "openai.api_key", "-", data_dir=data_dir, stdin="sk-abc\n",
            env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert r.returncode == 1
    assert "no OS keyring" in r.stderr and "MBV_OPENAI_API_KEY" in r.stderr


def test_doctor_json_reports_store_keyring_and_schema(data_dir: Path) -> None:
    mbv("drafts", "add", "x", data_dir=data_dir)
    r = mbv("doctor", "--json", data_dir=data_dir)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    checks = report["checks"]
    assert checks["database"]["sqlite_version"] == sqlite3.sqlite_version
    assert checks["database"]["integrity"] == "ok"
    assert checks["database"]["schema_version"] == checks["database"]["latest_schema_version"]
    assert checks["database"]["drafts"] == 1
    assert checks["keyring"]["mode"] == "keyring"
    assert checks["data_dir"]["path"] == str(data_dir)


def test_doctor_without_keyring_warns_but_passes(data_dir: Path) -> None:
    r = mbv("doctor", "--json", data_dir=data_dir,
            env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    report = json.loads(r.stdout)
    assert r.returncode == 0
    assert report["checks"]["keyring"]["status"] == "warning"
    assert report["checks"]["keyring"]["mode"] == "session-only"


def test_a_database_that_is_not_sqlite_is_reported_and_kept(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    db = data_dir / "mbv.sqlite3"
    db.write_bytes(b"PK\x03\x04 this is a zip file, not ours")
    r = mbv("drafts", "list", data_dir=data_dir)
    assert r.returncode == 1
    assert "not an SQLite file" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert db.read_bytes().startswith(b"PK")
    doctor = json.loads(mbv("doctor", "--json", data_dir=data_dir).stdout)
    assert doctor["checks"]["database"]["status"] == "error"


def test_a_database_from_a_newer_app_is_refused(data_dir: Path) -> None:
    mbv("drafts", "add", "precious", data_dir=data_dir)
    conn = sqlite3.connect(data_dir / "mbv.sqlite3")
    conn.execute("PRAGMA user_version=999")
    conn.commit()
    conn.close()
    r = mbv("drafts", "list", data_dir=data_dir)
    assert r.returncode == 1 and "newer version" in r.stderr


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "not-a-dir"
    target.write_text("x")
    r = mbv("drafts", "list", data_dir=target)
    assert r.returncode == 1 and str(target) in r.stderr


@pytest.mark.skipif(os.name != "posix", reason="needs a read-only bind mount or /proc")
def test_data_dir_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    r = mbv("drafts", "list", data_dir=Path("/proc/mbv-cannot-exist"))
    assert r.returncode == 1
    assert "/proc/mbv-cannot-exist" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_generate_and_doctor_on_the_sandbox(data_dir: Path) -> None:
    r = mbv("--sandbox", "generate", "text", "x_thread", "--topic", "our coffee cart",
            "--save", "--json", data_dir=data_dir)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "complete" and out["cost_usd"] > 0 and out["priced"]
    posts = out["variants"][0]["text"].split("\n\n")
    assert len(posts) >= 3
    shown = json.loads(mbv("drafts", "show", str(out["saved_draft_id"]), "--json",
                           data_dir=data_dir).stdout)
    assert shown["platforms"] == ["x"]
    r = mbv("--sandbox", "generate", "image", "a coffee cart at dawn", "--json",
            data_dir=data_dir)
    image = json.loads(r.stdout)
    assert Path(image["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image["cost_usd"] == 0.04
    doctor = json.loads(mbv("--sandbox", "doctor", "--json", data_dir=data_dir).stdout)
    providers = doctor["checks"]["providers"]["providers"]
    assert {p: v["reachable"] for p, v in providers.items()} == {
        "openai": True, "workers_ai": True, "local": True}
    assert all(v["breaker"] == "closed" for v in providers.values())


def test_generate_without_a_key_says_which_setting(data_dir: Path) -> None:
    r = mbv("generate", "text", "x_post", "--topic", "coffee", "--provider", "openai",
            data_dir=data_dir)
    assert r.returncode == 1
    assert "openai.api_key" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_similar_drafts_and_duplicates_on_the_sandbox(data_dir: Path) -> None:
    for text in ["Our sunrise coffee cart opens Friday at the harbour",
                 "Our sunrise coffee cart opens Friday at the harbour!",
                 "The sunrise coffee cart is opening this Friday by the harbour",
                 "Ten tips for editing vertical video on your phone"]:
        mbv("drafts", "add", text, data_dir=data_dir)
    first = json.loads(mbv("--sandbox", "drafts", "similar", "1", "--json",
                           data_dir=data_dir).stdout)
    assert [m["id"] for m in first["matches"]] == [2, 3, 4]
    assert first["duplicate_of"] == 2 and first["embedded_now"] == 4
    assert first["matches"][1]["score"] > first["matches"][2]["score"]
    mbv("drafts", "add", "Coffee cart at the harbour this Friday at sunrise", data_dir=data_dir)
    again = json.loads(mbv("--sandbox", "drafts", "similar", "1", "--json",
                           data_dir=data_dir).stdout)
    assert again["embedded_now"] == 1  # only the new draft; the rest were kept


def test_a_wrong_api_key_says_so_and_names_the_setting(data_dir: Path, tmp_path: Path) -> None:
    from helpers import run

    from mbv_desktop.cli import sandbox_overrides
    from mbv_desktop.core.errors import NotConfigured
    from mbv_desktop.core.generation import TaskKind
    from mbv_desktop.sandbox.host import SandboxHost
    from mbv_desktop.services.container import open_services

    with SandboxHost(tmp_path / "sandbox") as host:
        overrides = {**sandbox_overrides(host.urls()), "openai.api_key": "sk-invalid"}
        services = open_services(data_dir, env={}, overrides=overrides)

        async def go() -> str:
            try:
                await services.generation.generate_text(TaskKind.X_POST, topic="coffee")
            except NotConfigured as e:
                return str(e)
            finally:
                await services.aclose()
            return ""

        try:
            message = run(go())
        finally:
            services.close()
    assert "did not accept the API key" in message and "openai.api_key" in message
    assert "sk-invalid" not in message


def test_budget_warning_when_the_month_is_over_budget(data_dir: Path) -> None:
    env = {"MBV_AI_MONTHLY_BUDGET_USD": "0.001"}
    mbv("--sandbox", "generate", "text", "x_post", "--topic", "coffee", data_dir=data_dir,
        env=env)
    from helpers import run

    from mbv_desktop.services.container import open_services

    services = open_services(data_dir, env=env)
    try:
        budget = run(services.generation.budget())
    finally:
        services.close()
    assert budget.month.runs == 1 and budget.month.cost_usd > 0.001
    assert budget.over and "reached the budget of $0.00" in (budget.warning or "")


def test_media_add_checks_files_and_keeps_each_once(data_dir: Path, tmp_path: Path) -> None:
    from PIL import Image

    photo = tmp_path / "holiday photo.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(photo)
    copy = tmp_path / "copy-named.jpg"  # a PNG under another name: the bytes decide
    copy.write_bytes(photo.read_bytes())
    fake = tmp_path / "cute-cat.png"
    fake.write_bytes(b"MZ\x90\x00" + b"\x00" * 200)
    r = mbv("media", "add", str(photo), str(copy), str(fake), "--json", data_dir=data_dir)
    assert r.returncode == 1  # one file was skipped
    rows = json.loads(r.stdout)
    assert [row["ok"] for row in rows] == [True, True, False]
    assert rows[0]["mime"] == "image/png" and (rows[0]["width"], rows[0]["height"]) == (64, 48)
    assert rows[0]["asset_id"] == rows[1]["asset_id"] and rows[1]["already_there"]
    kept = Path(rows[0]["path"])
    assert kept.read_bytes() == photo.read_bytes()
    assert kept.name == f"{rows[0]['sha256']}.png" and kept.is_relative_to(data_dir)
    assert "Windows program" in rows[2]["error"] and "cute-cat.png" in r.stderr
    assert not list((data_dir / "media" / ".incoming").iterdir())  # nothing half-kept
