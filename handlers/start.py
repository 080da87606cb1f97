"""Onboarding: /start with an invite code (deep link or typed), consent, then the main menu."""

from __future__ import annotations

import re
from datetime import timedelta

from aiogram import Bot, F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ConsentCb
from bot.keyboards import consent_keyboard, main_menu
from bot.replies import edit_or_answer
from bot.services import onboarding
from bot.services.onboarding import CodeProblem, Joined, NeedsConsent, Outcome, Refused
from bot.services.principal import Principal, load_principal
from bot.states import Onboarding
from bot.texts import consent_text, role_name
from models import Account
from models.base import utcnow
from models.enums import InvitePurpose

router = Router(name="start")
router.message.filter(F.chat.type == ChatType.PRIVATE)

# People paste the whole link as often as the code: take the code out of either.
_CODE_IN_LINK = re.compile(r"start=([A-Za-z0-9_-]+)")


def extract_code(text: str) -> str:
    text = text.strip()
    match = _CODE_IN_LINK.search(text)
    return match.group(1) if match else text


@router.message(CommandStart(deep_link=True))
async def cmd_start_with_code(
    message: Message, command: CommandObject, session: AsyncSession, account: Account, state: FSMContext
) -> None:
    await _handle_code(message, extract_code(command.args or ""), session, account, state)


@router.message(CommandStart())
async def cmd_start(message: Message, state: FSMContext, principal: Principal) -> None:
    await state.clear()
    if principal.has_any_role:
        await message.answer(_("Здравствуйте! Выберите действие в меню."), reply_markup=main_menu(principal))
        return
    await state.set_state(Onboarding.code)
    await message.answer(ask_for_code_text())


def ask_for_code_text() -> str:
    return _(
        "Здравствуйте! Это бот «Портфолио» для учёта достижений учеников школы.\n\n"
        "Чтобы начать, откройте ссылку-приглашение из листка, который выдал классный руководитель, "
        "или отправьте сюда код приглашения."
    )


@router.message(Onboarding.code, F.text, ~F.text.startswith("/"))
async def on_code_typed(message: Message, session: AsyncSession, account: Account, state: FSMContext) -> None:
    await _handle_code(message, extract_code(message.text or ""), session, account, state)


@router.message(Onboarding.code, ~F.text.startswith("/"))
async def on_code_not_text(message: Message) -> None:
    await message.answer(
        _("Пожалуйста, отправьте код приглашения текстом — буквы и цифры со ссылки или листка.")
    )


async def _handle_code(
    message: Message, code: str, session: AsyncSession, account: Account, state: FSMContext
) -> None:
    outcome = await onboarding.start_redemption(session, account, code, utcnow())
    assert message.bot is not None
    await _show_outcome(message.bot, outcome, session, account, state)


async def _show_outcome(
    bot: Bot, outcome: Outcome, session: AsyncSession, account: Account, state: FSMContext
) -> None:
    chat_id = account.telegram_id
    if isinstance(outcome, Refused):
        # Stay ready for another code unless the person is blocked for a while.
        if outcome.problem != CodeProblem.COOLDOWN:
            principal = await load_principal(session, account)
            if not principal.has_any_role:
                await state.set_state(Onboarding.code)
        await bot.send_message(chat_id, refusal_text(outcome))
        return
    if isinstance(outcome, NeedsConsent):
        await state.set_state(Onboarding.consent)
        # The invite's id, never the code: only the code's hash is stored anywhere.
        await state.set_data({"invite_id": outcome.invite_id})
        text = consent_text(
            html.quote(outcome.student_name),
            html.quote(outcome.class_label),
            onboarding.CONSENT_VERSION,
            is_student=outcome.purpose == InvitePurpose.STUDENT,
        )
        await bot.send_message(chat_id, text, reply_markup=consent_keyboard(outcome.invite_id))
        return
    await state.clear()
    principal = await load_principal(session, account)
    await bot.send_message(chat_id, joined_text(outcome), reply_markup=main_menu(principal))


