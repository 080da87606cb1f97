"""A strict local Telegram Bot API server for tests.

Why it exists: the bot is tested the way people meet it. The real aiogram ``Bot`` and ``Dispatcher`` talk
HTTP to this server exactly as they would to api.telegram.org, and the server refuses what Telegram
refuses (texts that are too long, broken HTML, 65-byte callback data, users who blocked the bot, flood
limits, ...) with Telegram's own error shapes. A handler that passes here should not fail in production
for a reason Telegram would have told us about.

Usage::

    async with TelegramServer() as server:
        anna = server.user(first_name="Анна")
        bot = Bot(server.token, session=server.session())
        polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False))
        anna.send_text("/start")
        greeting = await anna.next_message()
        anna.press("Портфолио")

The server is a real aiohttp application on 127.0.0.1 with a random free port, so a bot started in
another process can use it too: give it ``server.base_url`` and ``server.token``.

Things the server does *more strictly* than Telegram are marked "stricter than Telegram" below; they
catch our own mistakes (unescaped user text, Markdown where the project writes HTML) early.

The user side (people writing to the bot, pressing buttons, reading answers) lives in ``tests.tg_users``.
"""

# ruff: noqa: ASYNC109 - waiting helpers take timeout= like the rest of the test API (user.next_message)
from __future__ import annotations

import asyncio
import copy
import html
import io
import itertools
import json
import math
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from PIL import Image

from tests.tg_users import FakeUser, GroupChat

T = TypeVar("T")

# --------------------------------------------------------------------------------------------------------
# Telegram's limits
# --------------------------------------------------------------------------------------------------------

MAX_TEXT_LENGTH = 4096  # characters of a message text after entity parsing
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64  # UTF-8 bytes, not characters: Cyrillic costs two each
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024  # getFile refuses bigger files
MAX_UPLOAD_SIZE = 50 * 1024 * 1024  # what a bot may upload
MAX_PHOTO_UPLOAD_SIZE = 10 * 1024 * 1024
MEDIA_GROUP_MIN, MEDIA_GROUP_MAX = 2, 10
CALLBACK_QUERY_LIFETIME = 15.0  # seconds during which a callback query can still be answered
MESSAGE_DELETE_WINDOW = 48 * 3600  # seconds after which a bot can no longer delete a message

# fmt: off
ALL_UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
    "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query", "shipping_query",
    "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_member",
    "chat_join_request", "chat_boost", "removed_chat_boost",
})
# fmt: on
# Telegram delivers these three only to bots that ask for them explicitly.
DEFAULT_ALLOWED_UPDATES = ALL_UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}

# fmt: off
# Methods whose calls count as "messages" for flood_after().
SENDING_METHODS = frozenset({
    "sendmessage", "sendphoto", "senddocument", "sendmediagroup", "sendvideo", "sendaudio", "sendvoice",
    "sendsticker", "sendanimation", "copymessage", "forwardmessage",
})
CHAT_ACTIONS = frozenset({
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
})
# fmt: on
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"


# --------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------


