"""Recording a reward (поощрение): class → student → kind → reason → date → order № → achievement → save.

«Назад» steps back (skipping the questions that had no choice), «Отмена» and /cancel leave at any step.
Every press reloads the student and asks the access policy again (`rewards.rewardable`): a forged or old
button never touches another class. The dialogue lives in the persistent FSM storage.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aiogram import F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import RewardCb, number, row_id
from bot.config import Settings
from bot.i18n_text import in_language
from bot.keyboards import BTN_REWARD, InlineKeyboardBuilder, main_menu
from bot.replies import edit_or_answer
from bot.services import access, audit, rewards, submissions
from bot.services.portfolio import paginate
from bot.services.principal import Principal
from bot.services.rewards import InvalidReward, RewardDenied, RewardProblem, RewardTarget
from bot.services.submissions import InputProblem, InvalidInput
from bot.services.taxonomy import RewardKind, label
from bot.states import ResultsRequestDialog, RewardDialog
from models import Achievement, SchoolClass, Student
from models.enums import AuditChannel, StudentStatus

router = Router(name="rewards")
router.message.filter(F.chat.type == ChatType.PRIVATE)

BACK, CANCEL, PAGE, SAVE, PRESET, TODAY, YESTERDAY, NO_ORDER, NO_LINK = (
    "back", "cancel", "page", "save", "preset", "today", "yesterday", "no_order", "no_link",
)  # fmt: skip
# The questions in order, with the key of the answer in the dialogue data.
STEPS = {
    "school_class": "class_id",
    "student": "student_id",
    "kind": "kind",
    "reason": "reason",
    "date": "granted_on",
    "order": "order_number",
    "achievement": "achievement_id",
    "confirm": None,
}
STUDENTS_PER_PAGE = 10
MAX_BUTTON_TEXT = 60
REASON_PRESETS = (
    __("За отличную учёбу"),
    __("За активное участие в жизни класса"),
    __("За успехи в олимпиадах и конкурсах"),
)


# -- entry ----------------------------------------------------------------------------------------------


@router.message(StateFilter(None, RewardDialog, ResultsRequestDialog), Command("reward"))
@router.message(StateFilter(None, RewardDialog, ResultsRequestDialog), F.text == BTN_REWARD)
async def cmd_reward(
    message: Message, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    if not access.grants_rewards(principal):
        await message.answer(_("Записывать поощрения могут классные руководители и администрация школы."))
        return
    await state.set_state(RewardDialog.school_class)
    await state.set_data({})
    await _ask_next(message, state, session, principal)


# -- leaving and going back ----------------------------------------------------------------------------


@router.message(StateFilter(RewardDialog), Command("cancel"))
async def cmd_cancel(message: Message, state: FSMContext, principal: Principal) -> None:
    await state.clear()
    await message.answer(_("Поощрение не записано."), reply_markup=main_menu(principal))


@router.callback_query(StateFilter(RewardDialog), RewardCb.filter(F.step == CANCEL))
async def cb_cancel(query: CallbackQuery, state: FSMContext) -> None:
    await state.clear()
    await query.answer()
    await edit_or_answer(query, _("Поощрение не записано."))


@router.callback_query(StateFilter(RewardDialog), RewardCb.filter(F.step == BACK))
async def cb_back(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    await query.answer()
    steps = list(STEPS)
    current = (await state.get_state() or "").split(":")[-1]
    data = await state.get_data()
    for step in reversed(steps[: steps.index(current)]):
        if await _applies(step, data, session, principal):
            # The answers from that step on are asked again: a new class means a new student, and so on.
            keep = {k: v for k, v in data.items() if k not in {STEPS[s] for s in steps[steps.index(step) :]}}
            await state.set_data(keep)
            return await _ask(step, query, state, session, principal)
    await _ask(current, query, state, session, principal)


# -- not an answer ---------------------------------------------------------------------------------------


def _is_menu_button(message: Message, principal: Principal) -> bool:
    return message.text in {button.text for row in main_menu(principal).keyboard for button in row}


@router.message(StateFilter(RewardDialog), F.text, ~F.text.startswith("/"), _is_menu_button)
async def on_menu_during_wizard(message: Message) -> None:
    await message.answer(
        _(
            "Сейчас вы записываете поощрение. Ответьте на вопрос выше или нажмите «✖️ Отмена», чтобы выйти в меню."
        )
    )


@router.message(
    StateFilter(
        RewardDialog.school_class,
        RewardDialog.student,
        RewardDialog.kind,
        RewardDialog.achievement,
        RewardDialog.confirm,
    ),
    ~F.text.startswith("/"),
)
async def on_text_instead_of_button(message: Message) -> None:
    await message.answer(_("Выберите ответ кнопкой в сообщении выше или нажмите «✖️ Отмена»."))


# -- class and student -------------------------------------------------------------------------------------


@router.callback_query(RewardDialog.school_class, RewardCb.filter(F.step == "school_class"))
async def cb_class(
    query: CallbackQuery,
    callback_data: RewardCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    school_class = await _class_in_scope(session, principal, callback_data.value)
    if school_class is None:
        await _refuse_class(query, session, principal, callback_data.value)
        return
    await query.answer()
    await state.update_data(class_id=school_class.id, page=0)
    await _ask_next(query, state, session, principal)


@router.callback_query(RewardDialog.student, RewardCb.filter(F.step == PAGE))
async def cb_page(
    query: CallbackQuery,
    callback_data: RewardCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    data = await state.get_data()
    if await _class_in_scope(session, principal, str(data.get("class_id"))) is None:
        await _refuse_class(query, session, principal, str(data.get("class_id")))
        return
    await query.answer()
    await state.update_data(page=number(callback_data.value) or 0)
    await _ask("student", query, state, session, principal)


@router.callback_query(RewardDialog.student, RewardCb.filter(F.step == "student"))
async def cb_student(
    query: CallbackQuery,
    callback_data: RewardCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    student_id = number(callback_data.value)  # too big for an id: refused and audited by `rewardable`
    if student_id is None:
        await query.answer(_("Эта кнопка устарела."), show_alert=True)
        return
    target = await rewards.rewardable(session, principal, student_id, actor_telegram_id=query.from_user.id)
    if target is None:
        await query.answer(_("Нет доступа к этому ученику."), show_alert=True)
        return
    await query.answer()
    await state.update_data(class_id=target.school_class.id, student_id=target.student.id)
    await _ask_next(query, state, session, principal)


async def _class_in_scope(session: AsyncSession, principal: Principal, value: str) -> SchoolClass | None:
    class_id = row_id(value)
    if class_id is None:
        return None
    return next((c for c in await access.classes_in_scope(session, principal) if c.id == class_id), None)


async def _refuse_class(
    query: CallbackQuery, session: AsyncSession, principal: Principal, value: str
) -> None:
    await audit.record(
        session,
        action="reward_denied",
        channel=AuditChannel.BOT,
        actor_account_id=principal.account_id,
        actor_telegram_id=query.from_user.id,
        object_type="class",
        object_id=value[:64],
        allowed=False,
    )
    await session.commit()
    await query.answer(_("Нет доступа к этому классу."), show_alert=True)


async def _target(
    event: Message | CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> RewardTarget | None:
    """The chosen student, if this person may still reward them; otherwise the dialogue ends politely."""
    user = event.from_user
    target = await rewards.rewardable(
        session,
        principal,
        int((await state.get_data())["student_id"]),
        actor_telegram_id=user.id if user else None,
    )
    if target is None:
        await state.clear()
        text = _("Нет доступа к этому ученику. Поощрение не записано.")
        if isinstance(event, CallbackQuery):
            await event.answer()
            await edit_or_answer(event, text)
        else:
            await event.answer(text, reply_markup=main_menu(principal))
    return target


# -- kind, reason, date, order, achievement ------------------------------------------------------------------


@router.callback_query(RewardDialog.kind, RewardCb.filter(F.step == "kind"))
async def cb_kind(
    query: CallbackQuery,
    callback_data: RewardCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    if callback_data.value not in set(RewardKind):
        await query.answer(_("Эта кнопка устарела."), show_alert=True)
        return
    if await _target(query, state, session, principal) is None:
        return
    await query.answer()
    await state.update_data(kind=callback_data.value)
    await _ask_next(query, state, session, principal)


@router.callback_query(RewardDialog.reason, RewardCb.filter(F.step == PRESET))
async def cb_reason_preset(
    query: CallbackQuery,
    callback_data: RewardCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    index = number(callback_data.value)
    if index is None or index >= len(REASON_PRESETS):
        await query.answer(_("Эта кнопка устарела."), show_alert=True)
        return
    if await _target(query, state, session, principal) is None:
        return
    await query.answer()
    with in_language(""):  # the record is the school's, in its language, whatever the teacher reads
        reason = str(REASON_PRESETS[index])
    await state.update_data(reason=reason)
    await _ask_next(query, state, session, principal)


@router.message(RewardDialog.reason, F.text, ~F.text.startswith("/"))
async def on_reason(message: Message, state: FSMContext, session: AsyncSession, principal: Principal) -> None:
    try:
        reason = rewards.clean_reason(message.text or "")
    except InvalidReward as error:
        await message.answer(_problem_text(error.problem))
        return
    if await _target(message, state, session, principal) is None:
        return
    await state.update_data(reason=reason)
    await _ask_next(message, state, session, principal)


@router.callback_query(RewardDialog.date, RewardCb.filter(F.step == "date"))
async def cb_date(
    query: CallbackQuery,
    callback_data: RewardCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if callback_data.value not in (TODAY, YESTERDAY):
        await query.answer(_("Эта кнопка устарела."), show_alert=True)
        return
    if await _target(query, state, session, principal) is None:
        return
    await query.answer()
    today = datetime.now(settings.tz).date()
    chosen = today if callback_data.value == TODAY else today - timedelta(days=1)
    await state.update_data(granted_on=chosen.isoformat())
    await _ask_next(query, state, session, principal)


@router.message(RewardDialog.date, F.text, ~F.text.startswith("/"))
async def on_date(
    message: Message, state: FSMContext, session: AsyncSession, principal: Principal, settings: Settings
) -> None:
    try:
        chosen = submissions.parse_event_date(message.text or "", datetime.now(settings.tz).date())
    except InvalidInput as error:
        await message.answer(_date_problem_text(error.problem))
        return
    if await _target(message, state, session, principal) is None:
        return
    await state.update_data(granted_on=chosen.isoformat())
    await _ask_next(message, state, session, principal)


@router.callback_query(RewardDialog.order, RewardCb.filter(F.step == NO_ORDER))
async def cb_no_order(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    if await _target(query, state, session, principal) is None:
        return
    await query.answer()
    await state.update_data(order_number=None)
    await _ask_next(query, state, session, principal)


@router.message(RewardDialog.order, F.text, ~F.text.startswith("/"))
async def on_order(message: Message, state: FSMContext, session: AsyncSession, principal: Principal) -> None:
    try:
        number = rewards.clean_order_number(message.text)
    except InvalidReward as error:
        await message.answer(_problem_text(error.problem))
        return
    if number is None:
        await message.answer(_("Напишите номер приказа, например 45-о, или нажмите «Без приказа»."))
        return
    if await _target(message, state, session, principal) is None:
        return
    await state.update_data(order_number=number)
    await _ask_next(message, state, session, principal)


@router.message(
    StateFilter(RewardDialog.reason, RewardDialog.date, RewardDialog.order), ~F.text.startswith("/")
)
async def on_not_text(message: Message) -> None:
    await message.answer(_("Ответьте на вопрос выше текстом или кнопкой, либо нажмите «✖️ Отмена»."))


@router.callback_query(RewardDialog.achievement, RewardCb.filter(F.step == "achievement"))
async def cb_achievement(
    query: CallbackQuery,
    callback_data: RewardCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    target = await _target(query, state, session, principal)
    if target is None:
        return
    if callback_data.value == NO_LINK:
        achievement_id = None
    else:
        linkable = {a.id for a in await rewards.linkable_achievements(session, target.student.id)}  # type: ignore[arg-type]
        achievement_id = callback_data.id
        if achievement_id is None or achievement_id not in linkable:
            await query.answer(_("Эта кнопка устарела."), show_alert=True)
            return
    await query.answer()
    await state.update_data(achievement_id=achievement_id)
    await _ask_next(query, state, session, principal)


# -- saving ------------------------------------------------------------------------------------------------


@router.callback_query(RewardDialog.confirm, RewardCb.filter(F.step == SAVE))
async def cb_save(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal, settings: Settings
) -> None:
    data = await state.get_data()
    try:
        reward = await rewards.grant_reward(
            session,
            principal,
            int(data["student_id"]),
            data["kind"],
            data["reason"],
            date.fromisoformat(data["granted_on"]),
            data["order_number"],
            data["achievement_id"],
            datetime.now(settings.tz),
        )
    except RewardDenied:
        await state.clear()
        await query.answer()
        await edit_or_answer(query, _("Нет доступа к этому ученику. Поощрение не записано."))
        return
    except InvalidReward as error:
        await query.answer(_problem_text(error.problem), show_alert=True)
        return
    await state.clear()
    await query.answer()
    student = await session.get(Student, reward.student_id)
    await edit_or_answer(
        query,
        _("✅ Поощрение записано: {kind} — {student}. Ученик и родители получат уведомление.").format(
            kind=label(RewardKind(reward.kind)), student=html.quote(student.short_name if student else "—")
        ),
    )


# -- asking --------------------------------------------------------------------------------------------------


async def _applies(step: str, data: dict, session: AsyncSession, principal: Principal) -> bool:
    """Whether the question has a choice to make: one class in scope, or no approved achievements, are
    answered without asking (and «Назад» skips them)."""
    if step == "school_class":
        return len(await access.classes_in_scope(session, principal)) > 1
    if step == "achievement":
        return bool(await rewards.linkable_achievements(session, int(data["student_id"]), limit=1))
    return True


async def _ask_next(
    event: Message | CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    """Ask the first question not answered yet (the summary when all are)."""
    data = await state.get_data()
    for step, key in STEPS.items():
        if key is None or key in data:
            continue
        if step == "school_class":
            classes = await access.classes_in_scope(session, principal)
            if not classes:
                await state.clear()
                await _show(event, _("У вас нет классов, в которых можно записать поощрение."), None)
                return
            if len(classes) == 1:
                await state.update_data(class_id=classes[0].id, page=0)
                continue
        if step == "achievement" and not await _applies(step, data, session, principal):
            await state.update_data(achievement_id=None)
            continue
        return await _ask(step, event, state, session, principal)
    await _ask("confirm", event, state, session, principal)


async def _ask(
    step: str, event: Message | CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    await state.set_state(getattr(RewardDialog, step))
    data = await state.get_data()
    builder = InlineKeyboardBuilder()
    back = step != "school_class" and await _has_earlier_question(step, data, session, principal)
    if step == "school_class":
        text = _("Поощрение. Выберите класс:")
        for school_class in await access.classes_in_scope(session, principal):
            builder.button(
                text=school_class.label, callback_data=RewardCb(step=step, value=str(school_class.id))
            )
        builder.adjust(4)
    elif step == "student":
        text = await _student_question(builder, session, principal, data)
    elif step == "kind":
        student = await session.get(Student, int(data["student_id"]))
        text = _("Ученик: {name}. Выберите вид поощрения:").format(
            name=html.quote(student.short_name if student else "—")
        )
        for kind in RewardKind:
            builder.button(text=label(kind), callback_data=RewardCb(step=step, value=kind.value))
        builder.adjust(1)
    elif step == "reason":
        text = _("За что поощрение? Напишите основание (до 500 символов) или выберите готовое:")
        for index, preset in enumerate(REASON_PRESETS):
            builder.button(text=str(preset), callback_data=RewardCb(step=PRESET, value=str(index)))
        builder.adjust(1)
    elif step == "date":
        text = _("Дата поощрения? Нажмите кнопку или напишите дату в виде ДД.ММ.ГГГГ.")
        builder.button(text=_("Сегодня"), callback_data=RewardCb(step=step, value=TODAY))
        builder.button(text=_("Вчера"), callback_data=RewardCb(step=step, value=YESTERDAY))
        builder.adjust(2)
    elif step == "order":
        text = _("Номер приказа? Напишите его (например, 45-о) или нажмите «Без приказа».")
        builder.button(text=_("Без приказа"), callback_data=RewardCb(step=NO_ORDER))
    elif step == "achievement":
        text = _("Связать поощрение с достижением ученика?")
        for achievement in await rewards.linkable_achievements(session, int(data["student_id"])):
            builder.button(
                text=_clip(f"№ {achievement.number} · {achievement.title}"),
                callback_data=RewardCb(step=step, value=str(achievement.id)),
            )
        builder.button(text=_("Без привязки"), callback_data=RewardCb(step=step, value=NO_LINK))
        builder.adjust(1)
    else:
        text = await _summary(session, data)
        builder.button(text=_("💾 Сохранить"), callback_data=RewardCb(step=SAVE))
    _nav(builder, back=back)
    await _show(event, text, builder.as_markup())


async def _has_earlier_question(step: str, data: dict, session: AsyncSession, principal: Principal) -> bool:
    steps = list(STEPS)
    for earlier in steps[: steps.index(step)]:
        if await _applies(earlier, data, session, principal):
            return True
    return False


async def _student_question(
    builder: InlineKeyboardBuilder, session: AsyncSession, principal: Principal, data: dict
) -> str:
    school_class = await session.get(SchoolClass, int(data["class_id"]))
    if school_class is None or not access.may_view_class(principal, school_class):
        return _("Нет доступа к этому классу.")  # the class was taken from them since it was chosen
    students = (
        await session.exec(
            select(Student)
            .where(Student.class_id == data["class_id"], Student.status == StudentStatus.ACTIVE)
            .order_by(Student.surname, Student.name, Student.id)
        )
    ).all()
    class_label = html.quote(school_class.label)
    if not students:
        return _("В классе {class_label} нет учеников.").format(class_label=class_label)
    page = paginate(students, int(data.get("page", 0)), per_page=STUDENTS_PER_PAGE)
    await audit.record_viewed(
        session,
        action="class_roster_viewed",
        actor_account_id=principal.account_id,
        student_ids=[student.id for student in page.items if student.id is not None],
        object_type="class",
        object_id=school_class.id,
    )
    for student in page.items:
        builder.button(
            text=_clip(student.short_name), callback_data=RewardCb(step="student", value=str(student.id))
        )
    builder.adjust(2)
    if page.pages > 1:
        arrows = []
        if page.has_previous:
            arrows.append(
                InlineKeyboardButton(
                    text="◀️", callback_data=RewardCb(step=PAGE, value=str(page.page - 1)).pack()
                )
            )
        if page.has_next:
            arrows.append(
                InlineKeyboardButton(
                    text="▶️", callback_data=RewardCb(step=PAGE, value=str(page.page + 1)).pack()
                )
            )
        builder.row(*arrows)
        return _("Класс {class_label}. Кого поощрить? Страница {page} из {pages}.").format(
            class_label=class_label, page=page.page + 1, pages=page.pages
        )
    return _("Класс {class_label}. Кого поощрить?").format(class_label=class_label)


async def _summary(session: AsyncSession, data: dict) -> str:
    student = await session.get(Student, int(data["student_id"]))
    school_class = await session.get(SchoolClass, student.class_id) if student else None
    lines = [
        _("<b>Проверьте поощрение</b>"),
        _("Ученик: {name}, {class_label}").format(
            name=html.quote(student.full_name if student else "—"),
            class_label=html.quote(school_class.label if school_class else "—"),
        ),
        _("Вид: {kind}").format(kind=label(RewardKind(data["kind"]))),
        _("За что: {reason}").format(reason=html.quote(data["reason"])),
        _("Дата: {date}").format(date=date.fromisoformat(data["granted_on"]).strftime("%d.%m.%Y")),
    ]
    if data["order_number"]:
        lines.append(_("Приказ № {number}").format(number=html.quote(data["order_number"])))
    else:
        lines.append(_("Приказ: без приказа"))
    achievement = await session.get(Achievement, data["achievement_id"]) if data["achievement_id"] else None
    if achievement is not None:
        lines.append(
            _("Достижение: № {number} «{title}»").format(
                number=achievement.number, title=html.quote(achievement.title)
            )
        )
    return "\n".join(lines)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_BUTTON_TEXT else text[: MAX_BUTTON_TEXT - 1] + "…"


def _nav(builder: InlineKeyboardBuilder, *, back: bool) -> None:
    """The last row of every question: «Назад» where there is an earlier question, and «Отмена»."""
    buttons = [InlineKeyboardButton(text=_("✖️ Отмена"), callback_data=RewardCb(step=CANCEL).pack())]
    if back:
        buttons.insert(0, InlineKeyboardButton(text=_("← Назад"), callback_data=RewardCb(step=BACK).pack()))
    builder.row(*buttons)


async def _show(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None) -> None:
    if isinstance(event, CallbackQuery):
        await edit_or_answer(event, text, markup)
    else:
        await event.answer(text, reply_markup=markup)


def _problem_text(problem: RewardProblem) -> str:
    return {
        RewardProblem.UNKNOWN_KIND: _("Такого вида поощрения нет. Выберите вид кнопкой."),
        RewardProblem.REASON_EMPTY: _("Напишите, за что поощрение, например: «За победу в олимпиаде»."),
        RewardProblem.REASON_TOO_LONG: _("Слишком длинно: основание — не больше 500 символов. Сократите."),
        RewardProblem.DATE_FUTURE: _("Дата поощрения не может быть в будущем."),
        RewardProblem.DATE_TOO_OLD: _("Слишком ранняя дата. Проверьте год."),
        RewardProblem.ORDER_TOO_LONG: _("Номер приказа — не больше 64 символов."),
        RewardProblem.ACHIEVEMENT_NOT_ELIGIBLE: _(
            "Это достижение нельзя связать с поощрением: оно не одобрено или другого ученика."
        ),
    }[problem]


def _date_problem_text(problem: InputProblem) -> str:
    if problem == InputProblem.DATE_FUTURE:
        return _problem_text(RewardProblem.DATE_FUTURE)
    if problem == InputProblem.DATE_TOO_OLD:
        return _problem_text(RewardProblem.DATE_TOO_OLD)
    if problem == InputProblem.DATE_INVALID:
        return _("Такой даты нет в календаре. Напишите дату в виде ДД.ММ.ГГГГ.")
    return _("Не понял дату. Напишите её в виде ДД.ММ.ГГГГ, например 15.03.2026, или нажмите кнопку.")
