"""Alembic, programmatically: bring a database to the newest schema.

These functions are synchronous and run an event loop of their own (asyncio.run in migrations/env.py),
so code already inside a running loop calls them from a thread:
`await asyncio.to_thread(upgrade_database, url)`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from models.db import create_engine

# The repository root: alembic.ini and migrations/ live there, whatever the working directory.
ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str) -> Config:
    """The project's Alembic config aimed at `database_url`, leaving the caller's logging alone."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    # Passed as an attribute, not as sqlalchemy.url: ini interpolation would mangle a '%' in a password.
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def upgrade_database(database_url: str) -> None:
    """`alembic upgrade head` on `database_url`. Blocking: use asyncio.to_thread inside a running loop."""
    command.upgrade(alembic_config(database_url), "head")


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, None for an empty one. Blocking, like upgrade_database."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async def main() -> str | None:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(main())
