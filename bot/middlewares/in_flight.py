"""Updates being handled, so that a stop lets them finish before the bot's connections close.

aiogram's polling stops taking updates on SIGTERM and then closes the HTTP session at once: a handler
still running (an approval that has answered the press and is editing the card) failed with a network
error in the log (`make bench` stops the bot right after the last press).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

log = logging.getLogger(__name__)

DRAIN_TIMEOUT = 10.0  # seconds; a handler is a few database queries and Telegram calls


class InFlightUpdates(BaseMiddleware):
    def __init__(self, drain_timeout: float = DRAIN_TIMEOUT) -> None:
        self.drain_timeout = drain_timeout
        self._handling: set[asyncio.Future[Any]] = set()

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        done = asyncio.get_running_loop().create_future()
        self._handling.add(done)
        try:
            return await handler(event, data)
        finally:
            self._handling.discard(done)
            done.set_result(None)

    async def drain(self) -> None:
        """Wait until every update being handled now is done, or `drain_timeout` passed."""
        if not self._handling:
            return
        _done, pending = await asyncio.wait(set(self._handling), timeout=self.drain_timeout)
        if pending:
            log.warning(
                "stopping with %d updates still being handled after %.0f s", len(pending), self.drain_timeout
            )
