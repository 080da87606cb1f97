"""A stop waits for the updates being handled before the bot's connections close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Chat, Message, Update, User

from bot.middlewares.in_flight import InFlightUpdates
from bot.storage import remember_dialogues, save_dialogues_in_turn
from tests.harness import BotHarness


def text_update(update_id: int) -> Update:
    user = User(id=update_id, is_bot=False, first_name="Аня")
    chat = Chat(id=update_id, type="private")
    message = Message(message_id=1, date=datetime.now(UTC), chat=chat, from_user=user, text="привет")
    return Update(update_id=update_id, message=message)


def slow_dispatcher(in_flight: InFlightUpdates, release: asyncio.Event, finished: list[int]) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(in_flight)

    @dispatcher.message()
    async def slow(message: Message) -> None:
        await release.wait()
        finished.append(message.chat.id)

    return dispatcher


async def test_drain_waits_for_the_handlers_running_now() -> None:
    in_flight, release, finished = InFlightUpdates(), asyncio.Event(), []
    dispatcher, bot = slow_dispatcher(in_flight, release, finished), Bot("42:TEST")
    handling = [asyncio.create_task(dispatcher.feed_update(bot, text_update(n))) for n in (1, 2)]
    await asyncio.sleep(0.01)  # both are inside their handler now
    draining = asyncio.create_task(in_flight.drain())
    await asyncio.sleep(0.05)
    assert not draining.done() and finished == []
    release.set()
    await asyncio.wait_for(draining, 1)
    assert sorted(finished) == [1, 2]
    await asyncio.gather(*handling)
    await in_flight.drain()  # nothing running: returns at once
    await bot.session.close()


async def test_drain_gives_up_after_its_timeout(caplog: pytest.LogCaptureFixture) -> None:
    in_flight, release, finished = InFlightUpdates(drain_timeout=0.05), asyncio.Event(), []
    dispatcher, bot = slow_dispatcher(in_flight, release, finished), Bot("42:TEST")
    handling = asyncio.create_task(dispatcher.feed_update(bot, text_update(3)))
    await asyncio.sleep(0.01)
    await asyncio.wait_for(in_flight.drain(), 1)
    assert finished == []
    assert "1 updates still being handled" in caplog.text
    release.set()
    await handling
    await bot.session.close()


async def test_the_bot_drains_before_it_stops_anything(bot: BotHarness) -> None:
    assert bot.runtime is not None
    dispatcher = bot.runtime.dispatcher
    # Around aiogram's FSM middleware: an update waiting for its chat's turn is in flight already, and
    # the dialogue is remembered from the FSM middleware's first read; inside it, saved.
    outer = list(dispatcher.update.outer_middleware)
    in_flight = next(m for m in outer if isinstance(m, InFlightUpdates))
    assert outer.index(in_flight) < outer.index(remember_dialogues) < outer.index(dispatcher.fsm)
    assert outer.index(dispatcher.fsm) < outer.index(save_dialogues_in_turn)  # saved in the chat's turn
    shutdown = [handler.callback for handler in bot.runtime.dispatcher.shutdown.handlers]
    drains = [
        callback for callback in shutdown if getattr(callback, "__func__", None) is InFlightUpdates.drain
    ]
    assert len(drains) == 1
    assert shutdown.index(drains[0]) < shutdown.index(bot.runtime.background.stop)
