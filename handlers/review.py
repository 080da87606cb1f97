"""Reviewing achievements in the chat: the card's buttons (approve, reject with a reason, correct a field),
the typed reason, title and date, and /pending, the reviewer's queue.

Callback data carries the achievement id only. Every press reloads the achievement, its student and the
student's current class and asks the access policy, so a button outlives a restart without granting
anything to someone who was moved or never had the right. Decisions are the service's conditional
updates: a double tap or two reviewers at once act once, and the late press learns who came first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import PendingPageCb, ReviewCb, ReviewFieldCb, ReviewReasonCb, ReviewValueCb, row_id
from bot.config import Settings
from bot.keyboards import BTN_PENDING, InlineKeyboardBuilder, main_menu
from bot.replies import answer_query, edit_markup, edit_message, edit_or_answer
from bot.services import access, audit, submissions
from bot.services.evidence import StoredFile
from bot.services.outbox import MAX_CAPTION, MAX_TEXT, NotificationPayload, visible_length
from bot.services.principal import Principal
from bot.services.sender import send_now
from bot.services.submissions import (
    MAX_REASON_LENGTH,
    Decision,
    DecisionOutcome,
    InputProblem,
    InvalidInput,
    ReviewAction,
)
from bot.services.taxonomy import (
    AchievementLevel,
    AchievementResult,
    Category,
    RejectReason,
    label,
    reject_reason_text,
    results_for,
)
from bot.states import Review
from models import Account, Achievement, EvidenceFile, SchoolClass, Student
from models.enums import AchievementStatus, AuditChannel

router = Router(name="review")
router.message.filter(F.chat.type == ChatType.PRIVATE)
router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)


PAGE_SIZE = 10
# ReviewCb actions besides the card's own three (ReviewAction).
BACK = "back"  # from the reasons or fields keyboard back to the card's buttons
OPEN = "open"  # send the card again, from /pending
# What the reviewer may correct: callback value -> button text.
FIELDS = {
    "category": __("Категория"),
    "level": __("Уровень"),
    "result": __("Результат"),
    "title": __("Название"),
    "date": __("Дата"),
}
_CHOICES: dict[str, type[Category] | type[AchievementLevel] | type[AchievementResult]] = {
    "category": Category,
    "level": AchievementLevel,
    "result": AchievementResult,
}
NAME_IN_NOTE = 60  # a name in a decision line or an alert (an alert holds 200 characters)
TITLE_IN_QUEUE = 40
NAME_ON_BUTTON = 40


@dataclass(frozen=True)
class Loaded:
    """An achievement with its student and the student's class as they are now."""

    achievement: Achievement
    student: Student
    school_class: SchoolClass


@dataclass(frozen=True)
class CardRef:
    """The message that shows a review card: edited in place when possible, else the card is sent anew."""

    chat_id: int
    message_id: int | None
    caption: bool  # a photo or document: its caption holds the card (≤ 1024 characters)

    @classmethod
    def of(cls, query: CallbackQuery) -> CardRef:
        message = query.message
        if isinstance(message, Message):
            return cls(message.chat.id, message.message_id, caption=message.text is None)
        return cls(query.from_user.id, None, caption=False)

    def as_data(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "message_id": self.message_id, "caption": self.caption}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> CardRef:
        return cls(int(data["chat_id"]), data.get("message_id"), caption=bool(data.get("caption")))

    @property
    def limit(self) -> int:
        return MAX_CAPTION if self.caption else MAX_TEXT


# -- loading and access ---------------------------------------------------------------------------------


async def _load(session: AsyncSession, achievement_id: int) -> Loaded | None:
    if row_id(achievement_id) is None:  # a larger id can't be bound to a query; no such achievement anyway
        return None
    row = (
        await session.exec(
            select(Achievement, Student, SchoolClass)
            .join(Student, col(Student.id) == col(Achievement.student_id))
            .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
            .where(col(Achievement.id) == achievement_id)
            .execution_options(populate_existing=True)
        )
    ).first()
    return None if row is None else Loaded(*row)


