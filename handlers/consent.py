"""Withdrawing consent (152-ФЗ): a guardian's, from the child's card under «Мои дети», or a student's own,
from «Мой профиль». The same buttons and steps; the texts speak to whoever withdraws."""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router, html
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import ChildCb, row_id
from bot.config import Settings
from bot.keyboards import InlineKeyboardBuilder, consent_card_keyboard, main_menu
from bot.replies import answer_query, edit_or_answer
from bot.services import access, audit
from bot.services.consents import was_guardian_of, withdraw_consent
from bot.services.principal import Principal, load_principal
from bot.texts import own_card_text
from handlers.submission import discard_draft
from models import Account, SchoolClass, Student
from models.enums import AuditChannel

router = Router(name="consent")

OPEN, WITHDRAW, CONFIRM, CANCEL = "open", "withdraw", "confirm", "cancel"


async def _refuse(query: CallbackQuery, session: AsyncSession, principal: Principal, student_id: int) -> None:
    """A press about a student this person is no longer (or never was) linked to."""
    if await was_guardian_of(session, principal.account_id, student_id):
        text = _("Этот ребёнок больше не связан с вашим аккаунтом.")
    else:  # their own record after withdrawing, or a forged press
        text = _("Эта кнопка больше не действует: ваш аккаунт не связан с этими данными.")
    await answer_query(query, text, alert=True)


async def _own_child(
    query: CallbackQuery, session: AsyncSession, principal: Principal, student_id: int
) -> tuple[Student, SchoolClass] | None:
    """The student, if the person is still them or their confirmed guardian; otherwise a polite refusal."""
    student = await session.get(Student, student_id) if row_id(student_id) else None  # forged: no row
    if student is None or not access.may_withdraw_consent(principal, student):
        if student is not None:  # a press about a real child this person may not act for: on the register
            await audit.record(
                session,
                action="consent_card_denied",
                channel=AuditChannel.BOT,
                actor_account_id=principal.account_id,
                student_id=student_id,
                allowed=False,
            )
            await session.commit()
        await _refuse(query, session, principal, student_id)
        return None
    school_class = await session.get(SchoolClass, student.class_id)
    assert school_class is not None
    return student, school_class


def _card(
    principal: Principal, student: Student, school_class: SchoolClass
) -> tuple[str, InlineKeyboardMarkup]:
    name, class_label = html.quote(student.full_name), html.quote(school_class.label)
    if principal.own_student_id == student.id:
        text = own_card_text(name, class_label)
    else:
        text = _("<b>{name}</b>, {class_label} класс.").format(name=name, class_label=class_label)
    return text, consent_card_keyboard(student.id or 0)


@router.callback_query(ChildCb.filter(F.action.in_({OPEN, CANCEL})))
async def cb_open(
    query: CallbackQuery, callback_data: ChildCb, session: AsyncSession, principal: Principal
) -> None:
    found = await _own_child(query, session, principal, callback_data.student_id)
    if found is None:
        return
    await audit.record_viewed(
        session,
        action="consent_card_viewed",
        actor_account_id=principal.account_id,
        student_ids=[callback_data.student_id],
        object_type="student",
    )
    await answer_query(query)
    await edit_or_answer(query, *_card(principal, *found))


def _question_to_student() -> str:
    return _(
        "Отозвать согласие на обработку ваших персональных данных?\n\n"
        "После этого сразу:\n"
        "• ваш аккаунт Telegram будет отключён от вашей записи в школе;\n"
        "• вы не сможете добавлять достижения, смотреть своё портфолио и запрашивать выписки;\n"
        "• ваши достижения, ещё не рассмотренные учителем, будут отозваны;\n"
        "• бот перестанет присылать вам уведомления;\n"
        "• классный руководитель и администрация школы получат уведомление.\n\n"
        "Уже одобренные достижения остаются в учёте школы. Чтобы снова подключиться, понадобится новый "
        "код приглашения от классного руководителя."
    )


def _question_to_guardian(name: str) -> str:
    return _(
        "Отозвать согласие на обработку персональных данных ребёнка <b>{name}</b>?\n\n"
        "После этого сразу:\n"
        "• вы перестанете получать сведения о ребёнке и уведомления о нём;\n"
        "• вы не сможете добавлять достижения ребёнка, смотреть его портфолио и запрашивать выписки;\n"
        "• присланные вами и ещё не рассмотренные достижения будут отозваны;\n"
        "• классный руководитель и администрация школы получат уведомление.\n\n"
        "Уже одобренные достижения остаются в учёте школы. Чтобы снова подключиться, понадобится новый "
        "код приглашения от классного руководителя."
    ).format(name=name)


@router.callback_query(ChildCb.filter(F.action == WITHDRAW))
async def cb_ask(
    query: CallbackQuery, callback_data: ChildCb, session: AsyncSession, principal: Principal
) -> None:
    found = await _own_child(query, session, principal, callback_data.student_id)
    if found is None:
        return
    student, _class = found
    await answer_query(query)
    if principal.own_student_id == student.id:
        text = _question_to_student()
    else:
        text = _question_to_guardian(html.quote(student.full_name))
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Да, отозвать"), callback_data=ChildCb(action=CONFIRM, student_id=student.id or 0))
    builder.button(text=_("Отмена"), callback_data=ChildCb(action=CANCEL, student_id=student.id or 0))
    builder.adjust(1)
    await edit_or_answer(query, text, builder.as_markup())


@router.callback_query(ChildCb.filter(F.action == CONFIRM))
async def cb_confirm(
    query: CallbackQuery,
    callback_data: ChildCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    account: Account | None,
    settings: Settings,
) -> None:
    outcome = await withdraw_consent(session, principal, callback_data.student_id, datetime.now(settings.tz))
    if outcome is None:
        await _refuse(query, session, principal, callback_data.student_id)
        return
    await answer_query(query)
    # A dialogue about this student (an achievement half entered, a request) must not go on, and the
    # photos a half-entered achievement had stored go with it (as on «Отмена»).
    if (await state.get_data()).get("student_id") == callback_data.student_id:
        await discard_draft(state, settings)
    if outcome.by_student:
        done = _(
            "Согласие отозвано. Ваш аккаунт отключён от вашей записи в школе; школа уведомлена, бот больше "
            "не будет присылать вам уведомления. Уже одобренные достижения остаются в учёте школы. Чтобы "
            "снова подключиться, попросите новый код приглашения у классного руководителя."
        )
    else:
        done = _(
            "Согласие отозвано. Вы больше не связаны с учеником {name}; школа уведомлена и не будет "
            "присылать вам сведения о нём."
        ).format(name=html.quote(outcome.student_name))
    await edit_or_answer(query, done)
    now_principal = await load_principal(session, account)
    if query.bot is not None:
        await query.bot.send_message(
            query.from_user.id, _("Меню обновлено."), reply_markup=main_menu(now_principal)
        )
