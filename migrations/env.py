"""Alembic environment: SQLModel metadata, the async engine of the app, batch mode for SQLite.

The URL comes from, in order: `alembic -x url=...`, `Config.attributes["database_url"]` (set by
bot.migrate.upgrade_database), DATABASE_URL / .env through bot.config.Settings. Online migrations run
with asyncio.run(), so call them from a thread when an event loop is already running.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on SQLModel.metadata)
from models.base import UTCDateTime
from models.db import create_engine

config = context.config

# The bot calls migrations programmatically and keeps its own logging setup.
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def database_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.attributes.get("database_url")
    if url:
        return str(url)
    from bot.config import Settings  # only when nothing else gave a URL: reads DATABASE_URL / .env

    return Settings().database_url


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    # Migration files must not import app code: UTCDateTime is only a Python-side wrapper.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure_options() -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        # Batch ops recreate tables on SQLite and become plain ALTERs elsewhere.
        "render_as_batch": True,
        "render_item": render_item,
        "compare_type": True,
    }


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    context.configure(url=database_url(), literal_binds=True, **configure_options())
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # Batch mode drops and recreates tables, which foreign keys would forbid (or cascade).
        # The pragma is ignored inside a transaction, so it goes first; checked again at the end.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(connection=connection, **configure_options())
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if is_sqlite:
        violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if violations:
            raise RuntimeError(f"foreign key violations after migration: {violations[:10]}")
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


async def run_async_migrations(url: str) -> None:
    # The app's engine factory, so the SQLite pragmas (WAL, FULL sync, busy timeout) apply here too.
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    asyncio.run(run_async_migrations(database_url()))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
