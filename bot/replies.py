"""Answering in place: the Telegram errors that an edit can meet are expected, not crashes."""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramBadRequest
from aiogram.methods import AnswerCallbackQuery, TelegramMethod
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

log = logging.getLogger(__name__)

NOT_MODIFIED = "message is not modified"
QUERY_TOO_OLD = "query is too old"


class ExpiredQueryAnswers(BaseRequestMiddleware):
    """Answering a button press that waited longer than Telegram keeps it (about 15 s: a busy bot, or a
    restart) is refused; that refusal must not abort the handler halfway, after its change was saved and
    before the person got the next step (`make bench` found it with 2,000 people at once)."""

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Any:
        try:
            return await make_request(bot, method)
        except TelegramBadRequest as error:
            if not isinstance(method, AnswerCallbackQuery) or QUERY_TOO_OLD not in error.message:
                raise
            log.info("callback query %s too old to answer", method.callback_query_id)
            return True  # the chain passes the method's result along (answerCallbackQuery: True)


async def edit_or_answer(
    query: CallbackQuery, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> None:
    """Edit the message the button was on; if it can no longer be edited, send the text anew."""
    message = query.message
    if isinstance(message, Message):
        try:
            await message.edit_text(text, reply_markup=reply_markup)
            return
        except TelegramBadRequest as error:
            if NOT_MODIFIED in error.message:
                return
            # Too old, deleted, or a media message: fall through and send a fresh one.
    if query.bot is not None:
        await query.bot.send_message(query.from_user.id, text, reply_markup=reply_markup)


async def answer_query(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press; a press too old to answer (e.g. handled after a restart) is not an error."""
    try:
        await query.answer(text, show_alert=alert)
    except TelegramBadRequest as error:
        log.info("callback query %s not answered: %s", query.id, error.message)


async def edit_message(
    bot: Bot,
    chat_id: int,
    message_id: int,
    text: str,
    *,
    caption: bool,
    reply_markup: InlineKeyboardMarkup | None = None,
) -> bool:
    """Replace the text (or, for a photo or document, the caption) and the buttons of a message.

    True when the message shows `text` now; False when it can't be edited (deleted, too old, not ours):
    the caller decides whether to send it anew.
    """
    try:
        if caption:
            await bot.edit_message_caption(
                chat_id=chat_id, message_id=message_id, caption=text, reply_markup=reply_markup
            )
        else:
            await bot.edit_message_text(
                text, chat_id=chat_id, message_id=message_id, reply_markup=reply_markup
            )
    except TelegramBadRequest as error:
        return NOT_MODIFIED in error.message
    return True


async def edit_markup(
    bot: Bot, chat_id: int, message_id: int, reply_markup: InlineKeyboardMarkup | None
) -> bool:
    """Replace only the buttons of a message; False when it can't be edited."""
    try:
        await bot.edit_message_reply_markup(chat_id=chat_id, message_id=message_id, reply_markup=reply_markup)
    except TelegramBadRequest as error:
        return NOT_MODIFIED in error.message
    return True


TELEGRAM_TEXT_LIMIT = 4096


def split_lines(lines: list[str], limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Join lines into as few messages as Telegram's text limit allows, never splitting a line."""
    messages: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit and current:
            messages.append(current)
            candidate = line[:limit]
        current = candidate
    if current:
        messages.append(current)
    return messages
