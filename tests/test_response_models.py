"""The bot keeps aiogram's response models built between Telegram calls (bot/response_types.py).

Rebuilding `Response[Message]` after every garbage collection cost about 8 ms per Telegram call and a
third of the bot's CPU in `make bench`.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import weakref
from pathlib import Path

from aiogram.methods import Response
from aiogram.types import BotName, Message

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


# In a fresh interpreter, where aiogram's models are built on first use (bot/lazy_types.py).
STARTED_BOT = """
import gc, json
import bot
from aiogram.methods import Response, SendVoice
from bot.app import create_bot
from bot.config import Settings
from bot.response_types import SERVING_METHODS

created = create_bot(Settings(_env_file=None, bot_token="42:TEST"))
gc.collect()
print(json.dumps({
    "built": {m.__name__: m.__pydantic_complete__ for m in SERVING_METHODS},
    "answers_kept": {m.__name__: Response[m.__returning__].__pydantic_complete__ for m in SERVING_METHODS},
    "unused_left_lazy": not SendVoice.__pydantic_complete__,
}))
"""


def test_a_created_bot_has_built_the_models_it_serves_with() -> None:
    result = subprocess.run(
        [sys.executable, "-c", STARTED_BOT], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    )
    report = json.loads(result.stdout)
    assert set(report["built"]) >= {"SendMessage", "EditMessageText", "AnswerCallbackQuery", "GetUpdates"}
    assert all(report["built"].values()), report["built"]
    assert all(report["answers_kept"].values()), report["answers_kept"]
    assert report["unused_left_lazy"]  # the rest of aiogram is still built only when used
