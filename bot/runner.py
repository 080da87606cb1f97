"""Running the bot: build everything from the settings, poll (or serve a webhook), close cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.utils.i18n import I18n
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

import handlers
from bot.app import create_bot, create_dispatcher, create_i18n
from bot.background import Background
from bot.config import Settings
from bot.long_lived import freeze_long_lived
from bot.response_types import build_serving_models
from bot.storage import create_storage
from models.db import SessionFactory, create_engine, create_session_factory

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
# Updates handled at once by polling; the rest wait at Telegram. Each needs a database connection (the
# pool has 15 on SQLite's defaults): unbounded, a burst of thousands of updates (`make bench`: 2,000
# users at once) would wait for a connection past the pool's 30 s timeout and fail.
MAX_CONCURRENT_UPDATES = 10


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    session_factory: SessionFactory
    bot: Bot
    dispatcher: Dispatcher
    background: Background
    i18n: I18n


@asynccontextmanager
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Everything the bot needs, closed in reverse order at the end. The schema must be up to date."""
    settings.media_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    session_factory = create_session_factory(engine)
    # The FSM storage has a pool of its own: a handler holds its session's connection while it awaits the
    # storage, so on one shared pool enough concurrent updates (15 on SQLite's defaults) took every
    # connection and then all waited for one more until the pool timed out (found by `make bench`).
    storage_engine = create_engine(settings.database_url)
    storage = create_storage(settings, create_session_factory(storage_engine))
    bot = create_bot(settings)
    build_serving_models(webhook=bool(settings.webhook_url))
    i18n = create_i18n(settings)
    background = Background(settings, session_factory, i18n)
    dispatcher = create_dispatcher(settings, session_factory, storage, background, i18n)
    try:
        yield Runtime(settings, engine, session_factory, bot, dispatcher, background, i18n)
    finally:
        handlers.detach(dispatcher)
        await storage.close()
        await bot.session.close()
        await storage_engine.dispose()
        await engine.dispose()


async def run_bot(settings: Settings) -> None:
    async with runtime(settings) as rt, serving_admin(rt):
        freeze_long_lived()  # everything is built: from here on the collector looks at updates' objects
        if settings.webhook_url:
            await _serve_webhook(rt)
        else:
            log.info("starting long polling")
            await rt.dispatcher.start_polling(
                rt.bot,
                allowed_updates=rt.dispatcher.resolve_used_update_types(),
                tasks_concurrency_limit=MAX_CONCURRENT_UPDATES,
            )


@asynccontextmanager
async def serving_admin(rt: Runtime) -> AsyncIterator[None]:
    """The web admin in the bot's process and event loop, stopped when the bot stops."""
    from admin.app import create_app
    from admin.server import serving

    me = await rt.bot.get_me()
    app = create_app(
        rt.settings, rt.engine, bot_username=me.username, i18n=rt.i18n, on_queued=rt.background.sender.wake
    )
    async with serving(rt.settings, app):
        log.info("web admin at %s/admin/", rt.settings.admin_public_url.rstrip("/"))
        yield


async def _serve_webhook(rt: Runtime) -> None:
    app = web.Application()
    SimpleRequestHandler(rt.dispatcher, rt.bot, secret_token=rt.settings.webhook_secret or None).register(
        app, path=WEBHOOK_PATH
    )
    setup_application(app, rt.dispatcher, bot=rt.bot)
    await rt.bot.set_webhook(
        rt.settings.webhook_url.rstrip("/") + WEBHOOK_PATH,
        secret_token=rt.settings.webhook_secret or None,
        allowed_updates=rt.dispatcher.resolve_used_update_types(),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, rt.settings.admin_host, rt.settings.webhook_port)
    await site.start()
    log.info("serving the webhook on port %s", rt.settings.webhook_port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
