"""People and group chats on the local Telegram server: what they send to the bot and what they see.

Tests read like user stories: a FakeUser writes, presses buttons found by their text, and waits for the
bot's answers; when something is missing, the assertion shows the conversation so far::

    anna = server.user(first_name="Анна")
    anna.send_text("/start")
    menu = await anna.next_message()
    anna.press("Мои достижения")
    await anna.wait_for("Портфолио пусто")

Sending is synchronous (it only queues an update for the bot); reading waits for the bot.
"""

# ruff: noqa: ASYNC109 - waiting helpers take timeout= (next_message(timeout=5)), as tests read best
from __future__ import annotations

import mimetypes
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.telegram_server import CallbackQueryRecord, StoredMessage, TelegramServer

DEFAULT_TIMEOUT = 5.0
SUPERGROUP_IDS_BELOW = -1_000_000_000_000  # Telegram's supergroup ids look like -100xxxxxxxxxx

_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]+)?")
# Minimal headers, so that sniffing tools see the right type; the content is never played.
_FAKE_VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
_FAKE_VOICE = b"OggS\x00\x02" + b"\x00" * 22
_FAKE_STICKER = b"RIFF\x1a\x00\x00\x00WEBPVP8 "

# An album item: (bytes, "photo" | "document" | "video") or (bytes, kind, file name).
AlbumItem = tuple[bytes, str] | tuple[bytes, str, str | None]


class ChatView:
    """One chat as a person in it sees the bot: messages arriving, edits, and the transcript.

    Reading keeps a cursor: ``next_message`` hands out the bot's sends and edits one by one, each once,
    so a test reads the conversation in order.
    """

    def __init__(self, server: TelegramServer, chat_id: int) -> None:
        self.server = server
        self.chat_id = chat_id
        self._read = 0

    @property
    def label(self) -> str:
        return str(self.chat_id)

    @property
    def messages(self) -> list[StoredMessage]:
        """The bot's messages in this chat as they are now (edits applied, deleted ones left out)."""
        return [message for message in self.server.sent_to(self.chat_id) if not message.deleted]

    @property
    def last_message(self) -> StoredMessage | None:
        messages = self.messages
        return messages[-1] if messages else None

    @property
    def transcript(self) -> list[str]:
        """Every interaction in this chat, in order: ``→ user: hi``, ``← bot: text [buttons: A | B]``."""
        return self.server.transcript(self.chat_id)

    def read_all(self) -> list[StoredMessage]:
        """Consume and return every send or edit not read yet, without waiting."""
        events = self.server.bot_events(self.chat_id)[self._read :]
        self._read += len(events)
        return events

    async def next_message(self, timeout: float = DEFAULT_TIMEOUT) -> StoredMessage:
        """The bot's next send or edit in this chat not read yet: a snapshot, ``.edited`` tells which."""
        return await self._next_matching(lambda message: True, timeout, "message from the bot")

    async def wait_for(
        self, match: str | Callable[[StoredMessage], bool], timeout: float = DEFAULT_TIMEOUT
    ) -> StoredMessage:
        """The next unread send or edit that matches; the unread ones before it count as read.

        ``match`` is a predicate, or a substring of the message's text or caption or of its transcript
        line (which adds ``[document: name.pdf]`` and ``[buttons: A | B]``).
        """
        if isinstance(match, str):
            needle = match
            return await self._next_matching(
                lambda message: _mentions(message, needle), timeout, f"bot message containing {needle!r}"
            )
        return await self._next_matching(match, timeout, "bot message matching the predicate")

    async def _next_matching(
        self, predicate: Callable[[StoredMessage], bool], timeout: float, what: str
    ) -> StoredMessage:
        def probe() -> StoredMessage | None:
            events = self.server.bot_events(self.chat_id)
            for index in range(self._read, len(events)):
                if predicate(events[index]):
                    self._read = index + 1
                    return events[index]
            return None

        try:
            return await self.server.wait_until(probe, timeout)
        except TimeoutError:
            raise AssertionError(self._report(f"No {what} in {self.label} within {timeout}s.")) from None

    def _report(self, headline: str, lines: int = 15) -> str:
        tail = self.transcript[-lines:]
        return "\n".join(
            [headline, f"Transcript (last {len(tail)} lines):", *(f"    {line}" for line in tail)]
        )


