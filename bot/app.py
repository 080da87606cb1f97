"""The composition root: the bot, the dispatcher and everything they need, the same in tests."""

from __future__ import annotations

import logging
from pathlib import Path

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand, BotCommandScopeDefault, ErrorEvent
from aiogram.utils.i18n import I18n

import handlers
from bot.background import Background
from bot.config import Settings
from bot.i18n_text import _
from bot.inline_filters import check_filters_inline
from bot.middlewares.context import ContextMiddleware
from bot.middlewares.i18n import AccountI18nMiddleware
from bot.middlewares.in_flight import InFlightUpdates
from bot.replies import ExpiredQueryAnswers
from bot.response_types import PinResponseModels
from bot.storage import (
    DatabaseStorage,
    SaveDialoguesBeforeSpeaking,
    remember_dialogues,
    save_dialogues_in_turn,
)
from models.db import SessionFactory

log = logging.getLogger(__name__)

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def create_i18n(settings: Settings) -> I18n:
    return I18n(path=LOCALES_DIR, default_locale=settings.default_locale, domain="messages")


def create_bot(settings: Settings) -> Bot:
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.bot_api_url))
        if settings.bot_api_url
        else AiohttpSession()
    )
    session.middleware(PinResponseModels())
    session.middleware(ExpiredQueryAnswers())
    session.middleware(SaveDialoguesBeforeSpeaking())
    return Bot(settings.bot_token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))


def create_dispatcher(
    settings: Settings,
    session_factory: SessionFactory,
    storage: BaseStorage,
    background: Background,
    i18n: I18n | None = None,
) -> Dispatcher:
    # Event isolation handles the updates of one chat one at a time, in the order they came (a lock per
    # chat, FIFO); different chats stay concurrent. With Redis the lock is shared by every instance.
    isolation = SimpleEventIsolation() if isinstance(storage, DatabaseStorage) else storage.create_isolation()
    dispatcher = Dispatcher(storage=storage, events_isolation=isolation)
    # Around aiogram's FSM middleware (which waits for the chat's turn and reads its state): an update
    # waiting for its turn is in flight already, and its dialogue is remembered from that first read;
    # inside it, the dialogue's writes are saved before the chat's turn passes on.
    in_flight = InFlightUpdates()
    dispatcher.update.outer_middleware.unregister(dispatcher.fsm)
    dispatcher.update.outer_middleware(in_flight)
    dispatcher.update.outer_middleware(remember_dialogues)
    dispatcher.update.outer_middleware(dispatcher.fsm)
    dispatcher.update.outer_middleware(save_dialogues_in_turn)
    dispatcher.update.outer_middleware(
        ContextMiddleware(session_factory, settings.default_locale, on_queued=background.sender.wake)
    )
    i18n = i18n or create_i18n(settings)
    dispatcher.update.outer_middleware(AccountI18nMiddleware(i18n))
    dispatcher.include_routers(*handlers.routers())
    check_filters_inline(dispatcher)
    dispatcher.errors.register(on_error)
    dispatcher.startup.register(set_commands)
    dispatcher.startup.register(background.start)
    dispatcher.shutdown.register(in_flight.drain)  # before anything the handlers use is stopped
    dispatcher.shutdown.register(background.stop)
    dispatcher["i18n_instance"] = i18n
    dispatcher["settings"] = settings
    return dispatcher


async def set_commands(bot: Bot, i18n_instance: I18n) -> None:
    """The command menu in every language, the school's default for everyone else."""
    for locale in (*i18n_instance.available_locales, None):
        with i18n_instance.context(), i18n_instance.use_locale(locale or i18n_instance.default_locale):
            commands = [
                BotCommand(command="start", description=_("Начало и главное меню")),
                BotCommand(command="help", description=_("Справка")),
                BotCommand(command="lang", description=_("Язык / Language")),
                BotCommand(command="cancel", description=_("Отменить текущее действие")),
                BotCommand(command="verify", description=_("Проверить код выписки")),
            ]
        await bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=locale)


async def on_error(event: ErrorEvent) -> None:
    """Log without personal data and tell the person something went wrong, politely."""
    log.exception(
        "update %s failed: %s",
        event.update.update_id,
        type(event.exception).__name__,
        exc_info=event.exception,
    )
    text = _("Извините, что-то пошло не так. Попробуйте ещё раз через минуту — ваши данные сохранены.")
    try:
        if event.update.message is not None:
            await event.update.message.answer(text)
        elif event.update.callback_query is not None:
            await event.update.callback_query.answer(text, show_alert=True)
    except Exception:  # the apology itself failed (network, blocked): nothing more to do
        log.warning("could not apologise for update %s", event.update.update_id)
