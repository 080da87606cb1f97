"""Work the bot process does besides answering updates: the outbox sender (and the scheduler).

Started by the dispatcher's startup and stopped at its shutdown, so only the bot process runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from aiogram import Bot

from bot.services.sender import OutboxSender
from models.db import SessionFactory


class Background:
    def __init__(self, session_factory: SessionFactory, media_dir: Path) -> None:
        self.session_factory = session_factory
        self.media_dir = media_dir
        self.sender = OutboxSender()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, bot: Bot) -> None:
        self._tasks.append(
            asyncio.create_task(
                self.sender.run_forever(bot, self.session_factory, self.media_dir), name="outbox"
            )
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