class TelegramError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": N, "description": "..."}``.

    Raised anywhere inside a method handler; the HTTP layer turns it into the JSON body and the same
    HTTP status code, which is what aiogram maps to TelegramBadRequest, TelegramForbiddenError, ...
    """

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> TelegramError:
    return TelegramError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> TelegramError:
    return TelegramError(403, f"Forbidden: {reason}")


def too_many_requests(retry_after: int) -> TelegramError:
    return TelegramError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


# --------------------------------------------------------------------------------------------------------
# HTML parse mode
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedText:
    """A text as Telegram shows it (tags removed, character references decoded) and its entities."""

    text: str
    entities: list[dict[str, Any]]


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le")) // 2


# Tag name -> entity type. Telegram accepts exactly these tags (case-insensitively).
_TAG_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_CHARACTER_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_PLAIN_RUN = re.compile(r"[^<&]+")
_CHARACTER_REFERENCE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z][a-zA-Z0-9]*));")
_TAG_NAME = re.compile(r"[^\s>]*")
_SPACES = re.compile(r"\s*")
_ATTRIBUTE_NAME = re.compile(r"[a-zA-Z0-9_-]+")
_UNQUOTED_VALUE = re.compile(r"[^\s>]*")


def parse_html(source: str, *, strict_ampersand: bool = True) -> ParsedText:
    """Parse a text sent with ``parse_mode=HTML`` the way Telegram does, or raise its 400 error.

    ``strict_ampersand`` (stricter than Telegram, on by default): Telegram shows an ``&`` that starts no
    character reference as is, but such an ``&`` almost always means user text went into HTML without
    ``html.escape`` — and the next user will type ``<``. Refusing it makes that bug visible in tests.
    """
    return _HtmlParser(source, strict_ampersand=strict_ampersand).parse()


@dataclass
class _OpenTag:
    name: str
    position: int  # index in the source, for error messages
    offset: int  # UTF-16 offset in the output where the entity starts
    entity: dict[str, Any] | None  # None: the tag formats nothing (an <a> without href)


class _HtmlParser:
    """Telegram's HTML parse mode (after tdlib's parse_html): the same tags and the same error texts."""

    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        self.source = source
        self.strict_ampersand = strict_ampersand
        self.pieces: list[str] = []
        self.offset = 0
        self.open_tags: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def parse(self) -> ParsedText:
        position = 0
        while position < len(self.source):
            char = self.source[position]
            if char == "<":
                position = self._tag(position)
            elif char == "&":
                position = self._character_reference(position)
            else:
                run = _PLAIN_RUN.match(self.source, position)
                assert run is not None  # the current char is neither "<" nor "&"
                self._emit(run.group())
                position = run.end()
        if self.open_tags:
            raise self._error(f'Can\'t find end tag corresponding to start tag "{self.open_tags[-1].name}"')
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return ParsedText("".join(self.pieces), self.entities)

    # -- output --------------------------------------------------------------------------------------

    def _emit(self, text: str) -> None:
        self.pieces.append(text)
        self.offset += utf16_len(text)

    def _byte_offset(self, position: int) -> int:
        return len(self.source[:position].encode("utf-8"))

    @staticmethod
    def _error(reason: str) -> TelegramError:
        return bad_request(f"can't parse entities: {reason}")

    # -- character references ------------------------------------------------------------------------

    def _character_reference(self, position: int) -> int:
        match = _CHARACTER_REFERENCE.match(self.source, position)
        char = _decode_character_reference(match) if match else None
        if match and char is not None:
            self._emit(char)
            return match.end()
        if self.strict_ampersand:
            raise self._error(
                f'unescaped "&" at byte offset {self._byte_offset(position)}: write "&amp;" '
                "(stricter than Telegram, which would show it as is; was user text html.escape'd?)"
            )
        self._emit("&")
        return position + 1

    # -- tags ----------------------------------------------------------------------------------------

    def _tag(self, position: int) -> int:
        if self.source.startswith("</", position):
            return self._end_tag(position)
        return self._start_tag(position)

    def _start_tag(self, position: int) -> int:
        name_match = _TAG_NAME.match(self.source, position + 1)
        assert name_match is not None  # the pattern matches the empty string
        if name_match.end() >= len(self.source):
            raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(position)}")
        name = name_match.group().lower()
        if name not in _TAG_ENTITY_TYPES:
            raise self._error(f'Unsupported start tag "{name}" at byte offset {self._byte_offset(position)}')
        attributes, after = self._attributes(name, name_match.end(), position)
        entity = self._entity_for(name, attributes, position)
        self.open_tags.append(_OpenTag(name, position, self.offset, entity))
        return after

    def _attributes(self, tag: str, index: int, tag_position: int) -> tuple[dict[str, str], int]:
        """Read ``name="value"`` pairs up to the closing ``>``; unknown attributes are ignored later."""
        attributes: dict[str, str] = {}
        while True:
            index = self._skip_spaces(index)
            if index >= len(self.source):
                raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(tag_position)}")
            if self.source[index] == ">":
                return attributes, index + 1
            name_match = _ATTRIBUTE_NAME.match(self.source, index)
            if name_match is None:
                offset = self._byte_offset(tag_position)
                raise self._error(f'Empty attribute name in the tag "{tag}" at byte offset {offset}')
            index = self._skip_spaces(name_match.end())
            value = ""
            if index < len(self.source) and self.source[index] == "=":
                value, index = self._attribute_value(self._skip_spaces(index + 1), tag_position)
            attributes[name_match.group().lower()] = value

    def _attribute_value(self, index: int, tag_position: int) -> tuple[str, int]:
        if index < len(self.source) and self.source[index] in "\"'":
            closing = self.source.find(self.source[index], index + 1)
            if closing == -1:
                raise self._error(f"Unclosed start tag at byte offset {self._byte_offset(tag_position)}")
            return html.unescape(self.source[index + 1 : closing]), closing + 1
        match = _UNQUOTED_VALUE.match(self.source, index)
        assert match is not None  # the pattern matches the empty string
        return html.unescape(match.group()), match.end()

    def _skip_spaces(self, index: int) -> int:
        match = _SPACES.match(self.source, index)
        assert match is not None  # the pattern matches the empty string
        return match.end()

    def _entity_for(self, name: str, attributes: dict[str, str], position: int) -> dict[str, Any] | None:
        offset = self._byte_offset(position)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise self._error(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if name == "a":
            href = attributes.get("href", "")
            return {"type": "text_link", "url": href} if href else None
        if name == "tg-emoji":
            emoji_id = attributes.get("emoji-id", "")
            if not emoji_id.isdigit():
                raise self._error(f"Custom emoji identifier must be specified at byte offset {offset}")
            return {"type": "custom_emoji", "custom_emoji_id": emoji_id}
        if name == "blockquote" and "expandable" in attributes:
            return {"type": "expandable_blockquote"}
        if name == "code" and attributes.get("class", "").startswith("language-"):
            return {"type": "code", "language": attributes["class"].removeprefix("language-")}
        return {"type": _TAG_ENTITY_TYPES[name]}

    def _end_tag(self, position: int) -> int:
        byte_offset = self._byte_offset(position)
        if not self.open_tags:
            raise self._error(f"Unexpected end tag at byte offset {byte_offset}")
        closing = self.source.find(">", position)
        name = self.source[position + 2 : closing].strip().lower() if closing != -1 else ""
        if closing == -1 or any(char.isspace() for char in name):
            raise self._error(f"Unclosed end tag at byte offset {byte_offset}")
        opened = self.open_tags.pop()
        if name and name != opened.name:
            raise self._error(
                f"Unmatched end tag at byte offset {byte_offset}, "
                f'expected "</{opened.name}>", found "</{name}>"'
            )
        self._close_entity(opened)
        return closing + 1

    def _close_entity(self, opened: _OpenTag) -> None:
        entity, length = opened.entity, self.offset - opened.offset
        if entity is None or length == 0:
            return  # Telegram drops empty entities
        language = entity.pop("language", None) if entity["type"] == "code" else None
        parent = self.open_tags[-1] if self.open_tags else None
        if language and parent and parent.name == "pre" and parent.entity and parent.offset == opened.offset:
            parent.entity["language"] = language  # <pre><code class="language-x"> is one "pre" entity
            return
        self.entities.append({**entity, "offset": opened.offset, "length": length})


def _decode_character_reference(match: re.Match[str]) -> str | None:
    decimal, hexadecimal, name = match.groups()
    if name is not None:
        return _NAMED_CHARACTER_REFERENCES.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


# --------------------------------------------------------------------------------------------------------
# What the server stores
# --------------------------------------------------------------------------------------------------------

# Which fields of a file object each kind shows in its JSON (the rest stays internal).
_FILE_JSON_FIELDS = {
    "photo": ("width", "height", "file_size"),
    "document": ("file_name", "mime_type", "file_size"),
    "video": ("width", "height", "duration", "file_name", "mime_type", "file_size"),
    "audio": ("duration", "file_name", "mime_type", "file_size"),
    "voice": ("duration", "mime_type", "file_size"),
    "sticker": ("width", "height", "emoji", "file_size"),
}
_FILE_ID_PREFIXES = {
    "photo": "AgAC",
    "document": "BQAC",
    "video": "BAAC",
    "audio": "CQAC",
    "voice": "AwAC",
    "sticker": "CAAC",
}
_FILE_FOLDERS = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "audio": "music",
    "voice": "voice",
    "sticker": "stickers",
}
_DEFAULT_EXTENSIONS = {"photo": ".jpg", "video": ".mp4", "audio": ".mp3", "voice": ".oga", "sticker": ".webp"}


@dataclass
class UploadedFile:
    """One file part of a multipart request."""

    filename: str | None
    data: bytes
    content_type: str | None


@dataclass
class StoredFile:
    """A file Telegram knows: uploaded by the bot, or registered by a test as sent by a user.

    ``file_size`` may be larger than ``data`` so that tests can send a "25 MB" document cheaply.
    """

    file_id: str
    file_unique_id: str
    kind: str  # photo | document | video | audio | voice | sticker
    data: bytes
    file_size: int
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    emoji: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The PhotoSize / Document / Video / ... object for a Message."""
        data: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id}
        for key in _FILE_JSON_FIELDS[self.kind]:
            if (value := getattr(self, key)) is not None:
                data[key] = value
        if self.kind == "sticker":
            data.update(type="regular", is_animated=False, is_video=False)
        return data

    def file_json(self) -> dict[str, Any]:
        """The File object getFile answers with."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": self.file_size,
            "file_path": self.file_path,
        }


_MEDIA_KINDS = ("photo", "document", "video", "audio", "voice", "sticker", "animation")


@dataclass
class StoredMessage:
    """A message in a chat as the server knows it now: edits are applied in place, deletion is a flag.

    The bot's reply keyboards are kept in ``keyboard_markup``: Telegram never echoes them in a Message,
    only inline keyboards (``inline_markup``).
    """

    chat: dict[str, Any]
    message_id: int
    sender: dict[str, Any]
    date: int
    content: dict[str, Any]  # {"text", "entities"} or {"photo"/"document"/..., "caption", ...}
    inline_markup: dict[str, Any] | None = None
    keyboard_markup: dict[str, Any] | None = None
    media_group_id: str | None = None
    reply_to: StoredMessage | None = None
    edit_date: int | None = None
    deleted: bool = False
    source: str | None = None  # text or caption exactly as the bot sent it (HTML before parsing)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def from_bot(self) -> bool:
        return bool(self.sender.get("is_bot"))

    @property
    def edited(self) -> bool:
        return self.edit_date is not None

    @property
    def text(self) -> str | None:
        return self.content.get("text")

    @property
    def caption(self) -> str | None:
        return self.content.get("caption")

    @property
    def kind(self) -> str:
        """The first content field the message has: text, photo, document, video, ..."""
        return next((key for key in ("text", *_MEDIA_KINDS) if key in self.content), "other")

    @property
    def file_id(self) -> str | None:
        """The file of a media message; for a photo, the largest size (what a bot should keep)."""
        if self.kind == "photo":
            return self.content["photo"][-1]["file_id"]
        media = self.content.get(self.kind)
        return media.get("file_id") if isinstance(media, dict) else None

    @property
    def file_name(self) -> str | None:
        media = self.content.get(self.kind)
        return media.get("file_name") if isinstance(media, dict) else None

    @property
    def inline_buttons(self) -> list[list[dict[str, Any]]]:
        return (self.inline_markup or {}).get("inline_keyboard", [])

    @property
    def buttons(self) -> list[list[str]]:
        """Texts of the inline buttons, row by row."""
        return [[button["text"] for button in row] for row in self.inline_buttons]

    def to_json(self, *, with_reply: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
            **copy.deepcopy(self.content),
        }
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.media_group_id is not None:
            data["media_group_id"] = self.media_group_id
        if self.inline_markup is not None:
            data["reply_markup"] = copy.deepcopy(self.inline_markup)
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        return data

    def snapshot(self) -> StoredMessage:
        """A frozen copy: what the user saw at one moment, unaffected by later edits."""
        return copy.deepcopy(self)

    def describe(self) -> str:
        """One line for transcripts: ``[document: a.pdf] caption [buttons: A | B]``."""
        parts = [_media_label(self), self.text or self.caption or ""]
        if self.buttons:
            parts.append(f"[buttons: {' | '.join(text for row in self.buttons for text in row)}]")
        parts.append(_keyboard_label(self.keyboard_markup))
        return " ".join(part for part in parts if part).replace("\n", " ⏎ ")


def _media_label(message: StoredMessage) -> str:
    kind = message.kind
    if kind in ("text", "other"):
        return ""
    if kind == "sticker":
        return f"[sticker {message.content['sticker'].get('emoji', '')}]".replace(" ]", "]")
    if message.file_name:
        return f"[{kind}: {message.file_name}]"
    return f"[{kind}]"


def _keyboard_label(markup: dict[str, Any] | None) -> str:
    if not markup:
        return ""
    if "keyboard" in markup:
        texts = [_keyboard_button_text(button) for row in markup["keyboard"] for button in row]
        return f"[keyboard: {' | '.join(texts)}]"
    if markup.get("remove_keyboard"):
        return "[keyboard removed]"
    return "[force reply]" if markup.get("force_reply") else ""


def _keyboard_button_text(button: Any) -> str:
    return button if isinstance(button, str) else str(button.get("text", ""))


@dataclass
class RecordedRequest:
    """One HTTP call of the Bot API, kept in ``server.requests`` for assertions.

    Recorded when it arrives; ``status`` stays 0 while it has no answer (a long poll still waiting,
    or one whose client went away).
    """

    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    timestamp: float
    status: int = 0
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))


@dataclass
class CallbackQueryRecord:
    """A button press sent to the bot, and the bot's answer once it came."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    created_at: float  # time.monotonic(): immune to tests that move the wall clock
    answer: dict[str, Any] | None = None

    @property
    def answered(self) -> bool:
        return self.answer is not None