async def _reloaded(session: AsyncSession, achievement_id: int) -> Loaded:
    """After a service call: a decision that came too late rolls the session back, expiring what it held."""
    loaded = await _load(session, achievement_id)
    assert loaded is not None, "achievements are never deleted"
    return loaded


async def _check(
    session: AsyncSession, principal: Principal, achievement_id: int, action: str, telegram_id: int
) -> Loaded | str:
    """The achievement if this person may review it now; otherwise the refusal to show (denials audited)."""
    loaded = await _load(session, achievement_id)
    if loaded is None:
        return _("Это достижение не найдено")
    if not access.may_review(principal, loaded.student, loaded.school_class):
        await audit.record(
            session,
            action="achievement_review_denied",
            channel=AuditChannel.BOT,
            actor_account_id=principal.account_id,
            actor_telegram_id=telegram_id,
            student_id=loaded.student.id,
            object_type="achievement",
            object_id=achievement_id,
            allowed=False,
            details=f"action={action}",
        )
        await session.commit()
        return _("Нет доступа к этому достижению")
    return loaded


async def _authorised(
    query: CallbackQuery, session: AsyncSession, principal: Principal, achievement_id: int, action: str
) -> Loaded | None:
    checked = await _check(session, principal, achievement_id, action, query.from_user.id)
    if isinstance(checked, str):
        await answer_query(query, checked, alert=True)
        return None
    return checked


def _actor(principal: Principal) -> int:
    assert principal.account_id is not None, "may_review lets only known accounts through"
    return principal.account_id


def _now(settings: Settings) -> datetime:
    return datetime.now(settings.tz)


# -- the card --------------------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    """Plain text cut to `limit` characters with «…» (escape it afterwards for HTML)."""
    limit = max(limit, 1)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _markup(rows: list[list[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data) for text, data in row] for row in rows
        ]
    )


async def _card(session: AsyncSession, loaded: Loaded) -> NotificationPayload:
    """The review card as the service makes it for the outbox, with the achievement's current values."""
    achievement = loaded.achievement
    files = (
        await session.exec(
            select(EvidenceFile)
            .where(EvidenceFile.achievement_id == achievement.id)
            .order_by(col(EvidenceFile.position))
        )
    ).all()
    stored = [StoredFile(f.path, f.sha256, f.original_sha256, f.mime_type, f.size) for f in files]
    submitter = (
        await session.get(Account, achievement.submitted_by_account_id)
        if achievement.submitted_by_account_id is not None
        else None
    )
    return submissions.review_card(achievement, loaded.student, loaded.school_class, submitter, stored)


async def _decider(session: AsyncSession, achievement: Achievement, tz: ZoneInfo) -> tuple[str, str]:
    """Who decided (plain text, clipped) and when, in the school's zone."""
    account = (
        await session.get(Account, achievement.decided_by_account_id)
        if achievement.decided_by_account_id is not None
        else None
    )
    name = _clip(account.name, NAME_IN_NOTE) if account is not None else "—"
    when = achievement.decided_at.astimezone(tz).strftime("%d.%m.%Y %H:%M") if achievement.decided_at else "—"
    return name, when


async def _already_text(session: AsyncSession, achievement: Achievement, tz: ZoneInfo) -> str:
    """«Уже рассмотрено: одобрено, Елена Петровна, 10.03.2026 12:30» (plain text: it goes in an alert)."""
    name, when = await _decider(session, achievement, tz)
    return _("Уже рассмотрено: {status}, {name}, {when}").format(
        status=label(AchievementStatus(achievement.status)), name=name, when=when
    )


