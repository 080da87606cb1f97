"""Answering in place: the Telegram errors that an edit can meet are expected, not crashes."""

from __future__ import annotations

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


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
            if "message is not modified" in error.message:
                return
            # Too old, deleted, or a media message: fall through and send a fresh one.
    if query.bot is not None:
        await query.bot.send_message(query.from_user.id, text, reply_markup=reply_markup)
