"""Plain filters are checked in the event loop, with the same outcome as aiogram's own threaded check."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Chat, Message, Update, User

from bot.inline_filters import check_filters_inline
from tests.harness import BotHarness


class Asking(StatesGroup):
    name = State()


def update(text: str, update_id: int = 1) -> Update:
    user = User(id=7, is_bot=False, first_name="Аня")
    chat = Chat(id=7, type="private")
    message = Message(message_id=update_id, date=datetime.now(UTC), chat=chat, from_user=user, text=text)
    return Update(update_id=update_id, message=message)


def is_long(message: Message, long_from: int = 5) -> bool:
    return len(message.text or "") >= long_from


def dispatcher() -> Dispatcher:
    router = Router()
    router.message.filter(F.chat.type == "private")

    @router.message(Asking.name, F.text)
    async def named(message: Message) -> str:
        return f"name {message.text}"

    @router.message(F.text == "привет")
    async def hello(message: Message) -> str:
        return "hello"

    @router.message(is_long)
    async def long_text(message: Message) -> str:
        return "long"

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def outcomes(dispatcher: Dispatcher, state: State | None = None) -> list[Any]:
    bot = Bot("42:TEST")  # no call reaches Telegram: the handlers only return
    if state is not None:
        await dispatcher.fsm.get_context(bot, chat_id=7, user_id=7).set_state(state)
    results = [
        await dispatcher.feed_update(bot, update(text, n))
        for n, text in enumerate(("привет", "длинный", "да"))
    ]
    await bot.session.close()
    return results


@pytest.mark.parametrize("state", [None, Asking.name])
async def test_the_same_handlers_take_the_same_updates_without_a_thread(
    state: State | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded = await outcomes(dispatcher(), state)
    expected = ["name привет", "name длинный", "name да"] if state else ["hello", "long", UNHANDLED]
    assert threaded == expected

    inline = dispatcher()
    assert check_filters_inline(inline) == 5  # the router's chat filter, F.text, the state, ==, is_long

    async def no_thread(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a filter went to a thread")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    assert await outcomes(inline, state) == expected


async def test_every_filter_of_the_real_bot_is_checked_inline(bot: BotHarness) -> None:
    assert bot.runtime is not None
    dispatcher = bot.runtime.dispatcher
    filters = [
        event_filter
        for router in dispatcher.chain_tail
        for observer in router.observers.values()
        for handler in (observer._handler, *observer.handlers)
        for event_filter in handler.filters or ()
    ]
    assert len(filters) > 50
    assert all(event_filter.awaitable for event_filter in filters)
    assert check_filters_inline(dispatcher) == 0
