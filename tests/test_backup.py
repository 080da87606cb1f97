"""Backup while the bot writes, restore into an empty data directory, and the refusals around them."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from bot.migrate import alembic_config
from bot.services import audit
from bot.services import backup as backup_service
from bot.services.backup import MANIFEST, Manifest, backup
from models import Student
from models.db import SessionFactory
from models.enums import AuditChannel
from tests.conftest import Run
from tests.factories import make_school

SEED_ROWS = 20_000  # a database big enough that copying it takes a while


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def _integrity(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


def _media(root: Path) -> dict[str, str]:
    """Evidence-like files, and a half-written one (evidence.py's temporary name) that is not a file yet."""
    files = {}
    for number in range(12):
        relative = f"{number:02x}/ab/file-{number}.jpg"
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(4096 + number))
        files[relative] = _sha256(path)
    (root / "00" / "ab" / ".tmp-halfwritten").write_bytes(b"partial")
    return files


async def test_a_backup_taken_while_the_bot_writes_restores_with_equal_counts_and_hashes(
    tmp_path: Path, database_url: str, session_factory: SessionFactory, cli: Callable[..., Run]
) -> None:
    school = await make_school(session_factory)
    database = Path(make_url(database_url).database or "")
    with sqlite3.connect(database) as connection:
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO audit_event (at, action, allowed, channel, details) "
            "SELECT '2026-01-01 00:00:00.000000', 'seed', 1, 'system', hex(randomblob(200)) FROM n",
            (SEED_ROWS,),
        )
    media = tmp_path / "media"
    originals = _media(media)

    written = 0
    running, stop = asyncio.Event(), asyncio.Event()

    async def bot_writes() -> None:
        nonlocal written
        while not stop.is_set():
            async with session_factory() as session:
                session.add(Student(class_id=school.class_5a.id, surname="Новиков", name=f"№{written}"))
                await audit.record(session, action="student_added", channel=AuditChannel.SYSTEM)
                await session.commit()
                written += 1
                if written == 5:
                    running.set()

    writer = asyncio.create_task(bot_writes())
    await asyncio.wait_for(running.wait(), 30)
    started = written
    manifest = await asyncio.to_thread(backup, database, media, tmp_path / "backup")
    ended = written
    stop.set()
    await writer

    assert ended > started  # the bot went on writing while the backup ran
    # One consistent snapshot: both tables were copied at the same moment, between the two counters.
    added = manifest.tables["student"] - 4
    assert started <= added <= ended + 1
    assert manifest.tables["audit_event"] == SEED_ROWS + added
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert manifest.alembic_revision == head and manifest.app_version
    assert {name.removeprefix("media/"): digest for name, digest in manifest.files.items() if name != "portfolio.sqlite3"} == originals  # fmt: skip
    on_disk = json.loads((tmp_path / "backup" / MANIFEST).read_text("utf-8"))
    assert Manifest(**on_disk) == manifest

    target = tmp_path / "restored"
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{target / 'data' / 'portfolio.sqlite3'}",
        "MEDIA_DIR": str(target / "data" / "media"),
    }
    result = cli("restore", str(tmp_path / "backup"), env=env)
    assert result.returncode == 0, result.stderr
    restored = target / "data" / "portfolio.sqlite3"
    assert _counts(restored) == manifest.tables
    assert _integrity(restored) == "ok"
    restored_media = target / "data" / "media"
    assert {p.relative_to(restored_media).as_posix(): _sha256(p) for p in restored_media.rglob("*") if p.is_file()} == originals  # fmt: skip
    assert _counts(database)["student"] == 4 + written  # the live database kept everything written after


def _small_backup(tmp_path: Path, cli: Callable[..., Run]) -> tuple[Path, dict[str, str]]:
    data = tmp_path / "data"
    data.mkdir()
    with sqlite3.connect(data / "portfolio.sqlite3") as connection:
        connection.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, text TEXT)")
        connection.execute("INSERT INTO note (text) VALUES ('первая'), ('вторая')")
    _media(data / "media")
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{data / 'portfolio.sqlite3'}",
        "MEDIA_DIR": str(data / "media"),
    }
    result = cli("backup", str(tmp_path / "backup"), env=env)
    assert result.returncode == 0, result.stderr
    assert "строк 2, файлов 13" in result.stdout  # the database and 12 media files
    return tmp_path / "backup", env


