"""Keyboards. The main menu is built from what the person is to the school."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils import keyboard
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import lazy_gettext as __

from bot.callbacks import ChildCb, ConsentCb, LanguageCb, PortfolioCb, PortfolioView
from bot.services import access
from bot.services.principal import Principal
from models import SchoolClass, Student

BTN_SUBMIT = __("➕ Добавить достижение")
BTN_PENDING = __("📥 На проверке")
BTN_CHILDREN = __("👨‍👩‍👧 Мои дети")
BTN_PROFILE = __("🙋 Мой профиль")
BTN_MY_CLASS = __("🏫 Мой класс")
BTN_COVERAGE = __("📊 Подключение")
BTN_LANGUAGE = __("🌐 Язык")
BTN_HELP = __("❓ Помощь")
BTN_REQUEST = __("📄 Запросить результаты")
BTN_REWARD = __("🏅 Поощрить")
BTN_PORTFOLIO = __("📚 Портфолио")

LANGUAGES = {"ru": "🇷🇺 Русский", "en": "🇬🇧 English"}


class InlineKeyboardBuilder(keyboard.InlineKeyboardBuilder):
    """aiogram's builder of inline keyboards, without its copies of every button at every step: its
    `export()`, which `button()`, `adjust()` and `as_markup()` run, deep-copies the buttons so far, model
    by model, so n buttons took n² copies (0.8 ms for 10 buttons; 34 ms for a teacher's 80 classes).
    Here the rows are copied and the buttons shared: the markup holds the very buttons given to the
    builder, which is fine as a builder is thrown away once its markup is made and nobody changes a
    button afterwards. Use this one, not aiogram's (tests/test_keyboards.py checks)."""

    def export(self) -> list[list[InlineKeyboardButton]]:
        return [list(row) for row in self._markup]

    def copy(self) -> InlineKeyboardBuilder:
        return InlineKeyboardBuilder(markup=self.export())  # aiogram's would be aiogram's builder


def main_menu(principal: Principal) -> ReplyKeyboardMarkup:
    rows: list[list[str]] = []
    if principal.has_any_role:
        rows.append([str(BTN_SUBMIT)])
    staff_row = []
    if access.reviews_submissions(principal):
        staff_row.append(str(BTN_PENDING))
    if access.grants_rewards(principal):
        staff_row.append(str(BTN_REWARD))
    if staff_row:
        rows.append(staff_row)
    if principal.is_guardian or principal.is_student:
        rows.append([str(BTN_PORTFOLIO)])
        rows.append([str(BTN_REQUEST)])
    if principal.is_guardian:
        rows.append([str(BTN_CHILDREN)])
    if principal.is_student:
        rows.append([str(BTN_PROFILE)])
    if principal.class_teacher_of:
        rows.append([str(BTN_MY_CLASS)])
    if principal.is_admin or principal.deputy_levels:
        rows.append([str(BTN_COVERAGE)])
    rows.append([str(BTN_LANGUAGE), str(BTN_HELP)])
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=text) for text in row] for row in rows],
        resize_keyboard=True,
        is_persistent=True,
    )


def consent_keyboard(invite_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(text=_("✅ Принимаю"), callback_data=ConsentCb(accept=True, invite_id=invite_id))
    builder.button(text=_("❌ Не принимаю"), callback_data=ConsentCb(accept=False, invite_id=invite_id))
    builder.adjust(2)
    return builder.as_markup()


def language_keyboard() -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for code, title in LANGUAGES.items():
        builder.button(text=title, callback_data=LanguageCb(code=code))
    builder.adjust(2)
    return builder.as_markup()


NAME_ON_BUTTON = 40


def portfolio_buttons(students: list[tuple[int, str]]) -> InlineKeyboardMarkup:
    """A button per student, (id, name), that opens their portfolio in a message of its own."""
    builder = InlineKeyboardBuilder()
    for student_id, name in students:
        text = name if len(name) <= NAME_ON_BUTTON else name[: NAME_ON_BUTTON - 1] + "…"
        builder.button(text=text, callback_data=PortfolioCb(view=PortfolioView.OPEN, student_id=student_id))
    builder.adjust(2)
    return builder.as_markup()


def children_keyboard(children: list[tuple[Student, SchoolClass]]) -> InlineKeyboardMarkup:
    """One button a child under «Мои дети»: opens what a guardian can do about that child."""
    builder = InlineKeyboardBuilder()
    for student, school_class in children:
        builder.button(
            text=f"{student.short_name}, {school_class.label}",
            callback_data=ChildCb(action="open", student_id=student.id or 0),
        )
    builder.adjust(1)
    return builder.as_markup()


def consent_card_keyboard(student_id: int) -> InlineKeyboardMarkup:
    """Under a child's card (a guardian's «Мои дети») or a student's own profile: withdraw consent."""
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("🚫 Отозвать согласие"), callback_data=ChildCb(action="withdraw", student_id=student_id)
    )
    return builder.as_markup()
