"""What every role has: /help, /lang, /cancel, and the menu entries of onboarding."""

from __future__ import annotations

from aiogram import F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import KICKED, ChatMemberUpdatedFilter, Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.callbacks import LanguageCb
from bot.keyboards import (
    BTN_CHILDREN,
    BTN_COVERAGE,
    BTN_HELP,
    BTN_LANGUAGE,
    BTN_MY_CLASS,
    BTN_PROFILE,
    LANGUAGES,
    children_keyboard,
    consent_card_keyboard,
    language_keyboard,
    main_menu,
    portfolio_buttons,
)
from bot.replies import edit_or_answer, split_lines
from bot.services import access, audit
from bot.services.access import classes_in_scope
from bot.services.accounts import set_language, set_reachable
from bot.services.coverage import classes_coverage
from bot.services.principal import Principal
from bot.texts import own_card_text
from models import Account, SchoolClass, Student

router = Router(name="common")
router.message.filter(F.chat.type == ChatType.PRIVATE)


@router.message(Command("help"))
@router.message(F.text == BTN_HELP)
async def cmd_help(message: Message, principal: Principal) -> None:
    await message.answer(help_text(principal), reply_markup=main_menu(principal))


def help_text(principal: Principal) -> str:
    parts = [_("<b>«Портфолио»</b> — учёт достижений и поощрений учеников школы.")]
    if not principal.has_any_role:
        parts.append(
            _(
                "Чтобы начать, откройте ссылку-приглашение от школы или отправьте код приглашения командой /start."
            )
        )
    if principal.has_any_role:
        parts.append(
            _(
                "<b>Достижения.</b> «➕ Добавить достижение» или просто пришлите фото диплома — бот спросит "
                "категорию, уровень, результат, название и дату и отправит достижение на проверку классному "
                "руководителю. Пока оно не рассмотрено, его можно отозвать."
            )
        )
    if principal.is_guardian or principal.is_student:
        parts.append(
            _(
                "<b>Портфолио.</b> «📚 Портфолио» или /portfolio — подтверждённые достижения по учебным годам, "
                "документы к ним, поощрения и PDF; там же «Мои заявки» — присланные вами достижения на "
                "проверке и отклонённые."
            )
        )
    if principal.is_guardian or principal.is_student:
        parts.append(
            _(
                "<b>Выписка (п. 6.4 Положения).</b> «📄 Запросить результаты» — выписка о подтверждённых "
                "достижениях и поощрениях за текущий учебный год или за все годы: запрос регистрируется, PDF "
                "с кодом проверки приходит сразу, классный руководитель получает уведомление."
            )
        )
    if principal.is_guardian:
        parts.append(
            _(
                "<b>Родителю.</b> «Мои дети» — дети, к которым вы подключены; там же можно отозвать согласие "
                "на обработку данных ребёнка."
            )
        )
    if principal.is_student:
        parts.append(
            _(
                "<b>Ученику.</b> «Мой профиль» — ваши данные в школе; там же можно отозвать согласие на их "
                "обработку."
            )
        )
    if access.reviews_submissions(principal):
        parts.append(
            _(
                "<b>Проверка.</b> Новые достижения приходят карточкой с кнопками ✅ Одобрить, ❌ Отклонить, "
                "✏️ Исправить. «📥 На проверке» или /pending — очередь на проверку."
            )
        )
    if access.grants_rewards(principal):
        parts.append(
            _(
                "<b>Поощрения.</b> «🏅 Поощрить» или /reward — записать поощрение ученику: вид, за что, дата, "
                "номер приказа и, если нужно, связанное достижение. Ученик и родители получат уведомление, "
                "поощрение появится в портфолио и выписках."
            )
        )
    if principal.class_teacher_of:
        parts.append(
            _(
                "<b>Классному руководителю.</b> «Мой класс» — список класса, кто из родителей уже подключился, "
                "и портфолио каждого ученика."
            )
        )
    if access.may_verify_extract(principal):
        parts.append(
            _(
                "<b>Проверка выписки.</b> /verify КОД — проверить код с выписки; или отсканируйте её QR-код "
                "камерой телефона. Бот скажет, кому, когда и за какой период выписка выдана."
            )
        )
    if access.may_use_admin(principal):
        parts.append(
            _("<b>Администрации.</b> «Подключение» — доля учеников с подключёнными родителями по классам.")
        )
        parts.append(
            _(
                "<b>Веб-админка.</b> /admin — одноразовая ссылка для входа (действует 10 минут): очередь "
                "проверки с документами, классы и ученики, достижения, выгрузки для Excel, сводки."
            )
        )
    parts.append(
        _(
            "Команды: /start — начало и меню, /lang — язык, /cancel — отменить текущее действие, /help — справка."
        )
    )
    return "\n\n".join(parts)


@router.message(Command("cancel"))
async def cmd_cancel(message: Message, state: FSMContext, principal: Principal) -> None:
    had_dialogue = await state.get_state() is not None
    await state.clear()
    text = _("Действие отменено.") if had_dialogue else _("Нечего отменять.")
    await message.answer(text, reply_markup=main_menu(principal) if principal.has_any_role else None)


@router.message(Command("lang"))
@router.message(F.text == BTN_LANGUAGE)
async def cmd_lang(message: Message) -> None:
    await message.answer(_("Выберите язык / Choose your language:"), reply_markup=language_keyboard())