async def _decided_text(
    session: AsyncSession, payload: NotificationPayload, achievement: Achievement, tz: ZoneInfo, limit: int
) -> str:
    """The card with the decision added under it, within `limit` visible characters."""
    name, when = await _decider(session, achievement, tz)
    status = AchievementStatus(achievement.status)
    lines = {
        AchievementStatus.APPROVED: _("✅ Одобрено: {name}, {when}"),
        AchievementStatus.REJECTED: _("❌ Отклонено: {name}, {when}"),
        AchievementStatus.WITHDRAWN: _("↩️ Отозвано: {name}, {when}"),
    }
    if status not in lines:
        return payload.text
    decision = lines[status].format(name=html.quote(name), when=when)
    reason = (
        reject_reason_text(achievement.reject_reason or "") if status == AchievementStatus.REJECTED else ""
    )
    reason_line = _("Причина: {reason}")
    # The whole card if it fits, else its first line: a long typed reason must not break the edit.
    for base in (payload.text, payload.text.split("\n", 1)[0]):
        text = f"{base}\n\n<b>{decision}</b>"
        if reason:
            room = limit - visible_length(text) - visible_length(reason_line.format(reason="")) - 1
            text += "\n" + reason_line.format(reason=html.quote(_clip(reason, room)))
        if visible_length(text) <= limit:
            return text
    return f"<b>{decision}</b>"


