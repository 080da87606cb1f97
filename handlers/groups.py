"""Group chats: the bot works only in private chats, answers commands politely and shows no data."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.services import onboarding
from models.base import utcnow

router = Router(name="groups")
router.message.filter(F.chat.type != ChatType.PRIVATE)


def refusal() -> str:
    return _(
        "Я работаю только в личных сообщениях, чтобы данные детей не попадали в общие чаты. Напишите мне лично."
    )


@router.message(CommandStart(deep_link=True))
async def on_code_in_group(message: Message, command: CommandObject, session: AsyncSession) -> None:
    """An invite code posted where others can read it is no longer secret: it is revoked."""
    if await onboarding.revoke_exposed_code(session, command.args or "", utcnow()):
        await message.reply(
            _(
                "Этот код приглашения был отправлен в общий чат, поэтому я его отозвал: им больше нельзя "
                "воспользоваться. Попросите новый код у классного руководителя и откройте его в личном чате "
                "со мной."
            )
        )
        return
    await message.reply(refusal())


@router.message(F.text.startswith("/"))
async def on_group_command(message: Message) -> None:
    await message.reply(refusal())


@router.message()
async def on_group_chatter(message: Message) -> None:
    """Ordinary group messages are none of the bot's business."""


@router.callback_query(F.message.chat.type != ChatType.PRIVATE)
async def on_group_button(query: CallbackQuery) -> None:
    await query.answer(refusal(), show_alert=True)
