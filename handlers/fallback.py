"""Last in line: anything no other handler took gets a polite answer, and the dialogue goes on."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.keyboards import main_menu
from bot.services.principal import Principal
from bot.states import Onboarding
from handlers.start import ask_for_code_text

router = Router(name="fallback")
router.message.filter(F.chat.type == ChatType.PRIVATE)


@router.message()
async def on_anything(message: Message, principal: Principal, state: FSMContext) -> None:
    if not principal.has_any_role:
        await state.set_state(Onboarding.code)
        await message.answer(ask_for_code_text())
        return
    await message.answer(
        _("Не понимаю это сообщение. Выберите действие в меню или отправьте /help."),
        reply_markup=main_menu(principal),
    )


@router.callback_query()
async def on_stale_button(query: CallbackQuery) -> None:
    await query.answer(_("Эта кнопка устарела. Откройте нужный раздел из меню заново."), show_alert=True)
