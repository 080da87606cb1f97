"""The local Bot API server behaves like Telegram towards the real aiogram client.

These tests pin down the test double itself: if it accepted what Telegram refuses (or refused what
Telegram accepts), every flow test built on it would be wrong in the same way.
"""

import asyncio
import io
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaDocument,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
)
from PIL import Image

from tests.telegram_server import TelegramServer, parse_html

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def make_png(width: int = 640, height: int = 480) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=text, callback_data=data) for text, data in buttons]]
    )


@pytest.fixture
async def server() -> AsyncIterator[TelegramServer]:
    async with TelegramServer() as running:
        yield running


@pytest.fixture
async def bot(server: TelegramServer) -> AsyncIterator[Bot]:
    """A bare aiogram Bot on the server (here it shadows conftest's running-bot harness)."""
    bot = Bot(server.token, session=server.session())
    yield bot
    await bot.session.close()


# -- talking to the server with a real aiogram Bot ------------------------------------------------------


async def test_a_plain_aiogram_session_pointed_at_the_server_gets_the_bot_identity(server: TelegramServer):
    session = AiohttpSession(api=TelegramAPIServer.from_base(server.base_url))
    async with Bot(server.token, session=session) as bot:
        me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (server.bot_id, "portfolio_test_bot", True)


async def test_a_sent_message_reaches_the_user_as_telegram_shows_it(server: TelegramServer, bot: Bot):
    anna = server.user(first_name="Анна", last_name="Иванова", started=True)

    sent = await bot.send_message(
        anna.id,
        "<b>Привет</b>, Tom &amp; Jerry",
        parse_mode="HTML",
        reply_markup=keyboard(("Дальше", "next")),
    )

    assert sent.text == "Привет, Tom & Jerry"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 6
    assert sent.from_user.id == server.bot_id and sent.chat.id == anna.id
    seen = await anna.next_message()
    assert (seen.message_id, seen.text, seen.buttons) == (
        sent.message_id,
        "Привет, Tom & Jerry",
        [["Дальше"]],
    )
    assert anna.transcript == ["← bot: Привет, Tom & Jerry [buttons: Дальше]"]
    assert server.calls("sendMessage")[0].params["chat_id"] == anna.id


async def test_a_reply_keyboard_is_remembered_but_not_echoed(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    markup = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="Да"), KeyboardButton(text="Нет")]])

    sent = await bot.send_message(anna.id, "Согласны?", reply_markup=markup)

    assert sent.reply_markup is None
    assert anna.reply_keyboard() == [["Да", "Нет"]]
    assert anna.transcript == ["← bot: Согласны? [keyboard: Да | Нет]"]


