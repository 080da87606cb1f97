"""The bot keeps aiogram's response models built between Telegram calls (bot/response_types.py).

Rebuilding `Response[Message]` after every garbage collection cost about 8 ms per Telegram call and a
third of the bot's CPU in `make bench`. The models the bot serves with are built when it starts.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

from aiogram.methods import GetMe, Response
from aiogram.types import BotName, Message, User

from bot.response_types import SERVING_METHODS
from tests.harness import BotHarness

ROOT = Path(__file__).resolve().parents[1]


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


async def test_a_method_outside_the_start_up_list_has_its_model_pinned_on_first_call(bot: BotHarness) -> None:
    assert GetMe not in SERVING_METHODS
    assert bot.runtime is not None
    await bot.runtime.bot.get_me()

    model = weakref.ref(Response[User])
    gc.collect()

    assert model() is not None


# In a fresh interpreter, where aiogram's models are built on first use (bot/lazy_types.py).
STARTING_BOT = """
import gc, json, sys
import bot
from aiogram.methods import Response, SendVoice
from aiogram.types import Update
from bot.response_types import SERVING_METHODS, _pinned, build_serving_models

build_serving_models(webhook=sys.argv[1] == "webhook")
gc.collect()
print(json.dumps({
    "built": {m.__name__: m.__pydantic_complete__ for m in SERVING_METHODS},
    "answers_kept": {
        m.__name__: _pinned.get(m.__returning__) is Response[m.__returning__] for m in SERVING_METHODS
    },
    "update_built": Update.__pydantic_complete__,
    "unused_left_lazy": not SendVoice.__pydantic_complete__,
}))
"""


def start(mode: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", STARTING_BOT, mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def test_a_starting_bot_builds_the_models_it_serves_with() -> None:
    report = start("polling")
    assert set(report["built"]) >= {"SendMessage", "EditMessageText", "AnswerCallbackQuery", "GetUpdates"}
    assert all(report["built"].values()), report["built"]
    assert all(report["answers_kept"].values()), report["answers_kept"]
    assert report["unused_left_lazy"]  # the rest of aiogram is still built only when used
    assert not report["update_built"]  # polling parses updates with getUpdates' answer model


def test_a_bot_on_a_webhook_also_builds_the_update_model() -> None:
    assert start("webhook")["update_built"]
