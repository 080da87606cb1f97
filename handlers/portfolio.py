"""The portfolio in the chat: one message edited as the person pages through approved achievements by
academic year and category, opens an item (its details, then its evidence files), reads the rewards,
downloads the PDF, and — for whoever submitted — sees their own pending and rejected submissions.

Callback data carries ids only. Every press reloads the student (and the achievement) and asks the access
policy again through `portfolio_views`, which audits the view, allowed or not.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path

from aiogram import Bot, F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import PortfolioCb, PortfolioView
from bot.config import Settings
from bot.keyboards import BTN_PORTFOLIO, BTN_SUBMIT, InlineKeyboardBuilder, main_menu
from bot.replies import answer_query, edit_or_answer
from bot.reports.portfolio_pdf import build_portfolio_pdf
from bot.services import portfolio, portfolio_views, students
from bot.services.outbox import MAX_ALBUM, NotificationPayload
from bot.services.portfolio import PortfolioEntry, RewardEntry
from bot.services.portfolio_views import OpenedItem, Subject
from bot.services.principal import Principal
from bot.services.sender import send_now
from bot.services.submissions import evidence_media
from bot.services.taxonomy import AchievementLevel, AchievementResult, Category, label, reject_reason_text
from bot.texts import student_gone_text
from models import Achievement, Student
from models.enums import AchievementStatus, Source

router = Router(name="portfolio")
router.message.filter(F.chat.type == ChatType.PRIVATE)
router.callback_query.filter(F.message.chat.type == ChatType.PRIVATE)

PAGE, OPEN, MINE, ITEM, PDF, KIDS = (
    PortfolioView.PAGE,
    PortfolioView.OPEN,
    PortfolioView.MINE,
    PortfolioView.ITEM,
    PortfolioView.PDF,
    PortfolioView.KIDS,
)
# Clipping keeps a page under Telegram's 4096 characters (UTF-16 units: an emoji counts twice) whatever
# the names, titles and reasons hold: 8 items in 8 years and categories, 3 rewards, all of them emoji.
NAME_IN_HEADER = 100
TITLE_IN_LIST = 80
TITLE_ON_BUTTON = 40
REASON_IN_LIST = 100
REWARDS_SHOWN = 3
REWARD_REASON = 60
ORDER_NUMBER = 20


def _clip(text: str, limit: int) -> str:
    """Plain text cut to `limit` characters with «…» (escape it afterwards for HTML)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str, limit: int) -> str:
    return html.quote(_clip(text, limit))


def _date(value: date) -> str:
    return value.strftime("%d.%m.%Y")


