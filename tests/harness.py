"""The real bot (the production dispatcher) polling the strict local Bot API server, in the test's loop.

`restart()` stops polling and throws the whole runtime away (bot, dispatcher, engine), then builds a new
one on the same database: what a process restart does to everything the bot keeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from bot.config import Settings
from bot.migrate import upgrade_database
from bot.runner import Runtime, runtime
from models.db import SessionFactory
from tests.telegram_server import TelegramServer


class BotHarness:
    def __init__(self, server: TelegramServer, settings: Settings) -> None:
        self.server = server
        self.settings = settings
        self._stack: AsyncExitStack | None = None
        self._polling: asyncio.Task[None] | None = None
        self.runtime: Runtime | None = None

    @property
    def session_factory(self) -> SessionFactory:
        """The current runtime's session factory (a new one after each restart)."""
        assert self.runtime is not None
        return self.runtime.session_factory

    async def start(self) -> None:
        self._stack = AsyncExitStack()
        requests_before = len(self.server.requests)
        self.runtime = await self._stack.enter_async_context(runtime(self.settings))
        rt = self.runtime
        self._polling = asyncio.create_task(
            rt.dispatcher.start_polling(
                rt.bot, handle_signals=False, allowed_updates=rt.dispatcher.resolve_used_update_types()
            )
        )
        # Started once the bot asks for updates (its startup handlers have run by then).
        while not any(r.method == "getUpdates" for r in self.server.requests[requests_before:]):
            if self._polling.done():  # failed at start-up: show why
                self._polling.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        assert self.runtime is not None and self._polling is not None and self._stack is not None
        await self.runtime.dispatcher.stop_polling()
        await asyncio.wait_for(self._polling, timeout=10)
        await self._stack.aclose()
        self.runtime = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


def test_settings(server: TelegramServer, data_dir: Path) -> Settings:
    return Settings(
        _env_file=None,
        bot_token=server.token,
        bot_api_url=server.base_url,
        database_url=f"sqlite+aiosqlite:///{data_dir / 'portfolio.sqlite3'}",
        media_dir=data_dir / "media",
        school_name="МБОУ «Школа № 1»",
        secret_key="test-secret",
    )


@asynccontextmanager
async def running_bot(data_dir: Path) -> AsyncIterator[BotHarness]:
    async with TelegramServer() as server:
        settings = test_settings(server, data_dir)
        await asyncio.to_thread(upgrade_database, settings.database_url)
        harness = BotHarness(server, settings)
        await harness.start()
        try:
            yield harness
        finally:
            if harness.runtime is not None:
                await harness.stop()
