"""The Telegram models the bot serves people with: built at start-up, and kept alive.

aiogram parses every answer with `Response[method.__returning__]`, a pydantic generic model. Pydantic
caches such parametrised models only weakly, so once the garbage collector has run the next call builds
the model again: about 8 ms of CPU and a burst of memory for every third Telegram call (`make bench`'s
profile, issue 7). Holding each one the bot has used keeps pydantic's cache entry alive.

The methods the bot calls while serving (and their answers' models) are built when the bot starts
(`build_serving_models`, from `bot.runner.runtime`), not on first use (bot/lazy_types.py): built on
first use, they cost the first people after a restart about 0.4 s of CPU (7 % of the bot's time in
`make bench`'s first half-minute), and, built after the start-up objects were frozen
(bot/long_lived.py), every full garbage collection walked them again. A method missing here is still
built, on first use.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageCaption,
    EditMessageReplyMarkup,
    EditMessageText,
    GetFile,
    GetUpdates,
    Response,
    SendDocument,
    SendMediaGroup,
    SendMessage,
    SendPhoto,
    TelegramMethod,
)
from aiogram.types import Update

SERVING_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    GetUpdates,
    SendMessage,
    EditMessageText,
    EditMessageReplyMarkup,
    EditMessageCaption,
    AnswerCallbackQuery,
    GetFile,
    SendPhoto,
    SendMediaGroup,
    SendDocument,
)


# The result type of a method -> the model of its answers. Process-wide like pydantic's cache, but held
# strongly: every bot a process creates (the tests create many) shares the models built once.
_pinned: dict[Any, type[Response[Any]]] = {}


def _pin(returning: Any) -> None:
    if returning not in _pinned:
        _pinned[returning] = Response[returning]  # type: ignore[valid-type]


def build_serving_models(*, webhook: bool) -> None:
    """Build the models the bot serves people with. Polling parses updates with getUpdates' answer model;
    a webhook parses each update with `Update` itself."""
    for method in SERVING_METHODS:
        method.model_rebuild()  # builds a model whose build was deferred; nothing if built
        _pin(method.__returning__)
    if webhook:
        Update.model_rebuild()


class PinResponseModels(BaseRequestMiddleware):
    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        _pin(method.__returning__)
        return await make_request(bot, method)
