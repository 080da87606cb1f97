"""aiogram's types and methods are built when first used, with the same schemas (bot/lazy_types.py).

Each check runs in a fresh interpreter: whether aiogram was imported lazily is decided at its import.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# An update with most of what the bot receives: a photo with a caption and entities, a forward, a reply
# keyboard's message, a button press on a message with an inline keyboard.
SAMPLE_UPDATES = [
    {
        "update_id": 1,
        "message": {
            "message_id": 7,
            "date": 1764835200,
            "chat": {"id": 42, "type": "private", "first_name": "Мария"},
            "from": {"id": 42, "is_bot": False, "first_name": "Мария", "language_code": "ru"},
            "photo": [
                {"file_id": "a", "file_unique_id": "ua", "width": 90, "height": 60, "file_size": 900},
                {"file_id": "b", "file_unique_id": "ub", "width": 1280, "height": 960},
            ],
            "caption": "Диплом <b>призёра</b> 🏆",
            "caption_entities": [{"type": "bold", "offset": 0, "length": 6}],
            "media_group_id": "m1",
            "forward_origin": {"type": "hidden_user", "date": 1764835000, "sender_user_name": "Иван"},
        },
    },
    {
        "update_id": 2,
        "callback_query": {
            "id": "q1",
            "from": {"id": 42, "is_bot": False, "first_name": "Мария"},
            "chat_instance": "c",
            "data": "pf:page:3:2",
            "message": {
                "message_id": 8,
                "date": 1764835300,
                "chat": {"id": 42, "type": "private"},
                "text": "Портфолио",
                "reply_markup": {"inline_keyboard": [[{"text": "▶️", "callback_data": "pf:page:3:3"}]]},
            },
        },
    },
]

PROGRAM = """
import json, sys
{first_import}
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

lazy = not Update.__pydantic_complete__ and not SendMessage.__pydantic_complete__
updates = [Update.model_validate(u) for u in json.loads(sys.stdin.read())]
method = SendMessage(
    chat_id=42,
    text="<b>Готово</b>",
    reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="✅", callback_data="ok")]]),
)
print(json.dumps({{
    "lazy": lazy,
    "updates": [u.model_dump(mode="json", exclude_none=True) for u in updates],
    "method": repr(method.model_dump(exclude_none=True)),  # its Default values are not JSON
    "photo": updates[0].message.photo[-1].file_id,
}}, ensure_ascii=False, sort_keys=True))
"""


def run(first_import: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(first_import=first_import)],
        input=json.dumps(SAMPLE_UPDATES),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return json.loads(result.stdout)


def test_importing_our_code_first_leaves_aiogram_models_unbuilt_until_used() -> None:
    assert run("import bot")["lazy"] is True
    assert run("import admin")["lazy"] is True  # `python -m admin` imports the bot package first


def test_lazily_built_models_parse_and_serialise_exactly_as_eagerly_built_ones() -> None:
    lazy = run("import bot")
    eager = run("import aiogram")  # aiogram first: everything built at import, as aiogram does it
    assert eager["lazy"] is False
    assert lazy["updates"] == eager["updates"]
    assert lazy["method"] == eager["method"]
    assert lazy["photo"] == "b"
    assert lazy["updates"][1]["callback_query"]["message"]["reply_markup"]["inline_keyboard"][0][0] == {
        "text": "▶️",
        "callback_data": "pf:page:3:3",
    }
