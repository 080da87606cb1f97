"""The baseline: a bare aiogram bot that answers every message and every button press, nothing else.

Run as its own process, like ours: `BOT_TOKEN=… BOT_API_URL=… python -m bench.echo_bot`. Same aiogram
session, parse mode, polling and log level as the real bot, and like it the start-up's objects frozen out
of the collector's full passes (unfrozen, those passes stopped the echo bot for 200–250 ms at a time and
made its p99 latency 250 ms: a baseline that slow would flatter ours), so the difference is our work.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import CallbackQuery, Message

router = Router()


@router.message()
async def echo(message: Message) -> None:
    await message.answer(message.text or "📷")


@router.callback_query()
async def press(query: CallbackQuery) -> None:
    await query.answer()


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["BOT_API_URL"]))
    bot = Bot(
        os.environ["BOT_TOKEN"], session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML)
    )
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    gc.collect()  # as bot.long_lived does for ours; imported from there, `bot` would make aiogram lazy
    gc.freeze()
    await dispatcher.start_polling(bot, allowed_updates=dispatcher.resolve_used_update_types())


if __name__ == "__main__":
    asyncio.run(main())
