"""The achievement wizard: child → evidence → category → level → result → title → date → source → confirm.

«Назад» goes one step back and /cancel leaves at any step. Sending a photo or a file from the main menu
starts the wizard with it. An album (one media_group_id) becomes one submission with several pages.
Dialogue state lives in the persistent FSM storage, so a restart between steps loses nothing.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime
from enum import StrEnum

from aiogram import Bot, F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import SubmitCb, WithdrawCb, row_id
from bot.config import Settings
from bot.keyboards import BTN_SUBMIT, InlineKeyboardBuilder, main_menu
from bot.replies import edit_or_answer
from bot.services import access, audit, submissions
from bot.services.evidence import (
    MAX_TELEGRAM_DOWNLOAD,
    EvidenceError,
    EvidenceProblem,
    StoredFile,
    copy_stored,
    find_duplicates,
    store,
)
from bot.services.principal import Principal
from bot.services.submissions import InputProblem, InvalidInput, SubmissionDraft
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category, label, results_for
from bot.states import ResultsRequestDialog, Submission
from models import Achievement, SchoolClass, Student
from models.enums import AchievementStatus, AuditChannel, Source, StudentStatus

router = Router(name="submission")
router.message.filter(F.chat.type == ChatType.PRIVATE)

BACK, CANCEL, CONFIRM, TODAY, THIS_MONTH, OTHER_DATE, USE_CAPTION = (
    "back", "cancel", "confirm", "today", "month", "other", "caption",
)  # fmt: skip
# The order of the questions; «Назад» walks it backwards, skipping what doesn't apply.
STEPS = ["child", "evidence", "category", "level", "result", "title", "date", "source", "confirm"]


# -- entry ----------------------------------------------------------------------------------------------


# A results request left at its buttons (ResultsRequestDialog) does not hold up the menu.
@router.message(StateFilter(None, ResultsRequestDialog), F.text == BTN_SUBMIT)
async def cmd_submit(
    message: Message, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    if not principal.has_any_role:
        return await _not_joined(message)
    await state.set_state(Submission.child)
    await state.set_data({"files": []})
    await _ask_next(message, state, session, principal)


@router.message(StateFilter(None, ResultsRequestDialog), F.photo | F.document)
async def on_file_from_menu(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    bot: Bot,
) -> None:
    """A photo sent from the main menu starts the wizard with it."""
    if not principal.has_any_role:
        return await _not_joined(message)
    await state.set_state(Submission.evidence)
    await state.set_data({"files": []})
    if await _take_evidence(message, state, settings, bot):
        await _ask_next(message, state, session, principal)


async def _not_joined(message: Message) -> None:
    await message.answer(_("Сначала подключитесь по ссылке-приглашению от школы."))


# -- leaving --------------------------------------------------------------------------------------------


@router.message(StateFilter(Submission), Command("cancel"))
async def cmd_cancel(message: Message, state: FSMContext, principal: Principal, settings: Settings) -> None:
    await discard_draft(state, settings)
    await message.answer(_("Добавление достижения отменено."), reply_markup=main_menu(principal))


@router.callback_query(StateFilter(Submission), SubmitCb.filter(F.step == CANCEL))
async def cb_cancel(
    query: CallbackQuery, state: FSMContext, principal: Principal, settings: Settings
) -> None:
    await discard_draft(state, settings)
    await query.answer()
    await edit_or_answer(query, _("Добавление достижения отменено."))


async def discard_draft(state: FSMContext, settings: Settings) -> None:
    """Forget the draft and delete the files it had stored: nothing was submitted (also used when consent
    is withdrawn mid-dialogue)."""
    for stored in (await state.get_data()).get("files", []):
        (settings.media_dir / stored["path"]).unlink(missing_ok=True)
    await state.clear()


@router.callback_query(StateFilter(Submission), SubmitCb.filter(F.step == BACK))
async def cb_back(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    await query.answer()
    current = (await state.get_state() or "").split(":")[-1]
    if current == "date_typed":  # back from typing a date: the date buttons again
        await _ask("date", query, state, session, principal)
        return
    data = await state.get_data()
    index = STEPS.index(current)
    for step in reversed(STEPS[:index]):
        if await _applies(step, data, session, principal):
            await _ask(step, query, state, session, principal)
            return
    await _ask(current, query, state, session, principal)


# -- not an answer ---------------------------------------------------------------------------------------


def _is_menu_button(message: Message, principal: Principal) -> bool:
    menu = {button.text for row in main_menu(principal).keyboard for button in row}
    return message.text in menu


@router.message(StateFilter(Submission), F.text, ~F.text.startswith("/"), _is_menu_button)
async def on_menu_during_wizard(message: Message) -> None:
    """A menu button is not an answer: keep the draft and say how to leave it."""
    await message.answer(_waiting_text())


def _waiting_text() -> str:
    return _(
        "Сейчас вы добавляете достижение. Ответьте на вопрос выше или нажмите «✖️ Отмена», чтобы выйти в меню."
    )


# -- child ---------------------------------------------------------------------------------------------


async def _candidates(session: AsyncSession, principal: Principal) -> list[int]:
    """Whose achievements this person sends without choosing a class: their children or themself."""
    own = [principal.own_student_id] if principal.own_student_id else []
    return own + list(principal.children)


@router.callback_query(Submission.child, SubmitCb.filter(F.step == "class"))
async def cb_class(
    query: CallbackQuery,
    callback_data: SubmitCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    """Staff pick students of a class: one, or several for a team's diploma."""
    class_id = callback_data.id
    if class_id is None or await session.get(SchoolClass, class_id) is None:
        await _stale(query)
        return
    await query.answer()
    await state.update_data(pick_class=class_id, picked=[])
    await _show_picker(query, state, session, principal)


