"""Shared fixtures. Every test that touches the database gets its own SQLite file, migrated to head."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.__main__ import main
from bot.migrate import upgrade_database
from models.db import SessionFactory, create_engine, create_session_factory
from tests.harness import BotHarness, running_bot


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite file (not created until something connects)."""
    return f"sqlite+aiosqlite:///{tmp_path / 'portfolio.sqlite3'}"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """The app's engine on `database_url`, after the real migrations ran on it."""
    # Alembic runs its own event loop, hence the thread.
    await asyncio.to_thread(upgrade_database, database_url)
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[BotHarness]:
    """The real bot polling the strict local Bot API server, on a fresh migrated database."""
    async with running_bot(tmp_path) as harness:
        yield harness


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Run]:
    """`python -m bot ARGS` in this process (a fresh interpreter per call is slow), with `env` set."""
    monkeypatch.chdir(tmp_path)  # no stray .env

    def run(*args: str, env: dict[str, str]) -> Run:
        for key in ("DATABASE_URL", "MEDIA_DIR"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
