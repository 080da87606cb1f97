"""The database engine and sessions. Created by the composition root, never at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from models import sqlite_driver

SessionFactory = async_sessionmaker[AsyncSession]

SQLITE_POOL_SIZE = 15  # connections kept per engine; 10 more may open at a burst (SQLAlchemy's overflow)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite's own lower() folds only ASCII, so a case-insensitive search (SQLAlchemy's ilike is
    # `lower(x) LIKE lower(y)` here) missed «смирнова» for «Смирнова»: Python's lower() folds Cyrillic.
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
    # WAL lets readers and the writer work at once; FULL survives power loss on a school server.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # hide_parameters: errors must not carry personal data (names, dialogue state) into the logs.
        engine = create_async_engine(
            url,
            module=sqlite_driver.dbapi(),
            connect_args={"timeout": 10},
            hide_parameters=True,
            # Kept open: the default 5 made a busy bot open and close a connection (a thread, a file
            # and its pragmas) for every few updates (`make bench`: 550 in a minute).
            pool_size=SQLITE_POOL_SIZE,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, hide_parameters=True)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