@dataclass
class _InjectedFailure:
    method: str  # lower-case method name
    remaining: int
    error: TelegramError


@dataclass
class _FloodRule:
    """After ``allowed`` more sending calls, refuse sending for ``retry_after`` seconds, then retire."""

    allowed: int
    retry_after: int
    chat_id: int | None
    blocked_until: float | None = None


@dataclass
class _TranscriptLine:
    chat_id: int
    text: str


class _Pulse:
    """Wakes every waiter when something happens; each waiter then re-checks its own condition.

    Firing sets the current event and replaces it, so there is no clear() to race with.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def until(self, probe: Callable[[], T | None], timeout: float) -> T:
        """Return the first non-None result of ``probe``; raise TimeoutError after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while (result := probe()) is None:
                await self._event.wait()
        return result


# --------------------------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------------------------

# In multipart and urlencoded bodies every value is a string; aiogram JSON-encodes objects and numbers.
# fmt: off
_JSON_FIELDS = frozenset({
    "reply_markup", "media", "entities", "caption_entities", "commands", "scope", "allowed_updates",
    "link_preview_options", "reply_parameters", "menu_button", "rights",
})
_INTEGER_FIELDS = frozenset({
    "chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id", "cache_time",
    "message_thread_id", "duration", "width", "height",
})
_BOOLEAN_FIELDS = frozenset({
    "show_alert", "disable_notification", "protect_content", "disable_web_page_preview",
    "allow_sending_without_reply", "drop_pending_updates", "has_spoiler", "show_caption_above_media",
    "disable_content_type_detection", "for_channels",
})
# fmt: on
_INTEGER = re.compile(r"-?\d+")