def _button(text: str, data: PortfolioCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _pager(view: PortfolioView, student_id: int, page: int, pages: int) -> list[InlineKeyboardButton]:
    """◀️ «стр. 2 из 5» ▶️; the middle button shows the same page again (a no-op for Telegram)."""
    if pages < 2:
        return []
    row = []
    if page > 0:
        row.append(_button("◀️", PortfolioCb(view=view, student_id=student_id, page=page - 1)))
    row.append(
        _button(
            _("стр. {page} из {pages}").format(page=page + 1, pages=pages),
            PortfolioCb(view=view, student_id=student_id, page=page),
        )
    )
    if page < pages - 1:
        row.append(_button("▶️", PortfolioCb(view=view, student_id=student_id, page=page + 1)))
    return row


# -- entry ----------------------------------------------------------------------------------------------


@router.message(Command("portfolio"))
@router.message(F.text == BTN_PORTFOLIO)
async def cmd_portfolio(message: Message, session: AsyncSession, principal: Principal) -> None:
    candidates = principal.family_students
    if not candidates:
        if await students.is_former_family(session, principal.account_id):
            await message.answer(student_gone_text(), reply_markup=main_menu(principal))  # without the child
            return
        text = (
            _("Портфолио учеников вашего класса открываются из «🏫 Мой класс».")
            if principal.class_teacher_of
            else _("Портфолио видят ученик и его родители.")
        )
        await message.answer(text, reply_markup=main_menu(principal) if principal.has_any_role else None)
        return
    if len(candidates) > 1:
        text, markup = await _kids(session, principal)
        await message.answer(text, reply_markup=markup)
        return
    shown = await _page(session, principal, candidates[0], 0, message.chat.id)  # a private chat: the user
    if shown is None:
        await message.answer(_refused())
        return
    text, markup = shown
    await message.answer(text, reply_markup=markup)


async def _kids(session: AsyncSession, principal: Principal) -> tuple[str, InlineKeyboardMarkup]:
    builder = InlineKeyboardBuilder()
    for student_id in principal.family_students:
        student = await session.get(Student, student_id)
        if student is not None:
            builder.row(_button(student.short_name, PortfolioCb(view=PAGE, student_id=student_id)))
    return _("Чьё портфолио открыть?"), builder.as_markup()


def _refused() -> str:
    return _("Нет доступа к этому портфолио.")


# -- the page -------------------------------------------------------------------------------------------


async def _page(
    session: AsyncSession, principal: Principal, student_id: int, page: int, telegram_id: int
) -> tuple[str, InlineKeyboardMarkup] | None:
    page = max(page, 0)
    subject = await portfolio_views.open_portfolio(
        session,
        principal,
        student_id,
        action=portfolio_views.PORTFOLIO_VIEWED,
        telegram_id=telegram_id,
        details=f"page={page + 1}",
    )
    if subject is None:
        return None
    entries = await portfolio.approved_entries(session, subject.student_id)
    rewards = await portfolio.rewards_of(session, subject.student_id)
    mine = (
        await portfolio.own_submissions(session, subject.student_id, principal.account_id)
        if principal.account_id is not None
        else []
    )
    # Pages follow the grouping: by academic year, then category, newest first within each.
    groups = portfolio.group_by_year_and_category(entries)
    ordered = [entry for year in groups for category in year.categories for entry in category.entries]
    shown = portfolio.paginate(ordered, page)
    lines = [_header(subject), _totals(len(entries), len(rewards))]
    builder = InlineKeyboardBuilder()
    if not entries:
        lines += ["", _empty_text()]
    item_lines, buttons = _items(groups, shown, subject.student_id)
    lines += item_lines
    for button in buttons:
        builder.row(button)
    if not shown.has_next:
        lines += ["", *_rewards_lines(rewards)]
    builder.row(*_pager(PAGE, subject.student_id, shown.page, shown.pages))
    if entries or rewards:
        builder.row(_button(_("📥 Скачать PDF"), PortfolioCb(view=PDF, student_id=subject.student_id)))
    if mine:
        builder.row(
            _button(
                _("📝 Мои заявки ({count})").format(count=len(mine)),
                PortfolioCb(view=MINE, student_id=subject.student_id),
            )
        )
    if len(principal.family_students) > 1:
        builder.row(_button(_("👥 Другой ребёнок"), PortfolioCb(view=KIDS)))
    if entries:
        lines += ["", _("Нажмите на номер, чтобы открыть достижение и его документы.")]
    return "\n".join(lines), builder.as_markup()


def _items(
    groups: list[portfolio.YearGroup], shown: portfolio.Page[PortfolioEntry], student_id: int
) -> tuple[list[str], list[InlineKeyboardButton]]:
    """The page's lines under year and category headings (repeated where a page continues a group) with
    the whole portfolio's counts, and a button per item."""
    lines: list[str] = []
    buttons: list[InlineKeyboardButton] = []
    year_counts = {year.year: year.count for year in groups}
    category_counts = {(year.year, c.category): c.count for year in groups for c in year.categories}
    previous: PortfolioEntry | None = None
    for index, entry in enumerate(shown.items, start=shown.page * portfolio.PER_PAGE + 1):
        if previous is None or previous.academic_year != entry.academic_year:
            lines += [
                "",
                _("<b>{year} учебный год</b> — {count}").format(
                    year=portfolio.academic_year_label(entry.academic_year),
                    count=year_counts[entry.academic_year],
                ),
            ]
        if previous is None or (previous.academic_year, previous.category) != (
            entry.academic_year,
            entry.category,
        ):
            lines.append(
                _("<i>{category}</i> — {count}").format(
                    category=html.quote(entry.category_label),
                    count=category_counts[(entry.academic_year, entry.category)],
                )
            )
        lines.append(
            _("{index}. {title} · {level}, {result} · {date}").format(
                index=index,
                title=_quote(entry.title, TITLE_IN_LIST),
                level=entry.level_label,
                result=entry.result_label,
                date=_date(entry.event_date),
            )
        )
        buttons.append(
            _button(
                f"{index}. {_clip(entry.title, TITLE_ON_BUTTON)}",
                PortfolioCb(view=ITEM, student_id=student_id, page=shown.page, item=entry.id),
            )
        )
        previous = entry
    return lines, buttons


def _header(subject: Subject) -> str:
    return _("📚 <b>Портфолио: {name}</b>, {class_label} класс").format(
        name=_quote(subject.student.full_name, NAME_IN_HEADER),
        class_label=html.quote(subject.school_class.label),
    )


def _totals(achievements: int, rewards: int) -> str:
    return _("Подтверждённых достижений: {achievements} · поощрений: {rewards}").format(
        achievements=achievements, rewards=rewards
    )


def _empty_text() -> str:
    return _(
        "Подтверждённых достижений пока нет. Нажмите «{button}» в меню и пришлите фото диплома или грамоты — "
        "после проверки классным руководителем достижение появится здесь."
    ).format(button=BTN_SUBMIT)


def _rewards_lines(rewards: list[RewardEntry]) -> list[str]:
    if not rewards:
        return [_("🏅 Поощрений пока нет.")]
    lines = [_("🏅 <b>Поощрения: {count}</b>").format(count=len(rewards))]
    for reward in rewards[:REWARDS_SHOWN]:
        line = _("• {date} — {kind}: {reason}").format(
            date=_date(reward.granted_on),
            kind=html.quote(reward.kind_label),
            reason=_quote(reward.reason, REWARD_REASON),
        )
        if reward.order_number:
            line += " " + _("(приказ № {number})").format(number=_quote(reward.order_number, ORDER_NUMBER))
        lines.append(line)
    if len(rewards) > REWARDS_SHOWN:
        lines.append(_("… и ещё {count} — в PDF.").format(count=len(rewards) - REWARDS_SHOWN))
    return lines


@router.callback_query(PortfolioCb.filter(F.view.in_({PAGE, OPEN})))
async def cb_page(
    query: CallbackQuery, callback_data: PortfolioCb, bot: Bot, session: AsyncSession, principal: Principal
) -> None:
    shown = await _page(session, principal, callback_data.student_id, callback_data.page, query.from_user.id)
    if shown is None:
        await answer_query(query, _refused(), alert=True)
        return
    await answer_query(query)
    if callback_data.view == OPEN:
        text, markup = shown
        await bot.send_message(query.from_user.id, text, reply_markup=markup)
        return
    await edit_or_answer(query, *shown)


@router.callback_query(PortfolioCb.filter(F.view == KIDS))
async def cb_kids(query: CallbackQuery, session: AsyncSession, principal: Principal) -> None:
    await answer_query(query)
    if not principal.family_students:
        await edit_or_answer(query, _("Портфолио видят ученик и его родители."))
        return
    await edit_or_answer(query, *await _kids(session, principal))


# -- the submitter's own submissions ------------------------------------------------------------------------


@router.callback_query(PortfolioCb.filter(F.view == MINE))
async def cb_mine(
    query: CallbackQuery, callback_data: PortfolioCb, session: AsyncSession, principal: Principal
) -> None:
    subject = await portfolio_views.open_portfolio(
        session,
        principal,
        callback_data.student_id,
        action=portfolio_views.SUBMISSIONS_VIEWED,
        telegram_id=query.from_user.id,
    )
    if subject is None or principal.account_id is None:
        await answer_query(query, _refused(), alert=True)
        return
    await answer_query(query)
    mine = await portfolio.own_submissions(session, subject.student_id, principal.account_id)
    shown = portfolio.paginate(mine, callback_data.page)
    lines = [
        _("📝 <b>Мои заявки: {name}</b>, {class_label} класс").format(
            name=_quote(subject.student.full_name, NAME_IN_HEADER),
            class_label=html.quote(subject.school_class.label),
        ),
        _("Присланные вами достижения на проверке и отклонённые."),
        "",
    ]
    if not mine:
        lines.append(_("Заявок на проверке и отклонённых нет."))
    lines += [_submission_line(achievement) for achievement in shown.items]
    builder = InlineKeyboardBuilder()
    builder.row(*_pager(MINE, subject.student_id, shown.page, shown.pages))
    builder.row(_button(_("◀️ К портфолио"), PortfolioCb(view=PAGE, student_id=subject.student_id)))
    await edit_or_answer(query, "\n".join(lines), builder.as_markup())


def _submission_line(achievement: Achievement) -> str:
    line = _("• № {number} · {title} · {date} — {status}").format(
        number=achievement.number,
        title=_quote(achievement.title, TITLE_IN_LIST),
        date=_date(achievement.event_date),
        status=label(AchievementStatus(achievement.status)),
    )
    if achievement.status == AchievementStatus.REJECTED and achievement.reject_reason:
        line += "\n  " + _("Причина: {reason}").format(
            reason=_quote(reject_reason_text(achievement.reject_reason), REASON_IN_LIST)
        )
    return line


# -- one achievement --------------------------------------------------------------------------------------


@router.callback_query(PortfolioCb.filter(F.view == ITEM))
async def cb_item(
    query: CallbackQuery,
    callback_data: PortfolioCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    opened = await portfolio_views.open_achievement(
        session, principal, callback_data.item, callback_data.student_id, telegram_id=query.from_user.id
    )
    if opened is None:
        await answer_query(query, _("Нет доступа к этому достижению."), alert=True)
        return
    await answer_query(query)
    back = InlineKeyboardBuilder()
    back.row(
        _button(
            _("◀️ К списку"),
            PortfolioCb(view=PAGE, student_id=opened.subject.student_id, page=callback_data.page),
        )
    )
    await edit_or_answer(query, _item_text(opened), back.as_markup())
    await _send_evidence(bot, query.from_user.id, opened, settings.media_dir)


def _item_text(opened: OpenedItem) -> str:
    achievement = opened.achievement
    lines = [
        _("🏅 <b>Достижение № {number}</b>").format(number=achievement.number),
        _("Ученик: {name}, {class_label}").format(
            name=_quote(opened.subject.student.full_name, NAME_IN_HEADER),
            class_label=html.quote(opened.subject.school_class.label),
        ),
        _("Название: {title}").format(title=html.quote(achievement.title)),
        _("Категория: {category}").format(category=label(Category(achievement.category))),
        _("Уровень: {level}").format(level=label(AchievementLevel(achievement.level))),
        _("Результат: {result}").format(result=label(AchievementResult(achievement.result))),
        _("Дата: {date}").format(date=_date(achievement.event_date)),
        _("Получено: {source}").format(source=label(Source(achievement.source))),
        _("Статус: {status}").format(status=label(AchievementStatus(achievement.status))),
    ]
    if achievement.status == AchievementStatus.REJECTED and achievement.reject_reason:
        lines.append(
            _("Причина: {reason}").format(reason=html.quote(reject_reason_text(achievement.reject_reason)))
        )
    if opened.files:
        lines.append(_("Документы — ниже, файлов: {count}.").format(count=len(opened.files)))
    else:
        lines.append(_("Документов к достижению нет."))
    return "\n".join(lines)


async def _send_evidence(bot: Bot, chat_id: int, opened: OpenedItem, media_dir: Path) -> None:
    caption = _("📎 Достижение № {number}").format(number=opened.achievement.number)
    for start in range(0, len(opened.files), MAX_ALBUM):
        payload = NotificationPayload(text=caption, **evidence_media(opened.files[start : start + MAX_ALBUM]))
        try:
            await send_now(bot, chat_id, payload, media_dir)
        except FileNotFoundError:
            await bot.send_message(
                chat_id, _("⚠️ Файл доказательства не найден в архиве — сообщите администратору.")
            )
            return


# -- the PDF ------------------------------------------------------------------------------------------------


@router.callback_query(PortfolioCb.filter(F.view == PDF))
async def cb_pdf(
    query: CallbackQuery,
    callback_data: PortfolioCb,
    bot: Bot,
    session: AsyncSession,
    principal: Principal,
    settings: Settings,
) -> None:
    subject = await portfolio_views.open_portfolio(
        session,
        principal,
        callback_data.student_id,
        action=portfolio_views.PORTFOLIO_EXPORTED,
        telegram_id=query.from_user.id,
    )
    if subject is None:
        await answer_query(query, _refused(), alert=True)
        return
    await answer_query(query, _("Готовлю PDF…"))
    entries = await portfolio.approved_entries(session, subject.student_id)
    rewards = await portfolio.rewards_of(session, subject.student_id)
    pdf = await asyncio.to_thread(  # fpdf2 takes a while for a long portfolio: not on the event loop
        build_portfolio_pdf,
        settings.school_name,
        subject.student.full_name,
        subject.school_class.label,
        datetime.now(settings.tz),
        entries,
        rewards,
    )
    await bot.send_document(
        query.from_user.id,
        BufferedInputFile(pdf, filename=portfolio_views.pdf_file_name(subject.student)),
        caption=_("📚 Портфолио: {name}, {class_label} класс").format(
            name=_quote(subject.student.short_name, NAME_IN_HEADER),
            class_label=html.quote(subject.school_class.label),
        ),
    )