@router.callback_query(LanguageCb.filter())
async def cb_language(
    query: CallbackQuery,
    callback_data: LanguageCb,
    session: AsyncSession,
    account: Account | None,
    principal: Principal,
    i18n: I18n,
) -> None:
    if account is None or callback_data.code not in LANGUAGES:
        await query.answer()
        return
    await set_language(session, account, callback_data.code)
    with i18n.use_locale(callback_data.code):
        await query.answer()
        await edit_or_answer(query, _("Язык: {language}").format(language=LANGUAGES[callback_data.code]))
        if principal.has_any_role and query.bot is not None:
            await query.bot.send_message(
                account.telegram_id, _("Меню обновлено."), reply_markup=main_menu(principal)
            )


@router.message(F.text == BTN_CHILDREN)
async def on_children(message: Message, session: AsyncSession, principal: Principal) -> None:
    if not principal.is_guardian:
        await message.answer(_("Вы пока не подключены ни к одному ученику."))
        return
    children = await _students_with_classes(session, list(principal.children))
    await audit.record_viewed(
        session,
        action="children_list_viewed",
        actor_account_id=principal.account_id,
        student_ids=list(principal.children),
        object_type="guardian_link",
    )
    lines = [_("<b>Ваши дети:</b>")]
    for student, school_class in children:
        lines.append(f"• {html.quote(student.full_name)}, {html.quote(school_class.label)}")
    lines += ["", _("Выберите ребёнка, чтобы управлять согласием на обработку его данных.")]
    await message.answer("\n".join(lines), reply_markup=children_keyboard(children))


@router.message(F.text == BTN_PROFILE)
async def on_profile(message: Message, session: AsyncSession, principal: Principal) -> None:
    if principal.own_student_id is None:
        await message.answer(_("Вы не подключены как ученик."))
        return
    [(student, school_class)] = await _students_with_classes(session, [principal.own_student_id])
    await audit.record_viewed(
        session,
        action="profile_viewed",
        actor_account_id=principal.account_id,
        student_ids=[principal.own_student_id],
        object_type="student",
    )
    await message.answer(
        own_card_text(html.quote(student.full_name), html.quote(school_class.label)),
        reply_markup=consent_card_keyboard(principal.own_student_id),
    )


async def _students_with_classes(session: AsyncSession, ids: list[int]) -> list[tuple[Student, SchoolClass]]:
    rows = await session.exec(
        select(Student, SchoolClass)
        .join(SchoolClass, SchoolClass.id == Student.class_id)
        .where(Student.id.in_(ids))  # type: ignore[union-attr]
        .order_by(Student.surname, Student.name)
    )
    return [(s, c) for s, c in rows.all()]


@router.message(F.text == BTN_MY_CLASS)
async def on_my_class(message: Message, session: AsyncSession, principal: Principal) -> None:
    classes = [c for c in await classes_in_scope(session, principal) if c.id in principal.class_teacher_of]
    if not classes:
        await message.answer(_("Вы не назначены классным руководителем."))
        return
    for school_class, coverage in zip(classes, await classes_coverage(session, classes), strict=True):
        lines = [
            _(
                "<b>{class_label} класс</b>: учеников {total}, подключены родители у {guardians}, ученики — {own}."
            ).format(
                class_label=html.quote(coverage.class_label),
                total=len(coverage.students),
                guardians=coverage.with_guardian,
                own=coverage.with_account,
            ),
            "",
        ]
        for item in coverage.students:
            mark = "✅" if item.guardians else "▫️"
            lines.append(f"{mark} {html.quote(item.full_name)}")
        lines += ["", _("✅ — родитель подключён, ▫️ — ещё нет.")]
        await audit.record_viewed(
            session,
            action="class_roster_viewed",
            actor_account_id=principal.account_id,
            student_ids=[item.student_id for item in coverage.students],
            object_type="class",
            object_id=school_class.id,
        )
        for text in split_lines(lines):  # a big class with long names may not fit one message
            await message.answer(text, reply_markup=main_menu(principal))
        if coverage.students:
            await message.answer(
                _("📚 Портфолио ученика {class_label} класса:").format(
                    class_label=html.quote(coverage.class_label)
                ),
                reply_markup=portfolio_buttons([(s.student_id, s.full_name) for s in coverage.students]),
            )


@router.message(F.text == BTN_COVERAGE)
async def on_coverage(message: Message, session: AsyncSession, principal: Principal) -> None:
    if not (principal.is_admin or principal.deputy_levels):
        await message.answer(_("Этот раздел доступен администрации школы."))
        return
    lines = [_("<b>Подключение родителей по классам</b>"), ""]
    for coverage in await classes_coverage(session, await classes_in_scope(session, principal)):
        total = len(coverage.students)
        share = round(100 * coverage.with_guardian / total) if total else 0
        lines.append(
            _("{class_label}: {guardians} из {total} ({share}%)").format(
                class_label=html.quote(coverage.class_label),
                guardians=coverage.with_guardian,
                total=total,
                share=share,
            )
        )
    if len(lines) == 2:
        lines.append(_("Классов пока нет: загрузите список учеников (python -m bot import-roster)."))
    for text in split_lines(lines):
        await message.answer(text, reply_markup=main_menu(principal))


@router.my_chat_member(ChatMemberUpdatedFilter(member_status_changed=KICKED))
async def on_blocked(event: ChatMemberUpdated, session: AsyncSession, account: Account | None) -> None:
    """The person blocked the bot: nothing more is sent to them until they write again."""
    if account is not None:
        await set_reachable(session, account, reachable=False)