async def _read_request_params(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parameters from the query string and a JSON, urlencoded or multipart body; file parts apart."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.method == "POST" and request.body_exists:
        if request.content_type == "application/json":
            body = await _read_json_body(request)
            raw.update(body)
        else:
            try:
                form = await request.post()
            except web.HTTPRequestEntityTooLarge:
                raise TelegramError(413, "Request Entity Too Large") from None
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(value.filename, value.file.read(), value.content_type)
                else:
                    raw[key] = value
    return {key: _decode_field(key, value) for key, value in raw.items()}, files


async def _read_json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise bad_request("can't parse JSON encoded request body") from None
    if not isinstance(body, dict):
        raise bad_request("JSON object expected in the request body")
    return body


def _decode_field(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {key} JSON object") from None
    if key in _INTEGER_FIELDS and _INTEGER.fullmatch(value):
        return int(value)
    if key in _BOOLEAN_FIELDS:
        return value.lower() in ("true", "1")
    return value


# --------------------------------------------------------------------------------------------------------
# Reply markup
# --------------------------------------------------------------------------------------------------------

_INLINE_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_BUTTON_URL = re.compile(r"(https?|tg)://\S+")


def _check_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Validate any reply_markup; an empty inline keyboard means "no keyboard", as in Telegram."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup["inline_keyboard"])
        return markup if markup["inline_keyboard"] else None
    if "keyboard" in markup:
        _check_keyboard(markup["keyboard"])
        return markup
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return markup
    raise bad_request("can't parse reply keyboard markup JSON object")


def _check_inline_only(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Edits can carry only inline keyboards."""
    if markup is not None and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    return markup


def _check_rows(rows: Any, what: str) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f"can't parse {what}: an array of arrays of buttons expected")


def _check_inline_keyboard(rows: Any) -> None:
    _check_rows(rows, "inline keyboard")
    for row in rows:
        for button in row:
            _check_inline_button(button)


def _check_inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not button.get("text"):
        raise bad_request("can't parse inline keyboard button: Text must be non-empty")
    if not any(action in button for action in _INLINE_BUTTON_ACTIONS):
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not _BUTTON_URL.fullmatch(str(button["url"])):
        raise bad_request("BUTTON_URL_INVALID")


def _check_keyboard(rows: Any) -> None:
    _check_rows(rows, "keyboard")
    for row in rows:
        for button in row:
            if not _keyboard_button_text(button):
                raise bad_request("can't parse keyboard button: Text must be non-empty")


# --------------------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------------------

_FALLBACK_PHOTO_SIZE = (1280, 960)  # for bytes that are not an image (users may send anything)
_PHOTO_SIDES = (90, 320)  # the smaller sizes Telegram makes of every photo


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _scaled(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    ratio = min(1.0, max_side / max(size))
    return max(1, round(size[0] * ratio)), max(1, round(size[1] * ratio))


def _thumbnail(data: bytes, max_side: int) -> bytes | None:
    """A JPEG no larger than ``max_side``, or None when the bytes are no image Pillow can read."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.draft("RGB", (max_side, max_side))  # cheap JPEG downscaling while decoding
            small = image.convert("RGB")
            small.thumbnail((max_side, max_side))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=80)
            return out.getvalue()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def _check_photo_upload(upload: UploadedFile) -> None:
    if len(upload.data) > MAX_PHOTO_UPLOAD_SIZE:
        raise bad_request("PHOTO_SAVE_FILE_INVALID")
    size = _image_size(upload.data)
    if size is None:
        raise bad_request("IMAGE_PROCESS_FAILED")
    width, height = size
    if width + height > 10000 or max(size) / max(1, min(size)) > 20:
        raise bad_request("PHOTO_INVALID_DIMENSIONS")


# --------------------------------------------------------------------------------------------------------
# aiogram session
# --------------------------------------------------------------------------------------------------------


class LocalAiohttpSession(AiohttpSession):
    """AiohttpSession for the local server.

    aiogram's close() sleeps 250 ms to let TLS connections shut down; there is no TLS here, and the
    sleep would cost a quarter second per test.
    """

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:  # aiogram keeps it private
            await self._session.close()


Params = dict[str, Any]  # a request's parameters, decoded (see _read_request_params)
Files = dict[str, UploadedFile]  # a request's file parts by name
_ApiMethod = Callable[[Params, Files], Awaitable[Any]]


def _now() -> int:
    return int(time.time())


# --------------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------------


class TelegramServer:
    """A local Bot API for one bot: long polling, messages, files, buttons, and Telegram's refusals."""

    def __init__(
        self,
        *,
        bot_id: int = 123456,
        bot_username: str = "portfolio_test_bot",
        bot_first_name: str = "Портфолио",
        host: str = "127.0.0.1",
        port: int = 0,
        callback_query_lifetime: float = CALLBACK_QUERY_LIFETIME,
        strict_ampersand: bool = True,
        record_requests: bool = True,
    ) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.token = f"{bot_id}:TEST{secrets.token_urlsafe(24)}"  # aiogram reads bot.id from the prefix
        self.callback_query_lifetime = callback_query_lifetime
        self.strict_ampersand = strict_ampersand
        self.record_requests = record_requests  # benchmarks turn it off to keep memory flat
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.dropped_updates: list[dict[str, Any]] = []  # updates the bot's allowed_updates filtered out
        self.bot_settings: dict[str, Any] = {}  # setMyDescription, setChatMenuButton, ... as last set

        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._api_methods = self._method_table()

        self._users: dict[int, FakeUser] = {}
        self._groups: dict[int, GroupChat] = {}
        self._messages: dict[int, dict[int, StoredMessage]] = {}  # chat id -> message id -> message
        self._last_message_ids: dict[int, int] = {}
        self._bot_events: dict[int, list[StoredMessage]] = {}  # chat id -> snapshots of sends and edits
        self._reply_keyboards: dict[int, list[list[str]]] = {}
        self._transcript: list[_TranscriptLine] = []
        self._output_pulse = _Pulse()  # fires on anything the bot does that a user could notice

        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._photo_sets: dict[str, list[StoredFile]] = {}  # any size's file_id -> all sizes
        self._file_numbers = itertools.count(1)
        self._media_group_ids = itertools.count(13_000_000_000_000_000)
        self._callback_query_ids = itertools.count(4_000_000_000_000_000_000)

        self._updates: list[dict[str, Any]] = []  # not yet confirmed by the bot, ascending update_id
        self._last_update_id = 10_000
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._current_poll: object | None = None
        self._updates_pulse = _Pulse()

        self._callback_queries: dict[str, CallbackQueryRecord] = {}
        self._commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._failures: list[_InjectedFailure] = []
        self._flood_rules: list[_FloodRule] = []
        self._requests_in_flight = 0
        self._last_activity = time.monotonic()

    # ======================================================================================================
    # Lifecycle
    # ======================================================================================================

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD_SIZE + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api_request)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file_download)
        # handler_cancellation: a long poll whose client went away (a stopped bot) must end with it.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        self._closing = True
        self._updates_pulse.fire()  # pending long polls answer [] at once
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> TelegramServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def api(self) -> TelegramAPIServer:
        """aiogram's description of this server's URLs."""
        return TelegramAPIServer.from_base(self.base_url)

    def session(self) -> LocalAiohttpSession:
        """A session for ``aiogram.Bot(server.token, session=server.session())``."""
        return LocalAiohttpSession(api=self.api())

    # ======================================================================================================
    # People and chats (the test side)
    # ======================================================================================================

    def user(
        self,
        id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        *,
        username: str | None = None,
        language_code: str | None = "ru",
        started: bool = False,
    ) -> FakeUser:
        """A Telegram user; their private chat has the same id. ``started`` is False until they write."""
        user_id = id if id is not None else self._free_user_id()
        if user_id in self._users or user_id in self._groups:
            raise ValueError(f"chat {user_id} already exists")
        user = FakeUser(
            self,
            user_id,
            first_name or f"User{user_id}",
            last_name,
            username=username,
            language_code=language_code,
            started=started,
        )
        self._users[user_id] = user
        return user

    def _free_user_id(self) -> int:
        user_id = 100_001 + len(self._users)
        while user_id in self._users:
            user_id += 1
        return user_id

    def group(self, chat_id: int, title: str) -> GroupChat:
        """A group chat the bot is a member of (ids below -1e12 are supergroups, as in Telegram)."""
        if chat_id >= 0 or chat_id in self._groups:
            raise ValueError(f"a group needs a new negative id, got {chat_id}")
        group = GroupChat(self, chat_id, title)
        self._groups[chat_id] = group
        return group

    def bot_user_json(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def chat_label(self, chat_id: int) -> str:
        if chat_id in self._users:
            return self._users[chat_id].full_name
        if chat_id in self._groups:
            return self._groups[chat_id].title
        return str(chat_id)

    # ======================================================================================================
    # Files (the test side)
    # ======================================================================================================

    def register_file(
        self,
        data: bytes,
        *,
        kind: str = "document",
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        width: int | None = None,
        height: int | None = None,
        duration: int | None = None,
        emoji: str | None = None,
    ) -> StoredFile:
        """Store bytes as a Telegram file and give them a file_id (a user's upload, or the bot's)."""
        if kind not in _FILE_JSON_FIELDS:
            raise ValueError(f"unknown file kind {kind!r}")
        number = next(self._file_numbers)
        extension = _extension(file_name, mime_type) or _DEFAULT_EXTENSIONS.get(kind, "")
        stored = StoredFile(
            file_id=f"{_FILE_ID_PREFIXES[kind]}{secrets.token_urlsafe(48)}",
            file_unique_id=f"AQAD{secrets.token_urlsafe(9)}",
            kind=kind,
            data=data,
            file_size=file_size if file_size is not None else len(data),
            file_path=f"{_FILE_FOLDERS[kind]}/file_{number}{extension}",
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
            duration=duration,
            emoji=emoji,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def register_photo(self, data: bytes) -> list[StoredFile]:
        """A photo the way Telegram keeps it: three sizes, smallest first, each with its own file_id.

        The largest serves the original bytes; the smaller ones serve real thumbnails when the bytes are
        an image (otherwise the same bytes), so a bot that keeps the wrong size gets a visibly worse file.
        """
        original_size = _image_size(data) or _FALLBACK_PHOTO_SIZE
        sizes = []
        for side in _PHOTO_SIDES:
            width, height = _scaled(original_size, side)
            sizes.append(
                self.register_file(_thumbnail(data, side) or data, kind="photo", width=width, height=height)
            )
        sizes.append(self.register_file(data, kind="photo", width=original_size[0], height=original_size[1]))
        for size in sizes:
            self._photo_sets[size.file_id] = sizes
        return sizes

    def stored_file(self, file_id: str) -> StoredFile:
        return self._files[file_id]

    def file_bytes(self, file_id: str) -> bytes:
        """What a file_id downloads to, e.g. the PDF the bot sent."""
        return self._files[file_id].data

    # ======================================================================================================
    # Updates (the test side)
    # ======================================================================================================

    def inject_update(self, update: dict[str, Any]) -> int:
        """Queue a raw update for the bot; ``update_id`` is assigned unless given, and ids only grow."""
        update = dict(update)
        update_id = update.setdefault("update_id", self._last_update_id + 1)
        if update_id <= self._last_update_id:
            raise ValueError(f"update_id {update_id} must be greater than {self._last_update_id}")
        self._last_update_id = update_id
        self._updates.append(update)
        self._touch()
        self._updates_pulse.fire()
        return update_id

    def push_update(self, update_type: str, payload: dict[str, Any]) -> int:
        return self.inject_update({update_type: payload})

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates the bot has not confirmed yet (delivered or not)."""
        return list(self._updates)

    def add_user_message(
        self,
        sender: FakeUser,
        chat: dict[str, Any],
        content: dict[str, Any],
        *,
        media_group_id: str | None = None,
        reply_to: int | None = None,
    ) -> StoredMessage:
        """Store a message a user wrote (no update yet: albums push theirs in a chosen order)."""
        chat_id = int(chat["id"])
        message = StoredMessage(
            chat=chat,
            message_id=self._next_message_id(chat_id),
            sender=sender.to_json(),
            date=_now(),
            content=content,
            media_group_id=media_group_id,
            reply_to=self.message(chat_id, reply_to) if reply_to is not None else None,
        )
        self._messages.setdefault(chat_id, {})[message.message_id] = message
        author = "user" if chat_id == sender.id else sender.first_name
        self._log(chat_id, _arrow_line(f"→ {author}", message.describe()))
        return message

    def add_callback_query(
        self, sender: FakeUser, chat: dict[str, Any], message_id: int, data: str, *, label: str
    ) -> CallbackQueryRecord:
        """Send the bot a button press on ``message_id`` (which may not exist, for forged presses)."""
        chat_id = int(chat["id"])
        query = CallbackQueryRecord(
            id=str(next(self._callback_query_ids)),
            user_id=sender.id,
            chat_id=chat_id,
            message_id=message_id,
            data=data,
            created_at=time.monotonic(),
        )
        self._callback_queries[query.id] = query
        message = self.message(chat_id, message_id)
        # Telegram sends an "inaccessible message" (date 0) when it cannot show the message itself.
        message_json = message.to_json() if message else {"chat": chat, "message_id": message_id, "date": 0}
        self._log(chat_id, f"→ {'user' if chat_id == sender.id else sender.first_name} [pressed: {label}]")
        self.push_update(
            "callback_query",
            {
                "id": query.id,
                "from": sender.to_json(),
                "message": message_json,
                "chat_instance": str(abs(chat_id) * 7919),
                "data": data,
            },
        )
        return query

    def new_media_group_id(self) -> str:
        return str(next(self._media_group_ids))

    def log_event(self, chat_id: int, line: str) -> None:
        """Add a line to the transcript (used by FakeUser for things like blocking the bot)."""
        self._log(chat_id, line)

    # ======================================================================================================
    # Failures on demand (the test side)
    # ======================================================================================================

    def fail_next(
        self,
        method: str,
        count: int = 1,
        retry_after: int = 5,
        *,
        error_code: int | None = None,
        description: str | None = None,
    ) -> None:
        """Make the next ``count`` calls of ``method`` fail: 429 "retry after N" unless an error is given."""
        if error_code is None:
            error = too_many_requests(retry_after)
        else:
            error = TelegramError(error_code, description or f"Error {error_code}")
        self._failures.append(_InjectedFailure(method.lower(), count, error))

    def flood_after(self, n_messages: int, retry_after: int, *, chat_id: int | None = None) -> None:
        """Let ``n_messages`` more sending calls through (to ``chat_id``, or to anyone), then answer 429
        to every sending call for ``retry_after`` real seconds; after that the rule is gone."""
        self._flood_rules.append(_FloodRule(n_messages, retry_after, chat_id))

    def clear_failures(self) -> None:
        self._failures.clear()
        self._flood_rules.clear()

    # ======================================================================================================
    # Reading what happened (the test side)
    # ======================================================================================================

    def message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        """The current state of a message (deleted ones included, with ``deleted=True``)."""
        return self._messages.get(chat_id, {}).get(message_id)

    def sent_to(self, chat_id: int) -> list[StoredMessage]:
        """Every message the bot sent to a chat, in order, edits applied, deleted ones flagged."""
        return [message for message in self._messages.get(chat_id, {}).values() if message.from_bot]

    def bot_events(self, chat_id: int) -> list[StoredMessage]:
        """Snapshots of each send and each edit by the bot in a chat, in order (``next_message`` reads them)."""
        return self._bot_events.get(chat_id, [])

    def reply_keyboard(self, chat_id: int) -> list[list[str]]:
        """The reply keyboard the bot last showed in a chat, as rows of texts ([] if none or removed)."""
        return self._reply_keyboards.get(chat_id, [])

    def callback_query(self, query_id: str) -> CallbackQueryRecord:
        return self._callback_queries[query_id]

    def calls(self, method: str) -> list[RecordedRequest]:
        """Recorded requests of one method (case-insensitive), in order."""
        return [request for request in self.requests if request.method.lower() == method.lower()]

    def my_commands(
        self, language_code: str = "", scope: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The commands the bot set for a scope and language (exactly, without Telegram's fallbacks)."""
        return self._commands.get((_scope_key(scope), language_code), [])

    def transcript(self, chat_id: int | None = None) -> list[str]:
        """Readable lines of everything users and the bot did; all chats (prefixed) or one chat."""
        if chat_id is not None:
            return [line.text for line in self._transcript if line.chat_id == chat_id]
        return [f"[{self.chat_label(line.chat_id)}] {line.text}" for line in self._transcript]

    async def wait_until(self, probe: Callable[[], T | None], timeout: float) -> T:
        """Wait until ``probe`` (re-run after every bot action) returns something other than None."""
        return await self._output_pulse.until(probe, timeout)

    async def idle(self, timeout: float = 5.0, quiet: float = 0.15) -> None:
        """Wait until the bot has confirmed every update and made no request for ``quiet`` seconds.

        Use it to assert that nothing more was sent. The quiet period is a heuristic: a handler that
        thinks longer than ``quiet`` between two requests would look idle.
        """
        deadline = time.monotonic() + timeout
        while not self._is_idle(quiet):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the bot did not become idle within {timeout}s: {len(self._updates)} update(s) "
                    f"unconfirmed, {self._requests_in_flight} request(s) in progress"
                )
            await asyncio.sleep(0.02)

    def _is_idle(self, quiet: float) -> bool:
        return (
            not self._updates
            and self._requests_in_flight == 0
            and time.monotonic() - self._last_activity >= quiet
        )

    def _touch(self) -> None:
        self._last_activity = time.monotonic()

    def _log(self, chat_id: int, line: str) -> None:
        self._transcript.append(_TranscriptLine(chat_id, line))

    # ======================================================================================================
    # HTTP plumbing
    # ======================================================================================================

    async def _handle_api_request(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        record = RecordedRequest(method=method, params={}, files={}, timestamp=time.time())
        if self.record_requests:
            self.requests.append(record)  # at arrival: a long poll shows up while it waits
        long_poll = method.lower() == "getupdates"  # waiting for updates is not "the bot doing something"
        if not long_poll:
            self._requests_in_flight += 1
            self._touch()
        try:
            await self._call(request, record)
        finally:
            if not long_poll:
                self._requests_in_flight -= 1
                self._touch()
        return web.json_response(record.response, status=record.status, dumps=_json_dumps)

    async def _call(self, request: web.Request, record: RecordedRequest) -> None:
        """Run one API method and fill in the record's answer (a TelegramError becomes Telegram's JSON)."""
        try:
            if request.match_info["token"] != self.token:
                raise TelegramError(401, "Unauthorized")
            record.params, record.files = await _read_request_params(request)
            handler = self._api_methods.get(record.method.lower())
            if handler is None:
                raise TelegramError(404, "Not Found")
            self._apply_injected_failures(record.method.lower(), record.params)
            result = await handler(record.params, record.files)
            record.status, record.response = 200, {"ok": True, "result": result}
        except TelegramError as error:
            record.status, record.response = error.error_code, error.to_json()

    async def _handle_file_download(self, request: web.Request) -> web.Response:
        self._touch()
        stored = self._files_by_path.get(request.match_info["file_path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response(TelegramError(404, "Not Found").to_json(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    def _apply_injected_failures(self, method: str, params: dict[str, Any]) -> None:
        for failure in self._failures:
            if failure.method == method and failure.remaining > 0:
                failure.remaining -= 1
                self._failures = [kept for kept in self._failures if kept.remaining > 0]
                raise failure.error
        if method in SENDING_METHODS:
            self._apply_flood_rules(params.get("chat_id"))

    def _apply_flood_rules(self, chat_id: Any) -> None:
        now = time.monotonic()
        for rule in list(self._flood_rules):
            if rule.chat_id is not None and rule.chat_id != chat_id:
                continue
            if rule.blocked_until is None and rule.allowed > 0:
                rule.allowed -= 1
                continue
            if rule.blocked_until is None:
                rule.blocked_until = now + rule.retry_after
            remaining = rule.blocked_until - now
            if remaining > 0:
                raise too_many_requests(max(1, math.ceil(remaining)))
            self._flood_rules.remove(rule)  # the wait is over

    def _method_table(self) -> dict[str, _ApiMethod]:
        methods: dict[str, _ApiMethod] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "sendMediaGroup": self._send_media_group,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "getFile": self._get_file,
            "sendChatAction": self._send_chat_action,
            "setChatMenuButton": self._store_setting("menu_button"),
            "getChatMenuButton": self._get_chat_menu_button,
            "setMyDescription": self._store_setting("description"),
            "setMyShortDescription": self._store_setting("short_description"),
            "setMyName": self._store_setting("name"),
            "close": self._accept,
            "logOut": self._accept,
        }
        return {name.lower(): handler for name, handler in methods.items()}

    # ======================================================================================================
    # Bot API: identity, updates, settings
    # ======================================================================================================

    async def _get_me(self, params: Params, files: Files) -> dict[str, Any]:
        return {
            **self.bot_user_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: Params, files: Files) -> list[dict[str, Any]]:
        """Long polling: confirm what is below ``offset``, answer as soon as something is deliverable."""
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(int(params.get("timeout") or 0), 0)
        if params.get("allowed_updates") is not None:
            self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_ALLOWED_UPDATES
        self._confirm_updates(params.get("offset"))
        poll = object()
        self._current_poll = poll
        self._updates_pulse.fire()  # an older poll still waiting is now superseded

        def probe() -> list[dict[str, Any]] | None:
            if self._current_poll is not poll:
                raise TelegramError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = self._deliverable_updates(limit)
            return batch if batch or self._closing else None

        try:
            batch = await self._updates_pulse.until(probe, timeout)
        except TimeoutError:
            batch = []
        if batch:
            self._touch()
        return batch

    def _confirm_updates(self, offset: int | None) -> None:
        if not offset:
            return
        before = len(self._updates)
        if offset > 0:
            self._updates = [update for update in self._updates if update["update_id"] >= offset]
        else:
            self._updates = self._updates[offset:]  # -N: forget all but the last N
        if len(self._updates) != before:
            self._touch()

    def _deliverable_updates(self, limit: int) -> list[dict[str, Any]]:
        """Drop what allowed_updates excludes (Telegram never stores those) and return the rest."""
        kept = []
        for update in self._updates:
            if _update_type(update) in self._allowed_updates:
                kept.append(update)
            else:
                self.dropped_updates.append(update)
        self._updates = kept
        return copy.deepcopy(kept[:limit])

    async def _delete_webhook(self, params: Params, files: Files) -> bool:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: Params, files: Files) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    async def _set_my_commands(self, params: Params, files: Files) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object")
        for command in commands:
            _check_bot_command(command)
        self._commands[(_scope_key(params.get("scope")), params.get("language_code") or "")] = commands
        return True

    async def _get_my_commands(self, params: Params, files: Files) -> list[Any]:
        return self.my_commands(params.get("language_code") or "", params.get("scope"))

    async def _delete_my_commands(self, params: Params, files: Files) -> bool:
        self._commands.pop((_scope_key(params.get("scope")), params.get("language_code") or ""), None)
        return True

    def _store_setting(self, name: str) -> _ApiMethod:
        async def store(params: Params, files: Files) -> bool:
            self.bot_settings[name] = params
            return True

        return store

    async def _get_chat_menu_button(self, params: Params, files: Files) -> Any:
        return self.bot_settings.get("menu_button", {}).get("menu_button", {"type": "default"})

    async def _accept(self, params: Params, files: Files) -> bool:
        return True

    # ======================================================================================================
    # Bot API: sending
    # ======================================================================================================

    async def _send_message(self, params: Params, files: Files) -> dict[str, Any]:
        chat = self._writable_chat(params.get("chat_id"))
        parsed = self._message_text(params)
        markup = _check_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        message = self._store_bot_message(
            chat, _text_content(parsed), markup, reply_to, source=params.get("text")
        )
        return message.to_json()

    async def _send_photo(self, params: Params, files: Files) -> dict[str, Any]:
        return self._send_media("photo", params, files)

    async def _send_document(self, params: Params, files: Files) -> dict[str, Any]:
        return self._send_media("document", params, files)

    def _send_media(self, kind: str, params: Params, files: Files) -> dict[str, Any]:
        chat = self._writable_chat(params.get("chat_id"))
        content = self._media_content(kind, params.get(kind), files, field_name=kind)
        content.update(_caption_content(self._caption(params)))
        markup = _check_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat, params)
        message = self._store_bot_message(chat, content, markup, reply_to, source=params.get("caption"))
        return message.to_json()

    async def _send_media_group(self, params: Params, files: Files) -> list[Any]:
        chat = self._writable_chat(params.get("chat_id"))
        media = params.get("media")
        if not isinstance(media, list) or not all(isinstance(item, dict) for item in media):
            raise bad_request('parameter "media" is required and must be an array of InputMedia')
        if not MEDIA_GROUP_MIN <= len(media) <= MEDIA_GROUP_MAX:
            # Per the Bot API docs; Telegram has been seen to accept a single item.
            raise bad_request(f"media group must include {MEDIA_GROUP_MIN}-{MEDIA_GROUP_MAX} items")
        _check_media_group_types([str(item.get("type")) for item in media])
        contents = []  # every item is checked before anything is sent, as Telegram does
        for item in media:
            content = self._media_content(item["type"], item.get("media"), files, field_name="media")
            content.update(_caption_content(self._caption(item)))
            contents.append(content)
        reply_to = self._reply_target(chat, params)
        group_id = self.new_media_group_id()
        messages = [
            self._store_bot_message(
                chat, content, None, reply_to, media_group_id=group_id, source=item.get("caption")
            )
            for content, item in zip(contents, media, strict=True)
        ]
        return [message.to_json() for message in messages]

    async def _send_chat_action(self, params: Params, files: Files) -> bool:
        self._writable_chat(params.get("chat_id"))
        if params.get("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _store_bot_message(
        self,
        chat: dict[str, Any],
        content: dict[str, Any],
        markup: dict[str, Any] | None,
        reply_to: StoredMessage | None,
        *,
        media_group_id: str | None = None,
        source: str | None = None,
    ) -> StoredMessage:
        chat_id = int(chat["id"])
        inline = markup if markup is not None and "inline_keyboard" in markup else None
        keyboard = markup if inline is None else None
        message = StoredMessage(
            chat=chat,
            message_id=self._next_message_id(chat_id),
            sender=self.bot_user_json(),
            date=_now(),
            content=content,
            inline_markup=inline,
            keyboard_markup=keyboard,
            media_group_id=media_group_id,
            reply_to=reply_to,
            source=source,
        )
        self._messages.setdefault(chat_id, {})[message.message_id] = message
        if keyboard is not None:
            self._remember_reply_keyboard(chat_id, keyboard)
        self._bot_event(message, _arrow_line("← bot", message.describe()))
        return message

    def _bot_event(self, message: StoredMessage, line: str) -> None:
        """Make a send or an edit visible to users: their inbox, the transcript, and waiters."""
        self._bot_events.setdefault(message.chat_id, []).append(message.snapshot())
        self._log(message.chat_id, line)
        self._output_pulse.fire()

    def _remember_reply_keyboard(self, chat_id: int, markup: dict[str, Any]) -> None:
        if "keyboard" in markup:
            self._reply_keyboards[chat_id] = [
                [_keyboard_button_text(b) for b in row] for row in markup["keyboard"]
            ]
        elif markup.get("remove_keyboard"):
            self._reply_keyboards.pop(chat_id, None)

    # ======================================================================================================
    # Bot API: editing and deleting
    # ======================================================================================================

    async def _edit_message_text(self, params: Params, files: Files) -> dict[str, Any]:
        message = self._editable_message(params)
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        parsed = self._message_text(params)
        markup = _check_inline_only(_check_reply_markup(params.get("reply_markup")))
        self._apply_edit(
            message, _text_content(parsed), ("text", "entities"), markup, source=params.get("text")
        )
        return message.to_json()

    async def _edit_message_caption(self, params: Params, files: Files) -> dict[str, Any]:
        message = self._editable_message(params)
        if message.kind not in _MEDIA_KINDS or message.kind == "sticker":
            raise bad_request("there is no caption in the message to edit")
        changes = _caption_content(self._caption(params))
        markup = _check_inline_only(_check_reply_markup(params.get("reply_markup")))
        self._apply_edit(
            message, changes, ("caption", "caption_entities"), markup, source=params.get("caption")
        )
        return message.to_json()

    async def _edit_message_reply_markup(self, params: Params, files: Files) -> dict[str, Any]:
        message = self._editable_message(params)
        markup = _check_inline_only(_check_reply_markup(params.get("reply_markup")))
        self._apply_edit(message, {}, (), markup, source=message.source)
        return message.to_json()

    def _editable_message(self, params: dict[str, Any]) -> StoredMessage:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # inline mode is not modelled
        chat = self._writable_chat(params.get("chat_id"))
        if params.get("message_id") is None:
            raise bad_request("message identifier is not specified")
        message = self.message(int(chat["id"]), int(params["message_id"]))
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(
        self,
        message: StoredMessage,
        changes: dict[str, Any],
        replaced_keys: tuple[str, ...],
        markup: dict[str, Any] | None,
        *,
        source: str | None,
    ) -> None:
        """Replace content keys and the inline keyboard (an edit without reply_markup removes it)."""
        content = {key: value for key, value in message.content.items() if key not in replaced_keys}
        content.update(changes)
        if content == message.content and markup == message.inline_markup:
            raise bad_request(NOT_MODIFIED)
        message.content, message.inline_markup, message.source = content, markup, source
        message.edit_date = _now()
        self._bot_event(message, _arrow_line("← bot (edited)", message.describe()))

    async def _delete_message(self, params: Params, files: Files) -> bool:
        chat = self._known_chat(params.get("chat_id"))
        message_id = params.get("message_id")
        message = self.message(int(chat["id"]), int(message_id)) if message_id is not None else None
        if message is None or message.deleted:
            raise bad_request("message to delete not found")
        if _now() - message.date > MESSAGE_DELETE_WINDOW:
            raise bad_request("message can't be deleted for everyone")
        message.deleted = True
        self._log(message.chat_id, f"← bot deleted #{message.message_id}: {message.describe()[:60]}")
        self._output_pulse.fire()
        return True

    # ======================================================================================================
    # Bot API: callback queries and files
    # ======================================================================================================

    async def _answer_callback_query(self, params: Params, files: Files) -> bool:
        query = self._callback_queries.get(str(params.get("callback_query_id", "")))
        if (
            query is None
            or query.answered
            or time.monotonic() - query.created_at > self.callback_query_lifetime
        ):
            raise bad_request(QUERY_TOO_OLD)
        text = str(params.get("text") or "")
        if len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        query.answer = {"text": text, "show_alert": bool(params.get("show_alert")), "url": params.get("url")}
        if text:
            self._log(query.chat_id, f"← bot ({'alert' if query.answer['show_alert'] else 'toast'}): {text}")
        self._output_pulse.fire()
        return True

    async def _get_file(self, params: Params, files: Files) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise bad_request("file is too big")
        return stored.file_json()

    # ======================================================================================================
    # Shared checks
    # ======================================================================================================

    def _known_chat(self, chat_id: Any) -> dict[str, Any]:
        """The Chat object for ``chat_id``, or Telegram's "chat not found"."""
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        if isinstance(chat_id, int) or (isinstance(chat_id, str) and _INTEGER.fullmatch(chat_id)):
            number = int(chat_id)
            if number in self._users:
                return self._users[number].chat_json()
            if number in self._groups:
                return self._groups[number].to_json()
        raise bad_request("chat not found")  # @usernames of people don't resolve for bots either

    def _writable_chat(self, chat_id: Any) -> dict[str, Any]:
        """A chat the bot may write to: private chats need a user who started and didn't block the bot."""
        chat = self._known_chat(chat_id)
        user = self._users.get(int(chat["id"]))
        if user is not None and user.blocked:
            raise forbidden("bot was blocked by the user")
        if user is not None and not user.started:
            raise forbidden("bot can't initiate conversation with a user")
        return chat

    def _formatted(self, params: dict[str, Any], text_key: str, entities_key: str) -> ParsedText:
        raw = str(params.get(text_key) or "")
        parse_mode = str(params.get("parse_mode") or "").lower()
        if parse_mode == "html":
            return parse_html(raw, strict_ampersand=self.strict_ampersand)
        if parse_mode:
            # Stricter than Telegram for Markdown/MarkdownV2: not modelled, and the project writes HTML.
            raise bad_request(f"unsupported parse_mode {params['parse_mode']!r} (only HTML is modelled here)")
        return ParsedText(raw, list(params.get(entities_key) or []))

    def _message_text(self, params: dict[str, Any]) -> ParsedText:
        parsed = self._formatted(params, "text", "entities")
        if not parsed.text.strip():
            raise bad_request("message text is empty")
        if len(parsed.text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return parsed

    def _caption(self, params: dict[str, Any]) -> ParsedText | None:
        if not params.get("caption"):
            return None
        parsed = self._formatted(params, "caption", "caption_entities")
        if len(parsed.text) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return parsed if parsed.text.strip() else None

    def _reply_target(self, chat: dict[str, Any], params: dict[str, Any]) -> StoredMessage | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        target = self.message(int(chat["id"]), int(message_id))
        if target is not None and not target.deleted:
            return target
        if reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply")):
            return None
        raise bad_request("message to be replied not found")

    def _media_content(
        self, kind: str, value: Any, files: dict[str, UploadedFile], *, field_name: str
    ) -> dict[str, Any]:
        """``{"photo": [sizes]}`` or ``{"document": {...}}`` for an upload or a known file_id."""
        upload = self._uploaded(value, files, field_name)
        if kind == "photo":
            if upload is not None:
                _check_photo_upload(upload)
                sizes = self.register_photo(upload.data)
            else:
                stored = self._known_file(value, "photo")
                sizes = self._photo_sets.get(stored.file_id, [stored])
            return {"photo": [size.to_json() for size in sizes]}
        if upload is not None:
            mime_type = mimetypes.guess_type(upload.filename or "")[0] or "application/octet-stream"
            stored = self.register_file(
                upload.data,
                kind=kind,
                file_name=upload.filename,
                mime_type=mime_type,
                **_media_defaults(kind),
            )
        else:
            stored = self._known_file(value, kind)
        return {kind: stored.to_json()}

    def _uploaded(self, value: Any, files: dict[str, UploadedFile], field_name: str) -> UploadedFile | None:
        """The uploaded part ``value`` refers to (``attach://name``, or a part named like the field);
        None when ``value`` is a file_id."""
        if isinstance(value, str) and value.startswith("attach://"):
            name = value.removeprefix("attach://")
            if name not in files:
                raise bad_request(f'file "{name}" must be attached to the request')
            upload = files[name]
        elif value is None and field_name in files:
            upload = files[field_name]
        elif not value:
            raise bad_request(f"there is no {field_name} in the request")
        elif isinstance(value, str) and value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")  # the test server has no internet
        else:
            return None
        if not upload.data:
            raise bad_request("file must be non-empty")
        if len(upload.data) > MAX_UPLOAD_SIZE:
            raise TelegramError(413, "Request Entity Too Large")
        return upload

    def _known_file(self, file_id: Any, kind: str) -> StoredFile:
        stored = self._files.get(str(file_id))
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if (stored.kind == "photo") != (kind == "photo"):
            raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored

    def _next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by users' and the bot's messages, as in Telegram."""
        self._last_message_ids[chat_id] = self._last_message_ids.get(chat_id, 0) + 1
        return self._last_message_ids[chat_id]


# --------------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------------


def _json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _update_type(update: dict[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


def _scope_key(scope: dict[str, Any] | None) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _extension(file_name: str | None, mime_type: str | None) -> str:
    if file_name and "." in file_name:
        return "." + file_name.rsplit(".", 1)[1].lower()
    return (mimetypes.guess_extension(mime_type) or "") if mime_type else ""


def _media_defaults(kind: str) -> dict[str, int]:
    """Fields Telegram always fills for a kind (the server does not inspect the media itself)."""
    if kind == "video":
        return {"width": 1280, "height": 720, "duration": 1}
    if kind in ("audio", "voice"):
        return {"duration": 1}
    return {}


def _text_content(parsed: ParsedText) -> dict[str, Any]:
    content: dict[str, Any] = {"text": parsed.text}
    if parsed.entities:
        content["entities"] = parsed.entities
    return content


def _caption_content(parsed: ParsedText | None) -> dict[str, Any]:
    if parsed is None:
        return {}
    content: dict[str, Any] = {"caption": parsed.text}
    if parsed.entities:
        content["caption_entities"] = parsed.entities
    return content


def _arrow_line(who: str, description: str) -> str:
    """``← bot: text`` for text, ``← bot [document: a.pdf]`` for media."""
    return f"{who} {description}" if description.startswith("[") else f"{who}: {description}"


def _check_media_group_types(kinds: list[str]) -> None:
    for kind in kinds:
        if kind not in ("photo", "video", "document", "audio"):
            raise bad_request(f'can\'t parse InputMedia: unsupported media type "{kind}"')
    for lonely in ("document", "audio"):
        if lonely in kinds and set(kinds) != {lonely}:
            raise bad_request(f"{lonely} can't be mixed with other media types")


_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")


def _check_bot_command(command: Any) -> None:
    if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
        raise bad_request("BOT_COMMAND_INVALID")
    if not 1 <= len(str(command.get("description") or "")) <= 256:
        raise bad_request("command description must be 1-256 characters long")