@router.callback_query(Submission.child, SubmitCb.filter(F.step == "pick"))
async def cb_pick(
    query: CallbackQuery,
    callback_data: SubmitCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    data = await state.get_data()
    student_id = callback_data.id
    student = await session.get(Student, student_id) if student_id is not None else None
    if student is None or student.class_id != data.get("pick_class"):  # not a button of this picker
        await _audit_denied(query, session, principal, student.id if student else None)
        await _stale(query)
        return
    if student_id not in data.get("picked", []) and not await _may_submit(
        query,
        session,
        principal,
        student.id,  # type: ignore[arg-type]
    ):
        return
    await query.answer()
    picked = set(data.get("picked", [])) ^ {student_id}
    await state.update_data(picked=sorted(picked))
    await _show_picker(query, state, session, principal)


@router.callback_query(Submission.child, SubmitCb.filter(F.step == "picked"))
async def cb_picked(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    picked = (await state.get_data()).get("picked", [])
    if not picked:
        await query.answer(_("Отметьте хотя бы одного ученика."), show_alert=True)
        return
    for student_id in picked:
        if not await _may_submit(query, session, principal, int(student_id)):
            return
    await query.answer()
    await state.update_data(student_id=picked[0], student_ids=picked)
    await _ask_next(query, state, session, principal)


async def _may_submit(
    query: CallbackQuery, session: AsyncSession, principal: Principal, student_id: int
) -> bool:
    """Checked on every press that names a student (callback data is never trusted); refusals audited."""
    student = await session.get(Student, student_id) if row_id(student_id) else None
    if student is not None and access.may_submit_for(principal, student):
        return True
    await _audit_denied(query, session, principal, student.id if student else None)
    await query.answer(_("Нет доступа к этому ученику."), show_alert=True)
    return False


async def _audit_denied(
    query: CallbackQuery, session: AsyncSession, principal: Principal, student_id: int | None
) -> None:
    await audit.record(
        session,
        action="submit_denied",
        channel=AuditChannel.BOT,
        actor_account_id=principal.account_id,
        actor_telegram_id=query.from_user.id,
        student_id=student_id,
        allowed=False,
    )
    await session.commit()


async def _stale(query: CallbackQuery) -> None:
    """A press whose data can't be an answer here (forged, or garbled: a text or a number no row has for
    an id): out of date, and the question stays. (One meant to name a child is audited as denied first.)"""
    await query.answer(_("Эта кнопка устарела."), show_alert=True)


async def _show_picker(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    data = await state.get_data()
    picked = set(data.get("picked", []))
    students = (
        await session.exec(
            select(Student)
            .where(Student.class_id == data["pick_class"], Student.status == StudentStatus.ACTIVE)
            .order_by(Student.surname, Student.name)
        )
    ).all()
    builder = InlineKeyboardBuilder()
    # A forged «class» press must not list a class to someone who may not send for its students.
    for student in (s for s in students if access.may_submit_for(principal, s)):
        mark = "✅ " if student.id in picked else ""
        builder.button(
            text=f"{mark}{student.short_name}", callback_data=SubmitCb(step="pick", value=str(student.id))
        )
    builder.adjust(2)
    builder.row(
        InlineKeyboardButton(
            text=_("Готово, выбрано: {count}").format(count=len(picked)),
            callback_data=SubmitCb(step="picked").pack(),
        )
    )
    _nav(builder, back=True)
    text = _("Отметьте ученика или нескольких (командный диплом) и нажмите «Готово»:")
    await edit_or_answer(query, text, builder.as_markup())


@router.callback_query(Submission.child, SubmitCb.filter(F.step == "child"))
async def cb_child(
    query: CallbackQuery,
    callback_data: SubmitCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    student_id = callback_data.id
    if student_id is None:
        await _audit_denied(query, session, principal, None)
        await _stale(query)
        return
    if not await _may_submit(query, session, principal, student_id):
        return
    await query.answer()
    await state.update_data(student_id=student_id)
    await _ask_next(query, state, session, principal)


# -- evidence ------------------------------------------------------------------------------------------


@router.message(StateFilter(Submission), F.media_group_id, F.photo | F.document)
async def on_album_page(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    bot: Bot,
) -> None:
    """The next page of an album: added to the draft without asking anything again."""
    data = await state.get_data()
    first_page = data.get("media_group_id") != message.media_group_id
    if first_page and await state.get_state() != Submission.evidence.state:
        if data.get("refused_album") != message.media_group_id:  # one answer per album, not per page
            await state.update_data(refused_album=message.media_group_id)
            await message.answer(_waiting_text())
        return
    if await _take_evidence(message, state, settings, bot) and first_page:
        await _ask_next(message, state, session, principal)


@router.message(Submission.evidence, F.photo | F.document)
async def on_evidence(
    message: Message,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    bot: Bot,
) -> None:
    if await _take_evidence(message, state, settings, bot):
        await _ask_next(message, state, session, principal)


@router.message(Submission.evidence)
async def on_not_evidence(message: Message) -> None:
    await message.answer(
        _(
            "Нужна фотография или скан документа: диплома, грамоты, сертификата. Пришлите фото "
            "(можно несколько страниц одним альбомом) или файл JPEG, PNG, HEIC или PDF."
        ),
        reply_markup=_nav(InlineKeyboardBuilder(), back=True).as_markup(),
    )


async def _take_evidence(message: Message, state: FSMContext, settings: Settings, bot: Bot) -> bool:
    """Download, normalise and store the file of `message` into the draft; False after a polite refusal."""
    if message.photo:
        file = message.photo[-1]  # the largest size
        file_id, size = file.file_id, file.file_size
    else:
        assert message.document is not None
        file_id, size = message.document.file_id, message.document.file_size
    if size is not None and size > MAX_TELEGRAM_DOWNLOAD:
        await message.answer(
            _(
                "Файл больше 20 МБ — Telegram не даёт ботам скачивать такие файлы. Сфотографируйте документ "
                "камерой телефона и пришлите фото, или сохраните скан поменьше (до 20 МБ)."
            )
        )
        return False
    data = await state.get_data()
    if len(data.get("files", [])) >= submissions.MAX_FILES:
        await message.answer(_("Не больше 10 страниц в одном достижении. Лишние страницы не добавлены."))
        return False
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer)
    try:
        stored = await store(settings.media_dir, buffer.getvalue())
    except EvidenceError as error:
        await message.answer(_evidence_problem_text(error.reason))
        return False
    files = [*data.get("files", []), {**dataclasses.asdict(stored), "order": message.message_id}]
    update: dict[str, object] = {"files": files, "media_group_id": message.media_group_id}
    if message.forward_origin is not None:
        update["forwarded"] = True
    if message.caption and not data.get("caption"):
        update["caption"] = message.caption[: submissions.MAX_TITLE_LENGTH]
    await state.update_data(update)
    return True


def _evidence_problem_text(problem: EvidenceProblem) -> str:
    return {
        EvidenceProblem.UNSUPPORTED: _(
            "Этот файл не похож на фото или скан документа. Подходят JPEG, PNG, WebP, HEIC и PDF."
        ),
        EvidenceProblem.TOO_BIG: _("Изображение слишком большое. Пришлите фото обычного размера."),
        EvidenceProblem.CORRUPT: _(
            "Файл повреждён и не открывается. Попробуйте сфотографировать документ заново."
        ),
        EvidenceProblem.EMPTY: _("Файл пустой. Пришлите фото или скан документа."),
    }[problem]


# -- category, level, result, source: buttons ----------------------------------------------------------


@router.callback_query(Submission.category, SubmitCb.filter(F.step == "category"))
@router.callback_query(Submission.level, SubmitCb.filter(F.step == "level"))
@router.callback_query(Submission.result, SubmitCb.filter(F.step == "result"))
@router.callback_query(Submission.source, SubmitCb.filter(F.step == "source"))
async def cb_choice(
    query: CallbackQuery,
    callback_data: SubmitCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    vocabulary = {
        "category": Category,
        "level": AchievementLevel,
        "result": AchievementResult,
        "source": Source,
    }
    try:
        value = vocabulary[callback_data.step](callback_data.value)
    except ValueError:
        await _stale(query)
        return
    data = await state.get_data()
    if callback_data.step == "result" and value not in results_for(Category(data["category"])):
        await _stale(query)
        return
    await query.answer()
    update = {callback_data.step: value.value}
    if callback_data.step == "category" and data.get("result"):
        update["result"] = ""  # results depend on the category: ask again
    await state.update_data(update)
    await _ask_next(query, state, session, principal)


# -- title ---------------------------------------------------------------------------------------------


@router.message(Submission.title, F.text, ~F.text.startswith("/"))
async def on_title(message: Message, state: FSMContext, session: AsyncSession, principal: Principal) -> None:
    await _save_title(message, message.text or "", state, session, principal)


@router.callback_query(Submission.title, SubmitCb.filter(F.step == "title"))
async def cb_title_from_caption(
    query: CallbackQuery,
    callback_data: SubmitCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
) -> None:
    if callback_data.value != USE_CAPTION:
        await _stale(query)
        return
    await query.answer()
    await _save_title(query, (await state.get_data()).get("caption", ""), state, session, principal)


async def _save_title(
    event: Message | CallbackQuery, text: str, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    try:
        title = submissions.validate_title(text)
    except InvalidInput as error:
        answer = event if isinstance(event, Message) else event.message
        if answer is not None:
            await answer.answer(_input_problem_text(error.problem))
        return
    await state.update_data(title=title)
    await _ask_next(event, state, session, principal)


@router.message(Submission.title, ~F.text.startswith("/"))
async def on_title_not_text(message: Message) -> None:
    await message.answer(
        _("Напишите название мероприятия текстом, например: «Всероссийская олимпиада по математике».")
    )


# -- date ----------------------------------------------------------------------------------------------


@router.callback_query(Submission.date, SubmitCb.filter(F.step == "date"))
async def cb_date(
    query: CallbackQuery,
    callback_data: SubmitCb,
    state: FSMContext,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if callback_data.value not in (TODAY, THIS_MONTH, OTHER_DATE):
        await _stale(query)
        return
    await query.answer()
    today = datetime.now(settings.tz).date()
    if callback_data.value == OTHER_DATE:
        await state.set_state(Submission.date_typed)
        await edit_or_answer(
            query,
            _("Напишите дату мероприятия в виде ДД.ММ.ГГГГ, например {example}.").format(
                example=today.strftime("%d.%m.%Y")
            ),
            _nav(InlineKeyboardBuilder(), back=True).as_markup(),
        )
        return
    chosen = today if callback_data.value == TODAY else today.replace(day=1)
    await state.update_data(event_date=chosen.isoformat())
    await _ask_next(query, state, session, principal)


@router.message(Submission.date_typed, F.text, ~F.text.startswith("/"))
async def on_date_typed(
    message: Message, state: FSMContext, session: AsyncSession, principal: Principal, settings: Settings
) -> None:
    try:
        chosen = submissions.parse_event_date(message.text or "", datetime.now(settings.tz).date())
    except InvalidInput as error:
        await message.answer(_input_problem_text(error.problem))
        return
    await state.update_data(event_date=chosen.isoformat())
    await _ask_next(message, state, session, principal)


@router.message(Submission.date_typed, ~F.text.startswith("/"))
async def on_date_not_text(message: Message) -> None:
    await message.answer(_input_problem_text(InputProblem.DATE_FORMAT))


# -- confirm -------------------------------------------------------------------------------------------


@router.callback_query(Submission.confirm, SubmitCb.filter(F.step == CONFIRM))
async def cb_confirm(
    query: CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal, settings: Settings
) -> None:
    data = await state.get_data()
    student_ids = data.get("student_ids") or [data["student_id"]]
    for student_id in student_ids:
        if not await _may_submit(query, session, principal, int(student_id)):
            return
    assert principal.account_id is not None, "may_submit_for lets only known accounts through"
    files = _stored_files(data)
    saved = []
    try:
        for index, student_id in enumerate(student_ids):
            # Every record owns its files: a team diploma is copied for each further student.
            own_files = files if index == 0 else [await copy_stored(settings.media_dir, f) for f in files]
            draft = _draft(data, int(student_id), own_files)
            saved.append(
                await submissions.create_submission(
                    session, draft, principal.account_id, datetime.now(settings.tz)
                )
            )
    except InvalidInput as error:
        await query.answer(_input_problem_text(error.problem), show_alert=True)
        return
    await state.clear()
    await query.answer()
    await edit_or_answer(query, *_saved_text(saved))


def _saved_text(saved: list[Achievement]) -> tuple[str, InlineKeyboardMarkup | None]:
    if len(saved) > 1:
        numbers = ", ".join(a.number for a in saved)
        return _("✅ Сохранено достижений: {count} (№ {numbers}).").format(
            count=len(saved), numbers=numbers
        ), None
    [achievement] = saved
    if achievement.status == AchievementStatus.APPROVED:
        text = _("✅ Достижение № {number} сохранено и сразу одобрено: вы классный руководитель ученика.")
        return text.format(number=achievement.number), None
    text = _(
        "✅ Достижение № {number} отправлено на проверку классному руководителю. Я сообщу, когда его рассмотрят."
    )
    builder = InlineKeyboardBuilder()
    builder.button(text=_("↩️ Отозвать"), callback_data=WithdrawCb(achievement_id=achievement.id))
    return text.format(number=achievement.number), builder.as_markup()


@router.callback_query(WithdrawCb.filter())
async def cb_withdraw(
    query: CallbackQuery,
    callback_data: WithdrawCb,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    achievement_id = callback_data.achievement_id
    achievement = await session.get(Achievement, achievement_id) if row_id(achievement_id) else None
    student = await session.get(Student, achievement.student_id) if achievement else None
    if (
        principal.account_id is None
        or student is None
        or not access.may_withdraw(principal, achievement, student)
    ):
        await audit.record(
            session,
            action="achievement_withdraw_denied",
            channel=AuditChannel.BOT,
            actor_account_id=principal.account_id,
            actor_telegram_id=query.from_user.id,
            student_id=student.id if student else None,
            object_type="achievement",
            object_id=achievement_id,
            allowed=False,
        )
        await session.commit()
        await query.answer(_("Отозвать может только тот, кто прислал достижение."), show_alert=True)
        return
    outcome = await submissions.withdraw(
        session, achievement_id, principal.account_id, datetime.now(settings.tz)
    )
    if not outcome.applied:
        await query.answer(
            _("Уже рассмотрено: {status}.").format(
                status=label(AchievementStatus(outcome.achievement.status))
            ),
            show_alert=True,
        )
        return
    await query.answer()
    await edit_or_answer(
        query, _("↩️ Достижение № {number} отозвано.").format(number=outcome.achievement.number)
    )


def _stored_files(data: dict) -> list[StoredFile]:
    """The draft's files in the order they were sent (album items may arrive in any order)."""
    files = sorted(data["files"], key=lambda f: f["order"])
    return [StoredFile(**{k: v for k, v in f.items() if k != "order"}) for f in files]


def _draft(data: dict, student_id: int, files: list[StoredFile]) -> SubmissionDraft:
    return SubmissionDraft(
        student_id=student_id,
        category=Category(data["category"]),
        level=AchievementLevel(data["level"]),
        result=AchievementResult(data["result"]),
        title=data["title"],
        event_date=date.fromisoformat(data["event_date"]),
        source=Source(data["source"]),
        forwarded=bool(data.get("forwarded")),
        files=files,
    )


# -- asking --------------------------------------------------------------------------------------------


async def _applies(step: str, data: dict, session: AsyncSession, principal: Principal) -> bool:
    """Whether «Назад» may land on `step`: only the child question is skipped, when there is no choice."""
    if step == "child":
        return principal.is_staff or len(await _candidates(session, principal)) > 1
    return True


async def _ask_next(
    event: Message | CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    """Ask the first question still open (the summary when all are answered)."""
    data = await state.get_data()
    for step in STEPS:
        if step == "child" and "student_id" not in data:
            candidates = await _candidates(session, principal)
            if len(candidates) == 1 and not principal.is_staff:
                await state.update_data(student_id=candidates[0])
                data["student_id"] = candidates[0]
                continue
            return await _ask(step, event, state, session, principal)
        if step != "child" and step != "confirm" and not data.get(_field(step)):
            return await _ask(step, event, state, session, principal)
        if step == "confirm":
            return await _ask(step, event, state, session, principal)


def _field(step: str) -> str:
    return {"evidence": "files", "date": "event_date"}.get(step, step)


async def _ask(
    step: str, event: Message | CallbackQuery, state: FSMContext, session: AsyncSession, principal: Principal
) -> None:
    await state.set_state(getattr(Submission, step))
    data = await state.get_data()
    builder = InlineKeyboardBuilder()
    if step == "child":
        text = _("Чьё это достижение?")
        if principal.is_staff:
            for school_class in (
                await session.exec(select(SchoolClass).order_by(SchoolClass.grade, SchoolClass.letter))
            ).all():
                builder.button(
                    text=school_class.label, callback_data=SubmitCb(step="class", value=str(school_class.id))
                )
            builder.adjust(4)
            text = _("Выберите класс ученика:")
        for student_id in await _candidates(session, principal):
            student = await session.get(Student, student_id)
            if student is not None:
                builder.button(
                    text=student.short_name, callback_data=SubmitCb(step="child", value=str(student_id))
                )
        builder.adjust(4 if principal.is_staff else 1)
        _nav(builder, back=False)
    elif step == "evidence":
        await state.update_data(files=[], media_group_id=None)  # «Назад» to here means other pages
        text = _(
            "Пришлите фото диплома, грамоты или сертификата. Несколько страниц — одним альбомом. "
            "Подойдёт и файл: JPEG, PNG, HEIC или PDF до 20 МБ."
        )
        _nav(builder, back=await _applies("child", data, session, principal))
    elif step in ("category", "level", "result", "source"):
        text, values = _choices(step, data)
        for value in values:
            builder.button(text=label(value), callback_data=SubmitCb(step=step, value=value.value))
        builder.adjust(1 if step in ("category", "source") else 2)
        _nav(builder, back=True)
    elif step == "title":
        text = _(
            "Напишите название мероприятия (до 200 символов), например: «Муниципальный этап ВсОШ по математике»."
        )
        if data.get("caption"):
            builder.button(
                text=_("Взять из подписи: {caption}").format(caption=data["caption"][:40]),
                callback_data=SubmitCb(step="title", value=USE_CAPTION),
            )
        _nav(builder, back=True)
    elif step == "date":
        text = _("Когда было мероприятие?")
        builder.button(text=_("Сегодня"), callback_data=SubmitCb(step="date", value=TODAY))
        builder.button(text=_("В этом месяце"), callback_data=SubmitCb(step="date", value=THIS_MONTH))
        builder.button(text=_("Другая дата"), callback_data=SubmitCb(step="date", value=OTHER_DATE))
        builder.adjust(3)
        _nav(builder, back=True)
    else:
        text = await _summary(session, data)
        builder.button(text=_("✅ Подтвердить"), callback_data=SubmitCb(step=CONFIRM))
        builder.adjust(1)
        _nav(builder, back=True)
    await _show(event, text, builder.as_markup())


def _choices(step: str, data: dict) -> tuple[str, list[StrEnum]]:
    """The question and the answers of a step answered with buttons."""
    if step == "category":
        return _("Выберите категорию достижения:"), list(Category)
    if step == "level":
        return _("Какого уровня мероприятие?"), list(AchievementLevel)
    if step == "result":
        return _("Какой результат?"), list(results_for(Category(data["category"])))
    return (
        _("Где получено достижение? Достижения из других организаций учитываются по желанию семьи."),
        list(Source),
    )


def _nav(builder: InlineKeyboardBuilder, *, back: bool) -> InlineKeyboardBuilder:
    """The last row of every step: «Назад» (where there is a step to go back to) and «Отмена»."""
    buttons = [InlineKeyboardButton(text=_("✖️ Отмена"), callback_data=SubmitCb(step=CANCEL).pack())]
    if back:
        buttons.insert(0, InlineKeyboardButton(text=_("← Назад"), callback_data=SubmitCb(step=BACK).pack()))
    builder.row(*buttons)
    return builder


async def _show(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    if isinstance(event, CallbackQuery):
        await edit_or_answer(event, text, markup)
    else:
        await event.answer(text, reply_markup=markup)


async def _summary(session: AsyncSession, data: dict) -> str:
    student = await session.get(Student, int(data["student_id"]))
    school_class = await session.get(SchoolClass, student.class_id) if student else None
    files = data.get("files", [])
    team = [await session.get(Student, int(i)) for i in data.get("student_ids", [])]
    who = (
        _("Ученики ({count}): {names}").format(
            count=len(team), names=html.quote(", ".join(s.short_name for s in team if s is not None))
        )
        if len(team) > 1
        else _("Ученик: {name}, {class_label}").format(
            name=html.quote(student.full_name if student else "—"),
            class_label=html.quote(school_class.label if school_class else ""),
        )
    )
    lines = [
        _("<b>Проверьте, всё ли верно:</b>"),
        who,
        _("Категория: {category}").format(category=label(Category(data["category"]))),
        _("Уровень: {level}").format(level=label(AchievementLevel(data["level"]))),
        _("Результат: {result}").format(result=label(AchievementResult(data["result"]))),
        _("Название: {title}").format(title=html.quote(data["title"])),
        _("Дата: {date}").format(date=date.fromisoformat(data["event_date"]).strftime("%d.%m.%Y")),
        _("Получено: {source}").format(source=label(Source(data["source"]))),
        _("Страниц: {count}").format(count=len(files)),
    ]
    if student is not None and await find_duplicates(
        session, student.id, [f["original_sha256"] for f in files]
    ):
        lines.append(_("⚠️ Похоже, этот документ уже загружен. Если это другое достижение, подтвердите."))
    if data.get("forwarded"):
        lines.append(_("↪️ Переслано"))
    return "\n".join(lines)


def _input_problem_text(problem: InputProblem) -> str:
    return {
        InputProblem.TITLE_EMPTY: _("Название не может быть пустым. Напишите название мероприятия."),
        InputProblem.TITLE_TOO_LONG: _(
            "Слишком длинное название: не больше 200 символов. Сократите, пожалуйста."
        ),
        InputProblem.DATE_FORMAT: _("Не понял дату. Напишите её в виде ДД.ММ.ГГГГ, например 15.03.2026."),
        InputProblem.DATE_INVALID: _("Такой даты нет в календаре. Проверьте день и месяц."),
        InputProblem.DATE_FUTURE: _("Дата не может быть в будущем. Напишите дату мероприятия."),
        InputProblem.DATE_TOO_OLD: _("Дата слишком давняя: принимаются достижения с 2000 года."),
    }.get(problem, _("Проверьте данные и попробуйте ещё раз."))


@router.message(StateFilter(Submission), ~F.text.startswith("/"))
async def on_anything_else(message: Message) -> None:
    """Last in this router: whatever isn't an answer to the current question (a photo at a button step)."""
    await message.answer(_waiting_text())
