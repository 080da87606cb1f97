"""Give every handler a database session, the sender's account and what they are to the school."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import Chat, TelegramObject, User

from bot.services.accounts import TelegramProfile, touch_account
from bot.services.outbox import QUEUED_FLAG
from bot.services.principal import ANONYMOUS, load_principal
from models.db import SessionFactory


class ContextMiddleware(BaseMiddleware):
    def __init__(
        self, session_factory: SessionFactory, default_locale: str, on_queued: Callable[[], None]
    ) -> None:
        self._session_factory = session_factory
        self._default_locale = default_locale
        self._on_queued = on_queued  # wakes the outbox sender when a handler queued a notification

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        async with self._session_factory() as session:
            data["session"] = session
            data["account"] = None
            data["principal"] = ANONYMOUS
            # Accounts exist only for people who talk to the bot privately; groups get nothing.
            if user is not None and not user.is_bot and (chat is None or chat.type == ChatType.PRIVATE):
                profile = TelegramProfile(user.id, user.first_name, user.last_name or "", user.username)
                account = await touch_account(session, profile, self._default_locale)
                data["account"] = account
                data["principal"] = await load_principal(session, account)
            try:
                return await handler(event, data)
            finally:
                if session.info.pop(QUEUED_FLAG, False):
                    self._on_queued()
