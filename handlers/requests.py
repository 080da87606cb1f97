"""Results requests (regulation 6.4): child → scope → the extract sent at once; staff check codes with /verify.

Every press reloads the student and asks the access policy again: a forged or old button never issues
an extract for someone else's child.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import RequestCb, row_id
from bot.config import Settings
from bot.keyboards import BTN_REQUEST, InlineKeyboardBuilder, main_menu
from bot.replies import edit_or_answer
from bot.services import access, audit, results_requests, students
from bot.services.principal import Principal
from bot.services.verification import QR_PREFIX, is_start_payload
from bot.states import ResultsRequestDialog, Verify
from bot.texts import student_gone_text
from models import Student
from models.enums import AuditChannel, RequestScope

router = Router(name="requests")
router.message.filter(F.chat.type == ChatType.PRIVATE)
# The extract's QR code opens «/start verify_CODE»: tried before onboarding takes /start's payload for an
# invite code, and in any dialogue state (a staff member may scan in the middle of something).
links_router = Router(name="verify_links")
links_router.message.filter(F.chat.type == ChatType.PRIVATE)

BACK, CANCEL, CHILD, SCOPE = "back", "cancel", "child", "scope"


def _candidates(principal: Principal) -> list[int]:
    own = [principal.own_student_id] if principal.own_student_id else []
    return own + list(principal.children)


def _nav(builder: InlineKeyboardBuilder, *, back: bool) -> InlineKeyboardBuilder:
    buttons = []
    if back:
        buttons.append(InlineKeyboardButton(text=_("← Назад"), callback_data=RequestCb(step=BACK).pack()))
    buttons.append(InlineKeyboardButton(text=_("✖️ Отмена"), callback_data=RequestCb(step=CANCEL).pack()))
    builder.row(*buttons)
    return builder


# -- entry ----------------------------------------------------------------------------------------------


@router.message(StateFilter(None, ResultsRequestDialog), F.text == BTN_REQUEST)  # again mid-request: over
async def cmd_request(
    message: Message, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    candidates = _candidates(principal)
    if not candidates:
        text = (
            student_gone_text()
            if await students.is_former_family(session, principal.account_id)
            else _("Запросить результаты могут ученик и его родители.")
        )
        await message.answer(text, reply_markup=main_menu(principal))
        return
    if len(candidates) == 1:
        student = await session.get(Student, candidates[0])
        if student is None or not access.may_request_extract(principal, student):
            await message.answer(_("Нет доступа к этому ученику."))
            return
        await state.set_state(ResultsRequestDialog.scope)
        await state.set_data({"student_id": student.id, "single": True})
        await message.answer(_scope_text(student), reply_markup=_scope_keyboard(student.id, back=False))
        return
    await state.set_state(ResultsRequestDialog.child)
    await state.set_data({})
    text, markup = await _child_question(session, candidates)
    await message.answer(text, reply_markup=markup)


async def _child_question(session: AsyncSession, candidates: list[int]) -> tuple[str, InlineKeyboardMarkup]:
    builder = InlineKeyboardBuilder()
    for student_id in candidates:
        student = await session.get(Student, student_id)
        if student is not None:
            builder.button(
                text=student.short_name, callback_data=RequestCb(step=CHILD, value=str(student_id))
            )
    builder.adjust(1)
    _nav(builder, back=False)
    return _("По какому ребёнку запросить результаты?"), builder.as_markup()


def _scope_text(student: Student) -> str:
    return _("Выписка о достижениях: {student}. За какой период?").format(
        student=html.quote(student.short_name)
    )


def _scope_keyboard(student_id: int | None, *, back: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("Текущий учебный год"),
        callback_data=RequestCb(step=SCOPE, value=RequestScope.CURRENT_YEAR, student_id=student_id or 0),
    )
    builder.button(
        text=_("Все годы"),
        callback_data=RequestCb(step=SCOPE, value=RequestScope.ALL_YEARS, student_id=student_id or 0),
    )
    builder.adjust(1)
    _nav(builder, back=back)
    return builder.as_markup()


# -- leaving --------------------------------------------------------------------------------------------


@router.callback_query(RequestCb.filter(F.step == CANCEL))
async def cb_cancel(query: CallbackQuery, state: FSMContext) -> None:
    if await state.get_state() in (ResultsRequestDialog.child.state, ResultsRequestDialog.scope.state):
        await state.clear()
    await query.answer()
    await edit_or_answer(query, _("Запрос результатов отменён."))


@router.callback_query(ResultsRequestDialog.scope, RequestCb.filter(F.step == BACK))
async def cb_back(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    await query.answer()
    candidates = _candidates(principal)
    if len(candidates) < 2:
        await state.clear()
        await edit_or_answer(query, _("Запрос результатов отменён."))
        return
    await state.set_state(ResultsRequestDialog.child)
    text, markup = await _child_question(session, candidates)
    await edit_or_answer(query, text, markup)


# -- child and scope --------------------------------------------------------------------------------------


async def _allowed_student(
    query: CallbackQuery, session: AsyncSession, principal: Principal, value: str
) -> Student | None:
    student_id = row_id(value)
    student = await session.get(Student, student_id) if student_id is not None else None
    if student is None or not access.may_request_extract(principal, student):
        await audit.record(
            session,
            action="extract_request_denied",
            channel=AuditChannel.BOT,
            actor_account_id=principal.account_id,
            actor_telegram_id=query.from_user.id,
            student_id=student.id if student is not None else None,
            allowed=False,
        )
        await session.commit()
        await query.answer(_("Нет доступа к этому ученику."), show_alert=True)
        return None
    return student


@router.callback_query(ResultsRequestDialog.child, RequestCb.filter(F.step == CHILD))
async def cb_child(
    query: CallbackQuery,
    callback_data: RequestCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    student = await _allowed_student(query, session, principal, callback_data.value)
    if student is None:
        return
    await query.answer()
    await state.set_state(ResultsRequestDialog.scope)
    await state.update_data(student_id=student.id)
    await edit_or_answer(query, _scope_text(student), _scope_keyboard(student.id, back=True))


@router.callback_query(ResultsRequestDialog.scope, RequestCb.filter(F.step == SCOPE))
async def cb_scope(
    query: CallbackQuery,
    callback_data: RequestCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    try:
        scope = RequestScope(callback_data.value)
    except ValueError:
        await query.answer(_("Эта кнопка устарела."), show_alert=True)
        return
    student = await _allowed_student(query, session, principal, str(callback_data.student_id))
    if student is None or principal.account_id is None:
        return
    await query.answer()
    assert query.bot is not None
    me = await query.bot.me()  # cached after the first call
    try:
        issued = await results_requests.register_request(
            session,
            principal.account_id,
            student.id,  # type: ignore[arg-type]
            scope,
            datetime.now(settings.tz),
            settings.secret_key,
            settings.school_name,
            bot_username=me.username,
        )
    except results_requests.ExtractNotBuilt as error:  # registered; the same button builds it again
        await query.bot.send_message(
            query.from_user.id,
            _(
                "Запрос № {number} зарегистрирован, но выписку сейчас подготовить не удалось. "
                "Нажмите кнопку периода ещё раз — выписка будет по этому же запросу."
            ).format(number=error.number),
        )
        return
    await state.clear()
    request = issued.request
    issued_at = request.created_at.astimezone(settings.tz)
    await edit_or_answer(
        query, _("Запрос № {number} зарегистрирован, выписка готова.").format(number=request.number)
    )
    caption = _("Выписка № {number} по запросу от {date}. {student}, {period}.").format(
        number=request.number,
        date=issued_at.strftime("%d.%m.%Y %H:%M"),
        student=html.quote(student.short_name),
        period=issued.period_label,
    )
    await query.bot.send_document(
        query.from_user.id,
        BufferedInputFile(issued.pdf, filename=f"vypiska-{request.number}.pdf"),
        caption=caption,
        reply_markup=main_menu(principal),
    )


# -- verification -------------------------------------------------------------------------------------------


@router.message(Command("verify"))
async def cmd_verify(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if not await _staff_only(message, session, principal):
        return
    if not command.args:
        await state.set_state(Verify.code)
        await message.answer(_("Пришлите код с выписки (например, ABCD-EFGH-…)."))
        return
    await _check(message, command.args, state, session, principal, settings)


@links_router.message(CommandStart(deep_link=True, magic=F.args.func(is_start_payload)))
async def cmd_start_verify(
    message: Message,
    command: CommandObject,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if await _staff_only(message, session, principal):
        await _check(message, command.args or "", state, session, principal, settings)


@router.message(Verify.code, F.text, ~F.text.startswith("/"))
@router.message(StateFilter(None), F.text.lower().startswith(QR_PREFIX))
async def on_code(
    message: Message, state: FSMContext, session: AsyncSession, principal: Principal, settings: Settings
) -> None:
    if not await _staff_only(message, session, principal):
        return
    menu = {button.text for row in main_menu(principal).keyboard for button in row}
    if message.text in menu:  # a menu button, not a code: leave the prompt
        await state.clear()
        await message.answer(
            _("Проверка кода отменена. Нажмите нужную кнопку меню ещё раз."),
            reply_markup=main_menu(principal),
        )
        return
    await _check(message, message.text or "", state, session, principal, settings)


async def _staff_only(message: Message, session: AsyncSession, principal: Principal) -> bool:
    if access.may_verify_extract(principal):
        return True
    await audit.record(
        session,
        action="extract_verified",
        channel=AuditChannel.BOT,
        actor_account_id=principal.account_id,
        actor_telegram_id=message.from_user.id if message.from_user else None,
        allowed=False,
    )
    await session.commit()
    await message.answer(
        _(
            "Проверять коды выписок могут только работники школы. Если у вас есть выписка, её подлинность проверит школа."
        )
    )
    return False


async def _check(
    message: Message,
    code: str,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    await state.clear()
    found = await results_requests.check_extract_code(
        session,
        settings.secret_key,
        code,
        actor_account_id=principal.account_id,
        channel=AuditChannel.BOT,
        actor_telegram_id=message.from_user.id if message.from_user else None,
    )
    answer = results_requests.verification_answer(found, settings.tz)
    await message.answer(html.quote(answer), reply_markup=main_menu(principal))