class GroupChat(ChatView):
    """A group the bot is in; users write there with ``user.send_text(..., chat=group)``."""

    def __init__(self, server: TelegramServer, chat_id: int, title: str) -> None:
        super().__init__(server, chat_id)
        self.id = chat_id
        self.title = title

    @property
    def label(self) -> str:
        return f"group «{self.title}»"

    def to_json(self) -> dict[str, Any]:
        chat_type = "supergroup" if self.id < SUPERGROUP_IDS_BELOW else "group"
        return {"id": self.id, "type": chat_type, "title": self.title}


@dataclass
class PressedButton:
    """A button press the bot received; ``await wait_answer()`` for its toast or alert."""

    server: TelegramServer
    query: CallbackQueryRecord

    @property
    def id(self) -> str:
        return self.query.id

    @property
    def data(self) -> str:
        return self.query.data

    @property
    def answer(self) -> dict[str, Any] | None:
        """``{"text", "show_alert", "url"}`` once the bot answered, else None."""
        return self.query.answer

    async def wait_answer(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        try:
            return await self.server.wait_until(lambda: self.query.answer, timeout)
        except TimeoutError:
            raise AssertionError(
                f"The bot did not answer the press on {self.data!r} within {timeout}s "
                "(the user would watch a spinning clock on the button)."
            ) from None


class FakeUser(ChatView):
    """A Telegram user: their private chat with the bot has the same id as they do.

    ``started`` is False until the user first writes to the bot; until then, and while ``blocked``,
    the bot gets 403 Forbidden when writing to them, as with Telegram.
    """

    def __init__(
        self,
        server: TelegramServer,
        id: int,
        first_name: str,
        last_name: str | None = None,
        *,
        username: str | None = None,
        language_code: str | None = "ru",
        started: bool = False,
    ) -> None:
        super().__init__(server, id)
        self.id = id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.started = started
        self.blocked = False

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @property
    def label(self) -> str:
        return f"the chat with {self.full_name}"

    def to_json(self) -> dict[str, Any]:
        """The User object."""
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        return data

    def chat_json(self) -> dict[str, Any]:
        """The Chat object of the private chat with the bot."""
        data: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        optional = {"last_name": self.last_name, "username": self.username}
        data.update({key: value for key, value in optional.items() if value is not None})
        return data

    # -- writing -------------------------------------------------------------------------------------

    def send_text(
        self, text: str, *, chat: GroupChat | None = None, reply_to: int | None = None
    ) -> StoredMessage:
        """A text message; ``/command args`` gets a bot_command entity, as Telegram adds one."""
        content: dict[str, Any] = {"text": text}
        command = _COMMAND.match(text)
        if command and (command.end() == len(text) or text[command.end()].isspace()):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": command.end()}]
        return self._send(content, chat, reply_to=reply_to)

    def send_photo(
        self, data: bytes, caption: str | None = None, *, forward: bool = False, chat: GroupChat | None = None
    ) -> StoredMessage:
        """A photo, arriving as three sizes (the largest is the original); ``forward`` marks it forwarded."""
        content = self._photo_content(data)
        if forward:
            content["forward_origin"] = {
                "type": "hidden_user",
                "sender_user_name": "Другой человек",
                "date": int(time.time()) - 3600,
            }
        return self._send(_with_caption(content, caption), chat)

    def send_document(
        self,
        data: bytes,
        filename: str = "document.pdf",
        mime_type: str | None = None,
        caption: str | None = None,
        *,
        file_size: int | None = None,
        chat: GroupChat | None = None,
    ) -> StoredMessage:
        """A file; ``file_size`` may claim more than ``data`` holds (to test the 20 MB limit cheaply)."""
        stored = self.server.register_file(
            data,
            kind="document",
            file_name=filename,
            mime_type=mime_type or _guess_mime(filename),
            file_size=file_size,
        )
        return self._send(_with_caption({"document": stored.to_json()}, caption), chat)

    def send_video(
        self,
        data: bytes = _FAKE_VIDEO,
        caption: str | None = None,
        *,
        duration: int = 5,
        filename: str = "video.mp4",
        file_size: int | None = None,
        chat: GroupChat | None = None,
    ) -> StoredMessage:
        stored = self.server.register_file(
            data,
            kind="video",
            file_name=filename,
            mime_type="video/mp4",
            file_size=file_size,
            width=1280,
            height=720,
            duration=duration,
        )
        return self._send(_with_caption({"video": stored.to_json()}, caption), chat)

    def send_voice(
        self, data: bytes = _FAKE_VOICE, *, duration: int = 3, chat: GroupChat | None = None
    ) -> StoredMessage:
        stored = self.server.register_file(data, kind="voice", mime_type="audio/ogg", duration=duration)
        return self._send({"voice": stored.to_json()}, chat)

    def send_sticker(self, emoji: str = "👍", *, chat: GroupChat | None = None) -> StoredMessage:
        stored = self.server.register_file(_FAKE_STICKER, kind="sticker", width=512, height=512, emoji=emoji)
        return self._send({"sticker": stored.to_json()}, chat)

    def send_album(
        self,
        items: Sequence[AlbumItem],
        caption: str | None = None,
        *,
        caption_index: int = 0,
        order: Sequence[int] | None = None,
        chat: GroupChat | None = None,
    ) -> list[StoredMessage]:
        """2-10 photos/documents/videos sharing a media_group_id, one update each, consecutively.

        Message ids follow the items; ``order`` (a permutation of item indexes) is the order in which the
        updates reach the bot — Telegram does not promise the two agree.
        """
        if not 2 <= len(items) <= 10:
            raise ValueError("an album has 2-10 items")
        delivery = list(order) if order is not None else list(range(len(items)))
        if sorted(delivery) != list(range(len(items))):
            raise ValueError("order must be a permutation of the item indexes")
        target = self._target_chat(chat)
        group_id = self.server.new_media_group_id()
        messages = []
        for index, item in enumerate(items):
            content = self._album_item_content(item)
            if index == caption_index:
                content = _with_caption(content, caption)
            messages.append(self.server.add_user_message(self, target, content, media_group_id=group_id))
        for index in delivery:
            self.server.push_update("message", messages[index].to_json())
        return messages

    # -- buttons -------------------------------------------------------------------------------------

    def press(
        self, button_text: str, message: StoredMessage | None = None, *, chat: GroupChat | None = None
    ) -> PressedButton:
        """Press an inline button of ``message`` or, by default, of the newest bot message that has it.

        A button whose text equals ``button_text`` wins (newest message first); failing that, the one
        button containing it, ignoring case. The press goes on the message as it is now (after edits).
        """
        chat_id = chat.id if chat is not None else self.id
        candidates = [message] if message is not None else list(reversed(self.server.sent_to(chat_id)))
        live = [self.server.message(chat_id, candidate.message_id) for candidate in candidates]
        visible = [current for current in live if current is not None and not current.deleted]
        for find in (_exact_button, _partial_button):
            for current in visible:
                if (button := find(current, button_text)) is not None:
                    return self._press_button(current.message_id, button, chat)
        raise AssertionError(self._no_button_report(button_text, visible))

    def press_callback(self, message_id: int, data: str, *, chat: GroupChat | None = None) -> PressedButton:
        """A forged press: any callback data on any message id, as a modified client could send."""
        return self._press_button(message_id, {"text": f"forged {data!r}", "callback_data": data}, chat)

    def buttons(self, chat: GroupChat | None = None) -> list[list[str]]:
        """Inline button texts of the newest bot message that has any (rows of texts)."""
        view: ChatView = chat if chat is not None else self
        return next((message.buttons for message in reversed(view.messages) if message.buttons), [])

    def reply_keyboard(self) -> list[list[str]]:
        """The reply keyboard the bot last showed this user (rows of texts), [] if none or removed."""
        return self.server.reply_keyboard(self.id)

    def _press_button(self, message_id: int, button: dict[str, Any], chat: GroupChat | None) -> PressedButton:
        if "callback_data" not in button:
            raise AssertionError(f"The button {button['text']!r} is not a callback button: {button}")
        if chat is None and self.blocked:
            raise AssertionError(f"{self.full_name} blocked the bot; call unblock() first")
        chat_json = chat.to_json() if chat is not None else self.chat_json()
        query = self.server.add_callback_query(
            self, chat_json, message_id, button["callback_data"], label=button["text"]
        )
        return PressedButton(self.server, query)

    def _no_button_report(self, button_text: str, messages: list[StoredMessage]) -> str:
        with_buttons = [message for message in messages if message.buttons][:5]
        lines = [f"No inline button {button_text!r} in {self.label}."]
        if not with_buttons:
            lines.append("No bot message here has inline buttons.")
        for message in with_buttons:
            rows = " / ".join(" | ".join(row) for row in message.buttons)
            lines.append(
                f"  message #{message.message_id} «{(message.text or message.caption or '')[:40]}»: {rows}"
            )
        return self._report("\n".join(lines))

    # -- blocking ------------------------------------------------------------------------------------

    def block(self) -> None:
        """Block the bot: it gets 403 from now on and, if it was started, a my_chat_member update."""
        if self.blocked:
            return
        self.blocked = True
        self.server.log_event(self.id, "→ user blocked the bot")
        if self.started:
            self._push_membership_change("member", "kicked")

    def unblock(self) -> None:
        if not self.blocked:
            return
        self.blocked = False
        self.server.log_event(self.id, "→ user unblocked the bot")
        if self.started:
            self._push_membership_change("kicked", "member")

    def _push_membership_change(self, old_status: str, new_status: str) -> None:
        bot = self.server.bot_user_json()

        def member(status: str) -> dict[str, Any]:
            return {"status": status, "user": bot, **({"until_date": 0} if status == "kicked" else {})}

        self.server.push_update(
            "my_chat_member",
            {
                "chat": self.chat_json(),
                "from": self.to_json(),
                "date": int(time.time()),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            },
        )

    # -- internals -----------------------------------------------------------------------------------

    def _send(
        self, content: dict[str, Any], chat: GroupChat | None, *, reply_to: int | None = None
    ) -> StoredMessage:
        target = self._target_chat(chat)
        message = self.server.add_user_message(self, target, content, reply_to=reply_to)
        self.server.push_update("message", message.to_json())
        return message

    def _target_chat(self, chat: GroupChat | None) -> dict[str, Any]:
        """The chat a message goes to; writing to the bot privately makes the user "started"."""
        if chat is not None:
            return chat.to_json()
        if self.blocked:
            raise AssertionError(f"{self.full_name} blocked the bot; call unblock() before writing to it")
        self.started = True
        return self.chat_json()

    def _photo_content(self, data: bytes) -> dict[str, Any]:
        return {"photo": [size.to_json() for size in self.server.register_photo(data)]}

    def _album_item_content(self, item: AlbumItem) -> dict[str, Any]:
        data, kind = item[0], item[1]
        filename = item[2] if len(item) > 2 else None
        if kind == "photo":
            return self._photo_content(data)
        if kind == "document":
            name = filename or "document.pdf"
            stored = self.server.register_file(
                data, kind="document", file_name=name, mime_type=_guess_mime(name)
            )
        elif kind == "video":
            stored = self.server.register_file(
                data,
                kind="video",
                file_name=filename or "video.mp4",
                mime_type="video/mp4",
                width=1280,
                height=720,
                duration=5,
            )
        else:
            raise ValueError(f"album items are photo, document or video, not {kind!r}")
        return {kind: stored.to_json()}


def _mentions(message: StoredMessage, needle: str) -> bool:
    return needle in (message.text or message.caption or "") or needle in message.describe()


def _with_caption(content: dict[str, Any], caption: str | None) -> dict[str, Any]:
    return {**content, "caption": caption} if caption else content


def _guess_mime(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _exact_button(message: StoredMessage, text: str) -> dict[str, Any] | None:
    return next((button for row in message.inline_buttons for button in row if button["text"] == text), None)


def _partial_button(message: StoredMessage, text: str) -> dict[str, Any] | None:
    """The one button whose text contains ``text`` (ignoring case); several are an error, not a guess."""
    found = [
        button
        for row in message.inline_buttons
        for button in row
        if text.casefold() in button["text"].casefold()
    ]
    if len(found) > 1:
        names = ", ".join(repr(button["text"]) for button in found)
        raise AssertionError(f"{text!r} matches several buttons of message #{message.message_id}: {names}")
    return found[0] if found else None