async def _show(bot: Bot, ref: CardRef, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Put `text` and `markup` on the card's message; send them anew when it can't be edited."""
    if ref.message_id is not None and await edit_message(
        bot, ref.chat_id, ref.message_id, text, caption=ref.caption, reply_markup=markup
    ):
        return
    await bot.send_message(ref.chat_id, text, reply_markup=markup)


async def _show_card(bot: Bot, session: AsyncSession, ref: CardRef, loaded: Loaded) -> None:
    """The card with its current values and the approve / reject / correct buttons."""
    payload = await _card(session, loaded)
    await _show(bot, ref, payload.text, _markup(payload.buttons))


async def _show_outcome(bot: Bot, session: AsyncSession, ref: CardRef, loaded: Loaded, tz: ZoneInfo) -> None:
    """The card with who decided and when, without buttons."""
    payload = await _card(session, loaded)
    await _show(bot, ref, await _decided_text(session, payload, loaded.achievement, tz, ref.limit), None)


async def _show_buttons(
    bot: Bot, session: AsyncSession, ref: CardRef, loaded: Loaded, markup: InlineKeyboardMarkup
) -> None:
    """Other buttons under the same card (reasons, fields, values)."""
    if ref.message_id is not None and await edit_markup(bot, ref.chat_id, ref.message_id, markup):
        return
    payload = await _card(session, loaded)
    await bot.send_message(ref.chat_id, payload.text, reply_markup=markup)


async def _refused_as_decided(
    query: CallbackQuery, bot: Bot, session: AsyncSession, loaded: Loaded, tz: ZoneInfo
) -> bool:
    """True (and the press answered, the card updated) when the achievement is no longer pending."""
    if loaded.achievement.status == AchievementStatus.PENDING:
        return False
    await answer_query(query, await _already_text(session, loaded.achievement, tz), alert=True)
    await _show_outcome(bot, session, CardRef.of(query), loaded, tz)
    return True


async def _conclude(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    achievement_id: int,
    outcome: DecisionOutcome,
    tz: ZoneInfo,
    done: str,
) -> None:
    """After a decision by a press: tell the reviewer, and show on the card who decided."""
    if outcome.applied:
        await answer_query(query, done)
    else:
        await answer_query(query, await _already_text(session, outcome.achievement, tz), alert=True)
    await _show_outcome(bot, session, CardRef.of(query), await _reloaded(session, achievement_id), tz)


# -- keyboards -------------------------------------------------------------------------------------------


def _back_button(achievement_id: int, action: str = BACK) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=_("← Назад"), callback_data=ReviewCb(action=action, achievement_id=achievement_id).pack()
    )


def _reasons_keyboard(achievement_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for reason in RejectReason:
        builder.button(
            text=label(reason), callback_data=ReviewReasonCb(achievement_id=achievement_id, reason=reason)
        )
    builder.adjust(1)
    builder.row(_back_button(achievement_id))
    return builder.as_markup()


def _fields_keyboard(achievement_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for field, text in FIELDS.items():
        builder.button(
            text=str(text), callback_data=ReviewFieldCb(achievement_id=achievement_id, field=field)
        )
    builder.adjust(3, 2)
    builder.row(_back_button(achievement_id))
    return builder.as_markup()


def _values_keyboard(
    achievement_id: int, field: str, options: list[Any], current: str | None, category: str = ""
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for option in options:
        mark = "✓ " if option == current else ""
        builder.button(
            text=mark + label(option),
            callback_data=ReviewValueCb(
                achievement_id=achievement_id, field=field, value=option, category=category
            ),
        )
    builder.adjust(1)
    builder.row(_back_button(achievement_id, ReviewAction.CORRECT))
    return builder.as_markup()


# -- approve ---------------------------------------------------------------------------------------------


@router.callback_query(ReviewCb.filter(F.action == ReviewAction.APPROVE))
async def cb_approve(
    query: CallbackQuery,
    callback_data: ReviewCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, ReviewAction.APPROVE)
    if loaded is None:
        return
    outcome = await submissions.decide(
        session, callback_data.achievement_id, _actor(principal), Decision.APPROVE, None, _now(settings)
    )
    await _conclude(query, bot, session, callback_data.achievement_id, outcome, settings.tz, _("✅ Одобрено"))


# -- reject ----------------------------------------------------------------------------------------------


@router.callback_query(ReviewCb.filter(F.action == ReviewAction.REJECT))
async def cb_reject(
    query: CallbackQuery,
    callback_data: ReviewCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, ReviewAction.REJECT)
    if loaded is None or await _refused_as_decided(query, bot, session, loaded, settings.tz):
        return
    await answer_query(query, _("Выберите причину отказа"))
    await _show_buttons(
        bot, session, CardRef.of(query), loaded, _reasons_keyboard(callback_data.achievement_id)
    )


@router.callback_query(ReviewReasonCb.filter())
async def cb_reason(
    query: CallbackQuery,
    callback_data: ReviewReasonCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    state: FSMContext,
) -> None:
    try:
        reason = RejectReason(callback_data.reason)
    except ValueError:
        await answer_query(
            query, _("Эта кнопка устарела. Откройте нужный раздел из меню заново."), alert=True
        )
        return
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, ReviewAction.REJECT)
    if loaded is None or await _refused_as_decided(query, bot, session, loaded, settings.tz):
        return
    if reason == RejectReason.OTHER:
        if await _busy_with_a_dialogue(query, state):
            return
        await state.set_state(Review.reason)
        await state.set_data({"achievement_id": loaded.achievement.id, **CardRef.of(query).as_data()})
        await answer_query(query)
        await bot.send_message(
            query.from_user.id,
            _(
                "Напишите причину отказа для достижения № {number} (до {limit} символов) — её получит "
                "отправитель. /cancel — отменить."
            ).format(number=loaded.achievement.number, limit=MAX_REASON_LENGTH),
        )
        return
    outcome = await submissions.decide(
        session, callback_data.achievement_id, _actor(principal), Decision.REJECT, reason, _now(settings)
    )
    await _conclude(
        query, bot, session, callback_data.achievement_id, outcome, settings.tz, _("❌ Отклонено")
    )


# -- correct ---------------------------------------------------------------------------------------------


@router.callback_query(ReviewCb.filter(F.action == ReviewAction.CORRECT))
async def cb_correct(
    query: CallbackQuery,
    callback_data: ReviewCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, ReviewAction.CORRECT)
    if loaded is None or await _refused_as_decided(query, bot, session, loaded, settings.tz):
        return
    await answer_query(query, _("Что исправить?"))
    await _show_buttons(
        bot, session, CardRef.of(query), loaded, _fields_keyboard(callback_data.achievement_id)
    )


@router.callback_query(ReviewFieldCb.filter())
async def cb_field(
    query: CallbackQuery,
    callback_data: ReviewFieldCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    state: FSMContext,
) -> None:
    field = callback_data.field
    if field not in FIELDS:
        await answer_query(
            query, _("Эта кнопка устарела. Откройте нужный раздел из меню заново."), alert=True
        )
        return
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, ReviewAction.CORRECT)
    if loaded is None or await _refused_as_decided(query, bot, session, loaded, settings.tz):
        return
    achievement = loaded.achievement
    assert achievement.id is not None
    if field in ("title", "date"):
        if await _busy_with_a_dialogue(query, state):
            return
        await state.set_state(Review.correct_title if field == "title" else Review.correct_date)
        await state.set_data({"achievement_id": achievement.id, **CardRef.of(query).as_data()})
        await answer_query(query)
        if field == "title":
            prompt = _(
                "Напишите новое название мероприятия (до 200 символов).\nСейчас: «{title}»\n/cancel — отменить."
            ).format(title=html.quote(achievement.title))
        else:
            prompt = _(
                "Напишите новую дату в виде ДД.ММ.ГГГГ, например 15.03.2026.\nСейчас: {date}\n/cancel — отменить."
            ).format(date=achievement.event_date.strftime("%d.%m.%Y"))
        await bot.send_message(query.from_user.id, prompt)
        return
    options: list[Any] = (
        list(results_for(Category(achievement.category))) if field == "result" else list(_CHOICES[field])
    )
    await answer_query(query)
    markup = _values_keyboard(achievement.id, field, options, getattr(achievement, field))
    await _show_buttons(bot, session, CardRef.of(query), loaded, markup)


def _picked_changes(data: ReviewValueCb) -> dict[str, Any] | None:
    """The correction a value button asks for, or None when the button makes no sense."""
    kind = _CHOICES.get(data.field)
    if kind is None or (data.category and data.field != "result"):
        return None
    try:
        changes: dict[str, Any] = {data.field: kind(data.value)}
        if data.category:
            changes["category"] = Category(data.category)
    except ValueError:
        return None
    return changes


@router.callback_query(ReviewValueCb.filter())
async def cb_value(
    query: CallbackQuery,
    callback_data: ReviewValueCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    changes = _picked_changes(callback_data)
    if changes is None:
        await answer_query(
            query, _("Эта кнопка устарела. Откройте нужный раздел из меню заново."), alert=True
        )
        return
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, ReviewAction.CORRECT)
    if loaded is None or await _refused_as_decided(query, bot, session, loaded, settings.tz):
        return
    achievement = loaded.achievement
    assert achievement.id is not None
    category = changes.get("category")
    result = changes.get("result", AchievementResult(achievement.result))
    if category is not None and result not in results_for(category):
        # The new category doesn't allow the current result: ask for one, then save both together.
        await answer_query(query, _("Для этой категории выберите результат"))
        markup = _values_keyboard(achievement.id, "result", list(results_for(category)), None, category)
        await _show_buttons(bot, session, CardRef.of(query), loaded, markup)
        return
    try:
        outcome = await submissions.correct(
            session, achievement.id, _actor(principal), changes, _now(settings)
        )
    except InvalidInput as error:
        await answer_query(query, _problem_text(error.problem), alert=True)
        return
    await _after_correction(query, bot, session, callback_data.achievement_id, outcome, settings.tz)


async def _after_correction(
    query: CallbackQuery,
    bot: Bot,
    session: AsyncSession,
    achievement_id: int,
    outcome: DecisionOutcome,
    tz: ZoneInfo,
) -> None:
    current = await _reloaded(session, achievement_id)
    if not outcome.applied:
        await answer_query(query, await _already_text(session, outcome.achievement, tz), alert=True)
        await _show_outcome(bot, session, CardRef.of(query), current, tz)
        return
    await answer_query(query, _("✏️ Исправлено"))
    await _show_card(bot, session, CardRef.of(query), current)


@router.callback_query(ReviewCb.filter(F.action == BACK))
async def cb_back(
    query: CallbackQuery,
    callback_data: ReviewCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, BACK)
    if loaded is None or await _refused_as_decided(query, bot, session, loaded, settings.tz):
        return
    await answer_query(query)
    payload = await _card(session, loaded)
    markup = _markup(payload.buttons)
    assert markup is not None, "a review card has buttons"
    await _show_buttons(bot, session, CardRef.of(query), loaded, markup)


# -- /pending --------------------------------------------------------------------------------------------


@router.message(Command("pending"))
@router.message(F.text == BTN_PENDING)
async def cmd_pending(
    message: Message, session: AsyncSession, principal: Principal, settings: Settings
) -> None:
    if not access.reviews_submissions(principal):
        await message.answer(_no_queue_text())
        return
    text, markup = await _queue_page(session, principal, 0, settings.tz)
    await message.answer(text, reply_markup=markup)


@router.callback_query(PendingPageCb.filter())
async def cb_pending_page(
    query: CallbackQuery,
    callback_data: PendingPageCb,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if not access.reviews_submissions(principal):
        await answer_query(query, _no_queue_text(), alert=True)
        return
    text, markup = await _queue_page(session, principal, callback_data.page, settings.tz)
    await answer_query(query)
    await edit_or_answer(query, text, markup)


def _no_queue_text() -> str:
    return _("Очередь на проверку есть у классных руководителей, заместителей директора и администрации.")


async def _queue(session: AsyncSession, principal: Principal) -> list[Loaded]:
    """Pending achievements this person may review, oldest first."""
    rows = (
        await session.exec(
            select(Achievement, Student, SchoolClass)
            .join(Student, col(Student.id) == col(Achievement.student_id))
            .join(SchoolClass, col(SchoolClass.id) == col(Student.class_id))
            .where(Achievement.status == AchievementStatus.PENDING)
            .order_by(col(Achievement.created_at), col(Achievement.id))
        )
    ).all()
    return [Loaded(*row) for row in rows if access.may_review(principal, row[1], row[2])]


def _age(created_at: datetime, now: datetime) -> str:
    days = (now - created_at).days
    return _("сегодня") if days < 1 else _("{days} дн.").format(days=days)


async def _queue_page(
    session: AsyncSession, principal: Principal, page: int, tz: ZoneInfo
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the queue; every child listed on it gets an audit row (committed here)."""
    items = await _queue(session, principal)
    if not items:
        return _("📥 Нет достижений, ожидающих проверки."), None
    pages = math.ceil(len(items) / PAGE_SIZE)
    page = min(max(page, 0), pages - 1)
    shown = items[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
    for item in shown:
        await audit.record(
            session,
            action="review_queue_viewed",
            channel=AuditChannel.BOT,
            actor_account_id=principal.account_id,
            student_id=item.student.id,
            object_type="achievement",
            object_id=item.achievement.id,
        )
    await session.commit()
    now = datetime.now(tz)
    header = _("📥 <b>На проверке: {count}</b>").format(count=len(items))
    if pages > 1:
        header += " " + _("(стр. {page} из {pages})").format(page=page + 1, pages=pages)
    lines = [header, ""]
    builder = InlineKeyboardBuilder()
    for item in shown:
        achievement = item.achievement
        lines.append(
            _("№ {number} · {name}, {class_label} · {title} · {age}").format(
                number=achievement.number,
                name=html.quote(_clip(item.student.short_name, NAME_IN_NOTE)),
                class_label=html.quote(item.school_class.label),
                title=html.quote(_clip(achievement.title, TITLE_IN_QUEUE)),
                age=_age(achievement.created_at, now),
            )
        )
        assert achievement.id is not None
        builder.button(
            text=_("№ {number} · {name}").format(
                number=achievement.number, name=_clip(item.student.short_name, NAME_ON_BUTTON)
            ),
            callback_data=ReviewCb(action=OPEN, achievement_id=achievement.id),
        )
    builder.adjust(1)
    navigation = []
    if page > 0:
        navigation.append(InlineKeyboardButton(text="◀️", callback_data=PendingPageCb(page=page - 1).pack()))
    if page < pages - 1:
        navigation.append(InlineKeyboardButton(text="▶️", callback_data=PendingPageCb(page=page + 1).pack()))
    if navigation:
        builder.row(*navigation)
    lines += ["", _("Нажмите на номер, чтобы открыть карточку.")]
    return "\n".join(lines), builder.as_markup()


@router.callback_query(ReviewCb.filter(F.action == OPEN))
async def cb_open(
    query: CallbackQuery,
    callback_data: ReviewCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    loaded = await _authorised(query, session, principal, callback_data.achievement_id, OPEN)
    if loaded is None:
        return
    if loaded.achievement.status != AchievementStatus.PENDING:
        # The button is on the queue, not on a card: nothing to update but the answer.
        await answer_query(query, await _already_text(session, loaded.achievement, settings.tz), alert=True)
        return
    await answer_query(query)
    payload = await _card(session, loaded)
    await audit.record(
        session,
        action="achievement_card_viewed",
        channel=AuditChannel.BOT,
        actor_account_id=principal.account_id,
        student_id=loaded.student.id,
        object_type="achievement",
        object_id=loaded.achievement.id,
    )
    await session.commit()
    await _send_card(bot, query.from_user.id, payload, settings.media_dir)


async def _send_card(bot: Bot, chat_id: int, payload: NotificationPayload, media_dir: Path) -> None:
    """The card as the reviewer got it first: the evidence with the details, and the buttons."""
    try:
        await send_now(bot, chat_id, payload, media_dir)
    except FileNotFoundError:
        text = (
            payload.text + "\n\n" + _("⚠️ Файл доказательства не найден в архиве — сообщите администратору.")
        )
        await bot.send_message(chat_id, text, reply_markup=_markup(payload.buttons))


# -- typed reason, title and date ------------------------------------------------------------------------


@router.message(StateFilter(Review), Command("cancel"))
async def cmd_cancel(
    message: Message, state: FSMContext, bot: Bot, session: AsyncSession, principal: Principal
) -> None:
    await _stop_typing(message, state, bot, session, principal)
    await message.answer(
        _("Действие отменено. Достижение осталось на проверке."), reply_markup=main_menu(principal)
    )


async def _stop_typing(
    message: Message, state: FSMContext, bot: Bot, session: AsyncSession, principal: Principal
) -> None:
    """Leave the typing state and give the card its approve / reject / correct buttons back."""
    data = await state.get_data()
    await state.clear()
    if "achievement_id" not in data or message.from_user is None:
        return
    checked = await _check(session, principal, int(data["achievement_id"]), BACK, message.from_user.id)
    if isinstance(checked, str) or checked.achievement.status != AchievementStatus.PENDING:
        return
    ref = CardRef.from_data(data)
    payload = await _card(session, checked)
    markup = _markup(payload.buttons)
    if ref.message_id is not None and markup is not None:
        await edit_markup(bot, ref.chat_id, ref.message_id, markup)


async def _busy_with_a_dialogue(query: CallbackQuery, state: FSMContext) -> bool:
    """Typing a reason or a correction would replace another dialogue (the reviewer's own half-finished
    submission): ask to finish or cancel that first instead of losing it."""
    current = await state.get_state()
    if current is None or current.startswith("Review:"):
        return False
    await answer_query(
        query,
        _(
            "Сначала закончите или отмените начатое действие (кнопка «✖️ Отмена» или /cancel), затем нажмите ещё раз."
        ),
        alert=True,
    )
    return True


async def _left_for_menu(
    message: Message, state: FSMContext, bot: Bot, session: AsyncSession, principal: Principal
) -> bool:
    """A main-menu button pressed while a reason, title or date was expected is not that text."""
    menu = {button.text for row in main_menu(principal).keyboard for button in row}
    if message.text not in menu:
        return False
    await _stop_typing(message, state, bot, session, principal)
    await message.answer(
        _("Ввод отменён, достижение осталось на проверке. Нажмите нужную кнопку меню ещё раз."),
        reply_markup=main_menu(principal),
    )
    return True


@router.message(Review.reason, F.text, ~F.text.startswith("/"))
async def on_reason_typed(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if await _left_for_menu(message, state, bot, session, principal):
        return
    reason = " ".join((message.text or "").split())
    if not reason:
        await message.answer(_("Напишите причину отказа текстом или отправьте /cancel."))
        return
    if len(reason) > MAX_REASON_LENGTH:
        await message.answer(
            _(
                "Слишком длинно: не больше {limit} символов, а здесь {length}. Сократите, пожалуйста, "
                "или отправьте /cancel."
            ).format(limit=MAX_REASON_LENGTH, length=len(reason))
        )
        return
    data = await state.get_data()
    assert message.from_user is not None
    checked = await _check(
        session, principal, int(data["achievement_id"]), ReviewAction.REJECT, message.from_user.id
    )
    await state.clear()
    if isinstance(checked, str):
        await message.answer(checked)
        return
    outcome = await submissions.decide(
        session, int(data["achievement_id"]), _actor(principal), Decision.REJECT, reason, _now(settings)
    )
    if outcome.applied:
        await message.answer(
            _("❌ Достижение № {number} отклонено. Отправитель получит причину.").format(
                number=outcome.achievement.number
            ),
            reply_markup=main_menu(principal),
        )
    else:
        await message.answer(await _already_text(session, outcome.achievement, settings.tz))
    current = await _reloaded(session, int(data["achievement_id"]))
    await _show_outcome(bot, session, CardRef.from_data(data), current, settings.tz)


@router.message(Review.correct_title, F.text, ~F.text.startswith("/"))
async def on_title_typed(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if await _left_for_menu(message, state, bot, session, principal):
        return
    await _correct_typed(message, state, bot, session, principal, settings, {"title": message.text or ""})


@router.message(Review.correct_date, F.text, ~F.text.startswith("/"))
async def on_date_typed(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    if await _left_for_menu(message, state, bot, session, principal):
        return
    try:
        event_date = submissions.parse_event_date(message.text or "", _now(settings).date())
    except InvalidInput as error:
        await message.answer(_problem_text(error.problem))
        return
    await _correct_typed(message, state, bot, session, principal, settings, {"event_date": event_date})


async def _correct_typed(
    message: Message,
    state: FSMContext,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
    changes: dict[str, Any],
) -> None:
    data = await state.get_data()
    assert message.from_user is not None
    checked = await _check(
        session, principal, int(data["achievement_id"]), ReviewAction.CORRECT, message.from_user.id
    )
    if isinstance(checked, str):
        await state.clear()
        await message.answer(checked)
        return
    try:
        outcome = await submissions.correct(
            session, int(data["achievement_id"]), _actor(principal), changes, _now(settings)
        )
    except InvalidInput as error:  # stay in the state: the next message is another try
        await message.answer(_problem_text(error.problem))
        return
    await state.clear()
    ref = CardRef.from_data(data)
    current = await _reloaded(session, int(data["achievement_id"]))
    if not outcome.applied:
        await message.answer(await _already_text(session, outcome.achievement, settings.tz))
        await _show_outcome(bot, session, ref, current, settings.tz)
        return
    await _show_card(bot, session, ref, current)
    await message.answer(
        _(
            "✏️ Исправлено. Карточка достижения № {number} обновлена: одобрите, отклоните или исправьте ещё."
        ).format(number=outcome.achievement.number),
        reply_markup=main_menu(principal),
    )


@router.message(StateFilter(Review), ~F.text.startswith("/"))
async def on_not_text(message: Message) -> None:
    await message.answer(_("Пожалуйста, напишите ответ текстом или отправьте /cancel, чтобы отменить."))


def _problem_text(problem: InputProblem) -> str:
    return {
        InputProblem.TITLE_EMPTY: _("Название не может быть пустым. Напишите название мероприятия."),
        InputProblem.TITLE_TOO_LONG: _(
            "Слишком длинное название: не больше 200 символов. Сократите, пожалуйста."
        ),
        InputProblem.DATE_FORMAT: _("Не понял дату. Напишите её в виде ДД.ММ.ГГГГ, например 15.03.2026."),
        InputProblem.DATE_INVALID: _("Такой даты нет в календаре. Проверьте день и месяц."),
        InputProblem.DATE_FUTURE: _("Дата не может быть в будущем. Напишите дату мероприятия."),
        InputProblem.DATE_TOO_OLD: _("Дата слишком давняя: принимаются достижения с 2000 года."),
        InputProblem.RESULT_NOT_ALLOWED: _("Этот результат не подходит для категории. Выберите другой."),
    }.get(problem, _("Проверьте данные и попробуйте ещё раз."))