def test_restore_refuses_a_target_with_data_and_force_sets_it_aside(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    backup_dir, env = _small_backup(tmp_path, cli)
    database = Path(make_url(env["DATABASE_URL"]).database or "")
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO note (text) VALUES ('после копии')")

    refused = cli("restore", str(backup_dir), env=env)
    assert refused.returncode == 1
    assert "уже есть данные" in refused.stderr and "--force" in refused.stderr
    assert _counts(database)["note"] == 3  # untouched

    forced = cli("restore", str(backup_dir), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert _counts(database)["note"] == 2
    set_aside = sorted(p.name for p in database.parent.iterdir() if ".before-restore-" in p.name)
    assert [name.split(".before-restore-")[0] for name in set_aside] == ["media", "portfolio.sqlite3"]
    assert _counts(database.parent / set_aside[1])["note"] == 3  # nothing lost


def test_a_backup_refuses_a_used_directory_and_restore_a_damaged_backup(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    backup_dir, env = _small_backup(tmp_path, cli)
    again = cli("backup", str(backup_dir), env=env)
    assert again.returncode == 1 and "не пуст" in again.stderr

    damaged = next(p for p in (backup_dir / "media").rglob("*.jpg"))
    damaged.write_bytes(b"\0" + damaged.read_bytes()[1:])
    empty = tmp_path / "empty"
    fresh = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{empty / 'portfolio.sqlite3'}",
        "MEDIA_DIR": str(empty / "media"),
    }
    result = cli("restore", str(backup_dir), env=fresh)
    assert result.returncode == 1 and "повреждён" in result.stderr and damaged.name in result.stderr
    assert not empty.exists()  # nothing half-restored


def test_postgresql_is_backed_up_with_pg_dump(tmp_path: Path, cli: Callable[..., Run]) -> None:
    env = {"DATABASE_URL": "postgresql+asyncpg://school:s3cret@db.local:5432/portfolio"}
    result = cli("backup", str(tmp_path / "backup"), env=env)
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr
    assert f"pg_dump --format=custom --file='{tmp_path / 'backup' / 'portfolio.dump'}'" in result.stdout
    assert "postgresql://school@db.local:5432/portfolio" in result.stdout and "s3cret" not in result.stdout
    assert not (tmp_path / "backup").exists()


def _fresh_target(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty"
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{empty / 'portfolio.sqlite3'}",
        "MEDIA_DIR": str(empty / "media"),
    }


def test_restore_refuses_a_manifest_naming_a_file_outside_the_media_directory(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    backup_dir, _env = _small_backup(tmp_path, cli)
    manifest_path = backup_dir / MANIFEST
    manifest = json.loads(manifest_path.read_text("utf-8"))
    target = _fresh_target(tmp_path)
    target["MEDIA_DIR"] = str(tmp_path / "empty" / "a" / "b" / "media")
    # Crafted backups whose named file is there with the right hash, but would be copied to `victim`.
    for name, source, victim in [
        (
            "media/../../planted/victim.txt",
            tmp_path / "planted" / "victim.txt",
            tmp_path / "empty" / "a" / "planted" / "victim.txt",
        ),
        (
            f"media/{tmp_path / 'victim.txt'}",
            backup_dir / "media" / (tmp_path / "victim.txt").relative_to("/"),
            tmp_path / "victim.txt",
        ),
    ]:
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_bytes(b"not yours")
        crafted = dict(manifest, files={**manifest["files"], name: _sha256(source)})
        manifest_path.write_text(json.dumps(crafted), "utf-8")
        result = cli("restore", str(backup_dir), env=target)
        assert result.returncode == 1, (name, result.stderr)
        assert "манифест" in result.stderr and name in result.stderr, result.stderr
        assert not victim.exists() and not (tmp_path / "empty").exists()
        source.unlink()


def test_restore_explains_a_damaged_manifest(tmp_path: Path, cli: Callable[..., Run]) -> None:
    backup_dir, _env = _small_backup(tmp_path, cli)
    manifest_path = backup_dir / MANIFEST
    good = json.loads(manifest_path.read_text("utf-8"))
    without_database = dict(good, files={k: v for k, v in good["files"].items() if k.startswith("media/")})
    for text in ("{ not json", json.dumps({"tables": {}}), "[]", json.dumps(without_database)):
        manifest_path.write_text(text, "utf-8")
        result = cli("restore", str(backup_dir), env=_fresh_target(tmp_path))
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr and "манифест" in result.stderr, result.stderr
        assert not (tmp_path / "empty").exists()


def test_a_media_file_deleted_while_the_backup_runs_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot deletes a cancelled draft's files, and renames a digest's temporary file, at any moment."""
    database = tmp_path / "data" / "portfolio.sqlite3"
    database.parent.mkdir()
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE note (id INTEGER PRIMARY KEY)")
    media = tmp_path / "data" / "media"
    originals = _media(media)
    listed = backup_service._media_files

    def listed_then_one_deleted(media_dir: Path) -> list[Path]:
        found = listed(media_dir)
        (media_dir / "03" / "ab" / "file-3.jpg").unlink()  # a draft cancelled just after the listing
        return found

    monkeypatch.setattr(backup_service, "_media_files", listed_then_one_deleted)
    manifest = backup(database, media, tmp_path / "backup")
    del originals["03/ab/file-3.jpg"]
    assert {name.removeprefix("media/") for name in manifest.files} == {*originals, "portfolio.sqlite3"}
    assert backup_service.verify(tmp_path / "backup") == manifest