def refusal_text(refused: Refused) -> str:
    if refused.problem == CodeProblem.COOLDOWN:
        minutes = max(1, -(-refused.retry_in // timedelta(minutes=1)))  # round up
        return _(
            "Слишком много неверных кодов. В целях защиты данных ввод кода временно заблокирован. "
            "Попробуйте снова через {minutes} мин."
        ).format(minutes=minutes)
    texts = {
        CodeProblem.UNKNOWN: _(
            "Такой код не найден. Проверьте, что он скопирован полностью, без пробелов, "
            "или откройте ссылку-приглашение ещё раз."
        ),
        CodeProblem.EXPIRED: _(
            "Срок действия этого кода истёк. Попросите новое приглашение у классного руководителя."
        ),
        CodeProblem.USED: _(
            "Этот код уже использован. Каждый код действует один раз. Если вы его не вводили, "
            "сообщите классному руководителю и попросите новый."
        ),
        CodeProblem.REVOKED: _(
            "Этот код отозван школой. Попросите новое приглашение у классного руководителя."
        ),
        CodeProblem.STUDENT_INACTIVE: _(
            "Этот ученик больше не числится в школе, поэтому подключиться нельзя. "
            "Если это ошибка, обратитесь к классному руководителю."
        ),
        CodeProblem.FOR_GUARDIAN: _(
            "Это код для родителя. Ученику нужен свой код — он на том же листке, в части «Для ученика»."
        ),
        CodeProblem.FOR_STUDENT: _(
            "Это код для самого ученика — передайте его ребёнку. Для родителя на листке есть свой код."
        ),
        CodeProblem.ALREADY_LINKED: _("Вы уже подключены к ученику {name}. Код не потрачен.").format(
            name=html.quote(refused.student_name)
        ),
    }
    return texts[refused.problem]


def joined_text(joined: Joined) -> str:
    if joined.purpose == InvitePurpose.STAFF:
        assert joined.role is not None
        return _("Готово! Вы подключены как {role}. Выберите действие в меню.").format(
            role=html.quote(role_name(joined.role, joined.level, joined.class_label))
        )
    if joined.purpose == InvitePurpose.STUDENT:
        return _("Спасибо! Вы подключены как ученик: {name}. Выберите действие в меню.").format(
            name=html.quote(joined.student_name)
        )
    return _("Спасибо! Вы подключены как родитель ученика: {name}. Выберите действие в меню.").format(
        name=html.quote(joined.student_name)
    )


@router.message(Onboarding.consent, ~F.text.startswith("/"))
async def on_message_during_consent(message: Message) -> None:
    await message.answer(
        _("Пожалуйста, нажмите «Принимаю» или «Не принимаю» под текстом согласия выше."),
    )


@router.callback_query(ConsentCb.filter(), Onboarding.consent)
async def cb_consent(
    query: CallbackQuery, callback_data: ConsentCb, session: AsyncSession, account: Account, state: FSMContext
) -> None:
    if (await state.get_data()).get("invite_id") != callback_data.invite_id:
        await cb_consent_stale(query)  # the consent text of another, earlier link
        return
    if callback_data.accept:
        outcome: Outcome | None = await onboarding.accept_consent(
            session, account, callback_data.invite_id, utcnow()
        )
        verdict = _("✅ Согласие дано.") if isinstance(outcome, Joined) else _("Согласие не сохранено.")
    else:
        await onboarding.decline_consent(session, account, callback_data.invite_id)
        outcome = None
        verdict = _("Вы не дали согласие.")
    await query.answer()
    if query.message is not None:
        original = query.message.html_text if isinstance(query.message, Message) else ""
        await edit_or_answer(query, f"{original}\n\n<b>{verdict}</b>".strip())
    assert query.bot is not None
    if outcome is None:
        await state.clear()
        await query.bot.send_message(
            account.telegram_id,
            _(
                "Без согласия бот не может показывать и хранить данные ребёнка. Ничего, кроме вашего отказа, "
                "не сохранено. Код остаётся действительным: если передумаете, снова откройте ссылку-приглашение."
            ),
        )
        return
    await _show_outcome(query.bot, outcome, session, account, state)


@router.callback_query(ConsentCb.filter())
async def cb_consent_stale(query: CallbackQuery) -> None:
    await query.answer(
        _("Это приглашение уже обработано. Чтобы подключиться снова, откройте ссылку ещё раз.")
    )