async def test_uploaded_photo_and_document_can_be_downloaded_and_resent(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    png = make_png()

    photo = await bot.send_photo(anna.id, BufferedInputFile(png, "p.png"), caption="Грамота")
    document = await bot.send_document(anna.id, BufferedInputFile(PDF, "отчёт.pdf"))

    assert photo.caption == "Грамота" and len(photo.photo) == 3
    assert (photo.photo[-1].width, photo.photo[-1].height) == (640, 480)
    assert server.file_bytes(photo.photo[-1].file_id) == png
    assert (document.document.file_name, document.document.mime_type) == ("отчёт.pdf", "application/pdf")
    file = await bot.get_file(document.document.file_id)
    downloaded = await bot.download_file(file.file_path)
    assert downloaded.read() == PDF
    again = await bot.send_document(anna.id, document.document.file_id)
    assert again.document.file_id == document.document.file_id
    assert [line.split(":")[0] for line in anna.transcript] == [
        "← bot [photo] Грамота",
        "← bot [document",
        "← bot [document",
    ]


async def test_a_media_group_arrives_as_messages_sharing_a_group_id(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    media = [
        InputMediaPhoto(media=BufferedInputFile(make_png(), "a.png"), caption="Альбом"),
        InputMediaPhoto(media=BufferedInputFile(make_png(320, 200), "b.png")),
    ]

    messages = await bot.send_media_group(anna.id, media)

    assert len(messages) == 2 and messages[0].media_group_id == messages[1].media_group_id is not None
    assert messages[0].caption == "Альбом" and messages[1].caption is None
    assert [message.kind for message in anna.read_all()] == ["photo", "photo"]


async def test_media_groups_keep_telegrams_rules(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    photo = InputMediaPhoto(media=BufferedInputFile(make_png(), "a.png"))
    document = InputMediaDocument(media=BufferedInputFile(PDF, "a.pdf"))

    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(anna.id, [photo])
    with pytest.raises(TelegramBadRequest, match="document can't be mixed"):
        await bot.send_media_group(anna.id, [photo, document])
    assert anna.messages == []


async def test_edits_apply_in_place_and_identical_edits_are_refused(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    sent = await bot.send_message(anna.id, "Шаг 1", reply_markup=keyboard(("Дальше", "next")))

    edited = await bot.edit_message_text("Шаг 2", chat_id=anna.id, message_id=sent.message_id)

    assert edited.text == "Шаг 2" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup removes the keyboard, as in Telegram
    with pytest.raises(TelegramBadRequest, match="message is not modified: specified new message content"):
        await bot.edit_message_text("Шаг 2", chat_id=anna.id, message_id=sent.message_id)
    await bot.edit_message_reply_markup(
        chat_id=anna.id, message_id=sent.message_id, reply_markup=keyboard(("Ок", "ok"))
    )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=anna.id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=anna.id, message_id=sent.message_id, caption="x")
    assert [event.text for event in anna.read_all()] == ["Шаг 1", "Шаг 2", "Шаг 2"]
    assert anna.messages[0].buttons == [["Ок"]]
    assert anna.transcript[1] == "← bot (edited): Шаг 2"


async def test_a_caption_can_be_edited_and_messages_deleted_once(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    sent = await bot.send_document(anna.id, BufferedInputFile(PDF, "a.pdf"), caption="Черновик")

    edited = await bot.edit_message_caption(chat_id=anna.id, message_id=sent.message_id, caption="Итог")

    assert edited.caption == "Итог" and edited.document.file_name == "a.pdf"
    assert await bot.delete_message(anna.id, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(anna.id, sent.message_id)
    assert anna.messages == [] and server.sent_to(anna.id)[0].deleted


# -- refusals -------------------------------------------------------------------------------------------


# (text, parse_mode, part of Telegram's error description)
REFUSED_TEXTS = [
    ("", None, "message text is empty"),
    ("<b> </b>", "HTML", "message text is empty"),
    ("я" * 4097, None, "message is too long"),
    ("<b>" + "я" * 4097 + "</b>", "HTML", "message is too long"),
    ("<b>жирный", "HTML", "can't parse entities: Can't find end tag corresponding to start tag \"b\""),
    ("<b>x</i>", "HTML", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
    ("x</b>", "HTML", "Unexpected end tag at byte offset 1"),
    ("<p>абзац</p>", "HTML", 'Unsupported start tag "p" at byte offset 0'),
    ("5 < 6", "HTML", 'Unsupported start tag "" at byte offset 2'),
    ("<b", "HTML", "Unclosed start tag at byte offset 0"),
    ("<span>x</span>", "HTML", 'Tag "span" must have class "tg-spoiler"'),
    ("Том & Джерри", "HTML", 'unescaped "&" at byte offset 7'),
    ("&nbsp;", "HTML", 'unescaped "&"'),
    ("*bold*", "MarkdownV2", "unsupported parse_mode"),
]
# (HTML, the text Telegram shows)
ACCEPTED_HTML = [
    ("я" * 4096, "я" * 4096),
    ("<b>" + "я" * 4096 + "</b>", "я" * 4096),
    ("&lt;b&gt; &amp; &quot;q&quot; &#39; &#x1F600;", '<b> & "q" \' 😀'),
    ('<a href="https://x.ru/?a=1&amp;b=2">ссылка</a>', "ссылка"),
    ("<tg-spoiler>s</tg-spoiler><span class='tg-spoiler'>s</span>", "ss"),
    ('<pre><code class="language-python">x = 1</code></pre>', "x = 1"),
    ("<blockquote expandable>цитата</blockquote><B>Ж</B><s><i>x</i></s>", "цитатаЖx"),
    ('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>', "👍"),
]


async def send_and_describe(bot: Bot, chat_id: int, text: str, parse_mode: str | None) -> str:
    """The text Telegram shows, or the error description."""
    try:
        sent = await bot.send_message(chat_id, text, parse_mode=parse_mode)
    except TelegramBadRequest as error:
        return error.message
    return f"accepted as {sent.text!r}"


async def test_texts_telegram_refuses_are_refused(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    outcomes = [
        (text[:20], error, await send_and_describe(bot, anna.id, text, mode))
        for text, mode, error in REFUSED_TEXTS
    ]

    assert [
        case for case in outcomes if not case[2].startswith("Bad Request: ") or case[1] not in case[2]
    ] == []
    assert anna.messages == []


async def test_html_telegram_accepts_is_accepted(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    outcomes = [
        (html[:20], await send_and_describe(bot, anna.id, html, "HTML"), f"accepted as {text!r}")
        for html, text in ACCEPTED_HTML
    ]

    assert [case for case in outcomes if case[1] != case[2]] == []


def test_entity_offsets_are_counted_in_utf16_units():
    parsed = parse_html("😀 <b>жир</b> <pre><code class='language-py'>x</code></pre>")
    assert parsed.entities == [
        {"type": "bold", "offset": 3, "length": 3},
        {"type": "pre", "language": "py", "offset": 7, "length": 1},
    ]


async def test_long_captions_and_callback_data_are_refused(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)

    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_document(anna.id, BufferedInputFile(PDF, "a.pdf"), caption="я" * 1025)
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(anna.id, "x", reply_markup=keyboard(("Кнопка", "я" * 33)))  # 66 bytes
    await bot.send_message(anna.id, "x", reply_markup=keyboard(("Кнопка", "я" * 32)))  # 64 bytes
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(anna.id, BufferedInputFile(b"not an image", "x.jpg"))


async def test_unknown_blocked_and_never_started_chats_are_refused(server: TelegramServer, bot: Bot):
    blocked = server.user(started=True)
    blocked.block()
    stranger = server.user()

    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message(424242, "x")
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(blocked.id, "x")
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot can't initiate conversation"):
        await bot.send_chat_action(stranger.id, "typing")
    stranger.send_text("/start")
    assert stranger.started
    await bot.send_message(stranger.id, "Здравствуйте")


async def test_flood_control_on_demand(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    server.fail_next("sendMessage", retry_after=7)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(anna.id, "раз")
    assert caught.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in caught.value.message
    await bot.send_message(anna.id, "два")

    server.flood_after(1, retry_after=3)
    await bot.send_photo(anna.id, BufferedInputFile(make_png(), "p.png"))
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(anna.id, "три")
        assert caught.value.retry_after == 3
    assert [request.status for request in server.calls("sendMessage")] == [429, 200, 429, 429]


async def test_a_too_big_file_cannot_be_fetched(server: TelegramServer, bot: Bot):
    anna = server.user()
    message = anna.send_document(b"tiny", "big.pdf", file_size=25 * 1024 * 1024)

    with pytest.raises(TelegramBadRequest, match="Bad Request: file is too big"):
        await bot.get_file(message.file_id)
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nonsense")


async def test_unknown_methods_and_tokens_get_telegrams_answers(server: TelegramServer):
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{server.base_url}/bot{server.token}/sendTelepathy") as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        async with http.post(f"{server.base_url}/bot1:wrong/getMe") as response:
            assert (response.status, (await response.json())["description"]) == (401, "Unauthorized")


async def test_json_bodies_are_accepted_like_form_bodies(server: TelegramServer):
    anna = server.user(started=True)
    body = {
        "chat_id": anna.id,
        "text": "hi",
        "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
    }
    url = f"{server.base_url}/bot{server.token}/sendMessage"
    async with aiohttp.ClientSession() as http, http.post(url, json=body) as response:
        result = (await response.json())["result"]
    assert result["reply_markup"] == body["reply_markup"] and anna.messages[0].buttons == [["A"]]


async def test_commands_are_kept_per_scope_and_language(server: TelegramServer, bot: Bot):
    commands = [BotCommand(command="start", description="Начать")]
    await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=5), language_code="ru")

    assert [c.command for c in await bot.get_my_commands(BotCommandScopeChat(chat_id=5), "ru")] == ["start"]
    assert await bot.get_my_commands() == []
    assert server.my_commands("ru", {"type": "chat", "chat_id": 5}) == [
        {"command": "start", "description": "Начать"}
    ]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Старт", description="x")])


# -- updates and callback queries -----------------------------------------------------------------------


async def test_long_polling_returns_as_soon_as_a_user_writes(server: TelegramServer, bot: Bot):
    anna = server.user()
    asyncio.get_running_loop().call_later(0.05, anna.send_text, "/start ref")
    started = time.monotonic()

    updates = await bot.get_updates(timeout=5)

    assert time.monotonic() - started < 1
    assert [update.message.text for update in updates] == ["/start ref"]
    assert updates[0].message.entities[0].type == "bot_command" and updates[0].message.entities[0].length == 6
    assert await bot.get_updates(offset=updates[0].update_id, timeout=0) != []  # not confirmed yet
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []
    assert server.pending_updates == []


async def test_allowed_updates_filter_what_the_bot_receives(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    anna.block()  # a my_chat_member update
    anna.unblock()
    anna.send_text("привет")

    updates = await bot.get_updates(allowed_updates=["message"], timeout=0)

    assert [update.message.text for update in updates] == ["привет"]
    assert [next(iter(set(u) - {"update_id"})) for u in server.dropped_updates] == ["my_chat_member"] * 2


async def test_injected_update_ids_only_grow(server: TelegramServer):
    first = server.inject_update(
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}}}
    )
    assert server.push_update("poll", {}) == first + 1
    with pytest.raises(ValueError, match="must be greater"):
        server.inject_update({"update_id": first, "poll": {}})


async def test_a_callback_query_can_be_answered_once_and_only_in_time(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    await bot.send_message(anna.id, "Выберите", reply_markup=keyboard(("Вариант А", "a"), ("Вариант Б", "b")))

    press = anna.press("Б")  # contains, case-insensitively

    assert press.data == "b"
    await bot.answer_callback_query(press.id, text="Принято")
    assert await press.wait_answer() == {"text": "Принято", "show_alert": False, "url": None}
    with pytest.raises(TelegramBadRequest, match="query is too old and response timeout expired"):
        await bot.answer_callback_query(press.id)
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_callback_query("123")
    server.callback_query_lifetime = 0.01
    late = anna.press_callback(1, "forged")
    await asyncio.sleep(0.02)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(late.id)
    assert anna.transcript[-3:] == [
        "→ user [pressed: Вариант Б]",
        "← bot (toast): Принято",
        "→ user [pressed: forged 'forged']",
    ]


async def test_pressing_a_missing_button_lists_the_buttons_there_are(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    await bot.send_message(anna.id, "Меню", reply_markup=keyboard(("Один", "1"), ("Два", "2")))

    with pytest.raises(AssertionError, match=r"No inline button 'Три'(.|\n)*Один \| Два"):
        anna.press("Три")


async def test_an_exact_button_text_wins_over_a_newer_partial_match(server: TelegramServer, bot: Bot):
    anna = server.user(started=True)
    await bot.send_message(anna.id, "Подтвердите", reply_markup=keyboard(("Да", "yes"), ("Нет", "no")))
    await bot.send_message(anna.id, "Выберите", reply_markup=keyboard(("Даты", "dates"), ("Дальше", "next")))

    assert anna.press("Да").data == "yes"
    assert anna.press("даты").data == "dates"
    with pytest.raises(AssertionError, match="matches several buttons"):
        anna.press("Д")


async def test_a_users_photo_arrives_in_three_sizes_and_albums_share_a_group(
    server: TelegramServer, bot: Bot
):
    anna = server.user()
    png = make_png(1600, 1200)
    photo = anna.send_photo(png, caption="Диплом", forward=True)
    album = anna.send_album([(make_png(), "photo"), (PDF, "document", "a.pdf")], caption="Два", order=[1, 0])

    updates = await bot.get_updates(timeout=0)

    sizes = updates[0].message.photo
    assert len({size.file_id for size in sizes}) == 3 and sizes[-1].width == 1600 and sizes[0].width == 90
    assert updates[0].message.forward_origin is not None
    largest = await bot.get_file(sizes[-1].file_id)
    assert (await bot.download_file(largest.file_path)).read() == png
    assert server.file_bytes(photo.file_id) == png
    anna.send_text("/start")
    resent = await bot.send_photo(anna.id, photo.file_id)
    assert [size.file_id for size in resent.photo] == [size.file_id for size in sizes]
    assert [update.message.message_id for update in updates[1:]] == [album[1].message_id, album[0].message_id]
    assert len({update.message.media_group_id for update in updates[1:]}) == 1
    assert updates[2].message.caption == "Два"


# -- a real dispatcher against the server ---------------------------------------------------------------


def echo_router() -> Router:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text, reply_markup=keyboard(("Ещё раз", "again")))

    @router.callback_query(F.data == "again")
    async def again(callback: CallbackQuery) -> None:
        await callback.answer("Повторяю")
        await callback.message.edit_text(f"{callback.message.text}!")

    return router


async def test_a_polling_dispatcher_answers_a_user_and_a_button_press(server: TelegramServer, bot: Bot):
    dispatcher = Dispatcher()
    dispatcher.include_router(echo_router())
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    anna = server.user(first_name="Анна")
    try:
        anna.send_text("привет")
        echoed = await anna.next_message()
        assert (echoed.text, echoed.buttons) == ("привет", [["Ещё раз"]])

        press = anna.press("Ещё раз")
        assert (await press.wait_answer())["text"] == "Повторяю"
        edited = await anna.wait_for(lambda message: message.edited)
        assert edited.text == "привет!"
        await server.idle(timeout=2)
        assert anna.read_all() == []
    finally:
        await dispatcher.stop_polling()
        await polling
    assert anna.transcript == [
        "→ user: привет",
        "← bot: привет [buttons: Ещё раз]",
        "→ user [pressed: Ещё раз]",
        "← bot (toast): Повторяю",
        "← bot (edited): привет!",
    ]
    assert server.transcript()[0] == "[Анна] → user: привет"


async def test_waiting_for_a_message_that_never_comes_shows_the_transcript(server: TelegramServer):
    anna = server.user(first_name="Анна")
    anna.send_text("есть кто?")

    with pytest.raises(AssertionError, match=r"No message from the bot(.|\n)*→ user: есть кто\?"):
        await anna.next_message(timeout=0.05)
    with pytest.raises(AssertionError, match="did not become idle"):
        await server.idle(timeout=0.05)


async def test_group_chats_carry_the_users_messages(server: TelegramServer, bot: Bot):
    group = server.group(-1001234567890, "7А — родители")
    anna = server.user(first_name="Анна")
    anna.send_text("/start@portfolio_test_bot", chat=group)

    updates = await bot.get_updates(timeout=0)
    await bot.send_message(group.id, "Здравствуйте")

    message = updates[0].message
    assert (message.chat.type, message.chat.title, message.from_user.id) == (
        "supergroup",
        "7А — родители",
        anna.id,
    )
    assert not anna.started  # writing in a group does not start the private chat
    assert (await group.next_message()).text == "Здравствуйте"
    assert group.transcript == ["→ Анна: /start@portfolio_test_bot", "← bot: Здравствуйте"]
