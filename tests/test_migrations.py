"""Alembic: every revision goes up, down and up again, and head is exactly the schema of the models."""

from __future__ import annotations

import argparse
import importlib
import sqlite3
from pathlib import Path
from types import ModuleType

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Connection, inspect, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import models  # noqa: F401  (every table on SQLModel.metadata)
from bot.config import Settings
from bot.migrate import alembic_config, current_revision, upgrade_database


def sqlite_path(database_url: str) -> Path:
    return Path(make_url(database_url).database or "")


def table_names(database_url: str) -> set[str]:
    with sqlite3.connect(sqlite_path(database_url)) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def test_every_revision_upgrades_downgrades_and_upgrades_again(database_url: str) -> None:
    config = alembic_config(database_url)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions())
    assert revisions, "no migrations found"
    for revision in reversed(revisions):  # walk_revisions() goes from head to base
        command.upgrade(config, revision.revision)
        command.downgrade(config, "-1")
        command.upgrade(config, revision.revision)
    assert current_revision(database_url) == ScriptDirectory.from_config(config).get_current_head()


def test_downgrade_to_base_drops_every_table(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "head")
    assert set(SQLModel.metadata.tables) <= table_names(database_url)
    command.downgrade(config, "base")
    assert table_names(database_url) == {"alembic_version"}


async def test_schema_at_head_matches_the_models(engine: AsyncEngine) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_check_constraints_are_created(engine: AsyncEngine) -> None:
    # Autogenerate does not compare CHECK constraints, so they are looked up by name.
    def missing(connection: Connection) -> set[tuple[str, str | None]]:
        inspector = inspect(connection)
        wanted = {
            (table.name, constraint.name)
            for table in SQLModel.metadata.tables.values()
            for constraint in table.constraints
            if isinstance(constraint, CheckConstraint)
        }
        found = {
            (table, constraint["name"])
            for table in {table for table, _ in wanted}
            for constraint in inspector.get_check_constraints(table)
        }
        return wanted - found

    async with engine.connect() as connection:
        assert await connection.run_sync(missing) == set()


async def test_connections_use_wal_foreign_keys_and_full_sync(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:

        async def pragma(name: str) -> object:
            return (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()

        assert await pragma("journal_mode") == "wal"
        assert await pragma("foreign_keys") == 1
        assert await pragma("synchronous") == 2  # FULL
        assert await pragma("busy_timeout") > 0


def test_migrations_leave_the_file_in_wal_mode(database_url: str) -> None:
    # WAL is stored in the file: proof that env.py used the app's engine with its pragmas.
    upgrade_database(database_url)
    with sqlite3.connect(sqlite_path(database_url)) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def import_cli() -> ModuleType:
    # bot/cli/__init__.py also imports the `run` command, written separately: skip until it exists.
    pytest.importorskip("bot.cli.run", reason="bot.cli.run is not written yet", exc_type=ImportError)
    return importlib.import_module("bot.cli.migrate")


def test_migrate_command_reports_the_revision(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import_cli()
    from bot.__main__ import main

    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["migrate"]) == 0
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert capsys.readouterr().out.strip().endswith(f"is at revision {head}")


def test_migrate_command_hides_the_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = import_cli()
    monkeypatch.setattr(cli, "upgrade_database", lambda url: None)
    monkeypatch.setattr(cli, "current_revision", lambda url: "0001")
    settings = Settings(database_url="postgresql+asyncpg://portfolio:s3cret@db.local/portfolio")
    assert cli.migrate(settings, argparse.Namespace()) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert "db.local/portfolio" in out


def test_requests_registered_before_the_class_was_kept_get_none_and_keep_their_rows(
    database_url: str,
) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, "0004_admin")
    now = "2026-05-01 10:00:00.000000"
    with sqlite3.connect(sqlite_path(database_url)) as connection:
        connection.execute(
            "INSERT INTO school_class (id, grade, letter, created_at) VALUES (1, 5, 'А', ?)", (now,)
        )
        connection.execute(
            "INSERT INTO student (id, class_id, surname, name, patronymic, status, created_at, updated_at) "
            "VALUES (1, 1, 'Иванов', 'Пётр', '', 'active', ?, ?)",
            (now, now),
        )
        connection.execute(
            "INSERT INTO results_request (id, number, student_id, scope, created_at, verification_code, "
            "extract_sha256, achievements_count, rewards_count) "
            "VALUES (1, '2026-0001', 1, 'all_years', ?, 'CODE', 'HASH', 2, 0)",
            (now,),
        )

    command.upgrade(config, "0005_request_class_label")
    with sqlite3.connect(sqlite_path(database_url)) as connection:
        rows = connection.execute(
            "SELECT number, verification_code, class_label FROM results_request"
        ).fetchall()
    assert rows == [("2026-0001", "CODE", None)]

    command.downgrade(config, "0004_admin")
    with sqlite3.connect(sqlite_path(database_url)) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(results_request)")]
        rows = connection.execute("SELECT number, verification_code FROM results_request").fetchall()
    assert "class_label" not in columns and rows == [("2026-0001", "CODE")]
