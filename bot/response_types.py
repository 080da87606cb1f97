"""Keeps aiogram's response models alive, so Telegram's answers are parsed without building a model.

aiogram parses every answer with `Response[method.__returning__]`, a pydantic generic model. Pydantic
caches such parametrised models only weakly, so once the garbage collector has run the next call builds
the model again: about 8 ms of CPU and a burst of memory for every third Telegram call (`make bench`'s
profile, issue 7). Holding each one the bot has used keeps pydantic's cache entry alive.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod


class PinResponseModels(BaseRequestMiddleware):
    def __init__(self) -> None:
        self._models: dict[Any, type[Response[Any]]] = {}  # the method's result type -> its model

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        returning = method.__returning__
        if returning not in self._models:
            self._models[returning] = Response[returning]  # type: ignore[valid-type]
        return await make_request(bot, method)
