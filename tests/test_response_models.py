"""The bot keeps aiogram's response models built between Telegram calls (bot/response_types.py).

Rebuilding `Response[Message]` after every garbage collection cost about 8 ms per Telegram call and a
third of the bot's CPU in `make bench`.
"""

from __future__ import annotations

import gc
import weakref

from aiogram.methods import Response
from aiogram.types import BotName, Message

from tests.harness import BotHarness


def test_pydantic_keeps_a_parametrised_response_model_only_weakly() -> None:
    # The premise of the fix: nobody in the bot asks for getMyName, so nothing holds this model.
    model = weakref.ref(Response[BotName])
    gc.collect()
    assert model() is None


async def test_the_model_of_a_sent_message_survives_garbage_collection(bot: BotHarness) -> None:
    parent = bot.server.user(first_name="Мария")
    parent.send_text("/start")
    await parent.next_message()  # the bot sent a message: it parsed Telegram's answer with the model

    model = weakref.ref(Response[Message])
    gc.collect()

    assert model() is not None and Response[Message] is model()
